import type { OriginAnswer, OriginRequest } from '../../runtime.ts'
import type { OriginRequestHooks } from './request.ts'
import { NodeOriginTunnel } from './tunnel.ts'
import { connectRawOrigin } from './raw.ts'

export { NodeOriginTunnel }

/** Hooks of {@link connectOrigin}: the client's abort signal, socket accounting, the log note. */
export type ConnectHooks = OriginRequestHooks

/**
 * Sends an upgrade request to an origin over a fresh TCP connection (`ws://`,
 * URL scheme `http:`) or TLS connection (`wss://`, `https:`, verified as
 * `request.tls` says) and resolves with its answer. Both go through the raw
 * connector (raw.ts): the same request, the same parse of the answer, the
 * same relay once upgraded. Rejects with 502 when the origin cannot be
 * reached (ERR_ORIGIN_UNAVAILABLE), its TLS fails (ERR_ORIGIN_TLS) or it
 * does not speak HTTP (ERR_ORIGIN_BAD_HANDSHAKE), and 504
 * (ERR_ORIGIN_TIMEOUT) when it does not answer within `request.timeout`.
 *
 * @example
 * const answer = await connectOrigin({ url: new URL('https://chat.internal/ws'), headers, timeout: 10_000, tls: { ca } }, { onSocket: track })
 */
export function connectOrigin(request: OriginRequest, hooks: ConnectHooks = {}): Promise<OriginAnswer> {
  return connectRawOrigin(request, hooks)
}
