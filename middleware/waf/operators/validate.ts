/**
 * The validation operators, which match when the value is NOT valid:
 * `@validateByteRange`, `@validateUrlEncoding`, `@validateUtf8Encoding`.
 * Plus the two constants, `@unconditionalMatch` and `@noMatch`. The whole
 * value is capture 0 when they match.
 */
import type { Operator, OperatorContext } from '../types.ts'
import { isHex } from '../bytes.ts'

/**
 * `@validateByteRange 9,10,13,32-126`: matches when the value holds a byte
 * outside the listed values and ranges. Each entry is read with `atoi()`
 * (`xxx` is 0) as ModSecurity does; a value outside 0–255 or a reversed
 * range is a `TypeError`. An empty list allows nothing.
 *
 * @example
 * validateByteRange('32-126', {})('tab\there', (t) => t) // ['tab\there']
 */
export function validateByteRange(param: string, _context: OperatorContext): Operator {
  const allowed = new Uint8Array(256)
  for (const entry of param.split(',')) {
    if (entry.trim() === '') continue
    const dash = entry.indexOf('-')
    const from = atoi(entry)
    const to = dash < 0 ? from : atoi(entry.slice(dash + 1))
    if (from < 0 || from > 255 || to < 0 || to > 255) throw new TypeError(`@validateByteRange: ${JSON.stringify(entry.trim())} is outside 0-255`)
    if (from > to) throw new TypeError(`@validateByteRange: ${JSON.stringify(entry.trim())} is a reversed range`)
    allowed.fill(1, from, to + 1)
  }
  return function validateByteRangeMatch(input) {
    for (let i = 0; i < input.length; i++) {
      const code = input.charCodeAt(i)
      if (code > 0xff || allowed[code] === 0) return [input]
    }
    return null
  }
}

/** C's `atoi()`: leading whitespace, optional sign, digits; 0 without digits. */
function atoi(text: string): number {
  const match = /^[\t-\r ]*([+-]?\d+)/.exec(text)
  return match ? Number.parseInt(match[1]!, 10) : 0
}

/**
 * `@validateUrlEncoding`: matches when a `%` is not followed by two hex
 * digits (`%`, `%4`, `%zz`).
 *
 * @example
 * validateUrlEncoding('', {})('a%2', (t) => t) // ['a%2']
 */
export function validateUrlEncoding(_param: string, _context: OperatorContext): Operator {
  return function validateUrlEncodingMatch(input) {
    for (let at = input.indexOf('%'); at >= 0; at = input.indexOf('%', at + 1)) {
      if (at + 2 >= input.length || !isHex(input.charCodeAt(at + 1)) || !isHex(input.charCodeAt(at + 2))) return [input]
      at += 2
    }
    return null
  }
}

/**
 * Whether the bytes are well-formed UTF-8 as ModSecurity checks it: no
 * missing or stray continuation bytes, no overlong form, no surrogate
 * (U+D800–U+DFFF), nothing above U+10FFFF (lead bytes F5–FF).
 */
export function isValidUtf8(input: string): boolean {
  const length = input.length
  for (let i = 0; i < length; ) {
    const c = input.charCodeAt(i)
    if (c < 0x80) {
      i++
      continue
    }
    if (c > 0xff) return false
    const size = c >= 0xc0 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0
    if (size === 0 || i + size > length) return false
    let codePoint = size === 2 ? c & 0x1f : size === 3 ? c & 0x0f : c & 0x07
    for (let k = 1; k < size; k++) {
      const next = input.charCodeAt(i + k)
      if ((next & 0xc0) !== 0x80 || next > 0xff) return false
      codePoint = (codePoint << 6) | (next & 0x3f)
    }
    if ((size === 2 && codePoint < 0x80) || (size === 3 && codePoint < 0x800) || (size === 4 && codePoint < 0x10000)) return false
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) return false
    if (codePoint > 0x10ffff) return false
    i += size
  }
  return true
}

/**
 * `@validateUtf8Encoding`: matches when the value is not well-formed UTF-8.
 *
 * @example
 * validateUtf8Encoding('', {})('caf\xe9', (t) => t) // ['caf\xe9'] (a lone Latin-1 byte)
 */
export function validateUtf8Encoding(_param: string, _context: OperatorContext): Operator {
  return function validateUtf8EncodingMatch(input) {
    return isValidUtf8(input) ? null : [input]
  }
}

/**
 * `@unconditionalMatch`: always matches.
 *
 * @example
 * unconditionalMatch('', {})('x', (t) => t) // ['x']
 */
export function unconditionalMatch(_param: string, _context: OperatorContext): Operator {
  return (input) => [input]
}

/**
 * `@noMatch`: never matches.
 *
 * @example
 * noMatch('', {})('x', (t) => t) // null
 */
export function noMatch(_param: string, _context: OperatorContext): Operator {
  return () => null
}
