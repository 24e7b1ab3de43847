/**
 * Byte strings, as the WAF's primitives see text. ModSecurity works on bytes;
 * so do we: every value a rule reads is a JavaScript string with one char per
 * byte (latin1, each char U+0000–U+00FF), the form Node gives header values
 * and a raw request target in. A transformation returns a byte string, an
 * operator compares byte strings, and `t:lowercase` changes A–Z only, as C's
 * `tolower()` does in the C locale.
 *
 * A string that holds chars above U+00FF (a value built from decoded text, a
 * rule file read as UTF-8) is first turned into its UTF-8 bytes with
 * {@link toByteString}. Portable: no `node:` import.
 */

/** Whether `text` holds a char above U+00FF, i.e. is not yet a byte string. */
const WIDE_CHAR = /[^\x00-\xff]/

/**
 * The byte-string form of `text`: unchanged when every char is at most
 * U+00FF, otherwise the UTF-8 encoding of `text`, one char per byte (a lone
 * surrogate becomes EF BF BD, as `TextEncoder` writes it).
 *
 * @example
 * toByteString('é') // 'é' (already one byte, U+00E9)
 * toByteString('€') // '\xe2\x82\xac'
 */
export function toByteString(text: string): string {
  if (!WIDE_CHAR.test(text)) return text
  const bytes = new TextEncoder().encode(text)
  let out = ''
  // Chunks keep String.fromCharCode's argument list short.
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192))
  return out
}

/**
 * The value of a hexadecimal digit's char code, or -1 when it is not one.
 * Shared by the decoders so that none of them allocates to read a digit.
 */
export function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  const lower = code | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/** Whether a char code is an ASCII hexadecimal digit (ModSecurity's `VALID_HEX`). */
export function isHex(code: number): boolean {
  return hexValue(code) >= 0
}

/**
 * ModSecurity's `x2c()`: two chars read as a hexadecimal byte, without
 * checking that they are hex digits (`hexDecode` depends on the garbage it
 * yields for others: `0z` is 0x23). The result is kept to one byte.
 */
export function x2c(high: number, low: number): number {
  const digit = (code: number) => (code >= 0x41 ? ((code & 0xdf) - 0x41 + 10) : code - 0x30) & 0xff
  return ((digit(high) * 16) + digit(low)) & 0xff
}

/** C's `isspace()` in the C locale: space, \t, \n, \v, \f, \r. */
export function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d)
}

/** C's `isalnum()` in the C locale: ASCII letters and digits. */
export function isAlnum(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a)
}

/**
 * Builds a byte string from a list of byte values. Decoders collect output
 * bytes in a plain array and turn it into a string once.
 */
export function fromBytes(bytes: readonly number[]): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.slice(i, i + 8192))
  return out
}
