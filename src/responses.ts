import { GatewayError } from './errors.ts'

/**
 * The answers both hosts (Node's and Workers') build around the chain's
 * response: an error that escaped it, and a copy with one more header.
 * Portable: Web-standard Response only.
 */

/** Where an unexpected failure is reported: pino's `Logger` and the Workers host's console logger both fit. */
export interface ErrorSink {
  error(fields: Record<string, unknown>, msg: string): void
}

/**
 * A head parse's failure as the GatewayError it is; anything else thrown
 * while reading a request head is a malformed request, never a 500.
 *
 * @example
 * try { head = parseRequestHead(input) } catch (error) { head = asGatewayError(error) }
 */
export function asGatewayError(error: unknown): GatewayError {
  return error instanceof GatewayError ? error : new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', 'malformed request head', { cause: error })
}

/**
 * The response for an exception that escaped the chain: its own if it is a
 * GatewayError, else a 500 `ERR_INTERNAL`, the exception logged (never
 * shown to the client).
 *
 * @example
 * try { response = await app.fetch(request, env) } catch (error) { response = toErrorResponse(error, logger) }
 */
export function toErrorResponse(error: unknown, logger: ErrorSink): Response {
  if (error instanceof GatewayError) return error.getResponse()
  logger.error({ err: error }, 'request failed')
  return new GatewayError(500, 'ERR_INTERNAL', 'internal gateway error').getResponse()
}

/**
 * A copy of a response with one header set (its own headers may be
 * immutable: an origin's). A Workers 101 keeps its `webSocket`, which a
 * copy must carry over by hand, and its null body.
 *
 * @example
 * return withHeader(response, 'connection', 'close')
 */
export function withHeader(response: Response, name: string, value: string): Response {
  const headers = new Headers(response.headers)
  headers.set(name, value)
  const webSocket = (response as Response & { webSocket?: unknown }).webSocket
  const init = { status: response.status, statusText: response.statusText, headers, ...(webSocket ? { webSocket } : {}) }
  return new Response(response.status === 101 ? null : response.body, init as ResponseInit)
}

/**
 * A copy of a response with `x-request-id`, the id the request's log lines carry.
 *
 * @example
 * return withRequestId(response, runtime.requestId)
 */
export function withRequestId(response: Response, requestId: string): Response {
  return withHeader(response, 'x-request-id', requestId)
}
