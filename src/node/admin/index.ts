/**
 * The admin listener: a plain HTTP server of its own, apart from the traffic
 * ports, serving the admin API ({@link adminApp}).
 * @module
 */
import { getRequestListener } from '@hono/node-server'
import { once } from 'node:events'
import http from 'node:http'
import type { Logger } from '../log.ts'
import { adminApp, type AdminSource } from './app.ts'
import type { AdminSettings } from './options.ts'
import { boundedPipelining } from './pipelining.ts'

export { adminApp, adminRoutes, adminToken, LOG_LEVELS, type AdminSource, type Readiness } from './app.ts'
export { adminWarning, resolveAdminSettings, type AdminOptions, type AdminSettings } from './options.ts'

/**
 * Most connections the admin listener holds at once; a connection past it
 * is closed as soon as it is accepted. Prometheus, probes and a few
 * dashboards use a handful; without a cap, anyone who reaches the port
 * (before any token is checked) could hold open connections until the
 * process runs out of file descriptors, and the traffic ports with it.
 */
const MAX_ADMIN_CONNECTIONS = 64

/**
 * Most requests one admin connection may have unanswered at once: browsers,
 * Prometheus and curl send one at a time; a client pipelining more than this
 * without reading the answers loses its connection (see pipelining.ts).
 */
const MAX_UNANSWERED_PER_CONNECTION = 8

/** A running admin listener. */
export interface AdminListener {
  /** `http://host:port`. */
  readonly url: string
  readonly port: number
  /** Stops listening and drops its connections; resolves once the server has closed. */
  close(): Promise<void>
}

/**
 * Starts the admin listener of `settings` on `source`; rejects when it
 * cannot listen (EADDRINUSE, EACCES). Requests that fail inside a handler
 * are logged and answered 500.
 *
 * @example
 * const admin = await startAdmin({ port: 9090, host: '127.0.0.1', token: undefined }, source, logger)
 * admin.url // 'http://127.0.0.1:9090'
 */
export async function startAdmin(settings: AdminSettings, source: AdminSource, logger: Logger): Promise<AdminListener> {
  const app = adminApp({ ...source, logger: source.logger ?? logger }, { token: settings.token })
  app.onError((error, c) => {
    logger.error({ err: error, path: c.req.path }, 'admin request failed')
    return c.json({ error: 'internal error' }, 500)
  })
  const server = http.createServer(boundedPipelining(getRequestListener(app.fetch), MAX_UNANSWERED_PER_CONNECTION))
  server.maxConnections = MAX_ADMIN_CONNECTIONS
  server.listen(settings.port, settings.host)
  // Rejects with the server's 'error' (EADDRINUSE, EACCES) when it cannot listen.
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : settings.port
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
