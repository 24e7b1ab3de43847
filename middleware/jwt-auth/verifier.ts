/**
 * Which verifier checks a token: the synchronous `node:crypto` one where the
 * runtime has `node:crypto`, else jose's `jwtVerify` on WebCrypto (browsers,
 * Workers without `nodejs_compat`). Both give the same verdict and throw the
 * same jose errors.
 */
import { errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from 'jose'
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

/** Verifies a token and returns its claims; `currentDate` is the clock reading for the claim checks (now when undefined). */
export interface TokenVerifier {
  (token: string, currentDate: Date | undefined): Promise<JWTPayload>
  /** What checks the signatures. */
  readonly backend: SignatureBackend
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
  async function verifyToken(token: string, currentDate: Date | undefined): Promise<JWTPayload> {
    const options: JWTVerifyOptions = currentDate ? { ...checks, currentDate } : checks
    try {
      return (await jwtVerify(token, key, options)).payload
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error
      for await (const candidate of error as AsyncIterable<CryptoKey>) {
        try {
          return (await jwtVerify(token, candidate, options)).payload
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner
        }
      }
      throw new errors.JWSSignatureVerificationFailed()
    }
  }
  return Object.assign(verifyToken, { backend: 'webcrypto' as const })
}
