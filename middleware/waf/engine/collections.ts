/**
 * The request collections a handshake offers to rules, built as ModSecurity
 * builds them for phases 1–2, and the helpers that pick items out of them
 * (`ARGS:name`, `ARGS:/regex/`, `&ARGS`). Every value is a byte string
 * (`bytes.ts`): header values and the request target arrive that way from
 * Node; anything wider is turned into its UTF-8 bytes first.
 *
 * Sources: ModSecurity v2 (`msc_parsers.c` for arguments and cookies,
 * `re_variables.c`) and libmodsecurity (`transaction.cc` `processURI`), the
 * brief's choices where they differ (noted). There is no body at handshake
 * time, so the body collections exist and are empty. Portable: no `node:`
 * import.
 */
import type { CollectionItem, HandshakeFacts, RequestCollections } from '../types.ts'
import { canonicalAddress } from '../../../src/cidr.ts'
import { hexValue, toByteString } from '../bytes.ts'
import { urlDecode } from '../transformations/url.ts'

/**
 * Every collection {@link buildCollections} provides, upper-cased. The body
 * ones (`ARGS_POST`, `FILES`, `REQUEST_BODY`, `XML`, …) are always empty.
 */
export const COLLECTION_NAMES: ReadonlySet<string> = new Set([
  'REQUEST_LINE', 'REQUEST_METHOD', 'REQUEST_PROTOCOL', 'REQUEST_URI', 'REQUEST_URI_RAW', 'REQUEST_FILENAME', 'REQUEST_BASENAME',
  'PATH_INFO', 'QUERY_STRING', 'ARGS', 'ARGS_NAMES', 'ARGS_GET', 'ARGS_GET_NAMES', 'ARGS_POST', 'ARGS_POST_NAMES', 'ARGS_COMBINED_SIZE',
  'REQUEST_HEADERS', 'REQUEST_HEADERS_NAMES', 'REQUEST_COOKIES', 'REQUEST_COOKIES_NAMES', 'REMOTE_ADDR', 'SERVER_NAME',
  'FILES', 'FILES_NAMES', 'FILES_SIZES', 'FILES_TMPNAMES', 'FILES_COMBINED_SIZE', 'MULTIPART_PART_HEADERS', 'REQUEST_BODY',
  'REQUEST_BODY_LENGTH', 'XML',
])

/**
 * An IPv4 address already in canonical form (no leading zeros), bare or
 * IPv4-mapped (`::ffff:10.0.0.1`, what a dual-stack Node server reports for
 * IPv4 clients): its canonical form is the dotted quad, read without parsing.
 */
const CANONICAL_IPV4 = /^(?:::ffff:)?((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})$/i

/** Other addresses (IPv6) whose canonical form is remembered: a client that reconnects is often one seen a moment ago. */
const ADDRESS_CACHE_SIZE = 64

const canonicalAddresses = new Map<string, string>()

/**
 * REMOTE_ADDR's value: the address in canonical form, or as given when it
 * is not one. Parsing it with ipaddr.js was ~3.5 % of a CRS evaluation; an
 * IPv4 address is recognised by one regex instead, and the canonical form of
 * the last {@link ADDRESS_CACHE_SIZE} others is remembered (the oldest
 * dropped first).
 */
function remoteAddress(address: string): string {
  const ipv4 = CANONICAL_IPV4.exec(address)
  if (ipv4 !== null) return ipv4[1]!
  let canonical = canonicalAddresses.get(address)
  if (canonical === undefined) {
    canonical = canonicalAddress(address) ?? toByteString(address)
    if (canonicalAddresses.size >= ADDRESS_CACHE_SIZE) canonicalAddresses.delete(canonicalAddresses.keys().next().value!)
    canonicalAddresses.set(address, canonical)
  }
  return canonical
}

/** One item of a scalar variable: its name is the variable's. */
function scalar(name: string, value: string): CollectionItem[] {
  return [{ name, value }]
}

/** `_NAMES` companions: each key as both name and value. */
function names(items: readonly CollectionItem[]): CollectionItem[] {
  return items.map(({ name }) => ({ name, value: name }))
}

/**
 * libmodsecurity's `uri_decode()`, used for REQUEST_FILENAME: valid `%HH`
 * sequences only; `+` stays a plus (it means a space only in a query).
 */
function decodePercent(text: string): string {
  let at = text.indexOf('%')
  if (at < 0) return text
  let out = ''
  let run = 0
  for (; at >= 0 && at + 2 < text.length; at = text.indexOf('%', at + 1)) {
    const high = hexValue(text.charCodeAt(at + 1))
    const low = hexValue(text.charCodeAt(at + 2))
    if (high < 0 || low < 0) continue
    out += text.slice(run, at) + String.fromCharCode(high * 16 + low)
    run = at + 3
    at += 2
  }
  return out + text.slice(run)
}

/**
 * Splits a query string into arguments as ModSecurity v2's
 * `parse_arguments()` does: pairs separated by `&`, name and value split at
 * the first `=`, both URL-decoded (`+` is a space, invalid `%` sequences
 * kept). A pair without `=` is a name with an empty value; an empty pair
 * between two `&` is an argument with an empty name; a trailing `&` adds
 * nothing.
 *
 * @example
 * parseQuery('a=1&b&c=x%20y+z') // [{ name: 'a', value: '1' }, { name: 'b', value: '' }, { name: 'c', value: 'x y z' }]
 */
export function parseQuery(query: string): CollectionItem[] {
  const items: CollectionItem[] = []
  if (query === '') return items
  const pairs = query.split('&')
  // "a=1&" ends with an empty piece that ModSecurity does not count.
  if (pairs[pairs.length - 1] === '') pairs.pop()
  for (const pair of pairs) {
    const equals = pair.indexOf('=')
    const name = equals < 0 ? pair : pair.slice(0, equals)
    const value = equals < 0 ? '' : pair.slice(equals + 1)
    items.push({ name: urlDecode(name), value: urlDecode(value) })
  }
  return items
}

/**
 * Parses `Cookie` header values as ModSecurity v2's version 0 cookie parser
 * does: cookies separated by `;`, whitespace before a name dropped, name and
 * value split at the first `=`, nothing decoded; a cookie without `=` has an
 * empty value, one with an empty name is skipped.
 *
 * @example
 * parseCookies(['a=1; b=x=y; flag']) // [{ name: 'a', value: '1' }, { name: 'b', value: 'x=y' }, { name: 'flag', value: '' }]
 */
export function parseCookies(headerValues: readonly string[]): CollectionItem[] {
  const items: CollectionItem[] = []
  for (const header of headerValues) {
    for (const piece of header.split(';')) {
      const cookie = piece.replace(/^[\t-\r ]+/, '')
      const equals = cookie.indexOf('=')
      const name = equals < 0 ? cookie : cookie.slice(0, equals)
      if (name === '') continue
      items.push({ name, value: equals < 0 ? '' : cookie.slice(equals + 1) })
    }
  }
  return items
}

/** The parts of a request target: ModSecurity's view of path and query. */
interface TargetParts {
  /** REQUEST_URI: path and query as sent, without scheme and authority. */
  uri: string
  /** The path, as sent. */
  path: string
  /** The query, without `?` and any `#fragment`; undefined when there is no `?`. */
  query: string | undefined
}

/** Splits a request target (origin-form, or absolute-form whose scheme and authority are dropped). */
function targetParts(rawTarget: string): TargetParts {
  const hash = rawTarget.indexOf('#')
  let target = hash < 0 ? rawTarget : rawTarget.slice(0, hash)
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(target)
  if (absolute) target = target.slice(absolute[0].length)
  const question = target.indexOf('?')
  return {
    uri: absolute ? target : hash < 0 ? rawTarget : rawTarget.slice(0, hash),
    path: question < 0 ? target : target.slice(0, question),
    query: question < 0 ? undefined : target.slice(question + 1),
  }
}

/** The host name of a Host header value, without port or IPv6 brackets, lower-cased. */
function hostName(host: string): string {
  const trimmed = host.trim()
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']')
    return (close < 0 ? trimmed.slice(1) : trimmed.slice(1, close)).toLowerCase()
  }
  const colon = trimmed.lastIndexOf(':')
  return (colon < 0 ? trimmed : trimmed.slice(0, colon)).toLowerCase()
}

/**
 * Builds the collections rules read from the facts of a handshake, keyed by
 * upper-case variable name. Scalars hold one item named after the variable;
 * multi-valued collections one item per value, in arrival order, with names
 * as sent.
 *
 * - REQUEST_LINE, REQUEST_METHOD, REQUEST_PROTOCOL as sent.
 * - REQUEST_URI: path and query, not decoded, without scheme and authority
 *   (ModSecurity v2), of the normalised target when the facts have one;
 *   REQUEST_URI_RAW: the target exactly as sent.
 * - REQUEST_FILENAME (and PATH_INFO): the path, `%HH`-decoded as
 *   libmodsecurity does; REQUEST_BASENAME: what follows its last `/` or `\`.
 * - QUERY_STRING: the raw query (absent when there is no `?`); ARGS,
 *   ARGS_GET: the query's arguments, decoded (see {@link parseQuery}); the
 *   `_NAMES` companions; ARGS_COMBINED_SIZE: the bytes of all names and values.
 * - REQUEST_HEADERS: every header line, repeated ones as separate items;
 *   REQUEST_COOKIES from every `Cookie` header (see {@link parseCookies}).
 * - REMOTE_ADDR: the address in canonical form (`::ffff:10.0.0.1` is
 *   `10.0.0.1`); SERVER_NAME: the Host header's host name. REMOTE_PORT and
 *   SERVER_PORT are not among the facts, so they are absent.
 * - ARGS_POST, FILES, REQUEST_BODY, XML…: empty; FILES_COMBINED_SIZE and
 *   REQUEST_BODY_LENGTH: 0.
 *
 * @example
 * const collections = buildCollections({ method: 'GET', rawTarget: '/chat?room=a%20b', protocol: 'HTTP/1.1', headers: [['Host', 'example.com']], remoteAddress: '::ffff:10.0.0.7' })
 * collections.get('ARGS') // [{ name: 'room', value: 'a b' }]
 */
export function buildCollections(facts: HandshakeFacts): RequestCollections {
  const method = toByteString(facts.method)
  const rawTarget = toByteString(facts.rawTarget)
  const protocol = toByteString(facts.protocol)
  const headers: CollectionItem[] = facts.headers.map(([name, value]) => ({ name: toByteString(name), value: toByteString(value) }))
  const { uri, path, query } = targetParts(facts.target === undefined ? rawTarget : toByteString(facts.target))
  const filename = decodePercent(path)
  const slash = Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\'))
  const args = parseQuery(query ?? '')
  let combined = 0
  for (const { name, value } of args) combined += name.length + value.length
  const cookies = parseCookies(headers.filter(({ name }) => name.toLowerCase() === 'cookie').map(({ value }) => value))
  const host = headers.find(({ name }) => name.toLowerCase() === 'host')
  const address = remoteAddress(facts.remoteAddress)

  const collections: RequestCollections = new Map()
  collections.set('REQUEST_LINE', scalar('REQUEST_LINE', `${method} ${rawTarget} ${protocol}`))
  collections.set('REQUEST_METHOD', scalar('REQUEST_METHOD', method))
  collections.set('REQUEST_PROTOCOL', scalar('REQUEST_PROTOCOL', protocol))
  collections.set('REQUEST_URI', scalar('REQUEST_URI', uri))
  collections.set('REQUEST_URI_RAW', scalar('REQUEST_URI_RAW', rawTarget))
  collections.set('REQUEST_FILENAME', scalar('REQUEST_FILENAME', filename))
  collections.set('PATH_INFO', scalar('PATH_INFO', filename))
  collections.set('REQUEST_BASENAME', slash >= 0 && slash < filename.length - 1 ? scalar('REQUEST_BASENAME', filename.slice(slash + 1)) : slash < 0 ? scalar('REQUEST_BASENAME', filename) : [])
  collections.set('QUERY_STRING', query === undefined ? [] : scalar('QUERY_STRING', query))
  collections.set('ARGS', args)
  collections.set('ARGS_NAMES', names(args))
  collections.set('ARGS_GET', args)
  collections.set('ARGS_GET_NAMES', names(args))
  collections.set('ARGS_POST', [])
  collections.set('ARGS_POST_NAMES', [])
  collections.set('ARGS_COMBINED_SIZE', scalar('ARGS_COMBINED_SIZE', String(combined)))
  collections.set('REQUEST_HEADERS', headers)
  collections.set('REQUEST_HEADERS_NAMES', names(headers))
  collections.set('REQUEST_COOKIES', cookies)
  collections.set('REQUEST_COOKIES_NAMES', names(cookies))
  collections.set('REMOTE_ADDR', scalar('REMOTE_ADDR', address))
  collections.set('SERVER_NAME', host ? scalar('SERVER_NAME', hostName(host.value)) : [])
  for (const empty of ['FILES', 'FILES_NAMES', 'FILES_SIZES', 'FILES_TMPNAMES', 'MULTIPART_PART_HEADERS', 'REQUEST_BODY', 'XML']) collections.set(empty, [])
  collections.set('FILES_COMBINED_SIZE', scalar('FILES_COMBINED_SIZE', '0'))
  collections.set('REQUEST_BODY_LENGTH', scalar('REQUEST_BODY_LENGTH', '0'))
  return collections
}

/**
 * Which items of a collection a variable names: all of them (`ARGS`), those
 * whose key equals a name without regard to case (`ARGS:user`; ModSecurity
 * compares every collection key that way), or those whose key matches a
 * regex (`ARGS:/^user_/`, compiled by the caller, caseless as ModSecurity
 * compiles it).
 */
export type ItemSelector = { kind: 'all' } | { kind: 'key'; key: string } | { kind: 'regex'; regex: RegExp }

/**
 * Reads the part after `:` in a variable (`user`, `/^user_/`) as a selector;
 * `compile` turns a regex source into a RegExp (the engine passes
 * `translateRegex` with `caseless`) or returns an error message.
 *
 * @example
 * parseSelector('/^x-/', (source) => new RegExp(source, 'i')) // { kind: 'regex', regex: /^x-/i }
 */
export function parseSelector(selector: string | undefined, compile: (source: string) => RegExp | string): ItemSelector | { error: string } {
  if (selector === undefined || selector === '') return { kind: 'all' }
  if (selector.length >= 2 && selector.startsWith('/') && selector.endsWith('/')) {
    const regex = compile(selector.slice(1, -1))
    return typeof regex === 'string' ? { error: regex } : { kind: 'regex', regex }
  }
  return { kind: 'key', key: selector.toLowerCase() }
}

/** Whether `name` equals `lowerKey` (already lower-cased) without regard to ASCII case, without allocating when lengths differ. */
function sameKey(name: string, lowerKey: string): boolean {
  return name.length === lowerKey.length && (name === lowerKey || name.toLowerCase() === lowerKey)
}

/**
 * The items of `collection` that `selector` picks, in order. A missing
 * collection has no items.
 *
 * @example
 * selectItems(collections, 'REQUEST_HEADERS', { kind: 'key', key: 'user-agent' })
 */
export function selectItems(collections: RequestCollections, collection: string, selector: ItemSelector): CollectionItem[] {
  const items = collections.get(collection) ?? []
  switch (selector.kind) {
    case 'all':
      return items
    case 'key': {
      const key = selector.key.toLowerCase()
      return items.filter(({ name }) => sameKey(name, key))
    }
    case 'regex':
      return items.filter(({ name }) => selector.regex.test(name))
  }
}

/**
 * `&ARGS`, `&REQUEST_HEADERS:Cookie`: how many items the selector picks.
 *
 * @example
 * countItems(collections, 'ARGS', { kind: 'all' }) // 2
 */
export function countItems(collections: RequestCollections, collection: string, selector: ItemSelector): number {
  return selectItems(collections, collection, selector).length
}
