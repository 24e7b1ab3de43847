import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'

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
  const reason = response.statusText || STATUS_CODES[response.status] || ''
  let head = `HTTP/1.1 ${response.status} ${reason}\r\n`
  for (const [name, value] of response.headers) {
    if (!FRAMING_HEADERS.has(name)) head += `${name}: ${value}\r\n`
  }
  if (!response.body && !response.headers.has('content-length')) head += 'content-length: 0\r\n'
  head += 'connection: close\r\n\r\n'
  socket.write(head, 'latin1')

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
