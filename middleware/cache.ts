import { DEFAULT_CACHE_MAX_ENTRY_SIZE, DEFAULT_CACHE_MAX_SIZE } from '../src/defaults.ts'
import type { Context, MiddlewareHandler } from 'hono'
import CachePolicy from 'http-cache-semantics'
import { LRUCache } from 'lru-cache'
import { replaceRequest, type ForwardingVariables } from '../src/forward.ts'
import { headerTokens } from '../src/headers.ts'

/** Variants (different `Vary`-selected request headers) kept per URL; the oldest goes first. Bounds `Vary: User-Agent`. */
const MAX_VARIANTS = 16

/** Bytes counted per stored response on top of body and headers: the policy object and bookkeeping. */
const ENTRY_OVERHEAD = 512

/** Methods the cache answers; others pass through (RFC 9111 §2: GET is what caches store, HEAD answers from its own). */
const CACHEABLE_METHODS = new Set(['GET', 'HEAD'])

/** Methods that never invalidate (RFC 9110 §9.2.1); a successful response to any other invalidates the URL (RFC 9111 §4.4). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1, §15.3.6). */
const NULL_BODY_STATUSES = new Set([204, 205, 304])

/**
 * Request headers that make common origins answer for another host, URL, scheme or method (frameworks build
 * links from X-Forwarded-Host, IIS and Symfony route on X-Original-URL, many honour a method override), though
 * origins never name them in `Vary`. Keyed as if every response's `Vary` named them (RFC 9111 §4.1): a response
 * one client provoked with them, stored under the bare URL, would otherwise be served to every other client
 * (web cache poisoning). `normalizeHeaders()` sets X-Forwarded-Host and -Proto from the request's own URL, so
 * the clients of one URL still share its entry. `Forwarded` and X-Forwarded-For are left out: they carry the
 * client's address, and keying on them would give every client a copy of its own.
 */
const UNKEYED_BY_ORIGINS: ReadonlySet<string> = new Set([
  'x-forwarded-host',
  'x-forwarded-server',
  'x-forwarded-proto',
  'x-forwarded-scheme',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-host',
  'x-original-host',
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
])

/** A `Cache-Control` that makes a response cacheable explicitly (RFC 9111 §3): `max-age`, `s-maxage` or `public`. */
const EXPLICITLY_CACHEABLE = /(?:^|,)[ \t]*(?:max-age|s-maxage|public)[ \t]*(?:=|,|$)/i

/** Request headers that make a request conditional; the cache sends its own validators instead (RFC 9111 §4.3.1). */
const CONDITIONAL_HEADERS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range']

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
   * The clock freshness is computed with, ms since the epoch (tests inject one).
   * @default Date.now
   */
  now?: () => number
}

/** One stored response: a variant of a URL, selected by the request headers its `Vary` names. */
interface Variant {
  policy: CachePolicy
  status: number
  statusText: string
  body: Uint8Array<ArrayBuffer>
  /** Lower-cased header names the response's `Vary` lists. */
  vary: string[]
  /** Those headers' values in the request that stored it, and its {@link UNKEYED_BY_ORIGINS} headers (see `varyKey`). */
  varyKey: string
  /** Whether the response has an `ETag` or `Last-Modified`, so that a stale copy can be revalidated. */
  validators: boolean
  /** Bytes counted against `maxSize`. */
  size: number
}

/**
 * An HTTP cache (RFC 9111) in front of `http()` or `proxy()`, as a shared
 * cache: it honours `Cache-Control` (max-age, s-maxage, no-store, no-cache,
 * private, must-revalidate, and the request's no-cache/max-age/min-fresh/
 * max-stale), `Expires`, `Vary`, and revalidates a stale response with its
 * `ETag` (`If-None-Match`) or `Last-Modified` (`If-Modified-Since`). The
 * freshness rules are http-cache-semantics'; storage is an LRU bounded in
 * bytes (`maxSize`) with a cap per response (`maxEntrySize`). Responses
 * stream to the client while they are recorded; one that breaks off, or
 * outgrows the cap, is not stored.
 *
 * Every response carries `x-cache`:
 * - `HIT`: served from the cache — fresh, or stale and confirmed by the
 *   origin with `304 Not Modified` (a revalidated response counts as a HIT;
 *   its `Age` restarts). A client's own `If-None-Match`/`If-Modified-Since`
 *   is answered from the cache with 304 when it matches.
 * - `MISS`: the cache was consulted and the response came from the origin
 *   (stored when storable).
 * - `BYPASS`: the cache was not consulted — an upgrade request (any request
 *   carrying `Upgrade`; never served, never stored, passed on untouched so
 *   its Upgrade/Connection headers reach the origin), a request flagged by
 *   `cacheBypass()`, or a method other than GET/HEAD (whose success
 *   invalidates the URL's stored responses, RFC 9111 §4.4).
 *
 * There is no `STALE` or `REVALIDATED`: a stale response is never served
 * unless the client's `max-stale` allows it (then it is a HIT with its
 * `Age`); `stale-while-revalidate` and `stale-if-error` are not used (a
 * stale response is revalidated before it is served, and an origin error
 * is relayed).
 *
 * Keyed on the method and URL, and on the request headers that make origins
 * answer for another host or URL without naming them in `Vary`
 * ({@link UNKEYED_BY_ORIGINS}: X-Forwarded-Host, X-Original-URL, …), so a
 * response one client provoked with them never reaches another.
 *
 * Not stored: answers to requests with `Cookie` that only heuristic
 * freshness would make cacheable (no `max-age`, `s-maxage`, `public` or
 * `Expires`: the page may be the session's user's), responses with
 * `Set-Cookie` (one client's cookie must never
 * reach another), `Vary: *`, `private`, `no-store`, statuses the cache does
 * not understand (206 among them), and responses to requests with
 * `Authorization` unless `public`, `s-maxage` or `must-revalidate` allow it.
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
  const Policy = clockedPolicy(options.now ?? Date.now)
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

  /** Removes `variant` from `key` (a stale copy that can no longer be used). */
  function forget(key: string, variant: Variant): void {
    const variants = (store.peek(key) ?? []).filter((other) => other !== variant)
    if (variants.length > 0) store.set(key, variants)
    else store.delete(key)
  }

  /** The stored variant whose `Vary` headers match the request's, if any; `implicit` is the request's `implicitKey()`. */
  function lookup(key: string, headers: Headers, implicit: string): Variant | undefined {
    return store.get(key)?.find((variant) => variant.varyKey === varyKey(variant.vary, headers, implicit))
  }

  /**
   * Records the origin's response on its way to the client and stores it
   * once the body is complete, if it is storable and within `maxEntrySize`.
   */
  function recordMiss(c: Context, key: string, request: Request, policyRequest: CachePolicy.Request, implicit: string, stale: Variant | undefined): void {
    const response = c.res
    const policy = new Policy(policyRequest, { status: response.status, headers: toRecord(response.headers) }, { shared: true })
    const vary = headerTokens(response.headers.get('vary'))
    const declared = Number(response.headers.get('content-length') ?? 0)
    const storable =
      policy.storable() &&
      !response.headers.has('set-cookie') &&
      !vary.includes('*') &&
      !(declared > maxEntrySize) &&
      !c.error &&
      // A Cookie usually names a session, and the page may be that user's: heuristic freshness (RFC 9111 §4.2.2,
      // a response with Last-Modified and no Cache-Control) would serve it to the next user. Only an origin that
      // made the response cacheable itself (max-age, s-maxage, public, Expires) has it shared.
      (!request.headers.has('cookie') || response.headers.has('expires') || EXPLICITLY_CACHEABLE.test(response.headers.get('cache-control') ?? ''))
    if (stale && !storable) forget(key, stale)
    if (!storable) {
      c.header('x-cache', 'MISS')
      return
    }
    const storedVaryKey = varyKey(vary, request.headers, implicit)
    // What the entry holds besides its body, all counted against maxSize (an attacker picks URLs and request
    // headers freely): the response's headers, the key, the URL again in the policy, the Vary key, and, when the
    // response has a Vary, every request header (the policy keeps them to match later requests).
    const heldBytes =
      headerBytes(response.headers) +
      key.length +
      policyRequest.url!.length +
      storedVaryKey.length +
      (response.headers.has('vary') ? recordBytes(policyRequest.headers) : 0) +
      ENTRY_OVERHEAD
    const keep = (body: Uint8Array<ArrayBuffer>): void =>
      save(key, {
        policy,
        status: response.status,
        statusText: response.statusText,
        body,
        vary,
        varyKey: storedVaryKey,
        validators: response.headers.has('etag') || response.headers.has('last-modified'),
        size: body.byteLength + heldBytes,
      })
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
      if (!SAFE_METHODS.has(request.method) && c.res.status < 400) {
        // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its URL.
        const href = new URL(request.url).href
        for (const method of CACHEABLE_METHODS) store.delete(`${method} ${href}`)
      }
      c.header('x-cache', 'BYPASS')
      return
    }

    const url = new URL(request.url)
    const key = `${request.method} ${url.href}`
    const policyRequest: CachePolicy.Request = { url: url.pathname + url.search, method: request.method, headers: toRecord(request.headers) }
    // jwtAuth() removed the credentials it verified; the policy must still see an authenticated request (RFC 9111 §3.5).
    // (Only the policy: the request that goes to the origin never carries this stand-in.)
    if (c.get('authenticated') === true) policyRequest.headers = { authorization: 'credentials verified by the gateway', ...policyRequest.headers }
    const implicit = implicitKey(request.headers)
    const variant = lookup(key, request.headers, implicit)
    if (variant?.policy.satisfiesWithoutRevalidation(policyRequest)) {
      return fromCache(variant, variant.policy, request)
    }

    if (!variant?.validators) {
      await next()
      recordMiss(c, key, request, policyRequest, implicit, variant)
      return
    }

    // Stale (or the client asked for no-cache): ask the origin whether our copy is still good, with our validators only.
    // Built from the request's own headers, not the policy's (whose Authorization may be the stand-in above).
    const unconditional = { ...policyRequest, headers: toRecord(request.headers) }
    for (const name of CONDITIONAL_HEADERS) delete unconditional.headers[name]
    replaceRequest(c, { headers: toHeaders(variant.policy.revalidationHeaders(unconditional)) })
    await next()
    const answer = c.res
    if (answer.status !== 304) {
      recordMiss(c, key, request, policyRequest, implicit, variant)
      return
    }
    await answer.body?.cancel().catch(() => {})
    const revalidated = variant.policy.revalidatedPolicy(policyRequest, { status: 304, headers: withValidatorsOf(variant, answer.headers) })
    // A 304 answers the validators we sent; the library reuses the stored body even when the 304's validator differs
    // (there is no other body to use), but such a copy is not kept.
    const updated = revalidated.matches ? { ...variant, policy: revalidated.policy } : variant
    if (revalidated.matches) save(key, updated)
    else forget(key, variant)
    replaceResponse(c, fromCache(updated, updated.policy, request))
  }
}

/**
 * The stored response as served: its headers updated by the policy (`Age`,
 * `Date`, fields a 304 refreshed), `x-cache: HIT`, and a 304 instead when
 * the client's own conditional request matches (RFC 9110 §13.1.2, §13.1.3).
 */
function fromCache(variant: Variant, policy: CachePolicy, request: Request): Response {
  const headers = toHeaders(policy.responseHeaders())
  headers.set('x-cache', 'HIT')
  if (variant.status === 200 && notModified(request.headers, headers)) {
    headers.delete('content-length')
    return new Response(null, { status: 304, headers })
  }
  const bodiless = request.method === 'HEAD' || NULL_BODY_STATUSES.has(variant.status)
  if (!bodiless && !headers.has('content-length')) headers.set('content-length', String(variant.body.byteLength))
  return new Response(bodiless ? null : variant.body, { status: variant.status, statusText: variant.statusText, headers })
}

/** Whether a client's `If-None-Match` (or, without it, `If-Modified-Since`) matches the stored response. */
function notModified(request: Headers, response: Headers): boolean {
  const ifNoneMatch = request.get('if-none-match')
  if (ifNoneMatch !== null) {
    const etag = response.get('etag')
    if (etag === null) return false
    // Weak comparison (RFC 9110 §8.8.3.2): W/ prefixes do not count.
    const tags = ifNoneMatch.split(',').map((tag) => tag.trim().replace(/^W\//, ''))
    return tags.includes('*') || tags.includes(etag.replace(/^W\//, ''))
  }
  const since = Date.parse(request.get('if-modified-since') ?? '')
  const modified = Date.parse(response.get('last-modified') ?? '')
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since
}

/**
 * The 304's headers for the policy update, with the stored validators filled
 * in when the 304 repeats none: the origin was asked about exactly those,
 * so it answered for them (RFC 9111 §4.3.4 selects the stored response).
 */
function withValidatorsOf(variant: Variant, headers: Headers): CachePolicy.Headers {
  const record = toRecord(headers)
  if (record.etag === undefined && record['last-modified'] === undefined) {
    const stored = variant.policy.responseHeaders()
    if (typeof stored.etag === 'string') record.etag = stored.etag
    if (typeof stored['last-modified'] === 'string') record['last-modified'] = stored['last-modified']
  }
  return record
}

/**
 * The request headers a variant's `Vary` names, with their values, as one comparable string (absent ≠ empty),
 * then the request's `implicitKey()`.
 */
function varyKey(fields: string[], headers: Headers, implicit: string): string {
  return fields.map((name) => `${name}\u0000${headers.get(name) ?? '\u0001'}`).join('\n') + implicit
}

/** The request's {@link UNKEYED_BY_ORIGINS} headers with their values, as one comparable string; '' without any (most requests). */
function implicitKey(headers: Headers): string {
  let key = ''
  for (const [name, value] of headers) if (UNKEYED_BY_ORIGINS.has(name)) key += `\n\u0002${name}\u0000${value}`
  return key
}

/** Bytes of a header list as held in memory: names, values and a little per line. */
function headerBytes(headers: Headers): number {
  let bytes = 0
  for (const [name, value] of headers) bytes += name.length + value.length + 4
  return bytes
}

/** {@link headerBytes} of a header record. */
function recordBytes(record: Record<string, string | string[] | undefined>): number {
  let bytes = 0
  for (const [name, value] of Object.entries(record)) bytes += name.length + String(value ?? '').length + 4
  return bytes
}

/** Bytes that responses being recorded hold together, and their bound. */
interface RecordingBudget {
  held: number
  readonly max: number
}

/**
 * Passes `body` through, keeping its bytes up to `limit` and while `budget` allows; calls `done` with them if it
 * ends within both. Bytes kept count in `budget` until the body ends, breaks off or is cancelled (a reader of
 * its own rather than a TransformStream, whose `cancel` hook not every runtime calls).
 */
function recording(body: ReadableStream<Uint8Array>, limit: number, budget: RecordingBudget, done: (bytes: Uint8Array<ArrayBuffer>) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let chunks: Uint8Array[] | undefined = []
  let size = 0
  // Set once the client cancelled: a read still pending then ends as if the body were complete, and must not store it.
  let cancelled = false
  const release = (): void => {
    if (!chunks) return
    budget.held -= size
    chunks = undefined
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>
      try {
        next = await reader.read()
      } catch (error) {
        // The origin's body broke off: nothing is stored.
        release()
        if (!cancelled) controller.error(error)
        return
      }
      if (next.done) {
        if (chunks) {
          const bytes = new Uint8Array(size)
          let offset = 0
          for (const chunk of chunks) {
            bytes.set(chunk, offset)
            offset += chunk.byteLength
          }
          release()
          done(bytes)
        }
        if (!cancelled) controller.close()
        return
      }
      if (cancelled) return
      const chunk = next.value
      if (chunks) {
        if (size + chunk.byteLength > limit || budget.held + chunk.byteLength > budget.max) release()
        else {
          size += chunk.byteLength
          budget.held += chunk.byteLength
          chunks.push(chunk)
        }
      }
      controller.enqueue(chunk)
    },
    // The client left: nothing is stored.
    cancel(reason) {
      cancelled = true
      release()
      return reader.cancel(reason)
    },
  })
}

/** Sets `c.res` without Hono merging the previous response's headers into it (a 304's must not leak into a HIT). */
function replaceResponse(c: Context, response: Response): void {
  c.res = undefined
  c.res = response
}

/** Lower-cased header record for http-cache-semantics; `Set-Cookie` is left out (such responses are never stored). */
function toRecord(headers: Headers): Record<string, string> {
  const record: Record<string, string> = {}
  for (const [name, value] of headers) if (name !== 'set-cookie') record[name] = value
  return record
}

/** Web Headers from an http-cache-semantics header record. */
function toHeaders(record: CachePolicy.Headers): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(record)) {
    if (value === undefined) continue
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item)
  }
  return headers
}

/** A CachePolicy class whose clock is `now` (the library reads time through its `now()` method). */
function clockedPolicy(now: () => number): typeof CachePolicy {
  return class ClockedPolicy extends CachePolicy {
    now(): number {
      return now()
    }
  }
}

/** Throws unless `value` is a positive integer number of bytes. */
function assertBytes(name: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new TypeError(`cache(): ${name} must be a positive integer number of bytes, got ${String(value)}`)
  }
}
