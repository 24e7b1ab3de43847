import { DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HEADER_SIZE, DEFAULT_MAX_URI_LENGTH } from '../defaults.ts'
import { ERROR_HEADER, GatewayError } from '../errors.ts'
import { hasToken } from '../headers.ts'
import { assertHostCapabilities, type HostCapability } from '../host-needs.ts'
import { MemoryStore, type LimitStore } from '../limit-store.ts'
import { appendHeaders, parseRequestHead, type RequestHead } from '../request-head.ts'
import { asGatewayError, toErrorResponse, withRequestId } from '../responses.ts'
import type { GatewayBindings } from '../runtime.ts'
import { consoleLogger, type WorkersLogger } from './log.ts'
import { WorkersGatewayRuntime } from './runtime.ts'

/** What a routes module default-exports: a Hono app, or anything with its `fetch` (and, to be checked at start, its `routes`). */
export interface WorkersApp {
  fetch(request: Request, env: GatewayBindings & Record<string, unknown>, executionContext?: unknown): Response | Promise<Response>
  /** Hono's route list, whose handlers carry the host capabilities their settings need. */
  readonly routes?: readonly { method: string; path: string; handler: unknown }[]
}

/**
 * What the Workers host provides of the capabilities route settings may
 * need: none. Cloudflare runs the pipe (no idle or lifetime timer of ours,
 * no close frame of ours, no connection end seen), `fetch()` takes no TLS
 * settings, nothing runs between requests to probe origins, there is no
 * `node:crypto`, and the clock stands still during synchronous work.
 */
export const WORKERS_CAPABILITIES: ReadonlySet<HostCapability> = new Set<HostCapability>()

/** The host's name in a refusal's message. */
const HOST_NAME = 'Cloudflare Workers'

/** `app` checked against what Workers can honour: a route setting it cannot is a start-up error, never ignored. */
function checkedApp(app: WorkersApp): WorkersApp {
  if (app.routes) assertHostCapabilities(app.routes, WORKERS_CAPABILITIES, HOST_NAME)
  return app
}

/** Options of {@link workersGateway}; every one has the Node host's default. */
export interface WorkersGatewayOptions {
  /** Time an origin has to answer the upgrade, ms (routes may set their own). @default 10 s */
  handshakeTimeout?: number
  /**
   * Where `rateLimit()` and route caps count. The default is in memory, per
   * isolate: Cloudflare runs many isolates, so such counts are per isolate,
   * not global (see the README's Workers table).
   * @default a MemoryStore for the isolate
   */
  store?: LimitStore
  /** Longest request-target accepted; beyond it 414. @default 8 KiB */
  maxUriLength?: number
  /** Largest header section accepted; beyond it 431. @default 16 KiB */
  maxHeaderSize?: number
  /** Where log lines go. @default JSON lines on `console.log`, from the `LOG_LEVEL` variable (else `info`) */
  logger?: WorkersLogger
}

/** The module-worker shape Cloudflare calls: `export default workersGateway(app)`. */
export interface WorkersHandler<Env> {
  fetch(request: Request, env: Env, executionContext?: unknown): Promise<Response>
}

/** `request.cf`, as far as the gateway reads it. */
interface CfProperties {
  readonly httpProtocol?: string
}

/**
 * Serves a wsgate app (the same routes module the Node host runs) as a
 * Cloudflare Worker. Each request gets the edge's one head parse (the
 * same refusals and the same normalised path as on Node), then the app's
 * chain with a {@link WorkersGatewayRuntime} in `c.env.wsgate`: a
 * `websocket()` route opens its origin with `fetch()` and answers the
 * origin's 101 with the origin's socket, which Cloudflare then pipes.
 * `app` may be a function of the Worker's `env` (its `[vars]` and
 * bindings), called once per isolate on the first request.
 *
 * A route setting Workers cannot honour (a pipe timer, `closeFrames`,
 * `maxConnections`, origin TLS settings, active health probes, …: see
 * {@link WORKERS_CAPABILITIES}) throws a `HostCapabilityError`
 * (`ERR_HOST_UNSUPPORTED`) naming each one: here for an app, at the first
 * request for a function of `env` (then every request answers 500 until it
 * is fixed, and the error is logged).
 *
 * @example
 * // src/worker.ts, wrangler.toml's `main`
 * import { workersGateway } from 'wsgate/workers'
 * import app from './routes'
 * export default workersGateway(app)
 */
export function workersGateway<Env extends Record<string, unknown>>(
  app: WorkersApp | ((env: Env) => WorkersApp),
  options: WorkersGatewayOptions = {},
): WorkersHandler<Env> {
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT
  const maxUriLength = options.maxUriLength ?? DEFAULT_MAX_URI_LENGTH
  const maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE
  const store = options.store ?? new MemoryStore()
  const ready = typeof app === 'function' ? undefined : checkedApp(app)
  let built: { app: WorkersApp; logger: WorkersLogger } | undefined

  return {
    async fetch(request, env, executionContext) {
      const started = Date.now()
      if (!built) {
        const logger = options.logger ?? consoleLogger(typeof env?.LOG_LEVEL === 'string' ? env.LOG_LEVEL : undefined)
        try {
          built = { app: ready ?? checkedApp((app as (env: Env) => WorkersApp)(env)), logger }
        } catch (error) {
          // Routes that cannot run here (or a factory that failed): every request says so until the Worker is fixed.
          logger.error({ err: error }, 'routes refused')
          return new GatewayError(500, 'ERR_INTERNAL', 'gateway misconfigured: see the log').getResponse()
        }
      }
      const { logger } = built
      const url = new URL(request.url)
      const rawTarget = url.pathname + url.search
      const upgradeValue = request.headers.get('upgrade')
      const upgrade = upgradeValue !== null && hasToken(request.headers.get('connection'), 'upgrade')
      // workerd switches protocols only for an Upgrade of "websocket" alone: offered an upgrade slot for a list
      // ("foo, websocket") or another protocol, websocket() would open the origin's socket for a 101 the platform
      // then turns into a 500. Without the slot it refuses such a handshake (400) before any origin is asked.
      const switchable = upgrade && upgradeValue.toLowerCase() === 'websocket'
      const rawHeaders: [string, string][] = [...request.headers]
      // The platform built the URL from the client's Host; a Request made without one (a test, a service binding) gets the URL's.
      if (!request.headers.has('host')) rawHeaders.unshift(['host', url.host])
      const { version: httpVersion, http } = httpVersionOf(request)
      let head: RequestHead | GatewayError
      try {
        head = parseRequestHead({
          method: request.method,
          target: rawTarget,
          httpVersion,
          rawHeaders: rawHeaders.flat(),
          scheme: url.protocol === 'https:' ? 'https' : 'http',
          upgrade,
          maxUriLength,
          maxHeaderSize,
        })
      } catch (error) {
        head = asGatewayError(error)
      }
      const runtime = new WorkersGatewayRuntime({
        requestId: crypto.randomUUID(),
        clientAddress: request.headers.get('cf-connecting-ip') ?? '',
        httpVersion,
        rawTarget,
        target: head instanceof GatewayError ? undefined : head.target,
        rawHeaders,
        handshakeTimeout,
        limitStore: store,
        upgrade: switchable,
        signal: request.signal,
      })
      // As the Node host's lines say which were HTTP/2 (its own listener's): the client's protocol with Cloudflare.
      if (http) runtime.note({ http })
      let response: Response
      try {
        if (head instanceof GatewayError) throw head
        response = await built.app.fetch(chainRequest(request, head), { ...env, wsgate: runtime }, executionContext)
      } catch (error) {
        response = toErrorResponse(error, logger)
      } finally {
        runtime.end()
      }
      if (logger.isLevelEnabled('info')) logDecision(logger, runtime, upgrade, request.method, head instanceof GatewayError, response, started)
      return withRequestId(response, runtime.requestId)
    },
  }
}

/**
 * The request's one log line, as the Node host writes it: `handshake
 * accepted`/`handshake rejected` for an upgrade, and for a plain request a
 * `websocket()` route refused (it noted its route and answered with an
 * `ERR_HANDSHAKE_*` code: a failed handshake); `request rejected` for a
 * plain request the head parse refused (no path: a refused target may carry
 * anything); else the access line, `request`. The path never has the query
 * (tokens travel there). The access line has no `bytes` and its `ms` ends
 * at the response head: Cloudflare streams the body after the Worker's
 * answer.
 */
function logDecision(logger: WorkersLogger, runtime: WorkersGatewayRuntime, upgrade: boolean, method: string, refusedHead: boolean, response: Response, started: number): void {
  const code = response.headers.get(ERROR_HEADER) ?? undefined
  const { status } = response
  const handshake = upgrade || (runtime.facts.route !== undefined && code?.startsWith('ERR_HANDSHAKE_') === true)
  if (refusedHead && !handshake) {
    logger.info({ client: runtime.clientAddress, method, http: runtime.facts.http, status, code }, 'request rejected')
    return
  }
  const line = {
    reqId: runtime.requestId,
    method: handshake ? undefined : method,
    path: runtime.target?.split('?', 1)[0],
    ...runtime.facts,
    client: runtime.clientAddress,
    status,
    code,
    ms: Date.now() - started,
  }
  if (!handshake) logger.info(line, 'request')
  else logger.info(line, status === 101 ? 'handshake accepted' : 'handshake rejected')
}

/**
 * The HTTP version the head parse and the handshake check read, from
 * `request.cf.httpProtocol` (`HTTP/1.1`; `1.1` where the platform does not
 * say). Cloudflare has already terminated an HTTP/2 or HTTP/3 connection
 * and hands its requests over as parsed ones, so they are read as `1.1`, as
 * the Node host's own HTTP/2 listener reads its streams (else every plain
 * request of a browser on h2 or h3 would get 505). An HTTP/1.0 request stays
 * `1.0`: it may not upgrade (RFC 9110 §7.8).
 */
function httpVersionOf(request: Request): { version: string; http?: '2' | '3' } {
  const protocol = (request as Request & { cf?: CfProperties }).cf?.httpProtocol
  if (protocol === undefined || !protocol.startsWith('HTTP/')) return { version: '1.1' }
  const version = protocol.slice(5)
  if (version === '2' || version === '2.0') return { version: '1.1', http: '2' }
  if (version === '3' || version === '3.0') return { version: '1.1', http: '3' }
  return { version }
}

/** The Request the chain sees: the parsed URL (built from the target, never from Host) and header lines, the body moved over unread. */
function chainRequest(request: Request, head: RequestHead): Request {
  const init: RequestInit = { method: request.method, signal: request.signal, redirect: 'manual' }
  if (request.method !== 'GET' && request.method !== 'HEAD') init.body = request.body
  const chain = new Request(head.url, init)
  // Straight into the Request's own list: a Headers handed to the constructor would be copied, the list built twice.
  appendHeaders(chain.headers, head.headers)
  return chain
}
