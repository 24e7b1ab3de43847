import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TLS_PORT } from '../defaults.ts'
import { createLogger, type Logger } from './log.ts'
import { serve, type FetchApp } from './serve.ts'
import type { ServeOptions, TlsOptions } from './settings.ts'

const USAGE = `Usage: wsgate start <routes-module> [options]

Runs the Hono app that <routes-module> default-exports as a WebSocket gateway.

Options:
  --port <n|off>             plain ws:// and http:// port (env PORT, default ${DEFAULT_PORT}; 0 = any free port;
                             off = TLS only)
  --host <addr>              address to bind (env HOST, default ${DEFAULT_HOST})
  --tls-cert <file>          certificate (PEM, full chain) for wss:// and https://; repeat with --tls-key
                             for several certificates, picked by SNI (the first is the default)
  --tls-key <file>           the certificate's private key (PEM); one per --tls-cert, in the same order
  --tls-port <n>             TLS port (default ${DEFAULT_TLS_PORT}); SIGHUP or a change of the files reloads
                             the certificates without a restart
  --max-connections <n>      concurrent WebSocket connections (default 3000)
  --max-connections-per-client <n|off>
                             connections one client address may hold (default 10 % of --max-connections)
  --max-handshakes-per-client <n|off>
                             handshakes one client address may have in flight (default 30)
  --max-handshakes-per-route <n|off>
                             handshakes of one route waiting for its origin (default 10 % of --max-connections)
  --idle-timeout <ms>        close after this long without data (default 300000)
  --max-lifetime <ms>        recycle connections after this long (default 14400000)
  --handshake-timeout <ms>   client headers / origin answer deadline (default 10000)
  -h, --help                 show this text

Environment: LOG_LEVEL (default info), LOG_PRETTY=1 for human-readable logs.`

/** Entry of the `wsgate` command. Exits non-zero with a one-line reason on bad input. */
export async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'tls-cert': { type: 'string', multiple: true },
      'tls-key': { type: 'string', multiple: true },
      'tls-port': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-connections-per-client': { type: 'string' },
      'max-handshakes-per-client': { type: 'string' },
      'max-handshakes-per-route': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'max-lifetime': { type: 'string' },
      'handshake-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [command, routesPath] = positionals
  if (values.help || command !== 'start' || !routesPath) {
    console.log(USAGE)
    process.exitCode = values.help ? 0 : 2
    return
  }

  const logger = createLogger()
  const module = (await import(pathToFileURL(resolve(routesPath)).href)) as { default?: FetchApp }
  const app = module.default
  if (!app || typeof app.fetch !== 'function') {
    throw new TypeError(`${routesPath} must default-export a Hono app (an object with fetch()), e.g. export default app`)
  }
  const options: ServeOptions = { logger, host: values.host ?? process.env.HOST ?? DEFAULT_HOST }
  const port = values.port ?? process.env.PORT
  if (port !== undefined) options.port = port === 'off' ? 'off' : toNumber('--port', port)
  const tls = tlsOptions(values['tls-cert'] ?? [], values['tls-key'] ?? [], values['tls-port'])
  if (tls) options.tls = tls
  if (values['max-connections']) options.maxConnections = toNumber('--max-connections', values['max-connections'])
  if (values['max-connections-per-client']) options.maxConnectionsPerClient = toCap('--max-connections-per-client', values['max-connections-per-client'])
  if (values['max-handshakes-per-client']) options.maxHandshakesPerClient = toCap('--max-handshakes-per-client', values['max-handshakes-per-client'])
  if (values['max-handshakes-per-route']) options.maxHandshakesPerRoute = toCap('--max-handshakes-per-route', values['max-handshakes-per-route'])
  if (values['idle-timeout']) options.idleTimeout = toNumber('--idle-timeout', values['idle-timeout'])
  if (values['max-lifetime']) options.maxLifetime = toNumber('--max-lifetime', values['max-lifetime'])
  if (values['handshake-timeout']) options.handshakeTimeout = toNumber('--handshake-timeout', values['handshake-timeout'])

  const gateway = await serve(app, options)
  logConnectionCeiling(logger, gateway.settings.maxConnections)
  const stop = (signal: string): void => {
    logger.info({ signal }, 'shutting down')
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
  // SIGHUP reloads the certificates (the reload logs what it served, or why it kept the old ones).
  if (tls) {
    process.on('SIGHUP', () => {
      logger.info({ signal: 'SIGHUP' }, 'reloading certificates')
      void gateway.reloadCertificates()
    })
  }
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

/** A cap's flag value: a number, or `off` for no cap (Infinity, which `serve()` warns about). */
function toCap(flag: string, value: string): number {
  return value === 'off' ? Number.POSITIVE_INFINITY : toNumber(flag, value)
}

function toNumber(flag: string, value: string): number {
  const number = Number(value)
  if (!Number.isFinite(number)) throw new TypeError(`${flag} expects a number, got "${value}"`)
  return number
}
