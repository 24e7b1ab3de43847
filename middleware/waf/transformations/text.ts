/**
 * The simple text transformations: case, whitespace, NULs, comments, trims
 * and the 7-bit parity family. ModSecurity's whitespace is C's `isspace()`
 * (space, \t, \n, \v, \f, \r); `removeWhitespace` and `compressWhitespace`
 * also count the non-breaking space 0xA0, as ModSecurity does. Case changes
 * touch ASCII letters only. Each returns its input when there is nothing to
 * change.
 */

const UPPER = /[A-Z]/
const LOWER = /[a-z]/
const NON_ASCII = /[^\x00-\x7f]/
const UPPER_RUNS = /[A-Z]+/g
const LOWER_RUNS = /[a-z]+/g

/**
 * `t:lowercase`: A–Z to a–z; other bytes (é, À) are left alone.
 *
 * @example
 * lowercase('SeLeCT À') // 'select À'
 */
export function lowercase(input: string): string {
  if (!UPPER.test(input)) return input
  // toLowerCase() would also fold Latin-1 letters; it is safe on pure ASCII.
  return NON_ASCII.test(input) ? input.replace(UPPER_RUNS, (run) => run.toLowerCase()) : input.toLowerCase()
}

/**
 * `t:uppercase`: a–z to A–Z; other bytes are left alone.
 *
 * @example
 * uppercase('select ß') // 'SELECT ß'
 */
export function uppercase(input: string): string {
  if (!LOWER.test(input)) return input
  return NON_ASCII.test(input) ? input.replace(LOWER_RUNS, (run) => run.toUpperCase()) : input.toUpperCase()
}

const NULS = /\x00/g
const WHITESPACE_OR_NBSP = /[\t-\r \xa0]+/g
const HAS_WHITESPACE_OR_NBSP = /[\t-\r \xa0]/

/**
 * `t:removeNulls`: deletes every NUL byte.
 *
 * @example
 * removeNulls('a\x00b') // 'ab'
 */
export function removeNulls(input: string): string {
  return input.indexOf('\x00') < 0 ? input : input.replace(NULS, '')
}

/**
 * `t:replaceNulls`: turns every NUL byte into a space.
 *
 * @example
 * replaceNulls('a\x00b') // 'a b'
 */
export function replaceNulls(input: string): string {
  return input.indexOf('\x00') < 0 ? input : input.replace(NULS, ' ')
}

/**
 * `t:removeWhitespace`: deletes whitespace and 0xA0.
 *
 * @example
 * removeWhitespace(' s e\tl\xa0ect ') // 'select'
 */
export function removeWhitespace(input: string): string {
  return HAS_WHITESPACE_OR_NBSP.test(input) ? input.replace(WHITESPACE_OR_NBSP, '') : input
}

/**
 * `t:compressWhitespace`: each run of whitespace and 0xA0 becomes one space.
 *
 * @example
 * compressWhitespace('  a \t\n b ') // ' a b '
 */
export function compressWhitespace(input: string): string {
  return HAS_WHITESPACE_OR_NBSP.test(input) ? input.replace(WHITESPACE_OR_NBSP, ' ') : input
}

/** C's `isspace()`: the bytes trim removes. */
function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d)
}

/**
 * `t:trimLeft`: removes leading whitespace.
 *
 * @example
 * trimLeft(' \t a ') // 'a '
 */
export function trimLeft(input: string): string {
  let start = 0
  while (start < input.length && isSpace(input.charCodeAt(start))) start++
  return start === 0 ? input : input.slice(start)
}

/**
 * `t:trimRight`: removes trailing whitespace.
 *
 * @example
 * trimRight(' a \r\n') // ' a'
 */
export function trimRight(input: string): string {
  let end = input.length
  while (end > 0 && isSpace(input.charCodeAt(end - 1))) end--
  return end === input.length ? input : input.slice(0, end)
}

/**
 * `t:trim`: removes leading and trailing whitespace (not 0xA0).
 *
 * @example
 * trim(' \t a b \n') // 'a b'
 */
export function trim(input: string): string {
  return trimRight(trimLeft(input))
}

/**
 * `t:replaceComments`: each C comment `/* … *\/` becomes one space; an
 * unterminated one runs to the end and also becomes a space. A lone `*\/` is
 * kept.
 *
 * @example
 * replaceComments('UNION/**\/SELECT') // 'UNION SELECT'
 */
export function replaceComments(input: string): string {
  let start = input.indexOf('/*')
  if (start < 0) return input
  let out = ''
  let run = 0
  while (start >= 0) {
    out += input.slice(run, start) + ' '
    const close = input.indexOf('*/', start + 2)
    if (close < 0) return out
    run = close + 2
    start = input.indexOf('/*', run)
  }
  return out + input.slice(run)
}

/**
 * `t:removeComments`: deletes C comments `/* … *\/` and HTML comments
 * `<!-- … -->`; an unterminated one runs to the end and leaves one space.
 * Outside a comment, `--` or `#` (SQL and shell line comments) cut the rest
 * of the input. Follows the ModSecurity test vectors (`SELECT/**\/\/**\/UNION`
 * is `SELECTUNION`).
 *
 * @example
 * removeComments('a/* x *\/b<!-- y -->c -- z') // 'abc '
 */
export function removeComments(input: string): string {
  const length = input.length
  let out = ''
  let run = 0
  let i = 0
  while (i < length) {
    const code = input.charCodeAt(i)
    const next = input.charCodeAt(i + 1)
    let close: string | undefined
    if (code === 0x2f && next === 0x2a) close = '*/'
    else if (code === 0x3c && next === 0x21 && input.charCodeAt(i + 2) === 0x2d && input.charCodeAt(i + 3) === 0x2d) close = '-->'
    else if ((code === 0x2d && next === 0x2d) || code === 0x23) return out + input.slice(run, i)
    if (close === undefined) {
      i++
      continue
    }
    out += input.slice(run, i)
    const end = input.indexOf(close, i + (close === '*/' ? 2 : 4))
    if (end < 0) return out + ' '
    i = end + close.length
    run = i
  }
  return run === 0 ? input : out + input.slice(run)
}

/** Applies `mask` to bit 7 of every byte: the parity transformations. */
function withParity(input: string, parity: (byte: number) => number): string {
  let out = ''
  for (let i = 0; i < input.length; i++) out += String.fromCharCode(parity(input.charCodeAt(i) & 0x7f))
  return out
}

/** Whether a 7-bit value has an odd number of set bits. */
function oddBits(byte: number): boolean {
  let bits = byte
  bits ^= bits >> 4
  bits ^= bits >> 2
  bits ^= bits >> 1
  return (bits & 1) === 1
}

/**
 * `t:parityEven7bit`: sets bit 7 so that every byte has even parity.
 *
 * @example
 * parityEven7bit('a') // '\xe1'
 */
export function parityEven7bit(input: string): string {
  return withParity(input, (byte) => (oddBits(byte) ? byte | 0x80 : byte))
}

/**
 * `t:parityOdd7bit`: sets bit 7 so that every byte has odd parity.
 *
 * @example
 * parityOdd7bit('a') // 'a'
 */
export function parityOdd7bit(input: string): string {
  return withParity(input, (byte) => (oddBits(byte) ? byte : byte | 0x80))
}

/**
 * `t:parityZero7bit`: clears bit 7 of every byte.
 *
 * @example
 * parityZero7bit('\xe1') // 'a'
 */
export function parityZero7bit(input: string): string {
  return withParity(input, (byte) => byte)
}
