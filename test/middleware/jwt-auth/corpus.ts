/**
 * A corpus of tokens, good and bad in every way jwtAuth must notice, signed
 * with raw `node:crypto` so that any header and payload bytes can be signed
 * (unencoded payloads, bytes that are not JSON, not UTF-8, a BOM…). Each
 * entry names the code jwtAuth must answer with; the differential test runs
 * every entry through both verifiers.
 */
import crypto, { type KeyObject } from 'node:crypto'
import type { JWK } from 'jose'

/** The frozen "now" of the corpus, ms and seconds. */
export const NOW = Date.UTC(2030, 0, 15, 12, 0, 0)
export const NOW_S = NOW / 1000
export const ISSUER = 'https://idp.test/'
export const AUDIENCE = 'chat'
/** 64 bytes: long enough for HS512 (RFC 7518 §3.2). */
export const SECRET = new TextEncoder().encode('a-shared-secret-of-64-bytes-which-is-enough-for-hs512-0123456789')

/** A signing key: its private half for minting, its public half as a JWK with kid and (optionally) alg. */
export interface CorpusKey {
  readonly kid: string
  readonly privateKey: KeyObject
  readonly publicJwk: JWK
  readonly publicPem: string
}

function corpusKey(kid: string, alg: string | undefined, pair: crypto.KeyPairKeyObjectResult): CorpusKey {
  const jwk = pair.publicKey.export({ format: 'jwk' }) as JWK
  return {
    kid,
    privateKey: pair.privateKey,
    publicJwk: { ...jwk, kid, ...(alg ? { alg } : {}), use: 'sig' },
    publicPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  }
}

/** The keys: what the issuer publishes, and what an attacker holds. */
export function corpusKeys() {
  const rsaPair = (bits = 2048) => crypto.generateKeyPairSync('rsa', { modulusLength: bits })
  return {
    rsa: corpusKey('rsa-1', 'RS256', rsaPair()),
    rsa2: corpusKey('rsa-2', 'RS256', rsaPair()),
    /** An RSA key published without alg: usable for RS256 and PS256 alike. */
    rsaAnyAlg: corpusKey('rsa-any', undefined, rsaPair()),
    pss: corpusKey('ps-1', 'PS256', rsaPair()),
    /** Below RFC 7518's 2048 bits: jose refuses to use it (a configuration error, 500). */
    rsaSmall: corpusKey('rsa-small', 'RS256', rsaPair(1024)),
    ec: corpusKey('ec-1', 'ES256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })),
    ec384: corpusKey('ec384-1', 'ES384', crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' })),
    ec521: corpusKey('ec521-1', 'ES512', crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' })),
    ed: corpusKey('ed-1', 'EdDSA', crypto.generateKeyPairSync('ed25519')),
    /** Same kid as the issuer's RSA key, different key: the forger. */
    stranger: corpusKey('rsa-1', 'RS256', rsaPair()),
    strangerEc: corpusKey('ec-1', 'ES256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })),
  }
}

export type CorpusKeys = ReturnType<typeof corpusKeys>

/** A signing key or the shared secret. */
export type CorpusSigner = CorpusKey | 'secret' | HmacSigner

/** Any bytes as an HMAC key, under a kid or none: a second secret, or public key material an attacker tries as one. */
export interface HmacSigner {
  readonly kid?: string
  readonly secret: Uint8Array
}

/** A second secret, for the secrets bound by kid. */
export const SECRET_2 = new TextEncoder().encode('another-shared-secret-32-bytes!!')

/** The signature of `data` under `alg` (RFC 7518 §3) with raw node:crypto. */
export function signBytes(signer: CorpusSigner, alg: string, data: Uint8Array): Buffer {
  const bits = Number(alg.slice(-3))
  if (signer === 'secret') return crypto.createHmac(`sha${bits}`, SECRET).update(data).digest()
  if ('secret' in signer) return crypto.createHmac(`sha${bits}`, signer.secret).update(data).digest()
  const key = signer.privateKey
  if (alg.startsWith('RS')) return crypto.sign(`sha${bits}`, data, key)
  if (alg.startsWith('PS')) return crypto.sign(`sha${bits}`, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: bits / 8 })
  if (alg.startsWith('ES')) return crypto.sign(`sha${bits}`, data, { key, dsaEncoding: 'ieee-p1363' })
  return crypto.sign(null, data, key)
}

/** base64url of JSON, of a string's UTF-8, or of raw bytes. */
export function b64(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64url')
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}

/** Claims of a good token at NOW, with overrides (`undefined` removes a claim). */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: NOW_S - 60, exp: NOW_S + 600 }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[name]
    else base[name] = value
  }
  return base
}

/** How to build one token. */
export interface TokenSpec {
  signer: CorpusSigner
  alg: string
  /** Header fields over `{ alg, kid }`; `undefined` removes one. */
  header?: Record<string, unknown>
  /** The encoded header as it is, instead of `header`. */
  rawHeader?: string
  /** The payload: claims (JSON), or the encoded part as it is. */
  payload?: Record<string, unknown>
  rawPayload?: string
  /** Signs these bytes instead of the token's own signing input (for unencoded payloads). */
  signedInput?: string
  /** Replaces the signature part. */
  rawSignature?: string
}

/** A compact JWS from a spec. */
export function token(spec: TokenSpec): string {
  const header: Record<string, unknown> = { alg: spec.alg, ...(spec.signer === 'secret' ? {} : { kid: spec.signer.kid }), ...spec.header }
  for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name]
  const encodedHeader = spec.rawHeader ?? b64(header)
  const encodedPayload = spec.rawPayload ?? b64(spec.payload ?? claims())
  const input = spec.signedInput ?? `${encodedHeader}.${encodedPayload}`
  const signature = spec.rawSignature ?? b64(signBytes(spec.signer, spec.alg, Buffer.from(input)))
  return `${encodedHeader}.${encodedPayload}.${signature}`
}

/** One corpus entry: a token and the code jwtAuth must answer with ('accepted' when it passes). */
export interface CorpusEntry {
  label: string
  token: string
  expected: string
}

/** The same bytes with other text: the unused low bits of the last base64url character set (RFC 4648 §3.5 lets decoders ignore them). */
export function withTrailingBits(part: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  if (part.length % 4 === 0) throw new Error('no trailing bits in a part of 4n characters')
  return `${part.slice(0, -1)}${alphabet[alphabet.indexOf(part.at(-1)!) ^ 1]}`
}

/** base64url of claims with `=` padding (a filler claim makes sure padding is due). */
export function padded(payload: Record<string, unknown>): string {
  let filler = ''
  while (b64({ ...payload, filler }).length % 4 === 0) filler += 'x'
  const text = b64({ ...payload, filler })
  return `${text}${'='.repeat(4 - (text.length % 4))}`
}

/**
 * An ECDSA token whose signature's R and S (each `size` bytes) satisfy
 * `wanted`, e.g. R starting with a zero byte: signatures are randomised, so
 * signing again soon yields one (1 in 256 for a zero byte; 5,000 tries
 * miss it with odds below 1e-8).
 */
export function ecdsaTokenWhere(signer: CorpusKey, alg: string, size: number, wanted: (r: Uint8Array, s: Uint8Array) => boolean): string {
  for (let attempt = 0; attempt < 5_000; attempt++) {
    const jwt = token({ signer, alg })
    const signature = Buffer.from(jwt.split('.')[2]!, 'base64url')
    if (wanted(signature.subarray(0, size), signature.subarray(size))) return jwt
  }
  throw new Error(`no ${alg} signature of the wanted shape in 5,000 tries`)
}

/** An ECDSA token with the signature R‖S replaced by the given bytes. */
export function ecdsaTokenWith(signer: CorpusKey, alg: string, r: Uint8Array, s: Uint8Array): string {
  return token({ signer, alg, rawSignature: b64(Buffer.concat([r, s])) })
}

/** P-256's group order n (SEC 2 §2.4.2): R or S equal to it is out of range. */
const P256_ORDER = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex')

/** Flips the last signature character: a signature that decodes but does not verify. */
export function flipSignature(jwt: string): string {
  const last = jwt.at(-2) === 'A' ? 'B' : 'A'
  return `${jwt.slice(0, -2)}${last}${jwt.at(-1)}`
}

/**
 * Tokens for a key set holding rsa, rsaAnyAlg, pss, ec, ec384, ec521, ed and
 * (last) rsaSmall, with algorithms RS256, PS256, ES256, ES384, ES512, EdDSA,
 * Ed25519, issuer and audience set, exp required, no clock tolerance.
 */
export function keySetCorpus(keys: CorpusKeys): CorpusEntry[] {
  const { rsa, rsaAnyAlg, pss, rsaSmall, ec, ec384, ec521, ed, stranger, strangerEc } = keys
  const good = token({ signer: rsa, alg: 'RS256' })
  const [goodHeader, goodPayload, goodSignature] = good.split('.') as [string, string, string]
  const unencoded = (signer: CorpusKey, alg: string, text: string, crit: unknown = ['b64'], b64Value: unknown = false): string => {
    const header = b64({ alg, kid: signer.kid, b64: b64Value, crit })
    return token({ signer, alg, rawHeader: header, rawPayload: text, signedInput: `${header}.${text}` })
  }
  const big = claims({ blob: 'x'.repeat(64 * 1024) })
  return [
    // Accepted, one per algorithm and key form.
    { label: 'RS256 signed by the published key', token: good, expected: 'accepted' },
    { label: 'ES256', token: token({ signer: ec, alg: 'ES256' }), expected: 'accepted' },
    { label: 'ES384', token: token({ signer: ec384, alg: 'ES384' }), expected: 'accepted' },
    { label: 'EdDSA', token: token({ signer: ed, alg: 'EdDSA' }), expected: 'accepted' },
    { label: 'Ed25519 (the fully specified name) with a key published as EdDSA', token: token({ signer: ed, alg: 'Ed25519' }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'PS256', token: token({ signer: pss, alg: 'PS256' }), expected: 'accepted' },
    { label: 'RS256 with a key published without alg', token: token({ signer: rsaAnyAlg, alg: 'RS256' }), expected: 'accepted' },
    { label: 'PS256 with a key published without alg', token: token({ signer: rsaAnyAlg, alg: 'PS256' }), expected: 'accepted' },
    { label: 'a 64 KiB claims set', token: token({ signer: ec, alg: 'ES256', payload: big }), expected: 'accepted' },
    { label: 'typ JWT and extra header fields', token: token({ signer: rsa, alg: 'RS256', header: { typ: 'JWT', cty: 'x', x5t: 'y' } }), expected: 'accepted' },
    { label: 'a claims set starting with a UTF-8 BOM', token: token({ signer: rsa, alg: 'RS256', rawPayload: b64(`\uFEFF${JSON.stringify(claims())}`) }), expected: 'accepted' },
    { label: 'b64 outside crit (ignored)', token: token({ signer: rsa, alg: 'RS256', header: { b64: false } }), expected: 'accepted' },
    { label: 'aud as the audience string', token: token({ signer: rsa, alg: 'RS256', payload: claims({ aud: AUDIENCE }) }), expected: 'accepted' },
    { label: 'non-ASCII claims', token: token({ signer: rsa, alg: 'RS256', payload: claims({ name: 'Zoë 日本' }) }), expected: 'accepted' },

    // Time claims.
    { label: 'expired', token: token({ signer: rsa, alg: 'RS256', payload: claims({ exp: NOW_S - 1 }) }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'expiring exactly now', token: token({ signer: rsa, alg: 'RS256', payload: claims({ exp: NOW_S }) }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'expiring in a fraction of a second', token: token({ signer: rsa, alg: 'RS256', payload: claims({ exp: NOW_S + 0.5 }) }), expected: 'accepted' },
    { label: 'expired ES256', token: token({ signer: ec, alg: 'ES256', payload: claims({ exp: NOW_S - 3600 }) }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'nbf in the future', token: token({ signer: rsa, alg: 'RS256', payload: claims({ nbf: NOW_S + 60 }) }), expected: 'ERR_JWT_NOT_YET_VALID' },
    { label: 'nbf exactly now', token: token({ signer: rsa, alg: 'RS256', payload: claims({ nbf: NOW_S }) }), expected: 'accepted' },
    { label: 'iat in the future (no maxTokenAge)', token: token({ signer: rsa, alg: 'RS256', payload: claims({ iat: NOW_S + 3600 }) }), expected: 'accepted' },
    { label: 'no exp', token: token({ signer: rsa, alg: 'RS256', payload: claims({ exp: undefined }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'exp as a string', token: token({ signer: rsa, alg: 'RS256', payload: claims({ exp: String(NOW_S + 600) }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'exp null', token: token({ signer: rsa, alg: 'RS256', payload: claims({ exp: null }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    // failures.ts answers every nbf failure as "not yet valid", a malformed nbf included.
    { label: 'nbf as a string', token: token({ signer: rsa, alg: 'RS256', payload: claims({ nbf: 'soon' }) }), expected: 'ERR_JWT_NOT_YET_VALID' },
    { label: 'iat as a string', token: token({ signer: rsa, alg: 'RS256', payload: claims({ iat: 'then' }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'expired and nbf in the future (nbf is checked first)', token: token({ signer: rsa, alg: 'RS256', payload: claims({ exp: NOW_S - 1, nbf: NOW_S + 60 }) }), expected: 'ERR_JWT_NOT_YET_VALID' },

    // Issuer and audience.
    { label: 'another issuer', token: token({ signer: rsa, alg: 'RS256', payload: claims({ iss: 'https://evil.test/' }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'no issuer', token: token({ signer: rsa, alg: 'RS256', payload: claims({ iss: undefined }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'iss as an array holding the issuer', token: token({ signer: rsa, alg: 'RS256', payload: claims({ iss: [ISSUER] }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'another audience', token: token({ signer: rsa, alg: 'RS256', payload: claims({ aud: ['billing', 'admin'] }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'aud array holding the audience', token: token({ signer: rsa, alg: 'RS256', payload: claims({ aud: ['billing', AUDIENCE] }) }), expected: 'accepted' },
    { label: 'aud as a number', token: token({ signer: rsa, alg: 'RS256', payload: claims({ aud: 7 }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'no audience', token: token({ signer: rsa, alg: 'RS256', payload: claims({ aud: undefined }) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'no issuer, no audience, expired (iss is reported first)', token: token({ signer: rsa, alg: 'RS256', payload: claims({ iss: undefined, aud: undefined, exp: NOW_S - 1 }) }), expected: 'ERR_JWT_CLAIM_INVALID' },

    // Signatures.
    { label: 'a flipped signature', token: flipSignature(good), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a changed payload', token: `${goodHeader}.${b64(claims({ sub: 'admin' }))}.${goodSignature}`, expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a changed header (typ added)', token: `${b64({ alg: 'RS256', kid: rsa.kid, typ: 'JWT' })}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'an empty signature', token: `${goodHeader}.${goodPayload}.`, expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a truncated signature', token: good.slice(0, -8), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a signature of 4n+1 characters (not base64url)', token: `${goodHeader}.${goodPayload}.AAAAA`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'an ES256 signature one byte short', token: (() => { const t = token({ signer: ec, alg: 'ES256' }); const [h, p, s] = t.split('.'); return `${h}.${p}.${b64(Buffer.from(s!, 'base64url').subarray(1))}` })(), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'an ES256 signature in DER', token: (() => { const t = token({ signer: ec, alg: 'ES256' }); const [h, p] = t.split('.'); return `${h}.${p}.${b64(crypto.sign('sha256', Buffer.from(`${h}.${p}`), ec.privateKey))}` })(), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    // R and S go to OpenSSL as DER INTEGERs: leading zero bytes dropped, a zero byte added before a set top bit.
    { label: 'ES256 with R starting with a zero byte', token: ecdsaTokenWhere(ec, 'ES256', 32, (r) => r[0] === 0), expected: 'accepted' },
    { label: 'ES256 with S starting with a zero byte', token: ecdsaTokenWhere(ec, 'ES256', 32, (_, s) => s[0] === 0), expected: 'accepted' },
    { label: 'ES256 with R and S of top bit set', token: ecdsaTokenWhere(ec, 'ES256', 32, (r, s) => r[0]! >= 0x80 && s[0]! >= 0x80), expected: 'accepted' },
    { label: 'ES256 with R and S of top bit clear', token: ecdsaTokenWhere(ec, 'ES256', 32, (r, s) => r[0]! < 0x80 && s[0]! < 0x80), expected: 'accepted' },
    { label: 'ES384 with R of top bit set', token: ecdsaTokenWhere(ec384, 'ES384', 48, (r) => r[0]! >= 0x80), expected: 'accepted' },
    { label: 'ES512 (P-521, a long DER length)', token: token({ signer: ec521, alg: 'ES512' }), expected: 'accepted' },
    { label: 'ES512 with R starting with a zero byte (P-521 R is mostly 0x00 or 0x01 first)', token: ecdsaTokenWhere(ec521, 'ES512', 66, (r) => r[0] === 0 && r[1]! < 0x80), expected: 'accepted' },
    { label: 'ES256 with R and S zero', token: ecdsaTokenWith(ec, 'ES256', new Uint8Array(32), new Uint8Array(32)), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'ES256 with R zero and a genuine S', token: (() => { const s = Buffer.from(token({ signer: ec, alg: 'ES256' }).split('.')[2]!, 'base64url').subarray(32); return ecdsaTokenWith(ec, 'ES256', new Uint8Array(32), s) })(), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'ES256 with R and S all ones', token: ecdsaTokenWith(ec, 'ES256', new Uint8Array(32).fill(0xff), new Uint8Array(32).fill(0xff)), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'ES256 with R equal to the group order', token: ecdsaTokenWith(ec, 'ES256', P256_ORDER, P256_ORDER), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'ES256 with S replaced by n − S (as valid: JOSE has no low-S rule)', token: (() => { const t = token({ signer: ec, alg: 'ES256' }); const sig = Buffer.from(t.split('.')[2]!, 'base64url'); const s = BigInt(`0x${sig.subarray(32).toString('hex')}`); const flipped = Buffer.from((BigInt(`0x${P256_ORDER.toString('hex')}`) - s).toString(16).padStart(64, '0'), 'hex'); return `${t.split('.').slice(0, 2).join('.')}.${b64(Buffer.concat([sig.subarray(0, 32), flipped]))}` })(), expected: 'accepted' },
    { label: 'ES256 with a 65-byte signature', token: (() => { const t = token({ signer: ec, alg: 'ES256' }); return `${t.split('.').slice(0, 2).join('.')}.${b64(Buffer.concat([Buffer.from([0]), Buffer.from(t.split('.')[2]!, 'base64url')]))}` })(), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'ES384 with an ES256-sized signature', token: token({ signer: ec384, alg: 'ES384', rawSignature: token({ signer: ec, alg: 'ES256' }).split('.')[2]! }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'an EdDSA signature flipped', token: flipSignature(token({ signer: ed, alg: 'EdDSA' })), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a PS256 token signed with another salt length', token: (() => { const h = b64({ alg: 'PS256', kid: pss.kid }); const p = b64(claims()); return `${h}.${p}.${b64(crypto.sign('sha256', Buffer.from(`${h}.${p}`), { key: pss.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 }))}` })(), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a PS256 header over an RS256 signature', token: token({ signer: rsaAnyAlg, alg: 'PS256', rawSignature: token({ signer: rsaAnyAlg, alg: 'RS256' }).split('.')[2]! }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: "the forger's RSA key under the issuer's kid", token: token({ signer: stranger, alg: 'RS256' }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: "the forger's EC key under the issuer's kid", token: token({ signer: strangerEc, alg: 'ES256' }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a bad signature on an expired token (signature first)', token: flipSignature(token({ signer: rsa, alg: 'RS256', payload: claims({ exp: NOW_S - 1 }) })), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a claims set that is not JSON, badly signed', token: flipSignature(token({ signer: rsa, alg: 'RS256', rawPayload: b64('not json') })), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a payload of 4n+1 characters, badly signed', token: `${goodHeader}.AAAAA.${goodSignature}`, expected: 'ERR_JWT_SIGNATURE_INVALID' },

    // Algorithms.
    { label: 'alg none', token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`, expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
    { label: 'alg None', token: `${b64({ alg: 'None' })}.${b64(claims())}.`, expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
    { label: 'HS256 against a key set (algorithm confusion)', token: token({ signer: 'secret', alg: 'HS256', header: { kid: rsa.kid } }), expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
    { label: 'an algorithm jose does not know', token: `${b64({ alg: 'XS256', kid: rsa.kid })}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
    { label: 'RS512, known but not allowed', token: token({ signer: rsa, alg: 'RS512' }), expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
    { label: 'no alg', token: `${b64({ kid: rsa.kid })}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'an empty alg', token: `${b64({ alg: '' })}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'alg as a number', token: `${b64({ alg: 256 })}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'a hostile alg', token: `${b64({ alg: 'x"\r\nSet-Cookie: a=b' })}.${goodPayload}.`, expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },

    // Keys.
    { label: 'a kid in no key set', token: token({ signer: rsa, alg: 'RS256', header: { kid: 'retired' } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'a kid as a number', token: token({ signer: rsa, alg: 'RS256', header: { kid: 1 } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: "an RSA key's kid with ES256", token: token({ signer: ec, alg: 'ES256', header: { kid: rsa.kid } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: "a P-256 key's kid with ES384 (wrong curve)", token: token({ signer: ec384, alg: 'ES384', header: { kid: ec.kid } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'PS256 naming a key published for RS256', token: token({ signer: rsa, alg: 'PS256' }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'a kid-less RS256 token (two RSA keys fit; each is tried)', token: token({ signer: rsa, alg: 'RS256', header: { kid: undefined } }), expected: 'accepted' },
    // Every RS256 key is tried in the set's order; the 1024-bit key comes last and jose refuses to use it.
    { label: 'a kid-less forged RS256 token (reaches the 1024-bit key: 500)', token: token({ signer: stranger, alg: 'RS256', header: { kid: undefined } }), expected: 'ERR_INTERNAL' },
    { label: 'a kid-less expired token', token: token({ signer: rsaAnyAlg, alg: 'RS256', header: { kid: undefined }, payload: claims({ exp: NOW_S - 1 }) }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'a kid-less token with an undecodable signature', token: `${b64({ alg: 'RS256' })}.${goodPayload}.AAAAA`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'a kid-less ES256 token (one EC key fits)', token: token({ signer: ec, alg: 'ES256', header: { kid: undefined } }), expected: 'accepted' },
    { label: 'a key of 1024 bits', token: token({ signer: rsaSmall, alg: 'RS256' }), expected: 'ERR_INTERNAL' },
    { label: 'an unknown kid with an undecodable signature (key lookup first)', token: `${b64({ alg: 'RS256', kid: 'retired' })}.${goodPayload}.AAAAA`, expected: 'ERR_JWT_KEY_UNKNOWN' },

    // crit and b64 (RFC 7515 §4.1.11, RFC 7797).
    { label: 'crit naming an unknown extension', token: token({ signer: rsa, alg: 'RS256', header: { crit: ['exp'], exp: 1 } }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'crit empty', token: token({ signer: rsa, alg: 'RS256', header: { crit: [] } }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'crit not an array', token: token({ signer: rsa, alg: 'RS256', header: { crit: 'b64' } }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'crit holding an empty name', token: token({ signer: rsa, alg: 'RS256', header: { crit: [''] } }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'crit b64 without b64', token: token({ signer: rsa, alg: 'RS256', header: { crit: ['b64'] } }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'crit b64 with b64 not a boolean', token: token({ signer: rsa, alg: 'RS256', header: { crit: ['b64'], b64: 'no' } }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'crit b64 with b64 true', token: token({ signer: rsa, alg: 'RS256', header: { crit: ['b64'], b64: true } }), expected: 'accepted' },
    { label: 'crit b64 before a bad alg (crit first)', token: `${b64({ alg: 'none', crit: ['zip'] })}.${goodPayload}.`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'an unencoded payload, well signed (JWTs may not)', token: unencoded(rsa, 'RS256', 'hello'), expected: 'ERR_JWT_MALFORMED' },
    { label: 'an unencoded payload, badly signed', token: flipSignature(unencoded(rsa, 'RS256', 'hello')), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'an unencoded payload under an unknown kid', token: unencoded({ ...rsa, kid: 'retired' }, 'RS256', 'hello'), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'an unencoded payload beyond ASCII (refused before the key lookup)', token: unencoded({ ...rsa, kid: 'retired' }, 'RS256', 'héllo'), expected: 'ERR_JWT_MALFORMED' },
    { label: 'a payload beyond ASCII under a known kid', token: `${goodHeader}.é${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },

    // Shape and encoding.
    { label: 'a header that is not JSON', token: `${b64('notjson')}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'a header that is a JSON array', token: `${b64([{ alg: 'RS256' }])}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'a header that is JSON null', token: `${b64('null')}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'a header that is not UTF-8', token: `${b64(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'a header of 4n+1 characters', token: `eyJhbGciOiJSUzI1NiJ9A.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'a header with non-zero trailing bits (same bytes, other text)', token: `${withTrailingBits(goodHeader)}.${goodPayload}.${goodSignature}`, expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'a claims set that is not JSON, well signed', token: token({ signer: rsa, alg: 'RS256', rawPayload: b64('not json') }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'a claims set that is a JSON array, well signed', token: token({ signer: rsa, alg: 'RS256', rawPayload: b64([claims()]) }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'a claims set that is not UTF-8, well signed', token: token({ signer: rsa, alg: 'RS256', rawPayload: b64(new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])) }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'a payload of 4n+1 characters, well signed', token: token({ signer: rsa, alg: 'RS256', rawPayload: 'AAAAA' }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'an empty payload, well signed', token: token({ signer: rsa, alg: 'RS256', rawPayload: '' }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'a correctly padded payload, well signed (jose decodes it; the gateway refuses it as malformed before)', token: token({ signer: rsa, alg: 'RS256', rawPayload: padded(claims()) }), expected: 'accepted' },
    { label: 'a wrongly padded payload, well signed', token: token({ signer: rsa, alg: 'RS256', rawPayload: `${padded(claims())}=` }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'a payload with a space, well signed', token: token({ signer: rsa, alg: 'RS256', rawPayload: `${b64(claims()).slice(0, 8)} ${b64(claims()).slice(8)}` }), expected: 'accepted' },
    { label: 'two parts', token: `${goodHeader}.${goodPayload}`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'four parts', token: `${good}.x`, expected: 'ERR_JWT_MALFORMED' },
    { label: 'five parts (JWE-shaped)', token: 'a.b.c.d.e', expected: 'ERR_JWT_MALFORMED' },
    { label: 'not a JWT', token: 'not-a-jwt', expected: 'ERR_JWT_MALFORMED' },
    { label: 'standard base64 characters', token: `${goodHeader}.${goodPayload}.${goodSignature.replace(/-/g, '+').replace(/_/g, '/')}+`, expected: 'ERR_JWT_MALFORMED' },
  ]
}

/** Tokens for a key set with two RS256 keys published without kid preference: kid-less tokens are tried against each. */
export function kidlessCorpus(keys: CorpusKeys): CorpusEntry[] {
  const { rsa, rsa2, stranger } = keys
  return [
    { label: 'kid-less, signed by the second key', token: token({ signer: rsa2, alg: 'RS256', header: { kid: undefined } }), expected: 'accepted' },
    { label: 'kid-less, signed by the first key', token: token({ signer: rsa, alg: 'RS256', header: { kid: undefined } }), expected: 'accepted' },
    { label: 'kid-less, forged', token: token({ signer: stranger, alg: 'RS256', header: { kid: undefined } }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'kid-less, expired, signed by the second key', token: token({ signer: rsa2, alg: 'RS256', header: { kid: undefined }, payload: claims({ exp: NOW_S - 1 }) }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'kid-less, claims not JSON, signed by the second key', token: token({ signer: rsa2, alg: 'RS256', header: { kid: undefined }, rawPayload: b64('x') }), expected: 'ERR_JWT_MALFORMED' },
    { label: 'kid-less, payload not ASCII (after the key lookup)', token: `${b64({ alg: 'RS256' })}.é.AAAA`, expected: 'ERR_JWT_MALFORMED' },
  ]
}

/** Tokens for the shared secret (HS256, HS384, HS512 allowed). */
export function secretCorpus(keys: CorpusKeys): CorpusEntry[] {
  const good = token({ signer: 'secret', alg: 'HS256' })
  return [
    { label: 'HS256', token: good, expected: 'accepted' },
    { label: 'HS384', token: token({ signer: 'secret', alg: 'HS384' }), expected: 'accepted' },
    { label: 'HS512 with a kid (ignored)', token: token({ signer: 'secret', alg: 'HS512', header: { kid: 'whatever' } }), expected: 'accepted' },
    { label: 'HS256 flipped', token: flipSignature(good), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'HS256 truncated MAC', token: good.slice(0, -4), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'HS256 with an HS512 MAC', token: token({ signer: 'secret', alg: 'HS256', rawSignature: token({ signer: 'secret', alg: 'HS512' }).split('.')[2]! }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'HS256 expired', token: token({ signer: 'secret', alg: 'HS256', payload: claims({ exp: NOW_S - 1 }) }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'RS256 against the secret', token: token({ signer: keys.rsa, alg: 'RS256' }), expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
    { label: 'alg none against the secret', token: `${b64({ alg: 'none' })}.${b64(claims())}.`, expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
    { label: 'HS256 with an undecodable MAC', token: `${good.split('.').slice(0, 2).join('.')}.AAAAA`, expected: 'ERR_JWT_MALFORMED' },
  ]
}

/** Tokens for the shared secret with `typ: 'at+jwt'` required (RFC 8725 §3.11, RFC 9068): only access tokens pass. */
export function typedCorpus(): CorpusEntry[] {
  const typed = (typ: unknown, payload?: Record<string, unknown>): string => token({ signer: 'secret', alg: 'HS256', header: { typ }, ...(payload ? { payload } : {}) })
  return [
    { label: 'typ at+jwt', token: typed('at+jwt'), expected: 'accepted' },
    { label: 'typ AT+JWT (case does not count)', token: typed('AT+JWT'), expected: 'accepted' },
    { label: 'typ application/at+jwt (the prefix does not count)', token: typed('application/at+jwt'), expected: 'accepted' },
    { label: 'typ JWT (an ID token, say)', token: typed('JWT'), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'no typ', token: typed(undefined), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'typ as a number', token: typed(1), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'typ at+jwt+extra', token: typed('at+jwt+extra'), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'typ JWT and expired (typ is checked first, as jose does)', token: typed('JWT', claims({ exp: NOW_S - 1 })), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'typ at+jwt and expired', token: typed('at+jwt', claims({ exp: NOW_S - 1 })), expected: 'ERR_JWT_EXPIRED' },
  ]
}

/** Tokens for one PEM RSA key allowed for RS256 and PS256. */
export function pemCorpus(keys: CorpusKeys): CorpusEntry[] {
  const { rsaAnyAlg, rsa } = keys
  return [
    { label: 'RS256 with the PEM key', token: token({ signer: rsaAnyAlg, alg: 'RS256', header: { kid: undefined } }), expected: 'accepted' },
    { label: 'PS256 with the PEM key', token: token({ signer: rsaAnyAlg, alg: 'PS256', header: { kid: 'anything' } }), expected: 'accepted' },
    { label: 'RS256 with another key', token: token({ signer: rsa, alg: 'RS256' }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'ES256 against the RSA PEM key', token: token({ signer: keys.ec, alg: 'ES256' }), expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
  ]
}

/** Tokens for an ES256 key set with lenient claim options: 30 s clock tolerance, 5 min maxTokenAge, exp optional, two issuers and two audiences. */
export function lenientCorpus(keys: CorpusKeys): CorpusEntry[] {
  const at = (overrides: Record<string, unknown>): string => token({ signer: keys.ec, alg: 'ES256', payload: claims(overrides) })
  return [
    { label: 'expired 29 s ago', token: at({ exp: NOW_S - 29 }), expected: 'accepted' },
    { label: 'expired 31 s ago', token: at({ exp: NOW_S - 31 }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'expired exactly 30 s ago', token: at({ exp: NOW_S - 30 }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'nbf 29 s ahead', token: at({ nbf: NOW_S + 29 }), expected: 'accepted' },
    { label: 'nbf 31 s ahead', token: at({ nbf: NOW_S + 31 }), expected: 'ERR_JWT_NOT_YET_VALID' },
    { label: 'issued 299 s ago', token: at({ iat: NOW_S - 299 }), expected: 'accepted' },
    { label: 'issued 330 s ago (300 s plus 30 s tolerance)', token: at({ iat: NOW_S - 330 }), expected: 'accepted' },
    { label: 'issued 331 s ago', token: at({ iat: NOW_S - 331 }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'issued 31 s in the future', token: at({ iat: NOW_S + 31 }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'no iat', token: at({ iat: undefined }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'iat as a string', token: at({ iat: String(NOW_S) }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'no exp', token: at({ exp: undefined }), expected: 'accepted' },
    { label: 'the second issuer', token: at({ iss: 'https://idp2.test/' }), expected: 'accepted' },
    { label: 'the second audience, among others', token: at({ aud: ['x', 'admin'] }), expected: 'accepted' },
    { label: 'no audience and too old (aud is reported first)', token: at({ aud: undefined, iat: NOW_S - 9999 }), expected: 'ERR_JWT_CLAIM_INVALID' },
    { label: 'an exp a year ahead, issued now', token: at({ iat: NOW_S, exp: NOW_S + 31_536_000 }), expected: 'accepted' },
  ]
}

/** Tokens for an EC PEM key that is configured for RS256 only: jose cannot import it (500, the operator's mistake). */
export function mismatchCorpus(keys: CorpusKeys): CorpusEntry[] {
  return [
    { label: 'RS256 against an EC PEM key', token: token({ signer: keys.rsa, alg: 'RS256' }), expected: 'ERR_INTERNAL' },
    { label: 'ES256, not allowed', token: token({ signer: keys.ec, alg: 'ES256' }), expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
  ]
}

/** The secrets of {@link mixedCorpus}, each bound to a kid and an alg. */
export function mixedSecrets() {
  return [
    { kid: 'hs-1', alg: 'HS256' as const, secret: SECRET },
    { kid: 'hs-2', alg: 'HS256' as const, secret: SECRET_2 },
    { kid: 'hs-512', alg: 'HS512' as const, secret: SECRET },
  ]
}

/**
 * Tokens for a JWKS and secrets bound by kid on one route (RS256, ES256,
 * HS256, HS512 allowed): each token's alg picks the kind of key, its kid the
 * key; public key material is never an HMAC secret, a secret never checks
 * an RSA or EC signature.
 */
export function mixedCorpus(keys: CorpusKeys): CorpusEntry[] {
  const { rsa, ec } = keys
  const pem = new TextEncoder().encode(rsa.publicPem)
  const jwk = new TextEncoder().encode(JSON.stringify(rsa.publicJwk))
  return [
    { label: 'HS256 under the kid of its secret', token: token({ signer: 'secret', alg: 'HS256', header: { kid: 'hs-1' } }), expected: 'accepted' },
    { label: 'HS256 under the kid of the second HS256 secret', token: token({ signer: { kid: 'hs-2', secret: SECRET_2 }, alg: 'HS256' }), expected: 'accepted' },
    { label: 'HS512 under the kid of its secret', token: token({ signer: 'secret', alg: 'HS512', header: { kid: 'hs-512' } }), expected: 'accepted' },
    { label: 'HS256 without kid, signed with the second HS256 secret (each is tried)', token: token({ signer: { secret: SECRET_2 }, alg: 'HS256' }), expected: 'accepted' },
    { label: 'RS256 under the kid of a JWKS key', token: token({ signer: rsa, alg: 'RS256' }), expected: 'accepted' },
    { label: 'ES256 under the kid of a JWKS key', token: token({ signer: ec, alg: 'ES256' }), expected: 'accepted' },
    { label: "HS256 MACed with the RSA key's PEM under its kid (algorithm confusion)", token: token({ signer: { kid: rsa.kid, secret: pem }, alg: 'HS256' }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: "HS256 MACed with the RSA key's JWK under its kid (algorithm confusion)", token: token({ signer: { kid: rsa.kid, secret: jwk }, alg: 'HS256' }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: "HS256 MACed with the RSA key's PEM, no kid", token: token({ signer: { secret: pem }, alg: 'HS256' }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: "HS256 MACed with the RSA key's PEM under a secret's kid", token: token({ signer: { kid: 'hs-1', secret: pem }, alg: 'HS256' }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'HS256 with the other secret under the kid of the first', token: token({ signer: { kid: 'hs-1', secret: SECRET_2 }, alg: 'HS256' }), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'HS512 under the kid of an HS256 secret', token: token({ signer: 'secret', alg: 'HS512', header: { kid: 'hs-1' } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'RS256 under the kid of a secret', token: token({ signer: rsa, alg: 'RS256', header: { kid: 'hs-1' } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: "ES256 under an RSA key's kid", token: token({ signer: ec, alg: 'ES256', header: { kid: rsa.kid } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'HS256 under a kid no key has', token: token({ signer: 'secret', alg: 'HS256', header: { kid: 'hs-retired' } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'HS256 under a kid that is a number', token: token({ signer: 'secret', alg: 'HS256', header: { kid: 1 } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'HS384, not allowed', token: token({ signer: 'secret', alg: 'HS384', header: { kid: 'hs-1' } }), expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
    { label: 'HS256 expired', token: token({ signer: 'secret', alg: 'HS256', header: { kid: 'hs-1' }, payload: claims({ exp: NOW_S - 1 }) }), expected: 'ERR_JWT_EXPIRED' },
    { label: 'HS256 flipped', token: flipSignature(token({ signer: 'secret', alg: 'HS256', header: { kid: 'hs-1' } })), expected: 'ERR_JWT_SIGNATURE_INVALID' },
    { label: 'HS256 with an undecodable MAC', token: `${token({ signer: 'secret', alg: 'HS256', header: { kid: 'hs-1' } }).split('.').slice(0, 2).join('.')}.AAAAA`, expected: 'ERR_JWT_MALFORMED' },
  ]
}

/** An `oct` JWK of `secret`, bound to `kid` and (unless undefined) `alg`. */
export function octJwk(kid: string, alg: string | undefined, secret: Uint8Array): JWK {
  return { kty: 'oct', kid, ...(alg ? { alg } : {}), k: Buffer.from(secret).toString('base64url') }
}

/** Tokens for a local key set of an RSA key and an HS256 `oct` key, with allowSymmetricJwks (RS256 and HS256 allowed). */
export function symmetricJwksCorpus(keys: CorpusKeys): CorpusEntry[] {
  const { rsa } = keys
  return [
    { label: 'HS256 under the kid of the oct key', token: token({ signer: 'secret', alg: 'HS256', header: { kid: 'oct-1' } }), expected: 'accepted' },
    { label: 'RS256 under the kid of the RSA key', token: token({ signer: rsa, alg: 'RS256' }), expected: 'accepted' },
    { label: 'RS256 under the kid of the oct key', token: token({ signer: rsa, alg: 'RS256', header: { kid: 'oct-1' } }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: "HS256 MACed with the RSA key's PEM under its kid", token: token({ signer: { kid: rsa.kid, secret: new TextEncoder().encode(rsa.publicPem) }, alg: 'HS256' }), expected: 'ERR_JWT_KEY_UNKNOWN' },
    { label: 'HS512, not allowed', token: token({ signer: 'secret', alg: 'HS512', header: { kid: 'oct-1' } }), expected: 'ERR_JWT_ALGORITHM_NOT_ALLOWED' },
  ]
}
