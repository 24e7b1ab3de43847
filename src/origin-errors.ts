import { GatewayError } from './errors.ts'

/**
 * Every answer the gateway gives for an origin that failed, in one place:
 * the status, the stable code and the client's one-line reason. Runtime
 * connectors (Node's under src/node/origin/, the global-`fetch` fallback),
 * the handshake validator and origin pools build their failures here, so a
 * code never drifts between them. Portable: no `node:` import.
 */

/** The `cause` option of a GatewayError, only when there is one. */
function withCause(cause: unknown): { cause?: unknown } {
  return cause === undefined ? {} : { cause }
}

/** 502 ERR_ORIGIN_UNAVAILABLE: the origin could not be reached or dropped the connection; `reason` goes in parentheses. */
export function originUnavailable(reason: string, cause?: unknown): GatewayError {
  return new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', `origin unavailable (${reason})`, withCause(cause))
}

/** 502 ERR_ORIGIN_UNAVAILABLE for a plain HTTP answer no client can be given (a status outside 200–599, a 101 nobody asked for). */
export function unusableAnswer(reason: string): GatewayError {
  return new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', reason)
}

/** 502 ERR_ORIGIN_BAD_HANDSHAKE: the origin's answer to an upgrade is not one the gateway can relay. */
export function badOriginHandshake(reason: string, cause?: unknown): GatewayError {
  return new GatewayError(502, 'ERR_ORIGIN_BAD_HANDSHAKE', `origin sent an invalid WebSocket handshake: ${reason}`, withCause(cause))
}

/** 502 ERR_ORIGIN_BAD_HANDSHAKE as a response: the origin answered the upgrade with a status a client cannot be given. */
export function unrelayableStatus(status: number): Response {
  return new GatewayError(502, 'ERR_ORIGIN_BAD_HANDSHAKE', `origin answered the upgrade with status ${status}`).getResponse()
}

/** 502 ERR_ORIGIN_TLS: the TLS session with the origin could not be set up; `reason` says why. */
export function originTlsFailed(reason: string, cause?: unknown): GatewayError {
  return new GatewayError(502, 'ERR_ORIGIN_TLS', reason, withCause(cause))
}

/** 504 ERR_ORIGIN_TIMEOUT: no answer to the upgrade within the handshake timeout. */
export function upgradeTimedOut(timeout: number): GatewayError {
  return new GatewayError(504, 'ERR_ORIGIN_TIMEOUT', `origin did not answer the upgrade within ${timeout} ms`)
}

/** 504 ERR_ORIGIN_TIMEOUT: no response head to a plain HTTP request within `timeout`. */
export function answerTimedOut(timeout: number, cause?: unknown): GatewayError {
  return new GatewayError(504, 'ERR_ORIGIN_TIMEOUT', `origin did not answer within ${timeout} ms`, withCause(cause))
}

/** 503 ERR_ORIGIN_DOWN: every origin of the route is down; answered at once, with when to retry. */
export function everyOriginDown(retryAfterSeconds: number): GatewayError {
  return new GatewayError(503, 'ERR_ORIGIN_DOWN', 'every origin of this route is down, retry later', {
    headers: { 'retry-after': String(retryAfterSeconds) },
  })
}
