import ipaddr from 'ipaddr.js'

/**
 * IP addresses and CIDR ranges for the parts of the chain that decide by
 * client address: `normalizeHeaders({ trustedProxies })` and the WAF's
 * allow/deny lists. Lists are parsed once, when a route is defined, and each
 * lookup is a scan of pre-parsed ranges of the address's own family.
 *
 * Two rules keep IPv4 and IPv6 from slipping past each other:
 * - an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, RFC 4291 §2.5.5.2, what
 *   a dual-stack socket reports for an IPv4 client) is the IPv4 address it
 *   carries, both as an address to look up and as a range (`::ffff:10.0.0.0/104`
 *   is `10.0.0.0/8`);
 * - IPv4 must be written as four decimal parts: `127.1` or `0x7f.0.0.1`, which
 *   some parsers accept, are refused rather than guessed at.
 *
 * Portable: ipaddr.js only, no `node:` import.
 */

/** A parsed IP address: an IPv4-mapped IPv6 address is already unwrapped to IPv4. */
export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6

/** A set of CIDR ranges, parsed once, that tells whether an address falls in any of them. */
export interface CidrMatcher {
  /**
   * Whether `address` (an IPv4 or IPv6 literal, IPv4-mapped allowed) is in
   * one of the ranges. Anything that is not an address is in none.
   */
  matches(address: string | IpAddress): boolean
  /** The ranges as configured, for logs and error messages. */
  readonly ranges: readonly string[]
}

/** The IPv4-mapped prefix `::ffff:0:0/96` (RFC 4291 §2.5.5.2). */
const MAPPED_PREFIX_BITS = 96
const MAPPED_SAMPLE = ipaddr.IPv6.parse('::ffff:0.0.0.0')

/** A prefix length written in plain decimal, without sign or leading zeros. */
const PREFIX_PATTERN = /^(?:0|[1-9]\d{0,2})$/

/**
 * Parses an IPv4 or IPv6 literal; IPv4 in four decimal parts only, an IPv6
 * zone (`fe80::1%eth0`) allowed, an IPv4-mapped IPv6 address unwrapped to
 * IPv4. Returns undefined for anything else (brackets, ports, host names).
 *
 * @example
 * parseAddress('::ffff:127.0.0.1')?.toString() // '127.0.0.1'
 */
export function parseAddress(address: string): IpAddress | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) return ipaddr.IPv4.parse(address)
  if (!ipaddr.IPv6.isValid(address)) return undefined
  const parsed = ipaddr.IPv6.parse(address)
  return parsed.isIPv4MappedAddress() ? parsed.toIPv4Address() : parsed
}

/**
 * An address in its canonical text form: IPv4 dotted decimal (unwrapped from
 * an IPv4-mapped IPv6 address), IPv6 as RFC 5952 recommends (lower case,
 * longest zero run compressed). Undefined when `address` is not an address.
 *
 * @example
 * canonicalAddress('::FFFF:10.0.0.1') // '10.0.0.1'
 * canonicalAddress('2001:DB8:0:0:0:0:0:1') // '2001:db8::1'
 */
export function canonicalAddress(address: string): string | undefined {
  const parsed = parseAddress(address)
  return parsed && addressText(parsed)
}

/**
 * A parsed address as {@link canonicalAddress} writes it.
 *
 * @example
 * addressText(parseAddress('::FFFF:10.0.0.1')!) // '10.0.0.1'
 */
export function addressText(address: IpAddress): string {
  return address.kind() === 'ipv4' ? address.toString() : (address as ipaddr.IPv6).toRFC5952String()
}

/**
 * Parses a list of CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`) or single
 * addresses (`127.0.0.1`, `::1`, meaning /32 and /128) once, and returns a
 * matcher. Host bits set below the prefix (`10.1.2.3/8`) are ignored, as in
 * most firewalls. Throws a `TypeError` naming `label` and the bad entry.
 *
 * @param ranges the ranges to match
 * @param label how the list is named in errors, e.g. `normalizeHeaders(): trustedProxies`
 * @example
 * const internal = cidrMatcher(['10.0.0.0/8', '::1'], 'waf(): allow')
 * internal.matches('::ffff:10.1.2.3') // true
 */
export function cidrMatcher(ranges: readonly string[], label = 'CIDR list'): CidrMatcher {
  if (!Array.isArray(ranges)) {
    throw new TypeError(`${label} must be an array of CIDR ranges such as "10.0.0.0/8" or "::1/128"`)
  }
  const v4: [ipaddr.IPv4, number][] = []
  const v6: [ipaddr.IPv6, number][] = []
  for (const entry of ranges as readonly unknown[]) {
    const range = typeof entry === 'string' ? parseRange(entry) : undefined
    if (!range) {
      throw new TypeError(`${label}: ${JSON.stringify(entry)} is not an IP address or CIDR range; expected e.g. "10.0.0.0/8", "127.0.0.1" or "2001:db8::/32"`)
    }
    const [address, bits] = range
    if (address.kind() === 'ipv4') {
      v4.push([address as ipaddr.IPv4, bits])
      continue
    }
    const v6Address = address as ipaddr.IPv6
    if (bits >= MAPPED_PREFIX_BITS && v6Address.isIPv4MappedAddress()) {
      // ::ffff:a.b.c.d/n covers exactly the IPv4 range a.b.c.d/(n-96).
      v4.push([v6Address.toIPv4Address(), bits - MAPPED_PREFIX_BITS])
      continue
    }
    v6.push([v6Address, bits])
    // A wider IPv6 range (::/0, ::/64 …) that contains ::ffff:0:0/96 covers every IPv4 address too.
    if (bits < MAPPED_PREFIX_BITS && MAPPED_SAMPLE.match(v6Address, bits)) v4.push([ipaddr.IPv4.parse('0.0.0.0'), 0])
  }
  const list = Object.freeze([...ranges])
  return {
    ranges: list,
    matches(address) {
      const parsed = typeof address === 'string' ? parseAddress(address) : unwrap(address)
      if (!parsed) return false
      if (parsed.kind() === 'ipv4') return v4.some(([network, bits]) => (parsed as ipaddr.IPv4).match(network, bits))
      return v6.some(([network, bits]) => (parsed as ipaddr.IPv6).match(network, bits))
    },
  }
}

/** `addr/bits` or a bare address, strictly: decimal prefix within the family's width. */
function parseRange(entry: string): [IpAddress, number] | undefined {
  const slash = entry.indexOf('/')
  const text = slash < 0 ? entry : entry.slice(0, slash)
  // A zone only means something on the host that wrote it; a range with one is a mistake.
  if (text.includes('%')) return undefined
  const address = ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : undefined
  if (!address) return undefined
  const width = address.kind() === 'ipv4' ? 32 : 128
  if (slash < 0) return [address, width]
  const prefix = entry.slice(slash + 1)
  if (!PREFIX_PATTERN.test(prefix)) return undefined
  const bits = Number(prefix)
  return bits <= width ? [address, bits] : undefined
}

function unwrap(address: IpAddress): IpAddress {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address
}
