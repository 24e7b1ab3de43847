/**
 * Character sets for the PCRE-to-JavaScript translation (`regex.ts`): PCRE's
 * byte-mode meaning of `\s \h \v` and the POSIX classes, written as
 * JavaScript class ranges. ModSecurity runs PCRE without UTF or UCP, in the C
 * locale, so every set is ASCII (plus 0x85 and 0xA0 where PCRE lists them);
 * JavaScript's own `\s` would also match 0xA0, U+FEFF and the Unicode spaces.
 */

/** An inclusive range of char codes. */
export type CodeRange = readonly [from: number, to: number]

/** The highest char code a JavaScript class (without the `u` flag) can hold. */
const MAX_CODE = 0xffff

/** PCRE `\s` (since PCRE 8.34 it includes VT): \t \n \v \f \r and space. */
export const SPACE: readonly CodeRange[] = [[0x09, 0x0d], [0x20, 0x20]]
/** PCRE `\h` in byte mode: tab, space and NBSP. */
export const HORIZONTAL_SPACE: readonly CodeRange[] = [[0x09, 0x09], [0x20, 0x20], [0xa0, 0xa0]]
/** PCRE `\v` in byte mode: \n \v \f \r and NEL (0x85). JavaScript's `\v` is only VT. */
export const VERTICAL_SPACE: readonly CodeRange[] = [[0x0a, 0x0d], [0x85, 0x85]]

/** The POSIX classes PCRE knows (`[[:alpha:]]`), in the C locale. */
export const POSIX_CLASSES: Readonly<Record<string, readonly CodeRange[]>> = {
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  digit: [[0x30, 0x39]],
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  upper: [[0x41, 0x5a]],
  lower: [[0x61, 0x7a]],
  space: SPACE,
  blank: [[0x09, 0x09], [0x20, 0x20]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  print: [[0x20, 0x7e]],
  graph: [[0x21, 0x7e]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
}

/** The ranges not in `ranges` (which must be sorted and disjoint), within U+0000–U+FFFF. */
export function complement(ranges: readonly CodeRange[]): CodeRange[] {
  const out: CodeRange[] = []
  let next = 0
  for (const [from, to] of ranges) {
    if (from > next) out.push([next, from - 1])
    next = to + 1
  }
  if (next <= MAX_CODE) out.push([next, MAX_CODE])
  return out
}

/**
 * One char as it may stand in a JavaScript pattern (without the `u` flag),
 * inside or outside a class: letters, digits and `_` as they are,
 * punctuation escaped, everything else as `\xHH` or `\uHHHH`.
 */
export function literal(code: number): string {
  if ((code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f) {
    return String.fromCharCode(code)
  }
  if (code > 0x20 && code < 0x7f) return '\\' + String.fromCharCode(code)
  if (code <= 0xff) return '\\x' + code.toString(16).padStart(2, '0')
  return '\\u' + code.toString(16).padStart(4, '0')
}

/** Ranges as the body of a JavaScript class (`\x09-\x0d `…), without the brackets. */
export function rangesSource(ranges: readonly CodeRange[]): string {
  let out = ''
  for (const [from, to] of ranges) out += from === to ? literal(from) : literal(from) + '-' + literal(to)
  return out
}

/** Ranges as a stand-alone JavaScript class, `[…]` or `[^…]`. */
export function classSource(ranges: readonly CodeRange[], negated: boolean): string {
  return (negated ? '[^' : '[') + rangesSource(ranges) + ']'
}
