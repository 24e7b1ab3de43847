import type { Context, MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { DEFAULT_RETRY_AFTER } from './defaults.ts'
import { GatewayError } from './errors.ts'
import { checkOriginUpgrade, validateClientHandshake } from './handshake.ts'
import { connectionExpiry, forwardHeaders, type ForwardingVariables } from './forward.ts'
import { isPending, releaseQuietly, type LimitStore } from './limit-store.ts'
import { assertDuration, assertJitter } from './limits.ts'
import { originUrl } from './target.ts'
import type { GatewayBindings, OriginTls, PipeLimits } from './runtime.ts'
import { throughPool } from './origins/failover.ts'
import { toPool, withPools, type OriginPool, type PoolOrigin } from './origins/pool.ts'
import { withWarnings } from './warnings.ts'
import { hostNeed, withHostNeeds, type HostNeed } from './host-needs.ts'

// Moved to ./target.ts (shared with http() and proxy()); re-exported for existing importers.
export { originUrl } from './target.ts'

/** Options of {@link websocket}. Limits left unset take the gateway's values from `serve()`. */
export interface WebSocketOptions extends PipeLimits {
  /**
   * Append the client's path to the target's path (`ws://o/base` + `/chat` → `/base/chat`).
   * @default true
   */
  appendPath?: boolean
  /**
   * Append the client's query string to the target's.
   * @default true
   */
  appendQuery?: boolean
  /**
   * Send the client's `Host` to the origin instead of the origin's own host.
   * @default false, or what `normalizeHeaders({ preserveHost })` set for the request
   */
  preserveHost?: boolean
  /** Time the origin has to connect and answer the upgrade, ms. @default the gateway's (10 s) */
  handshakeTimeout?: number
  /**
   * Concurrent connections on this route (open plus handshaking); beyond it
   * 503 `ERR_CONNECTION_LIMIT`. Counted in the gateway's store under the
   * route's pattern: with a shared store (`redisStore()`), across every
   * gateway process using it; in memory, in this process.
   * @default no route cap (the gateway's cap applies)
   */
  maxConnections?: number
  /** `Retry-After` seconds sent with the route's 503. @default 5 */
  retryAfter?: number
  /**
   * For a `wss://`/`https://` target: how the origin's certificate is verified. With a pool, give it to `origins()` instead.
   * @default the system CAs, the origin's host as SNI and name
   */
  tls?: OriginTls
  /**
   * Follow frame boundaries (headers only, never payloads) so that the
   * gateway's own closes — idle, lifetime, drain, shutdown, token expiry —
   * reach both sides as close frames (1001, or 1008 for an expired token)
   * and the log says who closed with which code. `false` relays blindly:
   * those closes drop the TCP connection (clients see 1006) and the log
   * cannot tell a client's close frame from an origin's.
   * @default true
   */
  closeFrames?: boolean
}

/**
 * The terminal handler of a WebSocket route: validates the client's
 * handshake (RFC 6455 §4.2.1), opens the upgrade to the origin with canonical
 * `Upgrade`/`Connection` headers, checks the origin's 101 and hands both
 * sockets to the runtime's raw pipe. A non-101 origin answer is relayed to
 * the client as it came.
 *
 * With a pool (`origins()`), the pool picks the origin; a refused, reset,
 * timed-out or TLS-failed origin is retried on the next eligible one before
 * the client gets anything (at most the pool's `retries`, within the
 * handshake timeout: each attempt gets the time left), so the client sees
 * one 101 or one 502/504 naming the last cause. A non-101 answer is relayed,
 * not retried (a 5xx one counts against the origin's health). Every origin
 * down: 503 `ERR_ORIGIN_DOWN` with `Retry-After`, without a connect attempt.
 * The log line names the origin actually used.
 *
 * @param target the origin, `ws://host:port/path` (or `wss://`, `http://`, `https://`), or a pool from `origins()`
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/chat', websocket('ws://127.0.0.1:9001', { idleTimeout: 60_000 }))
 * app.all('/game', websocket(origins(['ws://10.0.0.5:7000', 'ws://10.0.0.6:7000'], { strategy: 'least-connections' })))
 */
export function websocket(target: string | URL | OriginPool, options: WebSocketOptions = {}): MiddlewareHandler<{ Bindings: GatewayBindings; Variables: ForwardingVariables }> {
  const pool = toPool(target, 'websocket()', options.tls)
  // A plain target is noted up front, as it always was; a pool's origin is noted per attempt.
  const originLabel = pool.fixed ? pool.first.label : undefined
  for (const name of ['idleTimeout', 'maxLifetime', 'handshakeTimeout'] as const) {
    assertDuration(name, options[name], 'websocket()')
  }
  assertJitter(options.lifetimeJitter, 'websocket()')
  for (const name of ['maxConnections', 'retryAfter'] as const) {
    const value = options[name]
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new TypeError(`websocket(): ${name} must be a positive integer, got ${String(value)}`)
    }
  }
  if (options.closeFrames !== undefined && typeof options.closeFrames !== 'boolean') {
    throw new TypeError(`websocket(): closeFrames must be a boolean, got ${String(options.closeFrames)}`)
  }
  const limits: PipeLimits = {
    idleTimeout: options.idleTimeout,
    maxLifetime: options.maxLifetime,
    lifetimeJitter: options.lifetimeJitter,
    closeFrames: options.closeFrames,
  }
  const retryAfter = String(options.retryAfter ?? DEFAULT_RETRY_AFTER)
  // In-flight handshakes plus open pipes of this route, for maxConnections.
  const count: RouteCount = { active: 0 }

  const handler = async function websocket(c: Context<{ Bindings: GatewayBindings; Variables: ForwardingVariables }>) {
    const runtime = c.env?.wsgate
    if (!runtime) {
      throw new GatewayError(500, 'ERR_RUNTIME_MISSING', 'websocket() runs only under a wsgate runtime (serve() or the CLI)')
    }
    runtime.note(originLabel === undefined ? { route: routePath(c) } : { route: routePath(c), origin: originLabel })
    const request = c.req.raw
    const client = validateClientHandshake({ method: request.method, httpVersion: runtime.httpVersion, headers: request.headers })
    const slot = runtime.upgrade
    if (!slot) throw new GatewayError(400, 'ERR_HANDSHAKE_UPGRADE', 'request did not arrive as an HTTP upgrade')
    // The route's cap counts in the gateway's store (shared by every process using it), else here.
    const store = options.maxConnections !== undefined ? runtime.limitStore : undefined
    const routeSlot = store && routeConnectionsKey(routePath(c))
    if (options.maxConnections !== undefined) {
      let admitted = store ? store.acquire(routeSlot!, options.maxConnections) : count.active < options.maxConnections
      if (isPending(admitted)) admitted = await admitted
      if (!admitted) {
        throw new GatewayError(503, 'ERR_CONNECTION_LIMIT', 'route connection limit reached, retry later', {
          headers: { 'retry-after': retryAfter },
        })
      }
    }

    count.active++
    const release = routeRelease(count, store, routeSlot)
    let handedOver = false
    try {
      const incoming = new URL(request.url)
      const preserveHost = options.preserveHost ?? c.get('preserveHost') ?? false
      const { origin, value: answer } = await throughPool(
        pool,
        c,
        {
          budget: options.handshakeTimeout ?? runtime.handshakeTimeout,
          retry: true,
          clientGone: () => runtime.signal?.aborted === true,
          note: pool.fixed ? noteNothing : (origin, failed) => runtime.note(failed ? { origin: origin.label, failover: failed } : { origin: origin.label }),
        },
        (origin, timeout) => {
          const url = originUrl(origin.base, incoming, options)
          return runtime.connectOrigin({ url, headers: upgradeHeaders(request, url, preserveHost), timeout, ...(origin.tls ? { tls: origin.tls } : {}) })
        },
      )
      if (!answer.upgraded) {
        // Relayed, not retried: the origin is up and has said no. A 5xx still counts against its health.
        if (answer.response.status >= 500) pool.failed(origin, `status ${answer.response.status}`)
        else pool.succeeded(origin)
        return answer.response
      }
      try {
        checkOriginUpgrade(client, answer.headers, answer.platformHandshake === true, runtime.crypto)
      } catch (error) {
        answer.tunnel.close()
        // A 101 no client would take (a wrong accept value, an extension not offered) is a broken origin for passive health.
        pool.failed(origin, error instanceof GatewayError ? `${error.code}: ${error.message}` : String(error))
        throw error
      }
      pool.succeeded(origin)
      handedOver = true
      pool.acquire(origin)
      const expiresAt = connectionExpiry(c.get('connectionExpiresAt'))
      return slot.accept(answer, {
        ...limits,
        ...(expiresAt !== undefined ? { expiresAt, closeOnExpiry: c.get('closeOnConnectionExpiry') === true } : {}),
        onClose: connectionRelease(release, pool, origin),
      })
    } finally {
      if (!handedOver) release()
    }
  }
  return withHostNeeds(withWarnings(withPools(handler, [pool]), pool.warnings), pipeHostNeeds(options, 'websocket'))
}

/**
 * What `websocket()`'s options (and `proxy()`'s, the same ones) ask of the
 * host, for `withHostNeeds`. Limits left unset mean the host's own, so only
 * the ones given count. `closeFrames: true` needs a pipe that can put close
 * frames on the wire; `false` asks for none of the gateway's own close
 * frames, which a host without them already honours.
 *
 * @param factory the handler as the user called it: `websocket` or `proxy`
 * @example
 * pipeHostNeeds({ idleTimeout: 60_000 }, 'websocket') // [{ capability: 'pipe-timers', option: 'websocket({ idleTimeout })' }]
 */
export function pipeHostNeeds(options: WebSocketOptions, factory: string): HostNeed[] {
  const needs: HostNeed[] = []
  for (const name of ['idleTimeout', 'maxLifetime', 'lifetimeJitter'] as const) {
    if (options[name] !== undefined) needs.push(hostNeed('pipe-timers', factory, name))
  }
  // The count is given back when the connection ends, which only a host that sees the end can do.
  if (options.maxConnections !== undefined) needs.push(hostNeed('connection-tracking', factory, 'maxConnections'))
  if (options.closeFrames === true) needs.push(hostNeed('close-frames', factory, 'closeFrames: true'))
  return needs
}

/** The store key of one route's connection count: its pattern, as `routePath()` names it. */
export function routeConnectionsKey(route: string): string {
  return `route:${route}:connections`
}

/** A route's in-flight handshakes plus open pipes, for `maxConnections` without a store. */
interface RouteCount {
  active: number
}

/*
 * The two callbacks below outlive the handshake: the pipe holds them until the
 * connection ends. Made inside the handler, a closure keeps the handler's whole
 * scope alive with it (V8 keeps one context per scope, holding every variable
 * any closure in it uses): the Web Request and its headers, the URL, the runtime
 * with its IncomingMessage, per idle connection. Made here, they hold only what
 * they use.
 */

/** Gives back the route's count (and its store slot) once. */
function routeRelease(count: RouteCount, store: LimitStore | undefined, routeSlot: string | undefined): () => void {
  return () => {
    count.active--
    if (store) releaseQuietly(store, routeSlot!)
  }
}

/** The connection's end: the route's count and the origin's in its pool. */
function connectionRelease(release: () => void, pool: OriginPool, origin: PoolOrigin): () => void {
  return () => {
    release()
    pool.release(origin)
  }
}

/** The note of a plain target's attempt: its origin was noted up front. */
function noteNothing(): void {}

/** The forwarded headers plus the canonical upgrade pair RFC 6455 §4.1 asks for, whatever the client's casing or extra tokens. */
function upgradeHeaders(request: Request, url: URL, preserveHost: boolean): Headers {
  const headers = forwardHeaders(request, url, preserveHost)
  // forwardHeaders() dropped both (hop-by-hop), so appending sets them.
  headers.append('upgrade', 'websocket')
  headers.append('connection', 'upgrade')
  return headers
}
