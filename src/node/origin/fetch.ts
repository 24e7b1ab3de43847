import type { Socket } from 'node:net'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { GatewayError } from '../../errors.ts'
import type { OriginTls } from '../../runtime.ts'
import {
  NULL_BODY_STATUSES,
  noteOriginCause,
  noteOriginTimeout,
  openOriginRequest,
  originFailure,
  originTlsFailed,
  settleOnce,
  toHeaders,
  toNodeHeaders,
  originUnavailable,
  type OriginRequestHooks,
} from './request.ts'
import { answerTimedOut, unusableAnswer } from '../../origin-errors.ts'
import { unsupportedTransferCoding } from './response-body.ts'

/** Options of {@link fetchOrigin}: TLS for an `https:` origin, socket accounting, the log note. */
export interface FetchOriginOptions extends Pick<OriginRequestHooks, 'onSocket' | 'note'> {
  /** How an `https:` origin's certificate is verified. @default the system CAs, the URL's host as SNI and name */
  tls?: OriginTls | undefined
}

/**
 * The Node origin connector for plain HTTP (`GatewayRuntime.fetchOrigin`):
 * one round trip over a fresh TCP (or TLS) connection, no pooling. The
 * request body streams from `request.body`, framed by {@link frameBody}: a
 * `Content-Length` when the request names a valid one (the stream must then
 * hold exactly that many bytes, else the origin connection is dropped
 * before the origin could read a wrong body, and the round trip fails with
 * 500 ERR_INTERNAL: the chain changed the body and not its length),
 * else chunked, for every method; a request without a body carries neither
 * header (`Content-Length: 0` excepted). The response body streams back
 * as the origin sent it: no transparent decompression (a gzip body keeps its
 * bytes and its `Content-Encoding`), no redirect following, every header
 * kept (repeated ones, `Set-Cookie` included). Aborting `request.signal`
 * (the client went away) drops the origin connection, also mid-body.
 *
 * An `https:` origin is verified as `options.tls` says, exactly as the
 * upgrade connector does (`originTlsOptions()`): Node's default CAs or
 * `tls.ca`, SNI and the checked name the URL's host or `tls.servername`
 * (never the `Host` header), ALPN `http/1.1`.
 *
 * Rejects with a 502 `GatewayError` (ERR_ORIGIN_UNAVAILABLE) when the origin
 * cannot be reached or does not speak HTTP, a 502 (ERR_ORIGIN_TLS) when its
 * certificate is rejected or the TLS handshake fails, and a 504
 * (ERR_ORIGIN_TIMEOUT) when its response head does not arrive within
 * `timeout` ms (connect and TLS handshake included). The body that follows
 * the head is not bounded by `timeout` (long downloads and event streams
 * must pass); the client leaving ends it.
 *
 * @example
 * const response = await fetchOrigin(new Request('https://10.0.0.5/status'), 10_000, { tls: { ca, servername: 'api.internal' }, onSocket: track })
 */
export function fetchOrigin(request: Request, timeout: number, options: FetchOriginOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const url = new URL(request.url)
    const headers = toNodeHeaders(request.headers)
    // HTTP/1.1 requires Host (RFC 9112 §3.2); `http()` always sets it, a direct caller may not.
    headers.host ??= url.host
    const framedLength = frameBody(headers, request.body !== null)
    let outgoing: ReturnType<typeof openOriginRequest>
    try {
      outgoing = openOriginRequest(url, request.method, headers, { signal: request.signal, onSocket: options.onSocket }, options.tls)
    } catch (error) {
      // Only a CA that Node cannot parse throws here: the route's configuration, not the origin.
      const failure = originTlsFailed('origin TLS settings rejected (tls.ca is not a valid certificate)', error)
      noteOriginCause(options.note, failure, 'tls.ca invalid')
      reject(failure)
      return
    }
    // Plain TCP counts as secured; a TLS socket once its handshake (and verification) is done.
    let secured = url.protocol !== 'https:'
    if (!secured) outgoing.once('socket', (socket: Socket) => socket.once('secureConnect', () => (secured = true)))
    const settle = settleOnce(timeout, () => {
      // The request's log line says which step never finished (the client only sees the 504).
      noteOriginTimeout(options.note, outgoing.socket, secured)
      outgoing.destroy()
      reject(answerTimedOut(timeout))
    })
    // `short`: the log note's cause when the error has no code of its own.
    const fail = (error: GatewayError, short?: string): void => {
      if (!settle()) return
      outgoing.destroy()
      noteOriginCause(options.note, error, short)
      reject(error)
    }

    outgoing.on('response', (response) => {
      if (!settle()) return response.destroy()
      const status = response.statusCode ?? 0
      if (status < 200 || status > 599) {
        response.destroy()
        reject(unusableAnswer(`origin answered with status ${status}`))
        return
      }
      const bodiless = NULL_BODY_STATUSES.has(status) || request.method === 'HEAD'
      const coding = bodiless ? undefined : unsupportedTransferCoding(response.headers['transfer-encoding'])
      if (coding !== undefined) {
        response.destroy()
        reject(unusableAnswer(`origin used transfer coding ${coding}, which the gateway does not decode`))
        return
      }
      if (bodiless) response.resume()
      const body = bodiless ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>)
      resolve(new Response(body, { status, statusText: response.statusMessage ?? '', headers: toHeaders(response.rawHeaders) }))
    })
    // A 101 to a request that asked for no upgrade (its Upgrade header was stripped): not HTTP any more.
    outgoing.on('upgrade', (_response, socket: Socket) => {
      socket.destroy()
      fail(unusableAnswer('origin switched protocols on a plain HTTP request'), 'unexpected 101')
    })
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      fail(error.code?.startsWith('HPE_') ? originUnavailable('malformed HTTP response', error) : originFailure(error, outgoing.socket))
    })

    if (!request.body) {
      outgoing.end()
      return
    }
    // Stream the client's body with backpressure. If the client breaks off, or the body is not as
    // long as its Content-Length, pipeline() destroys the origin request with that error, which
    // lands in the handler above. (Node's own strictContentLength throws from end() instead,
    // outside any handler.)
    const body = Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>)
    // A wrong length is the chain's doing (the client's was checked by the server's parser): 500.
    const mismatch = (reason: string): void => fail(new GatewayError(500, 'ERR_INTERNAL', reason), 'body length mismatch')
    const sent = framedLength ? pipeline(body, exactLength(Number(headers['content-length']), mismatch), outgoing) : pipeline(body, outgoing)
    sent.catch(() => {})
  })
}

/**
 * Sets the framing headers of a request to an origin, in place, and says
 * whether the body is sent with a `Content-Length` (RFC 9112 §6). Node's
 * client left to itself sends a DELETE's or OPTIONS's streamed body with no
 * framing at all, so the origin would read it as the next request; here
 * every body is framed:
 * - no body: neither `Transfer-Encoding` nor `Content-Length`, unless `0`;
 * - a body and a valid `Content-Length`: that length;
 * - a body and no valid length: `Transfer-Encoding: chunked`.
 *
 * @example
 * const headers = { 'content-length': '5' }
 * frameBody(headers, true) // true: sent with Content-Length: 5
 */
export function frameBody(headers: Record<string, string>, hasBody: boolean): boolean {
  // The body stream is already decoded: whatever coding the caller named, Node re-frames it.
  delete headers['transfer-encoding']
  const length = headers['content-length']
  const validLength = length !== undefined && /^\d{1,15}$/.test(length)
  if (!hasBody) {
    if (length !== undefined && !(validLength && Number(length) === 0)) delete headers['content-length']
    return false
  }
  if (validLength) return true
  delete headers['content-length']
  headers['transfer-encoding'] = 'chunked'
  return false
}

/**
 * Passes a body through unchanged and fails it the moment it is longer than
 * `expected` bytes, or when it ends shorter, after telling `onMismatch` why:
 * sent on, a wrong length would leave the origin waiting for bytes, or make
 * it read the excess as a next request.
 */
function exactLength(expected: number, onMismatch: (reason: string) => void): Transform {
  let seen = 0
  const mismatch = (): Error => {
    const reason = seen > expected ? `request body longer than its Content-Length of ${expected}` : `request body of ${seen} bytes, shorter than its Content-Length of ${expected}`
    onMismatch(reason)
    return new Error(reason)
  }
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      if (seen > expected) done(mismatch())
      else done(null, chunk)
    },
    flush(done) {
      done(seen === expected ? null : mismatch())
    },
  })
}
