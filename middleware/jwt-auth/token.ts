/**
 * Where a bearer token travels in a WebSocket handshake, how to find it, and
 * how to take every copy of it out of the request before it goes on.
 * Web-standard `Request`/`Headers`/`URL` only.
 */

/**
 * A place a client may put its token:
 * - `header`: `Authorization: Bearer <jwt>` (RFC 6750 §2.1);
 * - `protocol`: a `Sec-WebSocket-Protocol` entry, as the pair
 *   `access_token, <jwt>` or as one `bearer.<jwt>` entry (browsers cannot set
 *   headers on a WebSocket, but they can offer subprotocols);
 * - `query`: a query parameter, `?access_token=<jwt>` (RFC 6750 §2.3);
 * - `cookie`: a cookie, `Cookie: access_token=<jwt>`.
 */
export type TokenSource = 'header' | 'protocol' | 'query' | 'cookie'

/** Every token source, for option checks. */
export const TOKEN_SOURCES: readonly TokenSource[] = ['header', 'protocol', 'query', 'cookie']

/** Where to look, in which order, and under which names. */
export interface TokenLocations {
  readonly sources: readonly TokenSource[]
  readonly queryParameter: string
  readonly cookie: string
  readonly protocolMarker: string
  readonly protocolPrefix: string
}

/** A token as found, not yet checked. */
export interface FoundToken {
  /** The raw token text (possibly empty or malformed). */
  token: string
  source: TokenSource
  /** For `protocol`: the marker pair (`access_token, <jwt>`) or the prefix form (`bearer.<jwt>`). */
  protocolForm?: 'pair' | 'prefix'
}

/** RFC 6750 §2.1: `Bearer` is a case-insensitive auth scheme, followed by one or more spaces and the token. */
const BEARER = /^Bearer(?:[ \t]+(.*))?$/i

/**
 * The first token found, trying `sources` in order, or undefined when the
 * client sent none. A source that is present but carries an empty token
 * (`Authorization: Bearer`, `?access_token=`) counts as found, so the caller
 * answers "malformed" rather than "missing".
 */
export function findToken(request: Request, where: TokenLocations): FoundToken | undefined {
  for (const source of where.sources) {
    const found = FINDERS[source](request, where)
    if (found) return found
  }
  return undefined
}

const FINDERS: Record<TokenSource, (request: Request, where: TokenLocations) => FoundToken | undefined> = {
  header(request) {
    const match = BEARER.exec(request.headers.get('authorization')?.trim() ?? '')
    return match ? { token: (match[1] ?? '').trim(), source: 'header' } : undefined
  },
  protocol(request, where) {
    const entries = protocolEntries(request.headers)
    for (const [index, entry] of entries.entries()) {
      if (entry === where.protocolMarker) return { token: entries[index + 1] ?? '', source: 'protocol', protocolForm: 'pair' }
      if (entry.startsWith(where.protocolPrefix)) {
        return { token: entry.slice(where.protocolPrefix.length), source: 'protocol', protocolForm: 'prefix' }
      }
    }
    return undefined
  },
  query(request, where) {
    for (const [name, value] of querySegments(new URL(request.url).search)) {
      if (name === where.queryParameter) return { token: value, source: 'query' }
    }
    return undefined
  },
  cookie(request, where) {
    for (const [name, value] of cookiePairs(request.headers.get('cookie'))) {
      if (name === where.cookie) return { token: unquote(value), source: 'cookie' }
    }
    return undefined
  },
}

/** The request's URL and headers with every token copy removed from every enabled source. */
export interface StrippedRequest {
  url: URL
  headers: Headers
}

/**
 * Removes the token from every enabled source, not only the one it was read
 * from: a second token in another place must not reach the origin
 * unverified. Unrelated values stay byte for byte (other query parameters
 * keep their encoding, other cookies and subprotocols their order).
 */
export function stripTokens(request: Request, where: TokenLocations): StrippedRequest {
  const url = new URL(request.url)
  const headers = new Headers(request.headers)
  for (const source of where.sources) {
    if (source === 'header') {
      if (BEARER.test(headers.get('authorization')?.trim() ?? '')) headers.delete('authorization')
    } else if (source === 'protocol') {
      const kept: string[] = []
      const entries = protocolEntries(headers)
      for (let index = 0; index < entries.length; index++) {
        const entry = entries[index]!
        // The marker and the token after it go together.
        if (entry === where.protocolMarker) index++
        else if (!entry.startsWith(where.protocolPrefix)) kept.push(entry)
      }
      if (kept.length === entries.length) continue
      if (kept.length > 0) headers.set('sec-websocket-protocol', kept.join(', '))
      else headers.delete('sec-websocket-protocol')
    } else if (source === 'query') {
      const segments = url.search.slice(1).split('&')
      const kept = segments.filter((segment) => !segment || querySegments(`?${segment}`)[0]?.[0] !== where.queryParameter)
      if (kept.length !== segments.length) url.search = kept.length > 0 ? `?${kept.join('&')}` : ''
    } else {
      const cookie = headers.get('cookie')
      if (cookie === null) continue
      const kept = cookie.split(';').map((part) => part.trim()).filter((part) => part && cookieName(part) !== where.cookie)
      if (kept.length > 0) headers.set('cookie', kept.join('; '))
      else headers.delete('cookie')
    }
  }
  return { url, headers }
}

/** `Sec-WebSocket-Protocol` entries in the client's order (RFC 6455 §4.1: a comma-separated list; repeated headers join). */
function protocolEntries(headers: Headers): string[] {
  return (headers.get('sec-websocket-protocol') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
}

/** Decoded name/value pairs of a search string, in order (`+` is a space, as in forms). */
function querySegments(search: string): [string, string][] {
  return [...new URLSearchParams(search)]
}

/** `name=value` pairs of a `Cookie` header (RFC 6265 §4.2.1: `; `-separated). */
function cookiePairs(header: string | null): [string, string][] {
  if (!header) return []
  const pairs: [string, string][] = []
  for (const part of header.split(';')) {
    const equals = part.indexOf('=')
    if (equals > 0) pairs.push([part.slice(0, equals).trim(), part.slice(equals + 1).trim()])
  }
  return pairs
}

function cookieName(pair: string): string {
  const equals = pair.indexOf('=')
  return (equals < 0 ? pair : pair.slice(0, equals)).trim()
}

/** RFC 6265 §4.1.1: a cookie value may be wrapped in double quotes. */
function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
}
