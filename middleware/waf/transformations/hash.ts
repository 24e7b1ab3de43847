/**
 * `t:sha1` and `t:md5`: the raw digest of a byte string, as a byte string
 * (20 and 16 bytes), which rules usually follow with `t:hexEncode`. Written
 * out here because Web Crypto's `digest()` is asynchronous and the
 * transformations are synchronous; both run only where a rule asks for them
 * (the CRS hashes the User-Agent once per request, REQUEST-901).
 * MD5 implemented here from RFC 1321; SHA-1 is the gateway's own (src/sha1.ts).
 */
import { sha1 as sha1Digest } from '../../../src/sha1.ts'

/** The message's bytes, padded as MD5 requires (RFC 1321 §3.1–3.2): 0x80, zeros, then the bit length, little-endian. */
function padded(input: string): Uint8Array {
  const length = input.length
  const total = (((length + 8) >> 6) + 1) << 6
  const bytes = new Uint8Array(total)
  for (let i = 0; i < length; i++) bytes[i] = input.charCodeAt(i) & 0xff
  bytes[length] = 0x80
  const view = new DataView(bytes.buffer)
  const bits = length * 8
  // The length in bits as a 64-bit integer; inputs stay far below 2^53 bits.
  view.setUint32(total - 8, bits >>> 0, true)
  view.setUint32(total - 4, Math.floor(bits / 0x100000000), true)
  return bytes
}

/** 32-bit words as a little-endian byte string. */
function wordsToBytes(words: readonly number[]): string {
  let out = ''
  for (const word of words) {
    for (let k = 0; k < 4; k++) out += String.fromCharCode((word >>> (k * 8)) & 0xff)
  }
  return out
}

/**
 * `t:sha1`: the 20-byte SHA-1 digest of the input's bytes (the gateway's one
 * SHA-1, in src/sha1.ts, on the byte string's bytes).
 *
 * @example
 * hexEncode(sha1('abc')) // 'a9993e364706816aba3e25717850c26c9cd0d89d'
 */
export function sha1(input: string): string {
  const bytes = new Uint8Array(input.length)
  for (let i = 0; i < input.length; i++) bytes[i] = input.charCodeAt(i) & 0xff
  return String.fromCharCode(...sha1Digest(bytes))
}

/** Per-round shift amounts of MD5 (RFC 1321 §3.4). */
const MD5_SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21]

/** MD5's sine-derived constants: floor(|sin(i + 1)| * 2^32). */
const MD5_K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0)

/**
 * `t:md5`: the 16-byte MD5 digest of the input's bytes.
 *
 * @example
 * hexEncode(md5('abc')) // '900150983cd24fb0d6963f7d28e17f72'
 */
export function md5(input: string): string {
  const bytes = padded(input)
  const view = new DataView(bytes.buffer)
  const m = new Int32Array(16)
  let a0 = 0x67452301
  let b0 = 0xefcdab89 | 0
  let c0 = 0x98badcfe | 0
  let d0 = 0x10325476
  for (let offset = 0; offset < bytes.length; offset += 64) {
    for (let t = 0; t < 16; t++) m[t] = view.getInt32(offset + t * 4, true)
    let a = a0, b = b0, c = c0, d = d0
    for (let i = 0; i < 64; i++) {
      let f: number
      let g: number
      if (i < 16) { f = (b & c) | (~b & d); g = i }
      else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15 }
      else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) & 15 }
      else { f = c ^ (b | ~d); g = (7 * i) & 15 }
      const shift = MD5_SHIFTS[((i >> 4) << 2) | (i & 3)]!
      const sum = (a + f + MD5_K[i]! + m[g]!) | 0
      a = d
      d = c
      c = b
      b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0
    }
    a0 = (a0 + a) | 0
    b0 = (b0 + b) | 0
    c0 = (c0 + c) | 0
    d0 = (d0 + d) | 0
  }
  return wordsToBytes([a0, b0, c0, d0])
}
