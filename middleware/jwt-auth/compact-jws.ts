/**
 * The JWS Compact Serialization (RFC 7515 §7.1) taken apart and its
 * protected header checked, for the synchronous verifier. Every check, its
 * order and its error (class and message) are jose's (`lib/jws_verify.js`,
 * `lib/validate.js`, v6), so a token gets the same verdict on either path;
 * the differential test holds the two together.
 */
import { base64url, errors, type CompactJWSHeaderParameters, type JWSHeaderParameters } from 'jose'

/** A compact JWS whose header passed the checks that come before any key is looked up. */
export interface CompactJws {
  /** The parsed protected header, as handed to the key resolver. */
  readonly header: CompactJWSHeaderParameters
  /** The header's `alg`: a non-empty string on the allowlist. */
  readonly alg: string
  /** False for an unencoded payload (RFC 7797 `b64: false`), which a JWT may not use. */
  readonly b64: boolean
  /** The three parts as they came (base64url text). */
  readonly encodedHeader: string
  readonly encodedPayload: string
  readonly encodedSignature: string
}

/** RFC 7515 §4.1.11: header parameters jose understands when a token lists them in `crit`. */
const RECOGNIZED_CRITICAL: Readonly<Record<string, true>> = { __proto__: null, b64: true } as unknown as Record<string, true>

/** jose decodes text with a fatal decoder (invalid UTF-8 is an error, not U+FFFD); a leading BOM is dropped. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The signing input is ASCII, so its UTF-8 bytes are its characters. */
const ascii = new TextEncoder()

/** Base64url without padding, whitespace or other characters (RFC 7515 §2): what every real token part is. */
const PLAIN_BASE64URL = /^[A-Za-z0-9_-]*$/

/** A fast base64url decoder a runtime injected (`NodeCrypto.decodeBase64url`), or undefined for jose's. */
export type FastBase64url = ((value: string) => Uint8Array) | undefined

/**
 * Splits a compact JWS and checks its protected header: JSON object,
 * `crit`, `b64`, `alg` present and on the allowlist (so `none` and anything
 * unlisted is refused before a key is touched).
 *
 * @throws jose's `JWSInvalid`, `JOSENotSupported` or `JOSEAlgNotAllowed`, as `jwtVerify` would
 */
export function parseCompactJws(token: string, allowed: ReadonlySet<string>, fast?: FastBase64url): CompactJws {
  const { 0: encodedHeader, 1: encodedPayload, 2: encodedSignature, length } = token.split('.')
  if (length !== 3) throw new errors.JWSInvalid('Invalid Compact JWS')
  const header = parseHeader(encodedHeader!, fast)
  const b64 = payloadEncoded(header, criticalParameters(header))
  const { alg } = header
  if (typeof alg !== 'string' || !alg) throw new errors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid')
  if (!allowed.has(alg)) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed')
  // jose encodes an unencoded payload here, before it looks for a key.
  if (!b64 && !isAscii(encodedPayload!)) throw new errors.JWSInvalid('JWS Compact Serialization payload must use only ASCII characters', { cause: nonAscii() })
  return { header: header as CompactJWSHeaderParameters, alg, b64, encodedHeader: encodedHeader!, encodedPayload: encodedPayload!, encodedSignature: encodedSignature! }
}

/**
 * The bytes the signature covers: `header.payload` as ASCII (RFC 7515 §5.2).
 * @throws `JWSInvalid` when the payload holds characters beyond ASCII
 */
export function signingInput(jws: CompactJws): Uint8Array {
  if (jws.b64 && !isAscii(jws.encodedPayload)) throw new errors.JWSInvalid('The payload is not a valid base64url string', { cause: nonAscii() })
  return ascii.encode(`${jws.encodedHeader}.${jws.encodedPayload}`)
}

/**
 * A base64url part decoded as jose decodes it (same leniency, same failures).
 * @throws `JWSInvalid` "Failed to base64url decode the <label>"
 */
export function decodePart(value: string, label: 'signature' | 'payload', fast?: FastBase64url): Uint8Array {
  try {
    return decodeBase64url(value, fast)
  } catch (cause) {
    throw new errors.JWSInvalid(`Failed to base64url decode the ${label}`, { cause })
  }
}

/** UTF-8 bytes to text the way jose reads a header or claims set. */
export function utf8(bytes: Uint8Array): string {
  return strictUtf8.decode(bytes)
}

/** jose's `isObject`: a plain object (JSON arrays and primitives are not). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.prototype.toString.call(value) !== '[object Object]') return false
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === null || Object.getPrototypeOf(prototype) === null
}

function parseHeader(encoded: string, fast: FastBase64url): JWSHeaderParameters {
  let parsed: unknown
  try {
    parsed = JSON.parse(utf8(decodeBase64url(encoded, fast)))
  } catch (cause) {
    throw new errors.JWSInvalid('JWS Protected Header is invalid', { cause })
  }
  if (!isPlainObject(parsed)) throw new errors.JWSInvalid('JWS Protected Header is invalid')
  return parsed as JWSHeaderParameters
}

/** RFC 7515 §4.1.11 `crit`: a non-empty list of non-empty names, each understood and present. */
function criticalParameters(header: JWSHeaderParameters): readonly string[] {
  const { crit } = header
  if (crit === undefined) return []
  if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== 'string' || name.length === 0)) {
    throw new errors.JWSInvalid('"crit" (Critical) Header Parameter MUST be an array of non-empty strings when present')
  }
  for (const name of crit as string[]) {
    if (!(name in RECOGNIZED_CRITICAL)) throw new errors.JOSENotSupported(`Extension Header Parameter "${name}" is not recognized`)
    if (!Object.hasOwn(header, name) || header[name] === undefined) throw new errors.JWSInvalid(`Extension Header Parameter "${name}" is missing`)
  }
  return crit as string[]
}

/** RFC 7797 §3: `b64` counts only when it is listed in `crit`, and must then be a boolean. */
function payloadEncoded(header: JWSHeaderParameters, critical: readonly string[]): boolean {
  if (!critical.includes('b64')) return true
  if (typeof header.b64 !== 'boolean') throw new errors.JWSInvalid('The "b64" (base64url-encode payload) Header Parameter must be a boolean')
  return header.b64
}

/** Base64url to bytes exactly as jose's `base64url.decode` does it, through Node's decoder when that gives the same bytes. */
/**
 * Decodes as jose does. The injected fast decoder (Node's) is lenient where
 * `atob` is not, so it is used only on plain base64url of a decodable
 * length, where the two give the same bytes; anything else goes to jose's.
 */
function decodeBase64url(value: string, fast: FastBase64url): Uint8Array {
  // A length of 4n+1 characters cannot be decoded; atob refuses it, Node's decoder would drop the last character.
  if (fast && value.length % 4 !== 1 && PLAIN_BASE64URL.test(value)) return fast(value)
  return base64url.decode(value)
}

function isAscii(text: string): boolean {
  return !/[^\x00-\x7f]/.test(text)
}

/** The cause jose attaches (its ASCII encoder's error), so the log line reads the same. */
function nonAscii(): TypeError {
  return new TypeError('non-ASCII string encountered in encode()')
}
