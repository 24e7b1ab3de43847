import { once } from 'node:events'
import http from 'node:http'
import type net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { cacheBypass } from '../../middleware/cache-bypass.ts'
import { cache, type CacheOptions } from '../../middleware/cache.ts'
import { http as httpRoute, proxy, type GatewayBindings } from '../../src/index.ts'
import type { TestGateway } from '../helpers/gateway.ts'
import { useResources } from '../helpers/resources.ts'
import { send, startHttpOrigin, type HttpOrigin, type OriginHandler } from '../helpers/http.ts'

const resources = useResources()
let gateway: TestGateway

/** A node:http origin, closed after the test. */
async function origin(handler: OriginHandler): Promise<HttpOrigin> {
  const started = await startHttpOrigin(handler)
  resources.track(started)
  return started
}

/** A test clock for the cache's freshness; starts at the real time so origin `Date` headers agree with it. */
function testClock(): { now: () => number; advance: (ms: number) => void } {
  let time = Date.now()
  return { now: () => time, advance: (ms) => void (time += ms) }
}

/** A gateway with `cache(options)` in front of `http(origin)` on every path. */
async function cachedGateway(upstream: HttpOrigin, options: CacheOptions = {}): Promise<TestGateway> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('*', cacheBypass(), cache(options), httpRoute(upstream.url))
  gateway = await resources.gateway(app)
  return gateway
}

/** GETs `path` through the gateway; returns x-cache, status and body text. */
async function get(path: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ cache: string | undefined; status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const answer = await send(`${gateway!.url}${path}`, { headers })
  return { cache: answer.headers['x-cache'] as string | undefined, status: answer.status, body: answer.body.toString(), headers: answer.headers }
}

describe('cache(): fresh responses', () => {
  it('serves a second GET of a max-age response from the cache with x-cache HIT', async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
      response.end(`answer ${upstream.requests.length}`)
    })
    await cachedGateway(upstream)
    const first = await get('/a')
    expect(first).toMatchObject({ cache: 'MISS', status: 200, body: 'answer 1' })
    const second = await get('/a')
    expect(second).toMatchObject({ cache: 'HIT', status: 200, body: 'answer 1' })
    expect(second.headers['content-type']).toBe('text/plain')
    expect(second.headers.age).toBe('0')
    expect(upstream.requests).toHaveLength(1)
  })

  it('keys on the URL: another path or query is a MISS', async () => {
    const upstream = await origin((request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end(request.url)
    })
    await cachedGateway(upstream)
    expect(await get('/a?x=1')).toMatchObject({ cache: 'MISS', body: '/a?x=1' })
    expect(await get('/a?x=2')).toMatchObject({ cache: 'MISS', body: '/a?x=2' })
    expect(await get('/b')).toMatchObject({ cache: 'MISS', body: '/b' })
    expect(await get('/a?x=1')).toMatchObject({ cache: 'HIT', body: '/a?x=1' })
    expect(upstream.requests).toHaveLength(3)
  })

  it('goes back to the origin once max-age has passed on the injected clock', async () => {
    const clock = testClock()
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end(`answer ${upstream.requests.length}`)
    })
    await cachedGateway(upstream, { now: clock.now })
    expect(await get('/a')).toMatchObject({ cache: 'MISS', body: 'answer 1' })
    clock.advance(59_000)
    const aged = await get('/a')
    expect(aged).toMatchObject({ cache: 'HIT', body: 'answer 1' })
    expect(aged.headers.age).toBe('59')
    clock.advance(2_000)
    expect(await get('/a')).toMatchObject({ cache: 'MISS', body: 'answer 2' })
    expect(await get('/a')).toMatchObject({ cache: 'HIT', body: 'answer 2' })
    expect(upstream.requests).toHaveLength(2)
  })

  it('honours Expires when there is no max-age', async () => {
    const clock = testClock()
    const upstream = await origin((_request, response) => {
      const date = clock.now()
      response.writeHead(200, { date: new Date(date).toUTCString(), expires: new Date(date + 30_000).toUTCString() })
      response.end(`answer ${upstream.requests.length}`)
    })
    await cachedGateway(upstream, { now: clock.now })
    expect(await get('/e')).toMatchObject({ cache: 'MISS', body: 'answer 1' })
    clock.advance(20_000)
    expect(await get('/e')).toMatchObject({ cache: 'HIT', body: 'answer 1' })
    clock.advance(20_000)
    expect(await get('/e')).toMatchObject({ cache: 'MISS', body: 'answer 2' })
  })

  it('keeps one variant per value of the header Vary names', async () => {
    const upstream = await origin((request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' })
      response.end(`in ${request.headers['accept-language'] ?? 'default'}`)
    })
    await cachedGateway(upstream)
    expect(await get('/v', { 'accept-language': 'en' })).toMatchObject({ cache: 'MISS', body: 'in en' })
    expect(await get('/v', { 'accept-language': 'fr' })).toMatchObject({ cache: 'MISS', body: 'in fr' })
    expect(await get('/v', { 'accept-language': 'en' })).toMatchObject({ cache: 'HIT', body: 'in en' })
    expect(await get('/v', { 'accept-language': 'fr' })).toMatchObject({ cache: 'HIT', body: 'in fr' })
    expect(await get('/v')).toMatchObject({ cache: 'MISS', body: 'in default' })
    expect(upstream.requests).toHaveLength(3)
  })
})

describe('cache(): revalidation', () => {
  it('revalidates a stale response with If-None-Match and serves the stored body on 304 with x-cache HIT', async () => {
    const clock = testClock()
    let bodies = 0
    const upstream = await origin((request, response) => {
      if (request.headers['if-none-match'] === '"v1"') {
        response.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=10' })
        response.end()
        return
      }
      bodies++
      response.writeHead(200, { etag: '"v1"', 'cache-control': 'max-age=10', 'content-type': 'text/plain' })
      response.end('version one')
    })
    await cachedGateway(upstream, { now: clock.now })
    expect(await get('/doc')).toMatchObject({ cache: 'MISS', status: 200, body: 'version one' })
    clock.advance(11_000)
    const revalidated = await get('/doc')
    expect(revalidated).toMatchObject({ cache: 'HIT', status: 200, body: 'version one' })
    expect(revalidated.headers['content-type']).toBe('text/plain')
    expect(upstream.requests).toHaveLength(2)
    expect(upstream.requests[1]!.headers['if-none-match']).toBe('"v1"')
    expect(bodies).toBe(1)
    // The 304 refreshed the entry: fresh again for 10 s, without asking the origin.
    clock.advance(5_000)
    expect(await get('/doc')).toMatchObject({ cache: 'HIT', body: 'version one' })
    expect(upstream.requests).toHaveLength(2)
  })

  it('stores the new body when the origin answers the revalidation with 200', async () => {
    const clock = testClock()
    const upstream = await origin((_request, response) => {
      const version = upstream.requests.length
      response.writeHead(200, { etag: `"v${version}"`, 'cache-control': 'max-age=10' })
      response.end(`version ${version}`)
    })
    await cachedGateway(upstream, { now: clock.now })
    expect(await get('/doc')).toMatchObject({ cache: 'MISS', body: 'version 1' })
    clock.advance(11_000)
    expect(await get('/doc')).toMatchObject({ cache: 'MISS', body: 'version 2' })
    expect(upstream.requests[1]!.headers['if-none-match']).toBe('"v1"')
    expect(await get('/doc')).toMatchObject({ cache: 'HIT', body: 'version 2' })
  })

  it('revalidates a no-cache response on every request', async () => {
    const upstream = await origin((request, response) => {
      if (request.headers['if-none-match'] === '"n1"') {
        response.writeHead(304, { etag: '"n1"' })
        response.end()
        return
      }
      response.writeHead(200, { etag: '"n1"', 'cache-control': 'no-cache' })
      response.end('checked each time')
    })
    await cachedGateway(upstream)
    expect(await get('/n')).toMatchObject({ cache: 'MISS', body: 'checked each time' })
    expect(await get('/n')).toMatchObject({ cache: 'HIT', body: 'checked each time' })
    expect(await get('/n')).toMatchObject({ cache: 'HIT', body: 'checked each time' })
    expect(upstream.requests).toHaveLength(3)
    expect(upstream.requests.slice(1).map((request) => request.headers['if-none-match'])).toEqual(['"n1"', '"n1"'])
  })
})

describe('cache(): what is not stored', () => {
  for (const cacheControl of ['no-store', 'private, max-age=60']) {
    it(`does not store a response with Cache-Control: ${cacheControl}`, async () => {
      const upstream = await origin((_request, response) => {
        response.writeHead(200, { 'cache-control': cacheControl })
        response.end(`answer ${upstream.requests.length}`)
      })
      await cachedGateway(upstream)
      expect(await get('/p')).toMatchObject({ cache: 'MISS', body: 'answer 1' })
      expect(await get('/p')).toMatchObject({ cache: 'MISS', body: 'answer 2' })
      expect(upstream.requests).toHaveLength(2)
    })
  }
})

describe('cache(): bounded in bytes', () => {
  it('evicts the least recently used response when maxSize is reached', async () => {
    const upstream = await origin((request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end(`${request.url} `.padEnd(1_000, '.'))
    })
    // Each entry counts about 1,000 body bytes + headers + 512 overhead: two fit in 4,000, three do not.
    await cachedGateway(upstream, { maxSize: 4_000 })
    expect(await get('/1')).toMatchObject({ cache: 'MISS' })
    expect(await get('/2')).toMatchObject({ cache: 'MISS' })
    expect(await get('/1')).toMatchObject({ cache: 'HIT' }) // /1 is now the most recently used
    expect(await get('/3')).toMatchObject({ cache: 'MISS' }) // evicts /2
    expect(await get('/1')).toMatchObject({ cache: 'HIT' })
    expect(await get('/3')).toMatchObject({ cache: 'HIT' })
    expect(await get('/2')).toMatchObject({ cache: 'MISS' })
  })

  it('streams a response larger than maxEntrySize through without storing it', async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end('x'.repeat(20_000))
    })
    await cachedGateway(upstream, { maxSize: 100_000, maxEntrySize: 10_000 })
    const first = await get('/big')
    expect(first).toMatchObject({ cache: 'MISS' })
    expect(first.body.length).toBe(20_000)
    expect(await get('/big')).toMatchObject({ cache: 'MISS' })
    expect(upstream.requests).toHaveLength(2)
  })
})

/** A node:http origin that also accepts WebSocket upgrades on the same port (ws in noServer mode, echo). */
async function liveOrigin(onRequest: http.RequestListener): Promise<{ url: string; requests: http.IncomingHttpHeaders[]; upgrades: http.IncomingHttpHeaders[] }> {
  const requests: http.IncomingHttpHeaders[] = []
  const upgrades: http.IncomingHttpHeaders[] = []
  const server = http.createServer((request, response) => {
    requests.push(request.headers)
    onRequest(request, response)
  })
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', (socket) => {
    socket.on('error', () => {})
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
  })
  server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    upgrades.push(request.headers)
    wss.handleUpgrade(request, socket, head, (client) => wss.emit('connection', client, request))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  resources.track({
    close: async () => {
      for (const client of wss.clients) client.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
  return { url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`, requests, upgrades }
}

describe('cache() and cacheBypass() on a route that serves both', () => {
  it('serves cached HTTP GETs on /live and still upgrades WebSockets on the same path', async () => {
    const upstream = await liveOrigin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
      response.end('live page')
    })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/live', cacheBypass(), cache({ maxSize: 50_000_000 }), proxy(upstream.url))
    gateway = await resources.gateway(app)

    expect(await get('/live')).toMatchObject({ cache: 'MISS', body: 'live page' })
    expect(await get('/live')).toMatchObject({ cache: 'HIT', body: 'live page' })

    // The cache is warm for GET /live; the upgrade must still reach the origin, with its upgrade headers.
    const client = new WebSocket(`${gateway.wsUrl}/live`)
    const upgraded = once(client, 'upgrade') as Promise<[http.IncomingMessage]>
    await once(client, 'open')
    const [upgradeResponse] = await upgraded
    expect(upgradeResponse.statusCode).toBe(101)
    expect(upgradeResponse.headers['x-cache']).toBe('BYPASS')
    expect(upstream.upgrades).toHaveLength(1)
    expect(upstream.upgrades[0]!.upgrade).toBe('websocket')
    expect(upstream.upgrades[0]!.connection).toBe('upgrade')
    client.send('ping through the cached route')
    const [echoed] = (await once(client, 'message')) as [Buffer]
    expect(echoed.toString()).toBe('ping through the cached route')
    client.close()
    await once(client, 'close')

    // The upgrade neither replaced nor disturbed the cached page.
    expect(await get('/live')).toMatchObject({ cache: 'HIT', body: 'live page' })
    expect(upstream.requests).toHaveLength(1)
  })
})
