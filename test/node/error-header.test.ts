import net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, websocket, type GatewayBindings } from '../../src/index.ts'
import { scrape, sample } from '../helpers/admin.ts'
import { logsWith, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { send } from '../helpers/http.ts'
import { startRawOrigin, switchingProtocols, type RawOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

const resources = useResources()

/** A raw origin answering every request with `answer`'s bytes. */
async function originAnswering(answer: Parameters<typeof startRawOrigin>[0]): Promise<RawOrigin> {
  const origin = await startRawOrigin(answer)
  resources.track(origin)
  return origin
}

/** What the access log and the metrics say about the one request or handshake of a test. */
async function recorded(gateway: TestGateway, msg: string): Promise<{ line: Record<string, unknown>; metrics: string }> {
  await waitFor(() => logsWith(gateway, msg).length === 1, 5_000, `the '${msg}' line`)
  return { line: logsWith(gateway, msg)[0]!, metrics: await scrape(gateway.adminUrl!) }
}

describe("x-wsgate-error is the gateway's own: an origin's never passes for it", () => {
  it("drops it from an origin's refusal of an upgrade: the client does not see it, the log and the metrics have no code", async () => {
    const origin = await originAnswering(({ socket }) => {
      socket.end(['HTTP/1.1 403 Forbidden', 'x-wsgate-error: ERR_WAF_BLOCKED', 'X-Kept: yes', 'Content-Length: 2', '', 'no'].join('\r\n'))
    })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/chat', websocket(origin.url))
    const gateway = await resources.gateway(app, { admin: { port: 0 } })
    const answer = await rawExchange(gateway.port, handshakeRequest('/chat'))
    expect(answer.status).toBe(403)
    expect(answer.headers['x-kept']).toBe('yes')
    expect(answer.headers['x-wsgate-error']).toBeUndefined()
    const { line, metrics } = await recorded(gateway, 'handshake rejected')
    expect(line.code).toBeUndefined()
    expect(sample(metrics, 'wsgate_handshakes_total', { route: '/chat', status: '403', code: '' })).toBe(1)
    expect(metrics).not.toContain('ERR_WAF_BLOCKED')
  })

  it("drops it from an origin's 101: the handshake is logged and counted as accepted, without a code", async () => {
    const origin = await originAnswering((connection) => {
      connection.socket.write(switchingProtocols(connection, ['x-wsgate-error: ERR_JWT_EXPIRED', 'X-Kept: yes']))
    })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/chat', websocket(origin.url))
    const gateway = await resources.gateway(app, { admin: { port: 0 } })
    const head = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(gateway.port, '127.0.0.1', () => socket.write(handshakeRequest('/chat')))
      let received = ''
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1')
        if (received.includes('\r\n\r\n')) {
          socket.destroy()
          resolve(received)
        }
      })
      socket.on('error', reject)
    })
    expect(head.startsWith('HTTP/1.1 101 ')).toBe(true)
    expect(head.toLowerCase()).toContain('x-kept: yes')
    expect(head.toLowerCase()).not.toContain('x-wsgate-error')
    const { line, metrics } = await recorded(gateway, 'handshake accepted')
    expect(line.code).toBeUndefined()
    expect(sample(metrics, 'wsgate_handshakes_total', { route: '/chat', status: '101', code: '' })).toBe(1)
    expect(metrics).not.toContain('ERR_JWT_EXPIRED')
  })

  it("drops it from an origin's answer to a plain request through http()", async () => {
    const origin = await originAnswering(({ socket }) => {
      socket.end(['HTTP/1.1 429 Too Many Requests', 'x-wsgate-error: ERR_RATE_LIMITED', 'X-Kept: yes', 'Content-Length: 4', 'Connection: close', '', 'slow'].join('\r\n'))
    })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/api/*', httpRoute(origin.url.replace('ws:', 'http:')))
    const gateway = await resources.gateway(app, { admin: { port: 0 } })
    const answer = await send(`http://127.0.0.1:${gateway.port}/api/x`)
    expect(answer.status).toBe(429)
    expect(answer.body.toString()).toBe('slow')
    expect(answer.headers['x-kept']).toBe('yes')
    expect(answer.headers['x-wsgate-error']).toBeUndefined()
    const { line, metrics } = await recorded(gateway, 'request')
    expect(line.code).toBeUndefined()
    expect(sample(metrics, 'wsgate_http_requests_total', { route: '/api/*', status: '429', code: '' })).toBe(1)
    expect(metrics).not.toContain('ERR_RATE_LIMITED')
  })
})
