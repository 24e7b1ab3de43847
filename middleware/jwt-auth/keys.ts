/**
 * Which key verifies a token: a remote JWKS, a local JWKS or one PEM public
 * key, HMAC secrets (one, or several bound by `kid` and `alg`), or a JWKS
 * and bound secrets together. Checked once, when the route is defined; the
 * resolver it yields serves both verifiers (jose's `jwtVerify`, and the
 * `node:crypto` one, which turns the CryptoKeys it hands out into KeyObjects
 * and the secrets' bytes into secret KeyObjects).
 */
import { DEFAULT_JWKS_CACHE_MAX_AGE, DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_TIMEOUT } from '../../src/defaults.ts'
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  importSPKI,
  type CryptoKey,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWK,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
  type RemoteJWKSet,
} from 'jose'
import { checkOctJwk, checkSecrets, hmacKeyResolver, MIN_SECRET_BYTES, secretBytes, type BoundSecret, type HmacAlgorithm, type HmacSecret, type RemoteOctKeys } from './hmac-keys.ts'

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

/** Where the keys come from: at most one of `jwksUrl`, `jwks` and `publicKey`, and at most one of `secret` and `secrets`. */
export interface KeySourceOptions {
  jwksUrl?: string | URL | undefined
  jwks?: JSONWebKeySet | undefined
  publicKey?: string | undefined
  secret?: string | Uint8Array | undefined
  secrets?: readonly HmacSecret[] | undefined
  allowSymmetricJwks?: boolean | undefined
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

/** The option names of the public-key sources and of the HMAC ones, in the order messages list them. */
const PUBLIC_SOURCES = ['jwksUrl', 'jwks', 'publicKey'] as const
const SECRET_SOURCES = ['secret', 'secrets'] as const

/**
 * Validates the key sources against the algorithms and returns what the
 * verifiers need. Public keys (a JWKS or a PEM key) and HMAC secrets may
 * serve one route together, but never each other's algorithms: a token's
 * `alg` picks the kind of key before its `kid` picks the key, so public key
 * material is never used as an HMAC secret (algorithm confusion) and a
 * secret never checks an RS/PS/ES/EdDSA signature. Beside a JWKS, secrets
 * must be bound to a `kid` and an `alg` (`secrets`), as the JWKS's keys are.
 *
 * @throws TypeError naming the option when the sources or algorithms do not fit together
 * @example
 * const key = keyResolver({ jwksUrl: 'https://idp.example/jwks.json', secrets: [{ kid: 'svc-1', alg: 'HS256', secret }] }, ['RS256', 'HS256'])
 */
export function keyResolver(options: KeySourceOptions, algorithms: readonly string[]): VerificationKey {
  const publicSources = PUBLIC_SOURCES.filter((name) => options[name] !== undefined)
  const secretSources = SECRET_SOURCES.filter((name) => options[name] !== undefined)
  if (publicSources.length + secretSources.length === 0) {
    throw new TypeError('jwtAuth(): no key source; set one of jwksUrl, jwks, publicKey, secret or secrets')
  }
  if (publicSources.length > 1) throw new TypeError(`jwtAuth(): set only one key source, got ${publicSources.join(' and ')}`)
  if (secretSources.length > 1) throw new TypeError('jwtAuth(): set secret or secrets, not both; a lone secret is secrets with one entry')
  const publicSource = publicSources[0]
  const secretSource = secretSources[0]
  if (publicSource === 'publicKey' && secretSource) {
    throw new TypeError(`jwtAuth(): publicKey has no kid, so it cannot share a route with ${secretSource}; publish it in jwks with a kid and alg instead`)
  }
  if (secretSource === 'secret' && publicSource) {
    throw new TypeError(`jwtAuth(): secret has no kid, so it cannot sit beside ${publicSource}; bind it to a kid and alg: secrets: [{ kid, alg: 'HS256', secret }]`)
  }
  for (const name of ['jwksCacheMaxAge', 'jwksCooldown', 'jwksTimeout'] as const) {
    const value = options[name]
    if (value === undefined) continue
    if (publicSource !== 'jwksUrl') throw new TypeError(`jwtAuth(): ${name} applies only with jwksUrl`)
    if (!(Number.isInteger(value) && value >= 0) && value !== Infinity) {
      throw new TypeError(`jwtAuth(): ${name} must be a non-negative integer of milliseconds, got ${String(value)}`)
    }
    // A fetch needs a deadline it can meet: 0 aborts every fetch at once (each handshake 503), and AbortSignal.timeout() takes no Infinity.
    if (name === 'jwksTimeout' && (value === 0 || value === Infinity)) {
      throw new TypeError(`jwtAuth(): jwksTimeout must be a positive integer of milliseconds, got ${String(value)}`)
    }
  }
  const allowSymmetricJwks = options.allowSymmetricJwks ?? false
  if (typeof allowSymmetricJwks !== 'boolean') throw new TypeError('jwtAuth(): allowSymmetricJwks must be true or false')
  const jwksSource = publicSource === 'jwks' || publicSource === 'jwksUrl' ? publicSource : undefined
  if (allowSymmetricJwks && !jwksSource) throw new TypeError('jwtAuth(): allowSymmetricJwks applies only with jwks or jwksUrl')

  const hmac = algorithms.filter((alg) => FAMILIES[alg] === 'hmac')
  const asymmetric = algorithms.filter((alg) => FAMILIES[alg] !== 'hmac')
  const symmetricJwks = allowSymmetricJwks && jwksSource !== undefined
  if (hmac.length > 0 && !secretSource && !symmetricJwks) {
    throw new TypeError(
      `jwtAuth(): ${publicSource} holds public keys, which must never verify ${hmac.join(', ')} (algorithm confusion); use secret or secrets for HMAC` +
        (jwksSource ? ', or allowSymmetricJwks for oct keys in the JWKS' : ''),
    )
  }
  if (asymmetric.length > 0 && !publicSource) {
    throw new TypeError(`jwtAuth(): a secret verifies only HS256/HS384/HS512, but algorithms lists ${asymmetric.join(', ')}; use publicKey or a JWKS for those`)
  }
  if (secretSource && hmac.length === 0) {
    throw new TypeError(`jwtAuth(): ${secretSource} verifies only HS256/HS384/HS512, and algorithms lists none of them`)
  }
  if (publicSource && asymmetric.length === 0 && !symmetricJwks) {
    throw new TypeError(`jwtAuth(): ${publicSource} holds public keys, but algorithms lists only ${hmac.join(', ')}; add the algorithms the keys are for`)
  }

  if (secretSource === 'secret') return secretKey(options.secret!, hmac)
  if (publicSource === 'publicKey') return publicKeyResolver(options.publicKey!, algorithms)

  // From here: a JWKS, secrets bound by kid and alg, or both.
  const fixed = secretSource === 'secrets' ? checkSecrets(options.secrets, algorithms) : []
  let publicKeys: JWTVerifyGetKey | undefined
  let remoteOct: RemoteOctKeys | undefined
  if (publicSource === 'jwksUrl') {
    const remote = remoteKeySet(options)
    publicKeys = remote.resolve
    if (allowSymmetricJwks) remoteOct = { set: remote.set, unavailable: (cause) => new KeySetUnavailable(cause) }
  } else if (publicSource === 'jwks') {
    const local = localKeySet(options.jwks!, allowSymmetricJwks, algorithms)
    publicKeys = local.resolve
    for (const octKey of local.secrets) {
      const clash = fixed.findIndex((secret) => secret.kid === octKey.kid)
      if (clash >= 0) throw new TypeError(`jwtAuth(): kid "${octKey.kid}" names both secrets[${clash}] and a jwks key; every key needs its own kid`)
    }
    for (const [index, secret] of fixed.entries()) {
      if (local.kids.has(secret.kid)) throw new TypeError(`jwtAuth(): kid "${secret.kid}" names both secrets[${index}] and a jwks key; every key needs its own kid`)
    }
    fixed.push(...local.secrets)
    if (hmac.length > 0 && fixed.length === 0) {
      throw new TypeError(`jwtAuth(): algorithms lists ${hmac.join(', ')}, but jwks holds no oct key and secrets is not set; there is no key for them`)
    }
  }
  const hmacKey = fixed.length > 0 || remoteOct ? hmacKeyResolver(fixed, remoteOct) : undefined
  if (!hmacKey) return publicKeys!
  if (!publicKeys) return hmacKey
  const mixedKey: JWTVerifyGetKey = (header, token) =>
    // The allowlist is checked before any key is asked for, so alg is one of ours; its family picks the kind of key.
    FAMILIES[header.alg] === 'hmac' ? hmacKey(header) : publicKeys(header, token)
  return mixedKey
}

function secretKey(secret: string | Uint8Array, algorithms: readonly string[]): Uint8Array {
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
    throw new TypeError('jwtAuth(): secret must be a string or a Uint8Array')
  }
  const bytes = secretBytes(secret)
  for (const alg of algorithms) {
    const min = MIN_SECRET_BYTES[alg as HmacAlgorithm]
    if (bytes.length < min) {
      throw new TypeError(`jwtAuth(): secret is ${bytes.length} bytes, but ${alg} needs at least ${min} (RFC 7518 §3.2)`)
    }
  }
  return bytes
}

/** Remote keys over HTTPS; plain HTTP only on loopback, where no one sits in between. */
function remoteKeySet(options: KeySourceOptions): { resolve: JWTVerifyGetKey; set: RemoteJWKSet } {
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
    [customFetch]: boundedFetch,
  })
  // jose matches a set's keys to asymmetric algorithms by kty, so an oct member never serves them; HMAC keys are matched in hmac-keys.ts.
  async function jwksKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    try {
      return await remote(header, token)
    } catch (error) {
      // A set that was fetched but has no (or several) keys for the token is the token's problem;
      // everything else (refused, timed out, not 200, not a key set) is ours.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error
      throw new KeySetUnavailable(error)
    }
  }
  return { resolve: jwksKey, set: remote }
}

/**
 * A local key set: its public keys go to jose's resolver; its `oct` keys,
 * only with `allowSymmetricJwks`, become HMAC keys bound to their `kid` and
 * `alg`. Private keys are refused.
 */
function localKeySet(
  jwks: JSONWebKeySet,
  allowSymmetric: boolean,
  algorithms: readonly string[],
): { resolve: JWTVerifyGetKey; secrets: BoundSecret[]; kids: Set<string> } {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys) || !jwks.keys.every((key) => typeof key === 'object' && key !== null)) {
    throw new TypeError('jwtAuth(): jwks must be a JSON Web Key Set, { keys: [...] }')
  }
  const publicKeys: JWK[] = []
  const secrets: BoundSecret[] = []
  const kids = new Set<string>()
  for (const [index, key] of jwks.keys.entries()) {
    if (key.kty === 'oct' || 'k' in key) {
      if (!allowSymmetric) {
        throw new TypeError(`jwtAuth(): jwks key ${index} is a symmetric (oct) key; give HMAC keys as secrets, or set allowSymmetricJwks: true to use it for its alg`)
      }
      secrets.push(checkOctJwk(key, index, algorithms))
      continue
    }
    if ('d' in key) throw new TypeError(`jwtAuth(): jwks key ${index} holds a private key (d); publish only public keys`)
    if (typeof key.kid === 'string') kids.add(key.kid)
    publicKeys.push(key)
  }
  for (const [index, secret] of secrets.entries()) {
    if (kids.has(secret.kid) || secrets.findIndex((other) => other.kid === secret.kid) !== index) {
      throw new TypeError(`jwtAuth(): the kid "${secret.kid}" of a symmetric jwks key is used by another jwks key; an HMAC key needs a kid of its own`)
    }
  }
  let resolve: JWTVerifyGetKey
  try {
    resolve = createLocalJWKSet({ keys: publicKeys })
  } catch (cause) {
    throw new TypeError('jwtAuth(): jwks must be a JSON Web Key Set, { keys: [...] }', { cause })
  }
  return { resolve, secrets, kids }
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

/**
 * The largest JWKS response body read, in bytes. Key sets are a few KiB (a
 * dozen RSA keys with certificate chains stay well under 100 KiB); without a
 * bound, jose reads and parses whatever arrives within `jwksTimeout`, and a
 * broken or hostile endpoint on a fast link sends hundreds of MiB in that
 * time: gigabytes of memory and seconds of a blocked event loop for every
 * connection of the gateway.
 */
export const MAX_JWKS_BYTES = 1024 * 1024

/**
 * jose's fetch of the remote key set (same URL, init, redirect: 'manual' and
 * deadline), reading at most {@link MAX_JWKS_BYTES} of a 200's body: a
 * larger one (announced by Content-Length or not) is cancelled and the fetch
 * fails, which the resolver answers with 503 `ERR_JWKS_UNAVAILABLE`. Other
 * statuses are handed back unread; jose refuses them.
 */
async function boundedFetch(url: string, init: Parameters<typeof fetch>[1]): Promise<Response> {
  const response = await fetch(url, init)
  const body = response.body
  if (response.status !== 200 || body === null) {
    await body?.cancel().catch(() => {})
    return response
  }
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > MAX_JWKS_BYTES) {
    await body.cancel().catch(() => {})
    throw tooLarge()
  }
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_JWKS_BYTES) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  const whole = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    whole.set(chunk, at)
    at += chunk.byteLength
  }
  return new Response(whole, { status: 200, headers: response.headers })
}

function tooLarge(): Error {
  return new Error(`JWKS response over ${MAX_JWKS_BYTES / 1024} KiB`)
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}
