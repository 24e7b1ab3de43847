/**
 * The hex and base64 transformations: `hexDecode`, `hexEncode`,
 * `sqlHexDecode`, `base64Decode`, `base64DecodeExt`, `base64Encode`, and
 * `length`. Byte strings in and out.
 */
import { hexValue, x2c } from '../bytes.ts'

const HEX_DIGITS = '0123456789abcdef'

/**
 * `t:hexEncode`: every byte as two lower-case hex digits.
 *
 * @example
 * hexEncode('Az') // '417a'
 */
export function hexEncode(input: string): string {
  let out = ''
  for (let i = 0; i < input.length; i++) {
    const byte = input.charCodeAt(i) & 0xff
    out += HEX_DIGITS[byte >> 4]! + HEX_DIGITS[byte & 15]!
  }
  return out
}

/**
 * `t:hexDecode`: pairs of chars to bytes. Like ModSecurity it does not check
 * the digits (`0z` reads as 0x23) and ignores a final odd char.
 *
 * @example
 * hexDecode('54657374') // 'Test'
 */
export function hexDecode(input: string): string {
  let out = ''
  for (let i = 0; i + 1 < input.length; i += 2) out += String.fromCharCode(x2c(input.charCodeAt(i), input.charCodeAt(i + 1)))
  return out
}

/**
 * `t:sqlHexDecode`: each `0x` followed by hex digit pairs becomes the bytes
 * they spell (`0x414243` is `ABC`); a `0x` not followed by at least one pair
 * is kept, and an odd final digit is kept.
 *
 * @example
 * sqlHexDecode("SELECT 0x414243") // 'SELECT ABC'
 */
export function sqlHexDecode(input: string): string {
  let out = ''
  let run = 0
  const length = input.length
  for (let i = 0; i < length; ) {
    const code = input.charCodeAt(i)
    if (code === 0x30 && i + 3 < length && (input.charCodeAt(i + 1) | 0x20) === 0x78
      && hexValue(input.charCodeAt(i + 2)) >= 0 && hexValue(input.charCodeAt(i + 3)) >= 0) {
      out += input.slice(run, i)
      i += 2
      while (i + 1 < length) {
        const high = hexValue(input.charCodeAt(i))
        const low = hexValue(input.charCodeAt(i + 1))
        if (high < 0 || low < 0) break
        out += String.fromCharCode(high * 16 + low)
        i += 2
      }
      run = i
      continue
    }
    i++
  }
  return run === 0 ? input : out + input.slice(run)
}

/** Six-bit values of the base64 alphabet; -1 elsewhere. `-` and `_` (base64url) only for `base64DecodeExt`. */
const BASE64 = new Int8Array(256).fill(-1)
for (let i = 0; i < 64; i++) BASE64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i

/** Appends the bytes of one group of up to four six-bit values. */
function emitQuad(values: number[], count: number): string {
  const [a = 0, b = 0, c = 0, d = 0] = values
  let out = ''
  if (count > 1) out += String.fromCharCode(((a << 2) | (b >> 4)) & 0xff)
  if (count > 2) out += String.fromCharCode(((b << 4) | (c >> 2)) & 0xff)
  if (count > 3) out += String.fromCharCode(((c << 6) | d) & 0xff)
  return out
}

/**
 * `t:base64Decode`: decodes the leading run of base64 alphabet chars and
 * stops at the first other char (`=` padding included), as ModSecurity v2's
 * `apr_base64_decode` does; a final single char is ignored.
 *
 * @example
 * base64Decode('VGVzdENhc2U=') // 'TestCase'
 */
export function base64Decode(input: string): string {
  let out = ''
  const quad: number[] = []
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i)
    const value = code < 256 ? BASE64[code]! : -1
    if (value < 0) break
    quad.push(value)
    if (quad.length === 4) {
      out += emitQuad(quad, 4)
      quad.length = 0
    }
  }
  return quad.length > 0 ? out + emitQuad(quad, quad.length) : out
}

/**
 * `t:base64DecodeExt`: forgiving base64 (PHP's `base64_decode`, as
 * ModSecurity copied it): chars outside the alphabet are skipped, `-` and
 * `_` read as `+` and `/`, and `=` ends nothing; but a `=` that leaves a
 * single char in a group, not followed by another `=`, makes the whole
 * input undecodable, and the result is empty.
 *
 * @example
 * base64DecodeExt('P.HNjcmlwdD4=') // '<script>'
 */
export function base64DecodeExt(input: string): string {
  let out = ''
  const quad: number[] = []
  let count = 0
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i)
    if (code === 0x3d) {
      if (input.charCodeAt(i + 1) !== 0x3d && count % 4 === 1) return ''
      continue
    }
    const value = code === 0x2d ? 62 : code === 0x5f ? 63 : code < 256 ? BASE64[code]! : -1
    if (value < 0) continue
    quad.push(value)
    count++
    if (quad.length === 4) {
      out += emitQuad(quad, 4)
      quad.length = 0
    }
  }
  return quad.length > 0 ? out + emitQuad(quad, quad.length) : out
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/**
 * `t:base64Encode`: standard base64 with `=` padding.
 *
 * @example
 * base64Encode('TestCase') // 'VGVzdENhc2U='
 */
export function base64Encode(input: string): string {
  let out = ''
  for (let i = 0; i < input.length; i += 3) {
    const a = input.charCodeAt(i) & 0xff
    const b = i + 1 < input.length ? input.charCodeAt(i + 1) & 0xff : 0
    const c = i + 2 < input.length ? input.charCodeAt(i + 2) & 0xff : 0
    out += BASE64_ALPHABET[a >> 2]! + BASE64_ALPHABET[((a & 3) << 4) | (b >> 4)]!
    out += i + 1 < input.length ? BASE64_ALPHABET[((b & 15) << 2) | (c >> 6)]! : '='
    out += i + 2 < input.length ? BASE64_ALPHABET[c & 63]! : '='
  }
  return out
}

/**
 * `t:length`: the input's length in bytes, in decimal.
 *
 * @example
 * length('abc') // '3'
 */
export function length(input: string): string {
  return String(input.length)
}
