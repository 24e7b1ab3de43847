import { pino, type Logger } from 'pino'
import { DEFAULT_LOG_BUFFER_BYTES, DEFAULT_LOG_FLUSH_INTERVAL } from '../defaults.ts'

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
 * decision and one per connection end, written in batches of
 * {@link DEFAULT_LOG_BUFFER_BYTES} (or every {@link DEFAULT_LOG_FLUSH_INTERVAL} ms).
 *
 * @example
 * const logger = createLogger({ level: 'debug', pretty: true })
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info'
  const pretty = options.pretty ?? ['1', 'true', 'yes'].includes(process.env.LOG_PRETTY ?? '')
  const settings = { name: 'wsgate', level }
  if (pretty) return pino(settings, pino.transport({ target: 'pino-pretty' }))
  const stdout = pino.destination({ dest: 1, sync: false, minLength: DEFAULT_LOG_BUFFER_BYTES, periodicFlush: DEFAULT_LOG_FLUSH_INTERVAL })
  return pino(settings, stdout)
}
