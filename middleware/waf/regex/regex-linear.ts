/**
 * Rewrites of a translated pattern (the JavaScript source `regex.ts` emits)
 * that keep every match exactly as it was while letting V8 run the pattern
 * in linear time, or at least without rescanning the input from every start
 * position. V8's linear-time engine (which the Node host turns on for
 * runaway backtracking, `src/node/regexp-guard.ts`) refuses lookaheads and
 * back-references, and with them the `(?=(?<h>X))\k<h>` emulation of PCRE's
 * possessive quantifiers and atomic groups; a CRS pattern using one stays on
 * the backtracking engine, quadratic or worse on a long run of the right
 * char. Two rewrites, each applied only where it provably changes nothing:
 *
 * - **Possessive to greedy.** `X*+` (X one char or one class) matches the
 *   longest run of X, where a greedy `X*` may give chars back. Giving back
 *   can only make a difference when what follows could use them: when it can
 *   start with a char of X, or succeed without consuming anything behind an
 *   assertion (`\b`, a lookaround) that holds inside the run but not at its
 *   end. Neither possible, the greedy form finds the same match along the
 *   same path (its first try is the longest run, and every shorter one fails
 *   where the possessive form fails). Optional star loops right after
 *   (`X*+\s*?[(@"'`]*?\w+`, CRS 942260) may absorb X chars without making a
 *   difference either: whatever they take from the run they can take from
 *   its end instead. The same holds for an atomic group around such a
 *   loop or around a single char.
 * - **Long counted repeats.** The linear engine refuses `X{n,m}` with n or m
 *   above 16 (it unrolls them). `.{1,100}?` (CRS 942480, whose `select`
 *   branch took 184 s on 16 KB of `select dump `) is written as repeats of
 *   at most 16 nested so that the counts are tried in the same order:
 *   `X{0,40}` is `(?:X{16}(?:X{16}X{0,8}|X{0,16})|X{0,16})`, lazily
 *   `(?:X{0,16}?|X{16}(?:X{0,16}?|X{16}X{0,8}?))`. Only for X one char or
 *   class, so that no capture is duplicated and no choice inside X
 *   reorders the tries.
 * - **Leading lazy loop.** A pattern that starts with `X*?` (X one char or
 *   class, outside any capture) matches somewhere if and only if the rest
 *   does; the loop only moves the match's start back over the run of X
 *   before it. Left in, it rescans that run from every start position
 *   (CRS 942130: 0.5 s on 16 KB of `)`). Taken out, the caller moves the
 *   start back itself ({@link LinearRewrite.leading}).
 *
 * Char sets are computed over bytes (0x00–0xFF, see `bytes.ts`) by running
 * each atom on every byte, so any class the translator writes is read right.
 * Portable: no `node:` import.
 */
import { atomicBody, bytesOf, HELPER_PREFIX, only, parsePattern, type ByteSet, type Node } from './regex-ast.ts'

/** What a pattern became, and what its caller must do for the match to be the original's. */
export interface LinearRewrite {
  source: string
  /**
   * The class of a leading lazy loop that was taken out: the match's start
   * is to be moved back over the chars it matches (see {@link moveStartBack}).
   */
  leading?: RegExp
}

/**
 * Applies the rewrites to `source`, the translator's output before its
 * numbered back-references are resolved (they are `\x01N\x02` placeholders
 * there). Returns `source` unchanged when nothing applies.
 */
export function linearRewrite(source: string): LinearRewrite {
  // Only patterns with a helper group, a lazy loop or a long counted repeat have anything to gain; most CRS patterns have none.
  if (!source.includes(HELPER_PREFIX) && !source.includes('*?') && !/\{(?:\d{3,}|[2-9]\d|1[7-9])\b|,(?:\d{3,}|[2-9]\d|1[7-9])\}/.test(source)) return { source }
  let root: Node
  try {
    root = parsePattern(source)
  } catch {
    return { source }
  }
  if (source.includes(HELPER_PREFIX) && !hasBackReference(root)) relaxPossessives(root, END)
  splitLongRepeats(root)
  const leading = takeLeadingLazyLoop(root)
  const out = print(root)
  return leading === undefined ? { source: out } : { source: out, leading: new RegExp(leading) }
}

/**
 * The start of the original match, given the rewritten pattern's match at
 * `index`: moved back over the run of `leading` chars before it.
 */
export function moveStartBack(input: string, index: number, leading: RegExp): number {
  let start = index
  while (start > 0 && leading.test(input[start - 1]!)) start--
  return start
}

function print(node: Node): string {
  switch (node.type) {
    case 'char': case 'assert': case 'backref': return node.source
    case 'seq': return node.items.map(print).join('')
    case 'alt': return node.alternatives.map(print).join('|')
    case 'group': return node.open + print(node.body) + ')'
    case 'quant': return print(node.atom) + node.source
  }
}

function intersects(a: ByteSet, b: ByteSet): boolean {
  for (let byte = 0; byte < 256; byte++) if (a[byte]! & b[byte]!) return true
  return false
}

function union(a: ByteSet, b: ByteSet): ByteSet {
  const out = new Uint8Array(256)
  for (let byte = 0; byte < 256; byte++) out[byte] = a[byte]! | b[byte]!
  return out
}

/**
 * How a piece of pattern can match the empty string: with no assertion on
 * the way (`CLEAN`), through `$` (only at the very end of the input), or
 * through another assertion (`\b`, `^`, a lookaround: it may hold at one
 * position and not at the next).
 */
const CLEAN = 1
const DOLLAR = 2
const OTHER = 4

/** What a piece of pattern can start with and how it can be empty. */
interface Summary {
  first: ByteSet
  empty: number
}

const NOTHING: ByteSet = new Uint8Array(256)
const EVERYTHING: ByteSet = new Uint8Array(256).fill(1)
/** The end of the pattern (or of a lookahead): succeeds anywhere, consumes nothing. */
const END: Summary = { first: NOTHING, empty: CLEAN }
/** Whatever follows is not known (inside a lookbehind): nothing may be rewritten on its account. */
const UNKNOWN: Summary = { first: EVERYTHING, empty: OTHER }

/** The empty-match kinds of one piece followed by another. */
function emptyThen(a: number, b: number): number {
  let out = 0
  for (const x of [CLEAN, DOLLAR, OTHER]) {
    if (!(a & x)) continue
    for (const y of [CLEAN, DOLLAR, OTHER]) {
      if (!(b & y)) continue
      out |= x === DOLLAR || y === DOLLAR ? DOLLAR : x === OTHER || y === OTHER ? OTHER : CLEAN
    }
  }
  return out
}

function then(a: Summary, b: Summary): Summary {
  return { first: a.empty ? union(a.first, b.first) : a.first, empty: emptyThen(a.empty, b.empty) }
}

function either(a: Summary, b: Summary): Summary {
  return { first: union(a.first, b.first), empty: a.empty | b.empty }
}

function isLookaround(open: string): boolean {
  return open === '(?=' || open === '(?!' || open === '(?<=' || open === '(?<!'
}

function summarize(node: Node): Summary {
  switch (node.type) {
    case 'char': return { first: bytesOf(node.source), empty: 0 }
    case 'assert': return { first: NOTHING, empty: node.source === '$' ? DOLLAR : OTHER }
    // A back-reference can match anything, or nothing when its group matched nothing.
    case 'backref': return { first: EVERYTHING, empty: OTHER }
    case 'seq': return node.items.reduce((summary: Summary, item) => then(summary, summarize(item)), END)
    case 'alt': return node.alternatives.map(summarize).reduce(either)
    case 'group': {
      if (isLookaround(node.open)) return { first: NOTHING, empty: OTHER }
      // An emulated atomic group matches a subset of what its body matches: summarize the body, not the lookahead.
      return summarize(atomicBody(node) ?? node.body)
    }
    case 'quant': {
      if (node.max === 0) return END
      const atom = summarize(node.atom)
      return { first: atom.first, empty: (node.min === 0 ? CLEAN : 0) | atom.empty }
    }
  }
}

function hasBackReference(node: Node): boolean {
  switch (node.type) {
    case 'backref': return !node.source.startsWith('\\k<wsgAtomic')
    case 'seq': return node.items.some(hasBackReference)
    case 'alt': return node.alternatives.some(hasBackReference)
    case 'group': return hasBackReference(node.body)
    case 'quant': return hasBackReference(node.atom)
    default: return false
  }
}

/**
 * The plain form of a possessive or atomic emulation `(?:(?=(?<h>X))\k<h>)`
 * when X is one char atom or one quantified char atom, or undefined.
 */
function emulated(node: Node): Node | undefined {
  const inner = only(only(atomicBody(node)))
  if (inner?.type === 'char') return inner
  if (inner?.type === 'quant' && inner.atom.type === 'char' && !inner.lazy) return inner
  return undefined
}

/** A plain star loop of one char atom (`\s*?`, `[(@"']*`): it may stop anywhere and start again anywhere. */
function isStarLoop(node: Node): boolean {
  return node.type === 'quant' && node.atom.type === 'char' && node.min === 0 && node.max === Infinity
}

/**
 * Replaces, in place, every emulated possessive quantifier or atomic group
 * whose plain form matches the same (see the module comment). `after` is
 * what can follow `node`.
 */
function relaxPossessives(node: Node, after: Summary): void {
  switch (node.type) {
    case 'seq': {
      const { items } = node
      // What follows each item: the items after it, then what follows the sequence.
      const follows: Summary[] = new Array<Summary>(items.length)
      let next = after
      for (let i = items.length - 1; i >= 0; i--) {
        follows[i] = next
        next = then(summarize(items[i]!), next)
      }
      for (let i = 0; i < items.length; i++) {
        const plain = emulated(items[i]!)
        if (plain === undefined) {
          relaxPossessives(items[i]!, follows[i]!)
          continue
        }
        if (plain.type === 'char') {
          items[i] = plain
          continue
        }
        // Star loops right after may take chars from the run; what comes after them must not be able to.
        let j = i + 1
        while (j < items.length && isStarLoop(items[j]!)) j++
        const rest = follows[j - 1]!
        if (!intersects(summarize(plain).first, rest.first) && !(rest.empty & OTHER)) items[i] = plain
      }
      return
    }
    case 'alt':
      for (const alternative of node.alternatives) relaxPossessives(alternative, after)
      return
    case 'group':
      if (node.open === '(?<=' || node.open === '(?<!') relaxPossessives(node.body, UNKNOWN)
      else relaxPossessives(node.body, node.open === '(?=' || node.open === '(?!' ? END : after)
      return
    case 'quant': {
      // After one pass through the atom: another pass, or what follows the loop.
      const again = node.max > 1 ? either(then(summarize(node.atom), after), after) : after
      const plain = emulated(node.atom)
      // A possessive inside a loop has more than siblings after it; keep the emulation there unless it is a single char.
      if (plain?.type === 'char') node.atom = plain
      else relaxPossessives(node.atom, again)
      return
    }
    default:
  }
}

/** The longest counted repeat V8's linear engine takes (it unrolls them). */
const MAX_COUNT = 16

/** Rewrites, in place, counted repeats of one char atom above {@link MAX_COUNT} as nested repeats within it. */
function splitLongRepeats(node: Node): void {
  switch (node.type) {
    case 'seq':
      node.items.forEach((item, index) => {
        const atom = item.type === 'quant' ? charAtom(item.atom) : undefined
        if (item.type === 'quant' && atom !== undefined && (item.min > MAX_COUNT || (item.max !== Infinity && item.max > MAX_COUNT))) {
          node.items[index] = parsePattern(repeatSource(atom, item.min, item.max, item.lazy))
        } else {
          splitLongRepeats(item)
        }
      })
      return
    case 'alt':
      node.alternatives.forEach(splitLongRepeats)
      return
    case 'group':
      // A lookbehind matches right to left: leave its repeats as they are.
      if (node.open !== '(?<=' && node.open !== '(?<!') splitLongRepeats(node.body)
      return
    case 'quant':
      splitLongRepeats(node.atom)
      return
    default:
  }
}

/** The source of a one-char atom (a char, a class, or a non-capturing group holding only one), or undefined. */
function charAtom(node: Node): string | undefined {
  if (node.type === 'char') return node.source
  if (node.type === 'group' && node.open === '(?:') {
    const inner = only(only(node.body))
    if (inner?.type === 'char') return inner.source
  }
  return undefined
}

/** `atom{min,max}` (lazily with `lazy`) as repeats of at most {@link MAX_COUNT}, counts tried in the same order. */
function repeatSource(atom: string, min: number, max: number, lazy: boolean): string {
  const mark = lazy ? '?' : ''
  let out = ''
  let required = min
  while (required > MAX_COUNT) {
    out += `${atom}{${MAX_COUNT}}`
    required -= MAX_COUNT
  }
  if (max === Infinity) return `(?:${out}${atom}{${required},}${mark})`
  const optional = max - min
  if (required + optional <= MAX_COUNT) return `(?:${out}${atom}{${required},${required + optional}}${mark})`
  if (required > 0) out += `${atom}{${required}}`
  return `(?:${out}${optionalSource(atom, optional, lazy)})`
}

/** Between 0 and `count` of `atom`, most first (fewest with `lazy`), in repeats of at most {@link MAX_COUNT}. */
function optionalSource(atom: string, count: number, lazy: boolean): string {
  if (count <= MAX_COUNT) return `${atom}{0,${count}}${lazy ? '?' : ''}`
  const rest = optionalSource(atom, count - MAX_COUNT, lazy)
  return lazy ? `(?:${atom}{0,${MAX_COUNT}}?|${atom}{${MAX_COUNT}}${rest})` : `(?:${atom}{${MAX_COUNT}}${rest}|${atom}{0,${MAX_COUNT}})`
}

/**
 * Takes out a leading lazy star loop of one char atom (`[\s'"`()]*?` at the
 * start of CRS 942130), unless a capture group holds it; returns its atom.
 */
function takeLeadingLazyLoop(root: Node): string | undefined {
  let node: Node | undefined = root
  for (;;) {
    const sequence: Node | undefined = node?.type === 'alt' ? only(node) : undefined
    if (sequence?.type !== 'seq' || sequence.items.length === 0) return undefined
    const first: Node = sequence.items[0]!
    if (first.type === 'group' && first.open === '(?:') {
      node = first.body
      continue
    }
    if (first.type !== 'quant' || !first.lazy || first.min !== 0 || first.max !== Infinity || first.atom.type !== 'char') return undefined
    sequence.items.shift()
    return first.atom.source
  }
}
