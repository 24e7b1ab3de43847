/**
 * The gateway's Prometheus metrics (prom-client): one {@link GatewayMetrics}
 * per gateway, each with a registry of its own, so that several gateways in
 * one process never add to each other's counts. Counters move once per
 * handshake decision, once per plain HTTP request answered and once per
 * connection end; bytes and open connections are read from the sockets' own
 * counters when scraped. Nothing runs per message.
 * @module
 */
import type { Socket } from 'node:net'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { poolsOf, type OriginPool } from '../../origins/pool.ts'
import type { HandshakeNote } from '../../runtime.ts'
import type { Pipe, PipeEndpoint, PipeSummary } from '../pipe.ts'
import { CounterSeries, HistogramSeries } from './series.ts'
import { blockFamily, isWafBlock } from './waf-family.ts'

export { blockFamily, ruleFamily } from './waf-family.ts'

/**
 * Buckets of `wsgate_handshake_duration_seconds`: from 1 ms (a local origin)
 * to 10 s, the default `handshakeTimeout`, past which no handshake lasts.
 */
const HANDSHAKE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Buckets of `wsgate_connection_duration_seconds`: from 1 s (a refused
 * subprotocol, a reconnect loop) through 5 min (the default `idleTimeout`)
 * to 8 h (twice the default `maxLifetime` of 4 h).
 */
const CONNECTION_BUCKETS = [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 28800]

/**
 * Buckets of `wsgate_http_request_duration_seconds`: from 1 ms (a refusal,
 * a local origin) through 10 s (the default `handshakeTimeout`, which is
 * `http()`'s default `timeout`) to 60 s (a slow upload or download); longer
 * ones (event streams, long downloads) fall in `+Inf`.
 */
const HTTP_REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/**
 * Error codes an origin failure carries: a handshake refused with one of
 * these says the origin of a plain target is not serving (see
 * `wsgate_origin_up`).
 */
const ORIGIN_FAILURES: ReadonlySet<string> = new Set(['ERR_ORIGIN_UNAVAILABLE', 'ERR_ORIGIN_TIMEOUT', 'ERR_ORIGIN_BAD_HANDSHAKE', 'ERR_ORIGIN_TLS', 'ERR_ORIGIN_DOWN'])

/** What a `code` label may hold: a wsgate error code, as `x-wsgate-error` names it. Anything else is `other`. */
const ERROR_CODE = /^ERR_[A-Z0-9_]{1,60}$/

/** One open connection, as `GET /connections` lists it. */
export interface ConnectionInfo {
  /** The request id of the handshake (its log lines' `reqId`, the `x-request-id` header). */
  id: string
  /** The route pattern, e.g. `/chat/:room`. */
  route: string
  /** The origin it is piped to. */
  origin: string
  /** The client's address as the socket sees it. */
  client: string
  /** The JWT `sub` when `jwtAuth()` admitted it. */
  subject?: string
  /** How long it has been open, ms. */
  ageMs: number
  /** Bytes relayed client → origin so far. */
  bytesFromClient: number
  /** Bytes relayed origin → client so far. */
  bytesFromOrigin: number
}

/** One page of the open connections, oldest first. */
export interface ConnectionPage {
  /** Open connections in all. */
  total: number
  connections: ConnectionInfo[]
}

/**
 * What the metrics keep of one open connection: what its listing needs,
 * and each socket's byte counter when the pipe started (the pipe counts
 * from the same point). No handshake object is held.
 */
export interface ConnectionRecord {
  readonly id: string
  readonly route: string
  readonly origin: string
  readonly client: string
  readonly subject: string | undefined
  readonly startedAt: number
  readonly clientWrittenAtStart: number
  readonly originWrittenAtStart: number
  pipe: Pipe<PipeEndpoint> | undefined
}

/** What a connection record is made from, at the moment the pipe starts. */
export interface ConnectionStart {
  id: string
  note: HandshakeNote
  client: string
  /** The client's socket (or HTTP/2 stream endpoint) and the origin's, before the pipe writes to them. */
  clientSocket: Pick<Socket, 'bytesWritten'>
  originSocket: Socket
}

/** Route patterns that stand for every path: middleware mounted on them names no route. */
const CATCH_ALL: ReadonlySet<string> = new Set(['*', '/*'])

/** What is read of a Hono app's router: each match's handlers with their route (`[[handler, route], params]`). */
interface AppRouter {
  match(method: string, path: string): [[[unknown, { path?: unknown } | undefined], unknown][], ...unknown[]]
}

/** The router of a Hono app; undefined for another `fetch` app. */
function routerOf(app: unknown): AppRouter | undefined {
  const router = (app as { router?: { match?: unknown } } | undefined)?.router
  return typeof router?.match === 'function' ? (router as AppRouter) : undefined
}

/** Routes of an app whose handlers carry origin pools, by route pattern. */
function pooledRoutes(app: unknown): Map<string, OriginPool[]> {
  const routes = (app as { routes?: unknown }).routes
  const byRoute = new Map<string, OriginPool[]>()
  if (!Array.isArray(routes)) return byRoute
  for (const route of routes as { path?: unknown; handler?: unknown }[]) {
    const pools = poolsOf(route?.handler)
    if (pools.length === 0 || typeof route.path !== 'string') continue
    const known = byRoute.get(route.path) ?? []
    for (const pool of pools) if (!known.includes(pool)) known.push(pool)
    byRoute.set(route.path, known)
  }
  return byRoute
}

/** The route patterns an app declares (a Hono app's `routes`); empty for another `fetch` app. */
function routePatterns(app: unknown): Set<string> {
  const routes = (app as { routes?: unknown } | undefined)?.routes
  const patterns = new Set<string>()
  if (Array.isArray(routes)) for (const route of routes as { path?: unknown }[]) if (typeof route?.path === 'string') patterns.add(route.path)
  return patterns
}

/** The `code` label of a handshake or a plain request: its error code, `''` without one, `other` for what is not a wsgate code. */
function codeLabel(code: string | null | undefined): string {
  if (!code) return ''
  return ERROR_CODE.test(code) ? code : 'other'
}

/** The JWT subject `jwtAuth()` noted (`note.jwt.sub`), when it is a string. */
function subjectOf(note: HandshakeNote): string | undefined {
  const jwt = note.jwt as { sub?: unknown } | undefined
  return typeof jwt?.sub === 'string' ? jwt.sub : undefined
}

/**
 * What stands, in the close counts, for a close code no endpoint may send
 * (RFC 6455 §7.4: below 1000, 1016–2999, 5000 and up): a client chooses
 * the code of its close frame, and each of 65,536 values would be a series
 * of its own. 0 is itself such a code, so it cannot be taken for a real one.
 */
const INVALID_CLOSE_CODE = 0

/**
 * The close code a close is counted under: the code when RFC 6455 defines
 * or registers it (1000–1015, 1005 included: a close frame without a code)
 * or sets it apart for libraries and applications (3000–4999), else
 * {@link INVALID_CLOSE_CODE}. Two comparisons, once per connection end.
 */
function countedCloseCode(code: number | undefined): number | undefined {
  if (code === undefined || (code >= 1000 && code <= 1015) || (code >= 3000 && code <= 4999)) return code
  return INVALID_CLOSE_CODE
}

/** The `code` label of a close: the close frame's code, `''` when none was seen, `other` for one no endpoint may send. */
function closeCodeLabel(code: number | undefined): string {
  if (code === undefined) return ''
  return code === INVALID_CLOSE_CODE ? 'other' : String(code)
}

/** The labels of a `wsgate_handshakes_total` or `wsgate_http_requests_total` series. */
function statusLabels(route: string, status: number, code: string): { route: string; status: string; code: string } {
  return { route, status: String(status), code }
}

/** The labels of a `wsgate_closes_total` series. */
function closeLabels(route: string, cause: string, code: number | undefined): { route: string; cause: string; code: string } {
  return { route, cause, code: closeCodeLabel(code) }
}

/** A plain target's last handshake, for `wsgate_origin_up`. */
interface PlainOrigin {
  readonly route: string
  readonly origin: string
  up: number
}

/** Bytes of one direction relayed by ended connections, per route. */
interface ByteTotals {
  fromClient: number
  fromOrigin: number
}

/**
 * Process-wide series (prom-client's default process metrics and event-loop
 * lag), made once per process on a registry of their own and shared by
 * every gateway's registry: they describe the process, and each call of
 * `collectDefaultMetrics` would start another event-loop monitor and GC
 * observer that nothing can stop.
 */
let processRegistry: Registry | undefined

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/**
 * One gateway's metrics: a prom-client {@link Registry} holding the
 * `wsgate_*` series and the process's default metrics, fed by the upgrade
 * path once per handshake decision ({@link handshake}) and once per
 * connection start and end, by the plain HTTP path once per request
 * answered ({@link request}), and the open connections' records for the
 * admin API's `/connections`.
 *
 * @example
 * const metrics = new GatewayMetrics(app)
 * // … in the admin listener
 * new Response(await metrics.registry.metrics(), { headers: { 'content-type': metrics.registry.contentType } })
 */
export class GatewayMetrics {
  /** The registry `/metrics` renders: this gateway's series and the process's. */
  readonly registry: Registry
  /** Open connections by request id, in the order they opened. */
  readonly #open = new Map<string, ConnectionRecord>()
  /** Pools of each pooled route, for `wsgate_origin_up` and readiness; replaced with the app ({@link useApp}). */
  #pooled: Map<string, OriginPool[]>
  /** The app's router, for the route of a handshake a middleware refused before `websocket()` noted it. */
  #router: AppRouter | undefined
  /** Plain targets: whether the last handshake that reached each (route, origin) got through, by route then origin. */
  readonly #plainOrigins = new Map<string, Map<string, PlainOrigin>>()
  /** The same records, in the order each (route, origin) was first seen (the export's order). */
  #plainOriginList: PlainOrigin[] = []
  /** Bytes of ended connections, per route. */
  readonly #endedBytes = new Map<string, ByteTotals>()
  // The per-handshake, per-connection and per-request counts: kept here and copied into their metric when scraped (series.ts).
  readonly #handshakes = new CounterSeries<string, number, string>(statusLabels)
  readonly #handshakeDuration = new HistogramSeries('route', HANDSHAKE_BUCKETS)
  readonly #connectionDuration = new HistogramSeries('route', CONNECTION_BUCKETS)
  readonly #closes = new CounterSeries<string, string, number | undefined>(closeLabels)
  readonly #requests = new CounterSeries<string, number, string>(statusLabels)
  readonly #requestDuration = new HistogramSeries('route', HTTP_REQUEST_BUCKETS)
  // Rare (a refusal by waf() or jwtAuth()): counted by prom-client as it comes.
  readonly #wafBlocks: Counter<'route' | 'rule_family'>
  readonly #authFailures: Counter<'route' | 'code'>

  /** `app`: the gateway's app, whose routes' origin pools `wsgate_origin_up` and readiness report. */
  constructor(app: unknown) {
    this.#pooled = pooledRoutes(app)
    this.#router = routerOf(app)
    const own = new Registry()
    const registers = [own]
    const open = this.#open
    new Gauge({
      name: 'wsgate_connections_open',
      help: 'Open WebSocket connections, by route pattern and origin.',
      labelNames: ['route', 'origin'],
      registers,
      collect() {
        // Counted per (route, origin) here, then one set() per series: prom-client's inc() builds and hashes a
        // label object per call, which per open connection made a scrape of 100,000 of them take 30–100 ms.
        const counts = new Map<string, Map<string, number>>()
        for (const record of open.values()) {
          let byOrigin = counts.get(record.route)
          if (byOrigin === undefined) counts.set(record.route, (byOrigin = new Map()))
          byOrigin.set(record.origin, (byOrigin.get(record.origin) ?? 0) + 1)
        }
        this.reset()
        for (const [route, byOrigin] of counts) for (const [origin, open] of byOrigin) this.set({ route, origin }, open)
      },
    })
    const handshakes = this.#handshakes
    new Counter({
      name: 'wsgate_handshakes_total',
      help: 'Handshake decisions, by route pattern (empty when none matched), HTTP status (101 accepted, 499 client left) and wsgate error code.',
      labelNames: ['route', 'status', 'code'],
      registers,
      collect() {
        handshakes.copyTo(this)
      },
    })
    const handshakeDuration = this.#handshakeDuration
    new Histogram({
      name: 'wsgate_handshake_duration_seconds',
      help: 'Time from the upgrade request to its decision, by route pattern.',
      labelNames: ['route'],
      buckets: HANDSHAKE_BUCKETS,
      registers,
      collect() {
        handshakeDuration.copyTo(this)
      },
    })
    const connectionDuration = this.#connectionDuration
    new Histogram({
      name: 'wsgate_connection_duration_seconds',
      help: 'Lifetime of ended WebSocket connections, by route pattern.',
      labelNames: ['route'],
      buckets: CONNECTION_BUCKETS,
      registers,
      collect() {
        connectionDuration.copyTo(this)
      },
    })
    const endedBytes = this.#endedBytes
    new Counter({
      name: 'wsgate_bytes_total',
      help: 'Bytes relayed after the handshake, by route pattern and direction (client_to_origin, origin_to_client); open connections counted up to the scrape.',
      labelNames: ['route', 'direction'],
      registers,
      collect() {
        const totals = new Map<string, ByteTotals>()
        for (const [route, ended] of endedBytes) totals.set(route, { ...ended })
        for (const record of open.values()) {
          if (!record.pipe) continue
          const total = totals.get(record.route) ?? { fromClient: 0, fromOrigin: 0 }
          total.fromClient += record.pipe.origin.bytesWritten - record.originWrittenAtStart
          total.fromOrigin += record.pipe.client.bytesWritten - record.clientWrittenAtStart
          totals.set(record.route, total)
        }
        this.reset()
        for (const [route, total] of totals) {
          this.inc({ route, direction: 'client_to_origin' }, total.fromClient)
          this.inc({ route, direction: 'origin_to_client' }, total.fromOrigin)
        }
      },
    })
    const closes = this.#closes
    new Counter({
      name: 'wsgate_closes_total',
      help: 'Ended WebSocket connections, by route pattern, cause (client, origin, or the gateway\'s: idle, lifetime, drain, shutdown, token-expired, operator) and close code (empty when no close frame was seen, other for a code no endpoint may send).',
      labelNames: ['route', 'cause', 'code'],
      registers,
      collect() {
        closes.copyTo(this)
      },
    })
    this.#wafBlocks = new Counter({
      name: 'wsgate_waf_blocks_total',
      help: 'Handshakes the WAF refused, by route pattern and attack family of the deciding rule (sqli, xss, rce, lfi, rfi, php, java, nodejs, protocol, scanner, …).',
      labelNames: ['route', 'rule_family'],
      registers,
    })
    this.#authFailures = new Counter({
      name: 'wsgate_auth_failures_total',
      help: 'Handshakes refused by jwtAuth(), by route pattern and ERR_JWT_* code.',
      labelNames: ['route', 'code'],
      registers,
    })
    const requests = this.#requests
    new Counter({
      name: 'wsgate_http_requests_total',
      help: 'Plain HTTP requests (not WebSocket upgrades) answered, HTTP/1.1 and HTTP/2: one per request or request rejected log line, by route pattern (empty when none matched), HTTP status (499 client left before the answer) and wsgate error code.',
      labelNames: ['route', 'status', 'code'],
      registers,
      collect() {
        requests.copyTo(this)
      },
    })
    const requestDuration = this.#requestDuration
    new Histogram({
      name: 'wsgate_http_request_duration_seconds',
      help: "Time from a plain HTTP request's accepted head to the end of its response (the access line's ms), by route pattern.",
      labelNames: ['route'],
      buckets: HTTP_REQUEST_BUCKETS,
      registers,
      collect() {
        requestDuration.copyTo(this)
      },
    })
    const pooledNow = (): Map<string, OriginPool[]> => this.#pooled
    const plainOriginsNow = (): PlainOrigin[] => this.#plainOriginList
    new Gauge({
      name: 'wsgate_origin_up',
      help: "1 when an origin is up, else 0, by route pattern and origin: a pool's health as its probes and handshakes judge it; a plain target's last handshake.",
      labelNames: ['route', 'origin'],
      registers,
      collect() {
        this.reset()
        for (const [route, pools] of pooledNow()) {
          for (const pool of pools) for (const origin of pool.status()) this.set({ route, origin: origin.url }, origin.health === 'up' ? 1 : 0)
        }
        for (const { route, origin, up } of plainOriginsNow()) this.set({ route, origin }, up)
      },
    })
    this.registry = Registry.merge([own, processMetrics()])
  }

  /**
   * Counts one handshake decision: the line `logHandshake()` writes. `target`
   * is the request's normalised target (undefined when the head parse refused
   * it), `code` the response's `x-wsgate-error`, `started` the
   * `performance.now()` of the upgrade request.
   */
  handshake(target: string | undefined, note: HandshakeNote, status: number, code: string | null, started: number): void {
    const route = note.route ?? this.#routeOf(target)
    const label = codeLabel(code)
    this.#handshakes.inc(route, status, label)
    this.#handshakeDuration.observe(route, (performance.now() - started) / 1000)
    if (label.startsWith('ERR_JWT_')) this.#authFailures.inc({ route, code: label })
    if (isWafBlock(note.waf)) this.#wafBlocks.inc({ route, rule_family: blockFamily(note.waf) })
    // A pool's health is its own (probes); a plain target is as good as its last handshake.
    if (note.origin === undefined || this.#pooled.has(route)) return
    const up = status === 101 ? 1 : ORIGIN_FAILURES.has(label) ? 0 : undefined
    if (up !== undefined) this.#plainOriginUp(route, note.origin, up)
  }

  /** Notes whether the last handshake to the plain target `origin` of `route` got through; a known one keeps its place. */
  #plainOriginUp(route: string, origin: string, up: number): void {
    let byOrigin = this.#plainOrigins.get(route)
    if (byOrigin === undefined) this.#plainOrigins.set(route, (byOrigin = new Map()))
    const known = byOrigin.get(origin)
    if (known !== undefined) {
      known.up = up
      return
    }
    const record: PlainOrigin = { route, origin, up }
    byOrigin.set(origin, record)
    this.#plainOriginList.push(record)
  }

  /**
   * Counts one plain HTTP request answered: the `request` line the access
   * log writes for it, or the `request rejected` line of one refused before
   * the chain (the head parse, a drain), written or not (below `info`).
   * `target` is the request's normalised target (undefined when the head
   * parse refused it), `code` the response's `x-wsgate-error`, `started`
   * the `performance.now()` the access line's `ms` counts from. The route
   * is the one `http()`/`proxy()` noted, else the pattern the app's router
   * matches (the per-client cap's 429, a middleware's refusal, your own
   * handlers), else `''`.
   *
   * @example
   * metrics.request(runtime.target, 'GET', scope.note, 200, null, started)
   */
  request(target: string | undefined, method: string | undefined, note: HandshakeNote, status: number, code: string | null | undefined, started: number): void {
    const route = note.route ?? this.#routeOf(target, method)
    this.#requests.inc(route, status, codeLabel(code))
    this.#requestDuration.observe(route, (performance.now() - started) / 1000)
  }

  /**
   * The route pattern of a request no `websocket()`, `http()` or `proxy()`
   * noted (a handshake refused by `jwtAuth()`, `waf()`, `rateLimit()` in
   * front of it; a plain request refused before the chain or answered by
   * your own handler): the last route the app's router matches for its
   * method and path that is not a catch-all middleware's; `''` when there
   * is none (a 404) or the app is not a Hono app. The router's own match,
   * once per such request: never the path itself as a label.
   */
  #routeOf(target: string | undefined, method = 'GET'): string {
    if (target === undefined || !this.#router) return ''
    try {
      // Hono answers HEAD with its GET route.
      const [matched] = this.#router.match(method === 'HEAD' ? 'GET' : method, target.split('?', 1)[0]!)
      for (let i = matched.length - 1; i >= 0; i--) {
        const path = matched[i]![0][1]?.path
        if (typeof path === 'string' && !CATCH_ALL.has(path)) return path
      }
    } catch {
      // A router that cannot match this path: no route.
    }
    return ''
  }

  /**
   * A pipe is about to start: its record, with the sockets' byte counters
   * read before the pipe writes anything (the pipe counts from there too).
   * Pass it to {@link connectionOpened} once the pipe exists.
   */
  connectionStarting(start: ConnectionStart): ConnectionRecord {
    const subject = subjectOf(start.note)
    return {
      id: start.id,
      route: start.note.route ?? '',
      origin: start.note.origin ?? '',
      client: start.client,
      subject,
      startedAt: performance.now(),
      clientWrittenAtStart: start.clientSocket.bytesWritten,
      originWrittenAtStart: start.originSocket.bytesWritten,
      pipe: undefined,
    }
  }

  /** The pipe of `record` has started: it is listed and counted as open. */
  connectionOpened(record: ConnectionRecord, pipe: Pipe<PipeEndpoint>): void {
    record.pipe = pipe
    this.#open.set(record.id, record)
  }

  /** The connection of `record` has ended: counts its close, its duration and its bytes. */
  connectionEnded(record: ConnectionRecord, summary: PipeSummary): void {
    this.#open.delete(record.id)
    const { route } = record
    this.#closes.inc(route, summary.closeCause ?? summary.closedBy, countedCloseCode(summary.closeCode))
    this.#connectionDuration.observe(route, summary.durationMs / 1000)
    const bytes = this.#endedBytes.get(route) ?? { fromClient: 0, fromOrigin: 0 }
    bytes.fromClient += summary.bytesFromClient
    bytes.fromOrigin += summary.bytesFromOrigin
    this.#endedBytes.set(route, bytes)
  }

  /**
   * Open connections, oldest first: `limit` of them after skipping `offset`,
   * with the total.
   *
   * @example
   * metrics.connections(0, 100) // { total: 2, connections: [{ id, route, origin, client, subject, ageMs, bytesFromClient, bytesFromOrigin }, …] }
   */
  connections(offset: number, limit: number): ConnectionPage {
    const connections: ConnectionInfo[] = []
    const now = performance.now()
    let index = 0
    for (const record of this.#open.values()) {
      if (index++ < offset) continue
      if (connections.length >= limit) break
      const { pipe } = record
      const info: ConnectionInfo = {
        id: record.id,
        route: record.route,
        origin: record.origin,
        client: record.client,
        ageMs: Math.round(now - record.startedAt),
        bytesFromClient: pipe ? pipe.origin.bytesWritten - record.originWrittenAtStart : 0,
        bytesFromOrigin: pipe ? pipe.client.bytesWritten - record.clientWrittenAtStart : 0,
      }
      if (record.subject !== undefined) info.subject = record.subject
      connections.push(info)
    }
    return { total: this.#open.size, connections }
  }

  /**
   * Closes the open connection whose handshake had request id `id` with
   * `pipe.close('operator')`: close frames with 1001 `closed by the
   * gateway` to both sides (at the TCP level on a route with
   * `closeFrames: false`). False when no open connection has that id.
   */
  closeConnection(id: string): boolean {
    const pipe = this.#open.get(id)?.pipe
    if (!pipe) return false
    pipe.close('operator')
    return true
  }

  /**
   * Reports on `app` from now on: its pooled routes (`wsgate_origin_up`,
   * readiness) and its router (the route of a refused handshake). The
   * gateway calls it when `reloadRoutes()` swaps the app; counts so far are
   * kept.
   *
   * @example
   * metrics.useApp(nextApp)
   */
  useApp(app: unknown): void {
    this.#pooled = pooledRoutes(app)
    this.#router = routerOf(app)
    this.#forgetPlainOriginsOutside(routePatterns(app))
  }

  /**
   * Drops the plain targets' `wsgate_origin_up` of routes `patterns` does not
   * hold: a gauge says how things are now, and a route the reload removed
   * would otherwise report its last handshake's 0 or 1 until a restart (an
   * alert on a down origin firing for a route that no longer exists).
   */
  #forgetPlainOriginsOutside(patterns: ReadonlySet<string>): void {
    for (const route of this.#plainOrigins.keys()) if (!patterns.has(route)) this.#plainOrigins.delete(route)
    this.#plainOriginList = this.#plainOriginList.filter((record) => patterns.has(record.route))
  }

  /** Route patterns whose pools have no origin up (readiness fails while there is one). */
  routesWithoutOrigin(): string[] {
    const down: string[] = []
    for (const [route, pools] of this.#pooled) {
      if (!pools.some((pool) => pool.status().some((origin) => origin.health === 'up'))) down.push(route)
    }
    return down
  }
}
