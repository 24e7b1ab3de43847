import http from 'node:http'
import type { GatewayRuntime, HandshakeNote } from '../runtime.ts'
import type { Logger } from './log.ts'
import type { GatewayMetrics } from './metrics/index.ts'

/**
 * The access log of plain HTTP requests (`http()`, `proxy()` and any other
 * route of the app): one `request` line per request once its response has
 * ended, like the handshake line of the upgrade path.
 */

/**
 * Status logged for a request whose client left before any response head
 * was written (nginx's convention; the handshake line uses it too).
 */
export const CLIENT_CLOSED_STATUS = 499

/**
 * What a plain request's line needs, kept on its response until the response ends.
 *
 * @example
 * response.access = { runtime, note: scope.note, started: performance.now(), metrics: state.metrics }
 */
export interface AccessRecord {
  readonly runtime: GatewayRuntime
  readonly note: HandshakeNote
  /** `performance.now()` when the request reached the gateway's chain. */
  readonly started: number
  /** The gateway's metrics, when it collects them: the request is counted where its line is written. */
  readonly metrics: GatewayMetrics | undefined
  /** The response's `x-wsgate-error`, once the chain has answered. */
  code?: string | null
}

/**
 * Node's `ServerResponse` that counts the body bytes handed to it, so the
 * access line can say how many were sent without wrapping the body stream
 * (the listeners are created with it: `http.createServer({ ServerResponse:
 * AccessResponse })`). A body Node drops (HEAD, 204, 304) is not counted.
 * Counting is one addition per write; nothing is kept per request unless
 * the line will be written.
 *
 * @example
 * http.createServer({ ServerResponse: AccessResponse }, (request, response) => {
 *   response.end('ok')
 *   ;(response as AccessResponse).bodyBytes // 2
 * })
 */
export class AccessResponse<Request extends http.IncomingMessage = http.IncomingMessage> extends http.ServerResponse<Request> {
  /** Body bytes written so far: handed to the connection, not necessarily received. */
  bodyBytes = 0
  /** Set while the request's access line is still to be written. */
  access: AccessRecord | undefined
  /**
   * The app's response has no `Content-Type`: the `text/plain; charset=UTF-8`
   * @hono/node-server adds to a body without one is dropped from the head
   * (RFC 9110 §8.3: a media type the origin did not send is not for a proxy
   * to invent).
   */
  untyped = false

  // One signature for Node's overloads: (status, headers?) and (status, reason, headers?).
  override writeHead(statusCode: number, reason?: unknown, headers?: unknown): this {
    if (this.untyped) {
      if (typeof reason === 'object' && reason !== null) reason = withoutContentType(reason as http.OutgoingHttpHeaders)
      else if (headers) headers = withoutContentType(headers as http.OutgoingHttpHeaders)
    }
    return super.writeHead(statusCode, reason as string, headers as http.OutgoingHttpHeaders)
  }

  // One signature for Node's overloads: (chunk, callback?) and (chunk, encoding, callback?).
  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const written = super.write(chunk as string, encoding as BufferEncoding, callback as () => void)
    if (this._hasBody) this.bodyBytes += byteLength(chunk, encoding)
    return written
  }

  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    super.end(chunk as string, encoding as BufferEncoding, callback as () => void)
    if (chunk != null && typeof chunk !== 'function' && this._hasBody) this.bodyBytes += byteLength(chunk, encoding)
    return this
  }

  /** Node's own flag (`OutgoingMessage#_hasBody`): false for HEAD, 204 and 304, whose bodies it drops. */
  declare _hasBody: boolean
}

/** `headers` without a `Content-Type` field, in whatever case it is spelled (a copy: the object is the caller's). */
function withoutContentType(headers: http.OutgoingHttpHeaders): http.OutgoingHttpHeaders {
  const kept: http.OutgoingHttpHeaders = {}
  for (const name in headers) if (name.toLowerCase() !== 'content-type') kept[name] = headers[name]
  return kept
}

/** Bytes of a chunk as Node writes it. */
function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
  return (chunk as ArrayBufferView | undefined)?.byteLength ?? 0
}

/**
 * The fields both per-request lines share, the handshake line and the
 * access line: the request id, the method (the access line's), the path (never the query, where tokens may
 * travel; a target the head parse refused is not logged at all), every
 * field the chain noted (`route`, `origin`, `cause`, `jwt`, `waf`, …), the
 * client, the status, the code and the time taken in ms.
 *
 * @example
 * logger.info(requestLine(runtime, note, 101, null, started), 'handshake accepted')
 */
export function requestLine(
  runtime: GatewayRuntime,
  note: HandshakeNote,
  status: number,
  code: string | null | undefined,
  started: number,
  method?: string,
): Record<string, unknown> {
  const target = runtime.target
  const query = target === undefined ? -1 : target.indexOf('?')
  return {
    reqId: runtime.requestId,
    method,
    path: query === -1 ? target : target!.slice(0, query),
    ...note,
    client: runtime.clientAddress,
    status,
    // pino leaves out undefined fields: no second object just to omit one.
    code: code || undefined,
    ms: Math.round(performance.now() - started),
  }
}

/**
 * The `close` listener of an {@link AccessResponse} (`this`): writes the
 * request's access line at info, once, when the response has ended or the
 * client left. A response whose head was never written is logged with
 * {@link CLIENT_CLOSED_STATUS}; one cut short (the client left, the origin
 * broke off mid-body) carries `incomplete: true`. The request is counted in
 * the record's metrics (`wsgate_http_requests_total`) with the line's
 * status and code, also when the line itself is below the log level.
 *
 * @example
 * response.access = { runtime, note: scope.note, started, metrics: state.metrics }
 * response.on('close', accessLogger(logger))
 */
export function accessLogger(logger: Logger): (this: AccessResponse) => void {
  return function logAccess(this: AccessResponse): void {
    const record = this.access
    if (!record) return
    this.access = undefined
    const status = this.headersSent ? this.statusCode : CLIENT_CLOSED_STATUS
    record.metrics?.request(record.runtime.target, this.req.method, record.note, status, record.code, record.started)
    if (!logger.isLevelEnabled('info')) return
    const line = requestLine(record.runtime, record.note, status, record.code, record.started, this.req.method)
    line.bytes = this.bodyBytes
    if (!this.writableFinished) line.incomplete = true
    logger.info(line, 'request')
  }
}
