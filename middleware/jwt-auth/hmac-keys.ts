/**
 * HMAC keys (HS256/HS384/HS512) bound to one `kid` and one `alg` each: the
 * `secrets` option, and `oct` keys of a JSON Web Key Set when
 * `allowSymmetricJwks` lets them in. jose's key sets take public keys only,
 * so HMAC keys are matched here, with jose's rules for `kid`, `use` and
 * `key_ops`, and one more: an `oct` key must name its `alg`, so it verifies
 * that algorithm and nothing else.
 */
import { base64url, errors, type JSONWebKeySet, type JWK, type JWSHeaderParameters, type RemoteJWKSet } from 'jose'

/** One shared secret of the `secrets` option, bound to the tokens whose header names this `kid` and this `alg`. */
export interface HmacSecret {
  /** The `kid` a token's header must carry to be checked with this secret. */
  kid: string
  /** The one algorithm this secret verifies; it must be listed in `algorithms`. */
  alg: HmacAlgorithm
  /** The secret, at least as long as the hash (32/48/64 bytes for HS256/HS384/HS512; RFC 7518 §3.2). */
  secret: string | Uint8Array
}

/** The HMAC algorithms of RFC 7518 §3.2. */
export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512'

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
export const MIN_SECRET_BYTES: Readonly<Record<HmacAlgorithm, number>> = { HS256: 32, HS384: 48, HS512: 64 }

/** Whether `alg` is one of the HMAC algorithms. */
export function isHmacAlgorithm(alg: unknown): alg is HmacAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(MIN_SECRET_BYTES, alg)
}

/** A secret's bytes, copied: the key is fixed when the route is defined, whatever the caller later does with its array. */
export function secretBytes(secret: string | Uint8Array): Uint8Array {
  return typeof secret === 'string' ? new TextEncoder().encode(secret) : new Uint8Array(secret)
}

/** One HMAC key as matched: its `kid`, its one `alg`, its bytes (the same array every time, so `node:crypto`'s KeyObject cache holds). */
export interface BoundSecret {
  readonly kid: string
  readonly alg: HmacAlgorithm
  readonly bytes: Uint8Array
}

/**
 * Checks the `secrets` option once: a non-empty array of `{ kid, alg, secret }`,
 * kids unique, each `alg` an HMAC algorithm listed in `algorithms`, each
 * secret long enough for it.
 *
 * @throws TypeError naming the entry and what is wrong with it
 */
export function checkSecrets(secrets: unknown, algorithms: readonly string[]): BoundSecret[] {
  const example = "secrets: [{ kid: 'svc-1', alg: 'HS256', secret }]"
  if (!Array.isArray(secrets) || secrets.length === 0) throw new TypeError(`jwtAuth(): secrets must be a non-empty array, e.g. ${example}`)
  const bound: BoundSecret[] = []
  for (const [index, entry] of (secrets as unknown[]).entries()) {
    const name = `secrets[${index}]`
    if (typeof entry !== 'object' || entry === null) throw new TypeError(`jwtAuth(): ${name} must be { kid, alg, secret }, e.g. ${example}`)
    const { kid, alg, secret } = entry as Partial<HmacSecret>
    if (typeof kid !== 'string' || !kid) throw new TypeError(`jwtAuth(): ${name}.kid must be a non-empty string: the kid tokens signed with it carry`)
    if (!isHmacAlgorithm(alg)) throw new TypeError(`jwtAuth(): ${name}.alg must be HS256, HS384 or HS512, got ${JSON.stringify(alg)}`)
    if (!algorithms.includes(alg)) throw new TypeError(`jwtAuth(): ${name}.alg is ${alg}, which algorithms does not list; add it there or remove the secret`)
    if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) throw new TypeError(`jwtAuth(): ${name}.secret must be a string or a Uint8Array`)
    const bytes = secretBytes(secret)
    if (bytes.length < MIN_SECRET_BYTES[alg]) {
      throw new TypeError(`jwtAuth(): ${name}.secret is ${bytes.length} bytes, but ${alg} needs at least ${MIN_SECRET_BYTES[alg]} (RFC 7518 §3.2)`)
    }
    const earlier = bound.findIndex((other) => other.kid === kid)
    if (earlier >= 0) throw new TypeError(`jwtAuth(): ${name}.kid "${kid}" is already the kid of secrets[${earlier}]; every key needs its own kid`)
    bound.push({ kid, alg, bytes })
  }
  return bound
}

/**
 * Checks an `oct` key of a local JWKS once, with `allowSymmetricJwks` on:
 * it must carry a `kid` and an HMAC `alg` listed in `algorithms`, and a `k`
 * long enough for that `alg`.
 *
 * @throws TypeError naming the key and what is wrong with it
 */
export function checkOctJwk(jwk: JWK, index: number, algorithms: readonly string[]): BoundSecret {
  const name = `jwks key ${index}`
  if (jwk.kty !== 'oct') throw new TypeError(`jwtAuth(): ${name} holds k, a symmetric key's secret, but its kty is ${JSON.stringify(jwk.kty)}`)
  if (typeof jwk.kid !== 'string' || !jwk.kid) throw new TypeError(`jwtAuth(): ${name} is a symmetric (oct) key without a kid; each HMAC key needs one`)
  if (!isHmacAlgorithm(jwk.alg)) {
    throw new TypeError(`jwtAuth(): ${name} is a symmetric (oct) key; it needs alg HS256, HS384 or HS512, so it verifies that algorithm only`)
  }
  if (!algorithms.includes(jwk.alg)) throw new TypeError(`jwtAuth(): ${name} has alg ${jwk.alg}, which algorithms does not list`)
  const bound = octSecret(jwk)
  if (!bound) throw new TypeError(`jwtAuth(): ${name} is unusable: its k must be base64url of at least ${MIN_SECRET_BYTES[jwk.alg]} bytes, and use/key_ops must allow verifying`)
  return bound
}

/** An `oct` JWK as a bound secret, or undefined when it cannot be one (no kid, no HMAC alg, `k` too short or not base64url, not for verifying). */
function octSecret(jwk: JWK, intern?: Map<string, Uint8Array>): BoundSecret | undefined {
  const { kty, kid, alg, k, use, key_ops: keyOps } = jwk
  if (kty !== 'oct' || typeof kid !== 'string' || !kid || !isHmacAlgorithm(alg) || typeof k !== 'string') return undefined
  // jose's rules for a key set member: use "sig" and key_ops "verify" when present.
  if (use !== undefined && use !== 'sig') return undefined
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) return undefined
  const cacheKey = `${alg}.${k}`
  let bytes = intern?.get(cacheKey)
  if (!bytes) {
    try {
      bytes = base64url.decode(k)
    } catch {
      return undefined
    }
    if (bytes.length < MIN_SECRET_BYTES[alg]) return undefined
    if (intern) {
      // A key set holds a handful of keys; past that, rotation left old ones behind.
      if (intern.size >= 64) intern.clear()
      intern.set(cacheKey, bytes)
    }
  }
  return { kid, alg, bytes }
}

/** The remote key set whose `oct` members are used, and how a failed fetch is reported. */
export interface RemoteOctKeys {
  readonly set: RemoteJWKSet
  /** Wraps a fetch failure in what the caller answers 503 with. */
  readonly unavailable: (cause: unknown) => Error
}

/**
 * Resolves the HMAC key for a token's header: the one whose `kid` and `alg`
 * both match. A kid-less token is matched against every key of its `alg`
 * (several are tried in turn, as jose does for a key set). Fixed keys come
 * first; `oct` members of a remote key set are looked up when no fixed key
 * has the `kid`, fetched as jose fetches (cache, then one more fetch for an
 * unknown `kid` once the cooldown has passed).
 *
 * @throws jose's `JWKSNoMatchingKey` (answered `ERR_JWT_KEY_UNKNOWN`), or what `remote.unavailable` makes of a failed fetch
 * @example
 * const hmacKey = hmacKeyResolver(checkSecrets([{ kid: 'svc-1', alg: 'HS256', secret }], ['HS256']), undefined)
 * const bytes = await hmacKey({ alg: 'HS256', kid: 'svc-1' })
 */
export function hmacKeyResolver(fixed: readonly BoundSecret[], remote: RemoteOctKeys | undefined): (header: JWSHeaderParameters) => Promise<Uint8Array> {
  const byKid = new Map(fixed.map((secret) => [secret.kid, secret]))
  const intern = new Map<string, Uint8Array>()

  function matching(secrets: Iterable<BoundSecret>, kid: unknown, alg: string): Uint8Array[] {
    const found: Uint8Array[] = []
    for (const secret of secrets) if (secret.alg === alg && (kid === undefined || secret.kid === kid)) found.push(secret.bytes)
    return found
  }

  function remoteSecrets(set: JSONWebKeySet | undefined): BoundSecret[] {
    const secrets: BoundSecret[] = []
    for (const jwk of set?.keys ?? []) {
      const secret = octSecret(jwk, intern)
      if (secret) secrets.push(secret)
    }
    return secrets
  }

  async function fromRemote(source: RemoteOctKeys, kid: unknown, alg: string): Promise<Uint8Array[]> {
    const reload = async (): Promise<void> => {
      try {
        await source.set.reload()
      } catch (error) {
        throw source.unavailable(error)
      }
    }
    if (!source.set.fresh) await reload()
    let found = matching(remoteSecrets(source.set.jwks()), kid, alg)
    // jose's rule for an unknown kid: fetch again, unless the last fetch is within the cooldown.
    if (found.length === 0 && !source.set.coolingDown) {
      await reload()
      found = matching(remoteSecrets(source.set.jwks()), kid, alg)
    }
    return found
  }

  return async function hmacKey(header: JWSHeaderParameters): Promise<Uint8Array> {
    const { kid } = header
    const alg = String(header.alg)
    // jose matches only a string kid; any other type matches no key.
    if (kid !== undefined && typeof kid !== 'string') throw new errors.JWKSNoMatchingKey()
    let found: Uint8Array[]
    // A kid of a fixed key names that key only (a remote key of the same kid never stands in for it).
    if (kid !== undefined && byKid.has(kid)) found = matching([byKid.get(kid)!], kid, alg)
    else {
      found = matching(fixed, kid, alg)
      if (remote) found.push(...(await fromRemote(remote, kid, alg)))
    }
    if (found.length === 0) throw new errors.JWKSNoMatchingKey()
    if (found.length === 1) return found[0]!
    const several = new errors.JWKSMultipleMatchingKeys()
    Object.assign(several, {
      async *[Symbol.asyncIterator]() {
        yield* found
      },
    })
    throw several
  }
}
