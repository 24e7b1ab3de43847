import { withoutErrorHeader } from '../errors.ts'
import { originUnavailable, upgradeTimedOut } from '../origin-errors.ts'
import type { OriginAnswer, OriginRequest } from '../runtime.ts'

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
 * the origin's socket; anything else is relayed as it came. A refused or
 * unreachable origin is 502 `ERR_ORIGIN_UNAVAILABLE`, a late one 504
 * `ERR_ORIGIN_TIMEOUT`, as on Node.
 *
 * @example
 * const answer = await connectWorkersOrigin({ url: new URL('http://chat.internal/room'), headers, timeout: 10_000 }, request.signal)
 */
export async function connectWorkersOrigin(request: OriginRequest, clientSignal?: AbortSignal): Promise<OriginAnswer> {
  const timer = new AbortController()
  const clock = setTimeout(() => timer.abort(), request.timeout)
  const signal = clientSignal ? AbortSignal.any([clientSignal, timer.signal]) : timer.signal
  let response: UpgradeResponse
  try {
    response = await fetch(request.url, { method: 'GET', headers: request.headers, redirect: 'manual', signal })
  } catch (error) {
    if (timer.signal.aborted) throw upgradeTimedOut(request.timeout)
    const reason = clientSignal?.aborted ? 'client went away' : error instanceof Error ? error.message : String(error)
    throw originUnavailable(reason, error)
  } finally {
    clearTimeout(clock)
  }
  const webSocket = response.webSocket
  // An origin's own x-wsgate-error would pass for the gateway's refusal (src/errors.ts).
  if (response.status !== 101 || !webSocket) return { upgraded: false, response: withoutErrorHeader(response) }
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
