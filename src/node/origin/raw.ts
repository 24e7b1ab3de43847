import net, { type Socket } from 'node:net'
import tls from 'node:tls'
import { ERROR_HEADER, type GatewayError } from '../../errors.ts'
import type { OriginAnswer, OriginRequest, OriginTls } from '../../runtime.ts'
import { NodeOriginTunnel, type OriginRelay, type OriginSink } from './tunnel.ts'
import { HeadHeaders } from '../../head-headers.ts'
import {
  badOriginHandshake,
  noteOriginCause,
  noteOriginTimeout,
  originFailure,
  originTlsFailed,
  originUnavailable,
  settleOnce,
  toHeaders,
  unrelayableStatus,
  upgradeTimedOut,
  type OriginRequestHooks,
} from './request.ts'
import { ignoreHandshakeError } from '../pipe/handshake-guard.ts'
import { originTlsOptions } from './tls.ts'
import { SHARED_READ_BUFFER } from './relay-buffers.ts'
import { BodyDecoder, bodyFraming, unsupportedTransferCoding } from './response-body.ts'
import { headEnd, MalformedResponseHead, MAX_RESPONSE_HEAD, parseResponseHead, relayedUpgradeLines, type ResponseHead } from './response-head.ts'

/**
 * The origin connector for `ws://` and `wss://` origins: a TCP socket (or a
 * TLS one, `tls.connect`, verified as the route's `tls` says), the upgrade
 * request written by hand, the answer's head parsed by hand. Node's
 * `ClientRequest` (an llhttp parser, an agent, its events) cost about 40 µs
 * per handshake for one request and one response head; and a socket made
 * here reads into the shared relay buffer (`onread`), so once upgraded the
 * origin → client direction allocates nothing per chunk (see
 * relay-buffers.ts). Any non-101 answer is relayed with its status, headers
 * and decoded body.
 *
 * TLS sockets take `onread` too: Node hands the decrypted bytes to the same
 * callback, a TLS record (≤ 16 KiB) at a time. One difference: a TLS socket
 * may still deliver the rest of the records it has already decrypted after
 * the callback returned false (pausing stops the next network read, not the
 * current batch), so every phase below accepts a read while paused — the
 * relay writes it on (the client's buffer may then exceed its high-water
 * mark by that batch, at most one network read), the head and body phases
 * consume it as usual, and the 'upgraded' phase keeps it for the pipe.
 */


/** The reader of an origin socket, set on the socket. */
const READER = Symbol('wsgate.originReader')

/** An origin socket made by the raw connector. */
type ReaderSocket = Socket & { [READER]?: OriginReader }

/** The origin sockets' `onread` callback: `this` is the socket that read. */
function readOrigin(this: ReaderSocket, length: number, buffer: Uint8Array): boolean {
  return this[READER]!.onRead(length, buffer as Buffer)
}

/** Who waits for an origin's response head. */
interface HeadListener {
  /** A complete head; `rest` is what followed it in the same read (copied). */
  onHead(head: ResponseHead, rest: Buffer): void
  onBadHead(error: MalformedResponseHead): void
}

/** Reads one origin connection: its response head, then a body or the upgraded byte stream. */
class OriginReader implements OriginRelay {
  readonly socket: Socket
  /** Head bytes gathered across reads, when the head did not come in one. */
  #partial: Buffer | undefined
  #phase: 'head' | 'upgraded' | 'relay' | 'body' | 'done' = 'head'
  /** The pipe, once relaying: it follows the frames and copies each read to the client. */
  #sink: OriginSink | undefined
  /** Bytes read after the 101 and before the pipe started (normally none: the socket is paused). */
  #early: Buffer[] = []
  #body: { decoder: BodyDecoder; controller: ReadableStreamDefaultController<Uint8Array> } | undefined
  /** Who waits for the response head; dropped once answered. */
  #headListener: HeadListener | undefined

  /** Connects to `url`'s host: TLS for `https:`, verified as `tlsOptions` says (throws when its `ca` is not PEM). */
  constructor(url: URL, tlsOptions: OriginTls | undefined) {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    // A module-level callback (Node calls it with the socket as `this`): a closure here would keep a context per connection.
    const onread = { buffer: SHARED_READ_BUFFER, callback: readOrigin }
    if (url.protocol === 'https:') {
      // `onread` is a documented tls.connect() option (applied to the socket it creates) that @types/node omits.
      const options: tls.ConnectionOptions & { onread: typeof onread } = { host, port: Number(url.port || 443), onread, ...originTlsOptions(url, tlsOptions) }
      this.socket = tls.connect(options)
      // tls.connect() takes no noDelay; set on the TCP handle before it connects, it applies from the first segment.
      this.socket.setNoDelay(true)
    } else {
      this.socket = net.connect({ host, port: Number(url.port || 80), noDelay: true, onread })
    }
    // Before any read can come: the socket connects on a later turn of the event loop.
    ;(this.socket as ReaderSocket)[READER] = this
  }

  /** Sets (or, with undefined, drops) who hears about the response head. */
  expectHead(listener: HeadListener | undefined): void {
    this.#headListener = listener
  }

  start(sink: OriginSink): void {
    this.#phase = 'relay'
    this.#sink = sink
    for (const bytes of this.#early) sink.relayFromOrigin(bytes, bytes.length)
    this.#early = []
    this.socket.resume()
  }

  /** A read into the shared buffer, `buffer[0, length)`. Returns false to stop reading (backpressure, or nothing more to read yet). */
  onRead(length: number, buffer: Buffer): boolean {
    switch (this.#phase) {
      case 'relay':
        // The pipe reads the frame headers, then copies the bytes to the client through a recycled slab
        // (or drops them when the client is gone, returning true so that the origin's FIN is seen).
        return this.#sink!.relayFromOrigin(buffer, length)
      case 'head':
        return this.#readHead(buffer.subarray(0, length))
      case 'body':
        return this.#readBody(buffer.subarray(0, length))
      case 'upgraded':
        // Not relaying yet, and the socket is paused: should a read still land, keep it for the pipe.
        this.#early.push(Buffer.from(buffer.subarray(0, length)))
        return false
      default:
        return false
    }
  }

  #readHead(bytes: Buffer): boolean {
    let all = this.#partial ? Buffer.concat([this.#partial, bytes]) : bytes
    this.#partial = undefined
    // One head after another in a loop, not a call each: a 64 KiB read holds 4,096 of the smallest 1xx answers.
    for (;;) {
      const end = headEnd(all, all.length)
      if (end === -1) {
        // Refuse what cannot become a status line as soon as it shows (an SSH banner, a TLS alert), as llhttp does.
        if (!'HTTP/'.startsWith(all.toString('latin1', 0, Math.min(5, all.length)))) {
          this.#fail(new MalformedResponseHead('not an HTTP response'))
          return false
        }
        if (all.length > MAX_RESPONSE_HEAD) {
          this.#fail(new MalformedResponseHead(`response head over ${MAX_RESPONSE_HEAD / 1024} KiB`))
          return false
        }
        // The head continues in the next read; the shared buffer is about to be reused, so copy.
        this.#partial = Buffer.from(all)
        return true
      }
      let head: ResponseHead
      try {
        if (end > MAX_RESPONSE_HEAD) throw new MalformedResponseHead(`response head over ${MAX_RESPONSE_HEAD / 1024} KiB`)
        head = parseResponseHead(all.toString('latin1', 0, end))
      } catch (error) {
        this.#fail(error as MalformedResponseHead)
        return false
      }
      const rest = all.subarray(end)
      // 1xx interim answers (100, 102, 103) are skipped, as Node's client does; 101 is the upgrade.
      if (head.status >= 100 && head.status < 200 && head.status !== 101) {
        if (rest.length === 0) return true
        all = rest
        continue
      }
      if (head.status === 101) this.#phase = 'upgraded'
      this.#headListener?.onHead(head, Buffer.from(rest))
      return this.#phase === 'body' && (this.#body!.controller.desiredSize ?? 1) > 0
    }
  }

  /** Streams the body of a non-101 answer into `controller`, decoded. */
  relayBody(decoder: BodyDecoder, controller: ReadableStreamDefaultController<Uint8Array>, first: Buffer): void {
    this.#phase = 'body'
    this.#body = { decoder, controller }
    this.socket.on('end', () => {
      if (decoder.endsWithClose) this.#endBody()
    })
    this.socket.on('close', () => {
      if (this.#phase === 'body') {
        this.#phase = 'done'
        controller.error(new Error('origin closed the connection mid-body'))
      }
    })
    if (first.length > 0) this.#readBody(first)
  }

  /** The body's consumer gave up (the client left): stop, and never touch the cancelled stream again. */
  cancelBody(): void {
    this.#phase = 'done'
    this.socket.destroy()
  }

  /** Resumes reading after the body's consumer caught up. */
  pullBody(): void {
    if (this.#phase === 'body') this.socket.resume()
  }

  #readBody(bytes: Buffer): boolean {
    const { decoder, controller } = this.#body!
    let done: boolean
    try {
      // enqueue keeps the chunk, and `bytes` is the shared read buffer: copy.
      done = decoder.push(bytes, (payload) => controller.enqueue(Buffer.from(payload)))
    } catch (error) {
      this.#phase = 'done'
      controller.error(error)
      this.socket.destroy()
      return false
    }
    if (done) {
      this.#endBody()
      return false
    }
    return (controller.desiredSize ?? 1) > 0
  }

  #endBody(): void {
    if (this.#phase !== 'body') return
    this.#phase = 'done'
    this.#body!.controller.close()
    this.socket.destroy()
  }

  #fail(error: MalformedResponseHead): void {
    this.#phase = 'done'
    this.#headListener?.onBadHead(error)
  }
}

/** Bytes of a body buffered ahead of the client before the origin socket is paused. */
const BODY_HIGH_WATER_MARK = 64 * 1024

/**
 * Sends an upgrade request to a `ws://` (`http:`) or `wss://` (`https:`)
 * origin and resolves with its answer. Rejects with 502 when the origin
 * cannot be reached or does not speak HTTP (ERR_ORIGIN_UNAVAILABLE,
 * ERR_ORIGIN_BAD_HANDSHAKE), or its TLS fails (ERR_ORIGIN_TLS: a rejected
 * certificate, a failed TLS handshake, a `tls.ca` that is not PEM), and 504
 * when it does not connect, finish the TLS handshake and answer within
 * `request.timeout`.
 */
export function connectRawOrigin(request: OriginRequest, hooks: OriginRequestHooks = {}): Promise<OriginAnswer> {
  return new Promise((resolve, reject) => {
    const { url, timeout } = request
    let reader: OriginReader
    try {
      reader = new OriginReader(url, request.tls)
    } catch (error) {
      // Only a CA that Node cannot parse throws here: the route's configuration, not the origin.
      const failure = originTlsFailed('origin TLS settings rejected (tls.ca is not a valid certificate)', error)
      noteOriginCause(hooks.note, failure, 'tls.ca invalid')
      reject(failure)
      return
    }
    const { socket } = reader
    // Plain TCP counts as secured; a TLS socket once its handshake (and verification) is done.
    let secured = !(socket instanceof tls.TLSSocket)
    if (!secured) socket.once('secureConnect', () => (secured = true))
    /**
     * Unhooks everything this attempt hung on the socket and the signal: an
     * upgraded connection lives for hours and must not keep the handshake's
     * scope (request, headers, promise) alive with it.
     */
    const unhook = (): void => {
      hooks.signal?.removeEventListener('abort', onAbort)
      socket.off('error', onError)
      socket.off('close', onClose)
      // Until the pipe adds its own (and takes this one off): an error in between must not crash the process.
      socket.on('error', ignoreHandshakeError)
      reader.expectHead(undefined)
    }
    const answered = settleOnce(timeout, () => {
      unhook()
      // The handshake's log line says which step never finished (the client only sees the 504).
      noteOriginTimeout(hooks.note, socket, secured)
      socket.destroy()
      reject(upgradeTimedOut(timeout))
    })
    const settle = (): boolean => {
      if (!answered()) return false
      unhook()
      return true
    }
    // `short`: the log note's cause when the error has no code of its own.
    const fail = (error: GatewayError, short?: string): void => {
      if (!settle()) return
      socket.destroy()
      noteOriginCause(hooks.note, error, short)
      reject(error)
    }
    const onError = (error: NodeJS.ErrnoException): void => fail(originFailure(error, socket))
    const onClose = (): void => fail(originUnavailable('closed before answering'), 'closed')
    const onAbort = (): void => fail(originUnavailable('client went away'), 'client gone')

    reader.expectHead({
      onHead: (head, rest) => {
        if (!settle()) return socket.destroy()
        if (head.status === 101) {
          socket.pause()
          // The lines stay lines (the parse held them to the Fetch API's rules): the chain reads a few and relays them once,
          // without the ones meant for this hop only.
          const headers = HeadHeaders.fromCheckedLines(relayedUpgradeLines(head.rawHeaders)) as unknown as Headers
          resolve({ upgraded: true, headers, tunnel: new NodeOriginTunnel(socket, rest, reader) })
        } else {
          resolve({ upgraded: false, response: relayedResponse(reader, head, rest, timeout) })
        }
      },
      onBadHead: (error) => fail(badOriginHandshake(error.message, error), 'bad response head'),
    })
    socket.on('error', onError)
    socket.on('close', onClose)
    hooks.onSocket?.(socket)
    if (hooks.signal?.aborted) return onAbort()
    hooks.signal?.addEventListener('abort', onAbort, { once: true })

    let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\n`
    for (const [name, value] of request.headers) head += `${name}: ${value}\r\n`
    socket.write(`${head}\r\n`, 'latin1')
  })
}


/** The origin's non-101 answer as a Web Response whose body streams, decoded, from the origin. */
function relayedResponse(reader: OriginReader, head: ResponseHead, rest: Buffer, timeout: number): Response {
  const { socket } = reader
  if (head.status > 599) {
    socket.destroy()
    return unrelayableStatus(head.status)
  }
  let framing
  try {
    framing = bodyFraming(head)
  } catch (error) {
    socket.destroy()
    return badOriginHandshake((error as Error).message).getResponse()
  }
  const headers = toHeaders(head.rawHeaders)
  const coding = framing.kind === 'none' ? undefined : unsupportedTransferCoding(headers.get('transfer-encoding'))
  if (coding !== undefined) {
    socket.destroy()
    return badOriginHandshake(`transfer coding ${coding} is not supported`).getResponse()
  }
  // An origin's own x-wsgate-error would pass for the gateway's refusal (src/errors.ts); the gateway's own 502s above keep theirs.
  headers.delete(ERROR_HEADER)
  // Agreeing copies (`5, 5`, or two lines) were accepted by bodyFraming(): the client gets one, which every parser reads
  // (llhttp, Node's and so the `ws` client's, refuses a list and would report a parse error instead of this answer).
  const length = headers.get('content-length')
  if (length !== null && length.includes(',')) headers.set('content-length', length.slice(0, length.indexOf(',')).trim())
  if (framing.kind === 'none') {
    socket.destroy()
    return new Response(null, { status: head.status, statusText: head.statusText, headers })
  }
  // A stalled body must not hold the client forever.
  socket.setTimeout(timeout, () => socket.destroy())
  const body = new ReadableStream<Uint8Array>(
    {
      start: (controller) => reader.relayBody(new BodyDecoder(framing), controller, rest),
      pull: () => reader.pullBody(),
      cancel: () => reader.cancelBody(),
    },
    { highWaterMark: BODY_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
  )
  return new Response(body, { status: head.status, statusText: head.statusText, headers })
}
