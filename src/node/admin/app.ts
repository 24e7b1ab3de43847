import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import { Hono, type MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { Logger } from '../log.ts'
import type { GatewayMetrics } from '../metrics/index.ts'
import { dashboard } from './dashboard.ts'

/** Connections per page of `GET /connections` when `limit` is not given. */
const DEFAULT_PAGE = 100
/** Most connections one page of `GET /connections` returns: a page of 100,000 would be megabytes of JSON built in one go. */
const MAX_PAGE = 1_000
/**
 * Most bytes of a `PUT /log-level` body: `{"level":"silent"}` is 18. The
 * body is read whole before it is parsed, so without a cap one request
 * (from anyone on loopback when no token is set) could make the process
 * hold hundreds of megabytes.
 */
const MAX_LEVEL_BODY = 1_024

/** Whether the gateway should get traffic, and if not why: `GET /readyz`'s body. */
export interface Readiness {
  /** Listening, not draining, and every pooled route has an origin up. */
  ready: boolean
  /** Every traffic listener is listening. */
  listening: boolean
  /** `gateway.close({ drain: true })` (SIGTERM) has begun. */
  draining: boolean
  /** Route patterns whose origin pools have no origin up. */
  routesWithoutOrigin: string[]
}

/** What the admin handlers read from their gateway. */
export interface AdminSource {
  /** The gateway's metrics: the registry `/metrics` renders and the open connections. */
  readonly metrics: GatewayMetrics
  /** The gateway's readiness now. */
  readiness(): Readiness
  /** The gateway's logger, whose level `PUT /log-level` sets; without it `/log-level` is not served. */
  readonly logger?: Logger | undefined
}

/** The levels `PUT /log-level` takes: pino's, most severe first, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/**
 * The admin API's routes, without authentication: `GET /metrics`,
 * `GET /healthz`, `GET /readyz`, `GET /connections`,
 * `DELETE /connections/:id`, and with the source's logger `GET /log-level`
 * and `PUT /log-level`. `GET /` is left free for the dashboard (see
 * {@link adminApp}).
 *
 * @example
 * const app = new Hono()
 * app.route('/', adminRoutes(source))
 */
export function adminRoutes(source: AdminSource): Hono {
  const { metrics } = source
  const routes = new Hono()
  routes.get('/metrics', async () => {
    const { registry } = metrics
    return new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } })
  })
  // Alive: the process answers. Readiness says whether it should get traffic.
  routes.get('/healthz', (c) => c.json({ status: 'alive' }))
  routes.get('/readyz', (c) => {
    const readiness = source.readiness()
    return c.json(readiness, readiness.ready ? 200 : 503)
  })
  routes.get('/connections', (c) => {
    const limit = pageParameter(c.req.query('limit'), DEFAULT_PAGE)
    const offset = pageParameter(c.req.query('offset'), 0)
    if (limit === undefined || limit < 1 || limit > MAX_PAGE) return c.json({ error: `limit must be an integer from 1 to ${MAX_PAGE}` }, 400)
    if (offset === undefined) return c.json({ error: 'offset must be a non-negative integer' }, 400)
    return c.json({ ...metrics.connections(offset, limit), offset, limit })
  })
  routes.delete('/connections/:id', (c) => {
    if (!metrics.closeConnection(c.req.param('id'))) return c.json({ error: 'no open connection has this id' }, 404)
    return c.body(null, 204)
  })
  const { logger } = source
  if (logger) {
    routes.get('/log-level', (c) => c.json({ level: logger.level }))
    // Live, without a restart or a reload: an operator turns on debug lines while a problem shows, and off again.
    // Refused before a byte past the cap is held: by its Content-Length, or while a chunked body is read. The
    // connection closes after the 413, so the rest of the body is not read and dropped on a kept-alive connection.
    const levelBodyLimit = bodyLimit({
      maxSize: MAX_LEVEL_BODY,
      onError: (c) => c.json({ error: `the body must be at most ${MAX_LEVEL_BODY} bytes` }, 413, { connection: 'close' }),
    })
    routes.put('/log-level', levelBodyLimit, async (c) => {
      const level = await requestedLevel(c.req.raw)
      if (level === undefined) return c.json({ error: `send {"level": …} with one of ${LOG_LEVELS.join(', ')}` }, 400)
      const previous = logger.level
      // Said at warn, under whichever of the two levels shows it: before the change when the new level hides warn lines.
      // Not `level`: pino's own field of every line.
      const fields = { logLevel: level, previousLogLevel: previous }
      const hidesWarn = level === 'error' || level === 'fatal' || level === 'silent'
      if (hidesWarn) logger.warn(fields, 'log level changed')
      logger.level = level
      if (!hidesWarn) logger.warn(fields, 'log level changed')
      return c.json({ level, previous })
    })
  }
  return routes
}

/** The level a `PUT /log-level` body names (`{"level":"debug"}`), or undefined when the body is not that. */
async function requestedLevel(request: Request): Promise<(typeof LOG_LEVELS)[number] | undefined> {
  let body: unknown
  try {
    body = await request.json()
  } catch {
    return undefined
  }
  const level = typeof body === 'object' && body !== null ? (body as { level?: unknown }).level : undefined
  return LOG_LEVELS.find((known) => known === level)
}

/** A paging parameter: `fallback` when absent, undefined when not a non-negative integer. */
function pageParameter(value: string | undefined, fallback: number): number | undefined {
  if (value === undefined || value === '') return fallback
  return /^\d{1,9}$/.test(value) ? Number(value) : undefined
}

/** SHA-256 of a string: equal-length inputs for `timingSafeEqual`, whatever the lengths given. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/**
 * Refuses, with 401 and `WWW-Authenticate: Bearer`, every request that does
 * not carry `Authorization: Bearer <token>`. The comparison runs in constant
 * time over SHA-256 digests, so neither the token's bytes nor its length
 * can be guessed from response times.
 *
 * @example
 * app.use('*', adminToken(process.env.WSGATE_ADMIN_TOKEN!))
 */
export function adminToken(token: string): MiddlewareHandler {
  const expected = digest(token)
  return async function adminToken(c, next) {
    const match = /^Bearer +(\S+) *$/i.exec(c.req.header('authorization') ?? '')
    // Digest whatever came (or nothing), so a missing header takes as long as a wrong one.
    if (!timingSafeEqual(digest(match?.[1] ?? ''), expected) || !match) {
      return c.text('admin token required: send Authorization: Bearer <token>\n', 401, { 'www-authenticate': 'Bearer realm="wsgate admin"' })
    }
    await next()
  }
}

/** `Host` without its port (and an IPv6 literal without its brackets), lower-cased. */
function hostName(host: string): string {
  const value = host.trim().toLowerCase()
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']'))
  const colon = value.lastIndexOf(':')
  return colon >= 0 ? value.slice(0, colon) : value
}

/**
 * Refuses, with 421, a request whose `Host` is neither an IP address nor
 * `localhost`: the defence against DNS rebinding for an admin listener
 * without a token. A web page on `evil.example` whose name the attacker
 * re-points at 127.0.0.1 reaches the listener as same-origin, so the
 * browser's CORS checks do not stop it reading `/connections` or sending
 * `DELETE`; its requests still say `Host: evil.example`.
 *
 * @example
 * app.use('*', adminHostCheck())
 */
export function adminHostCheck(): MiddlewareHandler {
  return async function adminHostCheck(c, next) {
    const name = hostName(c.req.header('host') ?? '')
    if (!(isIP(name) || name === 'localhost' || name.endsWith('.localhost'))) {
      return c.text('admin listener: Host must be an IP address or localhost (or set an admin token)\n', 421)
    }
    await next()
  }
}

/**
 * The admin listener's app: without a token, a `Host` check (see
 * {@link adminHostCheck}); `GET /`, the dashboard page ({@link dashboard});
 * then the bearer token check when `token` is set, then {@link adminRoutes}.
 * The page is served without the token: a browser opening it cannot send
 * `Authorization`, and the page holds no data; it takes the token from
 * `/#token=…` (a fragment never reaches the server or its logs) and sends it
 * with every request to the endpoints it polls, which ask for it.
 *
 * @example
 * const app = adminApp(source, { token: 's3cret' })
 * await app.request('/metrics', { headers: { authorization: 'Bearer s3cret' } })
 */
export function adminApp(source: AdminSource, options: { token?: string | undefined } = {}): Hono {
  const app = new Hono()
  // Without a token, only the Host check stands between a rebinding page and the API (with one, the token does).
  if (options.token === undefined) app.use('*', adminHostCheck())
  // Before the token check: the page must load in a browser that has no way to send the token yet.
  app.get('/', dashboard())
  if (options.token !== undefined) app.use('*', adminToken(options.token))
  app.route('/', adminRoutes(source))
  app.notFound((c) => c.json({ error: 'not found' }, 404))
  return app
}
