import type http from 'node:http'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import type { OriginAnswer, OriginRequest } from '../../runtime.ts'
import {
  NULL_BODY_STATUSES,
  openOriginRequest,
  settleOnce,
  toHeaders,
  toNodeHeaders,
  unavailableReason,
  unrelayableStatus,
  upgradeTimedOut,
  badOriginHandshake,
  originUnavailable,
  type OriginRequestHooks,
} from './request.ts'
import { NodeOriginTunnel } from './tunnel.ts'
import { connectRawOrigin } from './raw.ts'

export { NodeOriginTunnel }

/** Hooks of {@link connectOrigin}. */
export type ConnectHooks = OriginRequestHooks

/**
 * Sends an upgrade request to an origin over a fresh TCP (or TLS) connection
 * and resolves with its answer. Rejects with 502 when the origin cannot be
 * reached and 504 when it does not answer within `request.timeout`.
 * `ws://` origins go through the raw connector (raw-origin.ts); `wss://`
 * ones through Node's https client, which brings TLS verification as Node
 * configures it.
 */
export function connectOrigin(request: OriginRequest, hooks: ConnectHooks = {}): Promise<OriginAnswer> {
  return request.url.protocol === 'http:' ? connectRawOrigin(request, hooks) : connectTlsOrigin(request, hooks)
}

/** {@link connectOrigin} for `wss://` origins, over Node's `https.request`. */
function connectTlsOrigin(request: OriginRequest, hooks: ConnectHooks): Promise<OriginAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = openOriginRequest(request.url, 'GET', toNodeHeaders(request.headers), hooks)
    const settle = settleOnce(request.timeout, () => {
      outgoing.destroy()
      reject(upgradeTimedOut(request.timeout))
    })

    outgoing.on('upgrade', (response, socket: Socket, head: Buffer) => {
      // Keep the origin's first frames in the socket until the pipe takes them.
      socket.pause()
      if (!settle()) return socket.destroy()
      resolve({ upgraded: true, headers: toHeaders(response.rawHeaders), tunnel: new NodeOriginTunnel(socket, head) })
    })
    outgoing.on('response', (response) => {
      if (!settle()) return response.destroy()
      // A stalled body must not hold the client forever.
      response.socket.setTimeout(request.timeout, () => response.destroy())
      resolve({ upgraded: false, response: toResponse(response) })
    })
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      if (!settle()) return
      if (error.code?.startsWith('HPE_')) {
        // llhttp could not parse the answer: the origin is up but does not speak HTTP here.
        reject(badOriginHandshake('not an HTTP response', error))
        return
      }
      reject(originUnavailable(unavailableReason(error), error))
    })
    outgoing.end()
  })
}

/** The origin's non-101 answer as a Web Response whose body streams from the origin. */
function toResponse(response: http.IncomingMessage): Response {
  const status = response.statusCode ?? 502
  if (status < 200 || status > 599) {
    response.destroy()
    return unrelayableStatus(status)
  }
  const headers = toHeaders(response.rawHeaders)
  const body = NULL_BODY_STATUSES.has(status) ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>)
  if (!body) response.resume()
  return new Response(body, { status, statusText: response.statusMessage ?? '', headers })
}
