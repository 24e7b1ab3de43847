/**
 * The handshake middleware: each is a factory taking an options object and
 * returning Hono middleware that runs only at handshake time, in any order,
 * on any route. Portable: Web-standard Request/Headers, Hono, jose.
 * @module
 */
export { normalizeHeaders, type NormalizeHeadersOptions } from './normalize-headers.ts'
export { originCheck, type OriginCheckOptions } from './origin-check.ts'
export { cacheBypass, type CacheBypassOptions } from './cache-bypass.ts'
export { cache, type CacheOptions, type CacheStatus } from './cache.ts'
export {
  jwtAuth,
  DEFAULT_PROTOCOL_PREFIX,
  DEFAULT_TOKEN_NAME,
  DEFAULT_TOKEN_SOURCES,
  type JwtAuthOptions,
  type JwtAuthVariables,
  type TokenSource,
} from './jwt-auth/index.ts'
export { rateLimit, type RateLimitKey, type RateLimitOptions } from './rate-limit.ts'
export {
  waf,
  formatReport,
  type CrsDirectory,
  type CrsFileSystem,
  type CrsFiles,
  type CustomRuleFunction,
  type WafEvaluation,
  type HandshakeFacts,
  type RuleMatch,
  type UnsupportedItem,
  type WafCustomRule,
  type WafMiddleware,
  type WafOptions,
  type WafReport,
  type WafRuleObject,
  type WafStats,
  type WafVariables,
  type WafVerdict,
} from './waf/index.ts'
