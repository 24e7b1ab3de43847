import type { Socket } from 'node:net'
import { poolsOf, type OriginChange, type OriginPool, type OriginPoolHost, type PoolTimers } from '../origins/pool.ts'
import type { Logger } from './log.ts'
import { probeOrigin } from './origin/probe.ts'
import type { FetchApp } from './upgrade.ts'

/**
 * The origin pools of an app's routes: every pool a handler carries
 * (`websocket()`, `http()` and `proxy()` attach theirs, see `withPools`),
 * each once. Factories have no runtime to start probes on; `serve()` has,
 * and finds the pools in a Hono app's `routes` (sub-apps mounted with
 * `app.route()` included). A pool used only inside a handler of your own is
 * not found: start it yourself with {@link nodePoolHost}.
 *
 * @example
 * findPools(app).map((pool) => pool.status())
 */
export function findPools(app: FetchApp): OriginPool[] {
  const routes = (app as { routes?: unknown }).routes
  if (!Array.isArray(routes)) return []
  const pools = new Set<OriginPool>()
  for (const route of routes as { handler?: unknown }[]) {
    for (const pool of poolsOf(route?.handler)) pools.add(pool)
  }
  return [...pools]
}

/** Timers that never keep the process alive: probes run while the gateway does, not instead of it. */
const UNREF_TIMERS: PoolTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/**
 * The Node host of a pool: probes with {@link probeOrigin} (sockets counted
 * by `track`), each health change one log line (`origin down` at warn,
 * `origin up` at info, with the origin, its priority, the cause and the
 * reason), unref'd timers.
 *
 * @example
 * pool.start(nodePoolHost(logger, () => {}))
 */
export function nodePoolHost(logger: Logger, track: (socket: Socket) => void): OriginPoolHost {
  return {
    probe: (url, request) => probeOrigin(url, request, { onSocket: track }),
    onChange: (change: OriginChange) => {
      const { origin, priority, health, cause, reason } = change
      const line = { origin, priority, health, cause, reason }
      if (health === 'down') logger.warn(line, 'origin down')
      else logger.info(line, 'origin up')
    },
    timers: UNREF_TIMERS,
  }
}

/**
 * Starts every pool of the app's routes on the Node host (probes begin at
 * once) and returns the function that stops them all, for `gateway.close()`.
 *
 * @example
 * const stopPools = startPools(app, logger, state.track)
 * // … on close
 * stopPools()
 */
export function startPools(app: FetchApp, logger: Logger, track: (socket: Socket) => void): () => void {
  const pools = findPools(app)
  if (pools.length === 0) return () => {}
  const host = nodePoolHost(logger, track)
  for (const pool of pools) pool.start(host)
  let stopped = false
  return () => {
    if (stopped) return
    stopped = true
    for (const pool of pools) pool.stop()
  }
}
