/**
 * Where a bearer token travels in a WebSocket handshake, how to find it, and
 * how to take every copy of it out of the request before it goes on.
 * Web-standard `Request`/`Headers`/`URL` only.
 */
import { copyHeaders } from '../../src/head-headers.ts'
import { mayHoldName, namesToken, tokenName, type TokenName } from './parameter-name.ts'

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
 * A credential that starts with the scheme's letters but is not `Bearer`,
 * SP or HTAB, token (RFC 9110 §11.4): `Bearer\u00a0<jwt>`, `Bearer:<jwt>`,
 * `Bearer<jwt>`. Origins read these as Bearer credentials (Python's
 * `split()`, Go's `strings.Fields` and JavaScript's `\s` all take U+00A0,
 * which HTTP/1.1 carries as obs-text, for a separator; code that cuts the
 * first seven characters takes anything), so each counts as a token copy:
 * an empty, malformed one, refused alone, ambiguous beside another, and
 * removed before the origin with the rest.
 */
const BEARER_SCHEME = /^Bearer/i

/**
 * Every token the client sent in an enabled source, in `sources` order, each
 * copy counted: RFC 6750 §3.1 lets a request carry its token by one method
 * only, so more than one entry makes the request ambiguous, whichever of
 * them is valid. An empty array means the client sent none.
 *
 * What counts as a token, per source (a present but empty one counts, so
 * that `?access_token=` answers "malformed", never "missing"):
 * - `header`: each `Bearer` credential in `Authorization`. A Bearer
 *   credential (`Bearer b64token`) holds no comma, so a comma outside a
 *   quoted string next to one means a second `Authorization` field was sent
 *   (repeated fields are joined with `, `); every element then counts, as
 *   RFC 9110 §11.6.2 allows one credential per request.
 * - `protocol`: each marker entry (taking the entry after it as its token)
 *   and each entry starting with the prefix.
 * - `query`: each parameter an origin's query parser reads under that name
 *   (percent-decoded, and the spellings PHP, ASP.NET, Rack and `qs` fold
 *   into it: `access.token`, `ACCESS_TOKEN`, `access_token[]`, …; see
 *   `./parameter-name.ts`).
 * - `cookie`: each cookie an origin reads under that name (the same
 *   spellings, raw or percent-decoded).
 *
 * @example
 * findTokens(new Request('http://gw/chat?access_token=a', { headers: { authorization: 'Bearer b' } }), where)
 * // → [{ source: 'header', token: 'b' }, { source: 'query', token: 'a' }] (with the default sources)
 */
export function findTokens(request: Request, where: TokenLocations): FoundToken[] {
  const found: FoundToken[] = []
  for (const source of where.sources) FINDERS[source](request, where, found)
  return found
}

/** Each finder appends what its source holds to `found` (one array per request, no intermediate lists). */
const FINDERS: Record<TokenSource, (request: Request, where: TokenLocations, found: FoundToken[]) => void> = {
  header(request, _where, found) {
    const value = request.headers.get('authorization')
    if (!value) return
    // The usual header is one credential: no comma, so no second field and no quoted auth-param to split around.
    if (!value.includes(',')) {
      const token = bearerToken(value.trim())
      if (token !== undefined) found.push({ token, source: 'header' })
      return
    }
    const credentials = authorizationElements(value)
    if (!credentials.some((credential) => BEARER_SCHEME.test(credential))) return
    // A Bearer credential beside something else: every element is a credential the client sent.
    for (const credential of credentials) found.push({ token: bearerToken(credential) ?? '', source: 'header' })
  },
  protocol(request, where, found) {
    const entries = protocolEntries(request.headers)
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index]!
      if (entry === where.protocolMarker) {
        // The entry after the marker is its token, whatever it looks like.
        found.push({ token: entries[++index] ?? '', source: 'protocol', protocolForm: 'pair' })
      } else if (entry.startsWith(where.protocolPrefix)) {
        found.push({ token: entry.slice(where.protocolPrefix.length), source: 'protocol', protocolForm: 'prefix' })
      }
    }
  },
  query(request, where, found) {
    const search = searchOf(request.url)
    const name = namesOf(where).query
    if (!mayHoldParameter(search, name)) return
    for (const [raw, value] of querySegments(search)) if (namesToken(raw, name)) found.push({ token: value, source: 'query' })
  },
  cookie(request, where, found) {
    const header = request.headers.get('cookie')
    const name = namesOf(where).cookie
    if (header === null || !mayHoldName(header, name)) return
    for (const [raw, value] of cookiePairs(header)) if (namesToken(raw, name)) found.push({ token: unquote(value), source: 'cookie' })
  },
}

/** The folded query parameter and cookie names of each `TokenLocations` (one per route), folded at its first request. */
const FOLDED = new WeakMap<TokenLocations, { query: TokenName; cookie: TokenName }>()

function namesOf(where: TokenLocations): { query: TokenName; cookie: TokenName } {
  let names = FOLDED.get(where)
  if (names === undefined || names.query.name !== where.queryParameter || names.cookie.name !== where.cookie) {
    names = { query: tokenName(where.queryParameter), cookie: tokenName(where.cookie) }
    FOLDED.set(where, names)
  }
  return names
}

/** The search part of a serialised URL, `?` included ('' for none), without parsing it: the fragment is cut off as URL does. */
function searchOf(url: string): string {
  const query = url.indexOf('?')
  if (query < 0) return ''
  const fragment = url.indexOf('#', query)
  return fragment < 0 ? url.slice(query) : url.slice(query, fragment)
}

/**
 * Whether a search string may hold the parameter `name` or a look-alike of
 * it ({@link mayHoldName}: the name's parts, in any case, or anything that
 * decodes); a search without cannot, and skips the parse.
 */
function mayHoldParameter(search: string, name: TokenName): boolean {
  return search.length >= 2 && mayHoldName(search, name)
}

/** The token of a `Bearer` credential; '' for an empty one or a look-alike ({@link BEARER_SCHEME}); undefined for another scheme. */
function bearerToken(credential: string): string | undefined {
  const match = BEARER.exec(credential)
  if (match) return (match[1] ?? '').trim()
  return BEARER_SCHEME.test(credential) ? '' : undefined
}

/** Whether an `Authorization` value holds a `Bearer` credential or a look-alike, as {@link findTokens} reads it (alone, or as one comma-separated element). */
function holdsBearer(value: string): boolean {
  if (!value.includes(',')) return BEARER_SCHEME.test(value.trim())
  return authorizationElements(value).some((credential) => BEARER_SCHEME.test(credential))
}

/**
 * The comma-separated elements of an `Authorization` value, outside quoted
 * strings (an auth-param such as Digest's `realm="a, b"` may hold a comma),
 * trimmed, empty ones dropped. A quoted string left open is no quoted
 * string: then every comma separates, as an origin that splits the value
 * at commas reads it (`Basic "x, Bearer <jwt>` holds a Bearer credential to
 * it, which would otherwise pass unseen beside a token in another place).
 */
function authorizationElements(value: string | null): string[] {
  if (!value) return []
  const elements: string[] = []
  let start = 0
  let quoted = false
  for (let index = 0; index < value.length; index++) {
    const char = value[index]
    if (quoted && char === '\\') index++
    else if (char === '"') quoted = !quoted
    else if (char === ',' && !quoted) {
      elements.push(value.slice(start, index))
      start = index + 1
    }
  }
  elements.push(value.slice(start))
  return (quoted ? value.split(',') : elements).map((element) => element.trim()).filter(Boolean)
}

/** The request's URL and headers with every token copy removed from every enabled source. */
export interface StrippedRequest {
  url: URL
  headers: Headers
}

/**
 * Removes the token from every enabled source. Called once
 * {@link findTokens} found exactly one, so this takes out that one under
 * every spelling findTokens counts (and an `Authorization` of another
 * scheme, a cookie or a parameter of another name stay). Unrelated values
 * stay byte for byte (other query parameters keep their encoding, other
 * cookies and subprotocols their order).
 */
export function stripTokens(request: Request, where: TokenLocations): StrippedRequest {
  const url = new URL(request.url)
  // Of the request's kind: the head's lines on Node's upgrade path (src/head-headers.ts), a Headers elsewhere.
  const headers = copyHeaders(request.headers)
  const names = namesOf(where)
  for (const source of where.sources) {
    if (source === 'header') {
      // The token found was the field's one credential, so the whole field goes, whatever empty elements sit beside it
      // (`, Bearer <jwt>` is what an empty Authorization line before the token's line joins into).
      const value = headers.get('authorization')
      if (value && holdsBearer(value)) headers.delete('authorization')
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
      if (!mayHoldParameter(url.search, names.query)) continue
      const segments = url.search.slice(1).split('&')
      const kept = segments.map((segment) => withoutParameter(segment, names.query)).filter((segment) => segment !== undefined)
      if (kept.length !== segments.length || kept.some((segment, index) => segment !== segments[index])) url.search = kept.length > 0 ? `?${kept.join('&')}` : ''
    } else {
      const cookie = headers.get('cookie')
      if (cookie === null || !mayHoldName(cookie, names.cookie)) continue
      const parts = cookie.split(';').map((part) => part.trim()).filter(Boolean)
      const kept = parts.map((part) => withoutCookie(part, names.cookie)).filter((part) => part !== undefined)
      // Nothing of the token's: the header stays as it came, byte for byte.
      if (kept.length === parts.length && kept.every((part, index) => part === parts[index])) continue
      if (kept.length > 0) headers.set('cookie', kept.join('; '))
      else headers.delete('cookie')
    }
  }
  return { url, headers }
}

/** `Sec-WebSocket-Protocol` entries in the client's order (RFC 6455 §4.1: a comma-separated list; repeated headers join). */
function protocolEntries(headers: Headers): string[] {
  const value = headers.get('sec-websocket-protocol')
  if (!value) return []
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
}

/**
 * Name/value pairs of a search string, in order, the name as sent (for
 * `namesToken()` to decode and fold) and the value decoded (`+` is a space,
 * as in forms), split at `&` and also at `;`: HTML 4 recommended `;` as the
 * separator and some servers still split there (old Go, Python's `cgi`), so
 * a token after a `;` (`?room=1;access_token=…`) is one an origin may read,
 * and counts as one here (found, refused as ambiguous beside another,
 * removed before the origin).
 */
function querySegments(search: string): [rawName: string, value: string][] {
  const pairs: [string, string][] = []
  for (const segment of search.slice(1).split(/[&;]/)) {
    if (!segment) continue
    const [pair] = new URLSearchParams(segment)
    if (pair) pairs.push([rawName(segment), pair[1]])
  }
  return pairs
}

/** The name of a `name=value` query segment, as sent. */
function rawName(segment: string): string {
  const equals = segment.indexOf('=')
  return equals < 0 ? segment : segment.slice(0, equals)
}

/** A `;`-or-`&` segment of a query, without the ones naming `parameter` (see {@link querySegments}). */
function withoutParameter(segment: string, parameter: TokenName): string | undefined {
  const names = (part: string): boolean => !part || !namesToken(rawName(part), parameter)
  if (!segment.includes(';')) return names(segment) ? segment : undefined
  const kept = segment.split(';').filter(names)
  return kept.length > 0 ? kept.join(';') : undefined
}

/**
 * `name=value` pairs of a `Cookie` header: `; `-separated (RFC 6265
 * §4.2.1), and split at `,` too, as Rack 2 (Rails before 7.1) splits it
 * (RFC 2965's separator): `theme=dark, access_token=…` is a token cookie to
 * such an origin. A cookie value holds no comma (RFC 6265 §4.1.1
 * cookie-octet), so no conforming cookie is cut.
 */
function cookiePairs(header: string | null): [string, string][] {
  if (!header) return []
  const pairs: [string, string][] = []
  for (const part of header.split(/[;,]/)) {
    const equals = part.indexOf('=')
    if (equals > 0) pairs.push([part.slice(0, equals).trim(), part.slice(equals + 1).trim()])
  }
  return pairs
}

/** A `;`-separated part of a `Cookie` header without its `,`-separated cookies naming the token (see {@link cookiePairs}); the rest as it came. */
function withoutCookie(part: string, name: TokenName): string | undefined {
  if (!part.includes(',')) return namesToken(cookieName(part), name) ? undefined : part
  const kept = part.split(',').filter((cookie) => !namesToken(cookieName(cookie), name))
  return kept.length > 0 ? kept.join(',').trim() : undefined
}

function cookieName(pair: string): string {
  const equals = pair.indexOf('=')
  return (equals < 0 ? pair : pair.slice(0, equals)).trim()
}

/** RFC 6265 §4.1.1: a cookie value may be wrapped in double quotes. */
function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
}
