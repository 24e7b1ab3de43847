import { EventEmitter } from 'node:events'
import { constants, type ServerHttp2Stream } from 'node:http2'
import type { PipeEndpoint } from '../pipe.ts'

/**
 * An HTTP/2 stream (an RFC 8441 extended CONNECT) as the client side of a
 * pipe: the {@link PipeEndpoint} a `net.Socket` is by itself. The pipe
 * relays the stream's DATA as raw bytes, exactly as it relays an upgraded
 * socket's, so its frame tracker, close frames, limits and byte counts
 * apply unchanged. What differs is mapped here:
 *
 * - `bytesWritten`: a stream has no byte counter; the bytes handed to
 *   {@link write} are counted, as a socket counts them.
 * - `setNoDelay`: Nagle is the session's socket's, set once per session.
 * - The client's END_STREAM is `'end'` (a half-close, as a socket's FIN);
 *   its RST_STREAM, or the session's end, is an `'error'`
 *   (`ERR_HTTP2_STREAM_RESET`, the pipe's `client …` error) and `'close'`.
 * - {@link destroy} resets the stream (RST_STREAM CANCEL), the abortive
 *   close of a socket; {@link end} ends the gateway's half (END_STREAM).
 *   Neither touches the session or its other streams.
 * - `'timeout'` is the stream's own inactivity timer, which Node refreshes
 *   on DATA either way, as a socket's on reads and writes.
 *
 * The stream's DATA flows only once the pipe listens for `'data'`; until
 * then what the client sends waits in the stream (HTTP/2 flow control
 * holds the rest back).
 */
export class H2StreamEndpoint extends EventEmitter implements PipeEndpoint {
  readonly stream: ServerHttp2Stream
  /** The client's address: the session's socket's, read once (a closed socket forgets it). */
  readonly remoteAddress: string | undefined
  #bytesWritten = 0
  #reading = false

  constructor(stream: ServerHttp2Stream) {
    super()
    this.stream = stream
    this.remoteAddress = stream.session?.socket?.remoteAddress
    const target = stream as ServerHttp2Stream & { [ENDPOINT]?: H2StreamEndpoint }
    target[ENDPOINT] = this
    stream.on('end', forwardEnd)
    stream.on('error', forwardError)
    stream.on('aborted', forwardAborted)
    stream.on('close', forwardClose)
    stream.on('drain', forwardDrain)
    stream.on('timeout', forwardTimeout)
  }

  get bytesWritten(): number {
    return this.#bytesWritten
  }

  get destroyed(): boolean {
    return this.stream.destroyed
  }

  get writableEnded(): boolean {
    return this.stream.writableEnded
  }

  get readableEnded(): boolean {
    return this.stream.readableEnded
  }

  /** `'data'` listeners set the stream flowing: the first one starts forwarding its DATA. */
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    super.on(event, listener as (...args: unknown[]) => void)
    if (event === 'data' && !this.#reading) {
      this.#reading = true
      this.stream.on('data', forwardData)
    }
    return this
  }

  write(chunk: Uint8Array | string, callback?: (error?: Error | null) => void): boolean {
    this.#bytesWritten += typeof chunk === 'string' ? Buffer.byteLength(chunk, 'latin1') : chunk.byteLength
    return callback ? this.stream.write(chunk, callback) : this.stream.write(chunk)
  }

  end(): void {
    this.stream.end()
  }

  /** Resets the stream (RST_STREAM CANCEL); the session and its other streams go on. */
  destroy(): void {
    const { stream } = this
    if (stream.destroyed) return
    if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL)
    stream.destroy()
  }

  pause(): void {
    this.stream.pause()
  }

  resume(): void {
    this.stream.resume()
  }

  /** Nagle is the session socket's (set when the session starts). */
  setNoDelay(): void {}

  setTimeout(ms: number): void {
    this.stream.setTimeout(ms)
  }
}

/** The endpoint of a stream, set on the stream: its listeners are module-level functions, none made per stream. */
const ENDPOINT = Symbol('wsgate.h2.endpoint')

type EndpointStream = ServerHttp2Stream & { [ENDPOINT]: H2StreamEndpoint }

function forwardData(this: EndpointStream, chunk: Buffer): void {
  this[ENDPOINT].emit('data', chunk)
}

function forwardEnd(this: EndpointStream): void {
  this[ENDPOINT].emit('end')
}

function forwardError(this: EndpointStream, error: Error): void {
  const endpoint = this[ENDPOINT]
  // Errors go where someone listens (the handshake's guard, then the pipe); 'close' follows either way.
  if (endpoint.listenerCount('error') > 0) endpoint.emit('error', error)
}

/** The client reset the stream (or its session went away) before both halves ended. */
function forwardAborted(this: EndpointStream): void {
  const error = Object.assign(new Error(`stream reset (code ${this.rstCode ?? 'none'})`), { code: 'ERR_HTTP2_STREAM_RESET' })
  forwardError.call(this, error)
}

function forwardClose(this: EndpointStream): void {
  this[ENDPOINT].emit('close')
}

function forwardDrain(this: EndpointStream): void {
  this[ENDPOINT].emit('drain')
}

function forwardTimeout(this: EndpointStream): void {
  this[ENDPOINT].emit('timeout')
}
