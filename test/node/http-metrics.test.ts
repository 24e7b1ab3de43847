import { once } from 'node:events'
import http from 'node:http'
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { rateLimit } from '../../middleware/rate-limit.ts'
import { http as httpRoute, websocket, type GatewayBindings } from '../../src/index.ts'
import { adminRequest, sample, samples, scrape } from '../helpers/admin.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { logsWith, startGateway, waitFor, type GatewayOptions, type TestGateway } from '../helpers/gateway.ts'
import { h2SessionTo, readBody } from '../helpers/h2-websocket.ts'
import { openWire, send, startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'
import { startWsOrigin } from '../helpers/origins.ts'
import { rawExchange } from '../helpers/raw-client.ts'

/**
 * `wsgate_http_requests_total` and `wsgate_http_request_duration_seconds`:
 * every plain HTTP request the gateway answers (HTTP/1.1 and HTTP/2; served
 * by http(), refused by a middleware, refused by the gateway itself before
 * the chain) is counted once, by route pattern, status and code, exactly as
 * its `request` (or `request rejected`) log line reports it. Real gateways,
 * real origins, read through the admin listener's /metrics.
 */

const NAME = 'http-metrics.gateway.test'
const FIRST = '127.0.0.1'
const SECOND = '127.0.0.2'

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

/** The held answers of {@link heldOrigin}, ended when the test says so. */
interface HeldOrigin extends HttpOrigin {
  readonly held: http.ServerResponse[]
  releaseAll(): void
}

/** An origin that answers `/slow/*` only when released, `/upload` with the body length it read, anything else at once. */
async function heldOrigin(): Promise<HeldOrigin> {
  const held: http.ServerResponse[] = []
  const origin = await startHttpOrigin((request, response, seen) => {
    if (request.url?.startsWith('/slow')) held.push(response)
    else response.end(`${request.method} ${request.url} ${seen.body.length}`)
  })
  cleanups.push(() => origin.close())
  return Object.assign(origin, {
    held,
    releaseAll() {
      for (const response of held.splice(0)) if (!response.destroyed) response.end('released')
    },
  })
}

/**
 * `/api/*` and `/slow/*` through http(); `/limited/*` behind a rate limit of
 * one request; `/upload` through http() for bodies; `/own/:id` answered by
 * the app's own handler; `/ws` a WebSocket route (when an origin is given).
 */
function metricsApp(origin: HttpOrigin, wsOrigin?: string): Hono<{ Bindings: GatewayBindings }> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  for (const path of ['/api/*', '/slow/*', '/upload']) app.all(path, httpRoute(origin.url, { timeout: 30_000 }))
  app.all('/limited/*', rateLimit({ burst: 1, refillPerSecond: 0.001 }), httpRoute(origin.url))
  app.get('/own/:id', (c) => c.text(`own ${c.req.param('id')}`))
  if (wsOrigin) app.all('/ws', websocket(wsOrigin))
  return app
}

/** A gateway with the admin listener (its /metrics) and an HTTP/2 TLS listener beside the plain one. */
async function gatewayWith(app: Hono<{ Bindings: GatewayBindings }>, options: GatewayOptions = {}): Promise<TestGateway> {
  const gateway = await startGateway(app, {
    admin: { port: 0 },
    tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0, http2: true },
    ...options,
  })
  cleanups.push(() => gateway.close())
  return gateway
}

const h2Session = (gateway: TestGateway): Promise<ClientHttp2Session> => h2SessionTo(gateway, certificates, NAME, cleanups)

/** A GET on an HTTP/2 session: its head and its body. */
async function h2Get(client: ClientHttp2Session, path: string): Promise<{ head: IncomingHttpHeaders; body: string }> {
  const stream = client.request({ ':path': path })
  stream.on('error', () => {})
  stream.end()
  const [head] = (await once(stream, 'response')) as [IncomingHttpHeaders]
  return { head, body: await readBody(stream) }
}

/** A keep-alive agent bound to one client address: concurrent requests get connections of their own. */
function agentFrom(localAddress: string): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, localAddress })
  cleanups.push(() => agent.destroy())
  return agent
}

/** A GET over HTTP/1.1 with `agent`: its status and `x-wsgate-error`, once the whole answer is in. */
function getWith(gateway: TestGateway, path: string, agent: http.Agent): Promise<[number, string | undefined]> {
  return new Promise((resolve, reject) => {
    http
      .get(`${gateway.url}${path}`, { agent }, (response) => {
        response.resume()
        response.on('end', () => resolve([response.statusCode!, response.headers['x-wsgate-error'] as string | undefined]))
      })
      .on('error', reject)
  })
}

/** Samples of `wsgate_http_requests_total` as sorted `route status code → value` lines. */
function requestSeries(text: string): string[] {
  return samples(text, 'wsgate_http_requests_total')
    .map(({ labels, value }) => `${labels.route} ${labels.status} ${labels.code} → ${value}`)
    .sort()
}

/** The sum of every sample of `name`. */
function total(text: string, name: string): number {
  return samples(text, name).reduce((sum, { value }) => sum + value, 0)
}

/** The plain requests' log lines: one `request` line per request the chain saw, one `request rejected` per refused head. */
function plainLines(gateway: TestGateway): number {
  return logsWith(gateway, 'request').length + logsWith(gateway, 'request rejected').length
}

/** Scrapes /metrics until `wsgate_http_requests_total` adds up to `count` (a line is written a moment after its answer). */
async function scrapeCounted(gateway: TestGateway, count: number): Promise<string> {
  const deadline = Date.now() + 5_000
  for (;;) {
    const text = await scrape(gateway.adminUrl!)
    if (total(text, 'wsgate_http_requests_total') === count) return text
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} counted requests:\n${requestSeries(text).join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('wsgate_http_requests_total over HTTP/1.1', () => {
  it('counts a request http() answered under its route pattern with status 200 and no code, never under its path', async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin))
    expect((await send(`${gateway.url}/api/items/7?q=secret`)).status).toBe(200)
    expect((await send(`${gateway.url}/api/items/8`)).status).toBe(200)
    const text = await scrapeCounted(gateway, 2)
    expect(requestSeries(text)).toEqual(['/api/* 200  → 2'])
    expect(text).not.toContain('/api/items')
    expect(sample(text, 'wsgate_http_request_duration_seconds_count', { route: '/api/*' })).toBe(2)
  })

  it("counts a middleware's refusal with its status and code, under the route pattern its path matches", async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin))
    expect((await send(`${gateway.url}/limited/a`)).status).toBe(200)
    const refused = await send(`${gateway.url}/limited/b`)
    expect([refused.status, refused.headers['x-wsgate-error']]).toEqual([429, 'ERR_RATE_LIMITED'])
    expect(requestSeries(await scrapeCounted(gateway, 2))).toEqual(['/limited/* 200  → 1', '/limited/* 429 ERR_RATE_LIMITED → 1'])
  })

  it("counts a request no route matches as a 404 with route '', and one the app's own handler answered under its route pattern", async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin))
    expect((await send(`${gateway.url}/nowhere/at/all`)).status).toBe(404)
    expect((await send(`${gateway.url}/own/42`)).status).toBe(200)
    expect(requestSeries(await scrapeCounted(gateway, 2))).toEqual([' 404  → 1', '/own/:id 200  → 1'])
  })

  it('counts the per-client cap\'s 429 ERR_CLIENT_REQUEST_LIMIT, over HTTP/1.1 and HTTP/2, under the route its path matches', async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin), { maxRequestsPerClient: 2 })
    const first = agentFrom(FIRST)
    const held = [getWith(gateway, '/slow/0', first), getWith(gateway, '/slow/1', first)]
    await waitFor(() => origin.held.length === 2, 5_000, 'the origin to hold two requests')
    expect(await getWith(gateway, '/slow/over', first)).toEqual([429, 'ERR_CLIENT_REQUEST_LIMIT'])
    // The cap is shared with HTTP/2: the same client's stream is refused too.
    const { head } = await h2Get(await h2Session(gateway), '/slow/h2')
    expect([head[':status'], head['x-wsgate-error']]).toEqual([429, 'ERR_CLIENT_REQUEST_LIMIT'])
    // Another address has a share of its own.
    const other = getWith(gateway, '/slow/other', agentFrom(SECOND))
    await waitFor(() => origin.held.length === 3, 5_000, 'the origin to hold the other address\'s request')
    origin.releaseAll()
    expect(await Promise.all([...held, other])).toEqual([
      [200, undefined],
      [200, undefined],
      [200, undefined],
    ])
    expect(requestSeries(await scrapeCounted(gateway, 5))).toEqual(['/slow/* 200  → 3', '/slow/* 429 ERR_CLIENT_REQUEST_LIMIT → 2'])
  })

  it('counts a request whose body did not arrive within requestTimeout as 408 ERR_REQUEST_TIMEOUT', async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin), { handshakeTimeout: 200, requestTimeout: 400 })
    const wire = await openWire(gateway.port)
    cleanups.push(() => wire.socket.destroy())
    wire.send(`POST /upload HTTP/1.1\r\nHost: ${NAME}\r\nContent-Length: 1000\r\n\r\nonly the start`)
    const response = await wire.response()
    expect([response.status, response.headers['x-wsgate-error']]).toEqual([408, 'ERR_REQUEST_TIMEOUT'])
    expect(requestSeries(await scrapeCounted(gateway, 1))).toEqual(['/upload 408 ERR_REQUEST_TIMEOUT → 1'])
  })

  it('counts a request whose client left before the answer as 499, as its access line says', async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin))
    const wire = await openWire(gateway.port)
    wire.send(`GET /slow/left HTTP/1.1\r\nHost: ${NAME}\r\n\r\n`)
    await waitFor(() => origin.held.length === 1, 5_000, 'the origin to hold the request')
    wire.socket.destroy()
    await waitFor(() => logsWith(gateway, 'request').length === 1, 5_000, 'the request line')
    expect(logsWith(gateway, 'request')[0]).toMatchObject({ status: 499 })
    expect(requestSeries(await scrapeCounted(gateway, 1))).toEqual(['/slow/* 499  → 1'])
  })

  it('counts requests whose access lines are below the log level (LOG_LEVEL=warn) all the same', async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin))
    expect((await adminRequest(gateway.adminUrl!, '/log-level', { method: 'PUT', body: '{"level":"warn"}' })).status).toBe(200)
    expect((await send(`${gateway.url}/api/quiet`)).status).toBe(200)
    expect((await send(`${gateway.url}/nowhere`)).status).toBe(404)
    const { head } = await h2Get(await h2Session(gateway), '/api/quiet-h2')
    expect(head[':status']).toBe(200)
    expect(requestSeries(await scrapeCounted(gateway, 3))).toEqual([' 404  → 1', '/api/* 200  → 2'])
    expect(plainLines(gateway)).toBe(0)
  })
})

describe('wsgate_http_requests_total over HTTP/2', () => {
  it('counts a plain h2 request under its route pattern, in the same series as HTTP/1.1', async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin))
    const client = await h2Session(gateway)
    const { head, body } = await h2Get(client, '/api/over-h2')
    expect([head[':status'], body]).toEqual([200, 'GET /api/over-h2 0'])
    expect((await send(`${gateway.url}/api/over-h1`)).status).toBe(200)
    expect((await h2Get(client, '/nowhere')).head[':status']).toBe(404)
    expect(requestSeries(await scrapeCounted(gateway, 3))).toEqual([' 404  → 1', '/api/* 200  → 2'])
  })

  it('counts a CONNECT, over HTTP/1.1 and HTTP/2, as the 501 ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED it gets, with no route', async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin))
    const h1 = await rawExchange(gateway.port, 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n')
    expect(h1.status).toBe(501)
    const client = await h2Session(gateway)
    const stream = client.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:443' }, { endStream: false })
    stream.on('error', () => {})
    const [head] = (await once(stream, 'response')) as [IncomingHttpHeaders]
    expect(head[':status']).toBe(501)
    stream.close()
    expect(requestSeries(await scrapeCounted(gateway, 2))).toEqual([' 501 ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED → 2'])
  })

  it('counts a stream whose body did not arrive within requestTimeout as 408 ERR_REQUEST_TIMEOUT', async () => {
    const origin = await heldOrigin()
    const gateway = await gatewayWith(metricsApp(origin), { handshakeTimeout: 200, requestTimeout: 400 })
    const client = await h2Session(gateway)
    const stream: ClientHttp2Stream = client.request({ ':method': 'POST', ':path': '/upload' }, { endStream: false })
    stream.on('error', () => {})
    stream.write('the first bytes of a body that never ends')
    const [head] = (await once(stream, 'response')) as [IncomingHttpHeaders]
    expect([head[':status'], head['x-wsgate-error']]).toEqual([408, 'ERR_REQUEST_TIMEOUT'])
    await readBody(stream)
    expect(requestSeries(await scrapeCounted(gateway, 1))).toEqual(['/upload 408 ERR_REQUEST_TIMEOUT → 1'])
  })
})

describe('wsgate_http_requests_total against the log', () => {
  it('equals the number of plain request lines in a mixed run, handshakes apart, and the histogram counts the same requests', async () => {
    const origin = await heldOrigin()
    const wsOrigin = await startWsOrigin()
    cleanups.push(() => wsOrigin.close())
    const gateway = await gatewayWith(metricsApp(origin, wsOrigin.url))
    const client = await h2Session(gateway)

    // Plain requests of every kind, over both protocols.
    expect((await send(`${gateway.url}/api/a`)).status).toBe(200)
    expect((await send(`${gateway.url}/api/b`, { method: 'POST', body: 'payload' })).status).toBe(200)
    expect((await send(`${gateway.url}/api/c`, { method: 'HEAD' })).status).toBe(200)
    expect((await send(`${gateway.url}/own/1`)).status).toBe(200)
    expect((await send(`${gateway.url}/own/2`, { method: 'HEAD' })).status).toBe(200)
    expect((await send(`${gateway.url}/limited/1`)).status).toBe(200)
    expect((await send(`${gateway.url}/limited/2`)).status).toBe(429)
    expect((await send(`${gateway.url}/missing`)).status).toBe(404)
    expect((await h2Get(client, '/api/d')).head[':status']).toBe(200)
    expect((await h2Get(client, '/own/3')).head[':status']).toBe(200)
    expect((await h2Get(client, '/missing')).head[':status']).toBe(404)
    // Refused by the head parse, before the chain: a `request rejected` line each, and no route.
    expect((await send(`${gateway.url}/a/%zz`)).status).toBe(400)
    expect((await h2Get(client, '/a/%zz')).head[':status']).toBe(400)
    // Handshakes, and a plain request websocket() refused, are counted as handshakes only.
    const ws = new WebSocket(`${gateway.wsUrl}/ws`)
    await once(ws, 'open')
    ws.close()
    const plainToWs = await send(`${gateway.url}/ws`)
    expect([plainToWs.status, plainToWs.headers['x-wsgate-error']]).toEqual([400, 'ERR_HANDSHAKE_UPGRADE'])

    const text = await scrapeCounted(gateway, 13)
    expect(plainLines(gateway)).toBe(13)
    expect(requestSeries(text)).toEqual(
      [
        '/api/* 200  → 4',
        '/own/:id 200  → 3',
        '/limited/* 200  → 1',
        '/limited/* 429 ERR_RATE_LIMITED → 1',
        ' 404  → 2',
        ' 400 ERR_HANDSHAKE_TARGET → 2',
      ].sort(),
    )
    expect(sample(text, 'wsgate_handshakes_total', { route: '/ws', status: '101', code: '' })).toBe(1)
    expect(sample(text, 'wsgate_handshakes_total', { route: '/ws', status: '400', code: 'ERR_HANDSHAKE_UPGRADE' })).toBe(1)
    // One observation per counted request, route by route.
    for (const route of ['/api/*', '/own/:id', '/limited/*', '']) {
      const counted = samples(text, 'wsgate_http_requests_total')
        .filter((entry) => entry.labels.route === route)
        .reduce((sum, { value }) => sum + value, 0)
      expect(sample(text, 'wsgate_http_request_duration_seconds_count', { route }), route).toBe(counted)
    }
    expect(total(text, 'wsgate_http_request_duration_seconds_count')).toBe(13)
    // Buckets from 1 ms to 60 s.
    const buckets = samples(text, 'wsgate_http_request_duration_seconds_bucket').filter((entry) => entry.labels.route === '/api/*').map((entry) => entry.labels.le)
    expect(buckets[0]).toBe('0.001')
    expect(buckets.at(-2)).toBe('60')
  })
})
