import { describe, expect, it } from 'vitest'
import { canonicalAddress, cidrMatcher, parseAddress } from '../../src/cidr.ts'

describe('cidrMatcher', () => {
  it('matches IPv4 addresses inside a range and not those outside', () => {
    const matcher = cidrMatcher(['10.0.0.0/8', '192.168.1.0/24'])
    expect(matcher.matches('10.0.0.1')).toBe(true)
    expect(matcher.matches('10.255.255.255')).toBe(true)
    expect(matcher.matches('192.168.1.77')).toBe(true)
    expect(matcher.matches('11.0.0.1')).toBe(false)
    expect(matcher.matches('192.168.2.1')).toBe(false)
  })

  it('matches IPv6 addresses inside a range and not those outside', () => {
    const matcher = cidrMatcher(['2001:db8::/32'])
    expect(matcher.matches('2001:db8::1')).toBe(true)
    expect(matcher.matches('2001:DB8:ffff::1')).toBe(true)
    expect(matcher.matches('2001:db9::1')).toBe(false)
  })

  it('treats a bare address as a single-host range (/32, /128)', () => {
    const matcher = cidrMatcher(['127.0.0.1', '::1'])
    expect(matcher.matches('127.0.0.1')).toBe(true)
    expect(matcher.matches('127.0.0.2')).toBe(false)
    expect(matcher.matches('::1')).toBe(true)
    expect(matcher.matches('::2')).toBe(false)
  })

  it('matches an IPv4-mapped IPv6 address against IPv4 ranges', () => {
    const matcher = cidrMatcher(['127.0.0.0/8'])
    expect(matcher.matches('::ffff:127.0.0.1')).toBe(true)
    expect(matcher.matches('::FFFF:7f00:1')).toBe(true)
    expect(matcher.matches('::ffff:128.0.0.1')).toBe(false)
  })

  it('reads an IPv4-mapped IPv6 range as the IPv4 range it covers', () => {
    const matcher = cidrMatcher(['::ffff:10.0.0.0/104'])
    expect(matcher.matches('10.1.2.3')).toBe(true)
    expect(matcher.matches('::ffff:10.1.2.3')).toBe(true)
    expect(matcher.matches('11.1.2.3')).toBe(false)
  })

  it('lets an IPv6 range that contains the IPv4-mapped block match IPv4 addresses too', () => {
    const matcher = cidrMatcher(['::/0'])
    expect(matcher.matches('203.0.113.9')).toBe(true)
    expect(matcher.matches('2001:db8::1')).toBe(true)
    expect(cidrMatcher(['2001:db8::/32']).matches('203.0.113.9')).toBe(false)
  })

  it('never matches an IPv4 address against an IPv6 range of another block, or the reverse', () => {
    const matcher = cidrMatcher(['10.0.0.0/8', 'fd00::/8'])
    expect(matcher.matches('fd00::1')).toBe(true)
    expect(matcher.matches('::a00:1')).toBe(false)
    expect(matcher.matches('10.0.0.1')).toBe(true)
  })

  it('ignores host bits below the prefix', () => {
    expect(cidrMatcher(['10.1.2.3/8']).matches('10.200.0.1')).toBe(true)
  })

  it('matches a zoned IPv6 address by its address', () => {
    expect(cidrMatcher(['fe80::/10']).matches('fe80::1%eth0')).toBe(true)
  })

  it('matches nothing that is not an address', () => {
    const matcher = cidrMatcher(['0.0.0.0/0', '::/0'])
    for (const value of ['', 'localhost', '10.0.0.1:80', '[::1]', '127.1', ' 10.0.0.1', 'unknown']) {
      expect(matcher.matches(value), value).toBe(false)
    }
  })

  it('matches nothing when the list is empty', () => {
    expect(cidrMatcher([]).matches('127.0.0.1')).toBe(false)
  })

  it('accepts an already parsed address', () => {
    const address = parseAddress('::ffff:10.0.0.5')!
    expect(cidrMatcher(['10.0.0.0/24']).matches(address)).toBe(true)
  })

  it('keeps the configured ranges for messages', () => {
    expect(cidrMatcher(['10.0.0.0/8', '::1']).ranges).toEqual(['10.0.0.0/8', '::1'])
  })

  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/-1', '10.0.0.0/08', '10.0.0.0/', '10.0.0/8', '127.1', '0x7f.0.0.1', 'example.com', '10.0.0.0/8 ', 'fe80::1%eth0/64', '']) {
    it(`throws a TypeError naming the list and the entry for ${JSON.stringify(bad)}`, () => {
      expect(() => cidrMatcher([bad], 'waf(): allow')).toThrow(TypeError)
      expect(() => cidrMatcher([bad], 'waf(): allow')).toThrow(`waf(): allow: ${JSON.stringify(bad)} is not an IP address or CIDR range`)
    })
  }

  it('throws a TypeError for a list that is not an array or holds a non-string', () => {
    expect(() => cidrMatcher('10.0.0.0/8' as unknown as string[], 'trustedProxies')).toThrow(/trustedProxies must be an array/)
    expect(() => cidrMatcher([8 as unknown as string], 'trustedProxies')).toThrow(/trustedProxies: 8 is not an IP address/)
  })
})

describe('canonicalAddress', () => {
  it('unwraps an IPv4-mapped IPv6 address to dotted decimal', () => {
    expect(canonicalAddress('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(canonicalAddress('::FFFF:7f00:1')).toBe('127.0.0.1')
  })

  it('writes IPv6 in RFC 5952 form', () => {
    expect(canonicalAddress('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1')
    expect(canonicalAddress('::1')).toBe('::1')
  })

  it('keeps IPv4 as it is', () => {
    expect(canonicalAddress('203.0.113.9')).toBe('203.0.113.9')
  })

  it('returns undefined for what is not an address', () => {
    expect(canonicalAddress('')).toBeUndefined()
    expect(canonicalAddress('host.example')).toBeUndefined()
    expect(canonicalAddress('127.1')).toBeUndefined()
  })
})
