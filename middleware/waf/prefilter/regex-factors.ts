/**
 * Literal factors of `@rx` patterns: from a translated pattern, a short
 * list of literal strings of which every match must contain at least one,
 * ignoring ASCII case. A value containing none of them cannot match, so the
 * engine does not run the pattern on it (`literal-index.ts`). On benign
 * handshakes almost every CRS pattern fails, most of them on values holding
 * none of their keywords (`union`, `<script`, `/etc/`), and looking up a
 * few literals in a value scanned once is much cheaper than running ~100
 * patterns that try their alternatives at every position.
 *
 * The factors are derived from the pattern tree (`regex-ast.ts`) as in Russ
 * Cox's trigram index ("Regular Expression Matching with a Trigram Index",
 * 2012), over ASCII-folded bytes. Each piece of the pattern gets what is
 * known about the text it matches: the exact strings it can be (when few),
 * strings it must start with, strings it must end with, and a set of which
 * it must contain one; a sequence also finds factors across its joins (a
 * piece ending in `un` before one starting with `ion`). The derivation is
 * conservative by construction:
 * - anything it does not understand (a back-reference, a class that can
 *   match chars above 0xFF, a group opener it does not know) is "any text",
 *   which contributes no factor;
 * - lookarounds and anchors match the empty string as far as the matched
 *   text goes;
 * - a set grown too large is cut down by shortening its strings (a text
 *   containing `select` contains `sel`; one starting with `select` starts
 *   with `sel`), never by dropping one;
 * - when the whole pattern can match without any factor (an optional or
 *   starred piece, `^.*$`), there is no prefilter.
 * Folding to lower case only ever widens what the prefilter lets through.
 * `test/middleware/waf/prefilter/regex-factors.test.ts` checks every CRS pattern, on
 * random, generated and corpus strings, against the plain regex.
 *
 * Portable: no `node:` import.
 */
import { hitRate, worthPrefiltering } from './literal-rates.ts'
import { atomicBody, bytesOf, parsePattern, type Node } from '../regex/regex-ast.ts'

/** The most strings an exact, prefix or suffix set keeps before its strings are shortened. */
const MAX_SET = 16
/** The most factors a pattern's prefilter holds: beyond that, factors are shortened until they fit. */
const MAX_FACTORS = 48
/** The most passes of a repeat spelled out as a sequence (`x{2,}` as `x x`, followed by any text). */
const MAX_SPELLED_PASSES = 4
/** A class of more (folded) chars than this counts as "any char": spelling out its strings would not pay. */
const MAX_CLASS_CHARS = 4
/**
 * What is known about the text one piece of pattern matches, folded to
 * lower case. Undefined means nothing is known; a set holding `''` says
 * nothing either, as a factor.
 */
interface Known {
  /** Every string the piece can match. */
  exact: readonly string[] | undefined
  /** Every match starts with one of these. */
  prefix: readonly string[] | undefined
  /** Every match ends with one of these. */
  suffix: readonly string[] | undefined
  /** Every match contains one of these. */
  factors: readonly string[] | undefined
}

const ANY: Known = { exact: undefined, prefix: undefined, suffix: undefined, factors: undefined }
const EMPTY: Known = { exact: [''], prefix: undefined, suffix: undefined, factors: undefined }

/** ASCII upper-case letters folded to lower case; other chars as they are. */
function fold(code: number): number {
  return code >= 0x41 && code <= 0x5a ? code | 0x20 : code
}

/**
 * Whether a one-char atom (a char, an escape or a class, as the translator
 * writes them) can only match chars up to 0xFF, so that {@link bytesOf}
 * lists everything it matches. A negated class, `\s`, `\S`, `\W`, `\D` or a
 * code above 0xFF can match wider chars (the input is a byte string, but
 * transformations such as `jsDecode` may widen it).
 */
function isByteAtom(source: string): boolean {
  if (source === '.') return false
  if (!source.startsWith('[')) {
    if (source.length === 1) return source.charCodeAt(0) <= 0xff
    if (/^\\[sSWD]$/.test(source)) return false
    if (/^\\u[0-9a-fA-F]{4}$/.test(source)) return Number.parseInt(source.slice(2), 16) <= 0xff
    return source.startsWith('\\')
  }
  if (source.startsWith('[^')) return false
  for (let i = 1; i < source.length - 1; i++) {
    const code = source.charCodeAt(i)
    if (code > 0xff) return false
    if (code !== 0x5c) continue
    const next = source[i + 1]
    if (next === 's' || next === 'S' || next === 'W' || next === 'D') return false
    if (next === 'u' && Number.parseInt(source.slice(i + 2, i + 6), 16) > 0xff) return false
    i++
  }
  return true
}

/** One char atom: its few folded chars as an exact set, or "any char". */
function charAtom(source: string): Known {
  if (!isByteAtom(source)) return ANY
  const bytes = bytesOf(source)
  const chars = new Set<string>()
  for (let byte = 0; byte < 256; byte++) if (bytes[byte]) chars.add(String.fromCharCode(fold(byte)))
  return chars.size > 0 && chars.size <= MAX_CLASS_CHARS ? exactly([...chars]) : ANY
}

function exactly(strings: readonly string[]): Known {
  return { exact: strings, prefix: undefined, suffix: undefined, factors: undefined }
}

/** The more selective of two factor sets (undefined is the least). */
function better(a: readonly string[] | undefined, b: readonly string[] | undefined): readonly string[] | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  const [rateA, rateB] = [hitRate(a), hitRate(b)]
  return rateA !== rateB ? (rateA < rateB ? a : b) : a.length <= b.length ? a : b
}

/** A set as factors: undefined when it is unknown or holds the empty string (which every text contains). */
function asFactors(set: readonly string[] | undefined): readonly string[] | undefined {
  return set === undefined || set.includes('') ? undefined : set
}

/** The best factors a piece of known text guarantees. */
function factorsOf(known: Known): readonly string[] | undefined {
  if (known.exact !== undefined) return asFactors(known.exact)
  return better(better(known.factors, asFactors(known.prefix)), asFactors(known.suffix))
}

/** What every match starts with (`''` when nothing is known). */
function prefixOf(known: Known): readonly string[] {
  return known.exact ?? known.prefix ?? ['']
}

/** What every match ends with (`''` when nothing is known). */
function suffixOf(known: Known): readonly string[] {
  return known.exact ?? known.suffix ?? ['']
}

/** Every `a + b`, or undefined when there would be more than {@link MAX_SET}. */
function product(a: readonly string[], b: readonly string[]): string[] | undefined {
  if (a.length * b.length > MAX_SET) return undefined
  return [...new Set(a.flatMap((left) => b.map((right) => left + right)))]
}

/**
 * A prefix (or, `fromEnd`, suffix) set of at most {@link MAX_SET} strings:
 * too many are shortened to their first (last) chars, which every match
 * still starts (ends) with. Undefined when nothing useful is left.
 */
function bounded(set: readonly string[] | undefined, fromEnd: boolean): readonly string[] | undefined {
  if (set === undefined) return undefined
  let out = [...new Set(set)]
  for (let length = Math.max(...out.map((item) => item.length)) - 1; out.length > MAX_SET && length >= 1; length--) {
    out = [...new Set(out.map((item) => (fromEnd ? item.slice(-length) : item.slice(0, length))))]
  }
  return out.length > MAX_SET || out.every((item) => item === '') ? undefined : out
}

/**
 * A set of factors at most {@link MAX_FACTORS} long, without duplicates or
 * strings that contain another (containing the longer implies containing
 * the shorter). Too many are shortened to their first chars, which every
 * text containing the whole string also contains.
 */
function simplify(factors: readonly string[]): readonly string[] {
  let set = [...new Set(factors)]
  for (let length = Math.max(...set.map((item) => item.length)) - 1; set.length > MAX_FACTORS && length >= 1; length--) {
    set = [...new Set(set.map((item) => item.slice(0, length)))]
  }
  set.sort((a, b) => a.length - b.length)
  return set.filter((item, index) => !set.some((other, j) => j < index && item.includes(other)))
}

function concat(a: Known, b: Known): Known {
  if (a.exact !== undefined && b.exact !== undefined) {
    const exact = product(a.exact, b.exact)
    if (exact !== undefined) return exactly(exact)
  }
  // A match of the sequence holds a match of each piece, and, across the join, one of a's endings before one of b's beginnings.
  const across = product(suffixOf(a), prefixOf(b))
  return {
    exact: undefined,
    prefix: bounded(a.exact !== undefined ? product(a.exact, prefixOf(b)) ?? a.exact : a.prefix, false),
    suffix: bounded(b.exact !== undefined ? product(suffixOf(a), b.exact) ?? b.exact : b.suffix, true),
    factors: better(better(factorsOf(a), factorsOf(b)), asFactors(across)),
  }
}

function alternation(a: Known, b: Known): Known {
  if (a.exact !== undefined && b.exact !== undefined && a.exact.length + b.exact.length <= MAX_SET) {
    return exactly([...new Set([...a.exact, ...b.exact])])
  }
  const left = factorsOf(a)
  const right = factorsOf(b)
  return {
    exact: undefined,
    prefix: bounded([...prefixOf(a), ...prefixOf(b)], false),
    suffix: bounded([...suffixOf(a), ...suffixOf(b)], true),
    factors: left === undefined || right === undefined ? undefined : simplify([...left, ...right]),
  }
}

function repeat(atom: Known, min: number, max: number): Known {
  if (max === 0) return EMPTY
  if (min === 0) return max === 1 && atom.exact !== undefined && atom.exact.length < MAX_SET ? exactly([...new Set(['', ...atom.exact])]) : ANY
  // A fixed small count of an exact set is spelled out.
  if (min === max && atom.exact !== undefined) {
    let exact: readonly string[] | undefined = ['']
    for (let i = 0; i < min && exact !== undefined; i++) exact = product(exact, atom.exact)
    if (exact !== undefined) return exactly(exact)
  }
  // Two or more passes are a sequence (`x{2,5}` is `x x x{0,3}`), whose joins may hold factors (`..` in `(?:\.|%2e){2}`);
  // past a few passes the rest is any text, which is all the later passes can add.
  if (min >= 2) {
    let sequence = atom
    for (let i = 1; i < Math.min(min, MAX_SPELLED_PASSES); i++) sequence = concat(sequence, atom)
    return min === max && min <= MAX_SPELLED_PASSES ? sequence : concat(sequence, ANY)
  }
  // One pass at least: its beginning, its end, its factors.
  return { exact: undefined, prefix: bounded(prefixOf(atom), false), suffix: bounded(suffixOf(atom), true), factors: factorsOf(atom) }
}

function known(node: Node): Known {
  switch (node.type) {
    case 'char':
      return charAtom(node.source)
    case 'assert':
      return EMPTY
    case 'backref':
      return ANY
    case 'seq':
      return node.items.reduce((sofar: Known, item) => concat(sofar, known(item)), EMPTY)
    case 'alt':
      return node.alternatives.map(known).reduce(alternation)
    case 'quant':
      return repeat(known(node.atom), node.min, node.max)
    case 'group': {
      // An emulated possessive or atomic group matches exactly what one match of its body does.
      const atomic = atomicBody(node)
      if (atomic !== undefined) return known(atomic)
      if (node.open === '(?=' || node.open === '(?!' || node.open === '(?<=' || node.open === '(?<!') return EMPTY
      if (node.open === '(?:' || node.open === '(' || /^\(\?<[A-Za-z_]\w*>$/.test(node.open)) return known(node.body)
      return ANY // a modifier group, (?i:…): its case folding is not spelled out in its chars
    }
  }
}

/**
 * The factors of a translated pattern (a flag-less JavaScript regex source
 * as `translateRegex` emits it): lower-case byte strings of which every
 * match contains one, ignoring ASCII case; undefined when the pattern can
 * match without any (or cannot be read).
 *
 * @example
 * requiredFactors('[Uu][Nn][Ii][Oo][Nn][\\x09-\\x0d ]+[Ss][Ee][Ll][Ee][Cc][Tt]') // ['union'] (or ['select'])
 * requiredFactors('^[\\s\\S]*$') // undefined
 */
export function requiredFactors(source: string): readonly string[] | undefined {
  let root: Node
  try {
    root = parsePattern(source)
  } catch {
    return undefined
  }
  const factors = factorsOf(known(root))
  return factors === undefined || factors.length === 0 ? undefined : simplify(factors)
}

/**
 * The factors worth prefiltering a translated pattern with: its
 * {@link requiredFactors}, unless they are so common in handshake values
 * (a single letter, `=`, `/`) that the prefilter would reject too little to
 * pay for its bookkeeping (`literal-rates.ts`).
 *
 * @example
 * prefilterFactors('<[Ss][Cc][Rr][Ii][Pp][Tt]') // ['<script']
 */
export function prefilterFactors(source: string): readonly string[] | undefined {
  const factors = requiredFactors(source)
  return factors !== undefined && worthPrefiltering(factors) ? factors : undefined
}
