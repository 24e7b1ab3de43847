/**
 * What RFC 9111 says about one response for a shared cache: whether it may be stored (§3, §3.5), its freshness
 * lifetime (§4.2.1, §4.2.2), its age (§4.2.3), and whether a request may be answered with it (§4.2.4, §5.2.1).
 * Replaces http-cache-semantics, which revalidated fresh `must-revalidate` and `proxy-revalidate` responses on
 * every request, read directive names case-sensitively (`No-Store` and `PRIVATE` were stored and shared),
 * took `max-age=100a` for 100, let a negative `Age` make a response fresher, rewrote `Date`, dropped fields
 * a 304 added, and refused every status outside a fixed list even with explicit freshness.
 * @module
 */
import { deltaSeconds, fieldNames, parseDirectives, type Directives } from './directives.ts'
import { parseHttpDate } from './http-date.ts'

/** Statuses cacheable by heuristic freshness (RFC 9110 §15.1), 206 aside: partial responses are never stored here. */
const HEURISTICALLY_CACHEABLE = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])

/** Statuses whose semantics this cache understands, for `must-understand` (RFC 9111 §5.2.2.3). */
const UNDERSTOOD = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501])

/** Heuristic freshness is a tenth of the time since Last-Modified (RFC 9111 §4.2.2), at most a day. */
const HEURISTIC_FRACTION = 0.1
const HEURISTIC_MAX_SECONDS = 86_400

/** What freshness needs of a stored response, computed once when it is stored or refreshed by a 304. */
export interface Freshness {
  /** Freshness lifetime in seconds (RFC 9111 §4.2.1). */
  readonly lifetime: number
  /** The age it had when it arrived, in seconds: its `Age` plus the time the origin took to answer. */
  readonly initialAge: number
  /** When it arrived, ms since the epoch on the cache's clock. */
  readonly responseTime: number
  /** Must be validated before every reuse: unqualified `no-cache`, or `Pragma: no-cache` without `Cache-Control`. */
  readonly noCache: boolean
  /** Never served stale, whatever the client allows: `must-revalidate`, `proxy-revalidate`, `s-maxage` (§5.2.2.2, §5.2.2.8, §5.2.2.10). */
  readonly neverStale: boolean
}

/** What storing a response depends on in the request that brought it. */
export interface StoringRequest {
  /** The request's directives ({@link requestDirectives}). */
  readonly directives: Directives
  /** It carried `Authorization`, or a middleware verified and removed its credentials. */
  readonly authenticated: boolean
  /** It carried `Cookie`. */
  readonly cookie: boolean
}

/**
 * Whether a shared cache may store the response (RFC 9111 §3): no `no-store` in request or response, no
 * `private` (qualified or not: a field list is treated as the whole response), a final status other than 206
 * and 304, a status the cache understands when `must-understand` is present, and explicit freshness
 * (`Expires`, `max-age`, `s-maxage`, `public`) or a heuristically cacheable status. An authenticated request's
 * answer only with `public`, `s-maxage` or `must-revalidate` (§3.5). Deliberately stricter than the RFC: an
 * answer to a request with `Cookie` only with explicit freshness (the page may be the session's user's).
 */
export function isStorable(request: StoringRequest, status: number, headers: Headers, directives: Directives): boolean {
  if (request.directives.has('no-store') || directives.has('no-store') || directives.has('private')) return false
  if (status < 200 || status > 599 || status === 206 || status === 304) return false
  if (directives.has('must-understand') && !UNDERSTOOD.has(status)) return false
  if (request.authenticated && !(directives.has('public') || directives.has('s-maxage') || directives.has('must-revalidate'))) return false
  const explicit = isExplicitlyCacheable(headers, directives)
  if (request.cookie && !explicit) return false
  return explicit || HEURISTICALLY_CACHEABLE.has(status)
}

/** Whether the origin made the response cacheable itself: `Expires`, `max-age`, `s-maxage` or `public`. */
export function isExplicitlyCacheable(headers: Headers, directives: Directives): boolean {
  return headers.has('expires') || directives.has('max-age') || directives.has('s-maxage') || directives.has('public')
}

/**
 * The freshness of a response received at `responseTime` for a request sent at `requestTime` (both on the
 * cache's clock). The lifetime is `s-maxage`, else `max-age` (an invalid value counts as 0: already stale),
 * else `Expires` minus `Date` (an invalid `Expires` is already expired; without a valid `Date`, the time it
 * arrived), else, for a heuristically cacheable status or `public`, 10% of `Date` minus `Last-Modified` (at
 * most a day). The initial age is the `Age` header (its first value, digits only, else 0: a negative or
 * garbled `Age` never makes a response fresher) plus the time the origin took. Deliberately, `Date` is not
 * used to age a response (RFC 9111's apparent_age): the origin's clock is not the cache's, and a skewed one
 * would make every response stale or fresh for too long; `Age` is the origin's own statement.
 */
export function freshness(status: number, headers: Headers, directives: Directives, requestTime: number, responseTime: number): Freshness {
  return {
    lifetime: freshnessLifetime(status, headers, directives, responseTime),
    initialAge: ageValue(headers.get('age')) + Math.max(0, responseTime - requestTime) / 1000,
    responseTime,
    // no-cache="field, …" only keeps those fields from being stored (stored-headers.ts); an empty list is the unqualified form.
    noCache: fieldNames(directives, 'no-cache')?.length === 0 || (!headers.has('cache-control') && /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(headers.get('pragma') ?? '')),
    neverStale: directives.has('must-revalidate') || directives.has('proxy-revalidate') || directives.has('s-maxage'),
  }
}

/** The response's current age in seconds at `now` (RFC 9111 §4.2.3): its initial age plus its time in the cache. */
export function currentAge(fresh: Freshness, now: number): number {
  return fresh.initialAge + Math.max(0, now - fresh.responseTime) / 1000
}

/**
 * The request's `Cache-Control` directives; without `Cache-Control`, `Pragma: no-cache` counts as
 * `no-cache` (RFC 7234 §5.4: what HTTP/1.0 clients send to force a reload).
 */
export function requestDirectives(headers: Headers): Directives {
  const value = headers.get('cache-control')
  if (value === null && /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(headers.get('pragma') ?? '')) return new Map([['no-cache', true]])
  return parseDirectives(value)
}

/**
 * How a stored response may answer a request (RFC 9111 §4.2.4, §5.2.1): `serve` when it is fresh enough for
 * the request (`max-age`, `min-fresh`), or stale within the request's `max-stale` and not forbidden to be
 * served stale; otherwise `validate`. `no-cache` in the request or the response always validates.
 * `must-revalidate` only forbids serving it stale: a fresh one is served.
 */
export function reuse(fresh: Freshness, request: Directives, now: number): 'serve' | 'validate' {
  if (fresh.noCache || request.has('no-cache')) return 'validate'
  const age = currentAge(fresh, now)
  const maxAge = deltaSeconds(request, 'max-age')
  if (maxAge !== undefined && age > maxAge) return 'validate'
  const minFresh = deltaSeconds(request, 'min-fresh')
  if (minFresh !== undefined && fresh.lifetime - age < minFresh) return 'validate'
  if (fresh.lifetime > age) return 'serve'
  if (fresh.neverStale || !request.has('max-stale')) return 'validate'
  if (request.get('max-stale') === true) return 'serve'
  const maxStale = deltaSeconds(request, 'max-stale')
  return maxStale !== undefined && age - fresh.lifetime <= maxStale ? 'serve' : 'validate'
}

/** The freshness lifetime in seconds (see {@link freshness}). */
function freshnessLifetime(status: number, headers: Headers, directives: Directives, responseTime: number): number {
  if (directives.has('s-maxage')) return deltaSeconds(directives, 's-maxage') ?? 0
  if (directives.has('max-age')) return deltaSeconds(directives, 'max-age') ?? 0
  const date = parseHttpDate(headers.get('date')) ?? responseTime
  if (headers.has('expires')) {
    const expires = parseHttpDate(headers.get('expires'))
    return expires === undefined ? 0 : Math.max(0, (expires - date) / 1000)
  }
  if (!HEURISTICALLY_CACHEABLE.has(status) && !directives.has('public')) return 0
  const lastModified = parseHttpDate(headers.get('last-modified'))
  if (lastModified === undefined || lastModified >= date) return 0
  return Math.min(HEURISTIC_MAX_SECONDS, ((date - lastModified) / 1000) * HEURISTIC_FRACTION)
}

/** An `Age` value in seconds: its first member if it is digits only, else 0 (RFC 9111 §5.1); at most 2^31. */
function ageValue(value: string | null): number {
  const first = (value ?? '').split(',')[0]!.trim()
  return /^[0-9]+$/.test(first) ? Math.min(Number(first), 2_147_483_648) : 0
}
