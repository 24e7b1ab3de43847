import type { MiddlewareHandler } from 'hono'
import type { ForwardingVariables } from './forward.ts'
import { hasToken } from './headers.ts'
import { http, type HttpOptions } from './http.ts'
import type { GatewayBindings } from './runtime.ts'
import { toPool, withPools, type OriginPool } from './origins/pool.ts'
import { withWarnings } from './warnings.ts'
import { pipeHostNeeds, websocket, type WebSocketOptions } from './websocket.ts'
import { withHostNeeds } from './host-needs.ts'

/**
 * Options of {@link proxy}: `websocket()`'s for upgrades, plus `http()`'s
 * `timeout` for plain requests. `appendPath`, `appendQuery` and
 * `preserveHost` apply to both.
 */
export interface ProxyOptions extends WebSocketOptions, HttpOptions {}

/**
 * The terminal handler of a route that serves WebSocket and plain HTTP on
 * one path: a request whose `Upgrade` header holds the `websocket` token
 * goes to `websocket()` (which validates the rest of the handshake and
 * answers 400/426 naming the faulty header), every other request to
 * `http()`, as plain HTTP (Azion: a request without a WebSocket upgrade is
 * not upgraded but handled as HTTP).
 *
 * With a pool (`origins()`), both sides pick from it with its strategy
 * (a `hash` strategy sends a client's polling requests and its upgrade to
 * the same origin, as socket.io and SignalR need) and share its health.
 *
 * @param target the origin, serving both on one port: `ws://host:port/path` (or `wss://`, `http://`, `https://`), or a pool from `origins()`
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/live', cacheBypass(), cache({ maxSize: 50_000_000 }), proxy('ws://127.0.0.1:9000'))
 * const io = origins(['ws://10.0.0.5:3000', 'ws://10.0.0.6:3000'], { strategy: { hash: (c) => c.env.wsgate.clientAddress } })
 * app.all('/socket.io/*', proxy(io, { appendPath: true }))
 */
export function proxy(target: string | URL | OriginPool, options: ProxyOptions = {}): MiddlewareHandler<{ Bindings: GatewayBindings; Variables: ForwardingVariables }> {
  const pool = toPool(target, 'proxy()', options.tls)
  const { timeout, ...socketOptions } = options
  const upgrade = websocket(target, socketOptions)
  const plain = http(target, {
    ...(options.appendPath !== undefined ? { appendPath: options.appendPath } : {}),
    ...(options.appendQuery !== undefined ? { appendQuery: options.appendQuery } : {}),
    ...(options.preserveHost !== undefined ? { preserveHost: options.preserveHost } : {}),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
  })

  const handler = withPools(
    async function proxy(c, next) {
      return hasToken(c.req.raw.headers.get('upgrade'), 'websocket') ? upgrade(c, next) : plain(c, next)
    } satisfies MiddlewareHandler<{ Bindings: GatewayBindings; Variables: ForwardingVariables }>,
    [pool],
  )
  // Only this handler is in the app's routes: it carries the pool's warnings (once, not once per side) and the host needs of both sides.
  return withHostNeeds(withWarnings(handler, pool.warnings), pipeHostNeeds(options, 'proxy'))
}
