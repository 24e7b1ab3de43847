import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MODSECURITY_RX, matchStart, translateRegex, type TranslatedRegex } from '../../../../middleware/waf/regex/regex.ts'

function translate(pcre: string, rewrite = true): TranslatedRegex {
  const result = translateRegex(pcre, MODSECURITY_RX, rewrite)
  if ('error' in result) throw new Error(result.error)
  return result
}

/** Where the match starts and ends, and the PCRE groups, or null. */
function outcome(translated: TranslatedRegex, input: string): [number, number, ...(string | null)[]] | null {
  const match = translated.regex.exec(input)
  if (match === null) return null
  return [matchStart(translated, input, match.index), match.index + match[0].length, ...translated.groups.slice(1).map((group) => match[group] ?? null)]
}

const CRS_RULES = '/usr/share/modsecurity-crs/rules'

/** The `@rx` patterns of the CRS rule files, by rule id (as crs-regex.test.ts reads them). */
function crsPatterns(): Map<string, string> {
  const patterns = new Map<string, string>()
  for (const file of readdirSync(CRS_RULES).filter((name) => name.endsWith('.conf'))) {
    const text = readFileSync(join(CRS_RULES, file), 'latin1').replace(/\\\r?\n/g, '')
    let chainHead = ''
    for (const line of text.split('\n')) {
      const trimmed = line.trim()
      const operator = /^SecRule\s+\S+\s+"((?:[^"\\]|\\.)*)"/.exec(trimmed)
      if (!operator) continue
      const id = /\bid:'?(\d+)/.exec(trimmed)?.[1]
      if (id) chainHead = id
      const rx = /^!?@rx\s([\s\S]*)$/.exec(operator[1]!.replace(/\\"/g, '"'))
      if (rx) patterns.set(id ?? `${chainHead}c`, rx[1]!)
    }
  }
  return patterns
}

/** mulberry32: the same corpus on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Inputs that exercise a pattern: its words in order with gaps of the
 * lengths its counted repeats care about, and random strings of its words,
 * punctuation and whitespace.
 */
function corpus(pattern: string, count: number): string[] {
  const next = random(pattern.length * 7919 + count)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!
  const plain = pattern.replace(/\\[xX][0-9a-fA-F]{2}|\\[a-zA-Z]/g, ' ')
  const ordered = plain.match(/[A-Za-z_0-9-]{2,}|[^A-Za-z0-9_\s|()?*+{}[\]\\^$.]/g) ?? ['a']
  const tokens = [...new Set([...ordered, ...ordered.map((word) => word.toUpperCase())]), ' ', '\t', '\n', '\x0b', 'a', 'x', '0', '"', "'", '`', ';', ',', '=', '(', ')', '/', '@', '<', '\xb4', '_', 'b', 'c']
  const gapChars = [' ', 'a', 'x', '_', ';', "'", '"', '\n', '(', ')', '=', '0', ',', '<', '@', '.', '-']
  const out = new Set<string>(['', ' ', 'a'])
  for (let attempt = 0; out.size < count && attempt < count * 20; attempt++) {
    let text = ''
    if (out.size < count / 2) {
      const start = Math.floor(next() * ordered.length)
      const alphabet = gapChars.slice(0, 1 + Math.floor(next() * gapChars.length))
      for (let i = 0; i < 1 + Math.floor(next() * 4) && start + i < ordered.length; i++) {
        if (i > 0) for (let gap = pick([0, 1, 2, 5, 16, 17, 20, 21, 99, 100, 101, 120]); gap > 0; gap--) text += pick(alphabet)
        text += ordered[start + i]
      }
      if (next() < 0.3) text = pick(tokens) + text
    } else {
      for (let i = 1 + Math.floor(next() * 12); i > 0; i--) text += pick(tokens)
    }
    out.add(text)
  }
  return [...out]
}

/** Synthetic patterns on either side of each rewrite's conditions. */
const SYNTHETIC = [
  '\\s*+;', '"\\s*+\\w', 'a*+b', 'a*+$', '^\\s*+x', '(?:a*+b)*c', '(?:x\\s*+)+y', 'x\\s*+(?:y|)z', '(?>a)b', '(?>a*)b', 'a\\s*+\\s*?b', 'a\\s*+x*?\\s*?b',
  'x[^?\\w\\s]++\\s*?[(@"\']*?\\s*?\\w+\\W+\\w', '[;=]*?\\w+;*+\\s*?=*?\\w', 'a*+b*+c', 'a*+b*+a', '\\s*+;\\s*+\\w', '(?>ab|a)*+c', 'x(?>a|ab)c',
  // Not rewritten: what follows can take from the run, or holds inside it only.
  'a*+a', '(?>a*)a', '\\d++\\b', '\\s*+\\b', '[ab]*+[bc]', 'x\\s*+(?:y|\\s)', 'x\\s*+(?=\\s)', 'x\\s*+(?!\\s)', 'x[a;]*+;?$', 'a\\s*+x*?\\s*?\\s?b', 'a;++[;x]*?\\b',
  '[ab]*?c', '(?:[ab]*?)c', '\\s*?(a)(b)?', '(?i)[\\s\'"]*?\\b(\\w+)\\b\\s*=\\s*\\1', '([ab]*?c)', '(?:[ab]*?c|d)',
  'a.{1,40}?b', 'a.{1,40}b', 'x[ab]{2,29}y', '(?:[ab]){17,40}c', 'a.{20}b', 'a.{17,}b', '(a.{0,33}?)(b)', '(a.{0,33})(b)?', 'a[^b]{1,50}?b.{1,20}c',
]

describe('the rewrites that keep translated patterns off super-linear backtracking', () => {
  it('drops the possessive emulation where nothing after the run can take from it, and keeps it elsewhere', () => {
    const helpers = (pcre: string): number => (translate(pcre).regex.source.match(/\(\?<wsgAtomic/g) ?? []).length
    expect(helpers('\\s*+;')).toBe(0)
    expect(helpers('x[^?\\w\\s]++\\s*?[(@"\']*?\\s*?\\w+\\W+\\w')).toBe(0)
    expect(helpers('(?>a)b')).toBe(0)
    expect(helpers('a*+a')).toBe(1)
    expect(helpers('\\s*+\\b')).toBe(1)
    expect(helpers('[ab]*+[bc]')).toBe(1)
    expect(translate('a*+a').regex.test('aaa')).toBe(false)
    expect(translate('\\s*+;').regex.source).toBe('[\\x09-\\x0d\\x20]*\\;')
  })

  it('takes out a leading lazy loop and gives the match its original start back', () => {
    const translated = translate('[ab]*?c(d)')
    expect(translated.regex.source).toBe('c(d)')
    expect(translated.leading?.source).toBe('[ab]')
    const match = translated.regex.exec('xbacd')!
    expect(matchStart(translated, 'xbacd', match.index)).toBe(1)
    // Inside a capture the loop stays.
    expect(translate('([ab]*?c)').leading).toBeUndefined()
  })

  it('writes counted repeats above 16 as nested repeats of at most 16, in the same order', () => {
    expect(translate('a.{1,40}?b').regex.source).not.toMatch(/\{\d*,?(?:1[7-9]|[2-9]\d|\d{3})\}/)
    expect(translate('a.{1,40}?b').regex.exec('a' + 'x'.repeat(39) + 'b')?.[0]).toHaveLength(41)
    expect(translate('a.{1,40}?b').regex.test('a' + 'x'.repeat(40) + 'b')).toBe(true)
    expect(translate('a.{1,40}?b').regex.test('a' + 'x'.repeat(41) + 'b')).toBe(false)
  })

  it('keeps every match, its start, end and groups, of the CRS patterns it changes and of synthetic ones (differential against the plain translation)', () => {
    const crs = crsPatterns()
    const changed = [...crs].filter(([, pattern]) => translate(pattern).regex.source !== translate(pattern, false).regex.source)
    // 912150, 920600, 942130, 942260, 942380, 942390, 942480, 942510, 942511 and three response rules.
    expect(changed.map(([id]) => id).sort()).toEqual(['912150', '920600', '942130', '942260', '942380', '942390', '942480', '942510', '942511', '954110', '954120', '954130c'])
    let pairs = 0
    for (const pattern of [...changed.map(([, pattern]) => pattern), ...SYNTHETIC]) {
      const rewritten = translate(pattern)
      const plain = translate(pattern, false)
      const differences = corpus(pattern, 3000).filter((input) => JSON.stringify(outcome(rewritten, input)) !== JSON.stringify(outcome(plain, input)))
      expect(differences.slice(0, 3), pattern).toEqual([])
      pairs += 3000
    }
    expect(pairs).toBeGreaterThan(100_000)
  })

  const perl = (() => {
    try {
      execFileSync('perl', ['-e', '1'])
      return true
    } catch {
      return false
    }
  })()

  it.skipIf(!perl)('matches where Perl (possessive quantifiers and atomic groups native, as in PCRE) matches, at the same start and end', () => {
    const script = 'binmode STDIN; my $h = <STDIN>; chomp $h; my $p = pack("H*", $h); my $re = qr/$p/s; while (my $l = <STDIN>) { chomp $l; my $s = pack("H*", $l); print $s =~ $re ? "$-[0] $+[0]\\n" : "-\\n" }'
    const hex = (text: string): string => Buffer.from(text, 'latin1').toString('hex')
    // DOLLAR_ENDONLY: `$` outside a class is \z for Perl.
    const forPerl = (pattern: string): string => pattern.replace(/(\\.)|(\[(?:\\.|[^\]])*\])|\$/g, (all, escape: string | undefined, cls: string | undefined) => escape ?? cls ?? '\\z')
    const crs = crsPatterns()
    for (const pattern of [...['920600', '942130', '942260', '942480', '942510'].map((id) => crs.get(id)!), ...SYNTHETIC]) {
      const inputs = corpus(pattern, 1500)
      const lines = execFileSync('perl', ['-e', script], { input: [hex(forPerl(pattern)), ...inputs.map(hex)].join('\n') + '\n', maxBuffer: 1 << 26 }).toString().trimEnd().split('\n')
      const translated = translate(pattern)
      const differences = inputs.filter((input, index) => {
        const got = outcome(translated, input)
        return (got === null ? '-' : `${got[0]} ${got[1]}`) !== lines[index]
      })
      expect(differences.slice(0, 3), pattern).toEqual([])
    }
  })
})
