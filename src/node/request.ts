import type { IncomingMessage } from 'node:http'
import { GatewayError } from '../errors.ts'
import { toHeaders } from './origin-request.ts'

/**
 * Builds the Web `Request` of an upgrade request: method, absolute URL and
 * every header value. Unlike a plain header object, repeated headers are
 * all kept (joined per the Fetch standard), so inspection sees everything the
 * client sent. There is no body on the upgrade path.
 */
export function toRequest(incoming: IncomingMessage): Request {
  let headers: Headers
  try {
    headers = toHeaders(incoming.rawHeaders)
  } catch (cause) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', 'malformed header name or value', { cause })
  }
  const target = incoming.url ?? '/'
  let url: URL
  try {
    // Absolute-form targets (RFC 9112 §3.2.2) carry their own authority; origin-form ones take Host's.
    url = /^https?:\/\//i.test(target) ? new URL(target) : new URL(`http://${headers.get('host') ?? 'localhost'}${target}`)
    // The scheme is the connection's, never the client's claim: X-Forwarded-Proto and routing read it.
    url.protocol = 'encrypted' in incoming.socket && incoming.socket.encrypted ? 'https:' : 'http:'
  } catch (cause) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', 'malformed request target or Host header', { cause })
  }
  return new Request(url, { method: incoming.method ?? 'GET', headers })
}
