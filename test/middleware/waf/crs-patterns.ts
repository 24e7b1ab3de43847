/**
 * Test helpers over the CRS's `@rx` patterns and the WAF corpora: every
 * pattern of the rule files, strings generated from a translated pattern's
 * tree (most of which match it), and the values the corpora's handshakes
 * put in front of the rules. Used by the prefilter's differential tests.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildCollections } from '../../../middleware/waf/engine/collections.ts'
import { bytesOf, parsePattern, type Node } from '../../../middleware/waf/regex/regex-ast.ts'
import { MODSECURITY_RX, translateRegex } from '../../../middleware/waf/regex/regex.ts'
import { TRANSFORMATIONS } from '../../../middleware/waf/transformations/index.ts'
import { ATTACKS, ATTACKS_PARANOIA_2 } from '../../fixtures/waf/attacks.ts'
import { BENIGN, CRS_FALSE_POSITIVES } from '../../fixtures/waf/benign.ts'

/** Where Debian's modsecurity-crs package (CRS 3.3.4) installs the rules; CI installs it with apt. */
export const CRS_RULES = '/usr/share/modsecurity-crs/rules'

/**
 * Every `@rx` parameter of the CRS rule files (commented-out rules too:
 * more patterns to check), continuation lines joined, `\"` unescaped, read
 * as latin1 as the loader reads them.
 */
export function crsPatterns(): string[] {
  const patterns = new Set<string>()
  for (const file of readdirSync(CRS_RULES).filter((name) => name.endsWith('.conf')).sort()) {
    const text = readFileSync(join(CRS_RULES, file), 'latin1').replace(/\\\r?\n/g, '')
    for (const line of text.split('\n')) {
      const operator = /SecRule\s+\S+\s+"((?:[^"\\]|\\.)*)"/.exec(line)
      const rx = operator && /^!?@rx\s([\s\S]*)$/.exec(operator[1]!.replace(/\\"/g, '"'))
      if (rx) patterns.add(rx[1]!)
    }
  }
  return [...patterns]
}

/**
 * The CRS's patterns that translate to JavaScript, with their parse trees,
 * for {@link sampleOf}. 920190's `(…){63}` is left out: it backtracks
 * exponentially on near misses (see regex-factors.test.ts).
 */
export function crsPatternTrees(): { pattern: string; tree: Node }[] {
  const trees: { pattern: string; tree: Node }[] = []
  for (const pattern of crsPatterns()) {
    const translated = translateRegex(pattern, MODSECURITY_RX)
    if ('error' in translated || pattern.includes('){63}')) continue
    trees.push({ pattern, tree: parsePattern(translated.regex.source) })
  }
  return trees
}

/** The tests' seeded generator, under the name these suites use. */
export { mulberry32 as seededRandom } from '../../helpers/random.ts'

/**
 * A string built by walking a pattern tree: a random char of each class, a
 * random alternative, a random count of each repeat (a few beyond the
 * minimum); lookarounds, anchors and back-references add nothing, so not
 * every string matches, but most do, including through every alternative.
 */
export function sampleOf(node: Node, random: () => number): string {
  switch (node.type) {
    case 'char': {
      const bytes = bytesOf(node.source)
      const members: number[] = []
      for (let byte = 0; byte < 256; byte++) if (bytes[byte]) members.push(byte)
      if (members.length === 0) return random() < 0.5 ? String.fromCharCode(0x100 + Math.floor(random() * 0x100)) : ''
      return String.fromCharCode(members[Math.floor(random() * members.length)]!)
    }
    case 'seq':
      return node.items.map((item) => sampleOf(item, random)).join('')
    case 'alt':
      return sampleOf(node.alternatives[Math.floor(random() * node.alternatives.length)]!, random)
    case 'quant': {
      const count = node.min + Math.floor(random() * (Math.min(node.max, node.min + 3) - node.min + 1))
      let out = ''
      for (let i = 0; i < count; i++) out += sampleOf(node.atom, random)
      return out
    }
    case 'group':
      return node.open.startsWith('(?=') || node.open.startsWith('(?!') || node.open.startsWith('(?<=') || node.open.startsWith('(?<!') ? '' : sampleOf(node.body, random)
    default:
      return ''
  }
}

/** The transformations the CRS chains most, to see corpus values as rules see them. */
const VARIANTS = ['urldecodeuni', 'htmlentitydecode', 'jsdecode', 'cssdecode', 'lowercase', 'cmdline', 'compresswhitespace', 'removewhitespace', 'normalisepath', 'utf8tounicode']

/**
 * Every distinct value the corpora's handshakes offer to rules (request
 * line, URI, path, arguments and names, headers and names, cookies and
 * names), each also through every one of the CRS's most used
 * transformations.
 */
export function corpusValues(): string[] {
  const values = new Set<string>()
  for (const { facts } of [...ATTACKS, ...ATTACKS_PARANOIA_2, ...BENIGN, ...CRS_FALSE_POSITIVES]) {
    for (const items of buildCollections(facts).values()) {
      for (const { name, value } of items) {
        for (const text of [name, value]) {
          values.add(text)
          for (const variant of VARIANTS) values.add(TRANSFORMATIONS[variant]!(text))
        }
      }
    }
  }
  return [...values]
}

/** Whether `text` contains one of `factors` (lower case), ignoring ASCII case: the prefilter's promise, checked naively. */
export function holdsFactor(text: string, factors: readonly string[]): boolean {
  const folded = text.replace(/[A-Z]+/g, (run) => run.toLowerCase())
  return factors.some((factor) => folded.includes(factor))
}
