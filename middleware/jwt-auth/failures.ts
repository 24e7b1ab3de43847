/**
 * How a refused token is answered: a {@link GatewayError} with a stable code,
 * a one-line reason that names the claim or the header (never the token or a
 * key), and the `WWW-Authenticate: Bearer` challenge of RFC 6750 §3.
 */
import { decodeProtectedHeader, errors } from 'jose'
import { DEFAULT_RETRY_AFTER } from '../../src/defaults.ts'
import { GatewayError, type GatewayErrorCode } from '../../src/errors.ts'
import { KeyMismatch, KeySetUnavailable } from './keys.ts'
import type { FoundToken, TokenLocations, TokenSource } from './token.ts'

/**
 * What RFC 6750 §3 allows in an attribute value: printable ASCII but `"` and
 * `\`. `jwtAuth()` checks `realm` against it; anything else is dropped from
 * a reason rather than escaped (a configured query parameter or cookie name
 * beyond ASCII, which a reason names, would otherwise make the header
 * unwritable: a 500 in place of the 401).
 */
export const CHALLENGE_VALUE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** The `WWW-Authenticate` value (RFC 6750 §3), attribute values as {@link CHALLENGE_VALUE} allows them. */
export function bearerChallenge(realm: string | undefined, attributes: Record<string, string> = {}): string {
  const all = realm === undefined ? attributes : { realm, ...attributes }
  const list = Object.entries(all).map(([name, value]) => `${name}="${value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`)
  return list.length > 0 ? `Bearer ${list.join(', ')}` : 'Bearer'
}

/** How the reason names a source, e.g. "the access_token query parameter". */
export function describeSource(source: TokenSource, where: TokenLocations): string {
  switch (source) {
    case 'header':
      return 'the Authorization header'
    case 'protocol':
      return 'Sec-WebSocket-Protocol'
    case 'query':
      return `the ${where.queryParameter} query parameter`
    case 'cookie':
      return `the ${where.cookie} cookie`
  }
}

/** 401 without an error attribute: RFC 6750 §3.1 says a request without credentials gets the bare challenge. */
export function missingToken(realm: string | undefined, where: TokenLocations): GatewayError {
  const places = where.sources.map((source) => describeSource(source, where))
  return new GatewayError(401, 'ERR_JWT_MISSING', `missing bearer token: send it in ${listOf(places, 'or')}`, {
    headers: { 'www-authenticate': bearerChallenge(realm) },
  })
}

/**
 * 400 `invalid_request` for a request that carries more than one token (two
 * places, or one place twice): RFC 6750 §3.1 says a client "MUST NOT use
 * more than one method to transmit the token in each request" and names
 * `invalid_request` for it. The reason names the places, never a token.
 */
export function ambiguousToken(realm: string | undefined, found: readonly FoundToken[], where: TokenLocations): GatewayError {
  const sources = [...new Set(found.map((token) => token.source))]
  const reason =
    sources.length > 1
      ? `token sent in more than one place: ${listOf(sources.map((source) => describeSource(source, where)), 'and')}`
      : sources[0] === 'header'
        ? 'more than one credential in the Authorization header'
        : `more than one token in ${describeSource(sources[0]!, where)}`
  return new GatewayError(400, 'ERR_JWT_AMBIGUOUS', reason, {
    headers: { 'www-authenticate': bearerChallenge(realm, { error: 'invalid_request', error_description: reason }) },
  })
}

/** "a", "a or b", "a, b or c". */
function listOf(items: readonly string[], conjunction: 'and' | 'or'): string {
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} ${conjunction} ${items.at(-1)}` : (items[0] ?? '')
}

/** 401 `invalid_token` with a code and a short reason. */
export function invalidToken(realm: string | undefined, code: GatewayErrorCode, reason: string, cause?: unknown): GatewayError {
  return new GatewayError(401, code, reason, {
    headers: { 'www-authenticate': bearerChallenge(realm, { error: 'invalid_token', error_description: reason }) },
    cause,
  })
}

/** A token that is not a compact JWS at all. */
export function malformedToken(realm: string | undefined, source: TokenSource, where: TokenLocations, cause?: unknown): GatewayError {
  return invalidToken(realm, 'ERR_JWT_MALFORMED', `malformed token in ${describeSource(source, where)}`, cause)
}

/** 403 `insufficient_scope`: the token is genuine but does not grant this route (RFC 6750 §3.1). */
export function insufficientScope(realm: string | undefined, reason: string, scopes: readonly string[]): GatewayError {
  const attributes: Record<string, string> = { error: 'insufficient_scope', error_description: reason }
  if (scopes.length > 0) attributes.scope = scopes.join(' ')
  return new GatewayError(403, 'ERR_JWT_INSUFFICIENT_SCOPE', reason, { headers: { 'www-authenticate': bearerChallenge(realm, attributes) } })
}

/** Maps what `jwtVerify` threw to the client's answer; jose's error stays as the cause for the log. */
export function verificationFailure(error: unknown, token: string, realm: string | undefined, source: TokenSource, where: TokenLocations): GatewayError {
  const invalid = (code: GatewayErrorCode, reason: string): GatewayError => invalidToken(realm, code, reason, error)
  if (error instanceof KeySetUnavailable) {
    // Not the client's fault and not a verdict on the token: 503, try again.
    return new GatewayError(503, 'ERR_JWKS_UNAVAILABLE', 'token signing keys unavailable, retry later', {
      headers: { 'retry-after': String(DEFAULT_RETRY_AFTER) },
      cause: error.cause,
    })
  }
  if (error instanceof KeyMismatch) return new GatewayError(500, 'ERR_INTERNAL', 'gateway key configuration error', { cause: error })
  if (error instanceof errors.JWTExpired) {
    // jose reports maxTokenAge as an expiry of "iat".
    return invalid('ERR_JWT_EXPIRED', error.claim === 'iat' ? 'token too old (iat is past maxTokenAge)' : 'token expired (exp)')
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return invalid('ERR_JWT_NOT_YET_VALID', 'token not yet valid (nbf is in the future)')
    if (error.claim === 'typ') return invalid('ERR_JWT_CLAIM_INVALID', 'token type (typ header) is not the expected one')
    if (error.reason === 'missing') return invalid('ERR_JWT_CLAIM_INVALID', `token lacks the "${error.claim}" claim`)
    return invalid('ERR_JWT_CLAIM_INVALID', `token claim "${error.claim}" is invalid`)
  }
  if (error instanceof errors.JOSENotSupported && error.message.startsWith('Extension Header Parameter')) {
    // RFC 7515 §4.1.11: a critical extension the verifier does not understand makes the JWS invalid; the algorithm is not at fault.
    return invalid('ERR_JWT_MALFORMED', 'token marks a header extension critical (crit) that is not supported')
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    const alg = headerAlg(token)
    return invalid('ERR_JWT_ALGORITHM_NOT_ALLOWED', alg ? `token algorithm ${alg} is not allowed` : 'token algorithm is not allowed')
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return invalid('ERR_JWT_SIGNATURE_INVALID', 'token signature is invalid')
  if (error instanceof errors.JWKSNoMatchingKey) return invalid('ERR_JWT_KEY_UNKNOWN', 'no key matches the token (kid)')
  if (error instanceof errors.JWKSMultipleMatchingKeys) return invalid('ERR_JWT_KEY_UNKNOWN', 'several keys match the token; it needs a kid')
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return malformedToken(realm, source, where, error)
  return new GatewayError(500, 'ERR_INTERNAL', 'internal gateway error', { cause: error })
}

/** The token's `alg` for the reason, only when it is a plain algorithm name (the header is the client's text). */
function headerAlg(token: string): string | undefined {
  try {
    const { alg } = decodeProtectedHeader(token)
    return typeof alg === 'string' && /^[A-Za-z0-9-]{1,16}$/.test(alg) ? alg : undefined
  } catch {
    return undefined
  }
}
