/**
 * The JWT claim checks jwtAuth configures (RFC 7519 §4.1): built once from
 * the options, and run by the synchronous verifier. Order, comparisons and
 * errors are jose's `validateClaimsSet` (v6) for the options jwtAuth passes,
 * so the client's reason and the operator's log line do not depend on the
 * path taken.
 */
import { errors, type JWTPayload } from 'jose'
import { isPlainObject, utf8 } from './compact-jws.ts'

/**
 * The checks, in jose's units: what `claimChecks()` builds once per route and
 * hands to either path (`jwtVerify` takes it as it is).
 */
export interface ClaimChecks {
  /** The `alg` allowlist. */
  algorithms: string[]
  /** Accepted `iss` value(s); the claim is then required. */
  issuer?: string | string[]
  /** Accepted `aud` value(s), one of which the token's `aud` must hold; the claim is then required. */
  audience?: string | string[]
  /** Allowed clock skew, seconds (may be fractional). */
  clockTolerance?: number
  /** Oldest accepted `iat`, seconds before now; `iat` is then required. */
  maxTokenAge?: number
  /** Claims that must be present (jwtAuth: `exp`, unless `requireExpiration` is false). */
  requiredClaims?: string[]
  /** The `typ` header the token must carry (jose's `typ` option: compared without case and without an `application/` prefix). */
  typ?: string
}

/** The claim options of `jwtAuth()`, in wsgate's units (ms). */
export interface ClaimOptions {
  issuer?: string | string[] | undefined
  audience?: string | string[] | undefined
  clockTolerance?: number | undefined
  maxTokenAge?: number | undefined
  requireExpiration?: boolean | undefined
  typ?: string | undefined
}

/**
 * Checks the claim options and converts them to jose's units (seconds), once per route.
 *
 * @throws TypeError naming the option when one is wrong
 * @example
 * const checks = claimChecks({ issuer: 'https://idp.example/', clockTolerance: 30_000 }, ['RS256'])
 */
export function claimChecks(options: ClaimOptions, algorithms: string[]): ClaimChecks {
  const checks: ClaimChecks = { algorithms }
  for (const name of ['issuer', 'audience'] as const) {
    const value = options[name]
    if (value === undefined) continue
    const list = Array.isArray(value) ? value : [value]
    if (list.length === 0 || !list.every((item) => typeof item === 'string' && item)) {
      throw new TypeError(`jwtAuth(): ${name} must be a non-empty string or array of strings`)
    }
    checks[name] = value
  }
  // jose counts in seconds; wsgate in ms.
  const tolerance = options.clockTolerance ?? 0
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new TypeError(`jwtAuth(): clockTolerance must be a non-negative number of milliseconds, got ${String(tolerance)}`)
  }
  checks.clockTolerance = tolerance / 1000
  if (options.maxTokenAge !== undefined) {
    const age = options.maxTokenAge
    if (typeof age !== 'number' || !Number.isFinite(age) || age <= 0) {
      throw new TypeError(`jwtAuth(): maxTokenAge must be a positive number of milliseconds, got ${String(age)}`)
    }
    checks.maxTokenAge = age / 1000
  }
  if (options.requireExpiration ?? true) checks.requiredClaims = ['exp']
  if (options.typ !== undefined) {
    if (typeof options.typ !== 'string' || normalizedType(options.typ) === '') {
      throw new TypeError(`jwtAuth(): typ must be a non-empty media type such as 'at+jwt', got ${JSON.stringify(options.typ)}`)
    }
    checks.typ = options.typ
  }
  return checks
}

/**
 * Parses the verified payload and checks its claims at `currentDate` (now
 * when undefined), and the protected header's `typ` when the checks name
 * one (`header` undefined: checked before, see {@link TypedHeader}).
 * Returns the claims set.
 *
 * @throws jose's `JWTInvalid` (not a JSON object), `JWTClaimValidationFailed`
 * or `JWTExpired`, with jose's message, claim and reason
 */
export function checkClaims(payload: Uint8Array, checks: ClaimChecks, currentDate: Date | undefined, header: TypedHeader | undefined): JWTPayload {
  return checkClaimsText(claimsText(payload), checks, currentDate, header)
}

/**
 * The claims set's bytes as text, the way jose reads them (strict UTF-8).
 * @throws jose's `JWTInvalid` when they are not UTF-8
 */
export function claimsText(payload: Uint8Array): string {
  try {
    return utf8(payload)
  } catch (cause) {
    throw new errors.JWTInvalid('JWT Claims Set must be a top-level JSON object', { cause })
  }
}

/**
 * {@link checkClaims} on the claims set as text: parsed afresh (so every
 * caller gets an object of its own), then checked at `currentDate`.
 *
 * @throws as {@link checkClaims}
 */
export function checkClaimsText(text: string, checks: ClaimChecks, currentDate: Date | undefined, header: TypedHeader | undefined): JWTPayload {
  let claims: unknown
  try {
    claims = JSON.parse(text)
  } catch (cause) {
    throw new errors.JWTInvalid('JWT Claims Set must be a top-level JSON object', { cause })
  }
  if (!isPlainObject(claims)) throw new errors.JWTInvalid('JWT Claims Set must be a top-level JSON object')
  const { issuer, audience, maxTokenAge } = checks
  // jose's place for it: after the claims parse, before any claim. Explicit typing (RFC 8725 §3.11) keeps
  // a token of another kind (an ID token, a logout token) signed by the same issuer from passing as this one.
  if (checks.typ !== undefined && header !== undefined && (typeof header.typ !== 'string' || normalizedType(header.typ) !== normalizedType(checks.typ))) {
    throw new errors.JWTClaimValidationFailed('unexpected "typ" JWT header value', claims, 'typ', 'check_failed')
  }

  for (const claim of presenceOrder(checks)) {
    if (!Object.hasOwn(claims, claim)) throw new errors.JWTClaimValidationFailed(`missing required "${claim}" claim`, claims, claim, 'missing')
  }

  if (issuer !== undefined && !(Array.isArray(issuer) ? issuer : [issuer]).includes(claims.iss as string)) unexpected(claims, 'iss')
  if (audience !== undefined && !audienceMatches(claims.aud, typeof audience === 'string' ? [audience] : audience)) unexpected(claims, 'aud')

  const tolerance = finite('clockTolerance option', checks.clockTolerance ?? 0)
  if (tolerance < 0) throw new TypeError('Invalid clockTolerance option input')
  const now = finite('currentDate option', Math.floor((currentDate ?? new Date()).getTime() / 1000))
  const iat = numericDate(claims, 'iat', maxTokenAge !== undefined)
  const nbf = numericDate(claims, 'nbf', false)
  if (nbf !== undefined && nbf > now + tolerance) {
    throw new errors.JWTClaimValidationFailed('"nbf" claim timestamp check failed', claims, 'nbf', 'check_failed')
  }
  const exp = numericDate(claims, 'exp', false)
  // RFC 7519 §4.1.4: the token is refused on or after exp.
  if (exp !== undefined && exp <= now - tolerance) throw new errors.JWTExpired('"exp" claim timestamp check failed', claims, 'exp', 'check_failed')
  if (maxTokenAge !== undefined) {
    const age = now - iat!
    const max = finite('maxTokenAge option', maxTokenAge)
    if (max < 0) throw new TypeError('Invalid maxTokenAge option input')
    if (age - tolerance > max) {
      throw new errors.JWTExpired('"iat" claim timestamp check failed (too far in the past)', claims, 'iat', 'check_failed')
    }
    if (age < -tolerance) {
      throw new errors.JWTClaimValidationFailed('"iat" claim timestamp check failed (it should be in the past)', claims, 'iat', 'check_failed')
    }
  }
  return claims as JWTPayload
}

/**
 * The protected header's part the claim checks read: its `typ`. Undefined
 * where the header was already checked with these claims (a token answered
 * from the verified-token cache, whose key is the whole token).
 */
export type TypedHeader = { readonly typ?: unknown }

/** A `typ` as RFC 7515 §4.1.9 compares it: case-insensitive, `application/` left out (jose's normalisation). */
function normalizedType(typ: string): string {
  return typ.toLowerCase().replace(/^application\//, '')
}

/** The claims each set must hold, per checks object: worked out at its first token, not at every one. */
const presenceOrders = new WeakMap<ClaimChecks, readonly string[]>()

/** Presence first, in jose's order: iss, aud, iat, then requiredClaims from the last; each claim once. */
function presenceOrder(checks: ClaimChecks): readonly string[] {
  let order = presenceOrders.get(checks)
  if (order === undefined) {
    const present = [...(checks.requiredClaims ?? [])]
    if (checks.maxTokenAge !== undefined) present.push('iat')
    if (checks.audience !== undefined) present.push('aud')
    if (checks.issuer !== undefined) present.push('iss')
    order = [...new Set(present.reverse())]
    presenceOrders.set(checks, order)
  }
  return order
}

/** RFC 7519 §4.1.3: `aud` is one string or an array of them; one must be accepted. */
function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud)
  if (Array.isArray(aud)) return accepted.some((value) => aud.includes(value))
  return false
}

/** RFC 7519 §2 NumericDate: a JSON number when present; undefined when absent and optional. */
function numericDate(claims: Record<string, unknown>, claim: 'iat' | 'nbf' | 'exp', required: boolean): number | undefined {
  const value = claims[claim]
  if (value === undefined && !required) return undefined
  if (typeof value !== 'number') throw new errors.JWTClaimValidationFailed(`"${claim}" claim must be a number`, claims, claim, 'invalid')
  return value
}

function unexpected(claims: Record<string, unknown>, claim: string): never {
  throw new errors.JWTClaimValidationFailed(`unexpected "${claim}" claim value`, claims, claim, 'check_failed')
}

/** jose refuses NaN and infinite inputs with a TypeError (a gateway bug, answered 500). */
function finite(label: string, value: number): number {
  if (!Number.isFinite(value)) throw new TypeError(`Invalid ${label} input`)
  return value
}
