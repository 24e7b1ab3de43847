import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULT_HOST, DEFAULT_PORT } from '../defaults.ts'
import { createLogger } from './log.ts'
import { serve, type FetchApp } from './serve.ts'
import type { ServeOptions } from './settings.ts'

const USAGE = `Usage: wsgate start <routes-module> [options]

Runs the Hono app that <routes-module> default-exports as a WebSocket gateway.

Options:
  --port <n>                 port to listen on (env PORT, default ${DEFAULT_PORT}; 0 = any free port)
  --host <addr>              address to bind (env HOST, default ${DEFAULT_HOST})
  --max-connections <n>      concurrent WebSocket connections (default 3000)
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
      'max-connections': { type: 'string' },
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
  if (port !== undefined) options.port = toNumber('--port', port)
  if (values['max-connections']) options.maxConnections = toNumber('--max-connections', values['max-connections'])
  if (values['idle-timeout']) options.idleTimeout = toNumber('--idle-timeout', values['idle-timeout'])
  if (values['max-lifetime']) options.maxLifetime = toNumber('--max-lifetime', values['max-lifetime'])
  if (values['handshake-timeout']) options.handshakeTimeout = toNumber('--handshake-timeout', values['handshake-timeout'])

  const gateway = await serve(app, options)
  const stop = (signal: string): void => {
    logger.info({ signal }, 'shutting down')
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
}

function toNumber(flag: string, value: string): number {
  const number = Number(value)
  if (!Number.isFinite(number)) throw new TypeError(`${flag} expects a number, got "${value}"`)
  return number
}
