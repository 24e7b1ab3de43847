/**
 * The URL-encoding transformations: `urlDecode`, `urlDecodeUni`, `urlEncode`
 * and `utf8toUnicode` (which writes `%uHHHH` for `urlDecodeUni` to read).
 * Byte strings in and out (see `../bytes.ts`); each returns its input
 * unchanged, without allocating, when there is nothing to do.
 */
import { hexValue } from '../bytes.ts'

const PERCENT = 0x25
const PLUS = 0x2b

/**
 * `t:urlDecode`: `%HH` to its byte and `+` to a space. An invalid or cut
 * sequence (`%g0`, `%0` at the end) is kept as it is, as ModSecurity's
 * non-strict decoder does.
 *
 * @example
 * urlDecode('a%20b+c%zz') // 'a b c%zz'
 */
export function urlDecode(input: string): string {
  return percentDecode(input, false)
}

/**
 * `t:urlDecodeUni`: `urlDecode` plus IIS's `%uHHHH`. Without a Unicode map
 * (`SecUnicodeMapFile`, which we do not support) ModSecurity keeps the low
 * byte of the code point, except that full-width ASCII (U+FF01–U+FF5E) maps to
 * the ASCII char it stands for: `%uff1c` is `<`, `%u0041` is `A`, `%u1100` is
 * NUL.
 *
 * @example
 * urlDecodeUni('%u0041%uFF1C%41+') // 'A<A '
 */
export function urlDecodeUni(input: string): string {
  return percentDecode(input, true)
}

/** The one decoder behind both: `+` and `%HH` always, IIS's `%uHHHH` when `unicode`. */
function percentDecode(input: string, unicode: boolean): string {
  if (input.indexOf('%') < 0 && input.indexOf('+') < 0) return input
  let out = ''
  let run = 0
  const length = input.length
  for (let i = 0; i < length; ) {
    const code = input.charCodeAt(i)
    if (code === PLUS) {
      out += input.slice(run, i) + ' '
      run = ++i
      continue
    }
    if (code !== PERCENT) {
      i++
      continue
    }
    const next = input.charCodeAt(i + 1)
    if (unicode && (next === 0x75 || next === 0x55)) {
      // %u: four hex digits must follow, else "%u" is kept and decoding goes on after it.
      if (i + 5 < length) {
        const d1 = hexValue(input.charCodeAt(i + 2))
        const d2 = hexValue(input.charCodeAt(i + 3))
        const d3 = hexValue(input.charCodeAt(i + 4))
        const d4 = hexValue(input.charCodeAt(i + 5))
        if (d1 >= 0 && d2 >= 0 && d3 >= 0 && d4 >= 0) {
          let byte = d3 * 16 + d4
          if (byte > 0x00 && byte < 0x5f && d1 === 15 && d2 === 15) byte += 0x20
          out += input.slice(run, i) + String.fromCharCode(byte)
          i += 6
          run = i
          continue
        }
      }
      i += 2
      continue
    }
    if (i + 2 < length) {
      const high = hexValue(next)
      const low = hexValue(input.charCodeAt(i + 2))
      if (high >= 0 && low >= 0) {
        out += input.slice(run, i) + String.fromCharCode(high * 16 + low)
        i += 3
        run = i
        continue
      }
    }
    i++
  }
  return out + input.slice(run)
}

/** Bytes `urlEncode` keeps as they are: `*`, digits and ASCII letters (ModSecurity's list; `-._~` are encoded). */
function keptByUrlEncode(code: number): boolean {
  return code === 0x2a || (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)
}

const HEX_DIGITS = '0123456789abcdef'

/**
 * `t:urlEncode`: a space becomes `+`, `*`, digits and letters stay, every other
 * byte becomes `%hh` in lower case.
 *
 * @example
 * urlEncode('a b/é') // 'a+b%2f%e9'
 */
export function urlEncode(input: string): string {
  let out = ''
  let run = 0
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i)
    if (keptByUrlEncode(code)) continue
    const byte = code & 0xff
    out += input.slice(run, i) + (code === 0x20 ? '+' : '%' + HEX_DIGITS[byte >> 4]! + HEX_DIGITS[byte & 15]!)
    run = i + 1
  }
  return run === 0 ? input : out + input.slice(run)
}

/** `%u` and four lower-case hex digits, the form ModSecurity writes (`%u00e9`), or more digits above U+FFFF. */
function percentU(codePoint: number): string {
  return '%u' + codePoint.toString(16).padStart(4, '0')
}

/**
 * `t:utf8toUnicode`: each well-formed multi-byte UTF-8 sequence becomes
 * `%uHHHH` (lower-case hex, five digits above U+FFFF), so that a following
 * `t:urlDecodeUni` maps full-width forms to ASCII. ASCII bytes are copied.
 * As in ModSecurity, a malformed sequence loses its lead byte (the bytes
 * after it are then read afresh), a byte that cannot start a sequence is
 * copied, and an overlong form or a surrogate is written as `%uHHHH`
 * followed by its lead byte again.
 *
 * @example
 * utf8toUnicode('\xef\xbc\x9cscript') // '%uff1cscript'
 */
export function utf8toUnicode(input: string): string {
  let i = 0
  const length = input.length
  while (i < length && input.charCodeAt(i) < 0x80) i++
  if (i === length) return input
  let out = input.slice(0, i)
  while (i < length) {
    const c = input.charCodeAt(i)
    if (c < 0x80) {
      out += input[i]!
      i++
      continue
    }
    const size = c >= 0xc0 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf8 ? 4 : 0
    if (size === 0) {
      // A continuation byte or 0xF8–0xFF where a sequence should start: copied.
      out += input[i]!
      i++
      continue
    }
    // ModSecurity copies a lead byte above F4 before looking at the rest.
    if (size === 4 && c >= 0xf5) out += input[i]!
    let valid = i + size <= length
    let codePoint = size === 2 ? c & 0x1f : size === 3 ? c & 0x0f : c & 0x07
    for (let k = 1; valid && k < size; k++) {
      const next = input.charCodeAt(i + k)
      if ((next & 0xc0) !== 0x80) valid = false
      codePoint = (codePoint << 6) | (next & 0x3f)
    }
    if (!valid) {
      // Missing or bad continuation bytes: the lead byte is dropped.
      i++
      continue
    }
    out += percentU(codePoint)
    const overlong = (size === 2 && codePoint < 0x80) || (size === 3 && codePoint < 0x800) || (size === 4 && codePoint < 0x10000)
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) out += input[i]!
    if (overlong) out += input[i]!
    i += size
  }
  return out
}
