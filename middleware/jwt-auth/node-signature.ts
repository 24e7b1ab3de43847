/**
 * JWS signatures (RFC 7518 §3) checked synchronously with `node:crypto`.
 * Each CryptoKey the key resolver hands out (and each HMAC secret) becomes a
 * KeyObject once; the cache is weak, so keys of a replaced JWKS go with it.
 * Before a key is used, jose's checks on it are repeated with jose's
 * messages (key type, algorithm, usage, RSA modulus ≥ 2048 bits).
 */
import type { NodeCrypto, NodeKeyObject } from '../../src/native-crypto.ts'

/** The WebCrypto algorithm a CryptoKey must carry to verify one JWS `alg` (jose's table). */
interface KeyAlgorithm {
  readonly name: string
  readonly hash?: string
  readonly namedCurve?: string
}

/** How one JWS `alg` is verified with `node:crypto`. */
interface SignatureAlgorithm {
  readonly key: KeyAlgorithm
  /** HMAC: the key is a shared secret. */
  readonly secret?: true
  /** RFC 7518 §3.3 and §3.5: RSA keys below 2048 bits are refused. */
  readonly minRsaBits?: number
  verify(crypto: NodeCrypto, key: NodeKeyObject, data: Uint8Array, signature: Uint8Array): boolean
}

/** RFC 7518 §3.2: HMAC with SHA-2; compared in constant time. */
function hmac(bits: 256 | 384 | 512): SignatureAlgorithm {
  const hash = `sha${bits}`
  return {
    key: { name: 'HMAC', hash: `SHA-${bits}` },
    secret: true,
    verify(crypto, key, data, signature) {
      const expected = crypto.createHmac(hash, key).update(data).digest()
      return expected.length === signature.length && crypto.timingSafeEqual(expected, signature)
    },
  }
}

/** RFC 7518 §3.3 RSASSA-PKCS1-v1_5 and §3.5 RSASSA-PSS, whose salt is as long as the hash. */
function rsa(bits: 256 | 384 | 512, pss: boolean): SignatureAlgorithm {
  const hash = `sha${bits}`
  const saltLength = bits / 8
  return {
    key: { name: pss ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: `SHA-${bits}` },
    minRsaBits: 2048,
    verify: pss
      ? (crypto, key, data, signature) => crypto.verify(hash, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature)
      : (crypto, key, data, signature) => crypto.verify(hash, data, key, signature),
  }
}

/**
 * RFC 7518 §3.4: a JWS ECDSA signature is R‖S, each as long as the curve's
 * order. It is re-encoded as DER here rather than handed over with
 * `dsaEncoding: 'ieee-p1363'`: Node's own conversion costs about a quarter of
 * a P-256 verify (measured on Node 24: 64 µs against 49 µs), ours well
 * under a microsecond. A signature of another length fails, as in WebCrypto.
 */
function ecdsa(curve: string, bits: 256 | 384 | 512, size: number): SignatureAlgorithm {
  const hash = `sha${bits}`
  return {
    key: { name: 'ECDSA', namedCurve: curve },
    verify: (crypto, key, data, signature) =>
      signature.length === 2 * size && crypto.verify(hash, data, key, derSignature(signature.subarray(0, size), signature.subarray(size))),
  }
}

/** X.690 DER of `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 §2.2.3) from R and S as unsigned big-endian bytes. */
function derSignature(r: Uint8Array, s: Uint8Array): Uint8Array {
  const rInteger = derUnsignedInteger(r)
  const sInteger = derUnsignedInteger(s)
  const length = rInteger.length + sInteger.length
  // Short form below 128 bytes of content; P-521 may need one length byte more (X.690 §8.1.3.5).
  const header = length < 0x80 ? [0x30, length] : [0x30, 0x81, length]
  const der = new Uint8Array(header.length + length)
  der.set(header, 0)
  der.set(rInteger, header.length)
  der.set(sInteger, header.length + rInteger.length)
  return der
}

/** X.690 §8.3: an INTEGER in the fewest bytes, with a 0x00 in front when the top bit is set (it is unsigned). */
function derUnsignedInteger(bytes: Uint8Array): Uint8Array {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const padded = bytes[start]! >= 0x80 ? 1 : 0
  const length = bytes.length - start + padded
  const integer = new Uint8Array(2 + length)
  integer[0] = 0x02
  integer[1] = length
  integer.set(bytes.subarray(start), 2 + padded)
  return integer
}

/** RFC 8037 §3.1 Ed25519: the message is signed as it is, no separate hash. */
const ed25519: SignatureAlgorithm = {
  key: { name: 'Ed25519' },
  verify: (crypto, key, data, signature) => crypto.verify(null, data, key, signature),
}

/** Algorithms verified here; any other (ML-DSA) stays with jose. */
const ALGORITHMS: Readonly<Record<string, SignatureAlgorithm>> = {
  HS256: hmac(256),
  HS384: hmac(384),
  HS512: hmac(512),
  RS256: rsa(256, false),
  RS384: rsa(384, false),
  RS512: rsa(512, false),
  PS256: rsa(256, true),
  PS384: rsa(384, true),
  PS512: rsa(512, true),
  ES256: ecdsa('P-256', 256, 32),
  ES384: ecdsa('P-384', 384, 48),
  ES512: ecdsa('P-521', 512, 66),
  EdDSA: ed25519,
  Ed25519: ed25519,
}

/** A key made ready for one algorithm: the KeyObject, jose's refusal of the key, or "let jose do it". */
type PreparedKey = { keyObject: NodeKeyObject } | { refusal: string } | { delegate: true }

/** The resolved key and algorithm `node:crypto` verifies; `undefined` from {@link NodeSignatures.prepare} means jose must. */
export interface ReadyKey {
  readonly algorithm: SignatureAlgorithm
  readonly keyObject: NodeKeyObject
}

/** Signature checks with `node:crypto`, holding the KeyObject of every key seen. */
export class NodeSignatures {
  readonly #crypto: NodeCrypto
  /** Per key (a CryptoKey, or the secret's bytes), per `alg`: what {@link prepare} decided. A CryptoKey never changes, so neither does the verdict. */
  readonly #prepared = new WeakMap<object, Map<string, PreparedKey>>()

  constructor(crypto: NodeCrypto) {
    this.#crypto = crypto
  }

  /**
   * Readies `key` for `alg`: jose's checks, then the KeyObject. Returns
   * undefined when the pair is for jose to handle (an algorithm not in the
   * table, a key that is neither a CryptoKey nor HMAC bytes, a runtime that
   * cannot turn the CryptoKey into a KeyObject).
   *
   * @throws TypeError with jose's message when jose would refuse the key (answered 500: a configuration problem, not the token's)
   */
  prepare(alg: string, key: unknown): ReadyKey | undefined {
    const algorithm = Object.hasOwn(ALGORITHMS, alg) ? ALGORITHMS[alg] : undefined
    if (!algorithm || typeof key !== 'object' || key === null) return undefined
    let byAlg = this.#prepared.get(key)
    if (!byAlg) this.#prepared.set(key, (byAlg = new Map()))
    let prepared = byAlg.get(alg)
    if (!prepared) byAlg.set(alg, (prepared = this.#prepareOnce(alg, algorithm, key)))
    if ('refusal' in prepared) throw new TypeError(prepared.refusal)
    return 'keyObject' in prepared ? { algorithm, keyObject: prepared.keyObject } : undefined
  }

  /**
   * Whether the signature verifies.
   * @throws what `node:crypto` throws; the caller reports it as a failed signature, as jose does with WebCrypto's
   */
  verify(ready: ReadyKey, data: Uint8Array, signature: Uint8Array): boolean {
    return ready.algorithm.verify(this.#crypto, ready.keyObject, data, signature)
  }

  #prepareOnce(alg: string, algorithm: SignatureAlgorithm, key: object): PreparedKey {
    if (key instanceof Uint8Array) {
      // jose imports the bytes as an HMAC key of this hash, which always fits; bytes for other algorithms are jose's error.
      return algorithm.secret ? { keyObject: this.#crypto.createSecretKey(key) } : { delegate: true }
    }
    if (!isCryptoKey(key)) return { delegate: true }
    const refusal = cryptoKeyRefusal(alg, algorithm, key)
    if (refusal) return { refusal }
    try {
      return { keyObject: this.#crypto.KeyObject.from(key) }
    } catch {
      return { delegate: true }
    }
  }
}

/** jose's `prepareKey`, `checkCryptoKey` and `checkModulusLength` on a CryptoKey, as the message jose would throw, or undefined when the key fits. */
function cryptoKeyRefusal(alg: string, algorithm: SignatureAlgorithm, key: CryptoKey): string | undefined {
  const expectedType = algorithm.secret ? 'secret' : 'public'
  if (key.type !== expectedType && (algorithm.secret || ['secret', 'public', 'private'].includes(key.type))) {
    return `CryptoKey instances must be of type "${expectedType}" for the ${alg} algorithm`
  }
  const actual = key.algorithm as KeyAlgorithm & { hash?: { name?: string }; modulusLength?: unknown }
  const expected = algorithm.key
  const unusable = (value: string, property = 'algorithm.name'): string => `CryptoKey does not support this operation, its ${property} must be ${value}`
  if (actual.name !== expected.name) return unusable(expected.name)
  if (expected.hash && actual.hash?.name !== expected.hash) return unusable(expected.hash, 'algorithm.hash')
  if (expected.namedCurve && actual.namedCurve !== expected.namedCurve) return unusable(expected.namedCurve, 'algorithm.namedCurve')
  if (!key.usages.includes('verify')) return 'CryptoKey does not support this operation, its usages must include verify.'
  if (algorithm.minRsaBits && (typeof actual.modulusLength !== 'number' || actual.modulusLength < algorithm.minRsaBits)) {
    return `${alg} requires key modulusLength to be ${algorithm.minRsaBits} bits or larger`
  }
  return undefined
}

/** jose's test: the tag (CryptoKeys of another realm have it too), else `instanceof`. */
function isCryptoKey(key: object): key is CryptoKey {
  if ((key as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'CryptoKey') return true
  try {
    return key instanceof CryptoKey
  } catch {
    return false
  }
}
