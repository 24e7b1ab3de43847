/**
 * The synchronous verifier used on Node: jose's `jwtVerify` step for step
 * (parse, header checks, key lookup, signature, claims) with the signature
 * checked by `node:crypto` instead of `crypto.subtle`. Keys still come from
 * the same resolvers (so JWKS fetching, caching and cooldown are jose's);
 * only their use changes. What this path does not handle itself (a key or an
 * algorithm outside its table) it hands to `jwtVerify` with the key already
 * resolved, so the verdict is jose's either way.
 */
import { base64url, errors, jwtVerify, type JWTVerifyOptions } from 'jose'
import { checkClaimsText, claimsText, type ClaimChecks } from './claims.ts'
import { decodePart, parseCompactJws, signingInput, utf8, type CompactJws } from './compact-jws.ts'
import type { VerificationKey } from './keys.ts'
import type { NodeCrypto } from '../../src/native-crypto.ts'
import { NodeSignatures } from './node-signature.ts'
import { verifierOf, type TokenVerifier, type Verified } from './verifier.ts'

/**
 * A verifier that checks signatures with `node:crypto`, synchronously.
 * Errors are jose's error classes with jose's messages, so
 * `verificationFailure()` answers as it does for `jwtVerify`.
 *
 * @example
 * const verify = nodeTokenVerifier(keyResolver(options, algorithms), { algorithms }, nodeCrypto)
 * const claims = await verify(token, undefined)
 */
export function nodeTokenVerifier(key: VerificationKey, checks: ClaimChecks, crypto: NodeCrypto): TokenVerifier {
  const allowed = new Set(checks.algorithms)
  const signatures = new NodeSignatures(crypto)
  const fast = crypto.decodeBase64url

  /** The rest of `jwtVerify` once a key is in hand: signature, payload, claims. */
  function verifyWithKey(token: string, jws: CompactJws, resolved: unknown, currentDate: Date | undefined): Verified | Promise<Verified> {
    // jose's order: signing input, signature decoding, then the key's own checks.
    const data = signingInput(jws)
    const signature = decodePart(jws.encodedSignature, 'signature', fast)
    const ready = signatures.prepare(jws.alg, resolved)
    if (!ready) return delegate(token, jws, resolved, checks, currentDate)
    let verified: boolean
    try {
      verified = signatures.verify(ready, data, signature)
    } catch (cause) {
      throw new errors.JWSSignatureVerificationFailed(undefined, { cause })
    }
    if (!verified) throw new errors.JWSSignatureVerificationFailed()
    // RFC 7797 `b64: false` passed the signature, but a JWT's claims must be base64url (jwtVerify's rule).
    if (!jws.b64) throw new errors.JWTInvalid('JWTs MUST NOT use unencoded payload')
    const text = claimsText(decodePart(jws.encodedPayload, 'payload', fast))
    return { payload: checkClaimsText(text, checks, currentDate, jws.header), claimsText: text, header: jws.header, key: resolved }
  }

  async function verified(token: string, currentDate: Date | undefined): Promise<Verified> {
    const jws = parseCompactJws(token, allowed, fast)
    if (typeof key !== 'function') return verifyWithKey(token, jws, key, currentDate)
    let resolved: unknown
    try {
      resolved = await key(jws.header, { protected: jws.encodedHeader, payload: jws.encodedPayload, signature: jws.encodedSignature })
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error
      // A kid-less token against a set with several fitting keys: try each (jose's documented way); no single key to remember.
      for await (const candidate of error as unknown as AsyncIterable<unknown>) {
        try {
          return { ...(await verifyWithKey(token, jws, candidate, currentDate)), key: undefined }
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner
        }
      }
      throw new errors.JWSSignatureVerificationFailed()
    }
    return verifyWithKey(token, jws, resolved, currentDate)
  }
  return verifierOf('node:crypto', verified)
}

/** jose verifies the token with the key already resolved (no second key lookup). */
async function delegate(token: string, jws: CompactJws, key: unknown, checks: ClaimChecks, currentDate: Date | undefined): Promise<Verified> {
  const options: JWTVerifyOptions = currentDate ? { ...checks, currentDate } : checks
  const { payload } = await jwtVerify(token, key as Uint8Array, options)
  return { payload, claimsText: utf8(base64url.decode(jws.encodedPayload)), header: jws.header, key }
}
