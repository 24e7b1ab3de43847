/**
 * The part of `node:crypto` the synchronous verifier uses, found at run time
 * without a static `node:*` import, so this folder still loads on runtimes
 * that have no such module (browsers, Workers without `nodejs_compat`).
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

/** The subset of `node:crypto` used here, typed structurally (importing the types would import `node:crypto`). */
export interface NodeCrypto {
  verify(algorithm: string | null, data: Uint8Array, key: NodeVerifyKey, signature: Uint8Array): boolean
  createHmac(algorithm: string, key: NodeKeyObject): { update(data: Uint8Array): { digest(): Uint8Array } }
  createSecretKey(key: Uint8Array): NodeKeyObject
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean
  readonly KeyObject: { from(key: CryptoKey): NodeKeyObject }
  readonly constants: { readonly RSA_PKCS1_PSS_PADDING: number }
}

/** `process.getBuiltinModule` (Node ≥ 22.3, 20.16), read off `globalThis` so that no Node type or module is needed. */
interface BuiltinModules {
  process?: { getBuiltinModule?: (id: string) => unknown }
}

/**
 * A Node built-in module by its `node:` name, or undefined on a runtime
 * without `process.getBuiltinModule` (or without that module). Never a
 * static import: the portable chain must load everywhere.
 *
 * @example
 * const buffer = builtinModule('node:buffer') // Node: the module; browsers: undefined
 */
export function builtinModule(id: `node:${string}`, host: object = globalThis): unknown {
  try {
    return (host as BuiltinModules).process?.getBuiltinModule?.(id)
  } catch {
    return undefined
  }
}

/**
 * `node:crypto` when this runtime has it with everything the verifier calls,
 * else undefined (then jose's WebCrypto path is used). A runtime that
 * emulates only part of `node:crypto` counts as having none. `host` is the
 * global object to look in (tests pass others).
 *
 * @example
 * const crypto = findNodeCrypto() // Node: node:crypto; Workers without nodejs_compat: undefined
 */
export function findNodeCrypto(host: object = globalThis): NodeCrypto | undefined {
  const found = builtinModule('node:crypto', host)
  if (typeof found !== 'object' || found === null) return undefined
  const candidate = found as Partial<Record<keyof NodeCrypto, unknown>>
  const functions = ['verify', 'createHmac', 'createSecretKey', 'timingSafeEqual'] as const
  if (!functions.every((name) => typeof candidate[name] === 'function')) return undefined
  const keyObject = candidate.KeyObject as { from?: unknown } | undefined
  const constants = candidate.constants as { RSA_PKCS1_PSS_PADDING?: unknown } | undefined
  if (typeof keyObject?.from !== 'function' || typeof constants?.RSA_PKCS1_PSS_PADDING !== 'number') return undefined
  return found as NodeCrypto
}
