import { once } from 'node:events'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { jwtAuth } from '../../middleware/jwt-auth/index.ts'
import { rateLimit } from '../../middleware/rate-limit.ts'
import { BASELINE_RULES } from '../../middleware/waf/rules/baseline.ts'
import { waf } from '../../middleware/waf/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { blockFamily, ruleFamily } from '../../src/node/metrics/index.ts'
import { sample, samples, scrape } from '../helpers/admin.ts'
import { closedLines, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { mint } from '../helpers/jwks.ts'
import { freePort } from '../helpers/ports.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { closeClient, openClient, useResources } from '../helpers/resources.ts'

// The metrics of a real gateway after a scripted sequence of accepted,
// refused (each kind) and closed connections, read through the admin
// listener's /metrics as Prometheus would: every count equals what the
// sequence made, and nothing else is counted.

const { gateway: gatewayServing, wsOrigin, track } = useResources()

const SECRET = new TextEncoder().encode('a-shared-secret-of-32-bytes-ok!!')
const hmac = { alg: 'HS256', secret: SECRET }

/** Opens a tracked client (its later errors ignored) without permessage-deflate, so frame sizes are known. */
async function client(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return track(await openClient(url, { perMessageDeflate: false, headers, ignoreErrors: true }))
}

/** Sends `text` and waits for its echo. */
async function roundTrip(socket: WebSocket, text: string): Promise<void> {
  const reply = once(socket, 'message')
  socket.send(text)
  await reply
}

/** The status and `x-wsgate-error` of a raw handshake to `path`. */
async function refused(gateway: TestGateway, path: string, headers: Record<string, string | null> = {}): Promise<[number, string | undefined]> {
  const response = await rawExchange(gateway.port, handshakeRequest(path, headers))
  return [response.status, response.headers['x-wsgate-error']]
}

/** Samples of a counter as `route status code → value` lines, sorted: a whole series compared at once. */
function series(text: string, name: string): string[] {
  return samples(text, name)
    .map(({ labels, value }) => `${Object.values(labels).join(' ')} → ${value}`)
    .sort()
}

describe('metrics of a running gateway', () => {
  it('after a scripted sequence, every handshake, refusal, close and byte is counted once, with bounded labels', async () => {
    const origin = await wsOrigin((socket) => {
      socket.on('message', (data, isBinary) => {
        if (String(data) === 'bye') socket.close(4000, 'bye')
        else socket.send(data, { binary: isBinary })
      })
    })
    // A port nothing listens on: connections to it are refused.
    const dead = `ws://127.0.0.1:${await freePort()}`
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/echo', websocket(origin.url))
    app.all('/bye', websocket(origin.url))
    app.all('/idle', websocket(origin.url, { idleTimeout: 50 }))
    app.all('/auth', jwtAuth({ secret: SECRET, algorithms: ['HS256'] }), websocket(origin.url))
    app.all('/waf', waf(), websocket(origin.url))
    app.all('/down', websocket(dead))
    app.all('/limited', rateLimit({ burst: 1, refillPerSecond: 0.001 }), websocket(origin.url))
    app.all('/capped', websocket(origin.url, { maxConnections: 1 }))
    const gateway = await gatewayServing(app, { admin: { port: 0 } })
    const ws = gateway.wsUrl

    // Accepted: two on /echo (one stays open, one closed by the client), one on /auth (open, subject alice),
    // one the origin closes, one the idle timeout closes, one before a rate limit, one under a cap (open).
    const open = await client(`${ws}/echo`)
    await roundTrip(open, 'ping!')
    const closing = await client(`${ws}/echo`)
    await roundTrip(closing, 'hello')
    await closeClient(closing, 1000)
    const token = await mint(hmac, { sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })
    await client(`${ws}/auth`, { authorization: `Bearer ${token}` })
    const bye = await client(`${ws}/bye`)
    const byeClosed = once(bye, 'close')
    bye.send('bye')
    expect((await byeClosed)[0]).toBe(4000)
    const idle = await client(`${ws}/idle`)
    expect((await once(idle, 'close'))[0]).toBe(1001)
    await closeClient(await client(`${ws}/limited`), 1000)
    await client(`${ws}/capped`)

    // Refused, one of each kind.
    const expired = await mint(hmac, { sub: 'bob', exp: Math.floor(Date.now() / 1000) - 3600 })
    expect(await refused(gateway, '/echo', { 'Sec-WebSocket-Key': 'not-a-key' })).toEqual([400, 'ERR_HANDSHAKE_INVALID_KEY'])
    expect(await refused(gateway, '/auth')).toEqual([401, 'ERR_JWT_MISSING'])
    expect(await refused(gateway, '/auth', { Authorization: `Bearer ${expired}` })).toEqual([401, 'ERR_JWT_EXPIRED'])
    expect(await refused(gateway, "/waf?q='%20or%201=1--")).toEqual([403, 'ERR_WAF_BLOCKED'])
    expect(await refused(gateway, '/waf?q=%3Cscript%3Ealert(1)%3C/script%3E')).toEqual([403, 'ERR_WAF_BLOCKED'])
    expect(await refused(gateway, '/nowhere')).toEqual([404, undefined])
    expect(await refused(gateway, '/limited')).toEqual([429, 'ERR_RATE_LIMITED'])
    expect(await refused(gateway, '/capped')).toEqual([503, 'ERR_CONNECTION_LIMIT'])
    expect(await refused(gateway, '/down')).toEqual([502, 'ERR_ORIGIN_UNAVAILABLE'])
    await waitFor(() => closedLines(gateway).length === 4, 5_000, 'four connection-end lines')

    const text = await scrape(gateway.adminUrl!)
    expect(series(text, 'wsgate_handshakes_total')).toEqual(
      [
        '/echo 101  → 2',
        '/echo 400 ERR_HANDSHAKE_INVALID_KEY → 1',
        '/bye 101  → 1',
        '/idle 101  → 1',
        '/auth 101  → 1',
        '/auth 401 ERR_JWT_MISSING → 1',
        '/auth 401 ERR_JWT_EXPIRED → 1',
        '/waf 403 ERR_WAF_BLOCKED → 2',
        ' 404  → 1',
        '/limited 101  → 1',
        '/limited 429 ERR_RATE_LIMITED → 1',
        '/capped 101  → 1',
        '/capped 503 ERR_CONNECTION_LIMIT → 1',
        '/down 502 ERR_ORIGIN_UNAVAILABLE → 1',
      ].sort(),
    )
    expect(sample(text, 'wsgate_handshake_duration_seconds_count', { route: '/echo' })).toBe(3)
    expect(sample(text, 'wsgate_handshake_duration_seconds_count', { route: '' })).toBe(1)
    expect(series(text, 'wsgate_auth_failures_total')).toEqual(['/auth ERR_JWT_EXPIRED → 1', '/auth ERR_JWT_MISSING → 1'])
    expect(series(text, 'wsgate_waf_blocks_total')).toEqual(['/waf sqli → 1', '/waf xss → 1'])
    expect(series(text, 'wsgate_closes_total')).toEqual(['/bye origin 4000 → 1', '/echo client 1000 → 1', '/idle idle 1001 → 1', '/limited client 1000 → 1'])
    expect(sample(text, 'wsgate_connection_duration_seconds_count', { route: '/echo' })).toBe(1)
    expect(series(text, 'wsgate_connections_open')).toEqual([`/auth ${origin.url} → 1`, `/capped ${origin.url} → 1`, `/echo ${origin.url} → 1`])
    // A plain target is up after a handshake it accepted, down after one it could not take.
    expect(sample(text, 'wsgate_origin_up', { route: '/echo', origin: origin.url })).toBe(1)
    expect(sample(text, 'wsgate_origin_up', { route: '/down', origin: dead })).toBe(0)

    // Bytes: the ended connection's as its end line reports them, plus the open one's so far:
    // 'ping!' is 11 bytes as a masked client frame and 7 as the origin's unmasked echo.
    const ended = closedLines(gateway, '/echo')[0]!
    expect(sample(text, 'wsgate_bytes_total', { route: '/echo', direction: 'client_to_origin' })).toBe((ended.bytesFromClient as number) + 11)
    expect(sample(text, 'wsgate_bytes_total', { route: '/echo', direction: 'origin_to_client' })).toBe((ended.bytesFromOrigin as number) + 7)
    const byeLine = closedLines(gateway, '/bye')[0]!
    expect(sample(text, 'wsgate_bytes_total', { route: '/bye', direction: 'client_to_origin' })).toBe(byeLine.bytesFromClient)

    // Process metrics and event-loop lag ride along.
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(text).toContain('nodejs_eventloop_lag_seconds')
  })

  it('labels a handshake a middleware refused with the route pattern its path matches, never the path', async () => {
    const origin = await wsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.use('*', rateLimit({ burst: 1000 }))
    app.use('/rooms/*', jwtAuth({ secret: SECRET, algorithms: ['HS256'] }))
    app.all('/rooms/:room', websocket(origin.url))
    const gateway = await gatewayServing(app, { admin: { port: 0 } })
    expect(await refused(gateway, '/rooms/lobby?token=x')).toEqual([401, 'ERR_JWT_MISSING'])
    expect(await refused(gateway, '/rooms/kitchen')).toEqual([401, 'ERR_JWT_MISSING'])
    expect(await refused(gateway, '/elsewhere')).toEqual([404, undefined])
    const text = await scrape(gateway.adminUrl!)
    expect(series(text, 'wsgate_handshakes_total')).toEqual([' 404  → 1', '/rooms/:room 401 ERR_JWT_MISSING → 2'])
    expect(series(text, 'wsgate_auth_failures_total')).toEqual(['/rooms/:room ERR_JWT_MISSING → 2'])
  })

  it("counts what Node's parser refuses before the app, with route '' and the code of its log line", async () => {
    const origin = await wsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/echo', websocket(origin.url))
    const gateway = await gatewayServing(app, { admin: { port: 0 } })
    const malformed = await rawExchange(gateway.port, 'GET /echo HTTP/1.1\r\nHost: gw\r\nBad Header: x\r\n\r\n')
    expect(malformed.status).toBe(400)
    const oversized = await rawExchange(gateway.port, handshakeRequest('/echo', { 'X-Big': 'a'.repeat(20_000) }))
    expect(oversized.status).toBe(431)
    const text = await scrape(gateway.adminUrl!)
    const refusals = samples(text, 'wsgate_handshakes_total').filter((entry) => entry.labels.route === '')
    expect(refusals.map((entry) => `${entry.labels.status} ${entry.labels.code} → ${entry.value}`).sort()).toEqual([
      `400 ${malformed.headers['x-wsgate-error']} → 1`,
      `431 ${oversized.headers['x-wsgate-error']} → 1`,
    ])
  })

  it('keeps each gateway’s counts apart when two run in one process', async () => {
    const origin = await wsOrigin()
    const app = (): Hono<{ Bindings: GatewayBindings }> => new Hono<{ Bindings: GatewayBindings }>().all('/echo', websocket(origin.url))
    const first = await gatewayServing(app(), { admin: { port: 0 } })
    const second = await gatewayServing(app(), { admin: { port: 0 } })
    await closeClient(await client(`${first.wsUrl}/echo`), 1000)
    await closeClient(await client(`${first.wsUrl}/echo`), 1000)
    await closeClient(await client(`${second.wsUrl}/echo`), 1000)
    await waitFor(() => closedLines(first).length === 2 && closedLines(second).length === 1, 5_000, 'the connection-end lines')
    const labels = { route: '/echo', status: '101', code: '' }
    expect(sample(await scrape(first.adminUrl!), 'wsgate_handshakes_total', labels)).toBe(2)
    expect(sample(await scrape(second.adminUrl!), 'wsgate_handshakes_total', labels)).toBe(1)
    // gateway.metrics is the registry /metrics renders.
    expect(sample(await first.metrics!.metrics(), 'wsgate_closes_total', { route: '/echo', cause: 'client', code: '1000' })).toBe(2)
  })

  it('collects nothing without admin or metrics: true', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayServing(new Hono<{ Bindings: GatewayBindings }>().all('/echo', websocket(origin.url)))
    expect(gateway.metrics).toBeUndefined()
    expect(gateway.adminUrl).toBeUndefined()
    const metered = await gatewayServing(new Hono<{ Bindings: GatewayBindings }>().all('/echo', websocket(origin.url)), { metrics: true })
    await closeClient(await client(`${metered.wsUrl}/echo`), 1000)
    expect(metered.adminUrl).toBeUndefined()
    expect(sample(await metered.metrics!.metrics(), 'wsgate_handshakes_total', { route: '/echo', status: '101', code: '' })).toBe(1)
  })
})

describe('rule_family of wsgate_waf_blocks_total', () => {
  it('names the CRS family of a rule by its file', () => {
    expect([942100, 941100, 932100, 930100, 931100, 933100, 920350, 921110, 913100, 944100].map(ruleFamily)).toEqual([
      'sqli',
      'xss',
      'rce',
      'lfi',
      'rfi',
      'php',
      'protocol',
      'protocol',
      'scanner',
      'java',
    ])
    expect(ruleFamily(949110)).toBeUndefined()
    expect(ruleFamily(12345)).toBe('custom')
  })

  it('names every embedded baseline detection by the attack-… tag it carries', () => {
    const tagged = [...BASELINE_RULES.matchAll(/id:(\d+),[^"]*?tag:'attack-([a-z]+)'/g)].map(([, id, family]) => [Number(id), family])
    expect(tagged.length).toBeGreaterThan(30)
    for (const [id, family] of tagged) expect([id, ruleFamily(id as number)]).toEqual([id, family])
  })

  it('puts a block on the anomaly score down to the highest-scoring matched rule, the first of equals', () => {
    expect(blockFamily({ action: 'blocked', blockedBy: 949110, rules: [{ id: 920350 }, { id: 942100 }, { id: 941100 }, { id: 949110 }] })).toBe('sqli')
    expect(blockFamily({ action: 'blocked', blockedBy: 9009990, rules: [{ id: 9010008 }, { id: 9009004 }, { id: 9009990 }] })).toBe('scanner')
    expect(blockFamily({ action: 'blocked', blockedBy: 949110, rules: [{ id: 920350, severity: 'CRITICAL' }, { id: 942100, severity: 'WARNING' }] })).toBe('protocol')
    expect(blockFamily({ action: 'blocked', reason: 'deny list' })).toBe('deny-list')
    expect(blockFamily({ action: 'blocked', budgetExceeded: true, rules: [] })).toBe('budget')
  })
})
