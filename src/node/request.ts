import type { IncomingMessage } from 'node:http'
import { GatewayError } from '../errors.ts'

/** RFC 9112 §3.2.2: an absolute-form request target carries its own scheme and authority. */
const ABSOLUTE_FORM = /^https?:\/\//i

/**
 * Builds the Web `Request` of an upgrade request: method, absolute URL and
 * every header value. Unlike a plain header object, repeated headers are
 * all kept (joined per the Fetch standard), so inspection sees everything the
 * client sent. There is no body on the upgrade path.
 *
 * The headers are appended straight into the Request's own list: handing a
 * separate `Headers` to the constructor would build the list twice (undici
 * copies its init), and a handshake is mostly this object's cost.
 */
export function toRequest(incoming: IncomingMessage): Request {
  const raw = incoming.rawHeaders
  const url = requestUrl(incoming, hostOf(raw))
  const request = new Request(url, { method: incoming.method ?? 'GET' })
  const headers = request.headers
  try {
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!)
  } catch (cause) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', 'malformed header name or value', { cause })
  }
  return request
}

/**
 * The absolute URL of the request. Origin-form targets take `Host`'s
 * authority; the scheme is the connection's, never the client's claim
 * (X-Forwarded-Proto and routing read it).
 */
function requestUrl(incoming: IncomingMessage, host: string | null): string {
  const target = incoming.url ?? '/'
  const scheme = 'encrypted' in incoming.socket && incoming.socket.encrypted ? 'https:' : 'http:'
  try {
    if (!ABSOLUTE_FORM.test(target)) return new URL(`${scheme}//${host ?? 'localhost'}${target}`).href
    const url = new URL(target)
    url.protocol = scheme
    return url.href
  } catch (cause) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', 'malformed request target or Host header', { cause })
  }
}

/**
 * `Host` as `Headers.get('host')` would give it, read from Node's raw list
 * before the Request exists: every value, trimmed of HTTP whitespace, joined
 * with ", "; null when there is none.
 */
function hostOf(raw: string[]): string | null {
  let host: string | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue
    const value = trimHttpWhitespace(raw[i + 1]!)
    host = host === null ? value : `${host}, ${value}`
  }
  return host
}

/** Fetch's header value normalisation: strips leading and trailing tab, LF, CR and space. */
function trimHttpWhitespace(value: string): string {
  // Node's parser has already trimmed the usual spaces: skip the regular expression when there is nothing to strip.
  if (value.length === 0 || (!isHttpWhitespace(value.charCodeAt(0)) && !isHttpWhitespace(value.charCodeAt(value.length - 1)))) return value
  return value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '')
}

function isHttpWhitespace(code: number): boolean {
  return code === 0x09 || code === 0x0a || code === 0x0d || code === 0x20
}
