import type http from 'node:http'
import { Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import { describe, expect, it } from 'vitest'
import { cacheBypass } from '../../middleware/cache-bypass.ts'
import { cache, type CacheOptions } from '../../middleware/cache.ts'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { waitFor, type TestGateway } from '../helpers/gateway.ts'
import { send, startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'
import { useResources } from '../helpers/resources.ts'

/**
 * Request collapsing: concurrent misses for one URL send one request to the
 * origin and are answered from what it stores — never from an answer a
 * shared cache may not store, never across Vary, and within a bounded wait.
 * A real gateway, cache() in front of http(), a node:http origin that holds
 * its answers until the test releases them, clients over TCP.
 */

const resources = useResources()

/** A held origin response: the test sends it when every client has reached the cache. */
interface Held {
  request: http.IncomingMessage
  response: http.ServerResponse
}

/**
 * A gateway with cache(options) in front of an origin that holds every request (in `held`) until the test
 * answers it; `arrived` counts the requests that reached the cache (a middleware just before it), so the test
 * knows they are all waiting or in flight before it releases the origin.
 */
async function heldScenario(options: CacheOptions = {}) {
  const held: Held[] = []
  const upstream: HttpOrigin = resources.track(await startHttpOrigin((request, response) => void held.push({ request, response })))
  let arrived = 0
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all(
    '*',
    createMiddleware(async (_c, next) => {
      arrived++
      await next()
    }),
    cacheBypass(),
    cache(options),
    httpRoute(upstream.url),
  )
  const gateway: TestGateway = await resources.gateway(app)
  return {
    upstream,
    held,
    arrived: () => arrived,
    request: (path: string, headers: http.OutgoingHttpHeaders = {}) => send(`${gateway.url}${path}`, { headers }),
  }
}

describe('cache(): request collapsing', () => {
  it('sends ten concurrent misses for one URL to the origin once, and answers all ten from its storable answer', async () => {
    const s = await heldScenario()
    const answers = Array.from({ length: 10 }, () => s.request('/hot'))
    await waitFor(() => s.arrived() === 10 && s.held.length === 1, 5_000, 'ten requests at the cache, one at the origin')
    s.held[0]!.response.writeHead(200, { 'cache-control': 'max-age=60' })
    s.held[0]!.response.end('the one answer')
    const got = await Promise.all(answers)
    expect(got.map((answer) => answer.body.toString())).toEqual(Array(10).fill('the one answer'))
    expect(got.filter((answer) => answer.headers['x-cache'] === 'MISS')).toHaveLength(1)
    expect(s.upstream.requests).toHaveLength(1)
  })

  it("never shares an answer a shared cache may not store: each waiting request gets the origin's answer to itself", async () => {
    for (const headers of [{ 'cache-control': 'private, max-age=60' }, { 'cache-control': 'max-age=60', 'set-cookie': 'session=first' }, { 'cache-control': 'no-store' }]) {
      const s = await heldScenario()
      const answers = Array.from({ length: 4 }, (_, user) => s.request('/me', { 'x-user': String(user) }))
      await waitFor(() => s.arrived() === 4 && s.held.length === 1, 5_000, 'four requests at the cache')
      // Each request the origin gets is answered for its own user; the three that waited come once the first is answered.
      const answerHeld = (index: number) => {
        const { request, response } = s.held[index]!
        response.writeHead(200, headers)
        response.end(`page of user ${request.headers['x-user']}`)
      }
      answerHeld(0)
      await waitFor(() => s.held.length === 4, 5_000, 'the three others at the origin')
      for (let index = 1; index < 4; index++) answerHeld(index)
      const got = await Promise.all(answers)
      expect(got.map((answer) => answer.body.toString()), JSON.stringify(headers)).toEqual([0, 1, 2, 3].map((user) => `page of user ${user}`))
      expect(s.upstream.requests).toHaveLength(4)
    }
  })

  it('never serves a waiting request a variant its Vary does not select', async () => {
    const s = await heldScenario()
    const english = s.request('/v', { 'accept-language': 'en' })
    await waitFor(() => s.held.length === 1, 5_000, 'the first request at the origin')
    const french = [s.request('/v', { 'accept-language': 'fr' }), s.request('/v', { 'accept-language': 'fr' })]
    await waitFor(() => s.arrived() === 3, 5_000, 'three requests at the cache')
    s.held[0]!.response.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' })
    s.held[0]!.response.end('in en')
    expect((await english).body.toString()).toBe('in en')
    // The two French requests find no variant for them: one goes to the origin, the other waits for it.
    await waitFor(() => s.held.length === 2, 5_000, 'a French request at the origin')
    expect(s.held[1]!.request.headers['accept-language']).toBe('fr')
    s.held[1]!.response.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' })
    s.held[1]!.response.end('en français')
    expect((await Promise.all(french)).map((answer) => answer.body.toString())).toEqual(['en français', 'en français'])
    expect(s.upstream.requests).toHaveLength(2)
  })

  it('waits at most collapseWait: a request behind one the origin does not answer goes to the origin itself', async () => {
    const s = await heldScenario({ collapseWait: 50 })
    const stuck = s.request('/slow')
    await waitFor(() => s.held.length === 1, 5_000, 'the first request at the origin')
    const second = s.request('/slow')
    await waitFor(() => s.held.length === 2, 5_000, 'the second request at the origin after its wait')
    s.held[1]!.response.writeHead(200, { 'cache-control': 'max-age=60' })
    s.held[1]!.response.end('second')
    expect((await second).body.toString()).toBe('second')
    s.held[0]!.response.writeHead(200, { 'cache-control': 'max-age=60' })
    s.held[0]!.response.end('first')
    expect((await stuck).body.toString()).toBe('first')
  })

  it('lets at most collapseMaxWaiters wait; the others go to the origin at once', async () => {
    const s = await heldScenario({ collapseMaxWaiters: 1 })
    const answers = [s.request('/w'), s.request('/w'), s.request('/w')]
    await waitFor(() => s.arrived() === 3 && s.held.length === 2, 5_000, 'two requests at the origin, one waiting')
    for (const { response } of s.held) {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end('ok')
    }
    expect((await Promise.all(answers)).map((answer) => answer.status)).toEqual([200, 200, 200])
    expect(s.upstream.requests).toHaveLength(2)
  })

  it('collapses nothing with collapseWait: 0', async () => {
    const s = await heldScenario({ collapseWait: 0 })
    const answers = [s.request('/w'), s.request('/w')]
    await waitFor(() => s.held.length === 2, 5_000, 'both requests at the origin')
    for (const { response } of s.held) {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end('ok')
    }
    expect((await Promise.all(answers)).map((answer) => answer.status)).toEqual([200, 200])
    expect(s.upstream.requests).toHaveLength(2)
  })

  it('does not hold waiting requests behind an origin that never ends its answer: they get their own once the wait is over', async () => {
    const s = await heldScenario({ collapseWait: 100 })
    const first = s.request('/big')
    await waitFor(() => s.held.length === 1, 5_000, 'the first request at the origin')
    // The origin starts its answer but never ends it: the first response is still being recorded.
    s.held[0]!.response.writeHead(200, { 'cache-control': 'max-age=60' })
    s.held[0]!.response.write('partial')
    const second = s.request('/big')
    await waitFor(() => s.held.length === 2, 5_000, 'the second request at the origin after its wait')
    s.held[1]!.response.writeHead(200, { 'cache-control': 'max-age=60' })
    s.held[1]!.response.end('whole')
    expect((await second).body.toString()).toBe('whole')
    s.held[0]!.response.end()
    expect((await first).body.toString()).toBe('partial')
  })

  it('does not make requests wait for a revalidation whose answer could not serve them: a no-cache response, or a request with max-age=0', async () => {
    const s = await heldScenario()
    const first = s.request('/nc')
    await waitFor(() => s.held.length === 1, 5_000, 'the first request at the origin')
    s.held[0]!.response.writeHead(200, { 'cache-control': 'no-cache', etag: '"v1"' })
    s.held[0]!.response.end('stored')
    await first
    // Three revalidations at once: each must reach the origin, none can be answered by another's 304.
    const revalidations = [s.request('/nc'), s.request('/nc'), s.request('/nc')]
    await waitFor(() => s.held.length === 4, 5_000, 'three revalidations at the origin at once')
    for (const { response } of s.held.slice(1)) {
      response.writeHead(304, { etag: '"v1"' })
      response.end()
    }
    expect((await Promise.all(revalidations)).map((answer) => answer.body.toString())).toEqual(['stored', 'stored', 'stored'])

    const t = await heldScenario()
    const leader = t.request('/m')
    await waitFor(() => t.held.length === 1, 5_000, 'the first request at the origin')
    const reload = t.request('/m', { 'cache-control': 'max-age=0' })
    await waitFor(() => t.held.length === 2, 5_000, 'the max-age=0 request at the origin')
    for (const { response } of t.held) {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end('ok')
    }
    await Promise.all([leader, reload])
    expect(t.upstream.requests).toHaveLength(2)
  })

  it("stores the response when the origin is done, not when the first client has read it: a client that stalls holds no one up", async () => {
    let first: http.ServerResponse | undefined
    const upstream: HttpOrigin = resources.track(
      await startHttpOrigin((_request, response) => {
        if (!first) first = response
        else {
          response.writeHead(200, { 'cache-control': 'max-age=60' })
          response.end('a second answer')
        }
      }),
    )
    // The first client's response is taken from the cache and never read (nor cancelled): a client that stalls.
    const stalled: (ReadableStream | null)[] = []
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all(
      '*',
      createMiddleware(async (c, next) => {
        await next()
        if (c.req.header('x-stall')) {
          stalled.push(c.res.body)
          c.res = new Response('stalled')
        }
      }),
      cacheBypass(),
      cache({ collapseWait: 10_000 }),
      httpRoute(upstream.url),
    )
    const gateway: TestGateway = await resources.gateway(app)
    const stalledClient = send(`${gateway.url}/s`, { headers: { 'x-stall': '1' } })
    await waitFor(() => first !== undefined, 5_000, 'the first request at the origin')
    const waiting = send(`${gateway.url}/s`)
    first!.writeHead(200, { 'cache-control': 'max-age=60' })
    first!.end('x'.repeat(256 * 1024))
    const answer = await waiting
    expect(answer.headers['x-cache']).toBe('HIT')
    expect(answer.body.toString()).toBe('x'.repeat(256 * 1024))
    expect(upstream.requests).toHaveLength(1)
    expect((await stalledClient).body.toString()).toBe('stalled')
    await stalled[0]?.cancel()
  })

  it.each([
    ['Cache-Control: no-store', { 'cache-control': 'no-store' }],
    ['a Range', { range: 'bytes=0-1' }],
    ['its own If-None-Match', { 'if-none-match': '"v"' }],
  ])('makes no one wait for a request whose answer will not be stored: %s', async (_what, headers) => {
    const s = await heldScenario({ collapseWait: 60_000 })
    const noStore = s.request('/n', headers)
    await waitFor(() => s.held.length === 1, 5_000, 'the no-store request at the origin')
    const next = s.request('/n')
    await waitFor(() => s.held.length === 2, 5_000, 'the next request at the origin without waiting')
    for (const { response } of s.held) {
      response.writeHead(200, { 'cache-control': 'max-age=60' })
      response.end('ok')
    }
    expect((await Promise.all([noStore, next])).map((answer) => answer.status)).toEqual([200, 200])
  })
})
