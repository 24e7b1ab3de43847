import { ERROR_HEADER } from '../errors.ts'
import { headerTokens, isHopByHop } from '../headers.ts'
import { originUnavailable, unrelayableStatus, upgradeTimedOut } from '../origin-errors.ts'
import type { HandshakeNote, OriginAnswer, OriginRequest } from '../runtime.ts'

/**
 * What Workers adds to the Fetch API for WebSockets: a `101` response to an
 * upgrade `fetch()` carries the origin's socket as `webSocket`, and a
 * `Response` built with `webSocket` hands it to the client, after which
 * Cloudflare pipes the two (the Worker never sees a frame).
 */
export interface WorkersWebSocket {
  /** Takes the socket into this Worker (it must be, before it can be closed here). */
  accept(): void
  /** Closes the socket (used when the chain refuses an upgrade the origin accepted). */
  close(code?: number, reason?: string): void
}

/** A Workers `Response` with the origin's socket, when it answered 101. */
type UpgradeResponse = Response & { readonly webSocket?: WorkersWebSocket | null }

/** The tunnel a Workers upgrade hands to the chain: the origin's socket, unaccepted, to be returned in the client's 101. */
export interface WorkersOriginTunnel {
  readonly webSocket: WorkersWebSocket
  close(): void
}

/**
 * Opens an upgrade to an origin with the Workers `fetch()`: the request's
 * headers as the chain left them (`Upgrade: websocket` among them), the
 * handshake timeout as an abort. A 101 becomes an upgraded answer holding
 * the origin's socket; anything else is relayed as it came, less the
 * headers that are not the client's (see {@link relayedOriginHeaders}). A
 * refused or unreachable origin is 502 `ERR_ORIGIN_UNAVAILABLE`, a late one
 * 504 `ERR_ORIGIN_TIMEOUT`, a status no client can be given (a 1xx other
 * than the upgrade's 101, one above 599) 502 `ERR_ORIGIN_BAD_HANDSHAKE`, as
 * on Node. `note` gets the failure's `cause` (`timeout`, `client gone`, or
 * `error` with workerd's message as `originCause`) for the log line.
 *
 * @example
 * const answer = await connectWorkersOrigin({ url: new URL('http://chat.internal/room'), headers, timeout: 10_000 }, request.signal)
 */
export async function connectWorkersOrigin(request: OriginRequest, clientSignal?: AbortSignal, note?: (facts: HandshakeNote) => void): Promise<OriginAnswer> {
  const timer = new AbortController()
  const clock = setTimeout(() => timer.abort(), request.timeout)
  const signal = clientSignal ? AbortSignal.any([clientSignal, timer.signal]) : timer.signal
  let response: UpgradeResponse
  try {
    response = await fetch(request.url, { method: 'GET', headers: request.headers, redirect: 'manual', signal })
  } catch (error) {
    // The log line's cause, as the Node host's (README, "Why an origin failed"); workerd gives no error codes.
    if (timer.signal.aborted) {
      note?.({ cause: 'timeout' })
      throw upgradeTimedOut(request.timeout)
    }
    if (clientSignal?.aborted) {
      note?.({ cause: 'client gone' })
      throw originUnavailable('client went away', error)
    }
    const reason = error instanceof Error ? error.message : String(error)
    note?.({ cause: 'error', originCause: reason })
    throw originUnavailable(reason, error)
  } finally {
    clearTimeout(clock)
  }
  const webSocket = response.webSocket
  if (response.status === 101 && webSocket) {
    const tunnel: WorkersOriginTunnel = {
      webSocket,
      close: () => {
        try {
          // 1001: the gateway, not the origin, decided the connection would not be used.
          webSocket.accept()
          webSocket.close(1001, 'upgrade refused by the gateway')
        } catch {
          // Already closed, or never accepted: nothing more to release.
        }
      },
    }
    // workerd sent its own Sec-WebSocket-Key and checked the origin's answer to it.
    return { upgraded: true, headers: response.headers, tunnel, platformHandshake: true }
  }
  // workerd hands over an interim answer (a 100 before the 101) as the answer itself: a Response cannot carry it.
  if (response.status < 200 || response.status > 599) {
    await response.body?.cancel().catch(() => {})
    return { upgraded: false, response: unrelayableStatus(response.status) }
  }
  const { status, statusText } = response
  return { upgraded: false, response: new Response(response.body, { status, statusText, headers: relayedOriginHeaders(response.headers, false) }) }
}

/**
 * Headers of the origin's 101 that the platform writes itself in the
 * client's, or that no 1xx carries (RFC 9110 §8.6). `Sec-WebSocket-Accept`
 * stays: the chain tells an accepted upgrade from any other answer by it, as
 * on Node (`jwtAuth()` selects its subprotocol marker only then), and the
 * platform writes the client's own value in its place.
 */
const PLATFORM_101_HEADERS: ReadonlySet<string> = new Set(['upgrade', 'sec-websocket-extensions', 'content-length'])

/**
 * The headers of an origin's answer that go on to the client, as the Node
 * host relays them: without the hop-by-hop ones and those the answer's
 * `Connection` names (RFC 9110 §7.6.1: an `X-Internal-Token` the origin
 * marked for the gateway; workerd itself writes only `Connection`,
 * `Keep-Alive`, `Trailer` and `Transfer-Encoding` away), and without an
 * `x-wsgate-error` of the origin's, which would pass for the gateway's
 * refusal (src/errors.ts). A non-101 answer keeps `Upgrade` (a 426 names
 * the protocols this hop accepts, §15.5.22); a 101 (`upgraded`) leaves out
 * what the platform writes in the client's 101 itself (see
 * {@link PLATFORM_101_HEADERS}).
 *
 * @example
 * relayedOriginHeaders(new Headers({ connection: 'Upgrade, X-Token', 'x-token': 's', 'x-room': 'a' }), true) // x-room only
 */
export function relayedOriginHeaders(source: Headers, upgraded: boolean): Headers {
  const named = headerTokens(source.get('connection'))
  const headers = new Headers()
  for (const [name, value] of source) {
    if (name === ERROR_HEADER || (upgraded && PLATFORM_101_HEADERS.has(name))) continue
    if (name !== 'upgrade' && (isHopByHop(name) || named.includes(name))) continue
    headers.append(name, value)
  }
  return headers
}
