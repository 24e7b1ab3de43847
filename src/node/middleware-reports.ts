import type { Logger } from './log.ts'
import type { FetchApp } from './upgrade.ts'

/** A middleware that built something at start and says what (e.g. `waf()`'s rule-set load report). */
interface Reporting {
  readonly name?: string
  readonly report?: unknown
  readonly reportLines?: readonly string[]
  /** Legal but risky settings, each logged once at `warn` (see `withWarnings`). */
  readonly warnings?: readonly string[]
}

/**
 * Logs, once per middleware instance, the `warnings` (at `warn`) and the
 * `report` a middleware factory attached to its handler (`waf()` reports
 * rules loaded, not applicable and every unsupported item by name). Factories have no logger; `serve()` has,
 * and finds them in a Hono app's `routes`. Anything else is left alone.
 */
export function logMiddlewareReports(app: FetchApp, logger: Logger): void {
  const routes = (app as { routes?: unknown }).routes
  if (!Array.isArray(routes)) return
  const seen = new Set<unknown>()
  for (const route of routes as { path?: string; handler?: unknown }[]) {
    const handler = route?.handler
    if (typeof handler !== 'function' || seen.has(handler)) continue
    const { name, report, reportLines, warnings } = handler as Reporting
    if (report === undefined && !warnings?.length) continue
    seen.add(handler)
    const label = name || 'middleware'
    for (const warning of warnings ?? []) logger.warn({ middleware: label, path: route.path }, `${label}(): ${warning}`)
    if (report !== undefined) logger.info({ middleware: label, path: route.path, report }, reportLines?.[0] ?? `${label} loaded`)
  }
}
