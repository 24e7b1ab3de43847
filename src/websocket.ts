import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { DEFAULT_RETRY_AFTER } from './defaults.ts'
import { GatewayError } from './errors.ts'
import { checkOriginUpgrade, validateClientHandshake } from './handshake.ts'
import { forwardHeaders, type ForwardingVariables } from './forward.ts'
import { assertDuration, assertJitter } from './limits.ts'
import { originUrl, parseTarget } from './target.ts'
import type { GatewayBindings, PipeLimits } from './runtime.ts'

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
  /** Concurrent connections on this route in this process; beyond it 503. @default no route cap (the gateway's cap applies) */
  maxConnections?: number
  /** `Retry-After` seconds sent with the route's 503. @default 5 */
  retryAfter?: number
}

/**
 * The terminal handler of a WebSocket route: validates the client's
 * handshake (RFC 6455 §4.2.1), opens the upgrade to the origin with canonical
 * `Upgrade`/`Connection` headers, checks the origin's 101 and hands both
 * sockets to the runtime's raw pipe. A non-101 origin answer is relayed to
 * the client as it came.
 *
 * @param target the origin, `ws://host:port/path` (or `wss://`, `http://`, `https://`)
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/chat', websocket('ws://127.0.0.1:9001', { idleTimeout: 60_000 }))
 */
export function websocket(target: string | URL, options: WebSocketOptions = {}): MiddlewareHandler<{ Bindings: GatewayBindings; Variables: ForwardingVariables }> {
  const base = parseTarget(target, 'websocket()')
  const originLabel = String(target)
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
  const limits: PipeLimits = {
    idleTimeout: options.idleTimeout,
    maxLifetime: options.maxLifetime,
    lifetimeJitter: options.lifetimeJitter,
  }
  const retryAfter = String(options.retryAfter ?? DEFAULT_RETRY_AFTER)
  // In-flight handshakes plus open pipes of this route, for maxConnections.
  let active = 0

  return async function websocket(c) {
    const runtime = c.env?.wsgate
    if (!runtime) {
      throw new GatewayError(500, 'ERR_RUNTIME_MISSING', 'websocket() runs only under a wsgate runtime (serve() or the CLI)')
    }
    runtime.note({ route: routePath(c), origin: originLabel })
    const request = c.req.raw
    const client = validateClientHandshake({ method: request.method, httpVersion: runtime.httpVersion, headers: request.headers })
    const slot = runtime.upgrade
    if (!slot) throw new GatewayError(400, 'ERR_HANDSHAKE_UPGRADE', 'request did not arrive as an HTTP upgrade')
    if (options.maxConnections !== undefined && active >= options.maxConnections) {
      throw new GatewayError(503, 'ERR_CONNECTION_LIMIT', 'route connection limit reached, retry later', {
        headers: { 'retry-after': retryAfter },
      })
    }

    active++
    let handedOver = false
    try {
      const url = originUrl(base, new URL(request.url), options)
      const answer = await runtime.connectOrigin({
        url,
        headers: upgradeHeaders(request, url, options.preserveHost ?? c.get('preserveHost') ?? false),
        timeout: options.handshakeTimeout ?? runtime.handshakeTimeout,
      })
      if (!answer.upgraded) return answer.response
      try {
        checkOriginUpgrade(client, answer.headers)
      } catch (error) {
        answer.tunnel.close()
        throw error
      }
      handedOver = true
      const expiresAt = c.get('connectionExpiresAt')
      return slot.accept(answer, { ...limits, ...(expiresAt !== undefined ? { expiresAt } : {}), onClose: () => active-- })
    } finally {
      if (!handedOver) active--
    }
  }
}

/** The forwarded headers plus the canonical upgrade pair RFC 6455 §4.1 asks for, whatever the client's casing or extra tokens. */
function upgradeHeaders(request: Request, url: URL, preserveHost: boolean): Headers {
  const headers = forwardHeaders(request, url, preserveHost)
  // forwardHeaders() dropped both (hop-by-hop), so appending sets them.
  headers.append('upgrade', 'websocket')
  headers.append('connection', 'upgrade')
  return headers
}
