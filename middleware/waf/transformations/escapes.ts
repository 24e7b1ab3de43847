/**
 * The escape decoders: `htmlEntityDecode`, `jsDecode`, `cssDecode` and
 * `escapeSeqDecode`. Each follows ModSecurity's C code byte for byte,
 * including its leniency (entities without `;`, a `\u` escape keeping only
 * its low byte), because CRS regexes are written against that output.
 * Byte strings in and out; the input comes back as it is when it holds no
 * `&` or `\`.
 */
import { hexValue, isAlnum, isSpace } from '../bytes.ts'

const AMP = 0x26
const HASH = 0x23
const SEMICOLON = 0x3b
const BACKSLASH = 0x5c

/** The named entities ModSecurity decodes (case-insensitive); others are left as they are. */
const ENTITIES: Readonly<Record<string, string>> = { quot: '"', amp: '&', lt: '<', gt: '>', nbsp: '\xa0' }

/**
 * Reads digits of `radix` from `start` and returns [end, byte]: the byte is
 * what C's `(unsigned char)strtol()` gives, the value's low byte, or 0xFF
 * once the value overflows a 64-bit long (strtol saturates at LONG_MAX).
 */
function readNumber(input: string, start: number, radix: 10 | 16): [number, number] {
  let end = start
  let low = 0
  let magnitude = 0
  for (; end < input.length; end++) {
    const digit = hexValue(input.charCodeAt(end))
    if (digit < 0 || digit >= radix) break
    low = (low * radix + digit) & 0xff
    magnitude = magnitude * radix + digit
  }
  return [end, magnitude > 9.223372036854775e18 ? 0xff : low]
}

/**
 * `t:htmlEntityDecode`: `&#DDD;`, `&#xHH;` and `&quot; &amp; &lt; &gt; &nbsp;`
 * to their byte (a numeric entity keeps its value's low byte; `&nbsp;` is
 * 0xA0), with or without the closing `;`. Unknown names and entities without
 * digits are kept.
 *
 * @example
 * htmlEntityDecode('&lt;script&gt;&#x61&#98;') // '<script>ab'
 */
export function htmlEntityDecode(input: string): string {
  if (input.indexOf('&') < 0) return input
  let out = ''
  let run = 0
  const length = input.length
  for (let i = 0; i < length; ) {
    if (input.charCodeAt(i) !== AMP || i + 1 >= length) {
      i++
      continue
    }
    let j = i + 1
    let decoded: string | undefined
    if (input.charCodeAt(j) === HASH) {
      j++
      const x = input.charCodeAt(j)
      const hex = x === 0x78 || x === 0x58
      if (hex) j++
      // `&#` or `&#x` without a digit after it is kept as it is.
      const [end, byte] = readNumber(input, j, hex ? 16 : 10)
      if (end > j) {
        decoded = String.fromCharCode(byte)
        j = end
      }
    } else {
      let end = j
      while (end < length && isAlnum(input.charCodeAt(end))) end++
      if (end > j) {
        const name = input.slice(j, end).toLowerCase()
        decoded = Object.hasOwn(ENTITIES, name) ? ENTITIES[name] : undefined
        j = end
      }
    }
    if (decoded === undefined) {
      i++
      continue
    }
    if (j < length && input.charCodeAt(j) === SEMICOLON) j++
    out += input.slice(run, i) + decoded
    i = j
    run = j
  }
  return run === 0 ? input : out + input.slice(run)
}

/** Whether a char code is an octal digit. */
function isOctal(code: number): boolean {
  return code >= 0x30 && code <= 0x37
}

/**
 * The byte the two hex digits at `at` and `at + 1` spell, or -1 when either
 * is not a hex digit or lies past the end (`charCodeAt` gives NaN there,
 * which {@link hexValue} rejects).
 */
function hexPair(input: string, at: number): number {
  const high = hexValue(input.charCodeAt(at))
  const low = hexValue(input.charCodeAt(at + 1))
  return high < 0 || low < 0 ? -1 : high * 16 + low
}

/** How many octal digits (1–3) start at `at`, the first of which the caller has checked. */
function octalDigits(input: string, at: number): number {
  let digits = 1
  while (digits < 3 && isOctal(input.charCodeAt(at + digits))) digits++
  return digits
}

/** The control char a `\a \b \f \n \r \t \v` escape stands for, or undefined. */
function controlEscape(code: number): string | undefined {
  switch (code) {
    case 0x61: return '\x07'
    case 0x62: return '\b'
    case 0x66: return '\f'
    case 0x6e: return '\n'
    case 0x72: return '\r'
    case 0x74: return '\t'
    case 0x76: return '\v'
    default: return undefined
  }
}

/**
 * `t:jsDecode`: JavaScript escapes. `\uHHHH` keeps its low byte (full-width
 * ASCII U+FF01–U+FF5E maps to ASCII), `\xHH`, octal `\OOO` (at most one
 * byte: `\666` is `\66` then `6`), `\a \b \f \n \r \t \v`, and any other
 * `\C` is `C`. A lone `\` at the end is kept.
 *
 * @example
 * jsDecode('\\x3cscript\\u003e\\101') // '<script>A'
 */
export function jsDecode(input: string): string {
  if (input.indexOf('\\') < 0) return input
  let out = ''
  let run = 0
  const length = input.length
  for (let i = 0; i < length; ) {
    if (input.charCodeAt(i) !== BACKSLASH || i + 1 >= length) {
      i++
      continue
    }
    const next = input.charCodeAt(i + 1)
    let decoded: string
    let size: number
    let high: number
    let low: number
    if (next === 0x75 && (high = hexPair(input, i + 2)) >= 0 && (low = hexPair(input, i + 4)) >= 0) {
      // Full-width ASCII (U+FF01–U+FF5E) maps to ASCII.
      decoded = String.fromCharCode(low > 0x00 && low < 0x5f && high === 0xff ? low + 0x20 : low)
      size = 6
    } else if (next === 0x78 && (low = hexPair(input, i + 2)) >= 0) {
      decoded = String.fromCharCode(low)
      size = 4
    } else if (isOctal(next)) {
      let digits = octalDigits(input, i + 1)
      // Three digits only while the value fits a byte (first digit 0–3).
      if (digits === 3 && next > 0x33) digits = 2
      decoded = String.fromCharCode(Number.parseInt(input.slice(i + 1, i + 1 + digits), 8))
      size = 1 + digits
    } else {
      decoded = controlEscape(next) ?? input[i + 1]!
      size = 2
    }
    out += input.slice(run, i) + decoded
    i += size
    run = i
  }
  return run === 0 ? input : out + input.slice(run)
}

/**
 * `t:cssDecode`: CSS 2 escapes. `\` and 1–6 hex digits is one byte, the last
 * two digits (full-width ASCII mapped for 4 digits, or 5–6 with leading
 * zeros), and one whitespace after the digits is eaten; `\` newline is
 * removed; `\C` is `C`; a `\` at the very end is removed.
 *
 * @example
 * cssDecode('\\3c script\\3E') // '<script>'
 */
export function cssDecode(input: string): string {
  if (input.indexOf('\\') < 0) return input
  let out = ''
  let run = 0
  const length = input.length
  for (let i = 0; i < length; ) {
    if (input.charCodeAt(i) !== BACKSLASH) {
      i++
      continue
    }
    out += input.slice(run, i)
    i++
    if (i >= length) {
      run = i
      break
    }
    let digits = 0
    while (digits < 6 && i + digits < length && hexValue(input.charCodeAt(i + digits)) >= 0) digits++
    if (digits > 0) {
      let byte = digits === 1 ? hexValue(input.charCodeAt(i)) : hexPair(input, i + digits - 2)
      const fullCheck = digits === 4 || (digits === 5 && input[i] === '0') || (digits === 6 && input[i] === '0' && input[i + 1] === '0')
      if (fullCheck && byte > 0x00 && byte < 0x5f && hexPair(input, i + digits - 4) === 0xff) byte += 0x20
      out += String.fromCharCode(byte)
      i += digits
      if (i < length && isSpace(input.charCodeAt(i))) i++
    } else if (input.charCodeAt(i) === 0x0a) {
      i++
    } else {
      out += input[i]!
      i++
    }
    run = i
  }
  return out + input.slice(run)
}

/**
 * `t:escapeSeqDecode`: ANSI C escapes. `\a \b \f \n \r \t \v \\ \? \' \"`,
 * `\xHH` and octal `\O`–`\OOO` (the value's low byte); for any other `\C`
 * the backslash is dropped. A lone `\` at the end is kept.
 *
 * @example
 * escapeSeqDecode('\\x41\\101\\n') // 'AA\n'
 */
export function escapeSeqDecode(input: string): string {
  if (input.indexOf('\\') < 0) return input
  let out = ''
  let run = 0
  const length = input.length
  for (let i = 0; i < length; ) {
    if (input.charCodeAt(i) !== BACKSLASH || i + 1 >= length) {
      i++
      continue
    }
    const next = input.charCodeAt(i + 1)
    let decoded = controlEscape(next)
    let size = 2
    let byte: number
    if (decoded === undefined) {
      if (next === 0x5c || next === 0x3f || next === 0x27 || next === 0x22) {
        decoded = input[i + 1]!
      } else if ((next === 0x78 || next === 0x58) && (byte = hexPair(input, i + 2)) >= 0) {
        decoded = String.fromCharCode(byte)
        size = 4
      } else if (isOctal(next)) {
        const digits = octalDigits(input, i + 1)
        decoded = String.fromCharCode(Number.parseInt(input.slice(i + 1, i + 1 + digits), 8) & 0xff)
        size = 1 + digits
      } else {
        decoded = input[i + 1]!
      }
    }
    out += input.slice(run, i) + decoded
    i += size
    run = i
  }
  return run === 0 ? input : out + input.slice(run)
}
