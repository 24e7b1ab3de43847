import type { Socket } from 'node:net'
import type { NodeOriginTunnel } from './origin/tunnel.ts'

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

/** The pipe a socket belongs to, set on both of its sockets. */
const PIPE = Symbol('wsgate.pipe')

/** A socket of a pipe. */
type PipedSocket = Socket & { [PIPE]?: Pipe }

/**
 * A lifetime rounded to about a thousandth of itself, in whole seconds (when
 * over a minute). Node keeps one timer list per distinct duration and jitter
 * makes every connection's lifetime distinct: unrounded, 10,000 connections
 * held 10,000 lists. Rounded, 4 h ± 5 % has about 100 values, still enough
 * to spread a fleet's recycles over the jitter window.
 */
function roundedLifetime(lifetime: number): number {
  if (lifetime <= 60_000) return lifetime
  const step = 1000 * Math.max(1, Math.round(lifetime / 1_000_000))
  return Math.round(lifetime / step) * step
}

/**
 * A raw bidirectional byte pipe between an upgraded client socket and an
 * upgraded origin socket. It parses nothing: the client's chunks are written
 * to the origin as they come, the origin's through the raw connector's relay
 * (origin/raw.ts) or as chunks too, and a side whose reader falls behind
 * pauses the other until `'drain'`, so memory stays bounded by the sockets'
 * high-water marks. Byte counts come from the sockets' own counters and the
 * idle timer is the client socket's own inactivity timer, which both
 * directions refresh (every byte read from one side is written to the other).
 *
 * Every listener is a module-level function that finds its pipe through the
 * socket: an idle connection holds two sockets and this object, not a dozen
 * closures (it is what 100,000 idle connections are made of).
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
  constructor(client: Socket, tunnel: NodeOriginTunnel, clientHead: Buffer, options: PipeOptions) {
    const { socket: origin, head: originHead, relay } = tunnel
    this.client = client
    this.origin = origin
    this.#options = options
    this.#clientWrittenAtStart = client.bytesWritten
    this.#originWrittenAtStart = origin.bytesWritten
    ;(client as PipedSocket)[PIPE] = this
    ;(origin as PipedSocket)[PIPE] = this

    // Small frames (pings, chat messages) must not wait for Nagle.
    client.setNoDelay(true)
    origin.setNoDelay(true)
    if (originHead.length > 0) client.write(originHead)
    if (clientHead.length > 0) origin.write(clientHead)

    client.on('end', onEnd)
    origin.on('end', onEnd)
    client.on('error', onError)
    origin.on('error', onError)
    client.on('close', onClose)
    origin.on('close', onClose)
    client.on('drain', onDrain)
    origin.on('drain', onDrain)
    client.setTimeout(options.idleTimeout)
    client.on('timeout', onIdle)
    this.#lifetimeTimer = setTimeout(onLifetime, roundedLifetime(options.lifetime), this)

    client.on('data', onData)
    // A raw-connector origin reads into the shared relay buffer and writes through recycled slabs.
    if (relay) relay.start(client)
    else origin.on('data', onData)
    // The handshake paused both sockets; 'data' listeners set them flowing, the relay resumes its own.
  }

  /** Ends the connection from the gateway's side (idle, lifetime, shutdown). */
  close(cause: CloseCause): void {
    this.#closedBy ??= cause
    destroyBoth(this)
  }

  /** One side sent FIN: end the other's writing side after what is queued, and bound how long it may stay half-open. */
  ended(side: Socket): void {
    this.#endOther(side)
  }

  failed(side: Socket, error: NodeJS.ErrnoException): void {
    if (!this.#closedBy) {
      this.#closedBy = 'error'
      this.#error = `${side === this.client ? 'client' : 'origin'} ${error.code ?? error.message}`
    }
  }

  /** One socket is gone: flush and end the other, which then has the half-close timeout to finish. */
  sideClosed(side: Socket): void {
    const other = this.#endOther(side)
    // The other side may be paused waiting for a 'drain' of this one that will never come; nothing it
    // sends can be delivered now, so read and drop it until its FIN instead of waiting out the half-close timeout.
    if (!other.destroyed) other.resume()
    if (++this.#closedSides === 2) this.#finish()
  }

  /** `side` is done sending: record who ended first, end the other's writing half, start the half-close bound. */
  #endOther(side: Socket): Socket {
    this.#closedBy ??= side === this.client ? 'client' : 'origin'
    const other = this.#other(side)
    if (!other.destroyed && !other.writableEnded) other.end()
    this.#armHalfClose()
    return other
  }

  #other(side: Socket): Socket {
    return side === this.client ? this.origin : this.client
  }

  #armHalfClose(): void {
    if (this.#halfCloseTimer || this.#finished) return
    this.#halfCloseTimer = setTimeout(destroyBoth, this.#options.halfCloseTimeout, this)
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

// The listeners: `this` is the socket that emitted.

/** A chunk from one side: write it to the other, and stop reading while that one's buffer is full. */
function onData(this: PipedSocket, chunk: Buffer): void {
  const pipe = this[PIPE]!
  const other = this === pipe.client ? pipe.origin : pipe.client
  // The other side is gone or has ended its writing half: nobody can receive these bytes.
  if (other.writableEnded || other.destroyed) return
  if (!other.write(chunk)) this.pause()
}

/** This side's buffer emptied: the other side may read again. */
function onDrain(this: PipedSocket): void {
  const pipe = this[PIPE]!
  const other = this === pipe.client ? pipe.origin : pipe.client
  if (!other.destroyed) other.resume()
}

function onEnd(this: PipedSocket): void {
  this[PIPE]!.ended(this)
}

function onError(this: PipedSocket, error: NodeJS.ErrnoException): void {
  this[PIPE]!.failed(this, error)
}

function onClose(this: PipedSocket): void {
  this[PIPE]!.sideClosed(this)
}

function onIdle(this: PipedSocket): void {
  this[PIPE]!.close('idle')
}

function onLifetime(pipe: Pipe): void {
  pipe.close('lifetime')
}

function destroyBoth(pipe: Pipe): void {
  pipe.client.destroy()
  pipe.origin.destroy()
}
