import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import { pumpBody } from '../write-response.ts'

/**
 * Writing the gateway's answers onto HTTP/2 streams: a Web `Response` as
 * an HTTP/2 response (the refusals of the handshake chain, plain
 * requests), and the 200 of an accepted extended CONNECT.
 */

/**
 * Header fields HTTP/2 forbids (RFC 9113 §8.2.2: connection-specific; Node
 * refuses to send them, throwing, so one left in an origin's answer would
 * lose that answer) or that have no meaning on an HTTP/2 WebSocket
 * (`sec-websocket-accept` answers a key the client never sent, RFC 8441
 * §5), and the upgrade path's internal marker. `te` has no meaning in a
 * response at all (a request's `te: trailers` is the only one HTTP/2 knows).
 */
const NOT_ON_H2: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'http2-settings',
  'sec-websocket-accept',
  'x-wsgate-upgrade',
])

/** Statuses whose responses have no body (RFC 9110 §6.4.1). */
function bodiless(status: number, method: string | undefined): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)
}

/**
 * The HTTP/2 header block of a status and Web headers: the fields HTTP/2
 * cannot carry left out, repeated names (`set-cookie`) kept as arrays.
 */
export function h2Headers(status: number, headers: Headers, extra?: Record<string, string>): OutgoingHttpHeaders {
  const block: OutgoingHttpHeaders = { [constants.HTTP2_HEADER_STATUS]: status }
  for (const [name, value] of headers) {
    if (NOT_ON_H2.has(name)) continue
    const known = block[name]
    block[name] = known === undefined ? value : Array.isArray(known) ? [...known, value] : [String(known), value]
  }
  if (extra) for (const name in extra) if (!headers.has(name)) block[name] = extra[name]
  return block
}

/**
 * Answers an accepted extended CONNECT: 200 with the origin's headers as
 * the chain left them (its `sec-websocket-protocol` and
 * `sec-websocket-extensions` among them) and the request id; the stream
 * stays open for the pipe (RFC 8441 §5: a 2xx where HTTP/1.1 has its 101).
 */
export function acceptConnect(stream: ServerHttp2Stream, headers: Headers, requestId: string): void {
  stream.respond(h2Headers(200, headers, { 'x-request-id': requestId }), { endStream: false })
}

/**
 * Writes `response` on `stream` (its body streamed with backpressure) and
 * resolves with the body bytes written once the stream has taken the last
 * of them. A body that breaks off mid-way resets the stream
 * (INTERNAL_ERROR), the HTTP/2 way of cutting a response short. With
 * `closeRequest`, the client's half is closed after the response too
 * (RST_STREAM NO_ERROR, RFC 9113 §8.1: a complete response may end a
 * request the server does not read): a refused handshake or CONNECT is
 * not going to be read.
 */
export async function respond(stream: ServerHttp2Stream, response: Response, options: { method?: string | undefined; closeRequest?: boolean } = {}): Promise<number> {
  if (stream.destroyed || stream.closed || stream.headersSent) {
    await response.body?.cancel().catch(() => {})
    return 0
  }
  const noBody = !response.body || bodiless(response.status, options.method)
  if (noBody) await response.body?.cancel().catch(() => {})
  stream.respond(h2Headers(response.status, response.headers), { endStream: noBody })
  let bytes = 0
  if (!noBody) {
    const { bytes: written, broken } = await pumpBody(response.body!, stream)
    // A body that broke off mid-way: the reset tells the client the response is cut.
    if (broken) {
      if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR)
      return written
    }
    bytes = written
    if (!stream.destroyed) stream.end()
  }
  if (options.closeRequest) closeRequestAfter(stream)
  return bytes
}

/** After the response has gone out whole, ends a request half the gateway does not read. */
function closeRequestAfter(stream: ServerHttp2Stream): void {
  // What the client still sends is dropped, not buffered.
  stream.resume()
  // A request whose header block ended it (a GET) has no half left to close.
  if (stream.destroyed || stream.readableEnded || stream.endAfterHeaders) return
  const close = (): void => {
    if (!stream.destroyed && !stream.readableEnded) stream.close(constants.NGHTTP2_NO_ERROR)
  }
  if (stream.writableFinished) close()
  else stream.once('finish', close)
}
