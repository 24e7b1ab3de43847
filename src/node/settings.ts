import {
  DEFAULT_CLOSE_GRACE,
  DEFAULT_DRAIN_TIMEOUT,
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
  DEFAULT_MAX_REQUESTS_PER_CLIENT,
  DEFAULT_MAX_URI_LENGTH,
  DEFAULT_PORT,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_RETRY_AFTER,
  DEFAULT_TLS_HTTP2,
  DEFAULT_TLS_PORT,
} from '../defaults.ts'
import { assertLimitStore, type LimitStore } from '../limit-store.ts'
import { assertDuration, assertJitter } from '../limits.ts'
import { adminWarning, resolveAdminSettings, type AdminOptions, type AdminSettings } from './admin/options.ts'
import type { Logger } from './log.ts'
import type { TlsCertificate } from './tls-certificates.ts'

export type { TlsCertificate } from './tls-certificates.ts'
export type { AdminOptions, AdminSettings } from './admin/options.ts'

/**
 * The TLS listener (`wss://`, `https://`), beside the plain one. Give one
 * certificate as `cert` and `key`, or several as `certificates`: each
 * client gets the certificate whose DNS names (subjectAltName, else CN)
 * hold the name it asked for by SNI, a wildcard `*.example.com` standing
 * for one label; the first certificate goes to clients without SNI or
 * with a name none holds. Each PEM is text (a string containing
 * `-----BEGIN`) or a file path. ALPN offers `h2` first, then `http/1.1`;
 * `http2: false` offers `http/1.1` only.
 *
 * @example
 * await serve(app, { port: 'off', tls: { cert: '/etc/wsgate/cert.pem', key: '/etc/wsgate/key.pem', port: 443 } })
 */
export interface TlsOptions {
  /** The certificate (chain, leaf first), PEM text or file path. With `key`; not with `certificates`. */
  cert?: string
  /** The certificate's private key (unencrypted), PEM text or file path. */
  key?: string
  /** Several certificates, picked by SNI; the first is the default. Not with `cert`/`key`. */
  certificates?: readonly TlsCertificate[]
  /** TCP port of the TLS listener; 0 picks a free one. @default 8443 */
  port?: number
  /**
   * Reload when a certificate or key file changes (files given as paths
   * only). `gateway.reloadCertificates()` and the CLI's `SIGHUP` reload
   * either way. @default true
   */
  watch?: boolean
  /**
   * Serve HTTP/2 beside HTTP/1.1 (ALPN `h2`): WebSockets over HTTP/2 (RFC
   * 8441, extended CONNECT with `:protocol = websocket`) run the same
   * handshake chain and pipe as HTTP/1.1 upgrades, and plain requests
   * reach the same routes. A client that offers only `http/1.1`, or no
   * ALPN, is served HTTP/1.1 either way. `false` (`--no-h2`) offers
   * `http/1.1` only: for clients that offer `h2` but speak HTTP/1.1.
   * @default true
   */
  http2?: boolean
}

/** TlsOptions checked, with every default filled in. */
export interface TlsSettings {
  readonly port: number
  /** At least one. */
  readonly certificates: readonly TlsCertificate[]
  /** The option that gave each certificate (`tls`, `tls.certificates[1]`), for error messages. */
  readonly options: readonly string[]
  readonly watch: boolean
  /** Whether ALPN offers `h2` (see {@link TlsOptions.http2}). */
  readonly http2: boolean
}

/** Options of `serve()`: where to listen and the gateway-wide limits. Durations in ms. */
export interface ServeOptions {
  /**
   * TCP port of the plain listener (`ws://`, `http://`); 0 picks a free
   * one; `'off'` serves TLS only (then `tls` is required).
   * @default 8080
   */
  port?: number | 'off'
  /** Address to bind. @default '127.0.0.1' */
  host?: string
  /** Time a client has to send its request headers, and an origin to answer an upgrade. @default 10 s */
  handshakeTimeout?: number
  /**
   * Time a plain HTTP request (any request but a WebSocket handshake) has to
   * arrive in full, head and body: on HTTP/1.1 from its first byte, on
   * HTTP/2 from its header block. A request still arriving then gets 408
   * `ERR_REQUEST_TIMEOUT` and its connection is closed (on HTTP/2 only its
   * stream ends); one whose response has already begun is cut off (the
   * connection closed; on HTTP/2 its stream reset). Its headers alone are
   * bounded by `handshakeTimeout`, which it may not be shorter than.
   * @default 5 min, or `handshakeTimeout` when that is longer
   */
  requestTimeout?: number
  /** Largest request header section, bytes; beyond it 431. @default 16 KiB */
  maxHeaderSize?: number
  /** Longest request-target (path and query), bytes; beyond it 414. @default 8 KiB */
  maxUriLength?: number
  /**
   * Concurrent WebSocket connections (open plus handshaking); beyond it 503
   * `ERR_CONNECTION_LIMIT`. Counted in `store`: with a shared store, across
   * every gateway process using it (the whole fleet holds at most this many).
   * @default 3,000
   */
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
   * Plain HTTP requests (not WebSocket upgrades) one client address, an IPv6
   * client per `ipv6Prefix` network, may have in flight at once in this
   * process, over HTTP/1.1 and HTTP/2 together: from its accepted head until
   * its response has been sent (a streamed body holds its slot to the end)
   * or the client left. Beyond it 429 `ERR_CLIENT_REQUEST_LIMIT` with
   * `Retry-After`, before any middleware runs or any origin is asked. Counts
   * the socket's address: behind a proxy or load balancer every client
   * shares its address, so raise it there. `Infinity` turns the cap off
   * (logged as a warning at start).
   * @default 100
   */
  maxRequestsPerClient?: number
  /**
   * Bits of an IPv6 client address that name one client for the per-client
   * caps (a host usually holds a whole /64); 128 counts every address.
   * @default 64
   */
  ipv6Prefix?: number
  /** `Retry-After` seconds sent with the 503 and with the fair-share caps' 429s (`maxRequestsPerClient`'s too) and 503. @default 5 */
  retryAfter?: number
  /** Close a connection after this long without a byte either way. @default 5 min */
  idleTimeout?: number
  /** Recycle a connection after this long. @default 4 h */
  maxLifetime?: number
  /** Lifetime spread either way, as a fraction. @default 0.05 (±5 %) */
  lifetimeJitter?: number
  /** How long a peer may hold its half of a connection open after the other side ended. @default 5 s */
  halfCloseTimeout?: number
  /**
   * Window over which `gateway.close({ drain: true })` (the CLI: SIGTERM,
   * SIGINT) closes the open connections, one after another at even
   * intervals, so clients do not all reconnect in the same second; the
   * gateway stops once every connection has closed, or this plus
   * `closeGrace` after the drain began. New handshakes and requests get 503
   * `ERR_GATEWAY_DRAINING` meanwhile.
   * @default 30 s
   */
  drainTimeout?: number
  /**
   * After the gateway began to close a connection (idle, lifetime, drain,
   * shutdown, token expiry), how long the peers have to answer its close
   * frames with theirs before both sockets are destroyed. The origin is
   * told first, and the client's close frame waits for the origin's answer
   * (so the origin's replies in flight reach the client) for at most half
   * of it. A drain also waits this long after its window for the last
   * connections to end.
   * @default 5 s
   */
  closeGrace?: number
  /** Where log lines go. @default `createLogger()` (LOG_LEVEL, LOG_PRETTY) */
  logger?: Logger
  /** A TLS listener beside the plain one (see {@link TlsOptions}). @default none: plain only */
  tls?: TlsOptions
  /**
   * Where the connection caps count: `maxConnections`, `maxConnectionsPerClient`
   * and each route's `maxConnections` (`rateLimit()` uses it too when it is
   * shared). In memory, this process only, answered without a round trip; or
   * `redisStore({ url })` to share the caps among processes and hosts
   * (`wsgate start --redis`). The caller owns it: `close()` leaves it open.
   * @default a new `MemoryStore` (per process)
   */
  store?: LimitStore
  /**
   * The admin listener: `/metrics` (Prometheus), `/healthz`, `/readyz` and
   * `/connections`, on a port of its own (see {@link AdminOptions}).
   * @default none: no admin listener
   */
  admin?: AdminOptions
  /**
   * Collect the Prometheus metrics (`gateway.metrics`): counters per
   * handshake decision and per connection end, nothing per message.
   * @default true with `admin`, else false
   */
  metrics?: boolean
}

/** ServeOptions with every default filled in; `tls` is undefined when there is no TLS listener, `admin` without an admin listener. */
export type ServeSettings = Required<Omit<ServeOptions, 'logger' | 'tls' | 'store' | 'admin'>> & {
  tls: TlsSettings | undefined
  store: LimitStore | undefined
  admin: AdminSettings | undefined
}

/** Fills defaults and throws a `TypeError` naming any bad option, so mistakes fail at start. */
export function resolveServeSettings(options: ServeOptions): ServeSettings {
  const settings: ServeSettings = {
    port: options.port ?? DEFAULT_PORT,
    host: options.host ?? DEFAULT_HOST,
    handshakeTimeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
    requestTimeout: options.requestTimeout ?? Math.max(DEFAULT_REQUEST_TIMEOUT, options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT),
    maxHeaderSize: options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
    maxUriLength: options.maxUriLength ?? DEFAULT_MAX_URI_LENGTH,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    retryAfter: options.retryAfter ?? DEFAULT_RETRY_AFTER,
    maxConnectionsPerClient: options.maxConnectionsPerClient ?? shareOf(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_CLIENT_SHARE),
    maxHandshakesPerClient: options.maxHandshakesPerClient ?? DEFAULT_MAX_HANDSHAKES_PER_CLIENT,
    maxHandshakesPerRoute: options.maxHandshakesPerRoute ?? shareOf(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDSHAKES_PER_ROUTE_SHARE),
    maxRequestsPerClient: options.maxRequestsPerClient ?? DEFAULT_MAX_REQUESTS_PER_CLIENT,
    ipv6Prefix: options.ipv6Prefix ?? DEFAULT_IPV6_PREFIX,
    idleTimeout: options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
    maxLifetime: options.maxLifetime ?? DEFAULT_MAX_LIFETIME,
    lifetimeJitter: options.lifetimeJitter ?? DEFAULT_LIFETIME_JITTER,
    halfCloseTimeout: options.halfCloseTimeout ?? DEFAULT_HALF_CLOSE_TIMEOUT,
    drainTimeout: options.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT,
    closeGrace: options.closeGrace ?? DEFAULT_CLOSE_GRACE,
    tls: resolveTls(options.tls),
    // Undefined: the gateway makes its own MemoryStore.
    store: options.store,
    admin: undefined,
    metrics: options.metrics ?? options.admin !== undefined,
  }
  settings.admin = resolveAdminSettings(options.admin, [settings.port, settings.tls?.port])
  if (typeof settings.metrics !== 'boolean') throw new TypeError(`serve(): metrics must be a boolean, got ${String(settings.metrics)}`)
  if (settings.admin && !settings.metrics) throw new TypeError('serve(): admin needs the metrics it serves; leave metrics out or set it to true')
  if (settings.store !== undefined) assertLimitStore(settings.store, 'serve()')
  // Node binds every interface for an empty host: a blank HOST would expose a gateway meant for loopback.
  if (typeof settings.host !== 'string' || settings.host.trim() === '') {
    throw new TypeError(`serve(): host must be an address to bind, e.g. '127.0.0.1' (or '0.0.0.0' for every interface), got ${JSON.stringify(settings.host)}`)
  }
  if (settings.port !== 'off') assertPort('port', settings.port)
  if (settings.port === 'off' && !settings.tls) {
    throw new TypeError("serve(): port is 'off' and there is no tls listener: at least one must listen; give tls: { cert, key } or a port")
  }
  if (settings.tls && settings.tls.port !== 0 && settings.tls.port === settings.port) {
    throw new TypeError(`serve(): tls.port and port are both ${settings.port}; give the TLS listener a port of its own`)
  }
  for (const name of ['handshakeTimeout', 'requestTimeout', 'idleTimeout', 'maxLifetime', 'halfCloseTimeout', 'drainTimeout', 'closeGrace'] as const) {
    assertDuration(name, settings[name], 'serve()')
  }
  // The whole request cannot be due before its headers (Node refuses such a server, and the 408 would lie).
  if (settings.requestTimeout < settings.handshakeTimeout) {
    throw new TypeError(`serve(): requestTimeout (${settings.requestTimeout} ms) is shorter than handshakeTimeout (${settings.handshakeTimeout} ms), which bounds a request's headers alone; give it at least as much`)
  }
  for (const name of ['maxHeaderSize', 'maxUriLength', 'maxConnections', 'retryAfter'] as const) {
    if (!Number.isInteger(settings[name]) || settings[name] < 1) {
      throw new TypeError(`serve(): ${name} must be a positive integer, got ${settings[name]}`)
    }
  }
  assertJitter(settings.lifetimeJitter, 'serve()')
  for (const name of ['maxConnectionsPerClient', 'maxHandshakesPerClient', 'maxHandshakesPerRoute', 'maxRequestsPerClient'] as const) {
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

function assertPort(name: string, port: unknown): void {
  if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65_535) {
    throw new TypeError(`serve(): ${name} must be an integer from 0 to 65535${name === 'port' ? " or 'off'" : ''}, got ${String(port)}`)
  }
}

/** Checks the shape of `tls` (the files themselves are read and checked when the gateway starts). */
function resolveTls(tls: TlsOptions | undefined): TlsSettings | undefined {
  if (tls === undefined) return undefined
  if (typeof tls !== 'object' || tls === null) throw new TypeError('serve(): tls must be an object, e.g. { cert: "cert.pem", key: "key.pem" }')
  const port = tls.port ?? DEFAULT_TLS_PORT
  assertPort('tls.port', port)
  if (tls.watch !== undefined && typeof tls.watch !== 'boolean') throw new TypeError(`serve(): tls.watch must be a boolean, got ${String(tls.watch)}`)
  if (tls.http2 !== undefined && typeof tls.http2 !== 'boolean') throw new TypeError(`serve(): tls.http2 must be a boolean, got ${String(tls.http2)}`)
  const single = tls.cert !== undefined || tls.key !== undefined
  if (single && tls.certificates !== undefined) {
    throw new TypeError('serve(): give tls.cert and tls.key, or tls.certificates, not both')
  }
  const certificates: readonly { cert?: unknown; key?: unknown }[] | undefined = single ? [{ cert: tls.cert, key: tls.key }] : tls.certificates
  if (certificates === undefined) throw new TypeError('serve(): tls needs a certificate: { cert, key } or certificates: [{ cert, key }, …]')
  if (!Array.isArray(certificates) || certificates.length === 0) {
    throw new TypeError('serve(): tls.certificates must be a non-empty array of { cert, key }')
  }
  const options = certificates.map((_, index) => (single ? 'tls' : `tls.certificates[${index}]`))
  certificates.forEach((certificate: { cert?: unknown; key?: unknown } | null, index) => {
    for (const part of ['cert', 'key'] as const) {
      const value = certificate?.[part]
      if (typeof value !== 'string' || value.trim() === '') {
        throw new TypeError(`serve(): ${options[index]}.${part} is missing; give PEM text or the path of a PEM file`)
      }
    }
  })
  return { port, certificates: certificates as TlsCertificate[], options, watch: tls.watch ?? true, http2: tls.http2 ?? DEFAULT_TLS_HTTP2 }
}

/** `share` of a cap, rounded up, at least 1: the default of a cap that is a share of `maxConnections`. */
function shareOf(cap: number, share: number): number {
  return Math.max(1, Math.ceil(cap * share))
}

/**
 * One line per legal but risky setting among `settings`, for `serve()` to
 * log at `warn` before it listens: each fair-share cap turned off, an
 * admin listener beyond loopback without a token.
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
  if (settings.maxRequestsPerClient === Infinity) {
    warnings.push('serve(): maxRequestsPerClient is Infinity: one client address may hold as many plain requests to origins at once as it can open connections and HTTP/2 streams')
  }
  const admin = adminWarning(settings.admin)
  if (admin) warnings.push(admin)
  return warnings
}
