import type { Socket } from 'node:net'
import type { ProbeRequest } from '../../origins/pool.ts'
import { openOriginRequest, settleOnce } from './request.ts'

/** Hooks of {@link probeOrigin}. */
export interface ProbeHooks {
  /** Sees the probe's socket as soon as it exists, so the gateway can account for it (its `openSockets`). */
  onSocket?: ((socket: Socket) => void) | undefined
}

/** `User-Agent` of every probe, so an origin's logs can tell probes from clients. */
const PROBE_USER_AGENT = 'wsgate-probe'

/**
 * The Node host's health probe (an `OriginPoolHost.probe`): one `GET` or
 * `HEAD` to `url` over a fresh connection, TCP for `http:`, TLS for
 * `https:` verified as `request.tls` says (the CAs, SNI and name of
 * `originTlsOptions()`, as for the origin's own connections). Resolves with
 * the status as soon as the response head is in; the body is never read,
 * and the connection is destroyed at once (no keep-alive, nothing left
 * open). Rejects with the socket's error (its `code`, e.g. `ECONNREFUSED`,
 * or a TLS verification code) and when no head comes within
 * `request.timeout` ms or `request.signal` aborts.
 *
 * @example
 * const { status } = await probeOrigin(new URL('http://10.0.0.5:9001/healthz'), { method: 'GET', timeout: 2_000, tls: undefined, signal }, { onSocket: track })
 */
export function probeOrigin(url: URL, request: ProbeRequest, hooks: ProbeHooks = {}): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    let outgoing: ReturnType<typeof openOriginRequest>
    try {
      outgoing = openOriginRequest(
        url,
        request.method,
        { host: url.host, 'user-agent': PROBE_USER_AGENT, accept: '*/*', connection: 'close' },
        { signal: request.signal, onSocket: hooks.onSocket },
        request.tls,
      )
    } catch (error) {
      // A `tls.ca` Node cannot parse.
      reject(error)
      return
    }
    const settle = settleOnce(request.timeout, () => {
      outgoing.destroy()
      reject(Object.assign(new Error(`no answer within ${request.timeout} ms`), { code: 'ETIMEDOUT' }))
    })
    outgoing.on('response', (response) => {
      // The status is all a probe needs: the body is dropped with the connection.
      response.on('error', () => {})
      response.destroy()
      outgoing.destroy()
      if (settle()) resolve({ status: response.statusCode ?? 0 })
    })
    // An origin that switches protocols on a probe is up; the socket is not ours to keep.
    outgoing.on('upgrade', (response, socket: Socket) => {
      socket.destroy()
      if (settle()) resolve({ status: response.statusCode ?? 101 })
    })
    outgoing.on('error', (error) => {
      outgoing.destroy()
      if (settle()) reject(error)
    })
    outgoing.end()
  })
}
