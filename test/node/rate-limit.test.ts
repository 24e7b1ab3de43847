import { once } from 'node:events'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { normalizeHeaders } from '../../middleware/normalize-headers.ts'
import { rateLimit, type RateLimitOptions } from '../../middleware/rate-limit.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { closedLines, expectNoOpenSockets, logsWith, startGateway, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { closeClient, dropClient, openClient } from '../helpers/resources.ts'

/** A clock the test moves by hand, ms since the epoch. */
function manualClock(): { now: () => number; advance(ms: number): void } {
  let time = Date.UTC(2024, 5, 10, 12)
  return { now: () => time, advance: (ms) => void (time += ms) }
}

describe('rateLimit() in a running gateway', () => {
  let gateway: TestGateway | undefined
  let origin: WsOrigin | undefined
  const clients: WebSocket[] = []

  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate()
    try {
      if (gateway) await expectNoOpenSockets(gateway)
    } finally {
      await gateway?.close()
      await origin?.close()
      gateway = undefined
      origin = undefined
    }
  })

  /** A gateway with `rateLimit(options)` before `websocket()` on `/chat`, to an echo origin (or `target`). */
  async function start(options: RateLimitOptions, target?: string): Promise<TestGateway> {
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', rateLimit(options), websocket(target ?? origin.url))
    gateway = await startGateway(app)
    return gateway
  }

  async function open(gw: TestGateway): Promise<WebSocket> {
    const client = await openClient(`${gw.wsUrl}/chat`)
    clients.push(client)
    return client
  }

  /** Waits until the gateway has ended `count` pipes in all (their close listeners have run by then). */
  async function pipesClosed(gw: TestGateway, count: number): Promise<void> {
    await waitFor(() => closedLines(gw).length >= count, 5_000, `${count} 'connection closed' lines`)
  }

  it('answers a burst beyond the bucket with 429, Retry-After and the reason on the wire, and the origin never sees it', async () => {
    const clock = manualClock()
    const gw = await start({ burst: 2, refillPerSecond: 0.5, now: clock.now })
    for (let i = 0; i < 2; i++) {
      const client = await open(gw)
      const echoed = once(client, 'message')
      client.send(`hello ${i}`)
      expect(String((await echoed)[0])).toBe(`hello ${i}`)
      await closeClient(client)
    }

    const refused = await rawExchange(gw.port, handshakeRequest('/chat'))
    expect(refused.statusLine).toBe('HTTP/1.1 429 Too Many Requests')
    expect(refused.headers['retry-after']).toBe('2')
    expect(refused.headers['x-wsgate-error']).toBe('ERR_RATE_LIMITED')
    expect(refused.headers['x-request-id']).toMatch(/\S/)
    expect(refused.body).toBe('too many handshakes, retry in 2 s\n')
    expect(origin!.sockets).toHaveLength(2)
    const rejected = logsWith(gw, 'handshake rejected')
    expect(rejected).toHaveLength(1)
    expect(rejected[0]).toMatchObject({ status: 429, code: 'ERR_RATE_LIMITED', rateLimit: { key: 'ip', limited: 'rate', retryAfter: 2 } })
    expect(logsWith(gw, 'handshake accepted')[0]).toMatchObject({ rateLimit: { key: 'ip', remaining: 1 } })

    clock.advance(2_000)
    await closeClient(await open(gw))
    expect(origin!.sockets).toHaveLength(3)
  })

  it("behind a trusted proxy, limits each client the proxy names in X-Forwarded-For, not the proxy's address as one client", async () => {
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    // The test client stands for a proxy on 127.0.0.1 that appends each client's address.
    app.all('/chat', normalizeHeaders({ trustedProxies: ['127.0.0.0/8'] }), rateLimit({ burst: 1, now: manualClock().now }), websocket(origin.url))
    gateway = await startGateway(app)
    const through = async (forwardedFor: string): Promise<number> => {
      const client = new WebSocket(`${gateway!.wsUrl}/chat`, { headers: { 'X-Forwarded-For': forwardedFor } })
      client.on('error', () => {})
      const answer = await Promise.race([
        once(client, 'open').then(() => 101),
        once(client, 'unexpected-response').then(([, response]) => (response as { statusCode: number }).statusCode),
      ])
      if (answer === 101) await closeClient(client)
      else client.terminate()
      return answer
    }
    expect(await through('198.51.100.1')).toBe(101)
    expect(await through('198.51.100.2')).toBe(101)
    expect(await through('198.51.100.1')).toBe(429)
    expect(await through('6.6.6.6, 198.51.100.1')).toBe(429)
    expect(origin.sockets).toHaveLength(2)
  })

  it('caps concurrent connections per address with 429, and admits a new client once one has closed', async () => {
    const gw = await start({ maxConnectionsPerIp: 2 })
    const first = await open(gw)
    const second = await open(gw)

    const refused = await rawExchange(gw.port, handshakeRequest('/chat'))
    expect(refused.status).toBe(429)
    expect(refused.headers['x-wsgate-error']).toBe('ERR_TOO_MANY_CONNECTIONS')
    expect(refused.headers['retry-after']).toBe('5')
    expect(refused.body).toBe('too many open connections from this address (at most 2)\n')
    expect(origin!.sockets).toHaveLength(2)

    await closeClient(first)
    await pipesClosed(gw, 1)
    const third = await open(gw)
    const echoed = once(third, 'message')
    third.send('still served')
    expect(String((await echoed)[0])).toBe('still served')
    expect((await rawExchange(gw.port, handshakeRequest('/chat'))).status).toBe(429)

    await closeClient(second)
    await closeClient(third)
  })

  it('frees the slot of a client that drops its TCP connection without a close frame', async () => {
    const gw = await start({ maxConnectionsPerIp: 1 })
    await dropClient(await open(gw))
    await pipesClosed(gw, 1)
    await closeClient(await open(gw))
  })

  it('frees the slot of a handshake that fails after the limiter (origin down), so failures do not use up the cap', async () => {
    const gw = await start({ maxConnectionsPerIp: 1 }, 'ws://127.0.0.1:1')
    for (let i = 0; i < 3; i++) {
      const response = await rawExchange(gw.port, handshakeRequest('/chat'))
      expect(response.status).toBe(502)
      expect(response.headers['x-wsgate-error']).toBe('ERR_ORIGIN_UNAVAILABLE')
    }
  })
})
