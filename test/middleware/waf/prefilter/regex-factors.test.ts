import { describe, expect, it } from 'vitest'
import { containsAny, LiteralArena, literalIndex, literalMask, representative } from '../../../../middleware/waf/prefilter/literal-index.ts'
import { parsePattern } from '../../../../middleware/waf/regex/regex-ast.ts'
import { prefilterFactors, requiredFactors } from '../../../../middleware/waf/prefilter/regex-factors.ts'
import { MODSECURITY_RX, translateRegex } from '../../../../middleware/waf/regex/regex.ts'
import { guardRegExpBacktracking } from '../../../../src/node/regexp-guard.ts'
import { corpusValues, crsPatterns, holdsFactor, sampleOf, seededRandom } from '../crs-patterns.ts'

// As the gateway runs: generated strings make some CRS patterns (920190's `(…){63}`) backtrack for minutes otherwise.
guardRegExpBacktracking()

/** Every CRS pattern without a macro, translated as `@rx` translates it, with its factors (unfiltered: the derivation itself is under test). */
const PATTERNS = crsPatterns()
  .filter((pattern) => !pattern.includes('%{'))
  .map((pattern) => {
    const translated = translateRegex(pattern, MODSECURITY_RX)
    if ('error' in translated) throw new Error(`${pattern}: ${translated.error}`)
    return { pattern, regex: translated.regex, factors: requiredFactors(translated.regex.source) }
  })

/** The pattern, the value and the factors of a value the pattern matches that holds none of them: a prefilter that would wrongly skip it. */
function missed(regex: RegExp, factors: readonly string[], texts: readonly string[]): string[] {
  return texts.filter((text) => regex.test(text) && !holdsFactor(text, factors))
}

describe('requiredFactors: literals every match contains', () => {
  it('finds factors in most CRS patterns', () => {
    const withFactors = PATTERNS.filter(({ factors }) => factors !== undefined)
    // A sanity floor, not a target: if the derivation broke, the prefilter would silently stop working.
    expect(withFactors.length).toBeGreaterThan(PATTERNS.length * 0.6)
  })

  it('never misses a corpus value (as sent and through the CRS transformations) that a pattern matches', () => {
    const values = corpusValues()
    const failures = PATTERNS.flatMap(({ pattern, regex, factors }) => (factors === undefined ? [] : missed(regex, factors, values).map((value) => ({ pattern, factors, value }))))
    expect(failures).toEqual([])
  })

  it('never misses a string generated from a pattern that the pattern matches, alone or inside other text', () => {
    const random = seededRandom(0x5eed)
    const failures: { pattern: string; factors: readonly string[]; value: string }[] = []
    let matched = 0
    for (const { pattern, regex, factors } of PATTERNS) {
      // 920190's `^bytes=(?:(?:\d+)?-(?:\d+)?\s*,?\s*){63}` backtracks exponentially on near misses, which generated
      // strings are (V8's linear engine does not take it); the corpus test above still covers it.
      if (factors === undefined || pattern.includes('){63}')) continue
      const tree = parsePattern(regex.source)
      const samples: string[] = []
      for (let i = 0; i < 100; i++) {
        const sample = sampleOf(tree, random).slice(0, 120)
        samples.push(sample, `x=${sample}`, `${sample};q`, `Mozilla/5.0 (${sample.toUpperCase()})`)
      }
      matched += samples.filter((sample) => regex.test(sample)).length
      failures.push(...missed(regex, factors, samples).map((value) => ({ pattern, factors, value })))
    }
    expect(failures).toEqual([])
    // The generator must actually reach matches, or the test above would prove nothing.
    expect(matched).toBeGreaterThan(5_000)
  })

  it('never misses a random string that a pattern matches', () => {
    const random = seededRandom(0xfac7)
    const failures: { pattern: string; factors: readonly string[]; value: string }[] = []
    for (const { pattern, regex, factors } of PATTERNS) {
      if (factors === undefined) continue
      // Bytes of the pattern's own factors, punctuation, letters of both cases, controls and high bytes.
      const alphabet = [...new Set([...factors.join(''), ...factors.join('').toUpperCase(), ...'<>()[]{}"\'`;:=&|$%/\\.,-_ \t\r\n\x00abcXYZ019\xa0\xe9\xff'])]
      const strings: string[] = []
      for (let i = 0; i < 300; i++) {
        let text = ''
        const length = 1 + Math.floor(random() * 24)
        for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)]
        strings.push(text)
      }
      failures.push(...missed(regex, factors, strings).map((value) => ({ pattern, factors, value })))
    }
    expect(failures).toEqual([])
  })

  it('gives no factors where a pattern can match without any literal', () => {
    expect(requiredFactors('^[\\s\\S]*$')).toBeUndefined()
    expect(requiredFactors('(?:[Aa][Bb])?[Cc]*')).toBeUndefined()
    expect(requiredFactors('[^\\x00]')).toBeUndefined()
    expect(requiredFactors('(?<h>[Aa])\\k<h>x|\\1')).toBeUndefined()
  })

  it('reads a factor across a join and through the case classes the translator writes', () => {
    // `union…select` or `user(`: each alternative's rarest literal, one of them found across the join with `u`.
    expect(requiredFactors('[Uu](?:[Nn][Ii][Oo][Nn][\\s\\S]*[Ss][Ee][Ll][Ee][Cc][Tt]|[Ss][Ee][Rr]\\()')).toEqual(['ser(', 'select'])
    expect(requiredFactors('[Uu](?:[Nn][Ii][Oo][Nn]|[Ss][Ee][Rr]\\()')).toEqual(['union', 'user('])
    expect(requiredFactors('\\<[Ss][Cc][Rr][Ii][Pp][Tt]\\b')).toEqual(['<script'])
  })

  it('leaves out factors so common in handshake values that the prefilter would not pay', () => {
    expect(prefilterFactors('[Aa]\\d+')).toBeUndefined()
    expect(prefilterFactors('\\<[Ss][Cc][Rr][Ii][Pp][Tt]')).toEqual(['<script'])
  })
})

describe('literalIndex: which literals a text holds, in one pass', () => {
  it('finds exactly the literals a naive search finds, ignoring ASCII case', () => {
    const random = seededRandom(0x11de)
    const literals = [...new Set(PATTERNS.flatMap(({ factors }) => factors ?? []).map((factor) => representative(factor, 4)))]
    const index = literalIndex(literals)
    const arena = new LiteralArena(index.words)
    const alphabet = [...new Set([...literals.join(''), ...literals.join('').toUpperCase(), 'Ā', 'ÿ'])]
    const texts = [...corpusValues().slice(0, 3000)]
    for (let i = 0; i < 2000; i++) {
      let text = ''
      for (let j = 0, length = Math.floor(random() * 40); j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)]
      texts.push(text)
    }
    const wrong: string[] = []
    for (const text of texts) {
      const set = arena.allocate()
      index.scan(text, arena.bits, set)
      literals.forEach((literal, id) => {
        if (containsAny(arena.bits, set, literalMask([id])) !== holdsFactor(text, [literal])) wrong.push(`${JSON.stringify(text)} / ${JSON.stringify(literal)}`)
      })
      arena.reset()
    }
    expect(wrong).toEqual([])
  })

  it('keeps a piece of each literal that any text holding the literal holds', () => {
    for (const literal of ['<script', 'information_schema', 'ab', 'x'.repeat(9)]) expect(literal.includes(representative(literal, 4))).toBe(true)
    expect(representative('information_schema', 4)).toHaveLength(4)
  })
})
