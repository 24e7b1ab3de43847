import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { deriveFingerprints } from '../../../../middleware/waf/detect/derive.ts'
import { detectSqli } from '../../../../middleware/waf/detect/sqli.ts'
import { detectXss } from '../../../../middleware/waf/detect/xss.ts'
import { COMPLEMENTS } from '../../../../middleware/waf/rules/complements.ts'
import { MODSECURITY_RX, translateRegex } from '../../../../middleware/waf/regex/regex.ts'
import { TRANSFORMATIONS } from '../../../../middleware/waf/transformations/index.ts'
import { buildCollections } from '../../../../middleware/waf/engine/collections.ts'
import { fingerprintsModule, FINGERPRINTS_FILE } from '../../../../bench/waf-fingerprints.ts'
import { ATTACKS, ATTACKS_PARANOIA_2 } from '../../../fixtures/waf/attacks.ts'
import { BENIGN } from '../../../fixtures/waf/benign.ts'
import { REALTIME } from '../../../fixtures/waf/realtime.ts'
import { sqliDerivationInput, sqliTargets } from '../../../fixtures/waf/detect-corpora.ts'
import { crsPatternTrees, sampleOf, seededRandom } from '../crs-patterns.ts'

const apply = (value: string, names: readonly string[]): string => names.reduce((text, name) => TRANSFORMATIONS[name]!(text), value)
const XSS_T = ['utf8tounicode', 'urldecodeuni', 'htmlentitydecode', 'jsdecode', 'cssdecode', 'removenulls']
const SQLI_T = ['utf8tounicode', 'urldecodeuni', 'removenulls']

/** The values 941100 reads (942100's less Referer). */
function xssTargets(facts: Parameters<typeof buildCollections>[0]): string[] {
  const collections = buildCollections(facts)
  const values: string[] = []
  for (const name of ['REQUEST_COOKIES', 'REQUEST_COOKIES_NAMES', 'ARGS_NAMES', 'ARGS']) for (const item of collections.get(name) ?? []) values.push(item.value)
  for (const item of collections.get('REQUEST_HEADERS') ?? []) if (/^user-agent$/i.test(item.name)) values.push(item.value)
  return values.map((value) => apply(value, XSS_T))
}

describe('the fingerprint set', () => {
  it('is what bench/waf-fingerprints.ts derives from the corpora, and covers every positive', () => {
    const { fingerprints, uncovered } = deriveFingerprints(sqliDerivationInput())
    expect(readFileSync(FINGERPRINTS_FILE, 'utf8')).toBe(fingerprintsModule(fingerprints))
    expect(uncovered).toEqual([])
  })
})

describe('the detectors on the corpora', () => {
  it('flag no value of the benign corpora', () => {
    const hits: string[] = []
    for (const { id, facts } of [...BENIGN, ...REALTIME]) {
      for (const value of sqliTargets(facts)) if (detectSqli(value) !== null) hits.push(`${id} sqli ${value}`)
      for (const value of xssTargets(facts)) if (detectXss(value)) hits.push(`${id} xss ${value}`)
    }
    expect(hits).toEqual([])
  })

  it('flag every attack case libmodsecurity\'s libinjection flagged (942100, 941100 in crsRules)', () => {
    const missed: string[] = []
    for (const attack of [...ATTACKS, ...ATTACKS_PARANOIA_2]) {
      if (attack.crsRules.includes(942100) && !sqliTargets(attack.facts).some((value) => detectSqli(value) !== null)) missed.push(attack.id)
      if (attack.crsRules.includes(941100) && !xssTargets(attack.facts).some((value) => detectXss(value))) missed.push(attack.id)
    }
    expect(missed).toEqual([])
  })
})

/** The stand-ins as they were before the detectors (commit bddb8cd), to show the detectors catch what they caught. */
const RETIRED: readonly { id: number; sqli: boolean; pattern: string; t: string[] }[] = [
  { id: 9942101, sqli: true, pattern: String.raw`['\"\x60]\s*(?:or|and|xor|\|\||&&)\s*(?:['\"\x60]?\w+['\"\x60]?\s*(?:=|<|>|like\b|is\b)|\d+\s*(?:=|<|>)|true\b|not\b)`, t: [] },
  { id: 9942104, sqli: true, pattern: String.raw`;\s*(?:(?:drop|truncate|alter)\s+(?:table|database|schema|user)\b|delete\s+from\b|insert\s+into\b|update\s+\w+\s+set\b|exec(?:ute)?\s+\w|shutdown\b|declare\s+@)`, t: [] },
  { id: 9942106, sqli: true, pattern: String.raw`['\"\x60]\s*(?:;\s*)?(?:--|#|/\*)|\bor\s+\d+\s*=\s*\d+|\band\s+\d+\s*=\s*\d+`, t: [] },
  { id: 9942107, sqli: true, pattern: String.raw`['\"\x60]\s*(?:order|group)\s+by\s+[\w(]|['\"\x60]\s*having\s+\w|\b(?:order|group)\s+by\s+\d+\s*(?:--|#|/\*)`, t: [] },
  { id: 9941101, sqli: false, pattern: String.raw`<\s*/?\s*script\b`, t: [] },
  { id: 9941102, sqli: false, pattern: String.raw`<\s*[a-z][^>]*?[\s/\"'](?:on[a-z]{3,}|formaction|srcdoc)\s*=`, t: [] },
  { id: 9941103, sqli: false, pattern: String.raw`(?:^|[\s\"'=(<])(?:java|vb|live)script\s*:|<\s*(?:iframe|object|embed|base|applet|meta)\b`, t: [] },
]

/** Every value the stand-ins could have read: the attack corpus's target values and the CRS pattern samples (as prefilter.test.ts draws them). */
function standInValues(): string[] {
  const values = new Set<string>()
  for (const { facts } of [...ATTACKS, ...ATTACKS_PARANOIA_2]) {
    const collections = buildCollections(facts)
    for (const name of ['REQUEST_COOKIES', 'REQUEST_COOKIES_NAMES', 'ARGS_NAMES', 'ARGS']) for (const item of collections.get(name) ?? []) values.add(item.value)
    for (const item of collections.get('REQUEST_HEADERS') ?? []) if (/^(?:user-agent|referer)$/i.test(item.name)) values.add(item.value)
  }
  const random = seededRandom(0xe9e1)
  for (const { tree } of crsPatternTrees()) {
    for (let i = 0; i < 3; i++) values.add(sampleOf(tree, random).slice(0, 80))
  }
  return [...values]
}

describe('the retired stand-ins', () => {
  it('caught nothing among the attack values and CRS samples that the detectors miss; the kept ones did', () => {
    const values = standInValues()
    const missed = (sqli: boolean, regex: RegExp, extra: readonly string[]): string[] =>
      values.filter((value) => regex.test(apply(value, [...(sqli ? SQLI_T : XSS_T), ...extra, 'lowercase', ...(sqli ? ['compresswhitespace'] : [])])) && (sqli ? detectSqli(apply(value, SQLI_T)) === null : !detectXss(apply(value, XSS_T))))
    for (const rule of RETIRED) {
      const translated = translateRegex(rule.pattern, MODSECURITY_RX)
      if ('error' in translated) throw new Error(translated.error)
      expect(missed(rule.sqli, translated.regex, rule.t), `stand-in ${rule.id}`).toEqual([])
    }
    // The kept rules each catch something the detector does not (complements.ts says what).
    for (const line of COMPLEMENTS[0]!.text.split('\n')) {
      const pattern = /"@rx (.*?)" "id:/.exec(line)![1]!
      const translated = translateRegex(pattern, MODSECURITY_RX)
      if ('error' in translated) throw new Error(translated.error)
      const extra = line.includes('t:replaceComments') ? ['replacecomments', 'compresswhitespace'] : []
      expect(missed(true, translated.regex, extra).length, line.slice(0, 60)).toBeGreaterThan(0)
    }
  })
})
