import {
  DEFAULT_HALF_CLOSE_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_IPV6_PREFIX,
  DEFAULT_LIFETIME_JITTER,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_CLIENT_SHARE,
  DEFAULT_MAX_HANDSHAKES_PER_CLIENT,
  DEFAULT_MAX_HANDSHAKES_PER_ROUTE_SHARE,
  DEFAULT_MAX_HEADER_SIZE,
  DEFAULT_MAX_LIFETIME,
  DEFAULT_MAX_URI_LENGTH,
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
  /** Longest request-target (path and query), bytes; beyond it 414. @default 8 KiB */
  maxUriLength?: number
  /** Concurrent WebSocket connections (open plus handshaking); beyond it 503. @default 3,000 */
  maxConnections?: number
  /**
   * Concurrent WebSocket connections (open plus handshaking) one client
   * address may hold, an IPv6 client per `ipv6Prefix` network; beyond it 429
   * `ERR_TOO_MANY_CONNECTIONS`, so that one client cannot take the whole
   * `maxConnections`. Counts the socket's address: behind a proxy or load
   * balancer every client shares its address, so raise it there.
   * `Infinity` turns the cap off (logged as a warning at start).
   * @default 10 % of `maxConnections`, at least 1 (300 of the default 3,000)
   */
  maxConnectionsPerClient?: number
  /**
   * Handshakes one client address may have in flight at once (from the
   * upgrade request to its answer); beyond it 429 `ERR_TOO_MANY_HANDSHAKES`.
   * `Infinity` turns the cap off (logged as a warning at start).
   * @default 30
   */
  maxHandshakesPerClient?: number
  /**
   * Handshakes of one route (the route pattern `websocket()` matched) waiting
   * for the origin's answer at once; beyond it 503 `ERR_ROUTE_HANDSHAKE_LIMIT`,
   * so that an origin that never answers cannot hold the whole
   * `maxConnections` until its handshakes time out. `Infinity` turns the cap
   * off (logged as a warning at start).
   * @default 10 % of `maxConnections`, at least 1 (300 of the default 3,000)
   */
  maxHandshakesPerRoute?: number
  /**
   * Bits of an IPv6 client address that name one client for the per-client
   * caps (a host usually holds a whole /64); 128 counts every address.
   * @default 64
   */
  ipv6Prefix?: number
  /** `Retry-After` seconds sent with the 503 and with the fair-share caps' 429 and 503. @default 5 */
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
    maxUriLength: options.maxUriLength ?? DEFAULT_MAX_URI_LENGTH,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    retryAfter: options.retryAfter ?? DEFAULT_RETRY_AFTER,
    maxConnectionsPerClient: options.maxConnectionsPerClient ?? shareOf(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_CLIENT_SHARE),
    maxHandshakesPerClient: options.maxHandshakesPerClient ?? DEFAULT_MAX_HANDSHAKES_PER_CLIENT,
    maxHandshakesPerRoute: options.maxHandshakesPerRoute ?? shareOf(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDSHAKES_PER_ROUTE_SHARE),
    ipv6Prefix: options.ipv6Prefix ?? DEFAULT_IPV6_PREFIX,
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
  for (const name of ['maxHeaderSize', 'maxUriLength', 'maxConnections', 'retryAfter'] as const) {
    if (!Number.isInteger(settings[name]) || settings[name] < 1) {
      throw new TypeError(`serve(): ${name} must be a positive integer, got ${settings[name]}`)
    }
  }
  assertJitter(settings.lifetimeJitter, 'serve()')
  for (const name of ['maxConnectionsPerClient', 'maxHandshakesPerClient', 'maxHandshakesPerRoute'] as const) {
    const value = settings[name]
    if (value !== Infinity && !(Number.isInteger(value) && value >= 1)) {
      throw new TypeError(`serve(): ${name} must be a positive integer, or Infinity for no cap, got ${value}`)
    }
  }
  if (!Number.isInteger(settings.ipv6Prefix) || settings.ipv6Prefix < 1 || settings.ipv6Prefix > 128) {
    throw new TypeError(`serve(): ipv6Prefix must be an integer from 1 to 128 (bits), got ${settings.ipv6Prefix}`)
  }
  return settings
}

/** `share` of a cap, rounded up, at least 1: the default of a cap that is a share of `maxConnections`. */
function shareOf(cap: number, share: number): number {
  return Math.max(1, Math.ceil(cap * share))
}

/**
 * One line per legal but risky setting among `settings`, for `serve()` to
 * log at `warn` before it listens: each fair-share cap turned off.
 */
export function serveWarnings(settings: ServeSettings): string[] {
  const warnings: string[] = []
  if (settings.maxConnectionsPerClient === Infinity) {
    warnings.push('serve(): maxConnectionsPerClient is Infinity: one client address may hold every connection of the gateway and lock every other client out')
  }
  if (settings.maxHandshakesPerClient === Infinity) {
    warnings.push('serve(): maxHandshakesPerClient is Infinity: one client address may keep as many handshakes in flight as its connection share allows')
  }
  if (settings.maxHandshakesPerRoute === Infinity) {
    warnings.push('serve(): maxHandshakesPerRoute is Infinity: an origin that never answers may hold the whole connection cap with handshakes until they time out')
  }
  return warnings
}
