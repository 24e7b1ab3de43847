import type { Socket } from 'node:net'

/** Who or what ended a piped connection. */
export type CloseCause = 'client' | 'origin' | 'idle' | 'lifetime' | 'error' | 'shutdown'

/** Settings of one pipe; all durations in ms. */
export interface PipeOptions {
  idleTimeout: number
  /** Lifetime after jitter has been applied. */
  lifetime: number
  halfCloseTimeout: number
  /** Called once, after both sockets have closed. */
  onEnd: (summary: PipeSummary) => void
}

/** What the connection-end log line reports. */
export interface PipeSummary {
  closedBy: CloseCause
  /** For `error`: which side failed and how, e.g. `client ECONNRESET`. */
  error?: string
  durationMs: number
  /** Bytes relayed client → origin after the handshake. */
  bytesFromClient: number
  /** Bytes relayed origin → client after the handshake. */
  bytesFromOrigin: number
}

/**
 * A raw bidirectional byte pipe between an upgraded client socket and an
 * upgraded origin socket. It parses nothing: `stream.pipe()` carries the
 * bytes and its backpressure (a reader that stops reading pauses the writer
 * on the other side, so memory stays bounded by the stream high-water marks).
 * The hot path has no per-chunk code of ours: byte counts come from the
 * sockets' own counters and the idle timer is the client socket's own
 * inactivity timer, which both directions refresh (every byte read from one
 * side is written to the other).
 */
export class Pipe {
  readonly client: Socket
  readonly origin: Socket
  readonly #options: PipeOptions
  readonly #startedAt = performance.now()
  readonly #clientWrittenAtStart: number
  readonly #originWrittenAtStart: number
  #closedBy: CloseCause | undefined
  #error: string | undefined
  #lifetimeTimer: NodeJS.Timeout | undefined
  #halfCloseTimer: NodeJS.Timeout | undefined
  #closedSides = 0
  #finished = false

  /**
   * Starts relaying. `clientHead` and `originHead` are bytes each side sent
   * together with its handshake; they are forwarded first, so order holds.
   */
  constructor(client: Socket, origin: Socket, clientHead: Buffer, originHead: Buffer, options: PipeOptions) {
    this.client = client
    this.origin = origin
    this.#options = options
    this.#clientWrittenAtStart = client.bytesWritten
    this.#originWrittenAtStart = origin.bytesWritten

    // Small frames (pings, chat messages) must not wait for Nagle.
    client.setNoDelay(true)
    origin.setNoDelay(true)
    if (originHead.length > 0) client.write(originHead)
    if (clientHead.length > 0) origin.write(clientHead)

    client.on('end', () => this.#ended('client'))
    origin.on('end', () => this.#ended('origin'))
    client.on('error', (error) => this.#failed('client', error))
    origin.on('error', (error) => this.#failed('origin', error))
    client.on('close', () => this.#sideClosed('client'))
    origin.on('close', () => this.#sideClosed('origin'))
    client.setTimeout(options.idleTimeout, () => this.close('idle'))
    this.#lifetimeTimer = setTimeout(() => this.close('lifetime'), options.lifetime)

    client.pipe(origin)
    origin.pipe(client)
  }

  /** Ends the connection from the gateway's side (idle, lifetime, shutdown). */
  close(cause: CloseCause): void {
    this.#closedBy ??= cause
    this.client.destroy()
    this.origin.destroy()
  }

  /** One side sent FIN: `pipe()` has already ended the other; bound how long it may stay half-open. */
  #ended(side: 'client' | 'origin'): void {
    this.#closedBy ??= side
    this.#armHalfClose()
  }

  #failed(side: 'client' | 'origin', error: NodeJS.ErrnoException): void {
    if (!this.#closedBy) {
      this.#closedBy = 'error'
      this.#error = `${side} ${error.code ?? error.message}`
    }
  }

  /** One socket is gone: flush and end the other, which then has the half-close timeout to finish. */
  #sideClosed(side: 'client' | 'origin'): void {
    this.#closedBy ??= side
    const other = side === 'client' ? this.origin : this.client
    if (!other.destroyed && !other.writableEnded) other.end()
    this.#armHalfClose()
    if (++this.#closedSides === 2) this.#finish()
  }

  #armHalfClose(): void {
    if (this.#halfCloseTimer || this.#finished) return
    this.#halfCloseTimer = setTimeout(() => {
      this.client.destroy()
      this.origin.destroy()
    }, this.#options.halfCloseTimeout)
  }

  #finish(): void {
    if (this.#finished) return
    this.#finished = true
    clearTimeout(this.#lifetimeTimer)
    clearTimeout(this.#halfCloseTimer)
    this.client.setTimeout(0)
    const summary: PipeSummary = {
      closedBy: this.#closedBy ?? 'error',
      durationMs: Math.round(performance.now() - this.#startedAt),
      bytesFromClient: this.origin.bytesWritten - this.#originWrittenAtStart,
      bytesFromOrigin: this.client.bytesWritten - this.#clientWrittenAtStart,
    }
    if (this.#error) summary.error = this.#error
    this.#options.onEnd(summary)
  }
}
