import crypto from 'node:crypto'
import { Hono } from 'hono'
import { base64url, generateKeyPair } from 'jose'
import { describe, expect, it } from 'vitest'
import { jwtAuth, type JwtAuthOptions } from '../../../middleware/jwt-auth/index.ts'
import { claimChecks } from '../../../middleware/jwt-auth/claims.ts'
import { decodePart } from '../../../middleware/jwt-auth/compact-jws.ts'
import { keyResolver } from '../../../middleware/jwt-auth/keys.ts'
import { usableNodeCrypto } from '../../../src/native-crypto.ts'
import { nodeCrypto } from '../../../src/node/native-crypto.ts'
import { NodeSignatures } from '../../../middleware/jwt-auth/node-signature.ts'
import { tokenVerifier } from '../../../middleware/jwt-auth/verifier.ts'
import { mint } from '../../helpers/jwks.ts'
import { NOW, SECRET, secretCorpus, corpusKeys } from './corpus.ts'

const secretOptions: JwtAuthOptions = { secret: SECRET, algorithms: ['HS256'] }
const key = () => keyResolver(secretOptions, secretOptions.algorithms)
const checks = () => claimChecks(secretOptions, secretOptions.algorithms)

describe('jwtAuth: which verifier checks signatures', () => {
  it('uses node:crypto on Node when verifyWith is unset: the Node host injects node:crypto itself', () => {
    expect(nodeCrypto.verify).toBe(crypto.verify)
    expect(tokenVerifier(key(), checks(), undefined, nodeCrypto).backend).toBe('node:crypto')
  })

  it("uses jose's WebCrypto path when verifyWith is 'webcrypto'", () => {
    expect(tokenVerifier(key(), checks(), 'webcrypto', nodeCrypto).backend).toBe('webcrypto')
  })

  it('falls back to WebCrypto where the runtime has no node:crypto, and refuses an explicit node:crypto there at start', () => {
    expect(tokenVerifier(key(), checks(), undefined, undefined).backend).toBe('webcrypto')
    expect(() => tokenVerifier(key(), checks(), 'node:crypto', undefined)).toThrow(TypeError)
    expect(() => tokenVerifier(key(), checks(), 'node:crypto', undefined)).toThrow(/verifyWith 'node:crypto' needs node:crypto injected/)
  })

  it('takes no injected node:crypto that is missing, or lacks a function the verifier calls', () => {
    expect(usableNodeCrypto({})).toBeUndefined()
    expect(usableNodeCrypto(undefined)).toBeUndefined()
    expect(usableNodeCrypto(null)).toBeUndefined()
    expect(usableNodeCrypto({ ...nodeCrypto, KeyObject: {} })).toBeUndefined()
    expect(usableNodeCrypto({ ...nodeCrypto, decodeBase64url: 'no' })).toBeUndefined()
    expect(usableNodeCrypto(crypto)).toBe(crypto)
    expect(usableNodeCrypto(nodeCrypto)).toBe(nodeCrypto)
  })

  it('verifies with what the runtime injects, with what the route injects, else with WebCrypto; refuses verifyWith node:crypto with nothing injected', async () => {
    const token = await mint({ alg: 'HS256', secret: SECRET }, { sub: 'a', exp: NOW / 1000 + 60 })
    const backends: string[] = []
    const spy = { ...nodeCrypto, verify: nodeCrypto.verify, createHmac: (...args: Parameters<typeof nodeCrypto.createHmac>) => (backends.push('hmac'), nodeCrypto.createHmac(...args)) }
    const routeApp = new Hono()
    routeApp.all('*', jwtAuth({ ...secretOptions, now: () => NOW, crypto: spy }), (c) => c.text('ok'))
    expect((await routeApp.request('/', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    expect(backends).toEqual(['hmac'])
    expect(() => jwtAuth({ ...secretOptions, crypto: {} as never })).toThrow(/crypto must be node:crypto's verify/)
    const bare = new Hono()
    bare.all('*', jwtAuth({ ...secretOptions, now: () => NOW }), (c) => c.text('ok'))
    expect((await bare.request('/', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    const runtimeApp = new Hono()
    runtimeApp.all('*', jwtAuth({ ...secretOptions, now: () => NOW }), (c) => c.text('ok'))
    const env = { wsgate: { crypto: spy, note() {} } }
    expect((await runtimeApp.request('/', { headers: { authorization: `Bearer ${token}` } }, env)).status).toBe(200)
    expect(backends).toEqual(['hmac', 'hmac'])
    const strict = new Hono()
    strict.all('*', jwtAuth({ ...secretOptions, now: () => NOW, verifyWith: 'node:crypto' }), (c) => c.text('ok'))
    const refused = await strict.request('/', { headers: { authorization: `Bearer ${token}` } })
    expect([refused.status, refused.headers.get('x-wsgate-error')]).toEqual([500, 'ERR_INTERNAL'])
  })

  it('throws a TypeError naming verifyWith for an unknown value', () => {
    expect(() => jwtAuth({ ...secretOptions, verifyWith: 'openssl' as never })).toThrow(/verifyWith must be 'node:crypto' or 'webcrypto', got "openssl"/)
  })

  it('verifies the same HS256 tokens through the middleware on either path', async () => {
    for (const verifyWith of ['node:crypto', 'webcrypto'] as const) {
      const app = new Hono()
      app.all('*', jwtAuth({ ...secretOptions, algorithms: ['HS256', 'HS384', 'HS512'], now: () => NOW, verifyWith, crypto: nodeCrypto }), (c) => c.text('ok'))
      for (const { label, token, expected } of secretCorpus(corpusKeys())) {
        const response = await app.request('/', { headers: { authorization: `Bearer ${token}` } })
        expect(response.status === 200 ? 'accepted' : response.headers.get('x-wsgate-error'), `${verifyWith}: ${label}`).toBe(expected)
      }
    }
  })
})

describe('jwtAuth: node:crypto keys', () => {
  it('turns a CryptoKey into a KeyObject once and reuses it', async () => {
    const { publicKey } = await generateKeyPair('ES256')
    const signatures = new NodeSignatures(nodeCrypto)
    const first = signatures.prepare('ES256', publicKey)
    expect(first?.keyObject).toBeInstanceOf(crypto.KeyObject)
    expect(signatures.prepare('ES256', publicKey)?.keyObject).toBe(first?.keyObject)
  })

  it("refuses a key jose would refuse, with jose's message: an RSA key below 2048 bits, a key of another algorithm", async () => {
    const small = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
    const smallKey = await crypto.subtle.importKey('spki', small.export({ format: 'der', type: 'spki' }), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify'])
    const signatures = new NodeSignatures(nodeCrypto)
    expect(() => signatures.prepare('RS256', smallKey)).toThrow('RS256 requires key modulusLength to be 2048 bits or larger')
    const { publicKey: ec } = await generateKeyPair('ES256')
    expect(() => signatures.prepare('ES384', ec)).toThrow('CryptoKey does not support this operation, its algorithm.namedCurve must be P-384')
    expect(() => signatures.prepare('RS256', ec)).toThrow('CryptoKey does not support this operation, its algorithm.name must be RSASSA-PKCS1-v1_5')
  })

  it('leaves to jose what it has no table entry or key form for', () => {
    const signatures = new NodeSignatures(nodeCrypto)
    expect(signatures.prepare('ML-DSA-44', new Uint8Array(32))).toBeUndefined()
    expect(signatures.prepare('RS256', new Uint8Array(32))).toBeUndefined()
    expect(signatures.prepare('RS256', { kty: 'RSA' })).toBeUndefined()
  })

  it("accepts the same HS256 token on every handshake with the secret's cached KeyObject", async () => {
    const config: JwtAuthOptions = { secret: SECRET, algorithms: ['HS256'] }
    const verify = tokenVerifier(keyResolver(config, config.algorithms), claimChecks(config, config.algorithms), 'node:crypto', nodeCrypto)
    const [good] = secretCorpus(corpusKeys())
    for (let round = 0; round < 3; round++) expect((await verify(good!.token, new Date(NOW))).sub).toBe('user-1')
  })
})

describe('jwtAuth: base64url decoding on the node:crypto path', () => {
  it("decodes every string exactly as jose's decoder does, and refuses the same ones", () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .é'
    let seed = 1
    const random = (): number => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647
    for (let round = 0; round < 5_000; round++) {
      const length = Math.floor(random() * 14)
      const plain = random() < 0.7
      let text = ''
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * (plain ? 64 : alphabet.length))]
      let expected: Uint8Array | 'refused'
      try {
        expected = base64url.decode(text)
      } catch {
        expected = 'refused'
      }
      let actual: Uint8Array | 'refused'
      try {
        actual = decodePart(text, 'payload')
      } catch {
        actual = 'refused'
      }
      expect(actual === 'refused' ? actual : [...actual], JSON.stringify(text)).toEqual(expected === 'refused' ? expected : [...expected])
    }
  })
})
