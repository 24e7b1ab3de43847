/**
 * Bracketed character classes in the PCRE → JavaScript translation
 * (`regex.ts`): single chars, ranges, POSIX classes, set escapes and
 * `\Q…\E` inside `[…]`, collected as code ranges so that a caseless class
 * gets its ASCII letters' other case (PCRE's C-locale folding). The sets
 * themselves are in `regex-classes.ts`. Functions of the
 * {@link Translator}'s state.
 *
 * Portable: no `node:` import.
 */
import { POSIX_CLASSES, HORIZONTAL_SPACE, SPACE, VERTICAL_SPACE, complement, rangesSource, type CodeRange } from './regex-classes.ts'
import { escapedChar } from './regex-escapes.ts'
import type { Translator } from './regex-translator.ts'

/**
 * Translates a class after its `[`, up to and including `]`. Single chars,
 * ranges and POSIX classes are collected as ranges so that a caseless class
 * can add its letters' other case; `\d \w \D \W` stay as they are (the
 * same in either case).
 */
export function characterClass(t: Translator, caseless: boolean): string {
  let negated = false
  if (t.src[t.pos] === '^') {
    negated = true
    t.pos++
  }
  const ranges: CodeRange[] = []
  let sets = ''
  let first = true
  // The last single char read, as a possible range start.
  let previous: number | undefined
  for (;;) {
    const char = t.src[t.pos]
    if (char === undefined) t.fail('missing ] for the character class')
    if (char === ']' && !first) {
      t.pos++
      break
    }
    first = false
    const posix = /^\[:(\^?)([a-z]+):\]/.exec(t.src.slice(t.pos, t.pos + 12))
    if (posix) {
      const set = POSIX_CLASSES[posix[2]!]
      if (!set) t.fail(`POSIX class [:${posix[2]!}:]`)
      t.pos += posix[0].length
      ranges.push(...(posix[1] ? complement(set) : set))
      previous = undefined
      continue
    }
    let single: number
    const hyphen = char === '-'
    t.pos++
    if (char === '\\') {
      const escaped = t.src[t.pos]
      if (escaped === undefined) t.fail('\\ at end of pattern')
      t.pos++
      const set = classEscape(t, escaped)
      if (set !== undefined) {
        if (typeof set === 'string') sets += set
        else ranges.push(...set)
        previous = undefined
        continue
      }
      if (escaped === 'Q') {
        const end = t.src.indexOf('\\E', t.pos)
        const text = end < 0 ? t.src.slice(t.pos) : t.src.slice(t.pos, end)
        t.pos = end < 0 ? t.src.length : end + 2
        for (const quoted of text) ranges.push([quoted.charCodeAt(0), quoted.charCodeAt(0)])
        previous = text.length > 0 ? text.charCodeAt(text.length - 1) : undefined
        continue
      }
      if (escaped === 'E') continue
      single = escapedChar(t, escaped, true)
    } else {
      single = char.charCodeAt(0)
    }
    // A range: the previous single char, an unescaped `-`, and a single char that is not the closing `]`.
    if (hyphen && previous !== undefined && t.src[t.pos] !== ']' && t.src[t.pos] !== undefined) {
      const end = rangeEnd(t)
      if (end !== undefined) {
        if (end < previous) t.fail('range out of order in character class')
        ranges.push([previous, end])
        previous = undefined
        continue
      }
    }
    ranges.push([single, single])
    previous = single
  }
  const all = caseless ? withOtherCase(ranges) : ranges
  return (negated ? '[^' : '[') + rangesSource(all) + sets + ']'
}

/** The end of a range after `-`, or undefined (and nothing consumed) when the next item is a set, which makes `-` literal. */
function rangeEnd(t: Translator): number | undefined {
  const char = t.src[t.pos]!
  if (char === '[' && /^\[:\^?[a-z]+:\]/.test(t.src.slice(t.pos, t.pos + 12))) return undefined
  if (char !== '\\') {
    t.pos++
    return char.charCodeAt(0)
  }
  const escaped = t.src[t.pos + 1]
  if (escaped === undefined || 'dDwWsShHvV'.includes(escaped)) return undefined
  t.pos += 2
  return escapedChar(t, escaped, true)
}

/** The set a set escape stands for inside a class (`\d` as text, `\S` as ranges), or undefined for a single-char escape. */
function classEscape(t: Translator, char: string): string | readonly CodeRange[] | undefined {
  switch (char) {
    case 'd': case 'D': case 'w': case 'W': return '\\' + char
    case 's': return SPACE
    case 'S': return complement(SPACE)
    case 'h': return HORIZONTAL_SPACE
    case 'H': return complement(HORIZONTAL_SPACE)
    case 'v': return VERTICAL_SPACE
    case 'V': return complement(VERTICAL_SPACE)
    default:
  }
  if ('BRXANzZGK'.includes(char)) t.fail(`\\${char} inside a character class`)
  return undefined
}

/** `ranges` plus the other case of every ASCII letter in them. */
function withOtherCase(ranges: readonly CodeRange[]): CodeRange[] {
  const out = [...ranges]
  for (const [from, to] of ranges) {
    for (const [low, high, shift] of [[0x41, 0x5a, 0x20], [0x61, 0x7a, -0x20]] as const) {
      const a = Math.max(from, low)
      const b = Math.min(to, high)
      if (a <= b) out.push([a + shift, b + shift])
    }
  }
  return out
}
