/**
 * Which key verifies a token: a remote JWKS, a local JWKS, one PEM public key
 * or a shared secret. Checked once, when the route is defined; the resolver
 * it yields serves both verifiers (jose's `jwtVerify`, and the `node:crypto`
 * one, which turns the CryptoKeys it hands out into KeyObjects).
 */
import { DEFAULT_JWKS_CACHE_MAX_AGE, DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_TIMEOUT } from '../../src/defaults.ts'
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  importSPKI,
  type CryptoKey,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose'

/** The algorithm families a key belongs to; one key fits one family. */
const FAMILIES: Record<string, 'hmac' | 'rsa' | 'ec256' | 'ec384' | 'ec521' | 'okp' | 'ml-dsa'> = {
  HS256: 'hmac',
  HS384: 'hmac',
  HS512: 'hmac',
  RS256: 'rsa',
  RS384: 'rsa',
  RS512: 'rsa',
  PS256: 'rsa',
  PS384: 'rsa',
  PS512: 'rsa',
  ES256: 'ec256',
  ES384: 'ec384',
  ES512: 'ec521',
  EdDSA: 'okp',
  Ed25519: 'okp',
  'ML-DSA-44': 'ml-dsa',
  'ML-DSA-65': 'ml-dsa',
  'ML-DSA-87': 'ml-dsa',
}

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
const MIN_SECRET_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 }

/** Where the keys come from; exactly one must be set. */
export interface KeySourceOptions {
  jwksUrl?: string | URL | undefined
  jwks?: JSONWebKeySet | undefined
  publicKey?: string | undefined
  secret?: string | Uint8Array | undefined
  jwksCacheMaxAge?: number | undefined
  jwksCooldown?: number | undefined
  jwksTimeout?: number | undefined
}

/** A secret's bytes, or a function resolving a key from the token's header. */
export type VerificationKey = Uint8Array | JWTVerifyGetKey

/** Thrown by the resolver when the remote key set cannot be had (network, status, JSON, shape, timeout). */
export class KeySetUnavailable extends Error {
  constructor(cause: unknown) {
    super('JWKS unavailable', { cause })
    this.name = 'KeySetUnavailable'
  }
}

/** Thrown by the resolver when the configured public key cannot be used with the token's (allowed) algorithm. */
export class KeyMismatch extends Error {
  constructor(alg: string, cause: unknown) {
    super(`jwtAuth(): publicKey cannot verify ${alg} tokens; list only algorithms of the key's type in algorithms`, { cause })
    this.name = 'KeyMismatch'
  }
}

/**
 * Checks the algorithm allowlist: known names, never `none`, no duplicates.
 * Returns the list to pass to jose.
 */
export function checkAlgorithms(algorithms: readonly string[] | undefined): string[] {
  if (algorithms === undefined) {
    throw new TypeError("jwtAuth(): algorithms is required; list the algorithms your issuer signs with, e.g. algorithms: ['RS256']")
  }
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError("jwtAuth(): algorithms must be a non-empty array, e.g. ['RS256']")
  }
  for (const alg of algorithms) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
      throw new TypeError("jwtAuth(): algorithms must not contain 'none': unsigned tokens prove nothing")
    }
    if (typeof alg !== 'string' || !(alg in FAMILIES)) {
      throw new TypeError(`jwtAuth(): algorithms holds unknown algorithm ${JSON.stringify(alg)}; expected one of ${Object.keys(FAMILIES).join(', ')}`)
    }
  }
  if (new Set(algorithms).size !== algorithms.length) throw new TypeError('jwtAuth(): algorithms lists an algorithm twice')
  return [...algorithms]
}

/**
 * Validates the key source against the algorithms and returns what
 * `jwtVerify` needs. A secret only goes with HMAC algorithms and a public key
 * or key set only with asymmetric ones, so that a token cannot pick a
 * verification that treats public key material as an HMAC secret
 * (algorithm confusion).
 */
export function keyResolver(options: KeySourceOptions, algorithms: readonly string[]): VerificationKey {
  const given = (['jwksUrl', 'jwks', 'publicKey', 'secret'] as const).filter((name) => options[name] !== undefined)
  if (given.length === 0) {
    throw new TypeError('jwtAuth(): no key source; set one of jwksUrl, jwks, publicKey or secret')
  }
  if (given.length > 1) throw new TypeError(`jwtAuth(): set only one key source, got ${given.join(' and ')}`)
  const source = given[0]!
  for (const name of ['jwksCacheMaxAge', 'jwksCooldown', 'jwksTimeout'] as const) {
    const value = options[name]
    if (value === undefined) continue
    if (source !== 'jwksUrl') throw new TypeError(`jwtAuth(): ${name} applies only with jwksUrl`)
    if (!(Number.isInteger(value) && value >= 0) && value !== Infinity) {
      throw new TypeError(`jwtAuth(): ${name} must be a non-negative integer of milliseconds, got ${String(value)}`)
    }
  }
  const hmac = algorithms.filter((alg) => FAMILIES[alg] === 'hmac')
  if (source === 'secret') {
    const asymmetric = algorithms.filter((alg) => FAMILIES[alg] !== 'hmac')
    if (asymmetric.length > 0) {
      throw new TypeError(`jwtAuth(): a secret verifies only HS256/HS384/HS512, but algorithms lists ${asymmetric.join(', ')}; use publicKey or a JWKS for those`)
    }
    return secretKey(options.secret!, algorithms)
  }
  if (hmac.length > 0) {
    throw new TypeError(`jwtAuth(): ${source} holds public keys, which must never verify ${hmac.join(', ')} (algorithm confusion); use secret for HMAC`)
  }
  if (source === 'jwksUrl') return remoteKeySet(options)
  if (source === 'jwks') return localKeySet(options.jwks!)
  return publicKeyResolver(options.publicKey!, algorithms)
}

function secretKey(secret: string | Uint8Array, algorithms: readonly string[]): Uint8Array {
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
    throw new TypeError('jwtAuth(): secret must be a string or a Uint8Array')
  }
  // A copy: the key is fixed when the route is defined, whatever the caller later does with its array.
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : new Uint8Array(secret)
  for (const alg of algorithms) {
    const min = MIN_SECRET_BYTES[alg]!
    if (bytes.length < min) {
      throw new TypeError(`jwtAuth(): secret is ${bytes.length} bytes, but ${alg} needs at least ${min} (RFC 7518 §3.2)`)
    }
  }
  return bytes
}

/** Remote keys over HTTPS; plain HTTP only on loopback, where no one sits in between. */
function remoteKeySet(options: KeySourceOptions): JWTVerifyGetKey {
  let url: URL
  try {
    url = new URL(String(options.jwksUrl))
  } catch {
    throw new TypeError(`jwtAuth(): jwksUrl "${String(options.jwksUrl)}" is not a URL`)
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new TypeError('jwtAuth(): jwksUrl must use https (http is accepted only for localhost/127.0.0.1/[::1])')
  }
  const remote = createRemoteJWKSet(url, {
    cacheMaxAge: options.jwksCacheMaxAge ?? DEFAULT_JWKS_CACHE_MAX_AGE,
    cooldownDuration: options.jwksCooldown ?? DEFAULT_JWKS_COOLDOWN,
    timeoutDuration: options.jwksTimeout ?? DEFAULT_JWKS_TIMEOUT,
  })
  return async function jwksKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    try {
      return await remote(header, token)
    } catch (error) {
      // A set that was fetched but has no (or several) keys for the token is the token's problem;
      // everything else (refused, timed out, not 200, not a key set) is ours.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error
      throw new KeySetUnavailable(error)
    }
  }
}

function localKeySet(jwks: JSONWebKeySet): JWTVerifyGetKey {
  let resolver: JWTVerifyGetKey
  try {
    resolver = createLocalJWKSet(jwks)
  } catch (cause) {
    throw new TypeError('jwtAuth(): jwks must be a JSON Web Key Set, { keys: [...] }', { cause })
  }
  for (const [index, key] of jwks.keys.entries()) {
    if (key.kty === 'oct' || 'k' in key) throw new TypeError(`jwtAuth(): jwks key ${index} is a symmetric key; use secret for HMAC`)
    if ('d' in key) throw new TypeError(`jwtAuth(): jwks key ${index} holds a private key (d); publish only public keys`)
  }
  return resolver
}

/**
 * One PEM public key, imported once per algorithm (a CryptoKey is bound to
 * one algorithm; RS256 and PS256 may share an RSA key). The imports start
 * here, so the first client does not wait for them.
 */
function publicKeyResolver(pem: string, algorithms: readonly string[]): JWTVerifyGetKey {
  if (typeof pem !== 'string' || !/^\s*-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*$/.test(pem)) {
    throw new TypeError("jwtAuth(): publicKey must be a PEM SPKI public key ('-----BEGIN PUBLIC KEY-----…'); not a certificate or a private key")
  }
  const families = new Set(algorithms.map((alg) => FAMILIES[alg]))
  if (families.size > 1) {
    throw new TypeError(`jwtAuth(): publicKey is one key, but algorithms mixes key types (${algorithms.join(', ')})`)
  }
  const imports = new Map<string, Promise<CryptoKey>>()
  for (const alg of algorithms) {
    const imported = importSPKI(pem, alg)
    // Observed now so a bad key is not an unhandled rejection; reported at the first token that needs it.
    imported.catch(() => {})
    imports.set(alg, imported)
  }
  return async function publicKey(header: JWSHeaderParameters): Promise<CryptoKey> {
    // jose checks the allowlist before it asks for a key, so alg is one of ours.
    const alg = String(header.alg)
    try {
      return await imports.get(alg)!
    } catch (cause) {
      throw new KeyMismatch(alg, cause)
    }
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}
