/**
 * The verified-token cache (`jwtAuth({ cache })`): a reconnecting client
 * that shows a token the gateway has already verified skips the signature
 * check, the one step whose answer cannot change for the same token and the
 * same key. Everything else still runs at every request: the token is found
 * and checked for ambiguity where the request carries it, its key is asked
 * of the key resolver again (the JWKS as the gateway holds it at that
 * moment), and its claims are parsed afresh and checked at the current time.
 *
 * An entry is used only when
 * - the token is the same, byte for byte: the entry's key is an HMAC-SHA-256
 *   of the whole token under a random per-process secret (a forged token
 *   with the same claims and another signature is another entry; memory
 *   holds neither tokens nor an unkeyed hash of one to test guesses against);
 * - the key resolver hands out the very key object that verified it: a key
 *   rotated out of the JWKS is no longer handed out once the gateway fetches
 *   the new set, and a fetched set's keys are new objects, so after every
 *   JWKS fetch each token is verified once more;
 * - the claims pass at this request's time: `exp` (never past it), `nbf`,
 *   `iat` with `maxTokenAge`, `iss`, `aud`, exactly as without the cache.
 *
 * JWTs are stateless, so the cache changes nothing about revocation: a
 * token is good until its `exp` with or without it, and a key's removal
 * from the JWKS ends its tokens at the same fetch either way.
 */
import { errors } from 'jose'
import { checkClaimsText, type ClaimChecks } from './claims.ts'
import type { VerificationKey } from './keys.ts'
import type { NodeCrypto, NodeKeyObject } from '../../src/native-crypto.ts'
import { verifierOf, type TokenVerifier, type Verified } from './verifier.ts'

/** Options of the verified-token cache, `jwtAuth({ cache: { max } })`. */
export interface TokenCacheOptions {
  /**
   * Most verified tokens held (one per client token, about 0.5–1 KB each);
   * past it the least recently used one goes.
   * @default 10_000
   */
  max?: number
}

/** Tokens held when `cache: {}` names no `max`: one per client of a large reconnect storm, ~5–10 MB. */
export const DEFAULT_TOKEN_CACHE_MAX = 10_000

/** One verified token, as it was when its signature passed. */
interface Entry {
  /** The protected header the key resolver is asked with again. */
  readonly header: Verified['header']
  /** The three parts, for the key resolver's second argument. */
  readonly parts: { protected: string; payload: string; signature: string }
  /** The key that verified the signature, by identity (see {@link VerifiedTokenCache.keyId}). */
  readonly keyId: number
  /** The claims set as text: parsed afresh at every use, so no request sees another's object. */
  readonly claimsText: string
}

/**
 * Checks `jwtAuth()`'s `cache` option and returns the bound, or undefined
 * when the cache is off.
 *
 * @throws TypeError naming the option when it is neither absent, `false`, nor `{ max }` with a positive integer
 * @example
 * tokenCacheSize({ max: 50_000 }) // 50000
 */
export function tokenCacheSize(option: TokenCacheOptions | false | undefined): number | undefined {
  if (option === undefined || option === false) return undefined
  if (typeof option !== 'object' || option === null) throw new TypeError('jwtAuth(): cache must be { max } (e.g. { max: 10_000 }) or false')
  for (const name of Object.keys(option)) {
    if (name !== 'max') throw new TypeError(`jwtAuth(): cache has no option ${JSON.stringify(name)}; it takes { max }`)
  }
  const max = option.max ?? DEFAULT_TOKEN_CACHE_MAX
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError(`jwtAuth(): cache.max must be a positive integer of tokens, got ${String(max)}`)
  return max
}

/** The bounded store of verified tokens, least recently used first. */
export class VerifiedTokenCache {
  readonly max: number
  readonly #entries = new Map<string, Entry>()
  /** The per-process HMAC secret the entries are keyed by. */
  readonly #secret = globalThis.crypto.getRandomValues(new Uint8Array(32))
  /** The secret as a `node:crypto` key, per injected module (in practice one). */
  readonly #nodeKeys = new WeakMap<NodeCrypto, NodeKeyObject>()
  #webKey: Promise<CryptoKey> | undefined
  /** Key objects by identity: a number per object, never reused, gone with the object. */
  readonly #keyIds = new WeakMap<object, number>()
  #nextKeyId = 1

  constructor(max: number) {
    this.max = max
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size
  }

  /**
   * The entry name of `token`: HMAC-SHA-256 under the process's secret,
   * synchronously through an injected `node:crypto`, else through WebCrypto.
   */
  digest(token: string, crypto: NodeCrypto | undefined): string | Promise<string> {
    const bytes = ascii.encode(token)
    if (crypto) {
      let key = this.#nodeKeys.get(crypto)
      if (!key) this.#nodeKeys.set(crypto, (key = crypto.createSecretKey(this.#secret)))
      return binaryString(crypto.createHmac('sha256', key).update(bytes).digest())
    }
    this.#webKey ??= globalThis.crypto.subtle.importKey('raw', this.#secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    return this.#webKey.then(async (key) => binaryString(new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', key, bytes))))
  }

  /** The entry, now the most recently used; undefined when there is none. */
  get(digest: string): Entry | undefined {
    const entry = this.#entries.get(digest)
    if (entry) {
      this.#entries.delete(digest)
      this.#entries.set(digest, entry)
    }
    return entry
  }

  /** Keeps a verified token; the least recently used entry goes when the bound is reached. Tokens without a single key are left out. */
  set(digest: string, token: string, verified: Verified): void {
    const keyId = this.keyId(verified.key)
    if (keyId === undefined) return
    const [encodedHeader = '', encodedPayload = '', signature = ''] = token.split('.')
    const entry: Entry = {
      header: Object.freeze({ ...verified.header }),
      parts: Object.freeze({ protected: encodedHeader, payload: encodedPayload, signature }),
      keyId,
      claimsText: verified.claimsText,
    }
    this.#entries.delete(digest)
    this.#entries.set(digest, entry)
    if (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value!)
  }

  delete(digest: string): void {
    this.#entries.delete(digest)
  }

  /** A key object's identity number; undefined for anything that is not an object (nothing to hold it by). */
  keyId(key: unknown): number | undefined {
    if ((typeof key !== 'object' && typeof key !== 'function') || key === null) return undefined
    let id = this.#keyIds.get(key)
    if (id === undefined) this.#keyIds.set(key, (id = this.#nextKeyId++))
    return id
  }
}

/** The signing input and token are ASCII (jwtAuth's compact-JWS check), so its UTF-8 bytes are its characters. */
const ascii = new TextEncoder()

/** 32 digest bytes as a string of 32 one-byte characters: the cheapest Map key that holds all of them. */
function binaryString(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[])
}

/**
 * `inner` with the cache in front: a token seen before, whose key the
 * resolver still hands out, has its claims checked again and is answered
 * without its signature being checked; any other goes to `inner`, and is
 * kept when it passes.
 *
 * @example
 * const verify = cachingVerifier(nodeTokenVerifier(key, checks, nodeCrypto), key, checks, new VerifiedTokenCache(10_000), nodeCrypto)
 */
export function cachingVerifier(
  inner: TokenVerifier,
  key: VerificationKey,
  checks: ClaimChecks,
  cache: VerifiedTokenCache,
  crypto: NodeCrypto | undefined,
): TokenVerifier {
  async function verified(token: string, currentDate: Date | undefined): Promise<Verified> {
    const digest = await cache.digest(token, crypto)
    const entry = cache.get(digest)
    if (entry) {
      const answer = await fromEntry(digest, entry, currentDate)
      if (answer) return answer
    }
    const result = await inner.verified(token, currentDate)
    cache.set(digest, token, result)
    return result
  }

  /** The answer from `entry`, or undefined when its key is no longer the one the resolver hands out. */
  async function fromEntry(digest: string, entry: Entry, currentDate: Date | undefined): Promise<Verified | undefined> {
    let current: unknown
    try {
      current = typeof key === 'function' ? await key(entry.header, entry.parts) : key
    } catch (error) {
      // Several keys fit now: the full path tries each. Anything else (no key, JWKS unavailable) is the same answer the full path gives.
      cache.delete(digest)
      if (error instanceof errors.JWKSMultipleMatchingKeys) return undefined
      throw error
    }
    if (cache.keyId(current) !== entry.keyId) {
      cache.delete(digest)
      return undefined
    }
    try {
      // The typ was checked when the token was verified; the entry is keyed by the whole token, header included.
      const payload = checkClaimsText(entry.claimsText, checks, currentDate, undefined)
      return { payload, claimsText: entry.claimsText, header: entry.header, key: current, cached: true }
    } catch (error) {
      // Expired (or, with a clock set back, not yet valid): the same refusal as without the cache, and the entry is of no more use.
      cache.delete(digest)
      throw error
    }
  }

  return verifierOf(inner.backend, verified)
}
