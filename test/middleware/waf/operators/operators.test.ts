import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { OPERATORS } from '../../../../middleware/waf/operators/index.ts'
import { phraseMatcher } from '../../../../middleware/waf/operators/aho-corasick.ts'
import type { Operator, OperatorContext } from '../../../../middleware/waf/types.ts'

const identity = (text: string) => text

/** Compiles `@name param` from the table. */
function op(name: string, param: string, context: OperatorContext = {}): Operator {
  const factory = OPERATORS[name.toLowerCase()]
  if (!factory) throw new Error(`no operator ${name}`)
  return factory(param, context)
}

/** Whether `@name param` matches `input` (macros expanded by `expand`). */
function matches(name: string, param: string, input: string, expand: (text: string) => string = identity): boolean {
  return op(name, param)(input, expand) !== null
}

// Vectors from ModSecurity's suite (owasp-modsecurity/secrules-language-tests, operators/*.json): [param, input, matches].
const VECTORS: Record<string, [param: string, input: string, result: boolean][]> = {
  rx: [
    ['test', 'qqtestqq', true],
    ['', '', true],
    ['TestCase', '', false],
    ['', 'TestCase', true],
    ['ghij', 'abcdefghi', false],
    ['(?i:(sleep\\((\\s*?)(\\d*?)(\\s*?)\\)|benchmark\\((.*?)\\,(.*?)\\)))', 'SELECT pg_sleep(10);', true],
  ],
  containsWord: [
    ['', '', true],
    ['TestCase', '', false],
    ['', 'TestCase', true],
    ['abc', 'abcdefghi', false],
    ['def', 'abcdefghi', false],
    ['ghi', 'abcdefghi', false],
    ['abc', 'abc def ghi', true],
    ['def', 'abc def ghi', true],
    ['ghi', 'abc def ghi', true],
    ['abc', 'abc\x00def ghi', true],
    ['def', 'abc\x00def ghi', true],
    ['x', 'x', true],
    ['x', ' x ', true],
    ['y', 'xyz', false],
    ['hiding', 'hidingX<-not on word boundary, but is later on->hiding', true],
  ],
  validateByteRange: [
    ['0-255', '', false],
    ['', 'TestCase', true],
    ['xxx', 'TestCase', true],
    ['xxx', '\x00', false],
    ['0-255', 'abcdefghi', false],
    ['97-105', 'abcdefghi', false],
    ['97-105', 'abcdefghij', true],
  ],
  validateUtf8Encoding: [
    ['', '', false],
    ['', 'Je peux manger du verre, \xc3\xa7a ne me fait pas de mal.', false],
    ['', '\xe2\x80\x94 \xf0\x9f\x98\x80', false],
    ['', '\x00\xe4', true],
    ['', '\xe4', true],
    ['', '\x03\xbf', true],
    ['', '\xc9;', true],
    ['', '\xff\x00', true],
  ],
}

describe('OPERATORS against ModSecurity test vectors', () => {
  for (const [name, vectors] of Object.entries(VECTORS)) {
    for (const [param, input, result] of vectors) {
      it(`@${name} ${JSON.stringify(param)} ${result ? 'matches' : 'does not match'} ${JSON.stringify(input).slice(0, 50)}`, () => {
        expect(matches(name, param, input)).toBe(result)
      })
    }
  }
})

describe('@rx', () => {
  it('returns the match and its groups as captures 0–9', () => {
    expect(op('rx', '(a)(b)?(c)')('xacx', identity)).toEqual(['ac', 'a', '', 'c'])
  })

  it('compiles with ModSecurity options: the dot matches a newline, $ only the very end', () => {
    expect(matches('rx', '^a.b$', 'a\nb')).toBe(true)
    expect(matches('rx', '^ab$', 'ab\n')).toBe(false)
  })

  it('throws a TypeError naming the construct it cannot translate', () => {
    expect(() => op('rx', '(a)(?1)')).toThrow(/@rx: subroutine call/)
  })

  it('expands a macro at evaluation, as CRS rule 920480 needs', () => {
    const charset = op('rx', '^%{tx.allowed_request_content_type_charset}$')
    const expand = (text: string) => text.replace('%{tx.allowed_request_content_type_charset}', 'utf-8|iso-8859-1')
    expect(charset('utf-8', expand)).toEqual(['utf-8'])
    expect(charset('utf-16', expand)).toBeNull()
  })

  it('never matches when an expanded pattern does not translate', () => {
    expect(op('rx', '%{tx.bad}')('x', () => '(?R)')).toBeNull()
  })
})

describe('@pm and @pmFromFile', () => {
  it('matches any phrase regardless of ASCII case and returns the phrase as written', () => {
    expect(op('pm', 'AppleWebKit Android')('Mozilla/5.0 (Linux; android 14)', identity)).toEqual(['Android'])
    expect(matches('pm', 'AppleWebKit Android', 'curl/8.0')).toBe(false)
  })

  it('reads |hex| segments and escapes in the parameter, as parse_pm_content does', () => {
    expect(matches('pm', '"a|3b|b"', 'xa;bx')).toBe(true)
    expect(matches('pm', 'a\\;b', 'a;b')).toBe(true)
  })

  it('finds a phrase that is a suffix of a longer partial match (failure links)', () => {
    expect(phraseMatcher(['abcd', 'bce']).find('xabce')).toBe('bce')
    expect(phraseMatcher(['he', 'she', 'his', 'hers']).find('ushers')).toBe('she')
  })

  it('reads a data file through the context: one phrase per line, comments and blank lines skipped', () => {
    const files: Record<string, string> = { 'agents.data': '# scanners\nnikto\n\n  sqlmap  \r\nmasscan\n' }
    const operator = op('pmFromFile', 'agents.data', { readDataFile: (name) => files[name]! })
    expect(operator('Mozilla/5.00 (Nikto/2.1.6)', identity)).toEqual(['nikto'])
    expect(operator('sqlmap/1.7', identity)).toEqual(['sqlmap'])
    expect(operator('# scanners', identity)).toBeNull()
  })

  it('is also reachable as @pmf and refuses to run without readDataFile', () => {
    expect(OPERATORS['pmf']).toBe(OPERATORS['pmfromfile'])
    expect(() => op('pmFromFile', 'x.data')).toThrow(TypeError)
  })

  it('matches the CRS LFI list against a path traversal payload', () => {
    const dir = '/usr/share/modsecurity-crs/rules'
    const operator = op('pmFromFile', 'lfi-os-files.data', { readDataFile: (name) => readFileSync(`${dir}/${name}`, 'latin1') })
    expect(operator('../../etc/passwd', identity)).not.toBeNull()
    expect(operator('/api/v1/users', identity)).toBeNull()
  })
})

describe('string operators', () => {
  it('@streq compares exactly and case-sensitively', () => {
    expect(matches('streq', 'POST', 'POST')).toBe(true)
    expect(matches('streq', 'POST', 'post')).toBe(false)
  })

  it('@contains, @beginsWith and @endsWith find the parameter and return it', () => {
    expect(op('contains', '..')('/a/../b', identity)).toEqual(['..'])
    expect(matches('beginsWith', '/admin', '/admin/x')).toBe(true)
    expect(matches('beginsWith', '/admin', '/x/admin')).toBe(false)
    expect(matches('endsWith', '.php', '/index.php')).toBe(true)
    expect(matches('endsWith', '.php', '/index.php5')).toBe(false)
  })

  it('@within matches a value inside the parameter, substrings and the empty value included', () => {
    expect(matches('within', 'GET HEAD POST', 'HEAD')).toBe(true)
    expect(matches('within', 'GET HEAD POST', 'PUT')).toBe(false)
    expect(matches('within', 'GET HEAD POST', 'EA')).toBe(true)
    expect(matches('within', 'GET HEAD POST', '')).toBe(true)
  })

  it('expands macros in the parameter at evaluation', () => {
    const expand = (text: string) => text.replace('%{tx.allowed_methods}', 'GET HEAD')
    expect(matches('within', '%{tx.allowed_methods}', 'GET', expand)).toBe(true)
    expect(matches('within', '%{tx.allowed_methods}', 'DELETE', expand)).toBe(false)
  })

  it('@strmatch searches the parameter literally, without macros', () => {
    expect(matches('strmatch', '%{x}', 'a%{x}b', () => 'nothing')).toBe(true)
  })
})

describe('numeric operators', () => {
  it('compare as atoi() reads numbers: leading spaces, sign, digits up to the first other char', () => {
    expect(matches('eq', '0', 'abc')).toBe(true)
    expect(matches('eq', '12', ' 12px')).toBe(true)
    expect(matches('gt', '5', '-7')).toBe(false)
    expect(matches('lt', '5', '-7')).toBe(true)
  })

  it('cover eq, ne, gt, ge, lt and le at the boundary', () => {
    expect([matches('eq', '3', '3'), matches('ne', '3', '3'), matches('gt', '3', '3'), matches('ge', '3', '3'), matches('lt', '3', '3'), matches('le', '3', '3')]).toEqual([true, false, false, true, false, true])
  })

  it('expand a macro parameter at evaluation', () => {
    expect(matches('gt', '%{tx.max}', '300', () => '255')).toBe(true)
  })

  it('keep values past the 32-bit range', () => {
    expect(matches('gt', '2147483647', '99999999999')).toBe(true)
  })
})

describe('@ipMatch', () => {
  it('matches addresses and CIDR ranges of both families, IPv4-mapped included', () => {
    const operator = op('ipMatch', '127.0.0.1, 10.0.0.0/8,2001:db8::/32')
    expect(operator('10.1.2.3', identity)).toEqual(['10.1.2.3'])
    expect(operator('::ffff:127.0.0.1', identity)).not.toBeNull()
    expect(operator('2001:db8::1', identity)).not.toBeNull()
    expect(operator('192.168.0.1', identity)).toBeNull()
    expect(operator('not an address', identity)).toBeNull()
  })

  it('throws a TypeError naming a bad entry', () => {
    expect(() => op('ipMatch', '10.0.0.0/8,nonsense')).toThrow(/nonsense/)
  })

  it('reads @ipMatchFromFile lists, also as @ipMatchF', () => {
    const operator = op('ipMatchF', 'ips.data', { readDataFile: () => '# office\n192.168.0.0/16\n\n::1\n' })
    expect(operator('192.168.4.4', identity)).not.toBeNull()
    expect(operator('::1', identity)).not.toBeNull()
    expect(operator('8.8.8.8', identity)).toBeNull()
  })
})

describe('validation operators', () => {
  it('@validateByteRange accepts lists of values and ranges', () => {
    expect(matches('validateByteRange', '9,10,13,32-126', 'ok\ttext\r\n')).toBe(false)
    expect(matches('validateByteRange', '9,10,13,32-126', 'bad\x00')).toBe(true)
    expect(() => op('validateByteRange', '10-300')).toThrow(TypeError)
    expect(() => op('validateByteRange', '20-10')).toThrow(TypeError)
  })

  it('@validateUrlEncoding matches a % not followed by two hex digits', () => {
    expect(matches('validateUrlEncoding', '', 'a%20b%2F')).toBe(false)
    expect(matches('validateUrlEncoding', '', 'a%2')).toBe(true)
    expect(matches('validateUrlEncoding', '', 'a%zz')).toBe(true)
    expect(matches('validateUrlEncoding', '', '100%')).toBe(true)
  })

  it('@validateUtf8Encoding matches overlong forms, surrogates and code points above U+10FFFF', () => {
    expect(matches('validateUtf8Encoding', '', '\xc0\xaf')).toBe(true)
    expect(matches('validateUtf8Encoding', '', '\xed\xa0\x80')).toBe(true)
    expect(matches('validateUtf8Encoding', '', '\xf4\x90\x80\x80')).toBe(true)
    expect(matches('validateUtf8Encoding', '', '\xf4\x8f\xbf\xbf')).toBe(false)
  })

  it('@unconditionalMatch always matches and @noMatch never does', () => {
    expect(op('unconditionalMatch', '')('x', identity)).toEqual(['x'])
    expect(op('noMatch', '')('x', identity)).toBeNull()
  })
})

describe('the table', () => {
  it('holds every operator the CRS request rules use except @rbl and @geoLookup', () => {
    for (const name of ['rx', 'detectSQLi', 'detectXSS', 'pm', 'pmFromFile', 'streq', 'contains', 'endsWith', 'within', 'eq', 'ge', 'gt', 'lt', 'ipMatch', 'validateByteRange', 'validateUrlEncoding', 'validateUtf8Encoding']) {
      expect(typeof OPERATORS[name.toLowerCase()]).toBe('function')
    }
    for (const name of ['rbl', 'geolookup', 'constructor']) expect(OPERATORS[name]).toBeUndefined()
  })
})
