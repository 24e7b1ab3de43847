import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { GatewayError } from '../../errors.ts'

export { NULL_BODY_STATUSES } from '../../http.ts'

/**
 * What both Node origin connectors (upgrade and plain HTTP) share: how a
 * request to an origin is opened, the one-shot answer guard with its
 * deadline, and the conversions between Node and Web headers.
 */

/** Hooks of a request to an origin. */
export interface OriginRequestHooks {
  /** Aborting drops the attempt (the client went away). */
  signal?: AbortSignal | undefined
  /** Sees the origin socket as soon as it exists, so the gateway can account for it. */
  onSocket?: ((socket: Socket) => void) | undefined
}

/**
 * Opens a request to an origin over a fresh TCP (or TLS) connection: no
 * pooling (each client gets its own origin connection, which a WebSocket
 * keeps anyway), `Host` exactly as the handler set it.
 */
export function openOriginRequest(url: URL, method: string, headers: Record<string, string>, hooks: OriginRequestHooks): http.ClientRequest {
  const transport = url.protocol === 'https:' ? https : http
  const outgoing = transport.request({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || (url.protocol === 'https:' ? 443 : 80),
    path: url.pathname + url.search,
    method,
    headers,
    agent: false,
    setHost: false,
    signal: hooks.signal,
  })
  if (hooks.onSocket) outgoing.once('socket', hooks.onSocket)
  return outgoing
}

/**
 * A one-shot guard for an answer with a deadline: `settle()` returns true
 * exactly once (and stops the deadline); if nothing settles within
 * `timeout` ms, `onExpire` runs instead.
 */
export function settleOnce(timeout: number, onExpire: () => void): () => boolean {
  let settled = false
  const settle = (): boolean => {
    if (settled) return false
    settled = true
    clearTimeout(timer)
    return true
  }
  const timer = setTimeout(() => {
    if (settle()) onExpire()
  }, timeout)
  return settle
}

/** 502 ERR_ORIGIN_UNAVAILABLE: the origin could not be reached or dropped the connection; `reason` goes in parentheses. */
export function originUnavailable(reason: string, cause?: unknown): GatewayError {
  return new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', `origin unavailable (${reason})`, cause === undefined ? {} : { cause })
}

/** 502 ERR_ORIGIN_BAD_HANDSHAKE: the origin's answer to an upgrade is not one the gateway can relay. */
export function badOriginHandshake(reason: string, cause?: unknown): GatewayError {
  return new GatewayError(502, 'ERR_ORIGIN_BAD_HANDSHAKE', `origin sent an invalid WebSocket handshake: ${reason}`, cause === undefined ? {} : { cause })
}

/** 502 ERR_ORIGIN_BAD_HANDSHAKE as a response: the origin answered the upgrade with a status a client cannot be given. */
export function unrelayableStatus(status: number): Response {
  return new GatewayError(502, 'ERR_ORIGIN_BAD_HANDSHAKE', `origin answered the upgrade with status ${status}`).getResponse()
}

/** 504 ERR_ORIGIN_TIMEOUT: no answer to the upgrade within the handshake timeout. */
export function upgradeTimedOut(timeout: number): GatewayError {
  return new GatewayError(504, 'ERR_ORIGIN_TIMEOUT', `origin did not answer the upgrade within ${timeout} ms`)
}

/** The short reason a failed origin request gets in its 502. */
export function unavailableReason(error: NodeJS.ErrnoException): string {
  return error.name === 'AbortError' ? 'client went away' : (error.code ?? error.message)
}

/** Node's header object from Web Headers; repeated values were already joined with ", " by `Headers`. */
export function toNodeHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of headers) out[name] = value
  return out
}

/** Web Headers from Node's raw header list, keeping every repeated value (Set-Cookie included). */
export function toHeaders(rawHeaders: string[]): Headers {
  const headers = new Headers()
  for (let i = 0; i < rawHeaders.length; i += 2) headers.append(rawHeaders[i]!, rawHeaders[i + 1]!)
  return headers
}
