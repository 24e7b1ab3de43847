import type { Context } from 'hono'
import { HeadHeaders } from './head-headers.ts'
import { forwardsToOrigin } from './headers.ts'
import type { GatewayBindings } from './runtime.ts'

/**
 * How handshake middleware hand a changed request down the chain, and how
 * handlers turn the final request into what goes to the origin. Middleware
 * never mutate the incoming request's headers in place: they replace
 * `c.req.raw` with a copy, so every later step (and the log) sees one
 * consistent request.
 */

/** What a middleware may change in the request that continues down the chain. */
export interface RequestChanges {
  /** The new URL (e.g. with a token query parameter removed). */
  url?: URL | string
  /** The new header list, replacing the old one entirely. */
  headers?: Headers
}

/**
 * Replaces the request the rest of the chain sees with a copy that has the
 * given URL and/or headers. The body (if any) moves to the copy unread.
 *
 * @example
 * const headers = new Headers(c.req.raw.headers)
 * headers.delete('authorization')
 * replaceRequest(c, { headers })
 */
export function replaceRequest(c: Context, changes: RequestChanges): void {
  const current = c.req.raw
  // A host's lazy request (Node's upgrade path) makes its own copy, as lazy as itself.
  const lazy = (current as Partial<LazyRequest>)[WITH_CHANGES]
  if (lazy) {
    c.req.raw = lazy.call(current, changes)
    return
  }
  const init: RequestInit & { duplex?: 'half' } = { headers: changes.headers ?? current.headers }
  if (current.body) init.duplex = 'half'
  // A plain request's copy carries the client's abort signal (http() watches it to see the client leave).
  // An upgrade's never fires (the runtime's own signal says the client left): a copy following it would pay
  // a FinalizationRegistry entry and an abort listener (~5 µs) for nothing, once per middleware that replaces.
  init.signal = isUpgrade(c) ? null : current.signal
  c.req.raw = new Request(changes.url ? String(changes.url) : current, changes.url ? { ...init, method: current.method, body: current.body } : init)
}

/**
 * The method by which a host's lazily built request (one that answers
 * `url`, `method` and `headers` itself and makes a real `Request` only when
 * asked for more) makes the copy {@link replaceRequest} would: `new
 * Request(lazy, init)` cannot read such a request, and would make a real one
 * out of what only needs to stay lazy.
 */
export const WITH_CHANGES: unique symbol = Symbol('wsgate.withChanges')

/** A request that copies itself for {@link replaceRequest}; see {@link WITH_CHANGES}. */
export interface LazyRequest {
  [WITH_CHANGES](changes: RequestChanges): Request
}

/** The request arrived as an HTTP upgrade (the wsgate runtime offers its upgrade path). */
function isUpgrade(c: Context): boolean {
  return (c.env as Partial<GatewayBindings> | undefined)?.wsgate?.upgrade !== undefined
}

/**
 * Context variables through which handshake middleware steer the handlers.
 * Each middleware documents which it sets; handlers read them with `c.get`.
 */
export interface ForwardingVariables {
  /** Send the client's `Host` to the origin (set by `normalizeHeaders({ preserveHost: true })`). */
  preserveHost?: boolean
  /**
   * The client's address, canonical (set by `normalizeHeaders()`): the
   * socket's peer, or, when that is a trusted proxy, the rightmost
   * `X-Forwarded-For` address that is not one. `rateLimit()` counts by it.
   */
  clientAddress?: string
  /** The cache must neither answer nor store this request (set by `cacheBypass()`). */
  cacheBypass?: boolean
  /** When the connection must end, ms since the epoch (set by `jwtAuth()`: the token's `exp` plus its `clockTolerance`); NaN or a non-number is ignored, a time past a `Date`'s range is that range's end. */
  connectionExpiresAt?: number
  /**
   * Close the connection with 1008 `token expired` at `connectionExpiresAt`
   * rather than only log it (set by `jwtAuth({ closeOnTokenExpiry: true })`).
   */
  closeOnConnectionExpiry?: boolean
  /**
   * The request carried credentials that a middleware verified and then
   * removed (set by `jwtAuth()`). A shared cache must treat it as a request
   * with `Authorization` (RFC 9111 §3.5), or one user's response would be
   * served to another.
   */
  authenticated?: boolean
}

/**
 * The headers that go to the origin: the request's own minus hop-by-hop
 * headers (RFC 9110 §7.6.1), with `Host` set to the origin's authority
 * unless the client's is to be preserved. Built in one pass over the
 * request's headers: copying them all and deleting the hop-by-hop ones after
 * costs a dozen more header-list operations per request.
 *
 * The headers the client's `Connection` named are not looked at here: the
 * head parse removed them before the chain ran (src/request-head.ts), so a
 * header the chain set itself (an identity header after authentication)
 * always reaches the origin, whatever the client put in `Connection`.
 */
export function forwardHeaders(request: Request, target: URL, preserveHost: boolean): Headers {
  const source = request.headers
  // The head's own lines (Node's upgrade path): the copy stays lines too.
  if (source instanceof HeadHeaders) return source.forwarded(preserveHost ? undefined : target.host) as unknown as Headers
  const headers = new Headers()
  for (const [name, value] of source) if (forwardsToOrigin(name, !preserveHost)) headers.append(name, value)
  if (!preserveHost) headers.set('host', target.host)
  return headers
}

/** The latest time a `Date` holds (ECMAScript's time value range): ms since the epoch. */
export const LATEST_DATE = 8.64e15

/**
 * A `connectionExpiresAt` any middleware set, as the pipe and the log can
 * take it: a number within a `Date`'s range (a later one is that latest
 * date, a never-ending expiry in effect), or undefined for what is not a
 * time at all (NaN, a string). Written into the close log line as an ISO
 * date, a value out of range would throw there, once the connection ends.
 *
 * @example
 * connectionExpiry(Infinity) // 8.64e15
 * connectionExpiry(NaN) // undefined
 */
export function connectionExpiry(value: unknown): number | undefined {
  if (typeof value !== 'number' || Number.isNaN(value)) return undefined
  return Math.min(Math.max(value, -LATEST_DATE), LATEST_DATE)
}
