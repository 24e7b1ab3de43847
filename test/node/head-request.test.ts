import { getRequestListener } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.ts'
import { replaceRequest } from '../../src/forward.ts'
import { HeadHeaders } from '../../src/head-headers.ts'
import { HeadRequest, toHeadRequest } from '../../src/node/head-request.ts'
import type { GatewayBindings } from '../../src/runtime.ts'
import { thrown } from '../helpers/thrown.ts'

const URL_STRING = 'http://gw.example/chat?room=1'

/** undici's Request, before the first test lets @hono/node-server replace the global with its subclass. */
const UNDICI_REQUEST = globalThis.Request

/** A browser's handshake lines, as Node's rawHeaders hold them. */
const LINES = [
  'Host', 'gw.example',
  'Upgrade', 'websocket',
  'Connection', 'Upgrade',
  'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version', '13',
  'Sec-WebSocket-Protocol', 'chat',
  'sec-websocket-protocol', 'superchat',
  'Origin', 'https://app.example',
  'Cookie', 'session=abc',
  'cookie', 'theme=dark',
]

function realHeaders(lines: readonly string[]): Headers {
  const headers = new Headers()
  for (let i = 0; i < lines.length; i += 2) headers.append(lines[i]!, lines[i + 1]!)
  return headers
}

function headRequest(url = URL_STRING, lines: readonly string[] = LINES): Request {
  return toHeadRequest(url, 'GET', lines)
}

/** The env the Node host hands the app on an upgrade (only what replaceRequest() looks at). */
const UPGRADE_ENV = { wsgate: { upgrade: {} } } as unknown as GatewayBindings

/** Runs `handler` on a tiny Hono app fed `request` as the Node upgrade path feeds it, and returns what it returned. */
async function onRoute<T>(request: Request, handler: (c: Context<{ Bindings: GatewayBindings }>) => T): Promise<T> {
  let result: { value: T } | undefined
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.onError((error) => {
    throw error
  })
  app.get('/chat', (c) => {
    result = { value: handler(c) }
    return c.text('ok')
  })
  const response = await app.fetch(request, UPGRADE_ENV)
  expect(response.status).toBe(200)
  return result!.value
}

// Runs first: the rest of the file runs, as the gateway does, with @hono/node-server's Request as the global.
describe('toHeadRequest() and the global Request', () => {
  it('is instanceof Request before and after @hono/node-server replaces the global Request with its subclass', () => {
    const undiciRequest = UNDICI_REQUEST
    expect(globalThis.Request).toBe(undiciRequest)
    const before = headRequest()
    expect(before).toBeInstanceOf(undiciRequest)
    expect(before).toBeInstanceOf(Request)

    getRequestListener(() => new Response('plain'))
    expect(globalThis.Request).not.toBe(undiciRequest)
    expect(Object.getPrototypeOf(globalThis.Request.prototype)).toBe(undiciRequest.prototype)

    const after = headRequest()
    expect(after).toBeInstanceOf(globalThis.Request)
    expect(after).toBeInstanceOf(undiciRequest)
    expect(after).toBeInstanceOf(HeadRequest)
    expect(Object.prototype.toString.call(after)).toBe('[object Request]')
    // The Request it materializes is the global in use, as one the gateway made itself would be.
    expect((after as unknown as HeadRequest).materialize()).toBeInstanceOf(globalThis.Request)
    // Its clone() is undici's Request, as a real subclass Request's clone() is.
    expect(after.clone()).toBeInstanceOf(undiciRequest)
    expect(after.clone() instanceof globalThis.Request).toBe(new Request(URL_STRING).clone() instanceof globalThis.Request)
  })
})

describe('toHeadRequest()', () => {
  it('answers url, method and headers from the head, as a real Request made from them does', () => {
    const request = headRequest()
    const real = new Request(URL_STRING, { headers: realHeaders(LINES) })
    expect(request.url).toBe(URL_STRING)
    expect(request.url).toBe(real.url)
    expect(request.method).toBe('GET')
    expect(request.headers).toBeInstanceOf(Headers)
    expect(request.headers.get('sec-websocket-key')).toBe('dGhlIHNhbXBsZSBub25jZQ==')
    expect(request.headers.get('Sec-WebSocket-Protocol')).toBe('chat, superchat')
    expect(request.headers.get('cookie')).toBe('session=abc; theme=dark')
    expect([...request.headers]).toEqual([...real.headers])
  })

  it('keeps the head\'s lines until something else is asked (its headers are a HeadHeaders)', () => {
    const request = headRequest()
    void request.url
    void request.method
    void request.headers.get('upgrade')
    expect(request.headers).toBeInstanceOf(HeadHeaders)
  })

  it('has no body: body is null and bodyUsed false, as a real GET Request', async () => {
    const request = headRequest()
    expect(request.body).toBeNull()
    expect(request.bodyUsed).toBe(false)
    expect(await request.text()).toBe('')
    expect(request.bodyUsed).toBe(false)
    expect(request.body).toBeNull()
    const real = new Request(URL_STRING)
    expect(await real.text()).toBe('')
    expect(real.bodyUsed).toBe(request.bodyUsed)
  })

  it('reads an empty body through every body method, as a real GET Request does', async () => {
    expect(await headRequest().text()).toBe('')
    expect((await headRequest().arrayBuffer()).byteLength).toBe(0)
    expect((await headRequest().blob()).size).toBe(0)
    expect((await headRequest().bytes()).byteLength).toBe(0)
  })

  it('has a signal that is an AbortSignal, not aborted', () => {
    const request = headRequest()
    expect(request.signal).toBeInstanceOf(AbortSignal)
    expect(request.signal.aborted).toBe(false)
    // Asked twice, the same signal (one Request made once).
    expect(request.signal).toBe(request.signal)
  })

  it('answers every other Request getter as a real Request made with the same url does', () => {
    const request = headRequest()
    const real = new Request(URL_STRING)
    const own = new Set(['url', 'method', 'headers', 'body', 'bodyUsed', 'signal'])
    // Every getter of the global Request (@hono/node-server's subclass) and of undici's Request it extends.
    const all = new Set<string>()
    for (let proto: object | null = Request.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(proto))) if (descriptor.get && !own.has(key)) all.add(key)
    }
    expect([...all]).toEqual(expect.arrayContaining(['cache', 'mode', 'credentials', 'redirect', 'referrer', 'referrerPolicy', 'integrity', 'keepalive', 'destination']))
    for (const key of all) {
      expect({ key, value: (request as unknown as Record<string, unknown>)[key] }).toEqual({ key, value: (real as unknown as Record<string, unknown>)[key] })
    }
    expect(request.cache).toBe('default')
    expect(request.mode).toBe('cors')
    expect(request.credentials).toBe('same-origin')
  })

  it('has every member of Request', () => {
    const request = headRequest()
    for (let proto: object | null = Request.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const key of Reflect.ownKeys(proto)) expect(key in request).toBe(true)
    }
  })

  it('clone() returns a real Request with the same url, method and headers', () => {
    const request = headRequest()
    const clone = request.clone()
    expect(clone).toBeInstanceOf(UNDICI_REQUEST)
    expect(clone).not.toBeInstanceOf(HeadRequest)
    expect(clone.constructor).toBe(new Request(URL_STRING).clone().constructor)
    expect(clone.url).toBe(URL_STRING)
    expect(clone.method).toBe('GET')
    expect([...clone.headers]).toEqual([...realHeaders(LINES)])
    // A real Request: new Request() reads it.
    expect(new Request(clone).url).toBe(URL_STRING)
  })

  it('clone() is independent: a header set on the clone is not seen by the request, and the reverse', () => {
    const request = headRequest()
    const clone = request.clone()
    clone.headers.set('x-clone', '1')
    expect(request.headers.has('x-clone')).toBe(false)
    request.headers.set('x-request', '1')
    expect(clone.headers.has('x-request')).toBe(false)
  })

  it('a header set through req.headers before materializing is seen by clone()', () => {
    const request = headRequest()
    request.headers.set('x-before', '1')
    request.headers.append('X-Appended', 'a')
    request.headers.delete('cookie')
    const clone = request.clone()
    expect(clone.headers.get('x-before')).toBe('1')
    expect(clone.headers.get('x-appended')).toBe('a')
    expect(clone.headers.has('cookie')).toBe(false)
  })

  it('a header set through req.headers after materializing is seen by a second clone()', () => {
    const request = headRequest()
    const first = request.clone()
    request.headers.set('x-after', '1')
    request.headers.delete('origin')
    const second = request.clone()
    expect(first.headers.has('x-after')).toBe(false)
    expect(second.headers.get('x-after')).toBe('1')
    expect(second.headers.has('origin')).toBe(false)
    expect(first.headers.get('origin')).toBe('https://app.example')
  })

  it('the headers object taken before materializing and the one after are the same list both ways', () => {
    const request = headRequest()
    const early = request.headers
    void request.signal
    const late = request.headers
    early.set('x-early', '1')
    expect(late.get('x-early')).toBe('1')
    late.set('x-late', '2')
    expect(early.get('x-late')).toBe('2')
    early.append('x-early-append', '3')
    expect(request.clone().headers.get('x-early-append')).toBe('3')
    expect([...early]).toEqual([...late])
  })

  it('refuses malformed lines with 400 ERR_HANDSHAKE_MALFORMED', () => {
    for (const lines of [['bad name', 'v'], ['X-A', 'a\r\nb'], ['X-A', '\u0100']]) {
      const error = thrown(() => toHeadRequest(URL_STRING, 'GET', ['Host', 'gw.example', ...lines]))
      expect(error).toBeInstanceOf(GatewayError)
      expect(error).toMatchObject({ status: 400, code: 'ERR_HANDSHAKE_MALFORMED' })
    }
  })

  it('is read by new Request(headRequest, init) as a real Request would be: its URL and method, its headers unless init replaces them', () => {
    const request = headRequest()
    request.headers.set('x-before', '1')
    const replaced = new Request(request, { headers: { 'x-a': '1' } })
    expect(replaced).toBeInstanceOf(Request)
    expect(replaced.url).toBe(URL_STRING)
    expect(replaced.method).toBe('GET')
    expect([...replaced.headers]).toEqual([['x-a', '1']])
    const copied = new Request(request)
    const expected = realHeaders(LINES)
    expected.set('x-before', '1')
    expect([...copied.headers]).toEqual([...expected])
    // A copy, not the same list: a change to it leaves the stand-in's as it was.
    copied.headers.set('x-after', '1')
    expect(request.headers.has('x-after')).toBe(false)
  })
})

describe('Hono on a HeadRequest', () => {
  it('answers c.req.header(name), c.req.header(), c.req.query() and c.req.path from the head, without materializing it', async () => {
    const seen = await onRoute(headRequest(), (c) => ({
      key: c.req.header('Sec-WebSocket-Key'),
      absent: c.req.header('x-absent'),
      all: { ...c.req.header() },
      room: c.req.query('room'),
      queries: c.req.query(),
      path: c.req.path,
      url: c.req.url,
      method: c.req.method,
      lazy: c.req.raw.headers instanceof HeadHeaders,
    }))
    const real = realHeaders(LINES)
    expect(seen).toEqual({
      key: 'dGhlIHNhbXBsZSBub25jZQ==',
      absent: undefined,
      all: Object.fromEntries(real),
      room: '1',
      queries: { room: '1' },
      path: '/chat',
      url: URL_STRING,
      method: 'GET',
      lazy: true,
    })
    expect(Object.keys(seen.all).every((key) => key === key.toLowerCase())).toBe(true)
    expect(seen.all['sec-websocket-protocol']).toBe('chat, superchat')
    expect(seen.all['cookie']).toBe('session=abc; theme=dark')
  })

  it('answers c.req.header() as it does for a real Request holding the same lines', async () => {
    const read = (c: Context) => ({ all: { ...c.req.header() }, key: c.req.header('sec-websocket-key'), room: c.req.query('room'), path: c.req.path })
    expect(await onRoute(headRequest(), read)).toEqual(await onRoute(new Request(URL_STRING, { headers: realHeaders(LINES) }), read))
  })
})

describe('replaceRequest() on a HeadRequest', () => {
  it('with { headers }: the new request is still lazy, has the new headers, and the old one is unchanged', async () => {
    const original = headRequest()
    const { replaced, before } = await onRoute(original, (c) => {
      const before = c.req.raw
      const headers = new Headers(c.req.raw.headers)
      headers.delete('cookie')
      headers.set('x-user', 'alice')
      replaceRequest(c, { headers })
      return { replaced: c.req.raw, before }
    })
    expect(before).toBe(original)
    expect(replaced).not.toBe(original)
    expect(replaced).toBeInstanceOf(HeadRequest)
    expect(replaced.constructor.name).toBe('HeadRequest')
    expect(replaced).toBeInstanceOf(Request)
    expect(replaced.url).toBe(URL_STRING)
    expect(replaced.method).toBe('GET')
    expect(replaced.headers.get('x-user')).toBe('alice')
    expect(replaced.headers.has('cookie')).toBe(false)
    expect(replaced.headers.get('sec-websocket-key')).toBe('dGhlIHNhbXBsZSBub25jZQ==')
    // The old request: as it was, and still lazy.
    expect(original.headers.has('x-user')).toBe(false)
    expect(original.headers.get('cookie')).toBe('session=abc; theme=dark')
    expect(original.headers).toBeInstanceOf(HeadHeaders)
    // The replaced one materializes as any HeadRequest does.
    const clone = replaced.clone()
    expect(clone.headers.get('x-user')).toBe('alice')
    expect(replaced.signal.aborted).toBe(false)
  })

  it('with { url } only: only the URL changes, and the headers are copied independently (still lines)', async () => {
    const original = headRequest()
    const replaced = await onRoute(original, (c) => {
      replaceRequest(c, { url: new URL('http://gw.example/chat?room=2') })
      return { raw: c.req.raw, room: c.req.query('room'), url: c.req.url }
    })
    expect(replaced.raw).toBeInstanceOf(HeadRequest)
    expect(replaced.raw.url).toBe('http://gw.example/chat?room=2')
    expect(replaced.url).toBe('http://gw.example/chat?room=2')
    expect(replaced.room).toBe('2')
    expect(replaced.raw.method).toBe('GET')
    expect(original.url).toBe(URL_STRING)
    expect(replaced.raw.headers).toBeInstanceOf(HeadHeaders)
    expect(replaced.raw.headers).not.toBe(original.headers)
    expect([...replaced.raw.headers]).toEqual([...original.headers])
    replaced.raw.headers.append('x-new', '1')
    expect(original.headers.has('x-new')).toBe(false)
    original.headers.set('x-old', '1')
    expect(replaced.raw.headers.has('x-old')).toBe(false)
  })

  it('with { url } only after the old request was materialized: headers copied from the real one, independently', async () => {
    const original = headRequest()
    original.headers.set('x-set', 'before-replace')
    void original.signal
    const replaced = await onRoute(original, (c) => {
      replaceRequest(c, { url: 'http://gw.example/chat?room=3' })
      return c.req.raw
    })
    expect(replaced).toBeInstanceOf(HeadRequest)
    expect(replaced.url).toBe('http://gw.example/chat?room=3')
    expect([...replaced.headers]).toEqual([...original.headers])
    replaced.headers.set('x-set', 'after-replace')
    expect(original.headers.get('x-set')).toBe('before-replace')
    original.headers.append('x-old', '1')
    expect(replaced.headers.has('x-old')).toBe(false)
  })

  it('with { url, headers }: both change, the old request keeps its own', async () => {
    const original = headRequest()
    const replaced = await onRoute(original, (c) => {
      replaceRequest(c, { url: new URL('http://gw.example/chat?room=4'), headers: new Headers({ 'x-only': '1' }) })
      return c.req.raw
    })
    expect(replaced).toBeInstanceOf(HeadRequest)
    expect(replaced.url).toBe('http://gw.example/chat?room=4')
    expect([...replaced.headers]).toEqual([['x-only', '1']])
    expect(original.url).toBe(URL_STRING)
    expect(original.headers.get('host')).toBe('gw.example')
  })

  it('chained replacements stay lazy, each seeing the one before', async () => {
    const replaced = await onRoute(headRequest(), (c) => {
      const first = new Headers(c.req.raw.headers)
      first.set('x-first', '1')
      replaceRequest(c, { headers: first })
      replaceRequest(c, { url: new URL('http://gw.example/chat?room=5') })
      const second = new Headers(c.req.raw.headers)
      second.set('x-second', '2')
      replaceRequest(c, { headers: second })
      return c.req.raw
    })
    expect(replaced).toBeInstanceOf(HeadRequest)
    expect(replaced.url).toBe('http://gw.example/chat?room=5')
    expect(replaced.headers.get('x-first')).toBe('1')
    expect(replaced.headers.get('x-second')).toBe('2')
  })

  it('gives what replaceRequest() gives for a real Request holding the same lines', async () => {
    const change = (c: Context) => {
      const headers = new Headers(c.req.raw.headers)
      headers.delete('origin')
      headers.append('X-Added', 'v')
      replaceRequest(c, { headers })
      replaceRequest(c, { url: new URL('http://gw.example/chat?room=9') })
      return { url: c.req.raw.url, method: c.req.raw.method, headers: [...c.req.raw.headers], body: c.req.raw.body, room: c.req.query('room') }
    }
    expect(await onRoute(headRequest(), change)).toEqual(await onRoute(new Request(URL_STRING, { headers: realHeaders(LINES) }), change))
  })
})

/**
 * Divergences from a real Request (or from the documented "a change through
 * either is seen by both") found while writing the tests above: these fail
 * today; each says what a real Request does.
 */
describe('replaceRequest() on a lazy request copies as new Request(current, init) would', () => {
  it('after replaceRequest(c, { headers }), a change through req.headers taken before materializing is still seen after it', async () => {
    // req.headers taken before the real Request exists must stay the request's list after it does.
    const replaced = await onRoute(headRequest(), (c) => {
      replaceRequest(c, { headers: new Headers(c.req.raw.headers) })
      return c.req.raw
    })
    const early = replaced.headers
    void replaced.signal
    early.set('x-late', '1')
    expect(replaced.headers.get('x-late')).toBe('1')
    expect(replaced.clone().headers.get('x-late')).toBe('1')
  })

  it('replaceRequest(c, { headers }) copies the given Headers, as new Request(current, { headers }) does', async () => {
    // A real request takes a copy: a Headers the middleware goes on using (or shares between requests, e.g. a
    // module-level constant) must not change the request, nor c.req.raw.headers.set() the middleware's object.
    const change = (c: Context) => {
      const headers = new Headers({ 'x-a': '1' })
      replaceRequest(c, { headers })
      headers.set('x-after-replace', '1')
      c.req.raw.headers.set('x-through-request', '1')
      return { seen: c.req.raw.headers.get('x-after-replace'), leaked: headers.get('x-through-request') }
    }
    const real = await onRoute(new Request(URL_STRING, { headers: realHeaders(LINES) }), change)
    expect(real).toEqual({ seen: null, leaked: null })
    expect(await onRoute(headRequest(), change)).toEqual(real)
  })

  it('replaceRequest(c, { url: string }) parses the URL as new Request() does: normalized, and an invalid one refused', async () => {
    const change = (c: Context) => {
      replaceRequest(c, { url: 'http://GW.example/chat?room=a b' })
      const url = c.req.raw.url
      const invalid = thrown(() => replaceRequest(c, { url: 'not a url' }))
      return { url, invalidRefused: invalid instanceof TypeError }
    }
    const real = await onRoute(new Request(URL_STRING, { headers: realHeaders(LINES) }), change)
    expect(real).toEqual({ url: 'http://gw.example/chat?room=a%20b', invalidRefused: true })
    expect(await onRoute(headRequest(), change)).toEqual(real)
  })
})
