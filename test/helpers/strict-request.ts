/**
 * A small, strict, test-side reading of an HTTP/1.1 request head (RFC 9112)
 * and of a WebSocket opening handshake (RFC 6455 §4.2.1), written from the
 * RFCs and issue 9's edge rules, independently of the gateway's code. The
 * fuzzer asks it what the gateway must do with a request: refuse it, upgrade
 * it, or either (where the RFCs leave a choice, or where this oracle does not
 * try to be exact).
 */

/** What the gateway must do with a request head. */
export type Verdict =
  | { kind: 'refuse'; reason: string }
  | { kind: 'accept'; path: string }
  | { kind: 'either'; reason: string }

/** A request head split into its parts; only produced when the framing is strictly valid. */
export interface StrictHead {
  method: string
  target: string
  version: string
  /** Header lines in order, names as sent. */
  headers: [name: string, value: string][]
  /** Bytes after the blank line. */
  rest: Buffer
  /** The request-line had other whitespace than single SPs between its parts, or bare LFs before it (RFC 9112 §2.2, §3 let a recipient accept both). */
  lenient: boolean
}

/** Largest request-target the gateway accepts by default (`maxUriLength`, 8 KiB). */
export const MAX_URI_LENGTH = 8 * 1024
/** Largest header section the gateway accepts by default (`maxHeaderSize`, 16 KiB). */
export const MAX_HEADER_SIZE = 16 * 1024

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** RFC 3986 §2.3 unreserved. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/
/** RFC 3986 reg-name characters: unreserved and sub-delims (no pct-encoded: issue 9 refuses `%` in Host). */
const REG_NAME = /^[A-Za-z0-9\-._~!$&'()*+,;=]+$/
/** RFC 3986 pchar without pct-encoded, plus `/`. */
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/
/** Query characters (RFC 3986 §3.4): pchar, `/` and `?`. */
const QUERY_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?]$/
/** Characters RFC 3986 does not allow raw in a target, which issue 9 does not name; a gateway may refuse or pass them. */
const UNNAMED_BAD = /^[ "<>^`{|}\x7f-\uffff]$/

/** True when `value` is a token (RFC 9110 §5.6.2). */
export function isToken(value: string): boolean {
  return TCHAR.test(value)
}

/**
 * Judges a `Host` value (or an absolute-form authority) against issue 9's
 * rule: `host[:port]`, host a reg-name, a strict dotted quad, or a bracketed
 * IPv6 address without zone id; port 1–5 digits, at most 65535. `either`
 * where the rule is silent (an empty port, a trailing dot after a numeric
 * label, a hex-looking last label).
 */
export function judgeHost(value: string): 'valid' | 'invalid' | 'either' {
  if (value.length === 0) return 'invalid'
  let host = value
  let port: string | undefined
  if (value.startsWith('[')) {
    const close = value.indexOf(']')
    if (close < 0) return 'invalid'
    host = value.slice(0, close + 1)
    const after = value.slice(close + 1)
    if (after !== '') {
      if (!after.startsWith(':')) return 'invalid'
      port = after.slice(1)
    }
    if (!isIpv6(host.slice(1, -1))) return 'invalid'
  } else {
    const colon = value.lastIndexOf(':')
    if (colon >= 0) {
      host = value.slice(0, colon)
      port = value.slice(colon + 1)
    }
    if (host.includes(':') || host.includes('[') || host.includes(']')) return 'invalid'
    const verdict = judgeNameOrIpv4(host)
    if (verdict !== 'valid') return verdict
  }
  if (port === undefined) return 'valid'
  if (port === '') return 'either'
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65_535) return 'invalid'
  return 'valid'
}

function judgeNameOrIpv4(host: string): 'valid' | 'invalid' | 'either' {
  if (!REG_NAME.test(host)) return 'invalid'
  const labels = host.split('.')
  let last = labels[labels.length - 1]!
  if (last === '' && labels.length > 1) {
    // "1.2.3.4." — whether a trailing dot makes it a name or an address is not in the rule.
    last = labels[labels.length - 2]!
    return /^[0-9]+$/.test(last) || /^0x/i.test(last) ? 'either' : 'valid'
  }
  if (/^[0-9]+$/.test(last)) return isStrictDottedQuad(host) ? 'valid' : 'invalid'
  if (/^0x[0-9a-f]*$/i.test(last)) return 'either'
  return 'valid'
}

/** Four decimal octets 0–255 without leading zeros (RFC 3986 §3.2.2 dec-octet). */
export function isStrictDottedQuad(host: string): boolean {
  const parts = host.split('.')
  return parts.length === 4 && parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255)
}

/** RFC 3986 §3.2.2 IPv6address (no zone id, no IPvFuture). */
export function isIpv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return false
  const double = text.indexOf('::')
  if (double >= 0 && text.indexOf('::', double + 1) >= 0) return false
  let groups = 0
  const count = (part: string, allowV4: boolean): boolean => {
    if (part === '') return true
    const pieces = part.split(':')
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!
      if (allowV4 && i === pieces.length - 1 && piece.includes('.')) {
        if (!isStrictDottedQuad(piece)) return false
        groups += 2
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(piece)) return false
        groups += 1
      }
    }
    return true
  }
  if (double < 0) return count(text, true) && groups === 8
  const head = text.slice(0, double)
  const tail = text.slice(double + 2)
  return count(head, false) && count(tail, true) && groups <= 7
}

/** What a request-target (RFC 9112 §3.2) means for routing, per issue 9. */
export type TargetVerdict =
  | { kind: 'ok'; path: string; query: string | undefined; authority: string | undefined }
  | { kind: 'refuse'; reason: string }
  | { kind: 'either'; reason: string }

/**
 * Reads a request-target: origin-form or absolute-form (`http`/`https`, no
 * userinfo), and normalises the path as issue 9 specifies (unreserved
 * escapes decoded, other escapes upper-cased, dot-segments removed, repeated
 * slashes merged, `%2F` kept encoded). Refuses asterisk- and authority-form,
 * other schemes, a fragment, a raw backslash, a malformed escape and a
 * dot-segment hidden behind an encoded slash or backslash or a `;` parameter.
 */
export function judgeTarget(target: string): TargetVerdict {
  if (target.length > MAX_URI_LENGTH) return { kind: 'refuse', reason: 'request-target longer than 8 KiB' }
  if (target === '*') return { kind: 'refuse', reason: 'asterisk-form' }
  let authority: string | undefined
  let rest = target
  if (!target.startsWith('/')) {
    const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(target)
    if (!match) return { kind: 'refuse', reason: 'neither origin-form nor absolute-form' }
    if (!/^https?$/i.test(match[1]!)) return { kind: 'refuse', reason: `scheme ${match[1]}` }
    authority = match[2]!
    if (authority.includes('@')) return { kind: 'refuse', reason: 'userinfo in the target' }
    const host = judgeHost(authority)
    if (host === 'invalid') return { kind: 'refuse', reason: 'invalid authority in the target' }
    if (host === 'either') return { kind: 'either', reason: 'authority the rule is silent on' }
    rest = match[3] === '' ? '/' : match[3]!
    if (!rest.startsWith('/') && !rest.startsWith('?')) return { kind: 'refuse', reason: 'bad absolute-form' }
    if (rest.startsWith('?')) rest = `/${rest}`
  }
  if (rest.includes('#')) return { kind: 'refuse', reason: 'fragment' }
  const questionMark = rest.indexOf('?')
  const rawPath = questionMark < 0 ? rest : rest.slice(0, questionMark)
  const query = questionMark < 0 ? undefined : rest.slice(questionMark + 1)
  if (rawPath.includes('\\')) return { kind: 'refuse', reason: 'raw backslash in the path' }
  let unnamed = false
  for (let i = 0; i < rawPath.length; i++) {
    const char = rawPath[i]!
    if (char === '%') {
      if (!/^[0-9A-Fa-f]{2}$/.test(rawPath.slice(i + 1, i + 3))) return { kind: 'refuse', reason: 'malformed percent-escape' }
      i += 2
    } else if (!PATH_CHAR.test(char)) {
      if (UNNAMED_BAD.test(char) || char.charCodeAt(0) < 0x20) unnamed = true
      else return { kind: 'refuse', reason: `character ${JSON.stringify(char)} in the path` }
    }
  }
  if (query !== undefined) for (const char of query) if (!QUERY_CHAR.test(char) && char !== '%') unnamed = true
  const decoded = decodeUnreserved(rawPath)
  for (const segment of decoded.split('/')) {
    const beforeParameter = segment.split(';', 1)[0]!
    const pieces = beforeParameter.split(/%2F|%5C/)
    const isDot = (piece: string): boolean => piece === '.' || piece === '..'
    if (pieces.length > 1 && pieces.some(isDot)) return { kind: 'refuse', reason: 'dot-segment behind an encoded slash' }
    if (segment.includes(';') && isDot(beforeParameter)) return { kind: 'refuse', reason: 'dot-segment behind a ; parameter' }
    // An origin that decodes before it drops `;` parameters reads %3B as one; one written in C ends a segment at a NUL.
    if (!isDot(segment) && segment.split(/%2F|%5C/).some((piece) => isDot(piece.split(/;|%3B|%00/, 1)[0]!))) {
      return { kind: 'refuse', reason: 'dot-segment behind %3B or %00' }
    }
  }
  if (unnamed) return { kind: 'either', reason: 'a character RFC 3986 forbids that issue 9 does not name' }
  // Merging slashes before or after removing dot-segments differs on `/a//../b`: the rule does not say which comes first.
  const slashesFirst = removeDotSegments(decoded.replace(/\/{2,}/g, '/'))
  const dotsFirst = removeDotSegments(decoded).replace(/\/{2,}/g, '/')
  if (slashesFirst !== dotsFirst) return { kind: 'either', reason: 'merge order of // and .. matters' }
  return { kind: 'ok', path: slashesFirst, query, authority }
}

/** Decodes `%XX` escapes of unreserved characters and upper-cases the others. */
export function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`
  })
}

/** RFC 3986 §5.2.4 remove_dot_segments. */
export function removeDotSegments(path: string): string {
  let input = path
  let output = ''
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3)
    else if (input.startsWith('./')) input = input.slice(2)
    else if (input.startsWith('/./')) input = input.slice(2)
    else if (input === '/.') input = '/'
    else if (input.startsWith('/../')) {
      input = input.slice(3)
      output = output.slice(0, Math.max(0, output.lastIndexOf('/')))
    } else if (input === '/..') {
      input = '/'
      output = output.slice(0, Math.max(0, output.lastIndexOf('/')))
    } else if (input === '.' || input === '..') input = ''
    else {
      const next = input.indexOf('/', 1)
      const end = next < 0 ? input.length : next
      output += input.slice(0, end)
      input = input.slice(end)
    }
  }
  return output
}

/**
 * Splits a request head with strict RFC 9112 framing: CRLF line ends only,
 * one SP between the request-line's parts, `name: value` lines whose name is
 * a token directly followed by the colon, values of VCHAR, obs-text, SP and
 * HTAB only, no obs-fold. `incomplete` when there is no blank line yet.
 */
export function splitHead(bytes: Buffer): { kind: 'ok'; head: StrictHead } | { kind: 'refuse'; reason: string } | { kind: 'incomplete' } {
  const sent = bytes.toString('latin1')
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line. Node skips any run of CR
  // and LF there; a bare one is left to the gateway (either), since §2.2 also lets a recipient read a bare CR as SP.
  const leading = /^[\r\n]*/.exec(sent)![0]
  const text = sent.slice(leading.length)
  const end = text.indexOf('\r\n\r\n')
  const head = end < 0 ? text : text.slice(0, end)
  // A bare CR or LF (RFC 9112 §2.2) or a NUL anywhere in the head: refused whether or not the head is complete.
  if (/\r(?!\n)|(?<!\r)\n|\0/.test(head)) return { kind: 'refuse', reason: 'bare CR, bare LF or NUL in the head' }
  if (end < 0) return { kind: 'incomplete' }
  const [requestLine = '', ...lines] = head.split('\r\n')
  // The header section is the field lines with their CRLFs (RFC 9112 §2.1), not the request-line.
  if (lines.reduce((size, line) => size + line.length + 2, 0) > MAX_HEADER_SIZE) return { kind: 'refuse', reason: 'header section over 16 KiB' }
  let parts = requestLine.split(' ')
  let lenient = !/^(?:\r\n)*$/.test(leading)
  if (parts.length !== 3) {
    // RFC 9112 §3: a recipient MAY split the request-line on runs of whitespace instead of single SPs.
    parts = requestLine.trim().split(/[ \t\v\f]+/)
    if (parts.length !== 3) return { kind: 'refuse', reason: 'request-line is not method SP target SP version' }
    lenient = true
  }
  const [method, target, version] = parts as [string, string, string]
  if (!isToken(method)) return { kind: 'refuse', reason: 'method is not a token' }
  if (target === '' || /[\x00-\x20\x7f]/.test(target)) return { kind: 'refuse', reason: 'empty target or a control byte in it' }
  if (!/^HTTP\/[0-9]\.[0-9]$/.test(version)) return { kind: 'refuse', reason: 'malformed HTTP-version' }
  const headers: [string, string][] = []
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) return { kind: 'refuse', reason: 'obs-fold' }
    const colon = line.indexOf(':')
    if (colon <= 0) return { kind: 'refuse', reason: 'header line without a name and colon' }
    const name = line.slice(0, colon)
    if (!isToken(name)) return { kind: 'refuse', reason: `header name ${JSON.stringify(name)} is not a token` }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return { kind: 'refuse', reason: 'control byte in a header value' }
    headers.push([name, value])
  }
  return { kind: 'ok', head: { method, target, version, headers, rest: bytes.subarray(leading.length + end + 4), lenient } }
}

/** Every value of header `name` (case-insensitive) in order. */
export function valuesOf(head: StrictHead, name: string): string[] {
  const lower = name.toLowerCase()
  return head.headers.filter(([headerName]) => headerName.toLowerCase() === lower).map(([, value]) => value)
}

/** The elements of a list-valued header (RFC 9110 §5.6.1), empty elements dropped. */
function listElements(values: string[]): string[] {
  return values
    .flatMap((value) => value.split(','))
    .map((element) => element.trim())
    .filter((element) => element !== '')
}

/**
 * What the gateway must do with `bytes` sent to a WebSocket route with no
 * middleware; `routes(path)` says whether a normalised path is such a route.
 * `refuse` is the fuzzer's hard line (never a 101); `accept` means a 101 is
 * owed; `either` leaves it to the gateway.
 */
export function judgeHandshake(bytes: Buffer, routes: (path: string) => boolean): Verdict {
  const split = splitHead(bytes)
  if (split.kind === 'incomplete') return { kind: 'refuse', reason: 'incomplete head' }
  if (split.kind === 'refuse') return split
  const { head } = split
  if (head.method !== 'GET') return { kind: 'refuse', reason: `method ${head.method}` }
  if (head.version !== 'HTTP/1.1') return { kind: 'refuse', reason: `version ${head.version}` }

  const hosts = valuesOf(head, 'host')
  if (hosts.length !== 1) return { kind: 'refuse', reason: `${hosts.length} Host headers` }
  const host = judgeHost(hosts[0]!)
  if (host === 'invalid') return { kind: 'refuse', reason: `invalid Host ${JSON.stringify(hosts[0])}` }

  const target = judgeTarget(head.target)
  if (target.kind === 'refuse') return target

  const transferEncoding = valuesOf(head, 'transfer-encoding')
  if (transferEncoding.length > 0) return { kind: 'refuse', reason: 'Transfer-Encoding on an upgrade' }
  const contentLength = valuesOf(head, 'content-length')
  if (contentLength.length > 1) return { kind: 'refuse', reason: 'repeated Content-Length' }
  if (contentLength.length === 1 && contentLength[0] !== '0') return { kind: 'refuse', reason: 'Content-Length other than 0 on an upgrade' }

  const connection = listElements(valuesOf(head, 'connection'))
  if (connection.some((element) => !isToken(element))) return { kind: 'refuse', reason: 'Connection names a non-token' }
  if (!connection.some((element) => element.toLowerCase() === 'upgrade')) return { kind: 'refuse', reason: 'Connection without upgrade' }
  const upgrade = listElements(valuesOf(head, 'upgrade'))
  if (!upgrade.some((element) => element.toLowerCase() === 'websocket')) return { kind: 'refuse', reason: 'Upgrade without websocket' }
  const keys = valuesOf(head, 'sec-websocket-key')
  if (keys.length !== 1 || !/^[A-Za-z0-9+/]{21}[AQgw]==$/.test(keys[0]!)) {
    if (keys.length === 1 && /^[A-Za-z0-9+/]{22}==$/.test(keys[0]!)) return { kind: 'either', reason: 'non-canonical base64 key' }
    return { kind: 'refuse', reason: 'Sec-WebSocket-Key is not one base64 value of 16 bytes' }
  }
  const versions = valuesOf(head, 'sec-websocket-version')
  if (versions.length !== 1 || versions[0] !== '13') return { kind: 'refuse', reason: 'Sec-WebSocket-Version is not 13' }

  if (target.kind === 'either') return target
  if (host === 'either') return { kind: 'either', reason: 'Host the rule is silent on' }
  if (upgrade.some((element) => !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?$/.test(element))) {
    return { kind: 'either', reason: 'Upgrade list with a malformed element besides websocket' }
  }
  if (head.rest.length > 0) return { kind: 'either', reason: 'bytes after the head' }
  if (head.lenient) return { kind: 'either', reason: 'request-line read leniently (whitespace runs, bare LFs before it)' }
  if (!routes(target.path)) return { kind: 'refuse', reason: `no route for ${target.path}` }
  return { kind: 'accept', path: target.query === undefined ? target.path : `${target.path}?${target.query}` }
}
