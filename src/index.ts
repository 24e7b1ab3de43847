/**
 * wsgate's portable core: route handlers, the handshake middleware and the
 * types that run on any runtime. The Node host lives in `wsgate/node`.
 * @module
 */
export { websocket, type WebSocketOptions } from './websocket.ts'
export { http, type HttpOptions } from './http.ts'
export { proxy, type ProxyOptions } from './proxy.ts'
export * from './origins/index.ts'
export type { TargetOptions } from './target.ts'
export * from '../middleware/index.ts'
export { cidrMatcher, type CidrMatcher } from './cidr.ts'
export * from './limit-store.ts'
export { withWarnings, type WithWarnings } from './warnings.ts'
export { GatewayError, type GatewayErrorCode, type GatewayErrorOptions } from './errors.ts'
export { validateClientHandshake, validateOriginUpgrade, acceptFor, type ClientHandshake, type HandshakeRequest } from './handshake.ts'
export { replaceRequest, forwardHeaders, type ForwardingVariables, type RequestChanges } from './forward.ts'
export { hasToken, headerTokens, stripHopByHop, HOP_BY_HOP_HEADERS } from './headers.ts'
export * from './defaults.ts'
export type {
  GatewayBindings,
  GatewayRuntime,
  HandshakeNote,
  OriginAnswer,
  OriginRequest,
  OriginTls,
  OriginTunnel,
  PipeLimits,
  PipeSettings,
  UpgradeSlot,
} from './runtime.ts'
