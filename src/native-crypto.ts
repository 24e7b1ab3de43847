/**
 * The part of `node:crypto` (and Node's base64url decoder) that jwtAuth's
 * synchronous verifier uses, as a portable interface. The chain never finds
 * it by itself: the Node host injects it (`GatewayRuntime.crypto`, see
 * `wsgate/node`'s `nodeCrypto`), or a route passes it (`jwtAuth({ crypto })`);
 * without it jose's WebCrypto path is used, as on Workers.
 *
 * Why bother: Node runs every `crypto.subtle.verify` as a thread-pool job
 * behind several promises, tens of µs of CPU on top of the OpenSSL verify
 * itself (more than the verify for RS256 and HS256); `node:crypto`'s
 * one-shot `verify` does the same OpenSSL work synchronously.
 */

/** A `node:crypto` KeyObject, as far as the verifier needs one. */
export interface NodeKeyObject {
  readonly type: string
}

/** What `node:crypto`'s `verify` takes as the key: a KeyObject, or one with its RSA-PSS options. */
export type NodeVerifyKey = NodeKeyObject | { key: NodeKeyObject; padding: number; saltLength: number }

/** The subset of `node:crypto` used, typed structurally (importing the types would import `node:crypto`). */
export interface NodeCrypto {
  verify(algorithm: string | null, data: Uint8Array, key: NodeVerifyKey, signature: Uint8Array): boolean
  createHmac(algorithm: string, key: NodeKeyObject): { update(data: Uint8Array): { digest(): Uint8Array } }
  createSecretKey(key: Uint8Array): NodeKeyObject
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean
  readonly KeyObject: { from(key: CryptoKey): NodeKeyObject }
  readonly constants: { readonly RSA_PKCS1_PSS_PADDING: number }
  /**
   * A fast base64url decoder for plain base64url of a decodable length
   * (Node's `Buffer.from(value, 'base64url')`, several times faster than
   * jose's `atob` loop). Optional: without it jose's decoder is used.
   */
  readonly decodeBase64url?: ((value: string) => Uint8Array) | undefined
  /**
   * `node:crypto`'s one-shot `hash` (Node ≥ 20.12), for the origin's
   * `Sec-WebSocket-Accept` check: a native SHA-1 of the 60-byte input is
   * ~0.3 µs where the portable one in sha1.ts takes ~2.5 µs. Optional:
   * without it the portable digest is used.
   */
  readonly hash?: ((algorithm: string, data: string, outputEncoding: 'base64') => string) | undefined
}

/**
 * `candidate` when it has everything the verifier calls, else undefined: a
 * runtime that emulates only part of `node:crypto` counts as having none.
 *
 * @example
 * const crypto = usableNodeCrypto(injected) // undefined: WebCrypto is used
 */
export function usableNodeCrypto(candidate: unknown): NodeCrypto | undefined {
  if (typeof candidate !== 'object' || candidate === null) return undefined
  const found = candidate as Partial<Record<keyof NodeCrypto, unknown>>
  const functions = ['verify', 'createHmac', 'createSecretKey', 'timingSafeEqual'] as const
  if (!functions.every((name) => typeof found[name] === 'function')) return undefined
  const keyObject = found.KeyObject as { from?: unknown } | undefined
  const constants = found.constants as { RSA_PKCS1_PSS_PADDING?: unknown } | undefined
  if (typeof keyObject?.from !== 'function' || typeof constants?.RSA_PKCS1_PSS_PADDING !== 'number') return undefined
  if (found.decodeBase64url !== undefined && typeof found.decodeBase64url !== 'function') return undefined
  if (found.hash !== undefined && typeof found.hash !== 'function') return undefined
  return candidate as NodeCrypto
}
