import { readFileSync } from 'node:fs'
import { middlewareReports } from './middleware-reports.ts'
import { formatRoute, summarizeRoutes } from './route-summary.ts'
import type { Gateway } from './serve.ts'
import type { FetchApp } from './upgrade.ts'

/**
 * What the `wsgate` command prints for a person rather than a log
 * collector: its version, the line `wsgate start` shows on a terminal,
 * `wsgate check`'s report, and listen errors that say what to do.
 */

/**
 * wsgate's version, from its package.json (`unknown` when it cannot be read).
 *
 * @example
 * packageVersion() // '0.1.0'
 */
export function packageVersion(): string {
  // src/node/ in a checkout, dist/src/node/ in the installed package.
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (manifest.name === 'wsgate' && manifest.version) return manifest.version
    } catch {
      // Not there: the other layout.
    }
  }
  return 'unknown'
}

/**
 * Whether `wsgate start` prints its human start line: when stdout is a
 * terminal, unless `LOG_FORMAT=json` asks for JSON alone (a collector
 * reading a terminal, `script`, a test harness).
 *
 * @example
 * wantsStartLine(process.stdout.isTTY === true, process.env)
 */
export function wantsStartLine(isTTY: boolean, env: Record<string, string | undefined>): boolean {
  return isTTY && env.LOG_FORMAT?.toLowerCase() !== 'json'
}

/**
 * The one human line `wsgate start` prints on a terminal once it listens:
 * the version, the URLs it serves (`ws://` on the plain port, `wss://` on
 * the TLS one, the admin listener's `http://`) and the routes it loaded,
 * each with its method, path, middleware and the handler that answers.
 *
 * @example
 * startLine(gateway, app, '0.1.0')
 * // wsgate 0.1.0 on ws://127.0.0.1:8080, wss://127.0.0.1:8443, admin http://127.0.0.1:9090 — 2 routes: ALL /echo websocket() | ALL /chat jwtAuth() → websocket()
 */
export function startLine(gateway: Pick<Gateway, 'url' | 'tlsUrl' | 'adminUrl'>, app: FetchApp, version: string): string {
  const urls: string[] = []
  // url is the plain listener's, or the TLS one's when the plain one is off.
  if (gateway.url !== gateway.tlsUrl) urls.push(gateway.url.replace(/^http/, 'ws'))
  if (gateway.tlsUrl) urls.push(gateway.tlsUrl.replace(/^https/, 'wss'))
  if (gateway.adminUrl) urls.push(`admin ${gateway.adminUrl}`)
  const routes = summarizeRoutes(app)
  const served = routes.length === 0 ? 'no routes (every request gets 404)' : `${plural(routes.length, 'route')}: ${routes.map(formatRoute).join(' | ')}`
  return `wsgate ${version} on ${urls.join(', ')} — ${served}`
}

/**
 * `wsgate check`'s report: the routes (one per line), what each
 * middleware built and warned about at start (`waf()`: its rule-set load
 * report, every line of it), and `settingWarnings`: what `wsgate start`
 * would warn about its own settings (a cap turned off).
 *
 * @example
 * console.log(checkReport('routes.ts', app))
 * // routes.ts: 2 routes, every factory ran
 * //   ALL /echo websocket()
 * //   ALL /guarded waf() → websocket()
 * // waf() on /guarded: CRS 4.x: 533 rules loaded, …
 */
export function checkReport(path: string, app: FetchApp, settingWarnings: readonly string[] = []): string {
  const routes = summarizeRoutes(app)
  const reports = middlewareReports(app)
  const warnings = reports.reduce((sum, report) => sum + report.warnings.length, settingWarnings.length)
  const lines = [`${path}: ${plural(routes.length, 'route')}, every factory ran${warnings ? `, ${plural(warnings, 'warning')}` : ''}`]
  for (const route of routes) lines.push(`  ${formatRoute(route)}`)
  for (const { middleware, path: at, reportLines, warnings } of reports) {
    const where = `${middleware}()${at ? ` on ${at}` : ''}`
    if (reportLines.length > 0) lines.push(`${where}: ${reportLines[0]}`, ...reportLines.slice(1).map((line) => `  ${line}`))
    for (const warning of warnings) lines.push(`warning: ${where}: ${warning}`)
  }
  for (const warning of settingWarnings) lines.push(`warning: ${warning}`)
  return lines.join('\n')
}

/** The port flags of a start, to name the one whose port could not be bound. */
export interface ListenPorts {
  port?: number | 'off' | undefined
  tlsPort?: number | undefined
  adminPort?: number | undefined
  host: string
  adminHost?: string | undefined
}

/**
 * A listen error (`EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, a host name
 * that does not resolve) as a message that names the port or host, the
 * flag that set it and the way out; undefined for any other error.
 *
 * @example
 * listenError(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', port: 8080 }), { port: 8080, host: '127.0.0.1' })
 * // 'port 8080 on 127.0.0.1 is already in use (EADDRINUSE): …; stop it, or pick another port with --port <n> (or PORT), 0 for any free one'
 */
export function listenError(error: unknown, ports: ListenPorts): Error | undefined {
  const { code, port, address, syscall, hostname } = (error ?? {}) as NodeJS.ErrnoException & { port?: number; address?: string; hostname?: string }
  // A host name that does not resolve: Node's 'getaddrinfo ENOTFOUND x' says neither which flag nor what to give.
  if (syscall === 'getaddrinfo' && hostname !== undefined) {
    const flag = ports.adminHost !== undefined && hostname === ports.adminHost && hostname !== ports.host ? '--admin-host' : '--host'
    return new Error(
      `${hostname} does not resolve to an address (getaddrinfo ${code}): give ${flag} an address of this machine (127.0.0.1, or 0.0.0.0 for all of them) or a name that resolves to one`,
      { cause: error },
    )
  }
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') return undefined
  // Which listener: the admin one and the TLS one have flags of their own (a free port, 0, cannot collide).
  const [flag, hostFlag] =
    port !== undefined && port === ports.adminPort ? ['--admin-port', '--admin-host'] : port !== undefined && port === ports.tlsPort ? ['--tls-port', '--host'] : ['--port', '--host']
  const host = address ?? (flag === '--admin-port' ? (ports.adminHost ?? ports.host) : ports.host)
  const setting = `${flag} <n>${flag === '--port' ? ' (or PORT)' : ''}`
  if (code === 'EADDRINUSE') {
    return new Error(
      `port ${port} on ${host} is already in use (EADDRINUSE): another process listens there (ss -ltnp 'sport = :${port}' shows which); stop it, or pick another port with ${setting}, 0 for any free one`,
      { cause: error },
    )
  }
  if (code === 'EACCES') {
    return new Error(
      `port ${port} on ${host} needs privileges to bind (EACCES): give the process CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE), or use a port above 1023 with ${setting} and forward to it`,
      { cause: error },
    )
  }
  return new Error(`${host} is not an address of this machine (EADDRNOTAVAIL): give one of its addresses with ${hostFlag} <addr>, or 0.0.0.0 for all of them`, { cause: error })
}

/** `1 route`, `2 routes`. */
function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}
