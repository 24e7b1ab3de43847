import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import { GatewayError } from '../errors.ts'
import type { OriginAnswer, OriginRequest, OriginTunnel } from '../runtime.ts'

/** An upgraded origin socket, plus the bytes the origin sent right after its 101. */
export class NodeOriginTunnel implements OriginTunnel {
  readonly socket: Socket
  readonly head: Buffer

  constructor(socket: Socket, head: Buffer) {
    this.socket = socket
    this.head = head
  }

  close(): void {
    this.socket.destroy()
  }
}

/** Hooks of {@link connectOrigin}. */
export interface ConnectHooks {
  /** Aborting drops the attempt (the client went away). */
  signal?: AbortSignal
  /** Sees the origin socket as soon as it exists, so the gateway can account for it. */
  onSocket?: (socket: Socket) => void
}

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1); `Response` refuses one for them. */
const NULL_BODY_STATUSES = new Set([204, 205, 304])

/**
 * Sends an upgrade request to an origin over a fresh TCP (or TLS) connection
 * and resolves with its answer. Rejects with 502 when the origin cannot be
 * reached and 504 when it does not answer within `request.timeout`.
 */
export function connectOrigin(request: OriginRequest, hooks: ConnectHooks = {}): Promise<OriginAnswer> {
  const { signal, onSocket } = hooks
  return new Promise((resolve, reject) => {
    const { url } = request
    const transport = url.protocol === 'https:' ? https : http
    const outgoing = transport.request({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      path: url.pathname + url.search,
      method: 'GET',
      headers: toNodeHeaders(request.headers),
      agent: false,
      setHost: false,
      signal,
    })
    if (onSocket) outgoing.once('socket', onSocket)
    let settled = false
    const settle = (): boolean => {
      if (settled) return false
      settled = true
      clearTimeout(timer)
      return true
    }
    const timer = setTimeout(() => {
      if (!settle()) return
      outgoing.destroy()
      reject(new GatewayError(504, 'ERR_ORIGIN_TIMEOUT', `origin did not answer the upgrade within ${request.timeout} ms`))
    }, request.timeout)

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
        reject(new GatewayError(502, 'ERR_ORIGIN_BAD_HANDSHAKE', 'origin sent an invalid WebSocket handshake: not an HTTP response', { cause: error }))
        return
      }
      const reason = error.name === 'AbortError' ? 'client went away' : (error.code ?? error.message)
      reject(new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', `origin unavailable (${reason})`, { cause: error }))
    })
    outgoing.end()
  })
}

/** Node's header object from Web Headers; repeated values were already joined with ", ". */
function toNodeHeaders(headers: Headers): Record<string, string> {
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

/** The origin's non-101 answer as a Web Response whose body streams from the origin. */
function toResponse(response: http.IncomingMessage): Response {
  const status = response.statusCode ?? 502
  if (status < 200 || status > 599) {
    response.destroy()
    return new GatewayError(502, 'ERR_ORIGIN_BAD_HANDSHAKE', `origin answered the upgrade with status ${status}`).getResponse()
  }
  const headers = toHeaders(response.rawHeaders)
  const body = NULL_BODY_STATUSES.has(status) ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>)
  if (!body) response.resume()
  return new Response(body, { status, statusText: response.statusMessage ?? '', headers })
}
