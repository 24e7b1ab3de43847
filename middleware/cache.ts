import { DEFAULT_CACHE_MAX_ENTRY_SIZE, DEFAULT_CACHE_MAX_SIZE } from '../src/defaults.ts'
import type { Context, MiddlewareHandler } from 'hono'
import { LRUCache } from 'lru-cache'
import { GatewayError } from '../src/errors.ts'
import { replaceRequest, type ForwardingVariables } from '../src/forward.ts'
import { headerTokens } from '../src/headers.ts'
import { InFlight } from './cache/collapsing.ts'
import { clientHasIt } from './cache/conditional.ts'
import { deltaSeconds, parseDirectives, type Directives } from './cache/directives.ts'
import { currentAge, freshness, isStorable, requestDirectives, reuse, type Freshness, type StoringRequest } from './cache/freshness.ts'
import { implicitKey, varyKey } from './cache/keys.ts'
import { requestedRange } from './cache/range.ts'
import { recording, type RecordingBudget } from './cache/recording.ts'
import { CONDITIONAL_HEADERS, revalidationHeaders, validatorsMatch } from './cache/revalidation.ts'
import { headersToStore, setCookieMayBeOmitted, updatedBy304 } from './cache/stored-headers.ts'
import { targetedDirectives } from './cache/targeted.ts'

/** Variants (different `Vary`-selected request headers) kept per URL; the oldest goes first. Bounds `Vary: User-Agent`. */
const MAX_VARIANTS = 16

/** Bytes counted per stored response on top of body and headers: its freshness record and bookkeeping. */
const ENTRY_OVERHEAD = 512

/** Methods the cache answers; others pass through (RFC 9111 §2: GET is what caches store, HEAD answers from its own). */
const CACHEABLE_METHODS = new Set(['GET', 'HEAD'])

/** Methods that never invalidate (RFC 9110 §9.2.1); a successful response to any other invalidates the URL (RFC 9111 §4.4). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1, §15.3.6). */
const NULL_BODY_STATUSES = new Set([204, 205, 304])

/** The largest `Age` sent (RFC 9111 §5.1: a cache that cannot count higher sends 2^31). */
const AGE_MAX = 2_147_483_648

/** Times a request looks again for a stored response after waiting for another in flight (a `Vary` mismatch starts another wait). */
const COLLAPSE_ROUNDS = 3

/** Default of {@link CacheOptions.collapseWait}, ms. */
const DEFAULT_COLLAPSE_WAIT = 5_000

/** Default of {@link CacheOptions.collapseMaxWaiters}. */
const DEFAULT_COLLAPSE_MAX_WAITERS = 256

/** Where a response came from, sent as `x-cache`. */
export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS'

/** Options of {@link cache}. */
export interface CacheOptions {
  /**
   * Total size of the cache in bytes (bodies, headers, URLs, the request
   * headers a `Vary` response keeps and a small per-entry overhead); least
   * recently used responses are evicted beyond it. Responses being recorded
   * on their way to clients hold at most as much again together; one that
   * would exceed it streams through unstored.
   * @default 64 MiB ({@link DEFAULT_CACHE_MAX_SIZE})
   */
  maxSize?: number
  /**
   * Largest response stored, in bytes; bigger ones stream through uncached.
   * @default 8 MiB ({@link DEFAULT_CACHE_MAX_ENTRY_SIZE}), or `maxSize` when smaller
   */
  maxEntrySize?: number
  /**
   * Longest time, in ms, a request that misses waits for an identical
   * request already on its way to the origin (request collapsing), to be
   * answered from what that one stores; past it, it goes to the origin
   * itself. `0` turns collapsing off.
   * @default 5000
   */
  collapseWait?: number
  /**
   * Requests that may wait for one request in flight (same method, URL and
   * key headers); more go to the origin without waiting.
   * @default 256
   */
  collapseMaxWaiters?: number
  /**
   * Targeted cache-control fields (RFC 9213) this cache obeys, most
   * specific first, e.g. `['CDN-Cache-Control']`: the first one a response
   * carries as a valid Structured Field Dictionary replaces its
   * `Cache-Control` and `Expires` for this cache (what it stores, for how
   * long); the field still goes to clients. Off by default: an origin that
   * meant it for a CDN in front of the gateway says nothing to this cache.
   * @default []
   */
  targetedCacheControl?: readonly string[]
  /**
   * The clock freshness is computed with, ms since the epoch (tests inject one).
   * @default Date.now
   */
  now?: () => number
}

/**
 * A request on its way to the origin whose answer may be stored. `outdated` is set when a successful unsafe
 * request invalidates its URL meanwhile: the answer may predate the change and is not stored.
 */
interface OriginFetch {
  outdated: boolean
  /** Ends it: tells the requests collapsed behind it whether its answer was stored. */
  done(stored: boolean): void
}

/** One stored response: a variant of a URL, selected by the request headers its `Vary` names. */
interface Variant {
  status: number
  statusText: string
  /** The response's fields as stored (see `headersToStore()`). */
  headers: Headers
  body: Uint8Array<ArrayBuffer>
  fresh: Freshness
  /** Lower-cased header names the response's `Vary` lists. */
  vary: string[]
  /** Those headers' values in the request that stored it, and its headers origins answer by unasked (see `varyKey()`). */
  varyKey: string
  /** Bytes counted against `maxSize`. */
  size: number
}

/**
 * An HTTP cache (RFC 9111) in front of `http()` or `proxy()`, as a shared
 * cache: it honours `Cache-Control` in responses (max-age, s-maxage,
 * no-store, no-cache with or without field names, private, public,
 * must-revalidate, proxy-revalidate, must-understand) and requests
 * (no-cache, no-store, max-age, min-fresh, max-stale, only-if-cached),
 * `Expires`, `Age`, heuristic freshness, `Vary`, and revalidates a stale
 * response with its `ETag` (`If-None-Match`) or `Last-Modified`
 * (`If-Modified-Since`); a 304 updates the stored fields. Storage is an LRU
 * bounded in bytes (`maxSize`) with a cap per response (`maxEntrySize`).
 * Responses stream to the client while they are recorded; one that breaks
 * off, or outgrows the cap, is not stored. Concurrent misses for one URL
 * are collapsed: one goes to the origin, the others wait (bounded by
 * `collapseWait` and `collapseMaxWaiters`) and are answered from what it
 * stores, or go to the origin themselves when it stores nothing their
 * request can be answered with.
 *
 * Every response carries `x-cache`:
 * - `HIT`: served from the cache — fresh, or stale and confirmed by the
 *   origin with `304 Not Modified` (a revalidated response counts as a HIT;
 *   its `Age` restarts). A client's own `If-None-Match`/`If-Modified-Since`
 *   is answered from the cache with 304 when it matches.
 * - `MISS`: the cache was consulted and the response came from the origin
 *   (stored when storable), or, for `only-if-cached`, nothing stored
 *   satisfies the request: 504 `ERR_CACHE_ONLY_IF_CACHED` (RFC 9111 §5.2.1.7).
 * - `BYPASS`: the cache was not consulted — an upgrade request (any request
 *   carrying `Upgrade`; never served, never stored, passed on untouched so
 *   its Upgrade/Connection headers reach the origin), a request flagged by
 *   `cacheBypass()`, or a method other than GET/HEAD (whose success
 *   invalidates the URL's stored responses, and those of its `Location` and
 *   `Content-Location` on the same origin, RFC 9111 §4.4).
 *
 * There is no `STALE` or `REVALIDATED`: a stale response is never served
 * unless the client's `max-stale` allows it and the response does not
 * forbid it (then it is a HIT with its `Age`); `stale-while-revalidate` and
 * `stale-if-error` are not used (a stale response is revalidated before it
 * is served, and an origin error is relayed).
 *
 * Keyed on the method and URL, and on the request headers that make origins
 * answer for another host or URL without naming them in `Vary`
 * (`UNKEYED_BY_ORIGINS` in cache/keys.ts: X-Forwarded-Host, X-Original-URL, …), so a
 * response one client provoked with them never reaches another.
 *
 * Not stored: answers to requests with `Cookie` that only heuristic
 * freshness would make cacheable (no `max-age`, `s-maxage`, `public` or
 * `Expires`: the page may be the session's user's), responses with
 * `Set-Cookie` (one client's cookie must never reach another) unless their
 * `no-cache="Set-Cookie"` lets the cache drop it, `Vary: *`, `private`,
 * `no-store`, 206 and 304, and responses to requests with `Authorization`
 * unless `public`, `s-maxage` or `must-revalidate` allow it.
 *
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/live', cacheBypass(), cache({ maxSize: 50_000_000 }), proxy('ws://127.0.0.1:9000'))
 */
export function cache(options: CacheOptions = {}): MiddlewareHandler<{ Variables: ForwardingVariables }> {
  const maxSize = options.maxSize ?? DEFAULT_CACHE_MAX_SIZE
  assertBytes('maxSize', maxSize)
  const maxEntrySize = options.maxEntrySize ?? Math.min(DEFAULT_CACHE_MAX_ENTRY_SIZE, maxSize)
  assertBytes('maxEntrySize', maxEntrySize)
  if (maxEntrySize > maxSize) {
    throw new TypeError(`cache(): maxEntrySize (${maxEntrySize}) must not exceed maxSize (${maxSize}); raise maxSize or lower maxEntrySize`)
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new TypeError(`cache(): now must be a function returning ms since the epoch, got ${typeof options.now}`)
  }
  const collapseWait = options.collapseWait ?? DEFAULT_COLLAPSE_WAIT
  assertCount('collapseWait', collapseWait)
  const collapseMaxWaiters = options.collapseMaxWaiters ?? DEFAULT_COLLAPSE_MAX_WAITERS
  assertCount('collapseMaxWaiters', collapseMaxWaiters)
  const now = options.now ?? Date.now
  const targeted = targetedFields(options.targetedCacheControl)
  const inFlight = new InFlight(collapseWait, collapseMaxWaiters)
  // Key: method and URL; value: that URL's variants, newest first.
  const store = new LRUCache<string, Variant[]>({
    maxSize,
    sizeCalculation: (variants) => Math.max(1, variants.reduce((sum, variant) => sum + variant.size, 0)),
  })

  // Bytes held by responses being recorded (on their way to clients, not yet stored): at most maxSize, so that
  // concurrent downloads cannot hold maxEntrySize each beyond it. A response that would cross it streams through unstored.
  const recordingBudget: RecordingBudget = { held: 0, max: maxSize }

  /** Adds or replaces `variant` under `key`, newest first, within the variant and byte bounds. */
  function save(key: string, variant: Variant): void {
    const variants = [variant, ...(store.peek(key) ?? []).filter((other) => other.varyKey !== variant.varyKey)]
    let total = variants.reduce((sum, other) => sum + other.size, 0)
    while (variants.length > MAX_VARIANTS || (total > maxSize && variants.length > 1)) total -= variants.pop()!.size
    store.set(key, variants)
  }

  /**
   * The directives that govern storing `headers`' response, and the fields freshness reads: its
   * `Cache-Control`, or a valid targeted field of {@link CacheOptions.targetedCacheControl}, which then
   * replaces `Cache-Control` and `Expires` (and `Pragma`) as if they were absent (RFC 9213 §2.1).
   */
  function governing(headers: Headers): { directives: Directives; view: (fields: Headers) => Headers } {
    const directives = targeted.length > 0 ? targetedDirectives(headers, targeted) : undefined
    if (!directives) return { directives: parseDirectives(headers.get('cache-control')), view: (fields) => fields }
    return { directives, view: (fields) => withoutFields(fields, ['cache-control', 'expires', 'pragma']) }
  }

  /** Removes `variant` from `key` (a stale copy that can no longer be used). */
  function forget(key: string, variant: Variant): void {
    const variants = (store.peek(key) ?? []).filter((other) => other !== variant)
    if (variants.length > 0) store.set(key, variants)
    else store.delete(key)
  }

  // Requests on their way to the origin, by key: an invalidation marks them outdated.
  const fetches = new Map<string, Set<OriginFetch>>()

  /** Removes every response stored for `href`, GET and HEAD (RFC 9111 §4.4), and keeps any on its way from being stored. */
  function invalidate(href: string): void {
    for (const method of CACHEABLE_METHODS) {
      store.delete(`${method} ${href}`)
      for (const fetch of fetches.get(`${method} ${href}`) ?? []) fetch.outdated = true
    }
  }

  /** Registers a request going to the origin for `key`; `settle` tells the requests collapsed behind it the outcome. */
  function startFetch(key: string, settle: (stored: boolean) => void): OriginFetch {
    const fetch: OriginFetch = {
      outdated: false,
      done: (stored) => {
        const registered = fetches.get(key)
        registered?.delete(fetch)
        if (registered?.size === 0) fetches.delete(key)
        settle(stored)
      },
    }
    const registered = fetches.get(key) ?? new Set<OriginFetch>()
    registered.add(fetch)
    fetches.set(key, registered)
    return fetch
  }

  /** The stored variant whose `Vary` headers match the request's, if any; `implicit` is the request's `implicitKey()`. */
  function lookup(key: string, headers: Headers, implicit: string): Variant | undefined {
    return store.get(key)?.find((variant) => variant.varyKey === varyKey(variant.vary, headers, implicit))
  }

  /**
   * Records the origin's response on its way to the client and stores it
   * once the body is complete, if it is storable and within `maxEntrySize`.
   * `fetch` is told whether it was stored, for the requests waiting for it.
   */
  function recordMiss(
    c: Context,
    key: string,
    request: Request,
    storing: StoringRequest,
    implicit: string,
    requestTime: number,
    stale: Variant | undefined,
    fetch: OriginFetch,
  ): void {
    const response = c.res
    const { directives, view } = governing(response.headers)
    const vary = headerTokens(response.headers.get('vary'))
    const declared = Number(response.headers.get('content-length') ?? 0)
    const storable =
      isStorable(storing, response.status, view(response.headers), directives) &&
      (!response.headers.has('set-cookie') || setCookieMayBeOmitted(directives)) &&
      !vary.includes('*') &&
      !(declared > maxEntrySize) &&
      !c.error
    if (stale && !storable) forget(key, stale)
    if (!storable) {
      fetch.done(false)
      c.header('x-cache', 'MISS')
      return
    }
    const responseTime = now()
    const stored = headersToStore(response.headers, directives, responseTime)
    const fresh = freshness(response.status, view(stored), directives, requestTime, responseTime)
    const storedVaryKey = varyKey(vary, request.headers, implicit)
    // What the entry holds besides its body, all counted against maxSize (an attacker picks URLs and request
    // headers freely): the response's headers, the key and the Vary key.
    const heldBytes = headerBytes(stored) + key.length + storedVaryKey.length + ENTRY_OVERHEAD
    const keep = (body: Uint8Array<ArrayBuffer> | undefined): void => {
      const kept = body !== undefined && !fetch.outdated
      if (kept) save(key, { status: response.status, statusText: response.statusText, headers: stored, body, fresh, vary, varyKey: storedVaryKey, size: body.byteLength + heldBytes })
      fetch.done(kept)
    }
    const headers = new Headers(response.headers)
    headers.set('x-cache', 'MISS')
    if (!response.body) {
      keep(new Uint8Array(0))
      replaceResponse(c, new Response(null, { status: response.status, statusText: response.statusText, headers }))
      return
    }
    const body = recording(response.body, maxEntrySize, recordingBudget, keep)
    replaceResponse(c, new Response(body, { status: response.status, statusText: response.statusText, headers }))
  }

  return async function cache(c, next) {
    const request = c.req.raw
    // Defence in depth: whatever cacheBypass() decided, an upgrade is never served from or stored in the cache.
    if (c.get('cacheBypass') === true || request.headers.has('upgrade') || !CACHEABLE_METHODS.has(request.method)) {
      await next()
      const status = c.res.status
      if (!SAFE_METHODS.has(request.method) && status >= 200 && status < 400) {
        // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its URL, and for the URLs
        // its Location and Content-Location name on the same origin (another origin's could be emptied at will).
        const url = new URL(request.url)
        invalidate(url.href)
        for (const name of ['location', 'content-location']) {
          const target = sameOriginUrl(c.res.headers.get(name), url)
          if (target) invalidate(target)
        }
      }
      c.header('x-cache', 'BYPASS')
      return
    }

    const url = new URL(request.url)
    const key = `${request.method} ${url.href}`
    const directives = requestDirectives(request.headers)
    // jwtAuth() removed the credentials it verified; storing must still see an authenticated request (RFC 9111 §3.5).
    const storing: StoringRequest = {
      directives,
      authenticated: c.get('authenticated') === true || request.headers.has('authorization'),
      cookie: request.headers.has('cookie'),
    }
    const implicit = implicitKey(request.headers)
    const flightKey = `${key}\n${implicit}`

    // Look the response up; on a miss, wait for an identical request already in flight and look again once it
    // has stored its response. No wait when nothing it stores could answer this request: the request must reach
    // the origin (no-cache, max-age=0), the stored response must be validated on every use (no-cache), or, after
    // a wait, the response just stored for its Vary values still does not satisfy it (min-fresh). Only a Vary
    // mismatch waits again, for the request now in flight for its own values.
    let variant: Variant | undefined
    const deadline = inFlight.deadline()
    const mayWait = inFlight.enabled && !directives.has('no-cache') && deltaSeconds(directives, 'max-age') !== 0
    for (let round = 0; ; round++) {
      variant = lookup(key, request.headers, implicit)
      if (variant && reuse(variant.fresh, directives, now()) === 'serve') return fromCache(variant, request, now())
      if (directives.has('only-if-cached')) return onlyIfCachedRefusal()
      if (!mayWait || round >= COLLAPSE_ROUNDS || variant?.fresh.noCache || (round > 0 && variant)) break
      const waiting = inFlight.wait(flightKey, deadline)
      if (!waiting || (await waiting) !== 'stored') break
    }

    // A request whose answer will not be stored leads no one, others would wait for nothing: no-store, a Range
    // (answered with a 206), a client's own conditional the origin answers without the cache's validators (a 304).
    const revalidating = variant !== undefined && hasValidators(variant)
    const storesForOthers = !directives.has('no-store') && !request.headers.has('range') && (revalidating || !CONDITIONAL_HEADERS.some((name) => request.headers.has(name)))
    const fetch = startFetch(key, (storesForOthers && inFlight.lead(flightKey)) || (() => {}))
    try {
      const requestTime = now()
      if (!variant || !revalidating) {
        await next()
        recordMiss(c, key, request, storing, implicit, requestTime, variant, fetch)
        return
      }
      // Stale (or the client asked for no-cache): ask the origin whether our copy is still good, with our validators only.
      replaceRequest(c, { headers: revalidationHeaders(request.headers, variant.headers) })
      await next()
      const answer = c.res
      if (answer.status !== 304) {
        recordMiss(c, key, request, storing, implicit, requestTime, variant, fetch)
        return
      }
      await answer.body?.cancel().catch(() => {})
      replaceResponse(c, revalidated(key, variant, request, storing, answer.headers, requestTime, fetch))
    } catch (error) {
      fetch.done(false)
      throw error
    }
  }

  /**
   * The stored response refreshed by the origin's 304 (RFC 9111 §4.3.3, §4.3.4): its fields updated from the
   * 304's, its freshness recomputed, kept if it is still storable. A 304 whose validator is not the stored
   * one's answers a question the cache did not ask: the stored body is served this once (there is no other)
   * and forgotten. The 304's `Set-Cookie` goes to this client only.
   */
  function revalidated(key: string, variant: Variant, request: Request, storing: StoringRequest, answer: Headers, requestTime: number, fetch: OriginFetch): Response {
    const responseTime = now()
    const matches = validatorsMatch(variant.headers, answer)
    const merged = updatedBy304(variant.headers, answer)
    const { directives, view } = governing(merged)
    const headers = headersToStore(merged, directives, responseTime)
    const updated: Variant = {
      ...variant,
      headers,
      fresh: freshness(variant.status, view(merged), directives, requestTime, responseTime),
      size: variant.size - headerBytes(variant.headers) + headerBytes(headers),
    }
    const keep = matches && !fetch.outdated && isStorable(storing, variant.status, view(merged), directives)
    if (keep) save(key, updated)
    else forget(key, variant)
    fetch.done(keep)
    // A 304 for another representation says nothing of ours: its fields are not applied to our body.
    const response = fromCache(matches ? updated : variant, request, responseTime)
    for (const cookie of answer.getSetCookie()) response.headers.append('set-cookie', cookie)
    return response
  }
}

/**
 * The stored response as served: its stored fields (`Date` as the origin
 * sent it), `Age` (its current age, whole seconds), `x-cache: HIT`; a 304
 * instead when the client's own conditional request matches (RFC 9110
 * §13.1.2, §13.1.3), or a 206 of the one byte range a GET asks of a stored
 * 200 (RFC 9110 §14.2).
 */
function fromCache(variant: Variant, request: Request, at: number): Response {
  const headers = new Headers(variant.headers)
  headers.set('age', String(Math.min(AGE_MAX, Math.floor(currentAge(variant.fresh, at)))))
  headers.set('x-cache', 'HIT')
  if (variant.status === 200 && clientHasIt(request.headers, variant.headers, variant.fresh.responseTime)) {
    headers.delete('content-length')
    return new Response(null, { status: 304, headers })
  }
  const range = request.method === 'GET' && variant.status === 200 ? requestedRange(request.headers, variant.headers, variant.body.byteLength) : undefined
  if (range) {
    headers.set('content-range', `bytes ${range.start}-${range.end}/${variant.body.byteLength}`)
    headers.set('content-length', String(range.end - range.start + 1))
    return new Response(variant.body.subarray(range.start, range.end + 1), { status: 206, headers })
  }
  const bodiless = request.method === 'HEAD' || NULL_BODY_STATUSES.has(variant.status)
  if (!bodiless && !headers.has('content-length')) headers.set('content-length', String(variant.body.byteLength))
  return new Response(bodiless ? null : variant.body, { status: variant.status, statusText: variant.statusText, headers })
}

/**
 * The answer to `only-if-cached` when nothing stored satisfies the request: 504 (RFC 9111 §5.2.1.7), the one
 * 5xx a client's input is answered with, as the RFC defines it.
 */
function onlyIfCachedRefusal(): Response {
  const response = new GatewayError(504, 'ERR_CACHE_ONLY_IF_CACHED', 'no stored response satisfies the request (Cache-Control: only-if-cached)').getResponse()
  response.headers.set('x-cache', 'MISS')
  return response
}

/** Whether the stored response can be revalidated: it has an `ETag` or a `Last-Modified`. */
function hasValidators(variant: Variant): boolean {
  return variant.headers.has('etag') || variant.headers.has('last-modified')
}

/** The href of `value` resolved against `base`, when it is a URL on `base`'s origin; else `undefined`. */
function sameOriginUrl(value: string | null, base: URL): string | undefined {
  if (!value) return undefined
  try {
    const target = new URL(value, base)
    return target.origin === base.origin ? target.href : undefined
  } catch {
    return undefined
  }
}

/** Bytes of a header list as held in memory: names, values and a little per line. */
function headerBytes(headers: Headers): number {
  let bytes = 0
  for (const [name, value] of headers) bytes += name.length + value.length + 4
  return bytes
}

/** Sets `c.res` without Hono merging the previous response's headers into it (a 304's must not leak into a HIT). */
function replaceResponse(c: Context, response: Response): void {
  c.res = undefined
  c.res = response
}

/** Throws unless `value` is a positive integer number of bytes. */
function assertBytes(name: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new TypeError(`cache(): ${name} must be a positive integer number of bytes, got ${String(value)}`)
  }
}

/** A copy of `headers` without `names`. */
function withoutFields(headers: Headers, names: string[]): Headers {
  const copy = new Headers(headers)
  for (const name of names) copy.delete(name)
  return copy
}

/** The option's field names, lower-cased; throws unless each is a field name. */
function targetedFields(fields: readonly string[] | undefined): string[] {
  if (fields === undefined) return []
  if (!Array.isArray(fields) || !fields.every((field) => typeof field === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(field))) {
    throw new TypeError(`cache(): targetedCacheControl must be an array of field names such as 'CDN-Cache-Control', got ${JSON.stringify(fields)}`)
  }
  return fields.map((field) => field.toLowerCase())
}

/** Throws unless `value` is a non-negative integer. */
function assertCount(name: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) {
    throw new TypeError(`cache(): ${name} must be a non-negative integer, got ${String(value)}`)
  }
}
