/**
 * `@ipMatch` and `@ipMatchFromFile` (alias `@ipMatchF`): the value is an IP
 * address inside one of the listed addresses or CIDR ranges. Lists are parsed
 * once with `src/cidr.ts` (IPv4-mapped IPv6 addresses count as IPv4; IPv4
 * must be four decimal parts). A value that is not an address never matches.
 */
import ipaddr from 'ipaddr.js'
import type { Operator, OperatorContext } from '../types.ts'
import { cidrMatcher, type CidrMatcher, type IpAddress } from '../../../src/cidr.ts'

/** An IPv4 address in four decimal parts without leading zeros: what REMOTE_ADDR holds for an IPv4 client. */
const PLAIN_IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/
/** An IPv6 address in hex groups, at most one `::`, no zone and no dotted tail: what REMOTE_ADDR holds for an IPv6 client. */
const PLAIN_IPV6 = /^(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?(?:::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?)?$/

/** The 16-bit groups of one side of `::` (empty for an empty side). */
function groups(text: string): number[] {
  return text === '' ? [] : text.split(':').map((group) => Number.parseInt(group, 16))
}

/**
 * The address `text` is, built directly when it is in the plain form a
 * socket reports; undefined for anything else, which goes through the CIDR
 * matcher's own parser. Parsing an IPv6 literal with ipaddr.js took ~18 µs
 * (it tries every form it knows), and telling whether it is IPv4-mapped
 * another ~2 µs (a walk over its table of special ranges), for the one
 * `@ipMatch 127.0.0.1,::1` of a CRS evaluation (905100): for plain forms
 * the parts are read here, and an IPv4-mapped address is unwrapped as the
 * matcher would (`::ffff:0:0/96`, RFC 4291 §2.5.5.2, which no special range
 * ipaddr.js checks before it overlaps).
 */
function plainAddress(text: string): IpAddress | undefined {
  const v4 = PLAIN_IPV4.exec(text)
  if (v4 !== null) return new ipaddr.IPv4([Number(v4[1]), Number(v4[2]), Number(v4[3]), Number(v4[4])])
  if (!text.includes(':') || !PLAIN_IPV6.test(text)) return undefined
  const gap = text.indexOf('::')
  let parts: number[]
  if (gap < 0) {
    parts = groups(text)
    if (parts.length !== 8) return undefined
  } else {
    const left = groups(text.slice(0, gap))
    const right = groups(text.slice(gap + 2))
    if (left.length + right.length > 7) return undefined
    parts = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  }
  const mapped = parts[0] === 0 && parts[1] === 0 && parts[2] === 0 && parts[3] === 0 && parts[4] === 0 && parts[5] === 0xffff
  if (mapped) return new ipaddr.IPv4([parts[6]! >> 8, parts[6]! & 0xff, parts[7]! >> 8, parts[7]! & 0xff])
  return Object.assign(new ipaddr.IPv6(parts), { isIPv4MappedAddress: () => false })
}

/** The operator over a parsed list; the address is capture 0. */
function matching(matcher: CidrMatcher): Operator {
  return function ipMatch(input) {
    const address = input.trim()
    return matcher.matches(plainAddress(address) ?? address) ? [input] : null
  }
}

/**
 * `@ipMatch 10.0.0.0/8,192.168.1.1,::1`: a comma-separated list. Throws a
 * `TypeError` naming a bad entry.
 *
 * @example
 * ipMatch('127.0.0.1,10.0.0.0/8', {})('10.1.2.3', (t) => t) // ['10.1.2.3']
 */
export function ipMatch(param: string, _context: OperatorContext): Operator {
  const ranges = param.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  if (ranges.length === 0) throw new TypeError('@ipMatch needs at least one address or range, e.g. "@ipMatch 10.0.0.0/8,::1"')
  return matching(cidrMatcher(ranges, '@ipMatch'))
}

/**
 * `@ipMatchFromFile file` (alias `@ipMatchF`): one address or range per line
 * of a data file read through `context.readDataFile`; empty lines and `#`
 * comments are skipped.
 *
 * @example
 * ipMatchFromFile('blocked-ips.data', { readDataFile: (name) => readFileSync(join(dir, name), 'latin1') })
 */
export function ipMatchFromFile(param: string, context: OperatorContext): Operator {
  const file = param.trim()
  if (file === '') throw new TypeError('@ipMatchFromFile needs a data file name')
  if (/^https?:\/\//i.test(file)) throw new TypeError(`@ipMatchFromFile: remote data files are not supported (${file})`)
  if (!context.readDataFile) throw new TypeError(`@ipMatchFromFile needs readDataFile in the operator context to read ${file}`)
  const ranges = context.readDataFile(file).split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
  return matching(cidrMatcher(ranges, `@ipMatchFromFile ${file}`))
}
