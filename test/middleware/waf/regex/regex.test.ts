import { describe, expect, it } from 'vitest'
import { MODSECURITY_RX, translateRegex, type RegexOptions, type TranslatedRegex } from '../../../../middleware/waf/regex/regex.ts'

/** Translates or fails the test with the translator's reason. */
function translate(pcre: string, options?: RegexOptions): TranslatedRegex {
  const result = translateRegex(pcre, options)
  if ('error' in result) throw new Error(result.error)
  return result
}

/** The whole match of `pcre` in `input`, or null. */
function match(pcre: string, input: string, options?: RegexOptions): string | null {
  return translate(pcre, options).regex.exec(input)?.[0] ?? null
}

/** The translator's error for `pcre`, or undefined when it translated. */
function errorOf(pcre: string): string | undefined {
  const result = translateRegex(pcre)
  return 'error' in result ? result.error : undefined
}

describe('inline options', () => {
  it('applies a leading (?i) to the whole pattern', () => {
    expect(match('(?i)select\\s+from', 'SELECT  FROM')).toBe('SELECT  FROM')
  })

  it('scopes a mid-pattern (?i) to the rest of its group, later alternatives included', () => {
    expect(match('(a(?i)b|c)d', 'aBd')).toBe('aBd')
    expect(match('(a(?i)b|c)d', 'Cd')).toBe('Cd')
    expect(match('(a(?i)b|c)d', 'AbD')).toBeNull()
  })

  it('folds a class in a later alternative of a (?i:…) group (V8 modifier groups do not)', () => {
    expect(match('x(?i:ab|[a-f])y', 'xDy')).toBe('xDy')
    expect(match('x(?i:ab|[a-f])y', 'XDY')).toBeNull()
  })

  it('turns case-insensitivity off with (?-i)', () => {
    expect(match('(?i)a(?-i)b', 'Ab')).toBe('Ab')
    expect(match('(?i)a(?-i)b', 'AB')).toBeNull()
  })

  it('folds only ASCII letters, as PCRE does in the C locale', () => {
    expect(match('(?i)\\xc9', '\xe9')).toBeNull()
    expect(match('(?i)[a-c]+', 'AbC')).toBe('AbC')
    expect(match('(?i)[^a-c]+', 'ABCd')).toBe('d')
  })

  it('applies (?s) to dots and (?m) to anchors', () => {
    expect(match('a.c', 'a\nc')).toBeNull()
    expect(match('(?s)a.c', 'a\nc')).toBe('a\nc')
    expect(match('^b$', 'a\nb\nc')).toBeNull()
    expect(match('(?m)^b$', 'a\nb\nc')).toBe('b')
  })

  it('ignores whitespace and comments under (?x)', () => {
    expect(match('(?x) a b # comment\n c', 'abc')).toBe('abc')
  })

  it('swaps greedy and lazy quantifiers under (?U)', () => {
    expect(match('(?U)a+', 'aaa')).toBe('a')
    expect(match('(?U)a+?', 'aaa')).toBe('aaa')
  })

  it('drops (?#…) comments', () => {
    expect(match('a(?#note)b', 'ab')).toBe('ab')
  })
})

describe('compile options', () => {
  it('matches newlines with a dot and anchors $ at the very end with ModSecurity @rx options', () => {
    expect(match('a.b$', 'a\nb', MODSECURITY_RX)).toBe('a\nb')
    expect(match('b$', 'ab\n', MODSECURITY_RX)).toBeNull()
  })

  it('lets $ match before a final newline by default, as PCRE does', () => {
    expect(match('b$', 'ab\n')).toBe('b')
  })

  it('does not break lines at \\r for a dot or for multi-line anchors', () => {
    expect(match('a.b', 'a\rb')).toBe('a\rb')
    expect(match('a$', 'a\rb', { multiline: true })).toBeNull()
  })

  it('takes caseless as PCRE_CASELESS', () => {
    expect(match('user', 'USER', { caseless: true })).toBe('USER')
  })
})

describe('anchors', () => {
  it('translates \\A, \\z and \\Z', () => {
    expect(match('\\Aab', 'ab')).toBe('ab')
    expect(match('\\Aab', 'xab')).toBeNull()
    expect(match('a\\z', 'a\n')).toBeNull()
    expect(match('a\\Z', 'a\n')).toBe('a')
    expect(match('a\\Z', 'a\nb')).toBeNull()
  })
})

describe('possessive quantifiers and atomic groups', () => {
  it('makes *+ give nothing back, as PCRE does', () => {
    expect(match('a*+a', 'aaaa')).toBeNull()
    expect(match('a*a', 'aaaa')).toBe('aaaa')
  })

  it('makes ++ and ?+ and {n,m}+ possessive', () => {
    expect(match('a++b', 'aaab')).toBe('aaab')
    expect(match('"?+"', '"')).toBeNull()
    expect(match('a{2,3}+a', 'aaa')).toBeNull()
    expect(match('a{2,3}+a', 'aaaa')).toBe('aaaa')
  })

  it('makes (?>…) atomic', () => {
    expect(match('(?>ab|a)c', 'ac')).toBe('ac')
    expect(match('(?>a|ab)c', 'abc')).toBeNull()
    expect(match('(?>a+)b', 'aaab')).toBe('aaab')
  })

  it('keeps PCRE capture numbers when helper groups are added', () => {
    const translated = translate('(a)++(b)(?>(c))(d)')
    const result = translated.regex.exec('aabcd')!
    expect(translated.groups.map((index) => result[index])).toEqual(['aabcd', 'a', 'b', 'c', 'd'])
  })

  it('resolves numbered back-references past helper groups', () => {
    expect(match('(?>(x))+(y)\\2', 'xyy')).toBe('xyy')
    expect(match('(?>(x))+(y)\\2', 'xyx')).toBeNull()
  })

  it('keeps the plain quantifier inside a lookbehind, where the emulation cannot work', () => {
    expect(match('(?<=a++)b', 'aab')).toBe('b')
  })

  it('does not backtrack catastrophically on a possessive pattern that would with a greedy one', () => {
    const started = performance.now()
    expect(match('^(?:a++)++$', 'a'.repeat(40) + '!')).toBeNull()
    expect(performance.now() - started).toBeLessThan(1000)
  })
})

describe('character sets', () => {
  it('keeps \\s to PCRE byte-mode whitespace, without 0xA0', () => {
    expect(match('\\s+', 'a\t\n\x0b\f\r b')).toBe('\t\n\x0b\f\r ')
    expect(match('\\s', '\xa0')).toBeNull()
    expect(match('[\\S]+', ' \xa0x')).toBe('\xa0x')
    expect(match('[^\\s]+', ' \xa0x')).toBe('\xa0x')
  })

  it('translates \\h, \\v, \\R and \\N', () => {
    expect(match('\\h+', 'x \t\xa0y')).toBe(' \t\xa0')
    expect(match('\\v+', 'x\n\x0b\f\r\x85y')).toBe('\n\x0b\f\r\x85')
    expect(match('\\H\\V', '\tax')).toBe('ax')
    expect(match('a\\Rb', 'a\r\nb')).toBe('a\r\nb')
    expect(match('\\N+', 'ab\ncd')).toBe('ab')
  })

  it('translates POSIX classes, negated ones too', () => {
    expect(match('[[:alpha:]]+', '12abC3')).toBe('abC')
    expect(match('[[:^digit:]x]+', '12ab3')).toBe('ab')
    expect(match('[[:punct:]]+', 'a;:!b')).toBe(';:!')
    expect(match('[[:xdigit:]]+', 'xyz0aFg')).toBe('0aF')
    expect(match('(?i:[[:upper:]]+)', 'abc')).toBe('abc')
  })

  it('treats ] first in a class as a literal and \\- as a literal hyphen', () => {
    expect(match('[]a]+', 'x]a]')).toBe(']a]')
    expect(match('[^]a]+', ']]bb')).toBe('bb')
    expect(match('[a\\-z]+', 'bz-a')).toBe('z-a')
    expect(match('[\\w-]+', 'a-b c')).toBe('a-b')
  })

  it('translates escaped range ends', () => {
    expect(match('[\\x00-\\x1f]+', 'a\x01\x1fb')).toBe('\x01\x1f')
  })
})

describe('escapes', () => {
  it('translates \\x{HH}, \\xH, octal and \\o{}', () => {
    expect(match('\\x41\\x{42}\\101\\o{103}', 'ABAC')).toBe('ABAC')
    expect(match('\\x9', '\t')).toBe('\t')
    expect(match('\\012', '\n')).toBe('\n')
  })

  it('translates \\e, \\a and \\cX', () => {
    expect(match('\\e\\a\\cA', '\x1b\x07\x01')).toBe('\x1b\x07\x01')
  })

  it('quotes \\Q…\\E literally, also inside a class', () => {
    expect(match('\\Qa.b*\\E+', 'a.b**')).toBe('a.b**')
    expect(match('\\Qa.b', 'a.b')).toBe('a.b')
    expect(match('[\\Q]-\\E]+', ']-]')).toBe(']-]')
  })

  it('reads named groups in every PCRE spelling', () => {
    expect(match('(?<n>x)\\k<n>', 'xx')).toBe('xx')
    expect(match("(?'n'x)\\k{n}", 'xx')).toBe('xx')
    expect(match('(?P<n>x)(?P=n)', 'xx')).toBe('xx')
    expect(match('(x)\\g{-1}\\g1', 'xxx')).toBe('xxx')
  })

  it('matches a caseless back-reference without regard to case', () => {
    expect(match('(?i)(a)\\1', 'aA')).toBe('aA')
    expect(match('(a)\\1', 'aA')).toBeNull()
  })

  it('reads \\10 as octal when there are fewer than ten groups', () => {
    expect(match('(a)\\10', 'a\x08')).toBe('a\x08')
  })

  it('translates (*FAIL) to a pattern that never matches', () => {
    expect(match('a(*FAIL)|b', 'ab')).toBe('b')
  })

  it('translates a literal { that is not a quantifier', () => {
    expect(match('a{b', 'a{b')).toBe('a{b')
    expect(match('a{,2}', 'a{,2}')).toBe('a{,2}')
  })

  it('reads UTF-8 chars in a pattern as their bytes, as PCRE reads a rule file', () => {
    expect(match('€', 'x\xe2\x82\xac')).toBe('\xe2\x82\xac')
  })
})

describe('what it refuses', () => {
  for (const [pattern, construct] of [
    ['(a)(?1)', 'subroutine call'],
    ['a(?R)?', 'recursion'],
    ['(?(1)a|b)', 'conditional'],
    ['(?|(a)|(b))', 'branch reset'],
    ['a\\Kb', '\\K'],
    ['\\p{L}', 'Unicode property'],
    ['\\X', 'grapheme'],
    ['\\x{100}', 'above 0xFF'],
    ['a(*SKIP)b', 'backtracking verb'],
    ['\\u0041', '\\u'],
    ['(?C1)a', 'callout'],
    ['\\y', 'unknown escape'],
  ] as const) {
    it(`refuses ${pattern} naming the ${construct}`, () => {
      expect(errorOf(pattern)).toContain(construct)
    })
  }

  it('reports invalid patterns instead of throwing', () => {
    expect(errorOf('a)')).toContain('unmatched )')
    expect(errorOf('(a')).toContain('missing )')
    expect(errorOf('[a')).toContain('missing ]')
    expect(errorOf('*a')).toContain('without anything to repeat')
    expect(errorOf('[z-a]')).toContain('out of order')
  })
})

describe('a CRS-style pattern', () => {
  it('matches what ModSecurity matches for rule 942130-like back-references under (?i:…)', () => {
    expect(match("(?i:\\b([\\d\\w]+)\\b[\\s'\"`()]*?=[\\s'\"`()]*?\\b\\1\\b)", "' or Id = id --")).toBe('Id = id')
  })
})
