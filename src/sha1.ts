/**
 * SHA-1 (FIPS 180-4 §6.1), synchronous and portable, for the one place the
 * gateway needs it: `Sec-WebSocket-Accept` (RFC 6455 §4.2.2), a 60-byte input
 * per handshake. On Node, `crypto.subtle.digest()` runs every call as a
 * thread-pool job behind a promise: ~15 µs of CPU for a digest that takes ~1 µs
 * here, and 18 % of a handshake's CPU in the benchmark's profile. Not for
 * anything security-critical: SHA-1 only names the key here, as the RFC says.
 */

/** The 20-byte SHA-1 digest of `bytes`. */
export function sha1(bytes: Uint8Array): Uint8Array {
  const length = bytes.length
  // Message, the 0x80 marker and the 64-bit bit length, padded to 64-byte blocks (§5.1.1).
  const blockCount = ((length + 8) >>> 6) + 1
  const words = new Int32Array(blockCount * 16)
  for (let i = 0; i < length; i++) words[i >>> 2] = words[i >>> 2]! | (bytes[i]! << (24 - (i & 3) * 8))
  words[length >>> 2] = words[length >>> 2]! | (0x80 << (24 - (length & 3) * 8))
  words[blockCount * 16 - 2] = Math.floor(length / 0x20000000)
  words[blockCount * 16 - 1] = (length * 8) | 0

  let h0 = 0x67452301
  let h1 = 0xefcdab89 | 0
  let h2 = 0x98badcfe | 0
  let h3 = 0x10325476
  let h4 = 0xc3d2e1f0 | 0
  const w = new Int32Array(80)
  for (let block = 0; block < blockCount; block++) {
    for (let t = 0; t < 16; t++) w[t] = words[block * 16 + t]!
    for (let t = 16; t < 80; t++) {
      const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!
      w[t] = (x << 1) | (x >>> 31)
    }
    let a = h0
    let b = h1
    let c = h2
    let d = h3
    let e = h4
    for (let t = 0; t < 80; t++) {
      let f: number
      let k: number
      if (t < 20) {
        f = (b & c) | (~b & d)
        k = 0x5a827999
      } else if (t < 40) {
        f = b ^ c ^ d
        k = 0x6ed9eba1
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d)
        k = 0x8f1bbcdc | 0
      } else {
        f = b ^ c ^ d
        k = 0xca62c1d6 | 0
      }
      const temp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]!) | 0
      e = d
      d = c
      c = (b << 30) | (b >>> 2)
      b = a
      a = temp
    }
    h0 = (h0 + a) | 0
    h1 = (h1 + b) | 0
    h2 = (h2 + c) | 0
    h3 = (h3 + d) | 0
    h4 = (h4 + e) | 0
  }
  const digest = new Uint8Array(20)
  const view = new DataView(digest.buffer)
  view.setInt32(0, h0)
  view.setInt32(4, h1)
  view.setInt32(8, h2)
  view.setInt32(12, h3)
  view.setInt32(16, h4)
  return digest
}
