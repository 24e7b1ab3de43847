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
 * Bytes of JSON lines gathered before one write to stdout. At info level a
 * gateway logs two lines (~300 bytes each) per connection; pino's default
 * stdout stream hands every line to libuv's thread pool as its own write,
 * which cost more CPU than building the line. 4 KiB batches ~7 connections'
 * lines into one write, and stays far below a pipe's atomic-write size.
 */
export const LOG_BUFFER_BYTES = 4096

/**
 * Longest a line waits in the buffer on a quiet gateway, ms. Lines are
 * flushed synchronously when the process exits (pino's exit hook), so only
 * a SIGKILL can lose them.
 */
export const LOG_FLUSH_INTERVAL = 100

/**
 * Creates the gateway's logger: JSON lines on stdout, one per handshake
 * decision and one per connection end, written in batches of
 * {@link LOG_BUFFER_BYTES} (or every {@link LOG_FLUSH_INTERVAL} ms).
 *
 * @example
 * const logger = createLogger({ level: 'debug', pretty: true })
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info'
  const pretty = options.pretty ?? ['1', 'true', 'yes'].includes(process.env.LOG_PRETTY ?? '')
  const settings = { name: 'wsgate', level }
  if (pretty) return pino(settings, pino.transport({ target: 'pino-pretty' }))
  const stdout = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_INTERVAL })
  return pino(settings, stdout)
}
