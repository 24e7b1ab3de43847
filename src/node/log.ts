import { pino, type Logger } from 'pino'

/** The logger wsgate writes its handshake and connection lines to (pino). */
export type { Logger }

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level name. @default `LOG_LEVEL` from the environment, else `info` */
  level?: string
  /** Human-readable lines through pino-pretty instead of JSON. @default `LOG_PRETTY=1` in the environment */
  pretty?: boolean
}

/**
 * Creates the gateway's logger: JSON lines on stdout, one per handshake
 * decision and one per connection end.
 *
 * @example
 * const logger = createLogger({ level: 'debug', pretty: true })
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info'
  const pretty = options.pretty ?? ['1', 'true', 'yes'].includes(process.env.LOG_PRETTY ?? '')
  const settings = { name: 'wsgate', level }
  return pretty ? pino(settings, pino.transport({ target: 'pino-pretty' })) : pino(settings)
}
