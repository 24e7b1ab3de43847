import {
  DEFAULT_HALF_CLOSE_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_LIFETIME_JITTER,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HEADER_SIZE,
  DEFAULT_MAX_LIFETIME,
  DEFAULT_PORT,
  DEFAULT_RETRY_AFTER,
} from '../defaults.ts'
import { assertDuration, assertJitter } from '../limits.ts'
import type { Logger } from './log.ts'

/** Options of `serve()`: where to listen and the gateway-wide limits. Durations in ms. */
export interface ServeOptions {
  /** TCP port; 0 picks a free one. @default 8080 */
  port?: number
  /** Address to bind. @default '127.0.0.1' */
  host?: string
  /** Time a client has to send its request headers, and an origin to answer an upgrade. @default 10 s */
  handshakeTimeout?: number
  /** Largest request header section, bytes; beyond it 431. @default 16 KiB */
  maxHeaderSize?: number
  /** Concurrent WebSocket connections (open plus handshaking); beyond it 503. @default 3,000 */
  maxConnections?: number
  /** `Retry-After` seconds sent with the 503. @default 5 */
  retryAfter?: number
  /** Close a connection after this long without a byte either way. @default 5 min */
  idleTimeout?: number
  /** Recycle a connection after this long. @default 4 h */
  maxLifetime?: number
  /** Lifetime spread either way, as a fraction. @default 0.05 (±5 %) */
  lifetimeJitter?: number
  /** How long a peer may hold its half of a connection open after the other side ended. @default 5 s */
  halfCloseTimeout?: number
  /** Where log lines go. @default `createLogger()` (LOG_LEVEL, LOG_PRETTY) */
  logger?: Logger
}

/** ServeOptions with every default filled in. */
export type ServeSettings = Required<Omit<ServeOptions, 'logger'>>

/** Fills defaults and throws a `TypeError` naming any bad option, so mistakes fail at start. */
export function resolveServeSettings(options: ServeOptions): ServeSettings {
  const settings: ServeSettings = {
    port: options.port ?? DEFAULT_PORT,
    host: options.host ?? DEFAULT_HOST,
    handshakeTimeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
    maxHeaderSize: options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    retryAfter: options.retryAfter ?? DEFAULT_RETRY_AFTER,
    idleTimeout: options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
    maxLifetime: options.maxLifetime ?? DEFAULT_MAX_LIFETIME,
    lifetimeJitter: options.lifetimeJitter ?? DEFAULT_LIFETIME_JITTER,
    halfCloseTimeout: options.halfCloseTimeout ?? DEFAULT_HALF_CLOSE_TIMEOUT,
  }
  if (!Number.isInteger(settings.port) || settings.port < 0 || settings.port > 65_535) {
    throw new TypeError(`serve(): port must be an integer from 0 to 65535, got ${settings.port}`)
  }
  for (const name of ['handshakeTimeout', 'idleTimeout', 'maxLifetime', 'halfCloseTimeout'] as const) {
    assertDuration(name, settings[name], 'serve()')
  }
  for (const name of ['maxHeaderSize', 'maxConnections', 'retryAfter'] as const) {
    if (!Number.isInteger(settings[name]) || settings[name] < 1) {
      throw new TypeError(`serve(): ${name} must be a positive integer, got ${settings[name]}`)
    }
  }
  assertJitter(settings.lifetimeJitter, 'serve()')
  return settings
}
