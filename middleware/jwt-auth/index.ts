import { withWarnings } from '../../src/warnings.ts'
import { hostNeed, withHostNeeds } from '../../src/host-needs.ts'
import type { Context, MiddlewareHandler } from 'hono'
import type { JSONWebKeySet, JWSAlgorithm, JWTPayload } from 'jose'
import type { HmacSecret } from './hmac-keys.ts'
import { LATEST_DATE, replaceRequest, type ForwardingVariables } from '../../src/forward.ts'
import type { GatewayBindings } from '../../src/runtime.ts'
import { ambiguousToken, CHALLENGE_VALUE, insufficientScope, malformedToken, missingToken, verificationFailure } from './failures.ts'
import { claimChecks } from './claims.ts'
import { checkAlgorithms, keyResolver } from './keys.ts'
import { usableNodeCrypto, type NodeCrypto } from '../../src/native-crypto.ts'
import { GatewayError } from '../../src/errors.ts'
import { findTokens, stripTokens, TOKEN_SOURCES, type TokenLocations, type TokenSource } from './token.ts'
import { SIGNATURE_BACKENDS, tokenVerifier, type SignatureBackend, type TokenVerifier, type Verified } from './verifier.ts'
import { cachingVerifier, tokenCacheSize, VerifiedTokenCache, type TokenCacheOptions } from './token-cache.ts'
import { HTTP_TOKEN } from '../../src/headers.ts'

export type { TokenSource } from './token.ts'
export type { HmacAlgorithm, HmacSecret } from './hmac-keys.ts'
export type { SignatureBackend } from './verifier.ts'
export type { TokenCacheOptions } from './token-cache.ts'

/**
 * Where tokens are looked for when `sources` is not set. The cookie is left
 * out on purpose: browsers attach cookies to cross-site WebSocket handshakes
 * (cross-site WebSocket hijacking), so reading a token from a cookie needs
 * `originCheck()` in front of it.
 */
export const DEFAULT_TOKEN_SOURCES: readonly TokenSource[] = ['header', 'protocol', 'query']

/** The name used for the query parameter, the cookie and the subprotocol marker: RFC 6750 §2.3's `access_token`. */
export const DEFAULT_TOKEN_NAME = 'access_token'

/** The prefix of the one-entry subprotocol form, `bearer.<jwt>`. */
export const DEFAULT_PROTOCOL_PREFIX = 'bearer.'

/**
 * Options of {@link jwtAuth}. Keys: one of `jwksUrl`, `jwks` or `publicKey`,
 * one of `secret` or `secrets`, or a JWKS (`jwksUrl` or `jwks`) together
 * with `secrets`. A token's `alg` decides which kind of key may check it
 * (public keys for RS/PS/ES/EdDSA, secrets for HS), its `kid` which key.
 * All durations are in milliseconds, as everywhere in wsgate.
 */
export interface JwtAuthOptions {
  /**
   * URL of the issuer's JSON Web Key Set (e.g. `https://idp.example/.well-known/jwks.json`).
   * Fetched at the first token, cached, and fetched again when a token names
   * an unknown `kid` (key rotation), at most once per `jwksCooldown`. Must be
   * https, except on loopback.
   * @default none
   */
  jwksUrl?: string | URL
  /** A JSON Web Key Set held locally, `{ keys: [...] }`; public keys only (`oct` keys with `allowSymmetricJwks`). @default none */
  jwks?: JSONWebKeySet
  /** One PEM SPKI public key (`-----BEGIN PUBLIC KEY-----`); `algorithms` must be of its type. Stands alone (it has no `kid`). @default none */
  publicKey?: string
  /**
   * One shared secret for HS256/HS384/HS512, at least as long as the hash
   * (32 bytes for HS256), for every HS token whatever its `kid`. Stands
   * alone: beside a JWKS, use `secrets`, which binds each secret to a `kid`.
   * @default none
   */
  secret?: string | Uint8Array
  /**
   * Shared secrets, each bound to one `kid` and one `alg`:
   * `[{ kid: 'svc-1', alg: 'HS256', secret }]`. An HS token is checked with
   * the secret its header's `kid` names, and only when its `alg` is that
   * secret's (a token without `kid` is tried against each secret of its
   * `alg`). Kids are unique; each `alg` must be listed in `algorithms`; each
   * secret at least as long as its hash. May stand alone or beside `jwks` or
   * `jwksUrl`, whose keys then check the RS/PS/ES/EdDSA tokens.
   * @default none
   */
  secrets?: HmacSecret[]
  /**
   * Let `oct` (symmetric) keys of `jwks` or `jwksUrl` verify HMAC tokens. Each
   * must carry a `kid` and an `alg` of HS256/HS384/HS512 that `algorithms`
   * lists, and verifies that `alg` only. Off, an `oct` key in `jwks` is a
   * `TypeError` at start and one in a remote set is never used (a token
   * naming it gets `ERR_JWT_KEY_UNKNOWN`). Turn it on only for a key set
   * served to the gateway alone: whoever reads it can sign tokens.
   * @default false
   */
  allowSymmetricJwks?: boolean
  /**
   * Accepted `alg` values: the allowlist every token is checked against
   * before any key is used. Required; `none` is refused. HMAC algorithms
   * need `secret`, `secrets` or `allowSymmetricJwks`, and are never checked
   * with a public key; the others need a public key and are never checked
   * with a secret; so a token cannot choose an algorithm its key was not
   * meant for.
   * @default none — required, e.g. `['RS256']`
   */
  algorithms: JWSAlgorithm[]
  /** How long fetched JWKS keys are used before fetching again, ms. @default 10 min (jose's) */
  jwksCacheMaxAge?: number
  /** After a JWKS fetch, how long an unknown `kid` is refused without fetching again, ms. @default 30 s (jose's) */
  jwksCooldown?: number
  /** Time a JWKS fetch may take; beyond it the handshake gets 503 `ERR_JWKS_UNAVAILABLE`, ms. @default 5 s */
  jwksTimeout?: number
  /** Accepted `iss` value(s); the claim is then required. @default any issuer */
  issuer?: string | string[]
  /** Accepted `aud` value(s); the token's `aud` must contain one. @default any audience */
  audience?: string | string[]
  /**
   * The `typ` header a token must carry (RFC 8725 §3.11 explicit typing),
   * e.g. `'at+jwt'` for OAuth access tokens (RFC 9068): then an ID token or
   * any other JWT the same issuer signs is refused (401
   * `ERR_JWT_CLAIM_INVALID`), as is a token without `typ`. Compared without
   * case and without an `application/` prefix. @default any type (not checked)
   */
  typ?: string
  /** Allowed clock skew for `exp`, `nbf` and `iat`, ms. @default 0 */
  clockTolerance?: number
  /** Refuse tokens issued (`iat`) longer ago than this, ms; `iat` is then required. @default no limit */
  maxTokenAge?: number
  /**
   * Refuse tokens without `exp` (401 `ERR_JWT_CLAIM_INVALID`). A token
   * without one would authorise a connection for ever.
   * @default true
   */
  requireExpiration?: boolean
  /** Claims a token must carry for this route; a genuine token without one gets 403 `insufficient_scope`. @default [] */
  requiredClaims?: string[]
  /** Scopes a token must grant for this route (all of them); else 403 `insufficient_scope`. @default [] */
  requiredScopes?: string[]
  /** The claim holding the scopes: a space-separated string (RFC 8693 `scope`) or an array of strings (`scp`). @default 'scope' */
  scopeClaim?: string
  /**
   * Where a token may be sent. A request must carry exactly one token in
   * exactly one of them: one in two places, or twice in one (two query
   * parameters, two cookies, two `Authorization` fields, two subprotocol
   * tokens), is refused with 400 `ERR_JWT_AMBIGUOUS` (RFC 6750 §3.1), even
   * when one copy is empty. Places not listed are not looked at (what they
   * carry goes to the origin as it came). The order is the order the
   * 401 and 400 reasons name them in.
   * @default ['header', 'protocol', 'query'] (add 'cookie' only behind `originCheck()`)
   */
  sources?: TokenSource[]
  /** Query parameter carrying the token. @default 'access_token' */
  queryParameter?: string
  /** Cookie carrying the token (with `sources` including `'cookie'`). @default 'access_token' */
  cookie?: string
  /**
   * Subprotocol that announces the token in the next entry:
   * `new WebSocket(url, ['access_token', jwt])`. When the origin selects no
   * subprotocol, the client is answered with this marker (never the token),
   * which a browser needs to accept the connection.
   * @default 'access_token'
   */
  protocolMarker?: string
  /**
   * Prefix of the one-entry subprotocol form, `bearer.<jwt>`. The gateway
   * cannot select that entry without echoing the token, so a browser using
   * this form must offer another real subprotocol alongside
   * (`['chat.v1', 'bearer.' + jwt]`) for the origin to select.
   * @default 'bearer.'
   */
  protocolPrefix?: string
  /**
   * Claims to send to the origin as request headers, claim name → header
   * name, e.g. `{ sub: 'X-Auth-Sub' }`. Strings go as they are, other values
   * as JSON; a value with characters outside printable ASCII, or a `%`, or a
   * space at either end is percent-encoded whole (so an origin that
   * percent-decodes every value reads exactly the claim). Headers of these names sent by the client are always
   * removed first, so they cannot be forged; so are their spellings with `_`
   * for `-` (`X-Auth_Sub`), which CGI-style origins read as the same header.
   * @default {} (none)
   */
  forwardClaims?: Record<string, string>
  /** Send the verified token to the origin as `Authorization: Bearer <jwt>` (from wherever it came). @default false */
  forwardToken?: boolean
  /** `realm` of the `WWW-Authenticate` challenge. @default none */
  realm?: string
  /**
   * Close a connection opened with a token when that token's `exp` passes
   * (plus `clockTolerance`, which it was accepted with), with close code 1008 (policy violation) and reason `token expired`, so
   * that the client authenticates again before it reconnects. Off, the
   * connection lives on (its `exp` is only logged, as `expiresAt`) until its
   * idle timeout or lifetime. Needs frame tracking on the route (the
   * default; with `websocket(target, { closeFrames: false })` the
   * connection is dropped at `exp` without a close frame).
   * @default false
   */
  closeOnTokenExpiry?: boolean
  /** The clock for `exp`/`nbf`/`iat` checks, ms since the epoch (tests freeze it). @default Date.now */
  now?: () => number
  /**
   * What checks signatures. `'node:crypto'` verifies synchronously through
   * the injected `node:crypto` (see `crypto`), several times cheaper in CPU
   * than WebCrypto on Node, where each `crypto.subtle.verify` is a
   * thread-pool job; `'webcrypto'` uses jose's `jwtVerify` on
   * `crypto.subtle`, which every runtime has. Both accept and refuse the same
   * tokens with the same answers.
   * @default 'node:crypto' where `node:crypto` is injected, else 'webcrypto'
   */
  verifyWith?: SignatureBackend
  /**
   * `node:crypto` for the synchronous verifier, injected, never looked for:
   * `nodeCrypto` from `wsgate/node`. Needed only where no wsgate runtime
   * injects it (the Node host's runtime does, as `c.env.wsgate.crypto`; e.g.
   * `app.request()` in a test).
   * @default what the runtime injects (the Node host: `node:crypto`; Workers: none)
   */
  crypto?: NodeCrypto
  /**
   * Keep verified tokens, so that a client reconnecting with a token the
   * gateway has already verified skips the signature check (Envoy's
   * `jwt_cache_config`). Off by default. An entry is the whole token's
   * HMAC-SHA-256 (a token with the same claims and another signature is
   * another entry), and is used only while the key resolver still hands out
   * the key that verified it (a key rotated out of the JWKS ends its tokens
   * at the next fetch, as without the cache; every fetch makes each token
   * verified once more) and while its claims pass at this request's time
   * (never past `exp`, nor before `nbf`). Where the token came from, its
   * ambiguity, the required claims and scopes, what is forwarded and
   * stripped are still worked out at every request. Revocation is what it
   * is without the cache: a JWT is good until its `exp`.
   * `{ max }`: most tokens held (about 0.5–1 KB each), least recently used
   * evicted first.
   * @default off (`{}` holds up to 10_000 tokens)
   */
  cache?: TokenCacheOptions | false
}

/** What {@link jwtAuth} publishes to later middleware and to `websocket()`. */
export interface JwtAuthVariables extends Pick<ForwardingVariables, 'connectionExpiresAt' | 'closeOnConnectionExpiry' | 'authenticated'> {
  /** The verified claims of the token. */
  jwtPayload: JWTPayload
}

/** Header names `forwardClaims` may not write: the ones the handshake, the proxy hop or the client's credentials own. */
const RESERVED_HEADERS = /^(host|authorization|cookie|connection|upgrade|keep-alive|te|trailer|transfer-encoding|content-length|proxy-.*|sec-websocket-.*)$/i

/** A compact JWS: three base64url parts (the signature may be empty, so `alg: none` is refused by name, not as malformed). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/

/**
 * Authenticates a WebSocket handshake with a JWT. The token may come as
 * `Authorization: Bearer`, in `Sec-WebSocket-Protocol` (what browsers can
 * send), as a query parameter or as a cookie. It is verified against an
 * explicit algorithm allowlist with a remote JWKS, a local JWKS, a PEM public
 * key, shared secrets, or a JWKS and `kid`-bound secrets together, then its
 * claims are checked.
 *
 * - No token: 401 `ERR_JWT_MISSING`, `WWW-Authenticate: Bearer`.
 * - More than one (two places, or one place twice; RFC 6750 §3.1 allows one
 *   method per request): 400 `ERR_JWT_AMBIGUOUS`, `error="invalid_request"`,
 *   before either is verified.
 * - A bad token: 401 with `error="invalid_token"` and one of
 *   `ERR_JWT_MALFORMED`, `ERR_JWT_SIGNATURE_INVALID`, `ERR_JWT_EXPIRED`,
 *   `ERR_JWT_NOT_YET_VALID`, `ERR_JWT_CLAIM_INVALID`,
 *   `ERR_JWT_ALGORITHM_NOT_ALLOWED`, `ERR_JWT_KEY_UNKNOWN`.
 * - A genuine token without a required claim or scope: 403
 *   `ERR_JWT_INSUFFICIENT_SCOPE`, `error="insufficient_scope"`.
 * - The key set cannot be fetched: 503 `ERR_JWKS_UNAVAILABLE`.
 *
 * On success the payload is `c.get('jwtPayload')`, the token's `exp` (plus
 * `clockTolerance`) becomes the connection's end (`connectionExpiresAt`), chosen claims go to the
 * origin as headers, and the token itself is removed from every place it may
 * travel in, unless `forwardToken` is set.
 *
 * @throws TypeError when the options are wrong (no key source, empty or unknown `algorithms`, `none`, a secret with an asymmetric algorithm, a kid-less `secret` beside a JWKS, an `oct` key in `jwks` without `allowSymmetricJwks`, …)
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all(
 *   '/chat',
 *   jwtAuth({
 *     jwksUrl: 'https://idp.example/.well-known/jwks.json',
 *     algorithms: ['RS256', 'ES256'],
 *     issuer: 'https://idp.example/',
 *     audience: 'chat',
 *     requiredScopes: ['chat:write'],
 *     forwardClaims: { sub: 'X-Auth-Sub' },
 *   }),
 *   websocket('ws://10.0.0.5:9001'),
 * )
 * // Browser: new WebSocket('wss://gw.example/chat', ['access_token', jwt])
 */
export function jwtAuth(options: JwtAuthOptions): MiddlewareHandler<{ Variables: JwtAuthVariables }> {
  if (typeof options !== 'object' || options === null) throw new TypeError('jwtAuth(): options are required, e.g. { jwksUrl, algorithms }')
  const algorithms = checkAlgorithms(options.algorithms)
  const key = keyResolver(options, algorithms)
  const where = tokenLocations(options)
  const forwardClaims = checkForwardClaims(options.forwardClaims)
  const forgeable = new Set(forwardClaims.map(([, header]) => dashed(header)))
  const requiredClaims = checkNames('requiredClaims', options.requiredClaims)
  const requiredScopes = checkNames('requiredScopes', options.requiredScopes)
  const scopeClaim = options.scopeClaim ?? 'scope'
  if (typeof scopeClaim !== 'string' || !scopeClaim) throw new TypeError('jwtAuth(): scopeClaim must be a claim name')
  const { realm, now } = options
  const forwardToken = options.forwardToken === true
  const closeOnTokenExpiry = options.closeOnTokenExpiry ?? false
  if (typeof closeOnTokenExpiry !== 'boolean') throw new TypeError(`jwtAuth(): closeOnTokenExpiry must be a boolean, got ${String(closeOnTokenExpiry)}`)
  if (realm !== undefined && (typeof realm !== 'string' || !CHALLENGE_VALUE.test(realm))) {
    throw new TypeError('jwtAuth(): realm must be printable ASCII without quotes or backslashes (RFC 6750 §3)')
  }
  if (now !== undefined && typeof now !== 'function') throw new TypeError('jwtAuth(): now must be a function returning ms since the epoch')
  const cacheSize = tokenCacheSize(options.cache)
  const cache = cacheSize === undefined ? undefined : new VerifiedTokenCache(cacheSize)
  const verifierFor = verifierSelection(key, claimChecks(options, algorithms), options, cache)
  // Checked by claimChecks(): a non-negative number of ms.
  const clockTolerance = options.clockTolerance ?? 0
  // The frozen clock is read before the key lookup, as it always was; without one the claim checks read the time themselves.
  const verify = (runtime: GatewayBindings['wsgate'] | undefined, token: string): Promise<Verified> =>
    verifierFor(runtime?.crypto).verified(token, now ? new Date(now()) : undefined)

  const needs = [
    closeOnTokenExpiry && hostNeed('close-frames', 'jwtAuth', 'closeOnTokenExpiry: true'),
    // Asked for by name and not brought along: only a host that injects node:crypto can run it (else a 500 at every request).
    options.verifyWith === 'node:crypto' && options.crypto === undefined && hostNeed('node-crypto', 'jwtAuth', "verifyWith: 'node:crypto'"),
  ]
  return withHostNeeds(withWarnings(async function jwtAuth(c, next) {
    // Under a wsgate runtime the handshake's log line gets a `jwt` field: who, or why not (jose's words, never the token).
    const runtime = (c.env as Partial<GatewayBindings> | undefined)?.wsgate
    const request = c.req.raw
    const tokens = findTokens(request, where)
    if (tokens.length === 0) throw missingToken(realm, where)
    if (tokens.length > 1) {
      // RFC 6750 §3.1: one method per request. Refused before any token is read, so the order and validity of the copies do not matter.
      runtime?.note({ jwt: { sources: tokens.map((token) => token.source) } })
      throw ambiguousToken(realm, tokens, where)
    }
    const found = tokens[0]!
    if (!COMPACT_JWS.test(found.token)) {
      runtime?.note({ jwt: { source: found.source } })
      throw malformedToken(realm, found.source, where)
    }

    let verified: Verified
    try {
      verified = await verify(runtime, found.token)
    } catch (error) {
      const failure = verificationFailure(error, found.token, realm, found.source, where)
      runtime?.note({ jwt: { source: found.source, error: causeText(failure.cause) } })
      throw failure
    }
    const { payload } = verified
    // `cached`: the signature was checked at an earlier handshake (the cache is on and held the token).
    runtime?.note({ jwt: { source: found.source, sub: payload.sub, iss: payload.iss, ...(verified.cached ? { cached: true } : {}) } })

    const absentClaim = requiredClaims.find((claim) => !Object.hasOwn(payload, claim))
    if (absentClaim !== undefined) throw insufficientScope(realm, `token lacks the required "${absentClaim}" claim`, [])
    if (requiredScopes.length > 0) {
      const granted = scopesOf(payload[scopeClaim])
      const absentScopes = requiredScopes.filter((scope) => !granted.has(scope))
      if (absentScopes.length > 0) {
        throw insufficientScope(realm, `token lacks the required scope ${absentScopes.map((s) => `"${s}"`).join(', ')}`, requiredScopes)
      }
    }

    c.set('jwtPayload', payload)
    // The token is stripped below; tell a cache later in the chain that this was an authenticated request.
    c.set('authenticated', true)
    if (typeof payload.exp === 'number') {
      // Another authorisation earlier in the chain may end the connection sooner; keep the earlier end.
      const earlier = c.get('connectionExpiresAt')
      // The token is good until exp plus the tolerance it was accepted with: ending the connection at exp itself
      // would close one accepted within the tolerance at once (1008), and its client would reconnect with the same token.
      // A NumericDate past the last instant a Date holds (exp > 8.64e12, or 1e400 parsed as Infinity) is "never" in practice;
      // held as that last instant, so every later use of the time (the close log line's ISO date) stays valid.
      const expiresAt = Math.min(payload.exp * 1000 + clockTolerance, LATEST_DATE)
      c.set('connectionExpiresAt', earlier === undefined ? expiresAt : Math.min(earlier, expiresAt))
      if (closeOnTokenExpiry) c.set('closeOnConnectionExpiry', true)
    }

    const { url, headers } = stripTokens(request, where)
    if (forwardClaims.length > 0) removeForgeable(headers, forgeable)
    for (const [claim, header] of forwardClaims) {
      const value = Object.hasOwn(payload, claim) ? headerValue(payload[claim]) : undefined
      if (value !== undefined) headers.set(header, value)
    }
    if (forwardToken) headers.set('authorization', `Bearer ${found.token}`)
    replaceRequest(c, { url, headers })

    await next()

    if (found.protocolForm === 'pair') selectMarker(c, where.protocolMarker)
  }, [
    options.requireExpiration === false && 'requireExpiration is false: tokens without exp are accepted and never expire',
    where.sources.includes('cookie') &&
      "the 'cookie' token source is on: browsers send cookies on cross-site handshakes, so keep originCheck() before jwtAuth() on this route",
    forwardToken && 'forwardToken is true: the raw token reaches the origin',
  ]), needs)
}

/**
 * A browser that offered subprotocols fails the connection unless one is
 * selected (RFC 6455 §4.1 leaves it open; browsers are strict). When the
 * token came as the marker pair and the origin selected none, select the
 * marker: the client offered it, and it carries no secret.
 */
function selectMarker(c: Context, marker: string): void {
  const response = c.res
  // Only an upgrade answer has Sec-WebSocket-Accept; a rejection or a relayed origin answer is left alone.
  if (!response.headers.has('sec-websocket-accept') || response.headers.has('sec-websocket-protocol')) return
  try {
    response.headers.set('sec-websocket-protocol', marker)
  } catch {
    // Immutable headers (a response the chain took from elsewhere): answer with a copy.
    const headers = new Headers(response.headers)
    headers.set('sec-websocket-protocol', marker)
    c.res = new Response(response.body, { status: response.status, statusText: response.statusText, headers })
  }
}

function tokenLocations(options: JwtAuthOptions): TokenLocations {
  const sources = options.sources ?? DEFAULT_TOKEN_SOURCES
  if (!Array.isArray(sources) || sources.length === 0) {
    throw new TypeError(`jwtAuth(): sources must be a non-empty array of ${TOKEN_SOURCES.map((s) => `'${s}'`).join(', ')}`)
  }
  for (const source of sources) {
    if (!TOKEN_SOURCES.includes(source)) {
      throw new TypeError(`jwtAuth(): sources holds unknown source ${JSON.stringify(source)}; expected ${TOKEN_SOURCES.join(', ')}`)
    }
  }
  if (new Set(sources).size !== sources.length) throw new TypeError('jwtAuth(): sources lists a source twice')
  const where: TokenLocations = {
    sources: [...sources],
    queryParameter: options.queryParameter ?? DEFAULT_TOKEN_NAME,
    cookie: options.cookie ?? DEFAULT_TOKEN_NAME,
    protocolMarker: options.protocolMarker ?? DEFAULT_TOKEN_NAME,
    protocolPrefix: options.protocolPrefix ?? DEFAULT_PROTOCOL_PREFIX,
  }
  if (typeof where.queryParameter !== 'string' || !where.queryParameter) throw new TypeError('jwtAuth(): queryParameter must be a non-empty string')
  for (const name of ['cookie', 'protocolMarker', 'protocolPrefix'] as const) {
    if (typeof where[name] !== 'string' || !HTTP_TOKEN.test(where[name])) {
      throw new TypeError(`jwtAuth(): ${name} must be an HTTP token (letters, digits, !#$%&'*+-.^_\`|~), got ${JSON.stringify(where[name])}`)
    }
  }
  if (where.protocolMarker.startsWith(where.protocolPrefix)) {
    throw new TypeError('jwtAuth(): protocolMarker must not start with protocolPrefix; the two forms would be indistinguishable')
  }
  return where
}

function checkForwardClaims(forward: Record<string, string> | undefined): [claim: string, header: string][] {
  if (forward === undefined) return []
  if (typeof forward !== 'object' || forward === null) throw new TypeError("jwtAuth(): forwardClaims must map claim names to header names, e.g. { sub: 'X-Auth-Sub' }")
  const entries = Object.entries(forward)
  for (const [claim, header] of entries) {
    if (typeof header !== 'string' || !HTTP_TOKEN.test(header)) {
      throw new TypeError(`jwtAuth(): forwardClaims.${claim} must be a header name, got ${JSON.stringify(header)}`)
    }
    if (RESERVED_HEADERS.test(header)) {
      throw new TypeError(`jwtAuth(): forwardClaims.${claim} may not write ${header}; pick a header of your own, e.g. X-Auth-${claim}`)
    }
  }
  return entries.map(([claim, header]) => [claim, header.toLowerCase()])
}

function checkNames(option: string, names: string[] | undefined): string[] {
  if (names === undefined) return []
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string' && name)) {
    throw new TypeError(`jwtAuth(): ${option} must be an array of non-empty strings`)
  }
  return [...names]
}

/**
 * Removes the client's copies of the `forwardClaims` headers (`forgeable`:
 * their names, dashed), and their spellings with `_` for `-` (`X-Auth_Sub`):
 * CGI, WSGI, Rack and PHP hand an origin both as one `HTTP_X_AUTH_SUB`, so a
 * client's `X_Auth_Sub` would be read as (or joined to) the identity the
 * gateway vouches for.
 */
function removeForgeable(headers: Headers, forgeable: ReadonlySet<string>): void {
  const names: string[] = []
  for (const [name] of headers) if (forgeable.has(dashed(name))) names.push(name)
  for (const name of names) headers.delete(name)
}

/** A lower-case header name with every `_` read as `-`, as a CGI-style origin reads it. */
function dashed(name: string): string {
  return name.includes('_') ? name.replace(/_/g, '-') : name
}

/** Scopes granted by the scope claim: RFC 8693 §4.2's space-separated string, or an array of strings. */
function scopesOf(value: unknown): Set<string> {
  if (typeof value === 'string') return new Set(value.split(' ').filter(Boolean))
  if (Array.isArray(value)) return new Set(value.filter((item): item is string => typeof item === 'string'))
  return new Set()
}

/** The operator's account of a failure: the error's message and, for a failed JWKS fetch, what failed underneath. */
function causeText(cause: unknown): string | undefined {
  if (!(cause instanceof Error)) return cause === undefined ? undefined : String(cause)
  const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : ''
  return `${cause.message}${inner}`
}

/**
 * A claim value that goes to the origin as it is: printable ASCII without
 * `%`, neither starting nor ending with a space. Any other is
 * percent-encoded whole, so that an origin that percent-decodes the header
 * (as it must to read a name beyond ASCII) reads exactly the claim: a claim
 * `%61dmin` sent raw would decode to `admin`, and a header value's edge
 * spaces are trimmed on the way (` admin` would arrive as `admin`).
 */
const VERBATIM_CLAIM = /^(?:[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?)?$/

/** A claim as a header value: strings as they are, the rest as JSON; percent-encoded unless {@link VERBATIM_CLAIM}. */
function headerValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  if (VERBATIM_CLAIM.test(text)) return text
  // A lone surrogate (JSON's "\ud800") has no UTF-8 form: encodeURIComponent would throw; it goes as U+FFFD.
  return encodeURIComponent(text.replace(/\p{Cs}/gu, '\ufffd'))
}

/**
 * Which verifier checks a request's token, from the `node:crypto` injected
 * into the route (`options.crypto`, checked at start) or else into the
 * request's runtime (`GatewayRuntime.crypto`): the synchronous one when
 * there is one, jose's WebCrypto one otherwise. Each is built once (the
 * node one per injected module, in practice one per process) and holds its
 * key caches.
 */
function verifierSelection(
  key: Parameters<typeof tokenVerifier>[0],
  checks: Parameters<typeof tokenVerifier>[1],
  options: Pick<JwtAuthOptions, 'verifyWith' | 'crypto'>,
  cache: VerifiedTokenCache | undefined,
): (injected: NodeCrypto | undefined) => TokenVerifier {
  // One cache for the route whichever verifier runs: both give the same verdicts, and the entry names are the same HMAC.
  const build = (backend: SignatureBackend | undefined, crypto: NodeCrypto | undefined): TokenVerifier => {
    const verifier = tokenVerifier(key, checks, backend, crypto)
    return cache ? cachingVerifier(verifier, key, checks, cache, crypto) : verifier
  }
  const backend = options.verifyWith
  if (backend !== undefined && !SIGNATURE_BACKENDS.includes(backend)) {
    throw new TypeError(`jwtAuth(): verifyWith must be ${SIGNATURE_BACKENDS.map((name) => `'${name}'`).join(' or ')}, got ${JSON.stringify(backend)}`)
  }
  if (options.crypto !== undefined) {
    const crypto = usableNodeCrypto(options.crypto)
    if (!crypto) throw new TypeError("jwtAuth(): crypto must be node:crypto's verify, createHmac, createSecretKey, timingSafeEqual, KeyObject and constants, e.g. nodeCrypto from wsgate/node")
    const fixed = build(backend, crypto)
    return () => fixed
  }
  let web: TokenVerifier | undefined
  let native: { crypto: NodeCrypto; verify: TokenVerifier } | undefined
  return (injected) => {
    if (backend === 'webcrypto' || injected === undefined) {
      if (backend === 'node:crypto') {
        throw new GatewayError(500, 'ERR_INTERNAL', "jwtAuth(): verifyWith 'node:crypto' but nothing injected node:crypto (run under the Node host, or pass crypto: nodeCrypto)")
      }
      return (web ??= build('webcrypto', undefined))
    }
    if (native?.crypto !== injected) {
      const crypto = usableNodeCrypto(injected)
      native = { crypto: injected, verify: build(backend, crypto) }
    }
    return native.verify
  }
}
