import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { jwtAuth, normalizeHeaders, originCheck, waf, websocket, type GatewayBindings } from '../../src/index.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!'

describe('start-up warnings for risky settings', () => {
  let gateway: TestGateway | undefined

  afterEach(async () => {
    await gateway?.close()
    gateway = undefined
  })

  const warnings = (g: TestGateway): string[] => g.logs.filter((line) => line.level === 40).map((line) => line.msg)

  it('logs each risky setting once at warn level before listening, even when the middleware serves two routes', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    const risky = [
      normalizeHeaders({ trustedProxies: ['0.0.0.0/0'] }),
      jwtAuth({ secret: SECRET, algorithms: ['HS256'], sources: ['cookie', 'header'], requireExpiration: false, forwardToken: true }),
      waf({ detectionOnly: true }),
    ] as const
    app.all('/a', ...risky, websocket('ws://127.0.0.1:9'))
    app.all('/b', ...risky, websocket('ws://127.0.0.1:9'))
    gateway = await startGateway(app)

    const found = warnings(gateway)
    expect(found).toEqual([
      expect.stringMatching(/^normalizeHeaders\(\): trustedProxies includes public addresses/),
      expect.stringMatching(/^jwtAuth\(\): requireExpiration is false/),
      expect.stringMatching(/^jwtAuth\(\): the 'cookie' token source is on/),
      expect.stringMatching(/^jwtAuth\(\): forwardToken is true/),
      expect.stringMatching(/^waf\(\): detectionOnly is true/),
    ])
    // Before the listening line: an operator reads them first.
    const listening = gateway.logs.findIndex((line) => line.msg === 'gateway listening')
    const lastWarning = gateway.logs.findLastIndex((line) => line.level === 40)
    expect(lastWarning).toBeLessThan(listening)
  })

  it('logs no warning for the defaults and safe settings', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all(
      '/a',
      normalizeHeaders({ trustedProxies: ['10.0.0.0/8', '::1'] }),
      originCheck({ allowedOrigins: ['https://app.example'] }),
      jwtAuth({ secret: SECRET, algorithms: ['HS256'] }),
      waf(),
      websocket('ws://127.0.0.1:9'),
    )
    gateway = await startGateway(app)
    expect(warnings(gateway)).toEqual([])
  })
})
