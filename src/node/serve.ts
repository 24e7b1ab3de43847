import type { HttpBindings } from '@hono/node-server'
import cluster from 'node:cluster'
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import type { Registry } from 'prom-client'
import type { GatewayBindings } from '../runtime.ts'
import { startAdmin, type AdminListener, type Readiness } from './admin/index.ts'
import { createLogger } from './log.ts'
import { guardRegExpBacktracking } from './regexp-guard.ts'
import { logMiddlewareReports } from './middleware-reports.ts'
import { startPools } from './pools.ts'
import { spreadOver } from './drain.ts'
import { gatewayListeners, listenerOptions, type ListeningServer } from './listener.ts'
import { GatewayMetrics } from './metrics/index.ts'
import { resolveServeSettings, serveWarnings, type ServeOptions, type ServeSettings } from './settings.ts'
import { TlsCertificates } from './tls-certificates.ts'
import type { FetchApp } from './upgrade.ts'

export type { AdminOptions, ServeOptions, TlsCertificate, TlsOptions } from './settings.ts'
export type { FetchApp } from './upgrade.ts'

/** Env bindings on a Node host: Hono's Node bindings on plain HTTP requests, plus the wsgate runtime. */
export type NodeGatewayBindings = GatewayBindings & Partial<HttpBindings>

/**
 * A running gateway. `url` and `port` are the plain listener's, or the TLS
 * listener's when the plain one is off (`port: 'off'`); `tlsUrl` and
 * `tlsPort` are the TLS listener's, undefined without `tls`.
 *
 * @example
 * const gateway = await serve(app, { port: 8080, tls: { cert: 'cert.pem', key: 'key.pem', port: 8443 } })
 * gateway.url // 'http://127.0.0.1:8080' (ws:// for WebSocket clients)
 * gateway.tlsUrl // 'https://127.0.0.1:8443' (wss://)
 */
export interface Gateway {
  /** `http://host:port` of the plain listener (use `ws://` for WebSocket clients); `https://host:tlsPort` when it is off. */
  readonly url: string
  readonly host: string
  /** The plain listener's port; the TLS listener's when the plain one is off. */
  readonly port: number
  /** `https://host:tlsPort` of the TLS listener (use `wss://` for WebSocket clients); undefined without `tls`. */
  readonly tlsUrl: string | undefined
  /** The TLS listener's port; undefined without `tls`. */
  readonly tlsPort: number | undefined
  /** `http://host:port` of the admin listener (`/metrics`, `/healthz`, `/readyz`, `/connections`); undefined without `admin`. */
  readonly adminUrl: string | undefined
  /**
   * The Prometheus registry of this gateway's metrics (the `wsgate_*`
   * series and the process's default metrics), what the admin listener's
   * `/metrics` renders; undefined when metrics are off. Register your own
   * metrics on it, or serve it from a route of your own with
   * `await gateway.metrics.metrics()`.
   */
  readonly metrics: Registry | undefined
  /** Open WebSocket pipes. */
  readonly connections: number
  /** Every socket the gateway holds, client or origin side; 0 when nothing leaks. */
  readonly openSockets: number
  /**
   * Plain requests (HTTP/1.1 and HTTP/2, not upgrades) holding a slot of
   * their client's `maxRequestsPerClient` now, in this process; 0 once every
   * response has been sent or its client has left (always 0 with the cap off).
   */
  readonly requestsInFlight: number
  /** The effective settings, defaults filled in. */
  readonly settings: Readonly<ServeSettings>
  /**
   * Reads the TLS certificates and keys again and serves them to new
   * connections, without a restart; established connections keep their
   * session. Resolves `true` when the new certificates are served
   * (logged at info with the names), `false` when the reload failed and the
   * current ones stay (logged at warn with the reason) or there is no TLS
   * listener. Never rejects. The CLI calls it on `SIGHUP`.
   */
  reloadCertificates(): Promise<boolean>
  /**
   * Serves `app` from now on: every handshake and plain request whose
   * chain starts after the call goes through its routes; established
   * connections, and requests already in their chain, are untouched. The
   * new app's middleware reports and warnings are logged and its origin
   * pools started (probes at once); the old app's pools are stopped
   * (one both apps share keeps running). Throws a `TypeError` for
   * something that is not an app, and when the gateway is closing. The CLI
   * calls it on `SIGHUP` with the routes module imported again.
   *
   * @example
   * gateway.reloadRoutes((await import(`./routes.ts?reload=${Date.now()}`)).default)
   */
  reloadRoutes(app: FetchApp): void
  /**
   * Stops the gateway. Without options (or `drain: false`) at once: stops
   * listening, drops every connection and resolves when every socket has
   * closed and every connection's end is logged.
   *
   * With `drain: true`: new handshakes and plain requests get 503
   * `ERR_GATEWAY_DRAINING` with `Retry-After` at once, while the listeners
   * keep accepting (so clients, and a load balancer, get that answer rather
   * than a refused connection); the open connections are closed with
   * `pipe.close('drain')`, one after another, spread evenly over
   * `drainTimeout` (oldest first); it resolves once every connection has
   * ended, or `drainTimeout` plus `closeGrace` after the drain began, when
   * whatever is left is dropped. A `close()` without drain during a drain
   * drops what is left at once. The CLI drains on SIGTERM and SIGINT.
   *
   * @example
   * process.once('SIGTERM', () => void gateway.close({ drain: true }).then(() => process.exit(0)))
   */
  close(options?: CloseOptions): Promise<void>
}

/**
 * Options of {@link Gateway.close}.
 *
 * @example
 * await gateway.close({ drain: true }) // 503 to newcomers, open connections closed over drainTimeout
 */
export interface CloseOptions {
  /**
   * Drain: refuse new connections with 503 and close the open ones spread
   * over `drainTimeout`, instead of dropping them all at once.
   * @default false
   */
  drain?: boolean
}

/**
 * Runs a Hono app (or anything with its `fetch`) as a WebSocket gateway on
 * a Node host. Upgrade requests run the app's chain on the raw socket; when
 * `websocket()` accepts, the 101 is written and a raw pipe joins client and
 * origin. Plain HTTP requests go through @hono/node-server.
 *
 * With `tls`, a second listener serves `wss://` and `https://` with the
 * same handling; the chain sees an `https:` URL there (so
 * `normalizeHeaders()` forwards `X-Forwarded-Proto: https`). Its TLS
 * handshake must finish within `handshakeTimeout`, and then the request
 * headers within `handshakeTimeout` too. Bad certificates or keys reject
 * with a `TypeError` naming the option before anything listens.
 *
 * Every request on a connection, the first and each keep-alive one after
 * it, must complete its headers within `handshakeTimeout`, else 408
 * ERR_HANDSHAKE_TIMEOUT and the connection is closed; a keep-alive
 * connection idle between requests is closed after 5 s, or after
 * `handshakeTimeout` when that is shorter.
 *
 * @example
 * const gateway = await serve(app, { port: 8080, idleTimeout: 60_000 })
 * // wss:// beside ws://, two certificates picked by SNI:
 * await serve(app, { tls: { port: 443, certificates: [{ cert: 'a.pem', key: 'a.key' }, { cert: 'b.pem', key: 'b.key' }] } })
 * // … later
 * await gateway.close()
 */
export async function serve(app: FetchApp, options: ServeOptions = {}): Promise<Gateway> {
  const settings = resolveServeSettings(options)
  const logger = options.logger ?? createLogger()
  guardRegExpBacktracking()
  // Certificates first: a bad one fails the start before anything listens.
  const certificates = settings.tls && new TlsCertificates(settings.tls.certificates, logger, settings.tls.options)
  await certificates?.load()
  // A shared limit store connects before the first client (bounded: an unreachable one meets its failOpen).
  await settings.store?.ready?.()
  for (const warning of serveWarnings(settings)) logger.warn(warning)
  const listeners = gatewayListeners(app, settings, logger)
  const { state, sockets } = listeners
  if (settings.metrics) state.metrics = new GatewayMetrics(app)

  const servers: ListeningServer[] = []
  const plain = settings.port === 'off' ? undefined : http.createServer(listenerOptions(settings))
  if (plain) {
    listeners.attach(plain)
    servers.push(plain)
  }
  let secure: https.Server | undefined
  if (certificates) {
    // The TLS handshake gets the same deadline as the request headers. Node's timer restarts only on bytes that
    // reach JavaScript, which a handshake's never do: a client dribbling its ClientHello is closed on time too.
    secure = https.createServer({ ...listenerOptions(settings), ...certificates.serverOptions(settings.tls!.http2), handshakeTimeout: settings.handshakeTimeout })
    certificates.attach(secure)
    listeners.attach(secure, true)
    servers.push(secure)
  }

  logMiddlewareReports(app, logger)
  // Origin pools' probes start before the first client, so a dead origin is known early; close() stops them.
  let stopPools = startPools(app, logger, state.track)
  const host = settings.host
  let port: number | undefined
  let tlsPort: number | undefined
  let admin: AdminListener | undefined
  try {
    if (plain) port = await listen(plain, settings.port as number, host)
    if (secure) tlsPort = await listen(secure, settings.tls!.port, host)
    if (settings.admin) admin = await startAdmin(settings.admin, { metrics: state.metrics!, readiness }, logger)
  } catch (error) {
    stopPools()
    for (const server of servers) server.close()
    throw error
  }
  if (admin) {
    logger.info({ adminUrl: admin.url, token: settings.admin!.token !== undefined }, 'admin listening')
    // Workers share the port through the primary: each admin request reaches one of them (see the README, Operations).
    if (cluster.isWorker) logger.warn({ adminUrl: admin.url }, 'admin listener under --workers: each request reaches one worker, and /metrics and /connections show that worker only')
  }
  if (certificates && settings.tls!.watch) certificates.watch()
  logger.info({ host, port, tlsPort, names: certificates?.names, maxConnections: settings.maxConnections }, 'gateway listening')

  let closing: Promise<void> | undefined
  // Aborted when the drain window plus the close grace has passed, or by a close() without drain.
  const stopDraining = new AbortController()
  const origin = (scheme: string, at: number): string => `${scheme}://${host.includes(':') ? `[${host}]` : host}:${at}`
  return {
    url: port !== undefined ? origin('http', port) : origin('https', tlsPort!),
    host,
    port: port ?? tlsPort!,
    tlsUrl: tlsPort !== undefined ? origin('https', tlsPort) : undefined,
    tlsPort,
    adminUrl: admin?.url,
    metrics: state.metrics?.registry,
    settings,
    get connections() {
      return state.pipes.size
    },
    get openSockets() {
      return sockets.size
    },
    get requestsInFlight() {
      return state.fairShare.requests
    },
    reloadCertificates: () => certificates?.reload() ?? Promise.resolve(false),
    reloadRoutes(next) {
      if (!next || typeof next.fetch !== 'function') throw new TypeError('reloadRoutes() takes a Hono app (an object with fetch()), e.g. the default export of the routes module')
      if (closing) throw new Error('reloadRoutes(): the gateway is closing')
      logMiddlewareReports(next, logger)
      // The new pools probe before the swap; a pool both apps share keeps running (pools count their starts).
      const stopOld = stopPools
      stopPools = startPools(next, logger, state.track)
      state.app = next
      state.metrics?.useApp(next)
      stopOld()
    },
    close(options = {}) {
      if (!closing) {
        stopPools()
        certificates?.close()
        closing = options.drain ? drain() : shutdown()
      } else if (!options.drain) {
        // A close without drain during a drain: what is left is dropped now.
        stopDraining.abort()
      }
      return closing
    },
  }

  /** Drops every connection, stops listening, and resolves when every socket has closed and every pipe has ended. */
  async function shutdown(): Promise<void> {
    const closed = Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
    for (const pipe of state.pipes) pipe.close('shutdown')
    for (const server of servers) server.closeAllConnections()
    await listeners.destroySockets()
    // A pipe ends (and logs its connection-end line) once both of its sockets have closed.
    await listeners.whenNoPipes()
    await closed
    await admin?.close()
    logger.info({ host, port, tlsPort }, 'gateway closed')
  }

  /** `GET /readyz`: listening, not draining, and every pooled route with an origin up. */
  function readiness(): Readiness {
    const listening = servers.every((server) => server.listening)
    const routesWithoutOrigin = state.metrics!.routesWithoutOrigin()
    const { draining } = state
    return { ready: listening && !draining && routesWithoutOrigin.length === 0, listening, draining, routesWithoutOrigin }
  }

  /**
   * Refuses new connections, closes the open ones spread over the drain
   * window, waits for every socket to close up to the window plus the close
   * grace, then drops what is left through shutdown().
   */
  async function drain(): Promise<void> {
    const { drainTimeout, closeGrace } = settings
    const started = performance.now()
    listeners.beginDrain()
    const open = [...state.pipes]
    logger.info({ connections: open.length, handshaking: state.handshaking, drainTimeout, closeGrace }, 'gateway draining')
    const deadline = setTimeout(() => stopDraining.abort(), drainTimeout + closeGrace)
    const aborted = new Promise<void>((resolve) => stopDraining.signal.addEventListener('abort', () => resolve(), { once: true }))
    await spreadOver(open, drainTimeout, (pipe) => state.pipes.has(pipe) && pipe.close('drain'), stopDraining.signal)
    await Promise.race([listeners.whenNoPipes(), aborted])
    // Keep-alive connections that finished a request during the drain are idle now; handshakes in flight end with
    // 503 (or their timeout), refused clients close: then no socket is left.
    listeners.closeIdleConnections()
    await Promise.race([listeners.whenNoSockets(), aborted])
    clearTimeout(deadline)
    const fields = { ms: Math.round(performance.now() - started), connections: state.pipes.size, sockets: listeners.sockets.size }
    if (stopDraining.signal.aborted) logger.warn(fields, 'gateway drain cut short; dropping what is left')
    else logger.info(fields, 'gateway drained')
    await shutdown()
  }
}

/** Starts `server` listening and resolves with its port; rejects when it cannot (EADDRINUSE, EACCES). */
async function listen(server: ListeningServer, port: number, host: string): Promise<number> {
  server.listen(port, host)
  await once(server, 'listening')
  const address = server.address()
  return typeof address === 'object' && address ? address.port : port
}
