import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { GatewayError } from '../errors.ts'
import { toHeaders } from './connector.ts'

/** Hooks of {@link fetchOrigin}. */
export interface FetchOriginHooks {
  /** Sees the origin socket as soon as it exists, so the gateway can account for it. */
  onSocket?: (socket: Socket) => void
}

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1, §15.3.6); `Response` refuses one for them. */
const NULL_BODY_STATUSES = new Set([204, 205, 304])

/**
 * The Node origin connector for plain HTTP (`GatewayRuntime.fetchOrigin`):
 * one round trip over a fresh TCP (or TLS) connection, no pooling. The
 * request body streams from `request.body`; the response body streams back
 * as the origin sent it: no transparent decompression (a gzip body keeps its
 * bytes and its `Content-Encoding`), no redirect following, every header
 * kept (repeated ones, `Set-Cookie` included). Aborting `request.signal`
 * (the client went away) drops the origin connection, also mid-body.
 *
 * Rejects with a 502 `GatewayError` (ERR_ORIGIN_UNAVAILABLE) when the origin
 * cannot be reached or does not speak HTTP, and a 504 (ERR_ORIGIN_TIMEOUT)
 * when its response head does not arrive within `timeout` ms. The body that
 * follows the head is not bounded by `timeout` (long downloads and event
 * streams must pass); the client leaving ends it.
 *
 * @example
 * const response = await fetchOrigin(new Request('http://127.0.0.1:9000/status'), 10_000, { onSocket: track })
 */
export function fetchOrigin(request: Request, timeout: number, hooks: FetchOriginHooks = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const url = new URL(request.url)
    const headers = toNodeHeaders(request.headers)
    // HTTP/1.1 requires Host (RFC 9112 §3.2); `http()` always sets it, a direct caller may not.
    headers.host ??= url.host
    const transport = url.protocol === 'https:' ? https : http
    const outgoing = transport.request({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      path: url.pathname + url.search,
      method: request.method,
      headers,
      agent: false,
      setHost: false,
      signal: request.signal,
    })
    if (hooks.onSocket) outgoing.once('socket', hooks.onSocket)

    let settled = false
    const settle = (): boolean => {
      if (settled) return false
      settled = true
      clearTimeout(timer)
      return true
    }
    const fail = (error: GatewayError): void => {
      if (!settle()) return
      outgoing.destroy()
      reject(error)
    }
    const timer = setTimeout(() => {
      fail(new GatewayError(504, 'ERR_ORIGIN_TIMEOUT', `origin did not answer within ${timeout} ms`))
    }, timeout)

    outgoing.on('response', (response) => {
      if (!settle()) return response.destroy()
      const status = response.statusCode ?? 0
      if (status < 200 || status > 599) {
        response.destroy()
        reject(new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', `origin answered with status ${status}`))
        return
      }
      const bodiless = NULL_BODY_STATUSES.has(status) || request.method === 'HEAD'
      if (bodiless) response.resume()
      const body = bodiless ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>)
      resolve(new Response(body, { status, statusText: response.statusMessage ?? '', headers: toHeaders(response.rawHeaders) }))
    })
    // A 101 to a request that asked for no upgrade (its Upgrade header was stripped): not HTTP any more.
    outgoing.on('upgrade', (_response, socket: Socket) => {
      socket.destroy()
      fail(new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', 'origin switched protocols on a plain HTTP request'))
    })
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.name === 'AbortError'
          ? 'client went away'
          : error.code?.startsWith('HPE_')
            ? 'malformed HTTP response'
            : (error.code ?? error.message)
      fail(new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', `origin unavailable (${reason})`, { cause: error }))
    })

    if (!request.body) {
      outgoing.end()
      return
    }
    // Stream the client's body with backpressure. If the client breaks off, pipeline()
    // destroys the origin request with that error, which lands in the handler above.
    pipeline(Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>), outgoing).catch(() => {})
  })
}

/** Node's header object from Web Headers; repeated values were already joined with ", " by `Headers`. */
function toNodeHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of headers) out[name] = value
  return out
}
