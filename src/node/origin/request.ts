import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { GatewayError } from '../../errors.ts'
import { originTlsFailed, originUnavailable } from '../../origin-errors.ts'
import type { HandshakeNote, OriginTls } from '../../runtime.ts'
import { originTlsOptions } from './tls.ts'

export { NULL_BODY_STATUSES } from '../../http.ts'
export { badOriginHandshake, originTlsFailed, originUnavailable, unrelayableStatus, upgradeTimedOut } from '../../origin-errors.ts'

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
  /**
   * The handshake's log note: a failure's cause (the error's code and
   * message, which the client never sees) is recorded in it as
   * `originCause`, so the request's one log line carries it.
   */
  note?: HandshakeNote | undefined
}

/**
 * Opens a request to an origin over a fresh TCP (or TLS) connection: no
 * pooling (each request gets its own origin connection), `Host` exactly as
 * the handler set it; an `https:` origin verified as `tls` says (see
 * `originTlsOptions()`). Throws when `tls.ca` is not valid PEM.
 */
export function openOriginRequest(url: URL, method: string, headers: Record<string, string>, hooks: OriginRequestHooks, tls?: OriginTls): http.ClientRequest {
  const secure = url.protocol === 'https:'
  const options: https.RequestOptions = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || (secure ? 443 : 80),
    path: url.pathname + url.search,
    method,
    headers,
    agent: false,
    setHost: false,
    signal: hooks.signal,
  }
  const outgoing = secure ? https.request({ ...options, ...originTlsOptions(url, tls) }) : http.request(options)
  // Node keeps an answer's first 1,000 field lines (maxHeadersCount counts names and values) and drops the rest silently: a late Cache-Control:
  // private or Set-Cookie would be lost. No count limit; the head's size limit still bounds it.
  outgoing.maxHeadersCount = 0
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

/**
 * The 502 for an error on an origin connection:
 * - ERR_ORIGIN_TLS `origin certificate rejected (CODE)` when verification
 *   refused the origin's certificate (unknown CA, expired, self-signed, for
 *   another name: CODE is OpenSSL's or Node's, e.g.
 *   `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`,
 *   `ERR_TLS_CERT_ALTNAME_INVALID`);
 * - ERR_ORIGIN_TLS `origin TLS handshake failed (CODE)` for any other TLS
 *   failure (no common protocol or cipher, an alert, an origin that does
 *   not speak TLS: `ERR_SSL_*`);
 * - else ERR_ORIGIN_UNAVAILABLE with the error's code (refused, reset, …).
 *
 * `socket` is the origin's socket when there is one: Node records a
 * rejected certificate's code on it (`authorizationError`) before it fails
 * the connection with that error.
 */
export function originFailure(error: NodeJS.ErrnoException, socket?: Socket | null): GatewayError {
  const rejected = (socket as TLSSocket | null | undefined)?.authorizationError as unknown as string | null | undefined
  if (rejected && (error.code === rejected || error.message === rejected)) return originTlsFailed(`origin certificate rejected (${rejected})`, error)
  const code = tlsErrorCode(error, socket)
  if (code) return originTlsFailed(`origin TLS handshake failed (${code})`, error)
  return originUnavailable(unavailableReason(error), error)
}

/**
 * The code of a TLS failure: Node's own (`ERR_SSL_*`, `ERR_TLS_*`), or, for
 * the `EPROTO` a TLS socket's write fails with when the handshake failed
 * under it, the same `ERR_SSL_<REASON>` Node would give, built from
 * OpenSSL's reason in the message (`…:SSL routines:<function>:wrong
 * version number:…`). Undefined for anything else.
 */
function tlsErrorCode(error: NodeJS.ErrnoException, socket: Socket | null | undefined): string | undefined {
  if (error.code?.startsWith('ERR_SSL_') || error.code?.startsWith('ERR_TLS_')) return error.code
  if (error.code !== 'EPROTO' || !socket || !('encrypted' in socket)) return undefined
  const reason = /:SSL routines:[^:]*:([^:]+):/.exec(error.message)?.[1]
  return reason ? `ERR_SSL_${reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}` : 'EPROTO'
}

/**
 * Records a failure's cause in the request's log note (see
 * {@link OriginRequestHooks.note}): `cause`, short and stable enough to
 * count and alert on (the error's code: `ECONNREFUSED`, `ECONNRESET`, a
 * rejected certificate's `CERT_HAS_EXPIRED` or `ERR_TLS_CERT_ALTNAME_INVALID`,
 * `ERR_SSL_…`; else `fallback`), and `originCause`, the error's own message
 * (`connect ECONNREFUSED 10.0.0.5:9001`).
 */
export function noteOriginCause(note: HandshakeNote | undefined, error: GatewayError, fallback = 'error'): void {
  if (!note) return
  const cause = error.cause as NodeJS.ErrnoException | undefined
  if (!(cause instanceof Error)) {
    note['cause'] = fallback
    return
  }
  note['cause'] = cause.code ?? (cause.name === 'AbortError' ? 'aborted' : fallback)
  note['originCause'] = cause.code && !cause.message.includes(cause.code) ? `${cause.code}: ${cause.message}` : cause.message
}

/** The note of an origin that did not answer in time: `cause: 'timeout'`, and which step the time ran out in. */
export function noteOriginTimeout(note: HandshakeNote | undefined, socket: Socket | null | undefined, secured: boolean): void {
  if (!note) return
  note['cause'] = 'timeout'
  note['originCause'] = !socket || socket.connecting ? 'TCP connect not finished' : secured ? 'no response head' : 'TLS handshake not finished'
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
