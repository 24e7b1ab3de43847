import type { MiddlewareHandler } from 'hono'
import type { ForwardingVariables } from './forward.ts'
import { hasToken } from './headers.ts'
import { http, type HttpOptions } from './http.ts'
import type { GatewayBindings } from './runtime.ts'
import { parseTarget } from './target.ts'
import { websocket, type WebSocketOptions } from './websocket.ts'

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
 * @param target the origin, serving both on one port: `ws://host:port/path` (or `wss://`, `http://`, `https://`)
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/live', cacheBypass(), cache({ maxSize: 50_000_000 }), proxy('ws://127.0.0.1:9000'))
 */
export function proxy(target: string | URL, options: ProxyOptions = {}): MiddlewareHandler<{ Bindings: GatewayBindings; Variables: ForwardingVariables }> {
  parseTarget(target, 'proxy()')
  const { timeout, ...socketOptions } = options
  const upgrade = websocket(target, socketOptions)
  const plain = http(target, {
    ...(options.appendPath !== undefined ? { appendPath: options.appendPath } : {}),
    ...(options.appendQuery !== undefined ? { appendQuery: options.appendQuery } : {}),
    ...(options.preserveHost !== undefined ? { preserveHost: options.preserveHost } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
  })

  return async function proxy(c, next) {
    return hasToken(c.req.raw.headers.get('upgrade'), 'websocket') ? upgrade(c, next) : plain(c, next)
  }
}
