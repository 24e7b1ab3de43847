import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { jwtAuth } from '../../middleware/index.ts'
import { HostCapabilityError } from '../../src/host-needs.ts'
import { origins, websocket, type GatewayBindings } from '../../src/index.ts'
import { consoleLogger } from '../../src/workers/log.ts'
import { workersGateway } from '../../src/workers/gateway.ts'

/** An app with one WebSocket route built by `route`. */
function appWith(route: (app: Hono<{ Bindings: GatewayBindings }>) => void): Hono<{ Bindings: GatewayBindings }> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  route(app)
  return app
}

describe('workersGateway() refusing settings Workers cannot honour', () => {
  it('throws at start, naming each route setting and what to do instead', () => {
    const app = appWith((routes) => {
      routes.all('/idle', websocket('ws://127.0.0.1:9001', { idleTimeout: 60_000 }))
      routes.all('/capped', websocket('ws://127.0.0.1:9001', { maxConnections: 10 }))
      routes.all('/expiring', jwtAuth({ secret: 'x'.repeat(32), algorithms: ['HS256'], closeOnTokenExpiry: true }), websocket('ws://127.0.0.1:9001'))
    })
    let thrown: unknown
    try {
      workersGateway(app)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(HostCapabilityError)
    const message = (thrown as Error).message
    expect(message).toContain('ALL /idle: websocket({ idleTimeout }) needs pipe-timers, which Cloudflare Workers does not provide')
    expect(message).toContain('ALL /capped: websocket({ maxConnections }) needs connection-tracking')
    expect(message).toContain('ALL /expiring: jwtAuth({ closeOnTokenExpiry: true }) needs close-frames')
  })

  it('refuses a pool with active probes, and takes the same pool with probe: false (passive health only)', () => {
    const probed = appWith((routes) => routes.all('/pool', websocket(origins(['ws://127.0.0.1:9001', 'ws://127.0.0.1:9002']))))
    expect(() => workersGateway(probed)).toThrow(/origins\(\{ probe \}\) needs active-probes/)
    const passive = appWith((routes) => routes.all('/pool', websocket(origins(['ws://127.0.0.1:9001', 'ws://127.0.0.1:9002'], { probe: false }))))
    expect(() => workersGateway(passive)).not.toThrow()
  })

  it('answers 500 and logs the refusal when routes built from env cannot run on Workers', async () => {
    const lines: string[] = []
    const handler = workersGateway(() => appWith((routes) => routes.all('/old', websocket('ws://127.0.0.1:9001', { maxLifetime: 1000 }))), {
      logger: consoleLogger('info', (line) => lines.push(line)),
    })
    const response = await handler.fetch(new Request('http://gw.example/old'), {})
    expect(response.status).toBe(500)
    expect(response.headers.get('x-wsgate-error')).toBe('ERR_INTERNAL')
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, name: 'wsgate', msg: 'routes refused', err: { type: 'HostCapabilityError' } })
  })
})

describe('workersGateway() requests', () => {
  it('runs the edge head parse before any route: a dot-segment hidden behind %2F is 400, as on Node', async () => {
    const handler = workersGateway(appWith((routes) => routes.get('/*', (c) => c.text('reached'))), { logger: consoleLogger('error', () => {}) })
    const refused = await handler.fetch(new Request('http://gw.example/a/..%2F..%2Fetc'), {})
    expect(refused.status).toBe(400)
    expect(refused.headers.get('x-wsgate-error')).toBe('ERR_HANDSHAKE_TARGET')
    const served = await handler.fetch(new Request('http://gw.example/a/b'), {})
    expect(await served.text()).toBe('reached')
    expect(served.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('logs one pino-shaped line per handshake decision, without the query', async () => {
    const lines: string[] = []
    const handler = workersGateway(appWith((routes) => routes.all('/chat', websocket('ws://127.0.0.1:9001'))), {
      logger: consoleLogger('info', (line) => lines.push(line)),
    })
    const request = new Request('http://gw.example/chat?token=secret', {
      headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '8', 'cf-connecting-ip': '203.0.113.7' },
    })
    const response = await handler.fetch(request, {})
    expect(response.status).toBe(426)
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0]!)
    expect(line).toMatchObject({ level: 30, name: 'wsgate', msg: 'handshake rejected', path: '/chat', route: '/chat', client: '203.0.113.7', status: 426, code: 'ERR_HANDSHAKE_VERSION' })
    expect(lines[0]).not.toContain('secret')
  })
})

describe('consoleLogger()', () => {
  it('writes a line without its fields, never throws, when a field cannot be written as JSON (a BigInt, a cycle)', () => {
    const lines: string[] = []
    const logger = consoleLogger('info', (line) => lines.push(line))
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    logger.info({ count: 10n }, 'handshake accepted')
    logger.info({ note: cycle }, 'request')
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ level: 30, name: 'wsgate', msg: 'handshake accepted', logError: expect.stringMatching(/BigInt/) }),
      expect.objectContaining({ level: 30, name: 'wsgate', msg: 'request', logError: expect.any(String) }),
    ])
  })
})

describe('consoleLogger() levels', () => {
  it("takes every LOG_LEVEL pino takes: silent writes nothing, fatal no error line, trace every line", () => {
    const written = (level: string): string[] => {
      const lines: string[] = []
      const logger = consoleLogger(level, (line) => lines.push(line))
      logger.debug({}, 'debug line')
      logger.error({}, 'error line')
      return lines.map((line) => (JSON.parse(line) as { msg: string }).msg)
    }
    expect(written('silent')).toEqual([])
    expect(written('fatal')).toEqual([])
    expect(written('trace')).toEqual(['debug line', 'error line'])
    expect(written('warn')).toEqual(['error line'])
  })
})
