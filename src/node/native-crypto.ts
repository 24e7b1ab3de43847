import { Buffer } from 'node:buffer'
import crypto from 'node:crypto'
import type { NodeCrypto } from '../native-crypto.ts'

/**
 * `node:crypto`'s one-shot signature checks, its one-shot hash and Node's base64url decoder, as
 * the portable chain takes them (`NodeCrypto`). The Node host injects it into
 * every request's runtime (`c.env.wsgate.crypto`), so `jwtAuth()` verifies
 * synchronously there; pass it as `jwtAuth({ crypto: nodeCrypto })` where no
 * wsgate runtime runs the chain (e.g. `app.request()` in a test).
 *
 * @example
 * app.all('/chat', jwtAuth({ secret, algorithms: ['HS256'], crypto: nodeCrypto }), websocket(origin))
 */
// The portable interface types keys structurally; every key it passes back in is a KeyObject this module made, so the cast holds.
export const nodeCrypto = {
  verify: crypto.verify,
  createHmac: crypto.createHmac,
  createSecretKey: crypto.createSecretKey,
  timingSafeEqual: crypto.timingSafeEqual,
  KeyObject: crypto.KeyObject,
  constants: crypto.constants,
  decodeBase64url: (value: string) => Buffer.from(value, 'base64url'),
  hash: crypto.hash,
} as unknown as NodeCrypto
