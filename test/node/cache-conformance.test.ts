import type http from 'node:http'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { cacheBypass } from '../../middleware/cache-bypass.ts'
import { cache, type CacheOptions } from '../../middleware/cache.ts'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { waitFor, type TestGateway } from '../helpers/gateway.ts'
import { send, startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'
import { useResources } from '../helpers/resources.ts'

/**
 * cache() against the cases of the HTTP Working Group's cache test suite
 * (cache-tests.fyi, http-tests/cache-tests, shared cache) that it failed:
 * a real gateway with cache() in front of http(), a node:http origin whose
 * answers each test scripts in order, a client over TCP, and the cache's
 * clock injected (no sleeping). Test ids in brackets are the suite's.
 */

const resources = useResources()

/** One scripted origin answer: status, header lines as sent (repeats allowed), body. */
interface Answer {
  status?: number
  headers?: [string, string][]
  body?: string
}

/** What the client got. */
interface Got {
  cache: string | undefined
  status: number
  body: string
  headers: http.IncomingHttpHeaders
}

/**
 * A gateway with `cache()` in front of an origin that gives `answers` in order (the last one again once they
 * run out), on a test clock that starts at the real time.
 */
async function scenario(answers: Answer[], options: CacheOptions = {}) {
  let time = Date.now()
  const upstream: HttpOrigin = resources.track(
    await startHttpOrigin((_request, response) => {
      const answer = answers[Math.min(upstream.requests.length - 1, answers.length - 1)]!
      const lines = answer.headers ?? []
      // The origin sends the Date the test scripts, or none: a Date of node:http's own would be the real clock's.
      response.sendDate = false
      response.writeHead(answer.status ?? 200, lines.flat())
      response.end(answer.status === 304 || answer.status === 204 ? undefined : (answer.body ?? `answer ${upstream.requests.length}`))
    }),
  )
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('*', cacheBypass(), cache({ now: () => time, ...options }), httpRoute(upstream.url))
  const gateway: TestGateway = await resources.gateway(app)
  return {
    upstream,
    gateway,
    advance: (seconds: number) => void (time += seconds * 1000),
    async request(path: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET', body?: string): Promise<Got> {
      const answer = await send(`${gateway.url}${path}`, body === undefined ? { headers, method } : { headers, method, body })
      return { cache: answer.headers['x-cache'] as string | undefined, status: answer.status, body: answer.body.toString(), headers: answer.headers }
    },
  }
}

/** Stores `headers`' answer, waits `pause` seconds on the test clock and asks again: whether the origin was asked once (cached). */
async function reusedAfter(headers: [string, string][], pause = 2, options: CacheOptions = {}): Promise<boolean> {
  const s = await scenario([{ headers }], options)
  await s.request('/r')
  s.advance(pause)
  await s.request('/r')
  return s.upstream.requests.length === 1
}

describe('cache(): Cache-Control parsing [cc-parse, cc-freshness]', () => {
  it('reads directive names without regard to case [freshness-max-age-case-insenstive]', async () => {
    expect(await reusedAfter([['Cache-Control', 'MaX-aGe=3600']])).toBe(true)
  })

  it('never stores No-StOrE nor PRIVATE, whatever their case [cc-resp-no-store-case-insensitive]', async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age=3600, No-StOrE']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'PRIVATE, max-age=3600']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=10000, No-CaChE'], ['ETag', '"e"']])).toBe(false)
  })

  it('takes max-age=100a and max-age=a100 for already stale [freshness-max-age-100a, -a100]', async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age=100a']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=a100']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=-100']])).toBe(false)
  })

  it('ignores max-age with a space around = and a single-quoted one [freshness-max-age-space-*, -single-quoted]', async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age =100']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age= 100']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', "max-age='3600'"]])).toBe(false)
  })

  it('ignores max-age inside a quoted string, and accepts a quoted max-age [freshness-max-age-ignore-quoted*, -quoted]', async () => {
    expect(await reusedAfter([['Cache-Control', 'extension="max-age=100, x", max-age=1']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=1, extension="max-age=100"']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age="3600"']])).toBe(true)
    expect(await reusedAfter([['Cache-Control', 'max-age=003600']])).toBe(true)
  })

  it('uses the first of two max-age directives, on one line or two [freshness-max-age-two-*]', async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age=1800, max-age=1']])).toBe(true)
    expect(await reusedAfter([['Cache-Control', 'max-age=1800'], ['Cache-Control', 'max-age=1']])).toBe(true)
    expect(await reusedAfter([['Cache-Control', 'max-age=1, max-age=1800']])).toBe(false)
  })

  it('serves a max-age beyond 2^31 as fresh [freshness-max-age-max-plus]', async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age=99999999999']], 86_400)).toBe(true)
  })
})

describe('cache(): freshness [cc-freshness, expires, age-parse]', () => {
  it('prefers s-maxage over max-age as a shared cache, both ways [freshness-max-age-s-maxage-shared-*]', async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age=3600, s-maxage=1']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=3600'], ['Cache-Control', 's-maxage=1']])).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=1, s-maxage=3600']])).toBe(true)
  })

  it('never reuses max-age=0, even with a future Expires, and lets max-age win over a past Expires [freshness-max-age-0*, -expires]', async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age=0']], 0)).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=0'], ['Expires', new Date(Date.now() + 1e7).toUTCString()]], 0)).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=3600'], ['Expires', new Date(Date.now() - 1e7).toUTCString()]])).toBe(true)
    expect(await reusedAfter([['Expires', new Date(Date.now() - 1e7).toUTCString()], ['Date', new Date().toUTCString()]], 0)).toBe(false)
  })

  it("counts the origin's Age, and never lets a negative one make a response fresher [freshness-max-age-age, age-parse-negative]", async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age=10'], ['Age', '15']], 0)).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=60'], ['Age', '-7200']], 61)).toBe(false)
    expect(await reusedAfter([['Cache-Control', 'max-age=3600'], ['Age', 'abc']], 1)).toBe(true)
  })

  it('takes an Expires that is not an HTTP-date for already expired [freshness-expires-invalid*]', async () => {
    for (const expires of ['0', 'Thu, 18 Aug 2050 02:01:18 UTC', 'Thu 18 Aug 2050 02:01:18 GMT', 'Thu, 18-Aug-2050 02:01:18 GMT', 'Thu, 18 Aug 50 02:01:18 GMT', 'Thu, 18 Aug 2050 2:01:18 GMT']) {
      expect(await reusedAfter([['Expires', expires], ['Date', new Date().toUTCString()]], 1), expires).toBe(false)
    }
    // The three formats recipients must accept, names in any case [freshness-expires-wrong-case-*].
    for (const expires of ['THU, 18 AUG 2050 02:01:18 gMT', 'Thursday, 18-Aug-50 02:01:18 GMT', 'Thu Aug 18 02:01:18 2050']) {
      expect(await reusedAfter([['Expires', expires], ['Date', new Date().toUTCString()]], 1), expires).toBe(true)
    }
  })

  it('reads Expires against Date, and against the time received when Date is missing or invalid [freshness-expires-invalid-date]', async () => {
    const s = await scenario([{ headers: [['Date', 'foo'], ['Expires', new Date(Date.now() + 60_000).toUTCString()]] }])
    await s.request('/r')
    s.advance(30)
    expect((await s.request('/r')).cache).toBe('HIT')
    s.advance(40)
    expect((await s.request('/r')).cache).toBe('MISS')
  })

  it('heuristically reuses 404 and a public 599, never a 403 nor a plain 599 [heuristic-*]', async () => {
    const lastModified = new Date(Date.now() - 86_400_000).toUTCString()
    const heuristic = async (status: number, extra: [string, string][] = []) => {
      const s = await scenario([{ status, headers: [['Last-Modified', lastModified], ['Date', new Date().toUTCString()], ...extra] }])
      await s.request('/h')
      s.advance(60)
      await s.request('/h')
      return s.upstream.requests.length === 1
    }
    expect(await heuristic(404)).toBe(true)
    expect(await heuristic(599, [['Cache-Control', 'public']])).toBe(true)
    expect(await heuristic(403)).toBe(false)
    expect(await heuristic(599)).toBe(false)
  })

  it('reuses a fresh response of any final status with explicit freshness, 206 aside [status-*-fresh]', async () => {
    for (const status of [299, 400, 500, 503, 599]) {
      const s = await scenario([{ status, headers: [['Cache-Control', 'max-age=3600']] }])
      await s.request('/s')
      const again = await s.request('/s')
      expect(again, String(status)).toMatchObject({ status, cache: 'HIT', body: 'answer 1' })
    }
  })

  it('serves a fresh must-revalidate or proxy-revalidate response without asking the origin [cc-resp-must-revalidate-fresh]', async () => {
    expect(await reusedAfter([['Cache-Control', 'max-age=10000, must-revalidate'], ['ETag', '"abcd"']])).toBe(true)
    expect(await reusedAfter([['Cache-Control', 'max-age=10000, proxy-revalidate'], ['ETag', '"abcd"']])).toBe(true)
  })

  it('never serves a stale must-revalidate or s-maxage response, even within max-stale [cc-resp-must-revalidate-stale]', async () => {
    for (const cacheControl of ['max-age=2, must-revalidate', 's-maxage=2']) {
      const s = await scenario([{ headers: [['Cache-Control', cacheControl]] }])
      await s.request('/m')
      s.advance(10)
      expect((await s.request('/m', { 'cache-control': 'max-stale=1000' })).cache, cacheControl).toBe('MISS')
    }
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=2']] }])
    await s.request('/m')
    s.advance(10)
    expect((await s.request('/m', { 'cache-control': 'max-stale=1000' })).cache).toBe('HIT')
  })
})

describe('cache(): the response served [other, headers]', () => {
  it("keeps the origin's Date and sends a growing Age [other-date-update, other-age-update-max-age]", async () => {
    const date = new Date().toUTCString()
    const t = await scenario([{ headers: [['Cache-Control', 'max-age=600'], ['Date', date], ['Age', '30']] }])
    await t.request('/d')
    t.advance(5)
    const hit = await t.request('/d')
    expect(hit.cache).toBe('HIT')
    expect(hit.headers.date).toBe(date)
    expect(Number(hit.headers.age)).toBeGreaterThanOrEqual(35)
  })

  it('stores a response with no-cache="a" without a, and serves it without revalidation [headers-omit-headers-listed-in-Cache-Control-no-cache]', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'no-cache="a, b"'], ['a', '1'], ['b', '2'], ['c', '3'], ['Cache-Control', 'max-age=3600']] }])
    const first = await s.request('/n')
    expect(first.headers.a).toBe('1')
    const hit = await s.request('/n')
    expect(hit.cache).toBe('HIT')
    expect(hit.headers.c).toBe('3')
    expect(hit.headers.a).toBeUndefined()
    expect(hit.headers.b).toBeUndefined()
  })

  it("never serves the obsolete Set-Cookie2 from the store: a cookie all the same, it goes only to the client whose request brought it", async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=3600'], ['Set-Cookie2', 'session=alice; Version=1']] }])
    expect((await s.request('/c2')).headers['set-cookie2']).toBe('session=alice; Version=1')
    const hit = await s.request('/c2')
    expect(hit.cache).toBe('HIT')
    expect(hit.headers['set-cookie2']).toBeUndefined()
  })

  it('stores a Set-Cookie response that names it in no-cache, without the cookie', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=3600, no-cache="Set-Cookie"'], ['Set-Cookie', 'session=alice']] }])
    expect((await s.request('/c')).headers['set-cookie']).toEqual(['session=alice'])
    const hit = await s.request('/c')
    expect(hit.cache).toBe('HIT')
    expect(hit.headers['set-cookie']).toBeUndefined()
  })
})

describe('cache(): a 304 updates the stored response [update304]', () => {
  it('adds and replaces the fields a 304 carries, keeps Content-Length, Content-Encoding and Vary [304-etag-update-stored-*]', async () => {
    const s = await scenario([
      { headers: [['Cache-Control', 'max-age=1'], ['ETag', '"e1"'], ['Content-Type', 'text/plain'], ['Test-Header', 'A']], body: 'stored body' },
      {
        status: 304,
        headers: [['Cache-Control', 'max-age=3600'], ['ETag', '"e1"'], ['Content-Type', 'text/plain;charset=utf-8'], ['Test-Header', 'B'], ['X-New', 'new'], ['Content-Length', '99'], ['Vary', 'x-anything']],
      },
    ])
    await s.request('/u')
    s.advance(2)
    const validated = await s.request('/u')
    expect(validated).toMatchObject({ cache: 'HIT', status: 200, body: 'stored body' })
    expect(validated.headers['test-header']).toBe('B')
    expect(validated.headers['x-new']).toBe('new')
    expect(validated.headers['content-type']).toBe('text/plain;charset=utf-8')
    expect(validated.headers['content-length']).toBe('11')
    s.advance(600)
    const hit = await s.request('/u')
    expect(hit).toMatchObject({ cache: 'HIT', body: 'stored body' })
    expect(hit.headers['x-new']).toBe('new')
    expect(hit.headers.vary).toBeUndefined()
    expect(s.upstream.requests).toHaveLength(2)
  })

  it("gives a 304's Set-Cookie to the client whose request brought it, never to the next one", async () => {
    const s = await scenario([
      { headers: [['Cache-Control', 'max-age=1'], ['ETag', '"e1"']] },
      { status: 304, headers: [['Cache-Control', 'max-age=3600'], ['ETag', '"e1"'], ['Set-Cookie', 'session=bob']] },
    ])
    await s.request('/u')
    s.advance(2)
    expect((await s.request('/u')).headers['set-cookie']).toEqual(['session=bob'])
    const next = await s.request('/u')
    expect(next.cache).toBe('HIT')
    expect(next.headers['set-cookie']).toBeUndefined()
  })

  it("applies no field of a 304 for another ETag to the stored body, and forgets it [RFC 9111 §4.3.4]", async () => {
    const s = await scenario([
      { headers: [['Cache-Control', 'max-age=1'], ['ETag', '"e1"'], ['Content-Type', 'text/plain']], body: 'stored' },
      { status: 304, headers: [['Cache-Control', 'max-age=3600'], ['ETag', '"e2"'], ['Content-Type', 'application/json']] },
      { headers: [['Cache-Control', 'max-age=60'], ['ETag', '"e2"'], ['Content-Type', 'application/json']], body: '{}' },
    ])
    await s.request('/u')
    s.advance(2)
    const mismatched = await s.request('/u')
    expect(mismatched).toMatchObject({ status: 200, body: 'stored' })
    expect(mismatched.headers['content-type']).toBe('text/plain')
    expect(mismatched.headers.etag).toBe('"e1"')
    expect(await s.request('/u')).toMatchObject({ cache: 'MISS', body: '{}' })
  })

  it('forgets the stored response when the 304 makes it no-store', async () => {
    const s = await scenario([
      { headers: [['Cache-Control', 'max-age=1'], ['ETag', '"e1"']] },
      { status: 304, headers: [['Cache-Control', 'no-store'], ['ETag', '"e1"']] },
      { headers: [['Cache-Control', 'max-age=60']], body: 'new' },
    ])
    await s.request('/u')
    s.advance(2)
    expect((await s.request('/u')).cache).toBe('HIT')
    expect(await s.request('/u')).toMatchObject({ cache: 'MISS', body: 'new' })
  })
})

describe("cache(): a client's conditional request [conditional-etag, conditional-lm]", () => {
  it('answers If-Modified-Since with 304 from the Date of a response without Last-Modified [conditional-lm-fresh-no-lm]', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=10000'], ['Date', new Date().toUTCString()]] }])
    await s.request('/c')
    const since = new Date(Date.now() + 60_000).toUTCString()
    expect(await s.request('/c', { 'if-modified-since': since })).toMatchObject({ status: 304, cache: 'HIT' })
    expect(await s.request('/c', { 'if-modified-since': new Date(Date.now() - 3_600_000).toUTCString() })).toMatchObject({ status: 200 })
  })

  it('answers If-None-Match lists, weak tags and * with 304, and keeps the ETag in it [conditional-etag-*]', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=10000'], ['ETag', 'W/"abc,def"']] }])
    await s.request('/c')
    for (const ifNoneMatch of ['"1234", "abc,def"', 'W/"abc,def"', '*']) {
      const answer = await s.request('/c', { 'if-none-match': ifNoneMatch })
      expect(answer.status, ifNoneMatch).toBe(304)
      expect(answer.headers.etag).toBe('W/"abc,def"')
    }
    expect((await s.request('/c', { 'if-none-match': '"abc"' })).status).toBe(200)
  })
})

describe('cache(): Vary [vary, vary-parse]', () => {
  it('matches a selecting header whatever the whitespace around its commas, and its lines joined [vary-normalise-space, -combine]', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=3600'], ['Vary', 'Foo']] }])
    await s.request('/v', { foo: '1,2' })
    expect((await s.request('/v', { foo: ' 1, 2 ' })).cache).toBe('HIT')
    expect((await s.request('/v', { foo: ['1', '2'] })).cache).toBe('HIT')
    expect((await s.request('/v', { foo: '12' })).cache).toBe('MISS')
  })

  it('stores no response whose Vary holds *, on any line [vary-syntax-*]', async () => {
    for (const lines of [[['Vary', ', *']], [['Vary', ''], ['Vary', '*']], [['Vary', 'Foo, *']]] as [string, string][][]) {
      expect(await reusedAfter([['Cache-Control', 'max-age=3600'], ...lines], 0)).toBe(false)
    }
  })
})

describe('cache(): only-if-cached [ccreq-oic]', () => {
  it('answers 504 ERR_CACHE_ONLY_IF_CACHED without asking the origin when nothing stored satisfies it, and serves what is fresh', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=60']] }])
    const refused = await s.request('/o', { 'cache-control': 'only-if-cached' })
    expect(refused).toMatchObject({ status: 504, cache: 'MISS' })
    expect(refused.headers['x-wsgate-error']).toBe('ERR_CACHE_ONLY_IF_CACHED')
    expect(s.upstream.requests).toHaveLength(0)
    await s.request('/o')
    expect(await s.request('/o', { 'cache-control': 'only-if-cached' })).toMatchObject({ status: 200, cache: 'HIT', body: 'answer 1' })
    s.advance(61)
    expect((await s.request('/o', { 'cache-control': 'only-if-cached' })).status).toBe(504)
    expect(await s.request('/o', { 'cache-control': 'only-if-cached, max-stale' })).toMatchObject({ status: 200, cache: 'HIT' })
    expect(s.upstream.requests).toHaveLength(1)
  })
})

describe('cache(): invalidation [invalidation]', () => {
  it('invalidates the Location and Content-Location URLs of a successful POST on the same origin only [invalidate-POST-location, -cl]', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=3600']] }])
    for (const path of ['/a', '/b', '/c']) await s.request(path)
    // The origin's next answers (to the POST, then to every GET) point at /a and /b, and at another origin's /c.
    s.upstream.handler = (_request, response) => {
      response.writeHead(201, { location: '/a', 'content-location': `${s.gateway.url}/b`, 'cache-control': 'max-age=3600' })
      response.end('posted')
    }
    await s.request('/post', {}, 'POST', 'x')
    const before = s.upstream.requests.length
    expect((await s.request('/a')).cache).toBe('MISS')
    expect((await s.request('/b')).cache).toBe('MISS')
    expect((await s.request('/c')).cache).toBe('HIT')
    expect(s.upstream.requests.length).toBe(before + 2)
  })

  it('leaves another origin named in Location alone', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=3600']] }])
    await s.request('/a')
    s.upstream.handler = (_request, response) => {
      response.writeHead(200, { location: 'http://other.example/a' })
      response.end()
    }
    await s.request('/post', {}, 'DELETE')
    expect((await s.request('/a')).cache).toBe('HIT')
  })

  it('does not invalidate after a failed unsafe request [invalidate-POST-failed]', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=3600']] }])
    await s.request('/a')
    s.upstream.handler = (_request, response) => {
      response.writeHead(500)
      response.end()
    }
    await s.request('/a', {}, 'PUT', 'x')
    expect((await s.request('/a')).cache).toBe('HIT')
  })

  it('does not store an answer that was on its way when a PUT to its URL succeeded: it may predate the change', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=3600']] }])
    let held: http.ServerResponse | undefined
    s.upstream.handler = (request, response) => {
      if (request.method === 'GET' && !held) held = response
      else {
        response.writeHead(200, { 'cache-control': 'max-age=3600' })
        response.end(request.method === 'PUT' ? 'updated' : 'after the change')
      }
    }
    const before = s.request('/doc')
    await waitFor(() => held !== undefined, 5_000, 'the GET at the origin')
    await s.request('/doc', {}, 'PUT', 'new content')
    held!.writeHead(200, { 'cache-control': 'max-age=3600' })
    held!.end('before the change')
    expect((await before).body).toBe('before the change')
    expect(await s.request('/doc')).toMatchObject({ cache: 'MISS', body: 'after the change' })
    expect(await s.request('/doc')).toMatchObject({ cache: 'HIT', body: 'after the change' })
  })
})

describe('cache(): byte ranges of a stored response [partial]', () => {
  it('answers one range of a stored 200 with a 206 of those bytes [partial-store-complete-reuse-partial*]', async () => {
    const s = await scenario([{ headers: [['Cache-Control', 'max-age=3600'], ['ETag', '"r"']], body: '0123456789A' }])
    await s.request('/p')
    const cases: [string, string, string][] = [
      ['bytes=0-1', '01', 'bytes 0-1/11'],
      ['bytes=1-', '123456789A', 'bytes 1-10/11'],
      ['bytes=-1', 'A', 'bytes 10-10/11'],
      ['bytes=5-100', '56789A', 'bytes 5-10/11'],
    ]
    for (const [range, body, contentRange] of cases) {
      const answer = await s.request('/p', { range })
      expect(answer, range).toMatchObject({ status: 206, cache: 'HIT', body })
      expect(answer.headers['content-range']).toBe(contentRange)
      expect(answer.headers['content-length']).toBe(String(body.length))
    }
    // Several ranges, one it cannot satisfy, or an If-Range that names another response: the whole response.
    for (const headers of [{ range: 'bytes=0-1, 3-4' }, { range: 'bytes=20-' }, { range: 'bytes=0-1', 'if-range': '"other"' }, { range: 'bytes=0-1', 'if-range': 'W/"r"' }]) {
      expect(await s.request('/p', headers), JSON.stringify(headers)).toMatchObject({ status: 200, body: '0123456789A' })
    }
    expect(await s.request('/p', { range: 'bytes=0-1', 'if-range': '"r"' })).toMatchObject({ status: 206, body: '01' })
    expect(s.upstream.requests).toHaveLength(1)
  })
})

describe('cache(): CDN-Cache-Control when configured to obey it [cdn-cache-control]', () => {
  const cdn: CacheOptions = { targetedCacheControl: ['CDN-Cache-Control'] }
  const reused = (headers: [string, string][], pause = 2) => reusedAfter(headers, pause, cdn)

  it('replaces Cache-Control and Expires with a valid CDN-Cache-Control [cdn-max-age*, cdn-private, cdn-no-cache, cdn-no-store-cc-fresh, cdn-fresh-cc-nostore]', async () => {
    expect(await reused([['CDN-Cache-Control', 'max-age=3600']])).toBe(true)
    expect(await reused([['CDN-Cache-Control', 'foobar, max-age=3600']])).toBe(true)
    expect(await reused([['Cache-Control', 'max-age=1'], ['CDN-Cache-Control', 'max-age=3600']])).toBe(true)
    expect(await reused([['Cache-Control', 'no-store'], ['CDN-Cache-Control', 'max-age=10000']])).toBe(true)
    expect(await reused([['CDN-Cache-Control', 'max-age=3600'], ['Expires', '0']])).toBe(true)
    expect(await reused([['Cache-Control', 'max-age=3600'], ['CDN-Cache-Control', 'max-age=1']])).toBe(false)
    expect(await reused([['CDN-Cache-Control', 'max-age=0'], ['Expires', new Date(Date.now() + 1e7).toUTCString()]])).toBe(false)
    expect(await reused([['CDN-Cache-Control', 'max-age=3600'], ['Age', '7200']], 0)).toBe(false)
    for (const directive of ['private', 'no-cache', 'no-store']) {
      expect(await reused([['CDN-Cache-Control', directive], ['Cache-Control', 'max-age=10000'], ['Expires', new Date(Date.now() + 1e7).toUTCString()]]), directive).toBe(false)
    }
  })

  it('ignores a CDN-Cache-Control that is not a valid Structured Field, or whose max-age is not an Integer [cdn-cc-invalid-sh-type-*]', async () => {
    expect(await reused([['CDN-Cache-Control', 'max-age=10000, &&&&&'], ['Cache-Control', 'no-store']])).toBe(false)
    expect(await reused([['CDN-Cache-Control', 'max-age="10000"'], ['Cache-Control', 'no-store']])).toBe(false)
    expect(await reused([['CDN-Cache-Control', 'max-age=10000'], ['Cache-Control', 'no-store']], 2)).toBe(true)
  })

  it('is not obeyed by default: an origin that means it for a CDN in front of the gateway says nothing to this cache', async () => {
    expect(await reusedAfter([['Cache-Control', 'no-store'], ['CDN-Cache-Control', 'max-age=10000']])).toBe(false)
    expect(await reusedAfter([['CDN-Cache-Control', 'max-age=3600']])).toBe(false)
  })
})
