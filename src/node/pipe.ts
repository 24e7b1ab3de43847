import type { Socket } from 'node:net'
import { SHARED_READ_BUFFER, writeCopy } from './origin/relay-buffers.ts'
import type { NodeOriginTunnel, OriginSink } from './origin/tunnel.ts'
import { closeFrame, FrameTracker, type CloseFrameListener } from './pipe/frames.ts'
import { ignoreHandshakeError } from './pipe/handshake-guard.ts'
import { readInto } from './pipe/shared-read.ts'

export { closeFrame, FrameTracker } from './pipe/frames.ts'

/**
 * Why the gateway itself ends a connection: the idle timeout, the maximum
 * lifetime, a drain, the gateway's shutdown, the expiry of the token that
 * opened it (`jwtAuth({ closeOnTokenExpiry })`), or an operator's
 * `pipe.close('operator', { code, reason })`.
 */
export type GatewayCloseCause = 'idle' | 'lifetime' | 'drain' | 'shutdown' | 'token-expired' | 'operator'

/** Who or what ended a piped connection: a side, an error on a side, or the gateway for one of its causes. */
export type CloseCause = 'client' | 'origin' | 'error' | GatewayCloseCause

/** Who started the end of a connection, as the connection-end log line says it. */
export type ClosedBy = 'client' | 'origin' | 'gateway'

/**
 * The close frame the gateway sends for each cause: 1001 (going away, RFC
 * 6455 §7.4.1) when the gateway recycles, idles or drains a connection, so
 * clients reconnect knowingly; 1008 (policy violation) when the token that
 * authorised it has expired, so they authenticate again first.
 */
export const GATEWAY_CLOSE_FRAMES: Readonly<Record<GatewayCloseCause, { readonly code: number; readonly reason: string }>> = {
  idle: { code: 1001, reason: 'idle timeout' },
  lifetime: { code: 1001, reason: 'max lifetime' },
  drain: { code: 1001, reason: 'gateway draining' },
  shutdown: { code: 1001, reason: 'gateway shutting down' },
  'token-expired': { code: 1008, reason: 'token expired' },
  operator: { code: 1001, reason: 'closed by the gateway' },
}

/** Settings of one pipe; all durations in ms. */
export interface PipeOptions {
  idleTimeout: number
  /** Lifetime after jitter has been applied. */
  lifetime: number
  halfCloseTimeout: number
  /** After the gateway began to close, how long the peers have to answer before both sockets are destroyed; the client's close waits at most half of it for the origin's answer. */
  closeGrace: number
  /**
   * Track frame boundaries and end gateway-initiated closes with close
   * frames; false relays blindly and ends such closes at the TCP level
   * (clients see 1006, the log cannot tell a client's close frame from an
   * origin's). @default true
   */
  closeFrames?: boolean
  /** When set (ms since the epoch), the connection is closed with 1008 `token expired` at that moment. */
  expiresAt?: number | undefined
  /** Called once, after both sockets have closed. */
  onEnd: (summary: PipeSummary) => void
}

/** What the connection-end log line reports. */
export interface PipeSummary {
  /** Who started the end: the first close frame seen, else the first side to end or fail, else the gateway. */
  closedBy: ClosedBy
  /** When the gateway ended it: why. */
  closeCause?: GatewayCloseCause
  /** The code of the close frame that started the end (the peer's, or the one the gateway sent); absent when none was seen. */
  closeCode?: number
  /** That close frame's reason. */
  closeReason?: string
  /** When a side failed: which side and how, e.g. `client ECONNRESET`. */
  error?: string
  durationMs: number
  /** Bytes relayed client → origin after the handshake. */
  bytesFromClient: number
  /** Bytes relayed origin → client after the handshake. */
  bytesFromOrigin: number
}

/** Options of {@link Pipe.close}: a code and reason other than the cause's own. */
export interface PipeCloseOptions {
  /** Close code sent to both sides (1000–4999). @default 1001, or 1008 for `token-expired` */
  closeCode?: number
  /** Close reason sent to both sides, cut to 123 bytes. @default the cause's, e.g. `gateway draining` */
  closeReason?: string
}

/**
 * The client side of a pipe: what the pipe really uses of it. A `net.Socket`
 * (an HTTP/1.1 upgrade, plain or TLS) is one as it is; an HTTP/2 stream
 * (RFC 8441) is one through its adapter (`h2/stream-endpoint.ts`), so the
 * pipe has one code path and no `instanceof`. Events the pipe listens to,
 * with the endpoint as `this`: `'data'`, `'end'` (the client's FIN, or its
 * END_STREAM), `'error'`, `'close'`, `'drain'`, `'timeout'`.
 */
export interface PipeEndpoint {
  /** Bytes handed to {@link write} so far (a socket's own counter). */
  readonly bytesWritten: number
  readonly destroyed: boolean
  readonly writableEnded: boolean
  readonly readableEnded: boolean
  /** The client's address (undefined once a socket has closed and forgotten it). */
  readonly remoteAddress?: string | undefined
  write(chunk: Uint8Array | string, callback?: (error?: Error | null) => void): boolean
  /** Ends the writing half after what is queued (FIN; END_STREAM). */
  end(): unknown
  /** Drops the endpoint at once (a reset; RST_STREAM). */
  destroy(): unknown
  pause(): unknown
  resume(): unknown
  setNoDelay(noDelay?: boolean): unknown
  /** The inactivity timer both directions refresh; `'timeout'` when it fires, 0 turns it off. */
  setTimeout(ms: number): unknown
  on(event: 'data', listener: (this: never, chunk: Buffer) => void): unknown
  on(event: 'error', listener: (this: never, error: NodeJS.ErrnoException) => void): unknown
  on(event: 'end' | 'close' | 'drain' | 'timeout', listener: (this: never) => void): unknown
  off(event: 'error', listener: (this: never, error: NodeJS.ErrnoException) => void): unknown
  off(event: 'end' | 'close', listener: (this: never) => void): unknown
}

/** The pipe a socket belongs to, set on both of its sockets. */
const PIPE = Symbol('wsgate.pipe')

/** A side of a pipe: the origin socket, or the client endpoint (a socket is one as it is). */
type PipedSocket = PipeEndpoint & { [PIPE]?: Pipe<PipeEndpoint> }

/**
 * A direction's state: relaying; relaying the origin's frames up to its
 * close frame while the gateway waits for the origin to answer its own
 * (origin → client only); waiting for the current frame to end to put a
 * close frame after it; or closed (a close frame went that way; later bytes
 * are read and dropped).
 */
const RELAY = 0
const AWAIT_ORIGIN = 1
const PENDING = 2
const HELD = 3
type Direction = typeof RELAY | typeof AWAIT_ORIGIN | typeof PENDING | typeof HELD

/** Longest delay a Node timer takes (ms); a token's expiry beyond it is left to the lifetime. */
const MAX_TIMER = 2 ** 31 - 1

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
 * A bidirectional byte pipe between an upgraded client socket and an
 * upgraded origin socket. Both sides read into one buffer shared by every
 * connection — the client through pipe/shared-read.ts, a raw-connector
 * origin through its own `onread` (origin/raw.ts) — and each read is copied
 * into a recycled slab for the write to the other side (other origins'
 * chunks are written as they come). A side whose reader falls behind
 * pauses the other until `'drain'`, so memory stays bounded by the sockets'
 * high-water marks, and a streaming pipe allocates almost nothing per read.
 * Byte counts come from the sockets' own counters and the idle timer is the
 * client socket's own inactivity timer, which both directions refresh.
 *
 * A {@link FrameTracker} per direction reads the frame headers (never the
 * payloads) before each chunk is written, so the pipe knows where frames
 * end and which close frame each side sent. When the gateway ends the
 * connection (idle, lifetime, drain, shutdown, token expiry, `close()`), it
 * puts a close frame between frames toward each side — unmasked to the
 * client, masked to the origin; right after the current frame when a side
 * is mid-frame — drops what each side sends after that point except to look
 * for its close frame, ends each side once it has answered, and destroys
 * what is left after `closeGrace`. The origin is told first: its replies
 * already on their way (the answer to the client's last message) are
 * relayed to the client until the origin's own close frame, which the
 * client gets in the gateway's words; an origin that has not answered
 * within half the grace no longer holds the client's close back.
 *
 * Every listener is a module-level function that finds its pipe through the
 * socket: an idle connection holds two sockets and this object, not a dozen
 * closures (it is what 100,000 idle connections are made of).
 */
export class Pipe<Client extends PipeEndpoint = Socket> implements CloseFrameListener, OriginSink {
  readonly client: Client
  readonly origin: Socket
  readonly #options: PipeOptions
  readonly #startedAt = performance.now()
  readonly #clientWrittenAtStart: number
  readonly #originWrittenAtStart: number
  /** Frames client → origin and origin → client; undefined with `closeFrames: false`. */
  readonly #fromClient: FrameTracker | undefined
  readonly #fromOrigin: FrameTracker | undefined
  #toOrigin: Direction = RELAY
  #toClient: Direction = RELAY
  /** The close frame the gateway is sending, once it has begun to close. */
  #closing: { code: number; reason: string } | undefined
  #closedBy: ClosedBy | undefined
  #closeCause: GatewayCloseCause | undefined
  #closeCode: number | undefined
  #closeReason: string | undefined
  #error: string | undefined
  /** The lifetime, or the token's expiry when that comes first. */
  #deadlineTimer: NodeJS.Timeout | undefined
  #deadlineCause: GatewayCloseCause = 'lifetime'
  #halfCloseTimer: NodeJS.Timeout | undefined
  /** While the origin → client direction awaits the origin's close frame: half the grace, then the client's close goes anyway. */
  #originAnswerTimer: NodeJS.Timeout | undefined
  #graceTimer: NodeJS.Timeout | undefined
  #closedSides = 0
  #finished = false
  #done: { promise: Promise<void>; resolve: () => void } | undefined

  /**
   * Starts relaying. `clientHead` and `originHead` are bytes each side sent
   * together with its handshake; they are forwarded first, so order holds.
   */
  constructor(client: Client, tunnel: NodeOriginTunnel, clientHead: Buffer, options: PipeOptions) {
    const { socket: origin, head: originHead, relay } = tunnel
    this.client = client
    this.origin = origin
    this.#options = options
    this.#clientWrittenAtStart = client.bytesWritten
    this.#originWrittenAtStart = origin.bytesWritten
    if (options.closeFrames !== false) {
      this.#fromClient = new FrameTracker(this)
      this.#fromOrigin = new FrameTracker(this)
    }
    ;(client as PipedSocket)[PIPE] = this
    ;(origin as PipedSocket)[PIPE] = this

    // Small frames (pings, chat messages) must not wait for Nagle.
    client.setNoDelay(true)
    origin.setNoDelay(true)
    // A client whose head the gateway read itself (first-head.ts) was paused outright, which a 'data' listener does
    // not undo: set flowing here (from the next tick, once the listeners below are on), before a relay may pause it.
    client.resume()
    if (originHead.length > 0) this.relayChunk(origin, originHead)
    if (clientHead.length > 0) this.relayChunk(client, clientHead)

    client.on('end', onEnd)
    origin.on('end', onEnd)
    client.on('error', onError)
    origin.on('error', onError)
    // The handshake's guards are redundant now; a lone listener is held without an array (pipe/handshake-guard.ts).
    client.off('error', ignoreHandshakeError)
    origin.off('error', ignoreHandshakeError)
    client.on('close', onClose)
    origin.on('close', onClose)
    client.on('drain', onDrain)
    origin.on('drain', onDrain)
    client.setTimeout(options.idleTimeout)
    client.on('timeout', onIdle)
    let deadline = roundedLifetime(options.lifetime)
    if (options.expiresAt !== undefined) {
      const untilExpiry = Math.max(0, options.expiresAt - Date.now())
      if (untilExpiry < deadline && untilExpiry <= MAX_TIMER) {
        // Whole seconds down (one Node timer list per distinct duration, not one per connection); deadline()
        // waits out the rest of the second, so the close comes at `exp`, never after it.
        deadline = Math.floor(untilExpiry / 1000) * 1000
        this.#deadlineCause = 'token-expired'
      }
    }
    this.#deadlineTimer = setTimeout(onDeadline, deadline, this)

    // The client's reads land in the shared relay buffer too (pipe/shared-read.ts), not in a fresh 64 KiB
    // buffer each; 'data' still brings what the socket had read before the switch (normally nothing).
    // (An endpoint that is not a socket, an HTTP/2 stream, has no handle there: it reads 'data' events.)
    readInto(client, SHARED_READ_BUFFER, onClientRead)
    client.on('data', onData)
    // A raw-connector origin reads into the shared relay buffer and hands each read to relayFromOrigin().
    if (relay) relay.start(this)
    else origin.on('data', onData)
    // The handshake paused both sockets; 'data' listeners set them flowing, the relay resumes its own.
  }

  /** Resolves once both sockets have closed and the connection's end has been reported. */
  get done(): Promise<void> {
    if (!this.#done) {
      let resolve!: () => void
      const promise = new Promise<void>((settle) => (resolve = settle))
      this.#done = { promise, resolve }
      if (this.#finished) resolve()
    }
    return this.#done.promise
  }

  /**
   * Ends the connection from the gateway's side: a close frame with the
   * cause's code and reason (see {@link GATEWAY_CLOSE_FRAMES}), or the given
   * ones, goes to each side between frames; each side is ended once it has
   * answered with its own close frame (or has left), and whatever is left
   * is destroyed after `closeGrace`. A later call, for whatever cause, does
   * nothing. Without frame tracking (`closeFrames: false`) both sockets are
   * destroyed at once.
   *
   * @example
   * for (const pipe of state.pipes) pipe.close('drain')
   */
  close(cause: GatewayCloseCause, options: PipeCloseOptions = {}): void {
    if (this.#finished || this.#closing) return
    const preset = GATEWAY_CLOSE_FRAMES[cause]
    const code = options.closeCode ?? preset.code
    const reason = options.closeReason ?? preset.reason
    // Without trackers, or when a side sent something that is not WebSocket framing, there is no frame boundary to close at.
    const framed = this.#fromClient !== undefined && !this.#fromClient.lost && !this.#fromOrigin!.lost
    if (this.#closedBy === undefined) {
      this.#closedBy = 'gateway'
      this.#closeCause = cause
      if (framed) {
        this.#closeCode = code
        this.#closeReason = reason
      }
    }
    this.client.setTimeout(0)
    clearTimeout(this.#deadlineTimer)
    clearTimeout(this.#halfCloseTimer)
    if (!framed) {
      destroyBoth(this)
      return
    }
    this.#closing = { code, reason }
    const grace = this.#options.closeGrace
    this.#graceTimer = setTimeout(destroyBoth, grace, this)
    this.#startClose(true)
    // A shutdown drops both sockets right after the close frames: there is no time to wait for the origin.
    if (cause === 'shutdown' || this.#fromOrigin!.closeSeen || this.origin.destroyed || this.origin.readableEnded) this.#startClose(false)
    else {
      this.#toClient = AWAIT_ORIGIN
      this.#originAnswerTimer = setTimeout(onOriginSilent, grace / 2, this)
    }
    this.#checkClosing()
  }

  /** The origin has not answered the gateway's close within half the grace: the client's close goes now. */
  originSilent(): void {
    if (this.#toClient !== AWAIT_ORIGIN) return
    this.#startClose(false)
    this.#checkClosing()
  }

  /**
   * A chunk read from `from` as a `'data'` event (the chunk is its own):
   * written to the other side, which pauses `from` when its buffer is full.
   */
  relayChunk(from: PipeEndpoint, chunk: Buffer): void {
    if (!this.#relay(from === this.client, chunk, chunk.length, false)) from.pause()
  }

  /** A read of the client socket into the shared relay buffer, `bytes[0, length)`. Returns false to pause the client. */
  relayFromClient(bytes: Buffer, length: number): boolean {
    return this.#relay(true, bytes, length, true)
  }

  /** A read of the raw connector's origin socket into the shared relay buffer, `bytes[0, length)`. Returns false to pause the origin. */
  relayFromOrigin(bytes: Buffer, length: number): boolean {
    return this.#relay(false, bytes, length, true)
  }

  /**
   * One read in one direction, `bytes[0, length)`: followed by that
   * direction's tracker, then written to the other side — through a
   * recycled slab when `copy` (the bytes are in the shared relay buffer and
   * valid only until this returns). Returns false when the other side's
   * buffer is full (pause this side).
   */
  #relay(fromClient: boolean, bytes: Buffer, length: number, copy: boolean): boolean {
    if ((fromClient ? this.#toOrigin : this.#toClient) !== RELAY) return this.#closingChunk(fromClient, bytes, length, copy)
    ;(fromClient ? this.#fromClient : this.#fromOrigin)?.scan(bytes, 0, length)
    const to: PipeEndpoint = fromClient ? this.origin : this.client
    // The other side is gone or has ended its writing half: drop the bytes but keep reading, so this side's FIN is seen.
    if (to.destroyed || to.writableEnded) return true
    return copy ? writeCopy(to, bytes, length) : to.write(bytes)
  }

  /** The close-frame listener of both trackers: the first close frame names who closed. */
  closeFrame(tracker: FrameTracker): void {
    if (this.#closedBy === undefined) {
      this.#closedBy = tracker === this.#fromClient ? 'client' : 'origin'
      this.#closeCode = tracker.closeCode
      this.#closeReason = tracker.closeReason
    }
    // An origin close frame whose header had begun when the gateway started to close has gone through whole:
    // it is the client's close frame (one per direction, RFC 6455 §5.5.1).
    if (this.#toClient === AWAIT_ORIGIN && tracker === this.#fromOrigin) this.#startClose(false)
    if (this.#closing) this.#checkClosing()
  }

  /** One side sent FIN: end the other's writing side after what is queued, and bound how long it may stay half-open. */
  ended(side: PipeEndpoint): void {
    if (this.#closing) {
      this.#checkClosing()
      return
    }
    this.#endOther(side)
  }

  /** A side failed (a reset, a TLS error): when nothing else ended the connection first, that side did, with this error. */
  failed(side: PipeEndpoint, error: NodeJS.ErrnoException): void {
    if (this.#closedBy !== undefined) return
    this.#closedBy = side === this.client ? 'client' : 'origin'
    this.#error = `${this.#closedBy} ${error.code ?? error.message}`
  }

  /** One socket is gone: flush and end the other, which then has the half-close timeout to finish. */
  sideClosed(side: PipeEndpoint): void {
    if (this.#closing) {
      // The other side may still answer the gateway's close frame; what it sends is read and dropped.
      const other = this.#other(side)
      if (!other.destroyed) other.resume()
      this.#checkClosing()
    } else {
      const other = this.#endOther(side)
      // The other side may be paused waiting for a 'drain' of this one that will never come; nothing it
      // sends can be delivered now, so read and drop it until its FIN instead of waiting out the half-close timeout.
      if (!other.destroyed) other.resume()
    }
    if (++this.#closedSides === 2) this.#finish()
  }

  /** The gateway's close toward the origin (`towardOrigin`) or the client: now when between frames, else after the current frame. */
  #startClose(towardOrigin: boolean): void {
    if (!towardOrigin) clearTimeout(this.#originAnswerTimer)
    const tracker = towardOrigin ? this.#fromClient! : this.#fromOrigin!
    if (tracker.closeSeen || tracker.atBoundary) this.#sendClose(towardOrigin)
    else if (towardOrigin) this.#toOrigin = PENDING
    else this.#toClient = PENDING
  }

  /** Writes the gateway's close frame one way (unless that side's peer already sent one through), and holds that direction. */
  #sendClose(towardOrigin: boolean): void {
    const tracker = towardOrigin ? this.#fromClient! : this.#fromOrigin!
    const to: PipeEndpoint = towardOrigin ? this.origin : this.client
    const from: PipeEndpoint = towardOrigin ? this.client : this.origin
    if (towardOrigin) this.#toOrigin = HELD
    else this.#toClient = HELD
    // RFC 6455 §5.5.1: one close frame per direction. The gateway speaks as a server to the client (unmasked) and as a client to the origin (masked, §5.3).
    if (!tracker.closeSeen && !to.destroyed && !to.writableEnded) to.write(closeFrame(this.#closing!.code, this.#closing!.reason, towardOrigin))
    // Nothing more goes that way; the sender is read on (and dropped) so that its close frame is seen.
    if (!from.destroyed) from.resume()
  }

  /**
   * A chunk of a direction the gateway is closing. Toward the client while
   * the origin is to answer first, the origin's frames are relayed up to
   * its close frame, where the gateway's close goes in instead. Otherwise,
   * while the current frame goes on it is relayed, and where it ends the
   * close frame goes in. What comes after is only scanned for the sender's
   * own close frame. Returns false to pause the sender (its frames still
   * have to reach a reader that is behind).
   */
  #closingChunk(fromClient: boolean, bytes: Buffer, length: number, copy: boolean): boolean {
    const tracker = fromClient ? this.#fromClient! : this.#fromOrigin!
    const to: PipeEndpoint = fromClient ? this.origin : this.client
    let at = 0
    let keepReading = true
    if (!fromClient && this.#toClient === AWAIT_ORIGIN) {
      at = tracker.scan(bytes, 0, length, 'close')
      if (at > 0) keepReading = this.#write(to, bytes, at, copy)
      if (at === length) return keepReading
      // The origin's close frame begins at `at`, between frames: the gateway's goes to the client in its place.
      this.#startClose(false)
      this.#checkClosing()
      keepReading = true
    } else if ((fromClient ? this.#toOrigin : this.#toClient) === PENDING) {
      at = tracker.scan(bytes, 0, length, 'boundary')
      if (at > 0) keepReading = this.#write(to, bytes, at, copy)
      if (!tracker.atBoundary) return keepReading
      this.#sendClose(fromClient)
      keepReading = true
      this.#checkClosing()
    }
    if (at < length) tracker.scan(bytes, at, length)
    return keepReading
  }

  /** Writes `bytes[0, length)` to `to` (through a slab when the bytes are the shared relay buffer); false when its buffer is full. */
  #write(to: PipeEndpoint, bytes: Buffer, length: number, copy: boolean): boolean {
    if (to.destroyed || to.writableEnded) return true
    if (copy) return writeCopy(to, bytes, length)
    return to.write(length === bytes.length ? bytes : bytes.subarray(0, length))
  }

  /**
   * While the gateway closes: a side is ended once a close frame went to it
   * and it has answered with its own (or stopped sending); a direction still
   * waiting for its frame to end is given up when its sender has stopped,
   * since that frame can never be finished.
   */
  #checkClosing(): void {
    // The origin has left without answering the gateway's close: the client's close need not wait.
    if (this.#toClient === AWAIT_ORIGIN && (this.origin.destroyed || this.origin.readableEnded)) this.#startClose(false)
    this.#settleSide(this.client, this.#toClient, this.#fromClient!, this.#toOrigin, this.origin)
    this.#settleSide(this.origin, this.#toOrigin, this.#fromOrigin!, this.#toClient, this.client)
  }

  #settleSide(side: PipeEndpoint, toSide: Direction, fromSide: FrameTracker, fromSideState: Direction, other: PipeEndpoint): void {
    if (side.destroyed) {
      // Its pending close toward the other side can never come: end the other after what is queued.
      if (fromSideState === PENDING && !other.destroyed && !other.writableEnded) other.end()
      return
    }
    const stopped = side.readableEnded
    if (toSide === HELD && (fromSide.closeSeen || stopped) && !side.writableEnded) side.end()
    if (stopped && fromSideState === PENDING && !other.destroyed && !other.writableEnded) other.end()
  }

  /** `side` is done sending: record who ended first, end the other's writing half, start the half-close bound. */
  #endOther(side: PipeEndpoint): PipeEndpoint {
    this.#closedBy ??= side === this.client ? 'client' : 'origin'
    const other = this.#other(side)
    if (!other.destroyed && !other.writableEnded) other.end()
    this.#armHalfClose()
    return other
  }

  #other(side: PipeEndpoint): PipeEndpoint {
    return side === this.client ? this.origin : this.client
  }

  #armHalfClose(): void {
    if (this.#halfCloseTimer || this.#finished) return
    this.#halfCloseTimer = setTimeout(destroyBoth, this.#options.halfCloseTimeout, this)
  }

  #finish(): void {
    if (this.#finished) return
    this.#finished = true
    clearTimeout(this.#deadlineTimer)
    clearTimeout(this.#halfCloseTimer)
    clearTimeout(this.#graceTimer)
    clearTimeout(this.#originAnswerTimer)
    this.client.setTimeout(0)
    const summary: PipeSummary = {
      closedBy: this.#closedBy ?? 'gateway',
      durationMs: Math.round(performance.now() - this.#startedAt),
      bytesFromClient: this.origin.bytesWritten - this.#originWrittenAtStart,
      bytesFromOrigin: this.client.bytesWritten - this.#clientWrittenAtStart,
    }
    if (this.#closeCause !== undefined) summary.closeCause = this.#closeCause
    if (this.#closeCode !== undefined) summary.closeCode = this.#closeCode
    if (this.#closeReason !== undefined) summary.closeReason = this.#closeReason
    if (this.#error) summary.error = this.#error
    this.#done?.resolve()
    this.#options.onEnd(summary)
  }

  /** The lifetime (or the token's expiry) has come. */
  deadline(): void {
    if (this.#deadlineCause === 'token-expired') {
      // The timer ran to the whole second before `exp`: the rest (under a second; at most 1,000 timer lists for all connections).
      const left = this.#options.expiresAt! - Date.now()
      if (left > 0) {
        // (Bounded: a wall clock set back by weeks must not overflow the timer into a 1 ms loop.)
        this.#deadlineTimer = setTimeout(onDeadline, Math.min(left, MAX_TIMER), this)
        return
      }
    }
    this.close(this.#deadlineCause)
  }
}

// The listeners: `this` is the socket that emitted.

/** A chunk from one side: write it to the other, and stop reading while that one's buffer is full. */
function onData(this: PipedSocket, chunk: Buffer): void {
  this[PIPE]!.relayChunk(this, chunk)
}

/** A read of the client socket into the shared relay buffer (`this` is the socket); false pauses it. */
function onClientRead(this: PipedSocket, length: number, bytes: Buffer): boolean {
  return this[PIPE]!.relayFromClient(bytes, length)
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

function onDeadline(pipe: Pipe<PipeEndpoint>): void {
  pipe.deadline()
}

function onOriginSilent(pipe: Pipe<PipeEndpoint>): void {
  pipe.originSilent()
}

function destroyBoth(pipe: Pipe<PipeEndpoint>): void {
  pipe.client.destroy()
  pipe.origin.destroy()
}
