import net from 'node:net'
import { parseHeaders } from './origins.ts'
import { whenHead } from './wire.ts'

/** A fixed, valid `Sec-WebSocket-Key` (base64 of 16 bytes). */
export const TEST_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

/** Builds a request head; `headers` override or extend a valid WebSocket handshake (a null value removes one). */
export function handshakeRequest(
  path: string,
  headers: Record<string, string | null> = {},
  requestLine = `GET ${path} HTTP/1.1`,
): string {
  const base: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': TEST_KEY,
    'Sec-WebSocket-Version': '13',
  }
  const merged = { ...base, ...headers }
  const lines = [requestLine]
  for (const [name, value] of Object.entries(merged)) if (value !== null) lines.push(`${name}: ${value}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** What came back on a raw connection. */
export interface RawResponse {
  status: number
  statusLine: string
  /** Lower-cased response headers (last value wins). */
  headers: Record<string, string>
  /** Everything after the head, as latin1. */
  body: string
  /** The whole response as received. */
  raw: Buffer
}

/**
 * Sends raw bytes to the gateway and collects the answer until the gateway
 * closes the connection (or `timeoutMs` passes, which fails the call).
 */
export function rawExchange(port: number, request: string | Buffer, timeoutMs = 5_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete answer within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))}`))
    }, timeoutMs)
    socket.on('connect', () => socket.write(request))
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(parseResponse(Buffer.concat(chunks)))
    })
  })
}

/** Parses a raw HTTP/1.1 response. */
export function parseResponse(raw: Buffer): RawResponse {
  const text = raw.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  const head = end < 0 ? text : text.slice(0, end)
  const statusLine = head.split('\r\n')[0] ?? ''
  return {
    status: Number(statusLine.split(' ')[1] ?? 0),
    statusLine,
    headers: parseHeaders(head),
    body: end < 0 ? '' : text.slice(end + 4),
    raw,
  }
}

/**
 * Resolves once `socket` has received a complete response head, with the
 * head (latin1, without the blank line) and the bytes after it. The socket is
 * paused from then on, so no later byte is lost before the test reads it.
 * Rejects if the connection closes first.
 */
export function readHead(socket: net.Socket): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const received = whenHead(socket, (head, rest) => {
      socket.off('close', onClose)
      socket.pause()
      resolve({ head, rest })
    })
    const onClose = (): void => reject(new Error(`connection closed before a response head: ${JSON.stringify(received().toString('latin1'))}`))
    socket.once('close', onClose)
  })
}
