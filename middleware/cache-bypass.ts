import type { Context, MiddlewareHandler } from 'hono'
import type { ForwardingVariables } from '../src/forward.ts'

/** Options of {@link cacheBypass}. */
export interface CacheBypassOptions {
  /**
   * Also keep these requests away from the cache (neither answered from it
   * nor stored), e.g. authenticated or personalised ones. Upgrade requests
   * bypass the cache whatever it returns.
   * @default none: only upgrade requests bypass
   */
  when?: (c: Context) => boolean | Promise<boolean>
}

/**
 * Guarantees that an upgrade request is never answered from, or stored in,
 * an HTTP cache on its route, and reaches the origin with its `Upgrade` and
 * `Connection` headers: it sets `c.set('cacheBypass', true)` for every
 * request carrying an `Upgrade` header (and for those `when` picks), and
 * `cache()` then passes the request down the chain untouched, answering
 * with `x-cache: BYPASS`. (Azure Front Door fails the upgrade on a cached
 * route; wsgate does not.) Place it before `cache()`. `cache()` also
 * refuses upgrade requests on its own; this flag is the contract other
 * caches and user middleware can read.
 *
 * Sets `cacheBypass` ({@link ForwardingVariables}).
 *
 * @example
 * app.all('/live', cacheBypass(), cache({ maxSize: 50_000_000 }), proxy('ws://127.0.0.1:9000'))
 * app.all('/me/*', cacheBypass({ when: (c) => c.req.header('authorization') !== undefined }), cache(), http('http://127.0.0.1:9000'))
 */
export function cacheBypass(options: CacheBypassOptions = {}): MiddlewareHandler<{ Variables: ForwardingVariables }> {
  const { when } = options
  if (when !== undefined && typeof when !== 'function') {
    throw new TypeError(`cacheBypass(): when must be a function (c) => boolean, got ${typeof when}`)
  }

  return async function cacheBypass(c, next) {
    if (c.req.raw.headers.has('upgrade') || (when !== undefined && (await when(c)))) c.set('cacheBypass', true)
    await next()
  }
}
