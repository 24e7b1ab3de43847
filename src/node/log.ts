import { pino, type Logger } from 'pino'
import { DEFAULT_LOG_BUFFER_BYTES, DEFAULT_LOG_EXIT_FLUSH_TIMEOUT, DEFAULT_LOG_FLUSH_INTERVAL } from '../defaults.ts'

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

/**
 * Writes out every line `logger` holds in its buffer and resolves once they
 * are written (a pino-pretty transport: handed to its worker), or after
 * `timeoutMs` when stdout does not take them (a reader that stopped
 * reading); never rejects. Call it before `process.exit()`: pino's own exit
 * hook writes the buffer synchronously too, but a batch already being
 * written in the background when the process exits can be cut short.
 *
 * @example
 * await gateway.close({ drain: true })
 * await flushLogger(logger) // the last 'connection closed' lines are out
 * process.exit(0)
 */
export function flushLogger(logger: Logger, timeoutMs = DEFAULT_LOG_EXIT_FLUSH_TIMEOUT): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      resolve()
    }
    try {
      logger.flush(done)
    } catch {
      // A destroyed stream (stdout closed under us): nothing more can be written.
      done()
    }
  })
}
