import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { acceptFor, acceptValue } from '../../src/handshake.ts'
import { nodeCrypto } from '../../src/node/native-crypto.ts'
import { sha1 } from '../../src/sha1.ts'

describe('sha1()', () => {
  it('matches node:crypto at every padding boundary and beyond one block', () => {
    for (const length of [0, 1, 3, 4, 55, 56, 57, 60, 63, 64, 65, 119, 120, 128, 1000, 4099]) {
      const bytes = randomBytes(length)
      expect(Buffer.from(sha1(bytes)).toString('hex'), `${length} bytes`).toBe(createHash('sha1').update(bytes).digest('hex'))
    }
  })

  it('gives the FIPS 180-2 test vector for "abc"', () => {
    expect(Buffer.from(sha1(new TextEncoder().encode('abc'))).toString('hex')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d')
  })
})

describe('acceptFor()', () => {
  it('answers the key of RFC 6455 §1.3 with its Sec-WebSocket-Accept', async () => {
    expect(await acceptFor('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
  })
})

describe('acceptValue()', () => {
  it('gives the same value with the Node host\'s native hash as with the portable digest, for valid and odd keys', () => {
    const keys = ['dGhlIHNhbXBsZSBub25jZQ==', randomBytes(16).toString('base64'), 'short', ' padded key ==', 'caf\u00e9-\u00ff', '']
    for (const key of keys) expect(acceptValue(key, nodeCrypto), JSON.stringify(key)).toBe(acceptValue(key))
    expect(acceptValue('dGhlIHNhbXBsZSBub25jZQ==', nodeCrypto)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
  })
})
