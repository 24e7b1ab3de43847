import { COMPOSED_HANDLER } from 'hono/utils/constants'
import { poolsOf } from '../origins/pool.ts'
import type { FetchApp } from './upgrade.ts'

/**
 * What an app's routes are, as the CLI prints them (`wsgate start` on a
 * terminal, `wsgate check`): read from a Hono app's `routes`, in the order
 * they were registered, which is the order they run in.
 */

/** One route of an app, or one group of middleware registered apart from any handler (`app.use()`). */
export interface RouteSummary {
  /** Hono's method: `GET`, …, `ALL` for `app.all()` and `app.use()`. */
  method: string
  /** The route's pattern, e.g. `/chat`, `/api/*`. */
  path: string
  /** The handler that answers (`websocket`, `http`, `proxy`, your own function's name); undefined for middleware alone. */
  handler: string | undefined
  /** The middleware that run before it on this route, in order, by name; a group registered alone (`app.use()`) is all here. */
  middleware: string[]
}

/** Hono's routes, when `app` is a Hono app. */
type HonoRoute = { method?: unknown; path?: unknown; handler?: unknown }

/**
 * The routes of a Hono app (anything else has none): handlers registered
 * together on one method and path (`app.all('/chat', jwtAuth(), websocket(…))`)
 * make one route, the last of them the one that answers. A handler that
 * carries origin pools (websocket(), http(), proxy()) or takes no `next`
 * answers; a group of functions that all take `next` is middleware alone.
 *
 * @example
 * summarizeRoutes(app) // [{ method: 'ALL', path: '/chat', handler: 'websocket', middleware: ['jwtAuth'] }]
 */
export function summarizeRoutes(app: FetchApp): RouteSummary[] {
  const routes = (app as { routes?: unknown }).routes
  if (!Array.isArray(routes)) return []
  const summaries: RouteSummary[] = []
  let group: { method: string; path: string; handlers: unknown[] } | undefined
  const close = (): void => {
    if (!group) return
    const last = group.handlers.at(-1)
    const answers = answersRequest(last)
    summaries.push({
      method: group.method,
      path: group.path,
      handler: answers ? handlerName(last) : undefined,
      middleware: (answers ? group.handlers.slice(0, -1) : group.handlers).map(handlerName),
    })
  }
  for (const route of routes as HonoRoute[]) {
    const method = String(route?.method ?? 'ALL')
    const path = String(route?.path ?? '/')
    if (group && group.method === method && group.path === path && !answersRequest(group.handlers.at(-1))) group.handlers.push(route.handler)
    else {
      close()
      group = { method, path, handlers: [route?.handler] }
    }
  }
  close()
  return summaries
}

/** One route on one line: `ALL /chat jwtAuth() → websocket()`, or `ALL /* normalizeHeaders() (middleware)`. */
export function formatRoute(route: RouteSummary): string {
  const steps = [...route.middleware, ...(route.handler !== undefined ? [route.handler] : [])].map((name) => (name === 'anonymous' ? name : `${name}()`))
  return `${route.method} ${route.path} ${steps.join(' → ')}${route.handler === undefined ? ' (middleware)' : ''}`
}

/** Whether a handler answers the request rather than passing it on: it carries origin pools, or takes no `next`. */
function answersRequest(handler: unknown): boolean {
  const own = unwrapped(handler)
  return typeof own === 'function' && (poolsOf(own).length > 0 || own.length < 2)
}

/** A function's name, looked through the wrapper Hono puts around a sub-app's handlers (`app.route()`); `anonymous` without one. */
function handlerName(handler: unknown): string {
  const own = unwrapped(handler)
  const name = typeof own === 'function' ? own.name.replace(/^bound /, '') : ''
  return name || 'anonymous'
}

/**
 * The handler inside Hono's wrappers: `app.route()` wraps each handler of
 * a sub-app with its own error handler, one level per mounted sub-app.
 *
 * @example
 * unwrapped(app.routes[0].handler).name // 'waf', also when mounted with app.route('/api', api)
 */
export function unwrapped(handler: unknown): unknown {
  let current = handler
  for (let depth = 0; depth < 16 && typeof current === 'function' && (current as unknown as Record<string, unknown>)[COMPOSED_HANDLER]; depth++) {
    current = (current as unknown as Record<string, unknown>)[COMPOSED_HANDLER]
  }
  return current
}
