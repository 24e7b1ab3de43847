import http from 'node:http'
import { Hono, type MiddlewareHandler } from 'hono'
import { createMiddleware } from 'hono/factory'
import { describe, expect, it } from 'vitest'
import { cacheBypass } from '../../middleware/cache-bypass.ts'
import { cache, type CacheOptions } from '../../middleware/cache.ts'
import type { ForwardingVariables } from '../../src/forward.ts'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { waitFor, type TestGateway } from '../helpers/gateway.ts'
import { send, startHttpOrigin, type HttpOrigin, type OriginHandler } from '../helpers/http.ts'
import { useResources } from '../helpers/resources.ts'

/**
 * cache() against a client that wants to poison it, read what it should not,
 * or fill the gateway's memory: a real gateway, cache() in front of http(),
 * a node:http origin that records what it receives.
 */

const resources = useResources()
let gateway: TestGateway

async function origin(handler: OriginHandler): Promise<HttpOrigin> {
  return resources.track(await startHttpOrigin(handler))
}

/** A gateway with `cache(options)` in front of `http(origin)` on every path, after `before` (if any). */
async function cachedGateway(upstream: HttpOrigin, options: CacheOptions = {}, before?: MiddlewareHandler<{ Variables: ForwardingVariables }>): Promise<TestGateway> {
  const app = new Hono<{ Bindings: GatewayBindings; Variables: ForwardingVariables }>()
  if (before) app.use('*', before)
  app.all('*', cacheBypass(), cache(options), httpRoute(upstream.url))
  gateway = await resources.gateway(app)
  return gateway
}

async function get(path: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ cache: string | undefined; status: number; body: string }> {
  const answer = await send(`${gateway.url}${path}`, { headers })
  return { cache: answer.headers['x-cache'] as string | undefined, status: answer.status, body: answer.body.toString() }
}

describe('cache(): headers that make an origin answer for another host or URL are part of the key', () => {
  // Such headers are not in the URL, and origins rarely name them in Vary: a response one client provoked with
  // them, stored under the plain URL, would be served to every other client (web cache poisoning).
  for (const [name, value] of [
    ['X-Forwarded-Host', 'evil.test'],
    ['X-Original-URL', '/admin'],
    ['X-Rewrite-URL', '/admin'],
    ['X-HTTP-Method-Override', 'DELETE'],
    ['X-Forwarded-Proto', 'javascript'],
  ] as const) {
    it(`never serves the response to a request with ${name} to a request without it`, async () => {
      const upstream = await origin((request, response) => {
        response.writeHead(200, { 'cache-control': 'max-age=60' })
        response.end(`page for ${String(request.headers[name.toLowerCase()] ?? 'nobody')}`)
      })
      await cachedGateway(upstream)
      expect(await get('/page', { [name]: value })).toMatchObject({ cache: 'MISS', body: `page for ${value}` })
      expect(await get('/page')).toMatchObject({ cache: 'MISS', body: 'page for nobody' })
      expect(await get('/page')).toMatchObject({ cache: 'HIT', body: 'page for nobody' })
      // Clients sending the same value (normalizeHeaders() sets X-Forwarded-Host and -Proto from the URL) still share it.
      expect(await get('/page', { [name]: value })).toMatchObject({ cache: 'HIT', body: `page for ${value}` })
      expect(upstream.requests).toHaveLength(2)
    })
  }
})

describe("cache(): one user's page never reaches another", () => {
  // A session page whose origin forgot Cache-Control but sent Last-Modified is fresh by heuristic (RFC 9111 §4.2.2):
  // stored from Alice's request, it would be Bob's answer.
  it('does not store, by heuristic freshness, an answer to a request with Cookie', async () => {
    const upstream = await origin((request, response) => {
      response.writeHead(200, { 'last-modified': new Date(Date.now() - 10 * 86_400_000).toUTCString() })
      response.end(`account of ${String(request.headers.cookie)}`)
    })
    await cachedGateway(upstream)
    expect(await get('/account', { cookie: 'session=alice' })).toMatchObject({ cache: 'MISS', body: 'account of session=alice' })
    expect(await get('/account', { cookie: 'session=bob' })).toMatchObject({ cache: 'MISS', body: 'account of session=bob' })
  })

  it('still stores an answer to a request with Cookie that the origin made cacheable explicitly', async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end('the same for everyone')
    })
    await cachedGateway(upstream)
    expect(await get('/logo', { cookie: 'session=alice' })).toMatchObject({ cache: 'MISS' })
    expect(await get('/logo', { cookie: 'session=bob' })).toMatchObject({ cache: 'HIT', body: 'the same for everyone' })
  })

  it('still stores, by heuristic freshness, an answer to a request without Cookie', async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'last-modified': new Date(Date.now() - 10 * 86_400_000).toUTCString() })
      response.end('static')
    })
    await cachedGateway(upstream)
    expect(await get('/static')).toMatchObject({ cache: 'MISS' })
    expect(await get('/static')).toMatchObject({ cache: 'HIT', body: 'static' })
  })
})

describe('cache(): maxSize bounds what an entry really holds', () => {
  // Each entry holds its URL (the key); a Vary'd one also the values of the request headers its Vary names (its
  // secondary key). Counted as 512 bytes, 12 tiny answers under 7 KiB URLs would hold 170 KiB in a 64 KiB cache.
  it('counts the URL: distinct 7 KiB URLs of a two-byte answer evict each other within maxSize', async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end('ok')
    })
    await cachedGateway(upstream, { maxSize: 64 * 1024 })
    const padding = 'q'.repeat(7 * 1024)
    for (let i = 0; i < 12; i++) expect(await get(`/item?${i}=${padding}`)).toMatchObject({ cache: 'MISS' })
    expect(await get(`/item?0=${padding}`)).toMatchObject({ cache: 'MISS' })
  })

  it('counts the request header values a Vary response is keyed on: 12 KiB values evict each other within maxSize', async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60', vary: 'x-padding' })
      response.end('ok')
    })
    await cachedGateway(upstream, { maxSize: 64 * 1024 })
    const padding = { 'x-padding': 'p'.repeat(12 * 1024) }
    for (let i = 0; i < 12; i++) expect(await get(`/item/${i}`, padding)).toMatchObject({ cache: 'MISS' })
    expect(await get('/item/0', padding)).toMatchObject({ cache: 'MISS' })
  })
})

describe('cache(): a response is stored only when it arrived whole', () => {
  it('does not store a response whose client left before its end: the next client gets the whole body from the origin', async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.write(Buffer.alloc(39 * 1024, 'a'))
      // The first answer never ends; the client leaves it. The next ones end.
      if (upstream.requests.length > 1) response.end('end')
    })
    await cachedGateway(upstream)
    await new Promise<void>((resolve) => {
      let received = 0
      const request = http.get(`${gateway.url}/download`, { agent: false }, (response) => {
        response.on('data', (chunk: Buffer) => {
          received += chunk.length
          if (received >= 39 * 1024) request.destroy()
        })
      })
      request.on('error', () => {})
      request.on('close', () => resolve())
    })
    await waitFor(() => upstream.sockets.size === 0, 5_000, 'the abandoned origin connection to close')
    const next = await get('/download')
    expect(next.cache).toBe('MISS')
    expect(next.body).toHaveLength(39 * 1024 + 3)
    expect(upstream.requests).toHaveLength(2)
  })
})

describe('cache(): responses being recorded count against maxSize too', () => {
  // Each response on its way to a client is kept until it ends, to be stored: without a bound, as many
  // concurrent downloads as an attacker opens would each hold up to maxEntrySize, whatever maxSize says.
  it('records no more than maxSize at once: a third concurrent 40 KiB download beyond a 100 KiB cache streams through unstored', async () => {
    const release = new Map<string, () => void>()
    const upstream = await origin((request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.write(Buffer.alloc(39 * 1024, 'a'))
      // The three concurrent downloads wait for the test; a later request (a MISS) is answered at once.
      if (upstream.requests.length <= 3) release.set(request.url!, () => response.end(Buffer.alloc(1024, 'b')))
      else response.end(Buffer.alloc(1024, 'b'))
    })
    await cachedGateway(upstream, { maxSize: 100 * 1024 })
    const downloads = ['/a', '/b', '/c'].map((path) => {
      let received = 0
      const done = new Promise<number>((resolve, reject) => {
        const request = http.get(`${gateway.url}${path}`, { agent: false }, (response) => {
          response.on('data', (chunk: Buffer) => (received += chunk.length))
          response.on('end', () => resolve(received))
          response.on('error', reject)
        })
        request.on('error', reject)
      })
      return { path, done, received: () => received }
    })
    // All three hold 39 KiB (117 KiB in all) before any ends.
    await waitFor(() => downloads.every((download) => download.received() >= 39 * 1024), 5_000, 'every download to be 39 KiB in')
    for (const download of downloads) {
      release.get(download.path)!()
      expect(await download.done).toBe(40 * 1024)
    }
    expect(await get('/a')).toMatchObject({ cache: 'HIT' })
    expect(await get('/b')).toMatchObject({ cache: 'HIT' })
    expect(await get('/c')).toMatchObject({ cache: 'MISS' })
  })

  it('gives back what an abandoned download held: after three clients leave 39 KiB into a 100 KiB cache, the next response is stored', async () => {
    const upstream = await origin((request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.write(Buffer.alloc(39 * 1024, 'a'))
      // /abandoned never ends; the client leaves it.
      if (request.url !== '/abandoned') response.end(Buffer.alloc(1024, 'b'))
    })
    await cachedGateway(upstream, { maxSize: 100 * 1024 })
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        let received = 0
        const request = http.get(`${gateway.url}/abandoned`, { agent: false }, (response) => {
          response.on('data', (chunk: Buffer) => {
            received += chunk.length
            if (received >= 39 * 1024) request.destroy()
          })
        })
        request.on('error', () => {})
        request.on('close', () => (received >= 39 * 1024 ? resolve() : reject(new Error(`closed after ${received} bytes`))))
      })
    }
    await waitFor(() => upstream.sockets.size === 0, 5_000, 'the abandoned origin connections to close')
    expect(await get('/whole')).toMatchObject({ cache: 'MISS' })
    expect(await get('/whole')).toMatchObject({ cache: 'HIT' })
  })
})

describe('cache(): what a client has not read yet counts against maxSize', () => {
  // A response being recorded is read from the origin ahead of its client (so that it is stored when the origin
  // is done); what the client has not taken yet stays in memory. Clients that never read must not hold it beyond
  // maxSize: it counts with the recordings until they take it or leave.
  it('counts two stalled 40 KiB downloads until their clients leave: a 30 KiB response beyond a 100 KiB cache is not recorded meanwhile', async () => {
    const upstream = await origin((request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end(Buffer.alloc(request.url === '/small' ? 30 * 1024 : 40 * 1024, 'a'))
    })
    // The stalled clients' responses are taken from the cache and never read (nor cancelled) until the test says.
    const stalled: ReadableStream[] = []
    await cachedGateway(
      upstream,
      { maxSize: 100 * 1024 },
      createMiddleware(async (c, next) => {
        await next()
        if (c.req.header('x-stall') && c.res.body) {
          stalled.push(c.res.body)
          c.res = new Response('stalled')
        }
      }),
    )
    for (const path of ['/a', '/b']) expect((await send(`${gateway.url}${path}`, { headers: { 'x-stall': '1' } })).body.toString()).toBe('stalled')
    expect(await get('/small')).toMatchObject({ cache: 'MISS' })
    expect(await get('/small')).toMatchObject({ cache: 'MISS' })
    for (const body of stalled) await body.cancel()
    expect(await get('/small')).toMatchObject({ cache: 'MISS' })
    expect(await get('/small')).toMatchObject({ cache: 'HIT' })
  })
})

describe('cache(): revalidation sends the origin the request as it came', () => {
  it('sends no Authorization header of its own when it revalidates for a request jwtAuth() authenticated and stripped', async () => {
    let time = Date.now()
    const upstream = await origin((request, response) => {
      if (request.headers['if-none-match'] === '"v1"') {
        response.writeHead(304, { etag: '"v1"', 'cache-control': 'public, max-age=1' })
        response.end()
        return
      }
      response.writeHead(200, { etag: '"v1"', 'cache-control': 'public, max-age=1' })
      response.end('shared')
    })
    // What jwtAuth() does: verify and remove the credentials, and say so.
    const authenticated = createMiddleware<{ Variables: ForwardingVariables }>(async (c, next) => {
      c.set('authenticated', true)
      await next()
    })
    await cachedGateway(upstream, { now: () => time }, authenticated)
    expect(await get('/shared')).toMatchObject({ cache: 'MISS', body: 'shared' })
    time += 2_000
    expect(await get('/shared')).toMatchObject({ cache: 'HIT', body: 'shared' })
    expect(upstream.requests).toHaveLength(2)
    expect(upstream.requests[1]!.headers['if-none-match']).toBe('"v1"')
    expect(upstream.requests[1]!.headers.authorization).toBeUndefined()
  })
})
