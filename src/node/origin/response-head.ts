import { HOP_BY_HOP_HEADERS, HTTP_TOKEN, headerTokens } from '../../headers.ts'

/**
 * The head of an origin's HTTP/1.x response, parsed by hand for the raw
 * origin connector (no `ClientRequest`, no llhttp instance per handshake).
 * As strict as llhttp on what matters to a proxy: the status line's shape,
 * header names as tokens, no control bytes in values, no folded lines.
 */

/** The largest response head accepted, as Node's default `maxHeaderSize`. */
export const MAX_RESPONSE_HEAD = 16 * 1024

/** A parsed status line and header list. */
export interface ResponseHead {
  /** `1.0` or `1.1`. */
  httpVersion: string
  status: number
  statusText: string
  /** Names as sent and values trimmed, alternating, repeated headers kept (Node's `rawHeaders` shape). */
  rawHeaders: string[]
}

/** Thrown for a head that is not HTTP; the connector turns it into a 502. */
export class MalformedResponseHead extends Error {
  override readonly name = 'MalformedResponseHead'
}

// A status is three digits from 100 (RFC 9110 §15): `Response` cannot carry one below 200, and 1xx are handled apart.
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/
// Visible ASCII, space, tab and obs-text (RFC 9110 §5.5); no CR, LF or NUL.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * Where the head ends in `bytes[0, length)`: the index just past the blank
 * line, or -1 while it is incomplete.
 */
export function headEnd(bytes: Buffer, length: number): number {
  const at = bytes.subarray(0, length).indexOf('\r\n\r\n', 0, 'latin1')
  return at === -1 ? -1 : at + 4
}

/** Parses `head` (latin1, ending with the blank line). Throws {@link MalformedResponseHead}. */
export function parseResponseHead(head: string): ResponseHead {
  const lines = head.slice(0, -4).split('\r\n')
  const status = STATUS_LINE.exec(lines[0]!)
  if (!status) throw new MalformedResponseHead('not an HTTP response')
  const rawHeaders: string[] = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    const colon = line.indexOf(':')
    const name = colon === -1 ? '' : line.slice(0, colon)
    // Only SP and HTAB are whitespace around a value (RFC 9112 §5.1); String#trim() would also drop
    // VT, FF and 0xA0 (obs-text), hiding a control byte the check below must see.
    let start = colon + 1
    let end = line.length
    while (start < end && isWhitespace(line.charCodeAt(start))) start++
    while (end > start && isWhitespace(line.charCodeAt(end - 1))) end--
    const value = line.slice(start, end)
    if (!HTTP_TOKEN.test(name)) throw new MalformedResponseHead('invalid header line')
    if (!HEADER_VALUE.test(value)) throw new MalformedResponseHead(`invalid value for header ${name}`)
    rawHeaders.push(name, value)
  }
  return { httpVersion: `1.${status[1]}`, status: Number(status[2]), statusText: status[3] ?? '', rawHeaders }
}

/** Lines of a 101 that never reach the client: hop-by-hop ones (`Connection` and `Upgrade` are the upgrade's own) and body framing. */
const NOT_RELAYED_ON_101: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS.filter((name) => name !== 'connection' && name !== 'upgrade'), 'content-length'])

/** The lengths of those names and of `connection`: a line of any other length is passed over without lower-casing its name. */
const WATCHED_LENGTHS: readonly boolean[] = (() => {
  const lengths: boolean[] = []
  for (const name of [...NOT_RELAYED_ON_101, 'connection']) lengths[name.length] = true
  return lengths
})()

/**
 * The header lines of an origin's 101 that go on to the client (RFC 9110
 * §7.6.1, as the relay of a non-101 answer does): without the hop-by-hop
 * ones but `Connection` and `Upgrade`, without the fields `Connection`
 * names (an `X-Internal-Token` the origin marked for the gateway), without
 * `Content-Length` (none on a 1xx, §8.6), and with `Connection` reduced to
 * `Upgrade` when it named more. A `Connection` without `upgrade` is left as
 * it came, for the 101's check to refuse. The usual 101 (`Upgrade`,
 * `Connection: Upgrade`, the accept value) comes back as it is, uncopied.
 *
 * @example
 * relayedUpgradeLines(['Connection', 'Upgrade, X-Token', 'X-Token', 's', 'Upgrade', 'websocket']) // ['Upgrade', 'websocket', 'Connection', 'Upgrade']
 */
export function relayedUpgradeLines(lines: string[]): string[] {
  let connection: string | undefined
  let dropped = false
  for (let i = 0; i < lines.length; i += 2) {
    const name = lines[i]!
    // On every handshake: Upgrade and the Sec-WebSocket-* lines are told apart by their length alone, or by one lower-casing.
    if (WATCHED_LENGTHS[name.length] !== true) continue
    const lower = name.toLowerCase()
    if (lower === 'connection') connection = connection === undefined ? lines[i + 1]! : `${connection}, ${lines[i + 1]!}`
    else if (NOT_RELAYED_ON_101.has(lower)) dropped = true
  }
  // The usual Connection is the token alone: nothing named, nothing to split.
  if (!dropped && (connection === undefined || connection.toLowerCase() === 'upgrade')) return lines
  const named = headerTokens(connection ?? null)
  // Connection is rewritten only when it holds upgrade and names more.
  const rewrite = named.length > 1 && named.includes('upgrade')
  if (!dropped && !rewrite) return lines
  const kept: string[] = []
  for (let i = 0; i < lines.length; i += 2) {
    const name = lines[i]!.toLowerCase()
    if (NOT_RELAYED_ON_101.has(name) || (rewrite && (name === 'connection' || (name !== 'upgrade' && named.includes(name))))) continue
    kept.push(lines[i]!, lines[i + 1]!)
  }
  if (rewrite) kept.push('Connection', 'Upgrade')
  return kept
}

/** SP or HTAB. */
function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09
}
