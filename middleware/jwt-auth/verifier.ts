/**
 * Which verifier checks a token: the synchronous `node:crypto` one where the
 * runtime has `node:crypto`, else jose's `jwtVerify` on WebCrypto (browsers,
 * Workers without `nodejs_compat`). Both give the same verdict and throw the
 * same jose errors.
 */
import { base64url, errors, jwtVerify, type CompactJWSHeaderParameters, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from 'jose'
import { utf8 } from './compact-jws.ts'
import type { ClaimChecks } from './claims.ts'
import type { VerificationKey } from './keys.ts'
import type { NodeCrypto } from '../../src/native-crypto.ts'
import { nodeTokenVerifier } from './node-verify.ts'

/**
 * What checks signatures:
 * - `'node:crypto'`: synchronous OpenSSL calls through `node:crypto` (Node ≥ 22.3);
 * - `'webcrypto'`: jose's `jwtVerify` on `crypto.subtle`, which every runtime has.
 */
export type SignatureBackend = 'node:crypto' | 'webcrypto'

/** A token that passed: its claims, and what the verified-token cache keeps of it. */
export interface Verified {
  /** The claims set, parsed for this request alone. */
  readonly payload: JWTPayload
  /** The claims set as the token carries it (UTF-8 decoded), checked again at each use from the cache. */
  readonly claimsText: string
  /** The protected header, as the key resolver was handed it. */
  readonly header: CompactJWSHeaderParameters
  /**
   * The key that checked the signature, as the key resolver (or the option)
   * handed it out; undefined when the token had no single key (a kid-less
   * token tried against several), which the cache then leaves out.
   */
  readonly key: unknown
  /** Answered from the verified-token cache: the signature was checked at an earlier request, not this one. */
  readonly cached?: boolean
}

/** Verifies a token and returns its claims; `currentDate` is the clock reading for the claim checks (now when undefined). */
export interface TokenVerifier {
  (token: string, currentDate: Date | undefined): Promise<JWTPayload>
  /** What checks the signatures. */
  readonly backend: SignatureBackend
  /** The same verdict, with the key that verified the token and the claims as text. */
  verified(token: string, currentDate: Date | undefined): Promise<Verified>
}

/** A verifier from its detailed form: the plain call answers the claims only. */
export function verifierOf(backend: SignatureBackend, verified: TokenVerifier['verified']): TokenVerifier {
  const verifyToken = async (token: string, currentDate: Date | undefined): Promise<JWTPayload> => (await verified(token, currentDate)).payload
  return Object.assign(verifyToken, { backend, verified })
}

/** Every {@link SignatureBackend}, for option checks. */
export const SIGNATURE_BACKENDS: readonly SignatureBackend[] = ['node:crypto', 'webcrypto']

/**
 * The verifier for `backend`; undefined picks `'node:crypto'` when this
 * runtime has it and `'webcrypto'` otherwise. `crypto` is what this runtime
 * offers (injected: `GatewayRuntime.crypto` or `jwtAuth({ crypto })`).
 *
 * @throws TypeError when `backend` is unknown, or `'node:crypto'` on a runtime without it
 * @example
 * const verify = tokenVerifier(keyResolver(options, algorithms), claimChecks(options, algorithms), options.verifyWith, nodeCrypto)
 */
export function tokenVerifier(
  key: VerificationKey,
  checks: ClaimChecks,
  backend: SignatureBackend | undefined,
  crypto: NodeCrypto | undefined,
): TokenVerifier {
  if (backend !== undefined && !SIGNATURE_BACKENDS.includes(backend)) {
    throw new TypeError(`jwtAuth(): verifyWith must be ${SIGNATURE_BACKENDS.map((name) => `'${name}'`).join(' or ')}, got ${JSON.stringify(backend)}`)
  }
  if (backend === 'webcrypto') return joseTokenVerifier(key, checks)
  if (crypto) return nodeTokenVerifier(key, checks, crypto)
  if (backend === 'node:crypto') {
    throw new TypeError("jwtAuth(): verifyWith 'node:crypto' needs node:crypto injected (the Node host's runtime, or jwtAuth({ crypto: nodeCrypto }) from wsgate/node); leave it unset to use WebCrypto here")
  }
  return joseTokenVerifier(key, checks)
}

/**
 * jose's `jwtVerify` on WebCrypto. A kid-less token against a set with
 * several fitting keys is tried against each (jose's documented way).
 */
export function joseTokenVerifier(key: VerificationKey, checks: ClaimChecks): TokenVerifier {
  async function verified(token: string, currentDate: Date | undefined): Promise<Verified> {
    const options: JWTVerifyOptions = currentDate ? { ...checks, currentDate } : checks
    // jwtVerify asks a key function once and checks the signature with what it returns: that is the key that verified.
    let used: unknown
    const capture: VerificationKey =
      typeof key === 'function' ? async (header, input) => (used = await key(header, input)) : ((used = key), key)
    try {
      const result = await jwtVerify(token, capture, options)
      return { payload: result.payload, header: result.protectedHeader, key: used, claimsText: signedClaimsText(token) }
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error
      for await (const candidate of error as AsyncIterable<CryptoKey>) {
        try {
          const result = await jwtVerify(token, candidate, options)
          return { payload: result.payload, header: result.protectedHeader, key: undefined, claimsText: signedClaimsText(token) }
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner
        }
      }
      throw new errors.JWSSignatureVerificationFailed()
    }
  }
  return verifierOf('webcrypto', verified)
}

/** The claims part of a token jwtVerify accepted, as text (jwtVerify checked it decodes to a JSON object). */
function signedClaimsText(token: string): string {
  return utf8(base64url.decode(token.slice(token.indexOf('.') + 1, token.lastIndexOf('.'))))
}
