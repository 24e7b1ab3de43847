import { GatewayError } from './errors.ts'
import { HTTP_TOKEN, trimOws } from './headers.ts'

/**
 * The edge's one parse of a request head, before any route or middleware
 * runs. It refuses what an edge must refuse whatever the route (a bad or
 * repeated Host, a target that is not origin- or absolute-form, ambiguous
 * framing, a method the Fetch API cannot carry), and it decides the one URL
 * the router matches, the WAF inspects and the origin receives: built from
 * the request-target alone, never from Host, with the path normalised once
 * (see {@link normalizePath}). Portable: strings only, no `node:` import.
 */

/** What a runtime adapter read off the wire. */
export interface RequestHeadInput {
  /** The method as sent, e.g. `GET`. */
  readonly method: string
  /** The request-target exactly as sent. */
  readonly target: string
  /** `1.1`, `1.0`, …, as the parser read it. */
  readonly httpVersion: string
  /** The header lines in arrival order, flat: name, value, name, value, … (Node's `rawHeaders` shape). */
  readonly rawHeaders: readonly string[]
  /** The connection's scheme; the client's claims never set it. */
  readonly scheme: 'http' | 'https'
  /** Whether the request arrived as an HTTP upgrade (stricter rules: no body, HTTP/1.1 only). */
  readonly upgrade: boolean
  /** Longest request-target accepted; beyond it 414. */
  readonly maxUriLength: number
  /** Largest header section accepted (sum of `name: value\r\n` lines); beyond it 431. */
  readonly maxHeaderSize: number
}

/** A request head that passed: what the chain is built from. */
export interface RequestHead {
  /** The absolute URL the chain sees: the connection's scheme, the authority, the normalised target. */
  readonly url: string
  /** The normalised origin-form target (path and query) the router, the WAF and the origin all see. */
  readonly target: string
  /**
   * The header lines the chain starts from, flat as in the input: every line
   * the client sent but those its `Connection` header named (hop-by-hop, RFC
   * 9110 §7.6.1: meant for this hop only, so removed before the chain runs
   * and never confused with a header the chain sets), and with `Host`
   * replaced by the target's authority for an absolute-form target (RFC 9112
   * §3.2.2). The input array itself when nothing changes.
   */
  readonly headers: readonly string[]
}

/** RFC 9112 §3.2: the methods the Fetch API refuses to carry are refused here, on every route. */
const UNSUPPORTED_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'TRACE', 'TRACK'])

/**
 * Headers a client's `Connection` may name without their removal: the
 * handshake and framing headers the gateway reads itself, and which it never
 * forwards as sent anyway.
 */
const KEPT_WHEN_NAMED: ReadonlySet<string> = new Set(['connection', 'upgrade', 'host', 'content-length', 'transfer-encoding'])

/** RFC 3986 §2.3 unreserved characters, which a percent-escape may be decoded to without changing the URI. */
const UNRESERVED = /[A-Za-z0-9\-._~]/

/** Characters a path keeps as they are: RFC 3986 pchar (unreserved, sub-delims, `:`, `@`) and `/`. `%` is handled apart. */
const PATH_CHARACTER = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/

/** A path needing no work: pchars and `/` only, no escape, no `.`-segment, no `//`, no `;`. Most paths. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9\-_~!$&'()*+,=:@]+(?:\.[A-Za-z0-9\-_~!$&'()*+,=:@]+)*)*\/?$/

/** A query needing no work: characters that WHATWG's query serialisation leaves as they are (no `'`, no `#`). */
const PLAIN_QUERY = /^[A-Za-z0-9\-._~!$&()*+,;=:@/?%[\]^`{|}\\]*$/

/** `host[:port]` in its everyday form (lower-case DNS name, no numeric last label): answered without the full parse. */
const PLAIN_HOST = /^(?:[a-z0-9-]+\.)*[a-z-][a-z0-9-]*(?::[0-9]{1,5})?$/

/** RFC 3986 §3.2.2 reg-name characters, percent-escapes refused (they would be decoded into another name). */
const REG_NAME = /^[A-Za-z0-9\-._~!$&'()*+,;=]+$/

/** A label that WHATWG URL would read as a number, making the whole host an IPv4 address. */
const NUMERIC_LABEL = /^(?:[0-9]+|0[xX][0-9A-Fa-f]*)$/

/** IPv4 as RFC 3986 §3.2.2 writes it: four decimal octets, no leading zeros. */
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/

/** An absolute-form target's scheme and `//` (RFC 9112 §3.2.2). */
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//

/**
 * Appends flat `name, value, …` header lines (a {@link RequestHead}'s
 * `headers`) to `headers`; a line the Fetch API refuses (a parser may let a
 * few bytes through that `Headers` does not) is a 400.
 *
 * @example
 * appendHeaders(request.headers, head.headers)
 */
export function appendHeaders(headers: Headers, lines: readonly string[]): void {
  try {
    for (let i = 0; i < lines.length; i += 2) headers.append(lines[i]!, lines[i + 1]!)
  } catch (cause) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', 'malformed header name or value', { cause })
  }
}

/**
 * Parses and checks a request head, throwing a {@link GatewayError} with the
 * code and status of the README's table for anything an edge must refuse.
 *
 * @example
 * const head = parseRequestHead({ method: 'GET', target: '/a/../echo', httpVersion: '1.1', rawHeaders: ['Host', 'gw.example'], scheme: 'http', upgrade: true, maxUriLength: 8192, maxHeaderSize: 16384 })
 * head.url // 'http://gw.example/echo'
 */
export function parseRequestHead(input: RequestHeadInput): RequestHead {
  const { method, target, httpVersion, upgrade } = input
  if (UNSUPPORTED_METHODS.has(method)) {
    throw new GatewayError(501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', `method ${method} is not served`)
  }
  if (upgrade ? httpVersion !== '1.1' : httpVersion !== '1.1' && httpVersion !== '1.0') {
    throw upgrade
      ? new GatewayError(400, 'ERR_HANDSHAKE_HTTP_VERSION', `an upgrade needs HTTP/1.1, got HTTP/${httpVersion}`)
      : new GatewayError(505, 'ERR_HANDSHAKE_HTTP_VERSION', `HTTP/${httpVersion} is not supported; use HTTP/1.1`)
  }
  if (target.length > input.maxUriLength) {
    throw new GatewayError(414, 'ERR_HANDSHAKE_URI_TOO_LONG', `request target exceeds ${input.maxUriLength} bytes`)
  }
  const lines = readHeaderLines(input)
  const parsed = parseTarget(target)
  const authority = parsed.authority ?? lines.host
  const url = `${input.scheme}://${authority}${parsed.path}${parsed.query}`
  // The authority was checked character by character; WHATWG URL still has
  // the last word (IDNA, default ports), so a host it reads differently is refused.
  let checked: URL
  try {
    checked = new URL(url)
  } catch {
    throw parsed.authority === undefined ? invalidHost() : invalidTarget('its authority is not a valid host')
  }
  if (checked.pathname !== parsed.path) throw invalidTarget('its path cannot be normalised')
  const normalisedTarget = `${parsed.path}${checked.search}`
  let headers = input.rawHeaders
  if (lines.named.length > 0 || parsed.authority !== undefined) {
    headers = chainHeaders(input.rawHeaders, lines.named, parsed.authority)
  }
  return { url: checked.search === parsed.query && authority === checked.host ? url : checked.href, target: normalisedTarget, headers }
}

/** What the header pass found. */
interface HeaderLines {
  /** The one Host value. */
  host: string
  /** Lower-cased header names the client's `Connection` named, to remove before the chain. */
  named: string[]
}

/** One pass over the header lines: Host, framing, Connection, the section's size. */
function readHeaderLines(input: RequestHeadInput): HeaderLines {
  const raw = input.rawHeaders
  let host: string | undefined
  let hosts = 0
  let contentLength: string | undefined
  let transferEncoding: string | undefined
  let named: string[] = []
  let size = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const value = raw[i + 1]!
    size += name.length + value.length + 4
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          hosts++
          host = value
        }
        break
      case 10:
        if (name.toLowerCase() === 'connection') named = connectionNames(value, named)
        break
      case 14:
        if (name.toLowerCase() === 'content-length') contentLength = sameLength(contentLength, value)
        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`
        break
    }
  }
  if (size > input.maxHeaderSize) {
    throw new GatewayError(431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE', `request header section exceeds ${input.maxHeaderSize} bytes`)
  }
  // RFC 9112 §3.2: exactly one Host, and a valid one; 400 otherwise.
  if (hosts !== 1 || host === undefined) throw invalidHost(hosts === 0 ? 'missing Host header' : 'more than one Host header')
  if (!isValidHost(host)) throw invalidHost()
  checkFraming(input, contentLength, transferEncoding)
  return { host: host.toLowerCase(), named }
}

/** The names a `Connection` value lists, added to `named`; each must be a token (RFC 9110 §7.6.1). */
function connectionNames(value: string, named: string[]): string[] {
  for (const part of value.split(',')) {
    const token = trimOws(part).toLowerCase()
    if (token === '') continue
    if (!HTTP_TOKEN.test(token)) {
      throw new GatewayError(400, 'ERR_HANDSHAKE_CONNECTION', 'Connection header lists something that is not a header name')
    }
    if (token !== 'close' && token !== 'keep-alive' && !KEPT_WHEN_NAMED.has(token) && !named.includes(token)) named.push(token)
  }
  return named
}

/** Content-Length must be digits, and every line must say the same (RFC 9112 §6.3 item 5). */
function sameLength(previous: string | undefined, value: string): string {
  const length = trimOws(value)
  if (!/^[0-9]+$/.test(length) || (previous !== undefined && previous !== length)) {
    throw framing('invalid or conflicting Content-Length')
  }
  return length
}

/** RFC 9112 §6: one framing, and none on an upgrade (its bytes after the head are WebSocket frames, not a body). */
function checkFraming(input: RequestHeadInput, contentLength: string | undefined, transferEncoding: string | undefined): void {
  if (input.upgrade) {
    if (transferEncoding !== undefined) throw framing('an upgrade request has no body: Transfer-Encoding is not allowed')
    if (contentLength !== undefined && !/^0+$/.test(contentLength)) throw framing('an upgrade request has no body: Content-Length must be 0')
    return
  }
  if (transferEncoding === undefined) return
  if (contentLength !== undefined) throw framing('both Transfer-Encoding and Content-Length present')
  // §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
  if (input.httpVersion === '1.0') throw framing('Transfer-Encoding is not allowed in HTTP/1.0')
  const codings = transferEncoding.split(',').map((coding) => trimOws(coding).toLowerCase())
  // §6.3 item 4: the final coding must be chunked; no other coding is decoded here, so chunked must be the only one.
  if (codings.length !== 1 || codings[0] !== 'chunked') throw framing('Transfer-Encoding must be exactly "chunked"')
}

/** The parts of a target: an absolute-form target's authority, the normalised path, the query with its `?`. */
interface TargetParts {
  authority: string | undefined
  path: string
  query: string
}

/** RFC 9112 §3.2: origin-form, or absolute-form with an http(s) scheme; anything else is refused. */
function parseTarget(target: string): TargetParts {
  if (target.includes('#')) throw invalidTarget('a fragment is not part of a request target')
  let authority: string | undefined
  let rest = target
  if (target.charCodeAt(0) !== 0x2f) {
    const absolute = ABSOLUTE_FORM.exec(target)
    if (!absolute) {
      throw invalidTarget(target === '*' ? 'asterisk-form is not served' : 'expected an absolute path or an http(s) URL')
    }
    const scheme = absolute[1]!.toLowerCase()
    if (scheme !== 'http' && scheme !== 'https') throw invalidTarget(`scheme ${scheme} is not served`)
    const start = absolute[0].length
    let end = start
    while (end < target.length && target[end] !== '/' && target[end] !== '?') end++
    authority = target.slice(start, end)
    if (authority.includes('@')) throw invalidTarget('user information in the target is not allowed')
    if (!isValidHost(authority)) throw invalidTarget('its authority is not a valid host')
    authority = authority.toLowerCase()
    rest = target.slice(end)
    if (rest === '' || rest.charCodeAt(0) === 0x3f) rest = `/${rest}`
  }
  const question = rest.indexOf('?')
  const path = question < 0 ? rest : rest.slice(0, question)
  const query = question < 0 ? '' : rest.slice(question)
  if (!PLAIN_QUERY.test(query.slice(1)) && /[\u0000-\u0020\u007f-\uffff]/.test(query)) throw invalidTarget('control, space or non-ASCII bytes in the query')
  return { authority, path: normalizePath(path), query }
}

/**
 * The path every part of the gateway sees (RFC 3986 §6.2.2): percent-escapes
 * of unreserved characters decoded (`%65` → `e`) and the others upper-cased,
 * characters a path may not hold percent-encoded, repeated slashes merged
 * (as nginx's `merge_slashes`), and dot-segments removed (§5.2.4). `%2F` and
 * `%5C` stay encoded, but a segment that an origin decoding them (or
 * dropping `;` parameters, as Java servers do, also when spelt `%3B`, or
 * ending a segment at a `%00`) would read as `.` or `..` is
 * refused, so no origin can resolve a path the router did not see.
 *
 * @example
 * normalizePath('/a//b/%2e%2e/%63hat') // '/a/chat'
 */
export function normalizePath(path: string): string {
  if (PLAIN_PATH.test(path)) return path
  let escaped = ''
  for (let i = 0; i < path.length; i++) {
    const character = path[i]!
    if (character === '%') {
      const hex = path.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw invalidTarget('malformed percent-escape in the path')
      const decoded = String.fromCharCode(Number.parseInt(hex, 16))
      escaped += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`
      i += 2
    } else if (character === '\\') {
      // WHATWG URL reads a backslash as a slash, most origins do not: refuse rather than guess.
      throw invalidTarget('backslash in the path')
    } else if (PATH_CHARACTER.test(character)) {
      escaped += character
    } else {
      const code = character.charCodeAt(0)
      if (code <= 0x20 || code === 0x7f || code > 0xff) throw invalidTarget('control, space or non-ASCII bytes in the path')
      // Bytes above 0x7f arrive one per character (latin1): each is one escape of the UTF-8 the client sent.
      escaped += `%${code.toString(16).toUpperCase().padStart(2, '0')}`
    }
  }
  const segments = escaped.split('/')
  const kept: string[] = []
  const last = segments.length - 1
  for (let i = 1; i <= last; i++) {
    const segment = segments[i]!
    if (segment === '..') kept.pop()
    else if (segment !== '' && segment !== '.') {
      if (hidesDotSegment(segment)) throw invalidTarget('a dot-segment hidden behind an encoded slash, a ";" parameter or a NUL')
      kept.push(segment)
      continue
    }
    // A path that ended in a slash, ".", or ".." still ends in a slash.
    if (i === last) kept.push('')
  }
  return `/${kept.join('/')}`
}

/**
 * Whether a segment holds a `.` or `..` once `%2F`/`%5C` split it or a `;`
 * parameter is dropped. The parameter may be spelt `%3B` (an origin that
 * decodes before it drops parameters reads `..%3B` as `..;`), and a `%00`
 * ends the name for an origin that stops at a NUL (Jetty's `/.%00/`,
 * CVE-2021-34429). Escapes are upper-case here (normalizePath wrote them).
 */
function hidesDotSegment(segment: string): boolean {
  if (!segment.includes('.')) return false
  for (const piece of segment.split(/%2F|%5C/)) {
    const name = piece.split(/;|%3B|%00/, 1)[0]!
    if (name === '.' || name === '..') return true
  }
  return false
}

/**
 * RFC 3986 §3.2.2 `host [ ":" port ]` as RFC 9112 §3.2 requires of Host: a
 * reg-name without percent-escapes, a dotted-quad IPv4 (a name whose last
 * label is a number must be one: `127.1` and `0x7f.0.0.1` are refused, not
 * reinterpreted), or a bracketed IPv6 address; a port of digits up to 65535.
 */
export function isValidHost(value: string): boolean {
  if (PLAIN_HOST.test(value)) return value.length <= 261 && portOk(value, value.lastIndexOf(':'))
  let colon: number
  let name: string
  if (value.charCodeAt(0) === 0x5b) {
    const close = value.indexOf(']')
    if (close < 0 || !isIpv6(value.slice(1, close))) return false
    colon = close + 1
    if (colon < value.length && value.charCodeAt(colon) !== 0x3a) return false
    return colon === value.length || portOk(value, colon)
  }
  colon = value.indexOf(':')
  name = colon < 0 ? value : value.slice(0, colon)
  if (name.length === 0 || name.length > 253 || !REG_NAME.test(name)) return false
  if (colon >= 0 && !portOk(value, colon)) return false
  const labels = name.endsWith('.') ? name.slice(0, -1).split('.') : name.split('.')
  if (NUMERIC_LABEL.test(labels[labels.length - 1]!)) return DOTTED_QUAD.test(name)
  return true
}

/** The port after `colon` (none at -1): digits only (RFC 3986 allows none), at most 65535. */
function portOk(value: string, colon: number): boolean {
  if (colon < 0) return true
  const port = value.slice(colon + 1)
  return /^[0-9]{0,5}$/.test(port) && (port === '' || Number(port) <= 65_535)
}

/** RFC 4291 §2.2 text forms, without a zone id (RFC 6874 is not for Host) and without IPvFuture. */
function isIpv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return false
  const lastColon = text.lastIndexOf(':')
  if (lastColon < 0) return false
  let body = text
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    // An embedded IPv4 address stands for the last two groups.
    if (!DOTTED_QUAD.test(tail)) return false
    body = `${text.slice(0, lastColon + 1)}0:0`
  }
  const elided = body.indexOf('::')
  if (elided !== body.lastIndexOf('::')) return false
  if (elided < 0) {
    const groups = body.split(':')
    return groups.length === 8 && groups.every(isHexGroup)
  }
  const before = body.slice(0, elided)
  const after = body.slice(elided + 2)
  const groups = [...(before === '' ? [] : before.split(':')), ...(after === '' ? [] : after.split(':'))]
  return groups.length <= 7 && groups.every(isHexGroup)
}

function isHexGroup(group: string): boolean {
  return /^[0-9A-Fa-f]{1,4}$/.test(group)
}

/** The header lines without the ones `Connection` named, and with Host set to an absolute-form target's authority. */
function chainHeaders(raw: readonly string[], named: readonly string[], authority: string | undefined): string[] {
  const headers: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase()
    if (named.includes(lower)) continue
    headers.push(raw[i]!, authority !== undefined && lower === 'host' ? authority : raw[i + 1]!)
  }
  return headers
}

function invalidHost(reason = 'invalid Host header: expected host[:port]'): GatewayError {
  return new GatewayError(400, 'ERR_HANDSHAKE_HOST', reason)
}

function invalidTarget(reason: string): GatewayError {
  return new GatewayError(400, 'ERR_HANDSHAKE_TARGET', `invalid request target: ${reason}`)
}

function framing(reason: string): GatewayError {
  return new GatewayError(400, 'ERR_HANDSHAKE_FRAMING', reason)
}
