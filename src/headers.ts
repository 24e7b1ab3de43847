/**
 * Header helpers shared by the handshake validator, the websocket() handler
 * and (later) normalizeHeaders(): token lists and hop-by-hop handling.
 * Web-standard `Headers` only, so they run on every runtime.
 */

/** An HTTP token (RFC 9110 §5.6.2): what a header name, a parameter name or an unquoted value may be. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Strips optional whitespace (RFC 9110 §5.6.3: SP and HTAB only). Not
 * `String.prototype.trim()`, which also strips U+00A0 and other Unicode
 * spaces: a key or version padded with them is not what an origin would
 * accept, so the gateway must not accept it either.
 */
export function trimOws(value: string): string {
  let start = 0
  let end = value.length
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}

/** Splits a comma-separated header value into trimmed, lower-cased tokens (RFC 9110 §5.6.1). */
export function headerTokens(value: string | null): string[] {
  if (!value) return []
  const tokens: string[] = []
  for (const part of value.split(',')) {
    const token = trimOws(part).toLowerCase()
    if (token) tokens.push(token)
  }
  return tokens
}

/** Whether a comma-separated header value holds `token`, compared case-insensitively. */
export function hasToken(value: string | null, token: string): boolean {
  if (!value) return false
  // The usual header is the token alone ("websocket", "Upgrade"): answer without splitting.
  if (value.length === token.length && value.toLowerCase() === token) return true
  return headerTokens(value).includes(token)
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), meaningful only for one connection:
 * a proxy never forwards them. `Proxy-Connection` is the non-standard
 * predecessor some clients still send.
 */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]

/** {@link HOP_BY_HOP_HEADERS} for lookups. */
const HOP_BY_HOP: ReadonlySet<string> = new Set(HOP_BY_HOP_HEADERS)

/** Whether a lower-cased header name is hop-by-hop ({@link HOP_BY_HOP_HEADERS}). */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name)
}

/**
 * Whether a header line (its lower-cased name) goes on to the origin: not
 * hop-by-hop, and not `host` when the origin's authority replaces it. What
 * `forwardHeaders()` keeps, whichever kind of list it copies.
 */
export function forwardsToOrigin(name: string, hostReplaced: boolean): boolean {
  return !HOP_BY_HOP.has(name) && !(hostReplaced && name === 'host')
}

/**
 * Removes, in place, every hop-by-hop header and every header that the
 * `Connection` header names, as a proxy must before forwarding.
 */
export function stripHopByHop(headers: Headers): Headers {
  for (const name of headerTokens(headers.get('connection'))) headers.delete(name)
  for (const name of HOP_BY_HOP_HEADERS) headers.delete(name)
  return headers
}
