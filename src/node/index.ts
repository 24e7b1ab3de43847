/**
 * wsgate's Node host: `serve()` runs a routes app with the upgrade path and
 * the raw pipe; the rest are its building blocks and helpers.
 * @module
 */
export { serve, type CloseOptions, type FetchApp, type Gateway, type NodeGatewayBindings, type ServeOptions } from './serve.ts'
export type { AdminOptions, AdminSettings, ServeSettings, TlsCertificate, TlsOptions, TlsSettings } from './settings.ts'
export { GatewayMetrics, ruleFamily, type ConnectionInfo, type ConnectionPage } from './metrics/index.ts'
export { adminApp, type AdminSource, type Readiness } from './admin/index.ts'
export { redisStore, RedisStore, type RedisStoreOptions } from './redis-store.ts'
export { createLogger, flushLogger, type Logger, type LoggerOptions } from './log.ts'
export { startEchoOrigin, type EchoOrigin, type EchoOriginOptions } from './echo-origin.ts'
export type { CloseCause, PipeSummary } from './pipe.ts'
export { nodePoolHost, startPools } from './pools.ts'
export { nodeCrypto } from './native-crypto.ts'
export { probeOrigin, type ProbeHooks } from './origin/probe.ts'
export { crsDirectory, readCrs } from './crs-directory.ts'
