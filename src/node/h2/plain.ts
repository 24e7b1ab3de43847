import { constants, type ServerHttp2Stream } from 'node:http2'
import { ERROR_HEADER, GatewayError } from '../../errors.ts'
import { toErrorResponse, withHeader } from '../../responses.ts'
import { CLIENT_CLOSED_STATUS, requestLine } from '../access-log.ts'
import { drainingError } from '../drain.ts'
import { requestFromHead } from '../request.ts'
import { endScope, logHandshake, newScope, plainRuntime, type GatewayState, type RequestFacts } from '../upgrade.ts'
import type { H2RequestHead } from './request-head.ts'
import { armRequestDeadline, REQUEST_TIMEOUT_CODE, requestTimeoutError } from './request-deadline.ts'
import { requestBody } from './request-body.ts'
import { respond } from './respond.ts'

/**
 * A plain HTTP/2 request (not an extended CONNECT) through the app: what
 * the HTTP/1.1 listener does with @hono/node-server, done on the stream
 * itself (Node's compatibility layer would also take the CONNECT streams).
 * The same head decision and refusals, the same runtime (`http()` and
 * `proxy()` reach their origins over HTTP/1.1 as ever), `x-request-id` on
 * every answer, and the same `request` access line, with `http: '2'`.
 * A request whose body is still arriving at `requestTimeout` gets 408
 * `ERR_REQUEST_TIMEOUT` (or its stream reset, once its response has begun),
 * as Node's `requestTimeout` answers on HTTP/1.1. Each request holds a slot
 * of its client's `maxRequestsPerClient`, shared with HTTP/1.1, from here
 * until its response has been sent or its stream closed (reset, the
 * session gone); over the cap it is answered 429 `ERR_CLIENT_REQUEST_LIMIT`
 * without running the app. Once an answer has gone out whole, what is left
 * of the request half is closed (RST_STREAM NO_ERROR) and its body drained
 * unread, as Node's HTTP/1.1 server discards a body left unread.
 */
export async function servePlainH2(state: GatewayState, stream: ServerHttp2Stream, head: H2RequestHead, facts: RequestFacts): Promise<void> {
  const { logger, settings } = state
  const { parsed, method } = head
  if (parsed instanceof GatewayError || state.draining) {
    const error = parsed instanceof GatewayError ? parsed : drainingError(settings.retryAfter)
    // Never the target or a header: a refused head may carry anything, credentials included.
    logger.info({ client: facts.socket.remoteAddress, method, status: error.status, code: error.code, http: '2' }, 'request rejected')
    state.metrics?.request(parsed instanceof GatewayError ? undefined : parsed.target, method, {}, error.status, error.code, performance.now())
    await respondOn(stream, error.getResponse(), method)
    return
  }
  // The client's slot, given back once: when the response has been sent ('finish'), or the stream has closed
  // without it (a reset, the session gone, the 408 of requestTimeout).
  const { fairShare } = state
  const admitted = fairShare.admitRequest(stream, facts.socket.remoteAddress)
  if (admitted === true) stream.once('finish', fairShare.releaseRequest).once('close', fairShare.releaseRequest)
  const overCap = admitted instanceof GatewayError ? admitted : undefined
  const started = performance.now()
  const scope = newScope()
  scope.note.http = '2'
  const runtime = plainRuntime(state, facts, scope, { raw: head.rawTarget, normalised: parsed.target })
  // The access line names the client even when it has left by then.
  const info = logger.isLevelEnabled('info')
  if (info) void runtime.clientAddress
  const abort = new AbortController()
  const aborted = (): void => abort.abort()
  stream.once('close', aborted)
  // A request still arriving at requestTimeout: 408 if nothing was answered yet (the stream then closes, which
  // aborts the app), else the stream is reset (NO_ERROR after a complete response, RFC 9113 §8.1; CANCEL mid-way).
  /** The 408 answered, when the deadline came before any answer. */
  let timeout: GatewayError | undefined
  let cutShort = false
  armRequestDeadline(stream, settings.requestTimeout, () => {
    if (!stream.headersSent) {
      timeout = requestTimeoutError(settings.requestTimeout)
      void respondOn(stream, withHeader(timeout.getResponse(), 'x-request-id', runtime.requestId), method)
    } else {
      cutShort = !stream.writableFinished
      stream.close(cutShort ? constants.NGHTTP2_CANCEL : constants.NGHTTP2_NO_ERROR)
    }
  })
  let response: Response
  try {
    if (overCap) {
      // Over its client's request cap: the refusal, before any middleware or origin.
      runtime.note({ fairShare: { limited: 'requests', max: settings.maxRequestsPerClient } })
      response = overCap.getResponse()
    } else {
      const init: RequestInit & { duplex?: 'half' } = { method, signal: abort.signal }
      if (method !== 'GET' && method !== 'HEAD') {
        init.body = requestBody(stream)
        init.duplex = 'half'
      }
      // state.app, read per request: a routes reload swaps it for the next request.
      response = await state.app.fetch(requestFromHead(parsed, init), { wsgate: runtime })
    }
  } catch (error) {
    response = toErrorResponse(error, logger)
  } finally {
    endScope(scope, logger)
  }
  // Answered 408 meanwhile (only the 408 can have been sent yet): that is the request's line; what the app made
  // of the cut-off request is dropped.
  if (timeout) {
    await response.body?.cancel().catch(() => {})
    state.metrics?.request(runtime.target, method, scope.note, 408, REQUEST_TIMEOUT_CODE, started)
    if (info) logger.info({ ...requestLine(runtime, scope.note, 408, REQUEST_TIMEOUT_CODE, started, method), bytes: Buffer.byteLength(timeout.body()) }, 'request')
    stream.off('close', aborted)
    return
  }
  // An origin's own x-request-id is relayed as it came, as on HTTP/1.1.
  if (!response.headers.has('x-request-id')) response = withHeader(response, 'x-request-id', runtime.requestId)
  const code = response.headers.get(ERROR_HEADER)
  // A request websocket() refused is a failed handshake: the handshake line, at once, instead of the access line.
  if (scope.note.route !== undefined && code?.startsWith('ERR_HANDSHAKE_')) {
    logHandshake(state, runtime, scope.note, response.status, code, started)
    await respondOn(stream, response, method)
    return
  }
  const headSent = !stream.destroyed && !stream.closed
  const bytes = await respondOn(stream, response, method)
  const { metrics } = state
  if (!info && !metrics) return
  const status = headSent ? response.status : CLIENT_CLOSED_STATUS
  const line = info ? requestLine(runtime, scope.note, status, code, started, method) : undefined
  if (line) line.bytes = bytes
  if (!stream.writableFinished) {
    await new Promise<void>((resolve) => {
      if (stream.closed || stream.destroyed) resolve()
      else {
        stream.once('finish', resolve)
        stream.once('close', resolve)
      }
    })
  }
  // The deadline passed during the response, which it cut short.
  metrics?.request(runtime.target, method, scope.note, status, cutShort ? REQUEST_TIMEOUT_CODE : code, started)
  if (line) {
    if (cutShort) line.code = REQUEST_TIMEOUT_CODE
    if (cutShort || !sentWhole(stream)) line.incomplete = true
    logger.info(line, 'request')
  }
  stream.off('close', aborted)
}

/**
 * Whether the response went out whole, by how its stream ended: closed
 * with NO_ERROR (both halves ended, or the request half closed after the
 * answer), or still open with the answer finished. `writableFinished`
 * alone says neither: Node ends the writable side of a stream the client
 * resets (so `'finish'` follows a reset), and destroys a stream whose two
 * halves have ended before the `'finish'` of its END_STREAM.
 */
function sentWhole(stream: ServerHttp2Stream): boolean {
  const code = stream.rstCode
  return code === undefined ? stream.writableFinished : code === constants.NGHTTP2_NO_ERROR
}

/**
 * Writes a response, then closes what is left of the request half (RST_STREAM
 * NO_ERROR, RFC 9113 §8.1): once the answer is complete no one reads that
 * body, and left open each such stream would hold up to a flow-control
 * window of it (64 KiB) until `requestTimeout`, 256 of them per connection,
 * its request slot already given back. Node's HTTP/1.1 server likewise
 * discards a body left unread after the response. A stream that fails
 * meanwhile (the client reset it) ends the matter.
 */
async function respondOn(stream: ServerHttp2Stream, response: Response, method: string): Promise<number> {
  try {
    return await respond(stream, response, { method, closeRequest: true })
  } catch {
    if (!stream.destroyed) stream.destroy()
    return 0
  }
}
