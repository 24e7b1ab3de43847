/**
 * The Workers host's log lines: the same JSON shape the Node host writes
 * through pino (`level` as pino's number, `time` in ms since the epoch,
 * `name: 'wsgate'`, the line's fields, `msg`), one `console.log` per line,
 * which Workers Logs and `wrangler tail` show as they are.
 */

/** pino's level numbers, so that a log pipeline reads both hosts' lines alike. */
const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const

/**
 * Every `LOG_LEVEL` pino takes, so one setting means the same on both hosts:
 * `silent` writes nothing, `fatal` only what this host never writes, `trace`
 * as much as `debug`.
 */
const THRESHOLDS: Readonly<Record<string, number>> = { trace: 10, ...LEVELS, fatal: 60, silent: Number.POSITIVE_INFINITY }

/** A level name of {@link WorkersLogger}. */
export type WorkersLogLevel = keyof typeof LEVELS

/** What the Workers host logs through: one method per level, fields first as in pino. */
export interface WorkersLogger {
  /** Whether a line at `level` would be written (so a caller can skip building it). */
  isLevelEnabled(level: WorkersLogLevel): boolean
  debug(fields: Record<string, unknown>, msg: string): void
  info(fields: Record<string, unknown>, msg: string): void
  warn(fields: Record<string, unknown>, msg: string): void
  error(fields: Record<string, unknown>, msg: string): void
}

/**
 * A logger writing JSON lines to `console.log` from `level` up (`info` by
 * default; a `LOG_LEVEL` variable in wrangler.toml sets it, any of pino's
 * level names, `silent` included; an unknown one is `info`). Fields that are
 * `undefined` are left out, as pino does; an `Error` in `err` is written as
 * its type, message and stack.
 *
 * @example
 * const logger = consoleLogger('debug')
 * logger.info({ route: '/chat', status: 101 }, 'handshake accepted')
 */
export function consoleLogger(level: string = 'info', write: (line: string) => void = console.log): WorkersLogger {
  const threshold = THRESHOLDS[level] ?? LEVELS.info
  const line = (levelName: WorkersLogLevel) => (fields: Record<string, unknown>, msg: string): void => {
    const value = LEVELS[levelName]
    if (value < threshold) return
    const time = Date.now()
    let text: string
    try {
      text = JSON.stringify({ level: value, time, name: 'wsgate', ...fields, msg }, replaceError)
    } catch (error) {
      // A field JSON cannot write (a BigInt, a cycle) a middleware noted: the line goes without its fields
      // rather than throw out of the Worker's fetch (pino writes such fields; a failed line must not fail the request).
      text = JSON.stringify({ level: value, time, name: 'wsgate', msg, logError: error instanceof Error ? error.message : String(error) })
    }
    write(text)
  }
  return {
    isLevelEnabled: (name) => LEVELS[name] >= threshold,
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  }
}

/** JSON.stringify's replacer: an Error as pino's err serializer writes it. */
function replaceError(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { type: value.name, message: value.message, stack: value.stack }
  return value
}
