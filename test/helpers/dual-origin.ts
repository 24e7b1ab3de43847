import { once } from 'node:events'
import http from 'node:http'
import type net from 'node:net'
import { WebSocketServer } from 'ws'

/** What a dual origin saw of one request. */
export interface DualSeen {
  kind: 'http' | 'websocket'
  method: string
  /** The request-target as received. */
  url: string
  /** Header list as received (names as sent, repeated headers separate). */
  rawHeaders: string[]
  /** The same headers as Node's object (lower-case names, repeats joined). */
  headers: http.IncomingHttpHeaders
  /** The whole body of a plain request; empty for upgrades. */
  body: Buffer
}

/** An origin serving plain HTTP and WebSocket echo on one port. */
export interface DualOrigin {
  /** `ws://127.0.0.1:<port>` (http() and proxy() map it to http://). */
  readonly url: string
  /** Every request so far, in arrival order. */
  readonly seen: DualSeen[]
  close(): Promise<void>
}

/** How a dual origin answers a plain request, once its body is read and it is recorded in `seen`. */
export type DualAnswer = (request: http.IncomingMessage, response: http.ServerResponse, seen: readonly DualSeen[]) => void

/** The default answer: 200 `origin page`. */
function originPage(_request: http.IncomingMessage, response: http.ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/plain' }).end('origin page\n')
}

/**
 * Starts an origin that answers every plain request with `answer` (200
 * `origin page` by default) once its body is read, and upgrades every
 * WebSocket handshake to an echo, recording what arrived.
 */
export async function startDualOrigin(answer: DualAnswer = originPage): Promise<DualOrigin> {
  const seen: DualSeen[] = []
  // Room for what the gateway may forward at its own limits (8 KiB target, 16 KiB of fields): Node's 16 KiB default would answer 431 itself.
  const server = http.createServer({ maxHeaderSize: 64 * 1024 }, (request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      seen.push({ kind: 'http', method: request.method ?? '', url: request.url ?? '', rawHeaders: request.rawHeaders, headers: request.headers, body: Buffer.concat(chunks) })
      answer(request, response, seen)
    })
  })
  const sockets = new WebSocketServer({ noServer: true })
  server.on('upgrade', (request, socket, head) => {
    seen.push({ kind: 'websocket', method: request.method ?? '', url: request.url ?? '', rawHeaders: request.rawHeaders, headers: request.headers, body: Buffer.alloc(0) })
    sockets.handleUpgrade(request, socket, head, (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: async () => {
      for (const client of sockets.clients) client.terminate()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Every value of a header (lower-case `name`) in a raw header list, in order. */
export function rawValues(rawHeaders: string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!)
  return values
}
