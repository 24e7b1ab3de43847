import { createMiddleware } from 'hono/factory'
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { cacheBypass } from '../../middleware/cache-bypass.ts'
import { cache, type CacheOptions } from '../../middleware/cache.ts'
import { http, type ForwardingVariables, type GatewayBindings } from '../../src/index.ts'
import { plainRuntime, startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'

/** What the scripted origin handler saw, one entry per call. */
interface Seen {
  method: string
  headers: Headers
}

/**
 * A small app: `cache(options)` in front of a terminal handler that plays
 * the origin (`answer` builds its response) and records every call.
 */
function cachedApp(answer: (c: Context, calls: number) => Response | Promise<Response>, options: CacheOptions = {}, before?: MiddlewareHandler<{ Variables: ForwardingVariables }>) {
  const seen: Seen[] = []
  const app = new Hono<{ Variables: ForwardingVariables }>()
  if (before) app.use('*', before)
  app.all('*', cache(options), (c) => {
    seen.push({ method: c.req.method, headers: new Headers(c.req.raw.headers) })
    return answer(c, seen.length)
  })
  const request = (path: string, init: RequestInit = {}) => Promise.resolve(app.request(`http://gw.test${path}`, init))
  return { app, seen, request }
}

/** A text response with `headers`. */
function reply(body: string | null, headers: Record<string, string>, status = 200): Response {
  return new Response(body, { status, headers })
}

describe('cache(): options', () => {
  it.each([
    [{ maxSize: 0 }, /cache\(\): maxSize must be a positive integer number of bytes, got 0/],
    [{ maxSize: 1.5 }, /cache\(\): maxSize must be a positive integer/],
    [{ maxEntrySize: -1 }, /cache\(\): maxEntrySize must be a positive integer/],
    [{ maxSize: 1_000, maxEntrySize: 2_000 }, /cache\(\): maxEntrySize \(2000\) must not exceed maxSize \(1000\)/],
    [{ now: 5 as unknown as () => number }, /cache\(\): now must be a function/],
    [{ collapseWait: -1 }, /cache\(\): collapseWait must be a non-negative integer, got -1/],
    [{ collapseMaxWaiters: Infinity }, /cache\(\): collapseMaxWaiters must be a non-negative integer/],
    [{ targetedCacheControl: ['CDN Cache Control'] }, /cache\(\): targetedCacheControl must be an array of field names/],
    [{ targetedCacheControl: 'CDN-Cache-Control' as unknown as string[] }, /cache\(\): targetedCacheControl must be an array of field names/],
  ])('throws a TypeError naming the option for %o', (options, message) => {
    expect(() => cache(options)).toThrow(TypeError)
    expect(() => cache(options)).toThrow(message)
  })

  it('accepts a maxSize below the default entry cap (the cap follows maxSize)', () => {
    expect(() => cache({ maxSize: 1_000 })).not.toThrow()
  })
})

describe('cache(): HIT, MISS and the stored response', () => {
  it('answers the second GET from the cache without calling the handler, with x-cache HIT and an Age', async () => {
    const { seen, request } = cachedApp((_c, calls) => reply(`answer ${calls}`, { 'cache-control': 'max-age=60', 'content-type': 'text/plain', etag: '"e"' }))
    const first = await request('/a')
    expect(first.headers.get('x-cache')).toBe('MISS')
    expect(await first.text()).toBe('answer 1')
    const second = await request('/a')
    expect(second.headers.get('x-cache')).toBe('HIT')
    expect(second.headers.get('age')).toBe('0')
    expect(second.headers.get('etag')).toBe('"e"')
    expect(second.headers.get('content-length')).toBe('8')
    expect(await second.text()).toBe('answer 1')
    expect(seen).toHaveLength(1)
  })

  it("answers a client's matching If-None-Match from the cache with 304 and x-cache HIT", async () => {
    const { seen, request } = cachedApp(() => reply('body', { 'cache-control': 'max-age=60', etag: 'W/"abc"' }))
    await (await request('/c')).text()
    const conditional = await request('/c', { headers: { 'if-none-match': '"other", "abc"' } })
    expect(conditional.status).toBe(304)
    expect(conditional.headers.get('x-cache')).toBe('HIT')
    expect(conditional.headers.get('etag')).toBe('W/"abc"')
    expect(await conditional.text()).toBe('')
    const unmatched = await request('/c', { headers: { 'if-none-match': '"other"' } })
    expect(unmatched.status).toBe(200)
    expect(await unmatched.text()).toBe('body')
    expect(seen).toHaveLength(1)
  })

  it('stores HEAD answers apart from GET answers', async () => {
    const { seen, request } = cachedApp((c) => reply(c.req.method === 'HEAD' ? null : 'full body', { 'cache-control': 'max-age=60', 'content-length': '9' }))
    await (await request('/h')).text()
    const head = await request('/h', { method: 'HEAD' })
    expect(head.headers.get('x-cache')).toBe('MISS')
    const again = await request('/h', { method: 'HEAD' })
    expect(again.headers.get('x-cache')).toBe('HIT')
    expect(again.headers.get('content-length')).toBe('9')
    expect(again.body).toBeNull()
    expect(seen.map((call) => call.method)).toEqual(['GET', 'HEAD'])
  })

  it('asks the origin again when the request says Cache-Control: no-cache, with the stored ETag', async () => {
    const { seen, request } = cachedApp((c) =>
      c.req.header('if-none-match') === '"v"' ? reply(null, { etag: '"v"' }, 304) : reply('stored', { 'cache-control': 'max-age=60', etag: '"v"' }),
    )
    await (await request('/r')).text()
    const forced = await request('/r', { headers: { 'cache-control': 'no-cache' } })
    expect(forced.headers.get('x-cache')).toBe('HIT')
    expect(await forced.text()).toBe('stored')
    expect(seen).toHaveLength(2)
    expect(seen[1]!.headers.get('if-none-match')).toBe('"v"')
  })

  it("sends only the cache's validators on revalidation, not the client's own", async () => {
    const clock = { time: Date.now() }
    const { seen, request } = cachedApp(
      (c) => (c.req.header('if-none-match') === '"mine"' ? reply(null, { etag: '"mine"' }, 304) : reply('stored', { 'cache-control': 'max-age=1', etag: '"mine"' })),
      { now: () => clock.time },
    )
    await (await request('/v')).text()
    clock.time += 2_000
    const answer = await request('/v', { headers: { 'if-none-match': '"a-client-etag"', 'if-modified-since': 'Tue, 01 Jan 2030 00:00:00 GMT' } })
    expect(seen[1]!.headers.get('if-none-match')).toBe('"mine"')
    expect(seen[1]!.headers.has('if-modified-since')).toBe(false)
    // The client's ETag does not match the stored one, so it gets the full stored body.
    expect(answer.status).toBe(200)
    expect(answer.headers.get('x-cache')).toBe('HIT')
    expect(await answer.text()).toBe('stored')
  })

  it('uses the stored body when a 304 repeats no validator (it answers the ETag the cache sent)', async () => {
    const clock = { time: Date.now() }
    const { seen, request } = cachedApp(
      (c) => (c.req.header('if-none-match') ? reply(null, { 'cache-control': 'max-age=30' }, 304) : reply('kept', { 'cache-control': 'max-age=1', etag: '"k"' })),
      { now: () => clock.time },
    )
    await (await request('/k')).text()
    clock.time += 2_000
    const revalidated = await request('/k')
    expect(revalidated.headers.get('x-cache')).toBe('HIT')
    expect(await revalidated.text()).toBe('kept')
    // The 304's max-age=30 now governs the entry.
    clock.time += 20_000
    expect((await request('/k')).headers.get('x-cache')).toBe('HIT')
    expect(seen).toHaveLength(2)
  })

  it('sends one x-cache header, never a stored one', async () => {
    const { request } = cachedApp(() => reply('x', { 'cache-control': 'max-age=60', 'x-cache': 'HIT from an upstream cache' }))
    const first = await request('/x')
    expect(first.headers.get('x-cache')).toBe('MISS')
    // The response is stored once its body has been read to the end.
    await first.text()
    expect((await request('/x')).headers.get('x-cache')).toBe('HIT')
  })
})

describe('cache(): what it does not store', () => {
  const notStored: [string, Record<string, string>, RequestInit?][] = [
    ['a Set-Cookie response, even public', { 'cache-control': 'public, max-age=60', 'set-cookie': 'session=1' }],
    ['a Vary: * response', { 'cache-control': 'max-age=60', vary: '*' }],
    ['a 206 partial response', { 'cache-control': 'max-age=60', 'content-range': 'bytes 0-0/10' }],
    ['an answer to a request with Authorization', { 'cache-control': 'max-age=60' }, { headers: { authorization: 'Bearer t' } }],
    ['an answer to a request with Cache-Control: no-store', { 'cache-control': 'max-age=60' }, { headers: { 'cache-control': 'no-store' } }],
    ['a response whose Content-Length exceeds maxEntrySize', { 'cache-control': 'max-age=60', 'content-length': '2000' }],
  ]
  for (const [what, headers, init] of notStored) {
    it(`does not store ${what}`, async () => {
      const status = headers['content-range'] ? 206 : 200
      const { seen, request } = cachedApp(() => reply(headers['content-length'] ? 'y'.repeat(2_000) : 'z', headers, status), { maxSize: 100_000, maxEntrySize: 1_000 })
      for (let i = 0; i < 2; i++) {
        const answer = await request('/n', init)
        expect(answer.headers.get('x-cache')).toBe('MISS')
        await answer.text()
      }
      expect(seen).toHaveLength(2)
    })
  }

  it('stores an answer to a request with Authorization when the response is public', async () => {
    const { seen, request } = cachedApp(() => reply('shared', { 'cache-control': 'public, max-age=60' }))
    await (await request('/p', { headers: { authorization: 'Bearer t' } })).text()
    expect((await request('/p', { headers: { authorization: 'Bearer t' } })).headers.get('x-cache')).toBe('HIT')
    expect(seen).toHaveLength(1)
  })

  it('does not store an answer to a request a middleware authenticated and stripped of its credentials', async () => {
    const authenticated = createMiddleware<{ Variables: ForwardingVariables }>(async (c, next) => {
      c.set('authenticated', true)
      await next()
    })
    const { seen, request } = cachedApp((_c, calls) => reply(`private page ${calls}`, { 'cache-control': 'max-age=60' }), {}, authenticated)
    expect(await (await request('/me')).text()).toBe('private page 1')
    const second = await request('/me')
    expect(second.headers.get('x-cache')).toBe('MISS')
    expect(await second.text()).toBe('private page 2')
    expect(seen).toHaveLength(2)
  })

  it('still shares a public answer to an authenticated request', async () => {
    const authenticated = createMiddleware<{ Variables: ForwardingVariables }>(async (c, next) => {
      c.set('authenticated', true)
      await next()
    })
    const { seen, request } = cachedApp(() => reply('shared', { 'cache-control': 'public, max-age=60' }), {}, authenticated)
    await (await request('/shared')).text()
    expect((await request('/shared')).headers.get('x-cache')).toBe('HIT')
    expect(seen).toHaveLength(1)
  })

  it('does not store a body that breaks off before its end', async () => {
    const { seen, request } = cachedApp(() => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('partial'))
          controller.error(new Error('origin went away'))
        },
      })
      return new Response(body, { headers: { 'cache-control': 'max-age=60' } })
    })
    const broken = await request('/b')
    await expect(broken.text()).rejects.toThrow()
    const again = await request('/b')
    expect(again.headers.get('x-cache')).toBe('MISS')
    await again.text().catch(() => {})
    expect(seen).toHaveLength(2)
  })
})

describe('cache(): BYPASS', () => {
  it('passes a request carrying Upgrade down untouched, never answers it from the cache nor stores it', async () => {
    const { seen, request } = cachedApp((c, calls) => reply(`answer ${calls} ${c.req.header('upgrade') ?? ''}`.trim(), { 'cache-control': 'max-age=60' }))
    await (await request('/live')).text()
    const upgrade = await request('/live', { headers: { upgrade: 'websocket', connection: 'Upgrade' } })
    expect(upgrade.headers.get('x-cache')).toBe('BYPASS')
    expect(await upgrade.text()).toBe('answer 2 websocket')
    expect(seen[1]!.headers.get('upgrade')).toBe('websocket')
    expect(seen[1]!.headers.get('connection')).toBe('Upgrade')
    // The stored page is the first one still.
    const page = await request('/live')
    expect(page.headers.get('x-cache')).toBe('HIT')
    expect(await page.text()).toBe('answer 1')
  })

  it('honours the cacheBypass flag an earlier middleware set', async () => {
    const { seen, request } = cachedApp(
      (_c, calls) => reply(`answer ${calls}`, { 'cache-control': 'max-age=60' }),
      {},
      cacheBypass({ when: (c) => c.req.header('x-no-cache') === '1' }),
    )
    await (await request('/f')).text()
    const bypassed = await request('/f', { headers: { 'x-no-cache': '1' } })
    expect(bypassed.headers.get('x-cache')).toBe('BYPASS')
    expect(await bypassed.text()).toBe('answer 2')
    expect(await (await request('/f')).text()).toBe('answer 1')
    expect(seen).toHaveLength(2)
  })

  it('bypasses a POST and invalidates the stored GET of its URL when it succeeds (RFC 9111 §4.4)', async () => {
    const { seen, request } = cachedApp((c, calls) => reply(`answer ${calls}`, { 'cache-control': 'max-age=60' }, c.req.header('x-fail') ? 409 : 200))
    await (await request('/item')).text()
    const failed = await request('/item', { method: 'POST', headers: { 'x-fail': '1' }, body: 'x' })
    expect(failed.headers.get('x-cache')).toBe('BYPASS')
    expect((await request('/item')).headers.get('x-cache')).toBe('HIT')
    const posted = await request('/item', { method: 'POST', body: 'x' })
    expect(posted.headers.get('x-cache')).toBe('BYPASS')
    const after = await request('/item')
    expect(after.headers.get('x-cache')).toBe('MISS')
    expect(await after.text()).toBe('answer 4')
    expect(seen.map((call) => call.method)).toEqual(['GET', 'POST', 'POST', 'GET'])
  })
})

describe('cache() in front of http() with the runtime connector', () => {
  let origin: HttpOrigin | undefined
  afterEach(async () => {
    await origin?.close()
    origin = undefined
  })

  it('answers from the cache after one round trip to a real origin', async () => {
    origin = await startHttpOrigin((_request, response) => {
      response.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'application/json' })
      response.end('{"n":1}')
    })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', cache(), http(origin.url))
    const env = { wsgate: plainRuntime() }
    const first = await app.request('http://gw.test/api', {}, env)
    expect(first.headers.get('x-cache')).toBe('MISS')
    expect(await first.json()).toEqual({ n: 1 })
    const second = await app.request('http://gw.test/api', {}, env)
    expect(second.headers.get('x-cache')).toBe('HIT')
    expect(second.headers.get('content-type')).toBe('application/json')
    expect(await second.json()).toEqual({ n: 1 })
    expect(origin.requests).toHaveLength(1)
  })
})
