import fs from 'node:fs'
import { pino, type Logger } from 'pino'
import { DEFAULT_LOG_BUFFER_BYTES, DEFAULT_LOG_EXIT_FLUSH_TIMEOUT, DEFAULT_LOG_FILE_BUFFER_BYTES, DEFAULT_LOG_FLUSH_INTERVAL, DEFAULT_LOG_MAX_BUFFERED_BYTES } from '../defaults.ts'

/** The logger wsgate writes its handshake and connection lines to (pino). */
export type { Logger }

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level name. @default `LOG_LEVEL` from the environment, else `info` */
  level?: string
  /**
   * Human-readable lines through pino-pretty instead of JSON.
   * @default `LOG_PRETTY=1` or `LOG_FORMAT=pretty` in the environment (`LOG_FORMAT=json` forces JSON)
   */
  pretty?: boolean
}

/**
 * Creates the gateway's logger: pino JSON lines on stdout (one per
 * handshake decision, per plain request and per connection end), gathered
 * by a {@link BatchedWriter} into writes of up to
 * {@link DEFAULT_LOG_BUFFER_BYTES} off the event loop, at least every
 * {@link DEFAULT_LOG_FLUSH_INTERVAL} ms, and written out when the process
 * exits.
 *
 * @example
 * const logger = createLogger({ level: 'debug', pretty: true })
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info'
  const settings = { name: 'wsgate', level }
  if (options.pretty ?? prettyFromEnvironment()) return pino(settings, pino.transport({ target: 'pino-pretty' }))
  return pino(settings, new BatchedWriter(1))
}

/** `LOG_FORMAT=pretty` or `LOG_PRETTY=1` (true, yes), unless `LOG_FORMAT=json`. */
function prettyFromEnvironment(): boolean {
  const format = process.env.LOG_FORMAT?.toLowerCase()
  if (format === 'json') return false
  return format === 'pretty' || ['1', 'true', 'yes'].includes(process.env.LOG_PRETTY ?? '')
}

/**
 * Writes out every line `logger` holds in its buffer and resolves once they
 * are written (a pino-pretty transport: handed to its worker), or after
 * `timeoutMs` when stdout does not take them (a reader that stopped
 * reading); never rejects. Call it before `process.exit()`: the exit hook
 * writes the buffer synchronously too, but a batch already being written
 * in the background when the process exits can be cut short.
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

/** Options of a {@link BatchedWriter}. */
export interface BatchedWriterOptions {
  /**
   * Largest write, in bytes, made of whole lines (a longer line goes alone).
   * @default {@link DEFAULT_LOG_BUFFER_BYTES} (4 KiB) to a pipe, socket or terminal; {@link DEFAULT_LOG_FILE_BUFFER_BYTES} (64 KiB) to a regular file
   */
  batchBytes?: number
  /** Longest a line waits for its batch to fill, ms. @default {@link DEFAULT_LOG_FLUSH_INTERVAL} (100 ms) */
  flushInterval?: number
  /** Lines held beyond this many bytes (stdout not keeping up) are dropped, and counted in one warn line. @default {@link DEFAULT_LOG_MAX_BUFFERED_BYTES} (16 MiB) */
  maxBufferedBytes?: number
}

/** How long a write that met EAGAIN (a non-blocking stdout that is full) waits before it is tried again, ms. */
const RETRY_AFTER_EAGAIN = 10

/**
 * The stream behind {@link createLogger}: pino's lines, gathered and
 * written to a file descriptor in batches off the event loop.
 *
 * Why not pino's own `pino.destination({ sync: false, minLength })`
 * (sonic-boom), which the gateway used before: it appends each line to
 * one growing string and measures that whole string again for every line
 * (`Buffer.byteLength` flattens it: a copy of up to 16 KiB per line),
 * encodes each batch twice (once for the write, once more to count what
 * was written), and writes an empty string every flush interval even when
 * idle. Here a line is encoded once, straight into the batch it goes out
 * in (a slab reused from batch to batch), and its string dies young. To a pipe, a socket or a terminal it is written
 * with `fs.write` from libuv's thread pool, so a slow reader (a full pipe)
 * never stalls the event loop: the lines wait in memory instead, up to
 * `maxBufferedBytes`. To a regular file, which never waits for a reader,
 * it is written on the event loop: one system call per batch, without the
 * hand-over to a pool thread and back (two context switches) that cost
 * more than the write itself.
 *
 * Each write holds whole lines and at most `batchBytes` (4 KiB: a pipe's
 * atomic write size, `PIPE_BUF`), so the lines of several processes
 * writing to one pipe (`--workers`) never interleave mid-line; to a
 * regular file, 64 KiB (Linux serialises writes to one open file, so
 * whole writes never interleave there either, and fewer writes cost less). A batch
 * goes out when it is full, or `flushInterval` after its first line. At
 * process exit the lines still held are written synchronously
 * ({@link flushSync}); only a SIGKILL loses them.
 *
 * @example
 * const logger = pino({ name: 'wsgate' }, new BatchedWriter(1))
 */
export class BatchedWriter {
  readonly #fd: number
  readonly #batchBytes: number
  readonly #flushInterval: number
  readonly #maxBufferedBytes: number
  /** Batches not yet handed to a write, oldest first: whole lines, each at most `batchBytes` (a longer line alone). */
  #batches: Buffer[] = []
  /** The batch being filled, and how many of its bytes hold lines. */
  #filling: Buffer | undefined
  #filled = 0
  /** A batch buffer whose write has completed, for the next batch to fill (one slab goes round instead of one allocation per batch). */
  #spare: Buffer | undefined
  /** The slabs this writer allocated: only those are reused (a long line's own buffer may be a slice of Node's shared pool). */
  readonly #slabs = new WeakSet<ArrayBufferLike>()
  /** Bytes in `#batches` and in `#filling`. */
  #bufferedBytes = 0
  /** The batch being written (the part not written yet), while a write is in flight or waits after EAGAIN. */
  #inFlight: Buffer | undefined
  /** Write everything held even below a full batch: the interval passed, or someone waits in flush(). */
  #draining = false
  #timer: NodeJS.Timeout | undefined
  #flushCallbacks: ((error?: Error) => void)[] = []
  /** The batch set aside after EAGAIN, until it is tried again. */
  #waitingRetry: Buffer | undefined
  /** Lines dropped since the last one that got through. */
  #dropped = 0
  /** The descriptor failed for good (EPIPE: nobody reads; EBADF): lines are dropped from now on. */
  #broken = false
  /** `fd` is a regular file: its writes never wait for a reader, so they are made on the event loop. */
  readonly #sync: boolean

  constructor(fd: number, options: BatchedWriterOptions = {}) {
    this.#fd = fd
    this.#sync = isRegularFile(fd)
    this.#batchBytes = options.batchBytes ?? (this.#sync ? DEFAULT_LOG_FILE_BUFFER_BYTES : DEFAULT_LOG_BUFFER_BYTES)
    this.#flushInterval = options.flushInterval ?? DEFAULT_LOG_FLUSH_INTERVAL
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_LOG_MAX_BUFFERED_BYTES
    registerForExit(this)
  }

  /** Lines held and not yet written (tests, and a look at a stdout that does not keep up). */
  get bufferedBytes(): number {
    return this.#bufferedBytes + (this.#inFlight?.length ?? 0)
  }

  /** Takes one line (pino's JSON and its newline). Returns false when the line was dropped. */
  write(line: string): boolean {
    if (this.#broken) return false
    // A UTF-16 unit is at most 3 bytes of UTF-8: far from the bound, the line is held without measuring it first.
    if (this.#bufferedBytes + line.length * 3 > this.#maxBufferedBytes && this.#bufferedBytes + Buffer.byteLength(line) > this.#maxBufferedBytes) {
      this.#dropped++
      return false
    }
    if (this.#dropped > 0) this.#noteDropped()
    this.#append(line)
    if (this.#inFlight) return true
    if (this.#batches.length > 0) this.#writeNext()
    else this.#timer ??= setTimeout(this.#onInterval, this.#flushInterval).unref()
    return true
  }

  /**
   * Encodes the line into the batch being filled at once, rather than
   * holding the string until its batch is written: a held string outlives
   * one or two young-generation collections, each of which copies it (and
   * the last promotes it to the old generation, for a full collection to
   * find), where a line encoded now dies young; and a full batch is already
   * the bytes to write, with no join and no second encoding.
   */
  #append(line: string): void {
    // The line's byte length is only measured when it might not fit: otherwise the encoding itself says it.
    if (this.#filled + line.length * 3 > this.#batchBytes) {
      const size = Buffer.byteLength(line)
      if (size > this.#batchBytes) {
        this.#seal()
        this.#batches.push(Buffer.from(line))
        this.#bufferedBytes += size
        return
      }
      if (this.#filled + size > this.#batchBytes) this.#seal()
    }
    if (!this.#filling) {
      this.#filling = this.#spare ?? this.#newSlab()
      this.#spare = undefined
    }
    const written = this.#filling.write(line, this.#filled)
    this.#filled += written
    this.#bufferedBytes += written
    if (this.#filled === this.#batchBytes) this.#seal()
  }

  #newSlab(): Buffer {
    // Not Buffer.allocUnsafe: a 4 KiB batch would be a slice of Node's shared pool, which cannot be handed round.
    const slab = Buffer.allocUnsafeSlow(this.#batchBytes)
    this.#slabs.add(slab.buffer)
    return slab
  }

  /** Closes the batch being filled: it joins the batches to write. */
  #seal(): void {
    if (this.#filled === 0) return
    this.#batches.push(this.#filling!.subarray(0, this.#filled))
    this.#filling = undefined
    this.#filled = 0
  }

  /** The next batch to write, taken out of the held bytes. */
  #takeBatch(): Buffer {
    const batch = this.#batches.shift()!
    this.#bufferedBytes -= batch.length
    return batch
  }

  /** A batch is written out: its slab, if it is one of ours, fills the next batch. */
  #written(batch: Buffer): void {
    if (this.#spare === undefined && this.#slabs.has(batch.buffer)) this.#spare = Buffer.from(batch.buffer, 0, this.#batchBytes)
  }

  /** Writes out what is held; `callback` runs once it is written (or could not be). */
  flush(callback?: (error?: Error) => void): void {
    if (callback) this.#flushCallbacks.push(callback)
    this.#draining = true
    if (!this.#inFlight) this.#writeNext()
  }

  /**
   * Writes out what is held now, synchronously: at process exit, when no
   * callback can run any more. A non-blocking stdout that stays full is
   * given up on after {@link DEFAULT_LOG_EXIT_FLUSH_TIMEOUT}.
   */
  flushSync(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#broken) return
    // A batch waiting to be tried again after EAGAIN goes first; one in libuv's pool is written there.
    const pending = this.#waitingRetry ? [this.#waitingRetry] : []
    this.#inFlight = this.#waitingRetry = undefined
    this.#seal()
    while (this.#batches.length > 0) pending.push(this.#takeBatch())
    const deadline = performance.now() + DEFAULT_LOG_EXIT_FLUSH_TIMEOUT
    for (let buffer of pending) {
      while (buffer.length > 0) {
        try {
          buffer = buffer.subarray(fs.writeSync(this.#fd, buffer))
        } catch (error) {
          // A non-blocking stdout that is full: wait a moment, up to the deadline; anything else ends the attempt.
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || performance.now() > deadline) return
          Atomics.wait(SLEEP, 0, 0, 1)
        }
      }
    }
  }

  readonly #onInterval = (): void => {
    this.#timer = undefined
    this.#draining = true
    if (!this.#inFlight) this.#writeNext()
  }

  /** Starts the next write: a full batch, or whatever is held while draining; else waits for more lines. */
  #writeNext(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#batches.length === 0) {
      if (this.#filled === 0) {
        this.#draining = false
        this.#settleFlushes()
        return
      }
      if (!this.#draining) {
        this.#timer = setTimeout(this.#onInterval, this.#flushInterval).unref()
        return
      }
      this.#seal()
    }
    this.#send(this.#takeBatch())
  }

  #send(buffer: Buffer): void {
    if (this.#sync) return this.#sendSync(buffer)
    this.#inFlight = buffer
    this.#waitingRetry = undefined
    fs.write(this.#fd, buffer, 0, buffer.length, null, (error, written) => {
      if (this.#inFlight !== buffer) return
      if (error) {
        if (error.code === 'EAGAIN') {
          this.#waitingRetry = buffer
          setTimeout(() => this.#inFlight === buffer && this.#send(buffer), RETRY_AFTER_EAGAIN).unref()
          return
        }
        this.#fail(error)
        return
      }
      if (written < buffer.length) return this.#send(buffer.subarray(written))
      this.#inFlight = undefined
      this.#written(buffer)
      this.#writeNext()
    })
  }

  /** A regular file's write: on the event loop, where it costs a system call and no hand-over to another thread. */
  #sendSync(batch: Buffer): void {
    try {
      for (let buffer = batch; buffer.length > 0; ) buffer = buffer.subarray(fs.writeSync(this.#fd, buffer))
    } catch (error) {
      this.#fail(error as Error)
      return
    }
    this.#written(batch)
    this.#writeNext()
  }

  /** EPIPE (the reader is gone), EBADF, ENOSPC, EIO: nothing more can be written; no error may take the gateway down. */
  #fail(error: Error): void {
    this.#broken = true
    this.#inFlight = undefined
    this.#batches = []
    this.#filling = this.#spare = undefined
    this.#filled = 0
    this.#bufferedBytes = 0
    this.#settleFlushes(error)
  }

  #settleFlushes(error?: Error): void {
    for (const callback of this.#flushCallbacks.splice(0)) callback(error)
  }

  /** One line saying how many lines were dropped while stdout did not keep up, before the next line that is kept. */
  #noteDropped(): void {
    const line = `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, name: 'wsgate', dropped: this.#dropped, msg: 'log lines dropped: stdout did not keep up' })}\n`
    this.#dropped = 0
    this.#append(line)
  }
}

/** Whether `fd` is a regular file (not a pipe, socket or terminal, whose writes can wait for a reader). */
function isRegularFile(fd: number): boolean {
  try {
    return fs.fstatSync(fd).isFile()
  } catch {
    return false
  }
}

/** A 4-byte buffer to sleep on with Atomics.wait (a short pause between retries of a full stdout at exit). */
const SLEEP = new Int32Array(new SharedArrayBuffer(4))

/** Writers to flush at exit; weak, so a logger nobody uses any more is not kept. */
const exitWriters = new Set<WeakRef<BatchedWriter>>()
let exitHooked = false

/** Flushes `writer` synchronously when the process exits (one `exit` listener for every writer). */
function registerForExit(writer: BatchedWriter): void {
  if (!exitHooked) {
    exitHooked = true
    process.once('exit', () => {
      for (const ref of exitWriters) ref.deref()?.flushSync()
    })
  }
  for (const ref of exitWriters) if (!ref.deref()) exitWriters.delete(ref)
  exitWriters.add(new WeakRef(writer))
}
