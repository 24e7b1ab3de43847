/**
 * A handshake's facts, what the engine evaluates, taken from a plain
 * `Request` when `waf()` runs without a wsgate runtime.
 */
import type { HandshakeFacts } from '../types.ts'

/** Facts from a plain `Request`, when no wsgate runtime is there (e.g. `app.request()` in tests): no client address. */
export function requestFacts(request: Request): HandshakeFacts {
  const url = new URL(request.url)
  return { method: request.method, rawTarget: `${url.pathname}${url.search}`, protocol: 'HTTP/1.1', headers: [...request.headers], remoteAddress: '' }
}

