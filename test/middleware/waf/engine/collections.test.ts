import { describe, expect, it } from 'vitest'
import { buildCollections, COLLECTION_NAMES, countItems, parseCookies, parseQuery, parseSelector, selectItems } from '../../../../middleware/waf/engine/collections.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { canonicalAddress } from '../../../../src/cidr.ts'

/** A WebSocket handshake's facts, with overrides. */
function facts(overrides: Partial<HandshakeFacts> = {}): HandshakeFacts {
  return {
    method: 'GET',
    rawTarget: '/chat/room.php?user=ann%20b&tag=a+b&tag=c&flag',
    protocol: 'HTTP/1.1',
    headers: [
      ['Host', 'Example.com:8080'],
      ['User-Agent', 'Mozilla/5.0'],
      ['Cookie', 'session=abc; theme=dark'],
      ['Cookie', '_utma=1'],
      ['X-Forwarded-For', '10.0.0.1'],
      ['X-Forwarded-For', '10.0.0.2'],
    ],
    remoteAddress: '::ffff:192.0.2.7',
    ...overrides,
  }
}

/** The values of a collection. */
function values(name: string, input = facts()): string[] {
  return (buildCollections(input).get(name) ?? []).map(({ value }) => value)
}

describe('buildCollections()', () => {
  it('keeps the request line, method and protocol as sent', () => {
    expect(values('REQUEST_LINE')).toEqual(['GET /chat/room.php?user=ann%20b&tag=a+b&tag=c&flag HTTP/1.1'])
    expect(values('REQUEST_METHOD')).toEqual(['GET'])
    expect(values('REQUEST_PROTOCOL')).toEqual(['HTTP/1.1'])
  })

  it('keeps REQUEST_URI and QUERY_STRING undecoded and decodes REQUEST_FILENAME and REQUEST_BASENAME', () => {
    const input = facts({ rawTarget: '/a%2fb/x%2Ephp+1?q=%27' })
    expect(values('REQUEST_URI', input)).toEqual(['/a%2fb/x%2Ephp+1?q=%27'])
    expect(values('QUERY_STRING', input)).toEqual(['q=%27'])
    expect(values('REQUEST_FILENAME', input)).toEqual(['/a/b/x.php+1'])
    expect(values('REQUEST_BASENAME', input)).toEqual(['x.php+1'])
  })

  it('drops scheme and authority from REQUEST_URI of an absolute-form target, and keeps them in REQUEST_URI_RAW', () => {
    const input = facts({ rawTarget: 'http://example.com/path?x=1' })
    expect(values('REQUEST_URI', input)).toEqual(['/path?x=1'])
    expect(values('REQUEST_URI_RAW', input)).toEqual(['http://example.com/path?x=1'])
    expect(values('REQUEST_FILENAME', input)).toEqual(['/path'])
  })

  it('has no QUERY_STRING without a ?', () => {
    expect(values('QUERY_STRING', facts({ rawTarget: '/plain' }))).toEqual([])
  })

  it('decodes argument names and values, + as a space, keeping repeated names', () => {
    const args = buildCollections(facts()).get('ARGS')
    expect(args).toEqual([
      { name: 'user', value: 'ann b' },
      { name: 'tag', value: 'a b' },
      { name: 'tag', value: 'c' },
      { name: 'flag', value: '' },
    ])
    expect(buildCollections(facts()).get('ARGS_GET')).toEqual(args)
    expect(values('ARGS_NAMES')).toEqual(['user', 'tag', 'tag', 'flag'])
    expect(values('ARGS_GET_NAMES')).toEqual(['user', 'tag', 'tag', 'flag'])
  })

  it('counts ARGS_COMBINED_SIZE as the bytes of every decoded name and value', () => {
    // user + "ann b" + tag + "a b" + tag + c + flag = 4 + 5 + 3 + 3 + 3 + 1 + 4
    expect(values('ARGS_COMBINED_SIZE')).toEqual(['23'])
  })

  it('keeps every header line, repeated ones as separate items, names as sent', () => {
    const headers = buildCollections(facts()).get('REQUEST_HEADERS')!
    expect(headers.filter(({ name }) => name === 'X-Forwarded-For').map(({ value }) => value)).toEqual(['10.0.0.1', '10.0.0.2'])
    expect(values('REQUEST_HEADERS_NAMES')).toEqual(['Host', 'User-Agent', 'Cookie', 'Cookie', 'X-Forwarded-For', 'X-Forwarded-For'])
  })

  it('parses cookies from every Cookie header', () => {
    expect(buildCollections(facts()).get('REQUEST_COOKIES')).toEqual([
      { name: 'session', value: 'abc' },
      { name: 'theme', value: 'dark' },
      { name: '_utma', value: '1' },
    ])
    expect(values('REQUEST_COOKIES_NAMES')).toEqual(['session', 'theme', '_utma'])
  })

  it('gives REMOTE_ADDR in canonical form and SERVER_NAME from the Host header', () => {
    expect(values('REMOTE_ADDR')).toEqual(['192.0.2.7'])
    expect(values('SERVER_NAME')).toEqual(['example.com'])
    expect(values('SERVER_NAME', facts({ headers: [['Host', '[2001:DB8::1]:443']] }))).toEqual(['2001:db8::1'])
  })

  it('gives the same REMOTE_ADDR as canonicalAddress whether the address takes the IPv4 shortcut, is remembered, or is parsed', () => {
    const addresses = ['192.0.2.7', '::ffff:192.0.2.7', '::FFFF:10.0.0.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '::ffff:01.2.3.4', '0:0:0:0:0:ffff:1.2.3.4', '2001:DB8:0:0:0:0:0:1', '::1', 'not an address', '']
    // Twice: the second time IPv6 addresses come from the cache.
    for (const address of [...addresses, ...addresses]) {
      expect(values('REMOTE_ADDR', facts({ remoteAddress: address })), address).toEqual([canonicalAddress(address) ?? address])
    }
  })

  it('has empty body collections and zero body sizes', () => {
    for (const name of ['ARGS_POST', 'ARGS_POST_NAMES', 'FILES', 'FILES_NAMES', 'REQUEST_BODY', 'XML', 'MULTIPART_PART_HEADERS']) expect(values(name)).toEqual([])
    expect(values('FILES_COMBINED_SIZE')).toEqual(['0'])
    expect(values('REQUEST_BODY_LENGTH')).toEqual(['0'])
  })

  it('provides exactly the collections COLLECTION_NAMES lists', () => {
    expect(new Set(buildCollections(facts()).keys())).toEqual(COLLECTION_NAMES)
  })

  it('turns chars above U+00FF into UTF-8 bytes so that every value is a byte string', () => {
    expect(values('REQUEST_HEADERS', facts({ headers: [['X-Name', 'Zoë €']] }))).toEqual(['Zo\xc3\xab \xe2\x82\xac'])
  })
})

describe('parseQuery()', () => {
  it('splits as ModSecurity v2 does: empty pairs are empty-named arguments, a trailing & adds nothing', () => {
    expect(parseQuery('a=1&&b=2&')).toEqual([{ name: 'a', value: '1' }, { name: '', value: '' }, { name: 'b', value: '2' }])
  })

  it('splits name and value at the first = and keeps invalid % sequences', () => {
    expect(parseQuery('a=b=c&x=%zz%41')).toEqual([{ name: 'a', value: 'b=c' }, { name: 'x', value: '%zzA' }])
  })
})

describe('parseCookies()', () => {
  it('strips whitespace before names, keeps values raw and skips empty names', () => {
    expect(parseCookies(['  a=%41; =x; b; c=d=e '])).toEqual([{ name: 'a', value: '%41' }, { name: 'b', value: '' }, { name: 'c', value: 'd=e ' }])
  })
})

describe('selecting items', () => {
  const collections = buildCollections(facts())
  const compile = (source: string) => new RegExp(source, 'i')

  it('selects a header by name without regard to case', () => {
    const selector = parseSelector('user-AGENT', compile)
    expect('error' in selector).toBe(false)
    if ('error' in selector) return
    expect(selectItems(collections, 'REQUEST_HEADERS', selector)).toEqual([{ name: 'User-Agent', value: 'Mozilla/5.0' }])
  })

  it('selects arguments by a /regex/ on their names', () => {
    const selector = parseSelector('/^ta/', compile)
    if ('error' in selector) throw new Error(selector.error)
    expect(selectItems(collections, 'ARGS', selector).map(({ value }) => value)).toEqual(['a b', 'c'])
  })

  it('counts items for &ARGS and &REQUEST_HEADERS:Cookie', () => {
    expect(countItems(collections, 'ARGS', { kind: 'all' })).toBe(4)
    expect(countItems(collections, 'REQUEST_HEADERS', { kind: 'key', key: 'cookie' })).toBe(2)
    expect(countItems(collections, 'REQUEST_HEADERS', { kind: 'key', key: 'transfer-encoding' })).toBe(0)
  })

  it('selects cookies by name, case-insensitively', () => {
    expect(selectItems(collections, 'REQUEST_COOKIES', { kind: 'key', key: 'SESSION' })).toEqual([{ name: 'session', value: 'abc' }])
  })

  it('reports a regex selector that does not compile', () => {
    expect(parseSelector('/(/', () => 'unterminated group')).toEqual({ error: 'unterminated group' })
  })

  it('finds nothing in a collection that does not exist', () => {
    expect(selectItems(collections, 'NOPE', { kind: 'all' })).toEqual([])
  })
})
