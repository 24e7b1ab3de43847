import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { GatewayError } from '../errors.ts'

/** Headers that describe the old connection's framing; the relayed response is close-delimited instead. */
const FRAMING_HEADERS = new Set(['connection', 'transfer-encoding', 'keep-alive'])

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

  if (response.body) {
    const reader = response.body.getReader()
    const stop = (): void => void reader.cancel().catch(() => {})
    socket.once('close', stop)
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done || socket.destroyed) break
        if (!socket.write(value)) await new Promise<void>((resolve) => {
          socket.once('drain', resolve)
          socket.once('close', resolve)
        })
      }
    } catch {
      // The origin broke off mid-body: the close tells the client the body is cut.
      socket.destroy()
    } finally {
      socket.off('close', stop)
    }
  }
  endSocket(socket, halfCloseTimeout)
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
 * status line, headers minus the old framing ones, `connection: close`.
 */
export function closingHead(status: number, statusText: string, headers: Headers): string {
  let head = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || ''}\r\n`
  for (const [name, value] of headers) {
    if (!FRAMING_HEADERS.has(name)) head += `${name}: ${value}\r\n`
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
