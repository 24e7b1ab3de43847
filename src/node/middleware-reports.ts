import type { Logger } from './log.ts'
import { unwrapped } from './route-summary.ts'
import type { FetchApp } from './upgrade.ts'

/** A middleware that built something at start and says what (e.g. `waf()`'s rule-set load report). */
interface Reporting {
  readonly name?: string
  readonly report?: unknown
  readonly reportLines?: readonly string[]
  /** Legal but risky settings, each logged once at `warn` (see `withWarnings`). */
  readonly warnings?: readonly string[]
}

/** What one middleware instance of an app's routes reported when its factory ran. */
export interface MiddlewareReport {
  /** The middleware's name, e.g. `waf`. */
  middleware: string
  /** The pattern of the first route it is on. */
  path: string | undefined
  /** What it built (`waf()`: rules loaded, not applicable, unsupported items), as an object for the log line. */
  report: unknown
  /** The same in human lines, the first a summary (`waf()`'s `formatReport()`); empty when it gave none. */
  reportLines: readonly string[]
  /** Legal but risky settings, each one line (see `withWarnings`). */
  warnings: readonly string[]
}

/**
 * The reports and warnings the middleware factories of a Hono app's routes
 * attached to their handlers, once per instance (one shared by several
 * routes counts once), looking through the wrappers of mounted sub-apps.
 * Factories have no logger; the host (`serve()`, `wsgate check`) finds
 * them here. Anything else (an app that is not Hono's) has none.
 *
 * @example
 * for (const { middleware, reportLines } of middlewareReports(app)) console.log(middleware, reportLines[0])
 */
export function middlewareReports(app: FetchApp): MiddlewareReport[] {
  const routes = (app as { routes?: unknown }).routes
  if (!Array.isArray(routes)) return []
  const seen = new Set<unknown>()
  const reports: MiddlewareReport[] = []
  for (const route of routes as { path?: string; handler?: unknown }[]) {
    const handler = unwrapped(route?.handler)
    if (typeof handler !== 'function' || seen.has(handler)) continue
    const { name, report, reportLines, warnings } = handler as Reporting
    if (report === undefined && !warnings?.length) continue
    seen.add(handler)
    reports.push({ middleware: name || 'middleware', path: route.path, report, reportLines: reportLines ?? [], warnings: warnings ?? [] })
  }
  return reports
}

/**
 * Logs, once per middleware instance, the `warnings` (at `warn`) and the
 * `report` (at `info`, its first human line as the message) of
 * {@link middlewareReports}: `serve()` calls it before listening, and on
 * each routes reload.
 *
 * @example
 * logMiddlewareReports(app, logger) // {"middleware":"waf","path":"/chat","report":{…},"msg":"CRS 4.x: 533 rules loaded, …"}
 */
export function logMiddlewareReports(app: FetchApp, logger: Logger): void {
  for (const { middleware, path, report, reportLines, warnings } of middlewareReports(app)) {
    for (const warning of warnings) logger.warn({ middleware, path }, `${middleware}(): ${warning}`)
    if (report !== undefined) logger.info({ middleware, path, report }, reportLines[0] ?? `${middleware} loaded`)
  }
}
