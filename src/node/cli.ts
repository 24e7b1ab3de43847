import { execFileSync } from 'node:child_process'
import cluster from 'node:cluster'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'
import { DEFAULT_CLOSE_GRACE, DEFAULT_DRAIN_TIMEOUT, DEFAULT_STORE_LEASE_TTL, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TLS_HTTP2, DEFAULT_TLS_PORT } from '../defaults.ts'
import { createLogger, flushLogger, type Logger } from './log.ts'
import { announceReady, isWorker, runPrimary, workerCount, workerLogger } from './cluster.ts'
import { whenParentExits } from './parent-watch.ts'
import { checkReport, listenError, packageVersion, startLine, wantsStartLine, type ListenPorts } from './cli-report.ts'
import { redisStore, type RedisStore } from './redis-store.ts'
import { summarizeRoutes } from './route-summary.ts'
import { loadRoutes } from './routes-module.ts'
import { serve, type Gateway } from './serve.ts'
import { resolveServeSettings, serveWarnings, type AdminOptions, type ServeOptions, type ServeSettings, type TlsOptions } from './settings.ts'
import { TlsCertificates } from './tls-certificates.ts'

const USAGE = `Usage: wsgate start <routes-module> [options]
       wsgate check <routes-module> [options]
       wsgate --version

Commands:
  start                      runs the Hono app that <routes-module> default-exports as a WebSocket gateway;
                             on a terminal it prints one line with its URLs and routes
  check                      loads <routes-module> (every factory runs), checks the options and TLS files,
                             prints the routes and what each middleware loaded (the WAF's rule report), and
                             exits without listening: 0 when all is well, 1 with the reason otherwise

Options:
  --port <n|off>             plain ws:// and http:// port (env PORT, default ${DEFAULT_PORT}; 0 = any free port;
                             off = TLS only)
  --host <addr>              address to bind (env HOST, default ${DEFAULT_HOST})
  --tls-cert <file>          certificate (PEM, full chain) for wss:// and https://; repeat with --tls-key
                             for several certificates, picked by SNI (the first is the default)
  --tls-key <file>           the certificate's private key (PEM); one per --tls-cert, in the same order
  --tls-port <n>             TLS port (default ${DEFAULT_TLS_PORT}); SIGHUP or a change of the files reloads
                             the certificates without a restart
  --h2, --no-h2              offer HTTP/2 on the TLS port (ALPN h2; WebSockets over HTTP/2, RFC 8441) beside
                             HTTP/1.1, or not (default ${DEFAULT_TLS_HTTP2 ? 'on' : 'off'})
  --max-connections <n>      concurrent WebSocket connections (default 3000)
  --max-connections-per-client <n|off>
                             connections one client address may hold (default 10 % of --max-connections)
  --max-handshakes-per-client <n|off>
                             handshakes one client address may have in flight (default 30)
  --max-handshakes-per-route <n|off>
                             handshakes of one route waiting for its origin (default 10 % of --max-connections)
  --max-requests-per-client <n|off>
                             plain HTTP requests one client address may have in flight, HTTP/1.1 and
                             HTTP/2 together (default 100)
  --idle-timeout <ms>        close after this long without data (default 300000)
  --max-lifetime <ms>        recycle connections after this long (default 14400000)
  --handshake-timeout <ms>   client headers / origin answer deadline (default 10000)
  --request-timeout <ms>     time a plain request (not a handshake) has to arrive in full, head and body;
                             then 408 (default ${DEFAULT_REQUEST_TIMEOUT}, at least --handshake-timeout)
  --workers <n|auto>         run n gateway processes on the same port(s) (auto: one per core); a dead
                             one is replaced; signals go to every worker
  --redis <url>              keep the connection caps and rateLimit()'s buckets in Redis, shared by every
                             process and host using it (env WSGATE_REDIS_URL; default: in memory, per process)
  --redis-lease-ttl <ms>     how long a crashed process's slots still count (default ${DEFAULT_STORE_LEASE_TTL})
  --redis-fail-closed        while Redis is down, refuse handshakes with 503 (default: admit, and warn)
  --drain-timeout <ms>       on SIGTERM/SIGINT, close the open connections spread over this window
                             (default ${DEFAULT_DRAIN_TIMEOUT})
  --close-grace <ms>         time peers have to answer a close frame before their sockets are destroyed;
                             a drain waits this long after its window (default ${DEFAULT_CLOSE_GRACE})
  --admin-port <n>           admin listener (/metrics, /healthz, /readyz, /connections) on this port
                             (0 = any free port; default: none); token from env WSGATE_ADMIN_TOKEN
  --admin-host <addr>        address the admin listener binds (default ${DEFAULT_HOST})
  -v, --version              print wsgate's version
  -h, --help                 show this text

Signals: SIGTERM or SIGINT drains (new connections get 503, open ones are closed over --drain-timeout)
and exits 0; a second one, a second or more later, exits at once (130 for SIGINT, 143 for SIGTERM).
SIGHUP imports <routes-module> again and serves its routes to new connections (open ones are untouched;
one that fails to load keeps the current routes), and reloads the TLS certificates.

Environment: LOG_LEVEL (default info), LOG_FORMAT=json (JSON only, no start line on a terminal) or
pretty (human-readable logs, also LOG_PRETTY=1), WSGATE_ADMIN_TOKEN (the admin
listener then answers 401 to a request without Authorization: Bearer <token>).`

/** The flags of `wsgate start` (node:util parseArgs options); a new flag is one entry here and one line in serveOptions(). */
const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'tls-cert': { type: 'string', multiple: true },
  'tls-key': { type: 'string', multiple: true },
  'tls-port': { type: 'string' },
  h2: { type: 'boolean' },
  'no-h2': { type: 'boolean' },
  'max-connections': { type: 'string' },
  'max-connections-per-client': { type: 'string' },
  'max-handshakes-per-client': { type: 'string' },
  'max-requests-per-client': { type: 'string' },
  'max-handshakes-per-route': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'max-lifetime': { type: 'string' },
  'handshake-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'drain-timeout': { type: 'string' },
  'close-grace': { type: 'string' },
  'admin-port': { type: 'string' },
  'admin-host': { type: 'string' },
  workers: { type: 'string' },
  redis: { type: 'string' },
  'redis-lease-ttl': { type: 'string' },
  'redis-fail-closed': { type: 'boolean' },
  version: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig

/** Parsed flag values of `wsgate start`. */
export type StartFlags = ReturnType<typeof parseStart>['values']

/**
 * Parses `wsgate start`'s arguments. Throws a `TypeError` naming the flag
 * on an unknown flag, on an empty value (`--host ''` would bind every
 * interface, `--port ''` a random port) and on a flag that takes one value
 * given twice (which one was meant is a guess: the first from a unit file,
 * the second from a drop-in?).
 */
function parseStart(argv: string[]) {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: FLAGS, tokens: true })
  } catch (error) {
    // Node's message goes on about positionals that start with '-': the flag and where the list is are what helps.
    const flag = (error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && /'([^']+)'/.exec((error as Error).message)?.[1]
    if (flag) throw new TypeError(`unknown option ${flag}; wsgate --help lists them`, { cause: error })
    throw error
  }
  const seen = new Map<string, string>()
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || token.value === undefined) continue
    if (token.value.trim() === '') throw new TypeError(`${token.rawName} needs a value, got an empty one`)
    const repeatable = (FLAGS[token.name as keyof typeof FLAGS] as { multiple?: boolean }).multiple === true
    const earlier = seen.get(token.name)
    if (earlier !== undefined && !repeatable) throw new TypeError(`--${token.name} is given twice ("${earlier}", then "${token.value}"); give it once`)
    seen.set(token.name, token.value)
  }
  return { values: parsed.values, positionals: parsed.positionals }
}

/**
 * Exit code of the CLI when a second SIGINT or SIGTERM cuts a drain short:
 * 128 + the signal's number, what a shell reports for a process the signal
 * killed, so a supervisor tells a forced stop from a drained one (0).
 */
export const FORCED_EXIT_CODES: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 }

/**
 * A stop signal within this long of the first is taken as a copy of it, not
 * as a second one (ms). A terminal's Ctrl-C reaches the whole foreground
 * process group, and systemd's stop every process of the unit: under
 * `npm start` the gateway gets the signal once directly and once more from
 * npm, which forwards what it received, milliseconds apart. An operator's
 * deliberate second signal comes later.
 */
export const SIGNAL_REPEAT_WINDOW = 1_000

/** Entry of the `wsgate` command. Exits non-zero with a one-line reason on bad input. */
export async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseStart(argv)
  if (values.version) {
    console.log(packageVersion())
    return
  }
  const [command, routesPath, ...extra] = positionals
  if (values.help || (command !== 'start' && command !== 'check') || !routesPath) {
    console.log(USAGE)
    process.exitCode = values.help ? 0 : 2
    // What was wrong, on stderr (the usage above does not say); a bare `wsgate` asked for nothing more.
    if (!values.help && command !== undefined) {
      console.error(command === 'start' || command === 'check' ? `wsgate: ${command} needs the routes module: wsgate ${command} <routes-module>` : `wsgate: unknown command "${command}"; the commands are start and check`)
    }
    return
  }
  // `wsgate start routes.ts 8080` would otherwise serve on the default port with the 8080 ignored.
  if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}" after the routes module; options start with --, e.g. --port 8080`)
  checkLogLevel(process.env)
  if (command === 'check') return check(routesPath, values)

  // Per-worker lines carry the worker's id; with --workers this process may be the primary, which only runs them.
  const logger = workerLogger(createLogger())
  if (values.workers !== undefined && !isWorker()) return startWorkers(values, routesPath, logger)
  // Until reloadOnHangup() below, a SIGHUP (systemctl reload right after a start) would kill the process (Node's
  // default, and a signal systemd's Restart=on-failure counts as clean): held, then replayed once the handler is on.
  let hangupWhileStarting = false
  const holdHangup = (): void => void (hangupWhileStarting = true)
  process.on('SIGHUP', holdHangup)
  const app = await loadRoutes(routesPath)
  const options = serveOptions(values, logger)
  let gateway: Gateway
  try {
    gateway = await serve(app, options)
  } catch (error) {
    throw listenError(error, listenPorts(options)) ?? inFlagTerms(error, values)
  }
  logConnectionCeiling(logger, gateway.settings.maxConnections)
  // A shared store hands its lease back at exit, so the slots count no longer at once rather than after leaseTtl.
  const stopping = stopOnSignals(gateway, logger, options.store && 'close' in options.store ? () => (options.store as RedisStore).close() : undefined)
  reloadOnHangup(gateway, routesPath, logger, stopping)
  process.off('SIGHUP', holdHangup)
  if (hangupWhileStarting) process.emit('SIGHUP', 'SIGHUP')
  // Under --workers: the primary may pass signals on from now (before, one would have killed this process).
  announceReady()
  // One human line on a terminal (with --workers, the first worker's): the JSON lines before it go out first.
  if (wantsStartLine(process.stdout.isTTY === true, process.env) && (!isWorker() || cluster.worker?.id === 1)) {
    await flushLogger(logger)
    process.stdout.write(`${startLine(gateway, app, packageVersion())}\n`)
  }
}

/**
 * `wsgate check <routes-module>`: imports the module (every factory runs and
 * validates its options), checks the flags as `start` would and reads the
 * TLS files, prints {@link checkReport}, and exits 0 without listening; any
 * failure is thrown with its reason (the command exits 1). The module's own
 * side effects (an origin it starts) do not keep the process alive.
 */
async function check(routesPath: string, values: StartFlags): Promise<void> {
  const app = await loadRoutes(routesPath)
  const logger = createLogger({ level: 'silent' })
  const settings = checkedSettings(values, logger)
  if (settings.tls) {
    const certificates = new TlsCertificates(settings.tls.certificates, logger, settings.tls.options)
    try {
      await certificates.load()
    } catch (error) {
      throw inFlagTerms(error, values)
    } finally {
      certificates.close()
    }
  }
  // What start would warn about (a fair-share cap off, an admin listener open without a token), said by check too.
  const warnings = serveWarnings(settings).map((warning) => inFlagTerms(new TypeError(warning), values) as Error)
  console.log(checkReport(routesPath, app, warnings.map((warning) => warning.message.replace(/\bInfinity\b/, 'off'))))
  process.exit(0)
}

/**
 * `serve()`'s settings from the flags, checked as `wsgate start` checks
 * them, without listening or connecting anywhere: `--workers` too, and the
 * shared store's flags without a store. A bad one throws a `TypeError` in
 * the command line's words (see {@link inFlagTerms}). `wsgate check` runs
 * it, and so does the primary of `--workers` before it forks: a worker
 * that failed on a flag would be replaced for ever, failing each time.
 */
function checkedSettings(values: StartFlags, logger: Logger): ServeSettings {
  if (values.workers !== undefined) workerCount(values.workers)
  try {
    return resolveServeSettings(serveOptions(values, logger, { store: false }))
  } catch (error) {
    throw inFlagTerms(error, values)
  }
}

/** The ports and hosts a start binds, for {@link listenError}. */
function listenPorts(options: ServeOptions): ListenPorts {
  return {
    port: options.port ?? DEFAULT_PORT,
    tlsPort: options.tls ? (options.tls.port ?? DEFAULT_TLS_PORT) : undefined,
    adminPort: options.admin?.port,
    host: options.host ?? DEFAULT_HOST,
    adminHost: options.admin?.host,
  }
}

/**
 * `SIGHUP`: imports the routes module again (a new query string each time,
 * so Node runs it anew) and hands its app to `gateway.reloadRoutes()`: new
 * handshakes and requests use the new routes, established connections are
 * untouched. A module that fails to load (a syntax error, a factory that
 * refuses an option) keeps the current routes, with the reason at warn.
 * The TLS certificates are read again too (when there is a TLS listener).
 * Signals that come while a reload runs are handled one after another.
 * Once `stopping()` says the gateway is stopping (a drain under way), a
 * SIGHUP is logged and skipped: the routes module is not run again for
 * routes that would never serve.
 *
 * @example
 * reloadOnHangup(gateway, 'routes.ts', logger) // kill -HUP <pid>, systemctl reload
 */
export function reloadOnHangup(gateway: Gateway, routesPath: string, logger: Logger, stopping: () => boolean = () => false): void {
  let reloads = 0
  let queue = Promise.resolve()
  process.on('SIGHUP', () => {
    queue = queue.then(async () => {
      if (stopping()) {
        logger.info({ signal: 'SIGHUP' }, 'reload skipped: the gateway is stopping')
        return
      }
      const reload = ++reloads
      // The certificate reload logs what it served, or why it kept the old ones.
      if (gateway.tlsPort !== undefined) {
        logger.info({ signal: 'SIGHUP' }, 'reloading certificates')
        await gateway.reloadCertificates()
      }
      logger.info({ signal: 'SIGHUP', module: routesPath, reload }, 'reloading routes')
      try {
        const app = await loadRoutes(routesPath, { reload })
        gateway.reloadRoutes(app)
        logger.info({ module: routesPath, reload, routes: summarizeRoutes(app).length }, 'routes reloaded')
      } catch (error) {
        logger.warn({ module: routesPath, reload, reason: error instanceof Error ? error.message : String(error) }, 'routes reload failed; serving the current routes')
      }
    })
  })
}

/**
 * `serve()`'s options from the flags and the environment (`PORT`, `HOST`); throws a `TypeError` naming a bad flag.
 * With `store: false` (`wsgate check`) the shared store's flags are checked but no store is made (nothing connects).
 *
 * @example
 * serveOptions({ port: '0', 'drain-timeout': '10000', 'close-grace': '2000' }, logger)
 * // { logger, host: '127.0.0.1', port: 0, drainTimeout: 10_000, closeGrace: 2_000 }
 */
export function serveOptions(values: StartFlags, logger: Logger, { store: withStore = true }: { store?: boolean } = {}): ServeOptions {
  // An empty HOST or PORT (`Environment=PORT=`, `-e PORT` unset in the shell) is no setting: the default, not a
  // bind to every interface ('') or a random port (Number('') is 0).
  const options: ServeOptions = { logger, host: values.host ?? (process.env.HOST || DEFAULT_HOST) }
  const port = values.port ?? (process.env.PORT || undefined)
  if (port !== undefined) options.port = port === 'off' ? 'off' : toNumber(values.port !== undefined ? '--port' : 'PORT', port)
  const tls = tlsOptions(values['tls-cert'] ?? [], values['tls-key'] ?? [], values['tls-port'])
  if (values.h2 && values['no-h2']) throw new TypeError('give --h2 or --no-h2, not both')
  if (tls && (values.h2 || values['no-h2'])) tls.http2 = values.h2 === true
  else if (values.h2 || values['no-h2']) throw new TypeError(`--${values.h2 ? 'h2' : 'no-h2'} needs --tls-cert and --tls-key`)
  if (tls) options.tls = tls
  if (values['max-connections']) options.maxConnections = toNumber('--max-connections', values['max-connections'])
  if (values['max-connections-per-client']) options.maxConnectionsPerClient = toCap('--max-connections-per-client', values['max-connections-per-client'])
  if (values['max-handshakes-per-client']) options.maxHandshakesPerClient = toCap('--max-handshakes-per-client', values['max-handshakes-per-client'])
  if (values['max-handshakes-per-route']) options.maxHandshakesPerRoute = toCap('--max-handshakes-per-route', values['max-handshakes-per-route'])
  if (values['max-requests-per-client']) options.maxRequestsPerClient = toCap('--max-requests-per-client', values['max-requests-per-client'])
  if (values['idle-timeout']) options.idleTimeout = toNumber('--idle-timeout', values['idle-timeout'])
  if (values['max-lifetime']) options.maxLifetime = toNumber('--max-lifetime', values['max-lifetime'])
  if (values['handshake-timeout']) options.handshakeTimeout = toNumber('--handshake-timeout', values['handshake-timeout'])
  if (values['request-timeout']) options.requestTimeout = toNumber('--request-timeout', values['request-timeout'])
  if (values['drain-timeout']) options.drainTimeout = toNumber('--drain-timeout', values['drain-timeout'])
  if (values['close-grace']) options.closeGrace = toNumber('--close-grace', values['close-grace'])
  // `wsgate check` validates the store's flags without connecting to it.
  const store = withStore ? storeFromFlags(values, logger) : void storeFlags(values)
  if (store) options.store = store
  const admin = adminOptions(values['admin-port'], values['admin-host'], process.env.WSGATE_ADMIN_TOKEN)
  if (admin) options.admin = admin
  return options
}

/**
 * `serve()`'s `admin` from `--admin-port`, `--admin-host` and the token in
 * `WSGATE_ADMIN_TOKEN` (empty means none). Undefined without `--admin-port`.
 *
 * @example
 * adminOptions('9090', undefined, 's3cret') // { port: 9090, token: 's3cret' }
 */
export function adminOptions(port: string | undefined, host: string | undefined, token: string | undefined): AdminOptions | undefined {
  if (port === undefined) {
    if (host !== undefined) throw new TypeError('--admin-host needs --admin-port <n>')
    return undefined
  }
  const admin: AdminOptions = { port: toNumber('--admin-port', port) }
  if (host !== undefined) admin.host = host
  if (token) admin.token = token
  return admin
}

/**
 * How the CLI stops. The first SIGTERM or SIGINT drains the gateway
 * (`gateway.close({ drain: true })`), writes out the last log lines and
 * exits 0 (1 if closing failed); a second one, from a second on, exits at
 * once with {@link FORCED_EXIT_CODES} (one sooner is a copy of the first:
 * see {@link SIGNAL_REPEAT_WINDOW}). When npm started the process (`npm start`,
 * `npx wsgate`), the gateway also drains when its parent process goes away:
 * npm forwards a signal only to its child, and when that child is a shell
 * running the command (a script without `exec`, or npx) the shell dies of
 * it and the gateway never hears it; left running, it would hold the port.
 *
 * `release` runs after the gateway closed and before the exit (a shared
 * store's `close()`, which gives its lease back). Returns whether the
 * gateway is stopping (for {@link reloadOnHangup}).
 *
 * @example
 * const gateway = await serve(app, { logger })
 * stopOnSignals(gateway, logger)
 */
export function stopOnSignals(gateway: Gateway, logger: Logger, release?: () => Promise<void>): () => boolean {
  let stopping = false
  let firstSignalAt = 0
  let stopWatchingParent: (() => void) | undefined
  const stop = (cause: Record<string, unknown>): void => {
    if (stopping) return
    stopping = true
    firstSignalAt = performance.now()
    stopWatchingParent?.()
    const { drainTimeout, closeGrace } = gateway.settings
    logger.info({ ...cause, connections: gateway.connections, drainTimeout, closeGrace }, 'shutting down')
    gateway.close({ drain: true }).then(
      async () => {
        await release?.()
        return exitAfterLogs(logger, 0)
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed')
        return exitAfterLogs(logger, 1)
      },
    )
  }
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (!stopping) return stop({ signal })
    if (performance.now() - firstSignalAt < SIGNAL_REPEAT_WINDOW) {
      logger.info({ signal }, 'signal repeated within a second of the first (npm forwards what the terminal or systemd sent): draining on')
      return
    }
    // A second signal: the operator does not want to wait. pino's exit hook writes what is buffered.
    logger.warn({ signal, connections: gateway.connections }, 'second signal: exiting now')
    process.exit(FORCED_EXIT_CODES[signal])
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  stopWatchingParent = whenParentExits((parent) => stop({ parentExited: parent }))
  return () => stopping
}

/** Writes out the buffered log lines (bounded), then exits with `code`. */
async function exitAfterLogs(logger: Logger, code: number): Promise<never> {
  await flushLogger(logger)
  process.exit(code)
}

/**
 * `serve()`'s `tls` from the flags: `--tls-cert` and `--tls-key` pair up in
 * order (one pair: `{ cert, key }`; several: `certificates`), `--tls-port`
 * sets the port. Undefined when no flag asks for TLS.
 */
export function tlsOptions(certs: readonly string[], keys: readonly string[], port: string | undefined): TlsOptions | undefined {
  if (certs.length === 0 && keys.length === 0) {
    if (port !== undefined) throw new TypeError('--tls-port needs --tls-cert and --tls-key')
    return undefined
  }
  if (certs.length !== keys.length) {
    throw new TypeError(`--tls-cert and --tls-key come in pairs, one key per certificate; got ${certs.length} --tls-cert and ${keys.length} --tls-key`)
  }
  const tls: TlsOptions = certs.length === 1 ? { cert: certs[0]!, key: keys[0]! } : { certificates: certs.map((cert, index) => ({ cert, key: keys[index]! })) }
  if (port !== undefined) tls.port = toNumber('--tls-port', port)
  return tls
}

/**
 * Descriptors kept back from the connection ceiling: the listening socket,
 * stdio, the event loop's own, and short-lived ones (JWKS and health-probe
 * fetches, routes that open files).
 */
export const RESERVED_DESCRIPTORS = 100

/** Open-file limits of this process: /proc/self/limits on Linux, the shell's `ulimit` elsewhere. `undefined` when neither says. */
export function openFileLimits(): { soft: number; hard: number } | undefined {
  try {
    const [soft, hard] = existsSync('/proc/self/limits')
      ? (/^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1')) ?? []).slice(1)
      : execFileSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'latin1' }).trim().split(/\s+/)
    const parse = (value: string | undefined): number => (value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value))
    const limits = { soft: parse(soft), hard: parse(hard) }
    return Number.isNaN(limits.soft) || Number.isNaN(limits.hard) ? undefined : limits
  } catch {
    return undefined
  }
}

/** Proxied connections a soft open-file limit allows: two descriptors each (client and origin), less the reserve. */
export function connectionCeiling(softLimit: number): number {
  return Math.max(0, Math.floor((softLimit - RESERVED_DESCRIPTORS) / 2))
}

/**
 * Logs how many connections the open-file limit allows. Node raises its soft
 * limit to the hard one at start-up (PlatformInit in src/node.cc), so the
 * ceiling follows the hard limit (`ulimit -Hn`, systemd's `LimitNOFILE`).
 * Warns when the configured cap cannot be reached: connections past the
 * ceiling would fail with EMFILE instead of a clean 503.
 */
function logConnectionCeiling(logger: Logger, maxConnections: number): void {
  const limits = openFileLimits()
  if (!limits) return
  const ceiling = connectionCeiling(limits.soft)
  const fields = { openFileLimit: limits.soft, hardLimit: limits.hard, connectionCeiling: ceiling, maxConnections }
  if (maxConnections > ceiling) {
    logger.warn(fields, `connection ceiling: maxConnections exceeds what ${limits.soft} open files allow; raise the hard limit (ulimit -Hn, LimitNOFILE)`)
  } else logger.info(fields, 'connection ceiling')
}

/** The level names `LOG_LEVEL` takes (pino's, in any case). */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/**
 * Checks `LOG_LEVEL` before anything logs: pino's own refusal of a bad one
 * reads `default level:bogus must be included in custom levels`. An empty
 * one is no setting (removed from `env`, so the default `info` applies, in
 * workers too).
 *
 * @example
 * checkLogLevel(process.env) // throws on LOG_LEVEL=verbose
 */
export function checkLogLevel(env: NodeJS.ProcessEnv): void {
  if (env.LOG_LEVEL === undefined) return
  if (env.LOG_LEVEL.trim() === '') {
    delete env.LOG_LEVEL
    return
  }
  if (!LOG_LEVELS.includes(env.LOG_LEVEL.toLowerCase())) throw new TypeError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`)
}

/** `serve()`'s option names that a flag sets, and the flag (the options spelled the same in every message). */
const OPTION_FLAGS: Readonly<Record<string, string>> = {
  handshakeTimeout: '--handshake-timeout',
  requestTimeout: '--request-timeout',
  maxConnections: '--max-connections',
  maxConnectionsPerClient: '--max-connections-per-client',
  maxHandshakesPerClient: '--max-handshakes-per-client',
  maxHandshakesPerRoute: '--max-handshakes-per-route',
  maxRequestsPerClient: '--max-requests-per-client',
  idleTimeout: '--idle-timeout',
  maxLifetime: '--max-lifetime',
  drainTimeout: '--drain-timeout',
  closeGrace: '--close-grace',
  'admin.port': '--admin-port',
  'admin.host': '--admin-host',
  'tls.port': '--tls-port',
  'tls.cert': '--tls-cert',
  'tls.key': '--tls-key',
}

/**
 * A `TypeError` of `serve()` about an option the command line set, said in
 * the command line's words: `serve(): maxConnections must be a positive
 * integer, got 0` becomes `--max-connections must be a positive integer,
 * got 0`; `port` and `host` are `--port`/`--host`, or `PORT`/`HOST` when the
 * environment gave them (and no flag did). Anything else is returned as it is.
 *
 * @example
 * throw inFlagTerms(error, values)
 */
export function inFlagTerms(error: unknown, values: Pick<StartFlags, 'port' | 'host'>): unknown {
  if (!(error instanceof TypeError) || !error.message.startsWith('serve(): ')) return error
  const fromEnv = (name: 'port' | 'host'): boolean => values[name] === undefined && Boolean(process.env[name.toUpperCase()])
  const flags: Record<string, string> = { ...OPTION_FLAGS, port: fromEnv('port') ? 'PORT' : '--port', host: fromEnv('host') ? 'HOST' : '--host' }
  const message = error.message
    .slice('serve(): '.length)
    // The camel-case and dotted names are no English words: every mention is the option.
    .replace(/\b(?:admin|tls)\.\w+|\b[a-z]+[A-Z]\w*/g, (name) => flags[name] ?? name)
    // tls.certificates[1].cert: the second --tls-cert.
    .replace(/\btls\.certificates\[(\d+)\]\.(cert|key)\b/g, (_, index: string, part: string) => `--tls-${part} #${Number(index) + 1}`)
    // `port` and `host` are also words: only where the message names the option.
    .replace(/^(port|host)\b/, (name) => flags[name]!)
    .replace(/\band port are both\b/, `and ${flags.port} are both`)
    .replace('or Infinity for no cap', 'or off for no cap')
    .replace('give tls: { cert, key } or a port', 'give --tls-cert and --tls-key, or a port')
    .replace('set admin.token (WSGATE_ADMIN_TOKEN) or bind 127.0.0.1', 'set WSGATE_ADMIN_TOKEN or give --admin-host 127.0.0.1')
  return new TypeError(message, { cause: error })
}

/** A cap's flag value: a number, or `off` for no cap (Infinity, which `serve()` warns about). */
function toCap(flag: string, value: string): number {
  return value === 'off' ? Number.POSITIVE_INFINITY : toNumber(flag, value)
}

/**
 * A flag's number, written as decimal digits (a sign and a fraction allowed;
 * `serve()` checks the range). `Number()` alone would take `1e3`, `0x50`,
 * ` 80 ` and an empty string (0: a random port), so a typo could pass as
 * another number.
 */
function toNumber(flag: string, value: string): number {
  if (/^-?\d+(?:\.\d+)?$/.test(value)) return Number(value)
  if (Number.isFinite(Number(value)) && value.trim() !== '') {
    throw new TypeError(`${flag} expects a number in plain decimal digits (e.g. 1000), got "${value}"`)
  }
  throw new TypeError(`${flag} expects a number, got "${value}"`)
}

/** The flags of `wsgate start` that scale it out: processes (`--workers`) and the shared store (`--redis…`). */
export interface ScaleFlags {
  workers?: string | undefined
  redis?: string | undefined
  'redis-lease-ttl'?: string | undefined
  'redis-fail-closed'?: boolean | undefined
}

/**
 * The primary of `--workers`: checks the count and the routes module, then
 * runs the workers until they have all exited after a signal, and exits
 * with their verdict (see `runPrimary()` in cluster.ts). It opens no
 * listener and no store of its own; a worker that fails on a bad flag is
 * replaced with a growing wait, each failure logged.
 */
async function startWorkers(values: StartFlags, routesPath: string, logger: Logger): Promise<void> {
  const workers = workerCount(values.workers!)
  // The primary does not import the module (its workers do), but a missing one is said here, once.
  if (!existsSync(resolve(routesPath))) throw new Error(`${routesPath}: no such routes module (looked for ${resolve(routesPath)}); give the path of the module that default-exports your Hono app`)
  // So is a bad flag: every worker would fail on it, and be replaced, for ever.
  checkedSettings(values, createLogger({ level: 'silent' }))
  if (workers > 1 && !values.redis && !process.env.WSGATE_REDIS_URL) {
    logger.warn({ workers }, 'each worker enforces the connection caps and rate limits on its own (up to workers × each cap): give --redis to share them')
  }
  const code = await runPrimary({ workers, logger })
  // The last lines out before exit (bounded: a stdout nobody reads must not hold the exit).
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 1_000)
    logger.flush(() => {
      clearTimeout(timer)
      resolve()
    })
  })
  process.exit(code)
}

/** The shared limit store the flags ask for (`--redis`, else `WSGATE_REDIS_URL`), or undefined for the in-memory default. */
export function storeFromFlags(values: ScaleFlags, logger: Logger): RedisStore | undefined {
  const url = storeFlags(values)
  if (!url) return undefined
  return redisStore({
    url,
    logger,
    failOpen: !values['redis-fail-closed'],
    ...(values['redis-lease-ttl'] !== undefined ? { leaseTtl: toNumber('--redis-lease-ttl', values['redis-lease-ttl']) } : {}),
  })
}

/** Checks the store's flags and returns its URL (`--redis`, else `WSGATE_REDIS_URL`), or undefined for the in-memory default. */
function storeFlags(values: ScaleFlags): string | undefined {
  const url = values.redis ?? process.env.WSGATE_REDIS_URL
  if (!url && (values['redis-lease-ttl'] !== undefined || values['redis-fail-closed'])) {
    throw new TypeError('--redis-lease-ttl and --redis-fail-closed need --redis <url> (or WSGATE_REDIS_URL)')
  }
  // What redisStore() refuses, checked here too: `wsgate check` makes no store.
  if (url && !/^rediss?:\/\//.test(url)) {
    throw new TypeError(`${values.redis !== undefined ? '--redis' : 'WSGATE_REDIS_URL'} expects a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379, got "${url}"`)
  }
  if (values['redis-lease-ttl'] !== undefined) {
    const ttl = toNumber('--redis-lease-ttl', values['redis-lease-ttl'])
    if (!(Number.isInteger(ttl) && ttl >= 300 && ttl <= 3_600_000)) throw new TypeError(`--redis-lease-ttl must be a whole number of ms from 300 to 3600000 (1 h), got ${ttl}`)
  }
  return url || undefined
}
