import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { GatewayError } from '../errors.ts'
import { HOP_BY_HOP_HEADERS, headerTokens } from '../headers.ts'

/**
 * Headers that are not relayed: the old connection's framing (the relayed response is close-delimited
 * instead) and every other hop-by-hop header (RFC 9110 §7.6.1), but `Upgrade`, which a 426 must carry to
 * name the protocols this hop accepts (§15.5.22).
 */
const NOT_RELAYED: ReadonlySet<string> = new Set(HOP_BY_HOP_HEADERS.filter((name) => name !== 'upgrade'))

/**
 * Writes a Web Response as HTTP/1.1 onto a raw socket that came through the
 * upgrade path, then ends the connection. The body is streamed with
 * backpressure and delimited by the close, so an origin's chunked or
 * unknown-length body passes as it came. `halfCloseTimeout` bounds how long
 * a client that never closes its half may keep the socket.
 */
export async function writeResponse(socket: Socket, response: Response, halfCloseTimeout: number): Promise<void> {
  if (socket.destroyed) {
    await response.body?.cancel().catch(() => {})
    return
  }
  const headers = new Headers(response.headers)
  if (!response.body && !headers.has('content-length')) headers.set('content-length', '0')
  socket.write(closingHead(response.status, response.statusText, headers), 'latin1')

  // The origin broke off mid-body: the close tells the client the body is cut.
  if (response.body && (await pumpBody(response.body, socket)).broken) socket.destroy()
  endSocket(socket, halfCloseTimeout)
}

/** Where {@link pumpBody} writes: a socket, or an HTTP/2 stream. */
export interface BodySink {
  readonly destroyed: boolean
  write(chunk: Uint8Array): boolean
  once(event: 'drain' | 'close', listener: () => void): unknown
  off(event: 'close', listener: () => void): unknown
}

/**
 * Writes a response body to `sink` with backpressure (waiting for 'drain'
 * when it is full), until the body ends or the sink is gone; a sink that
 * closes cancels the body. Resolves with the bytes written, and whether
 * the body broke off mid-way (the caller then cuts the response short its
 * transport's way).
 */
export async function pumpBody(body: ReadableStream<Uint8Array>, sink: BodySink): Promise<{ bytes: number; broken: boolean }> {
  const reader = body.getReader()
  const stop = (): void => void reader.cancel().catch(() => {})
  sink.once('close', stop)
  let bytes = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done || sink.destroyed) return { bytes, broken: false }
      bytes += value.byteLength
      if (!sink.write(value)) {
        await new Promise<void>((resolve) => {
          sink.once('drain', resolve)
          sink.once('close', resolve)
        })
      }
    }
  } catch {
    return { bytes, broken: true }
  } finally {
    sink.off('close', stop)
  }
}

/**
 * Ends our half of the connection, drains whatever the client still sends
 * (so the kernel does not answer it with a reset that could eat our
 * response), and destroys the socket if the client never closes its half.
 */
export function endSocket(socket: Socket, halfCloseTimeout: number): void {
  if (socket.destroyed) return
  socket.end()
  socket.resume()
  socket.setTimeout(halfCloseTimeout, () => socket.destroy())
}

/**
 * The head of a response after which the gateway closes the connection:
 * status line, headers minus the hop-by-hop ones and those the response's
 * `Connection` names (an origin's answer to an upgrade arrives here as it
 * came: RFC 9110 §7.6.1, as http() strips them), `connection: close`.
 */
export function closingHead(status: number, statusText: string, headers: Headers): string {
  const named = headerTokens(headers.get('connection')).filter((name) => name !== 'upgrade')
  let head = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || ''}\r\n`
  for (const [name, value] of headers) {
    if (!NOT_RELAYED.has(name) && !named.includes(name)) head += `${name}: ${value}\r\n`
  }
  return `${head}connection: close\r\n\r\n`
}

/** A complete HTTP/1.1 response for a GatewayError, for sockets still owned by Node's HTTP parser. */
export function rawErrorResponse(error: GatewayError): string {
  const body = error.body()
  const headers = error.responseHeaders()
  headers.set('content-length', String(Buffer.byteLength(body)))
  return closingHead(error.status, '', headers) + body
}
