import type { ServerHttp2Stream } from 'node:http2'
import { GatewayError, type GatewayErrorCode } from '../../errors.ts'

/**
 * The request deadline (`requestTimeout`): how long a plain request has to
 * arrive in full, head and body. Node's HTTP/1.1 server keeps it itself
 * (its `requestTimeout`, answered by the listener's clientError handler);
 * an HTTP/2 stream has none, so a plain request's stream gets one here.
 */

/** The stable code of a request not in full within `requestTimeout`, on either protocol. */
export const REQUEST_TIMEOUT_CODE: GatewayErrorCode = 'ERR_REQUEST_TIMEOUT'

/**
 * The 408 of a request not in full within `ms`.
 *
 * @example
 * requestTimeoutError(300_000).getResponse() // 408, x-wsgate-error: ERR_REQUEST_TIMEOUT
 */
export function requestTimeoutError(ms: number): GatewayError {
  return new GatewayError(408, REQUEST_TIMEOUT_CODE, `request not received in full within ${ms} ms`)
}

/**
 * Calls `onExpired` once `ms` have passed since now (the stream's header
 * block came) if the client has still not ended its half of `stream` by
 * then. Nothing is armed for a request whose header block ended the
 * stream (a GET, usually); the timer is cleared when the body has been
 * read to its end or the stream closes, and a body that did end (END_STREAM
 * came) but was left unread by the app is not late: the deadline bounds
 * the client, not the app.
 *
 * @example
 * armRequestDeadline(stream, settings.requestTimeout, () => answer408(stream))
 */
export function armRequestDeadline(stream: ServerHttp2Stream, ms: number, onExpired: () => void): void {
  if (stream.endAfterHeaders || stream.destroyed) return
  const timer = setTimeout(expire, ms, stream, onExpired)
  const clear = (): void => clearTimeout(timer)
  stream.once('end', clear)
  stream.once('close', clear)
}

function expire(stream: ServerHttp2Stream, onExpired: () => void): void {
  if (stream.destroyed || stream.closed) return
  // nghttp2's view: END_STREAM received, whether or not the app has read up to it.
  if (stream.state.remoteClose) return
  onExpired()
}
