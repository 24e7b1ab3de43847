/**
 * wsgate's portable core: route handlers, the handshake middleware and the
 * types that run on any runtime. The Node host lives in `wsgate/node`.
 *
 * Every name is listed, here or in the barrel of the subpath re-exported
 * whole (`wsgate/origins`, the middleware's), so these lists are the public
 * surface; no module here has a side effect at import (`"sideEffects": false`):
 * a bundle keeps only what it uses, e.g. `websocket()` and `jwtAuth()`
 * without the WAF. Each middleware is also its own subpath
 * (`wsgate/jwt-auth`, `wsgate/waf`, …; see package.json "exports").
 * @module
 */
export { websocket, type WebSocketOptions } from './websocket.ts'
export { http, type HttpOptions } from './http.ts'
export { proxy, type ProxyOptions } from './proxy.ts'
// The pools' and the middleware's names are listed in their own barrels, each the list of its subpath.
export * from './origins/index.ts'
export type { TargetOptions } from './target.ts'
export * from '../middleware/index.ts'
export { cidrMatcher, type CidrMatcher } from './cidr.ts'
export {
  MemoryStore,
  isPending,
  assertLimitStore,
  releaseQuietly,
  type ConsumeResult,
  type LimitStore,
  type MaybePromise,
  type MemoryStoreOptions,
  type RateLimitStore,
  type TokenBucket,
} from './limit-store.ts'
export { withWarnings, type WithWarnings } from './warnings.ts'
export {
  assertHostCapabilities,
  hostNeed,
  hostNeedsOf,
  unmetHostNeeds,
  withHostNeeds,
  HostCapabilityError,
  HOST_CAPABILITIES,
  type HostCapability,
  type HostCapabilityInfo,
  type HostNeed,
  type UnmetHostNeed,
} from './host-needs.ts'
export { GatewayError, type GatewayErrorCode, type GatewayErrorOptions } from './errors.ts'
export { validateClientHandshake, validateOriginUpgrade, acceptFor, type ClientHandshake, type HandshakeRequest } from './handshake.ts'
export { replaceRequest, forwardHeaders, type ForwardingVariables, type RequestChanges } from './forward.ts'
export { hasToken, headerTokens, stripHopByHop, HOP_BY_HOP_HEADERS } from './headers.ts'
export {
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_LIFETIME,
  DEFAULT_LIFETIME_JITTER,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_KEEP_ALIVE_TIMEOUT,
  DEFAULT_HEADERS_CHECK_INTERVAL,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_CLIENT_SHARE,
  DEFAULT_MAX_HANDSHAKES_PER_CLIENT,
  DEFAULT_MAX_REQUESTS_PER_CLIENT,
  DEFAULT_MAX_HANDSHAKES_PER_ROUTE_SHARE,
  DEFAULT_IPV6_PREFIX,
  DEFAULT_MAX_HEADER_SIZE,
  DEFAULT_MAX_URI_LENGTH,
  DEFAULT_RETRY_AFTER,
  DEFAULT_HALF_CLOSE_TIMEOUT,
  DEFAULT_CLOSE_GRACE,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_ORIGIN_WEIGHT,
  DEFAULT_ORIGIN_PRIORITY,
  DEFAULT_ORIGIN_RETRIES,
  DEFAULT_PROBE_PATH,
  DEFAULT_PROBE_INTERVAL,
  DEFAULT_PROBE_TIMEOUT,
  DEFAULT_PROBE_EXPECT,
  DEFAULT_PROBE_FALL,
  DEFAULT_PROBE_RISE,
  DEFAULT_ORIGIN_COOLDOWN,
  DEFAULT_PORT,
  DEFAULT_HOST,
  DEFAULT_TLS_PORT,
  DEFAULT_CERTIFICATE_RELOAD_DELAY,
  DEFAULT_CACHE_MAX_SIZE,
  DEFAULT_CACHE_MAX_ENTRY_SIZE,
  DEFAULT_JWKS_CACHE_MAX_AGE,
  DEFAULT_JWKS_COOLDOWN,
  DEFAULT_JWKS_TIMEOUT,
  DEFAULT_RATE_LIMIT_BURST,
  DEFAULT_RATE_LIMIT_REFILL_PER_SECOND,
  DEFAULT_RATE_LIMIT_MAX_KEYS,
  DEFAULT_STORE_LEASE_TTL,
  DEFAULT_STORE_TIMEOUT,
  DEFAULT_STORE_KEY_PREFIX,
  DEFAULT_WORKER_RESTART_BACKOFF,
  DEFAULT_WAF_PARANOIA,
  DEFAULT_WAF_THRESHOLD,
  DEFAULT_WAF_BUDGET,
  DEFAULT_WAF_TEXT_CACHE_ENTRIES,
  DEFAULT_WAF_TEXT_CACHE_BYTES,
  DEFAULT_WAF_TEXT_CACHE_MAX_TEXT,
  DEFAULT_LOG_BUFFER_BYTES,
  DEFAULT_LOG_FILE_BUFFER_BYTES,
  DEFAULT_LOG_MAX_BUFFERED_BYTES,
  DEFAULT_LOG_FLUSH_INTERVAL,
  DEFAULT_LOG_EXIT_FLUSH_TIMEOUT,
  DEFAULT_SEMI_SPACE_MIB,
} from './defaults.ts'
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
