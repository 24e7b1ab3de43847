import { once } from 'node:events'
import net from 'node:net'
import { createHash } from 'node:crypto'
import { WebSocketServer, type WebSocket } from 'ws'
import { whenHead } from './wire.ts'

/** A `ws` origin with a per-connection handler; every server-side socket is kept for inspection. */
export interface WsOrigin {
  readonly url: string
  readonly port: number
  readonly server: WebSocketServer
  /** Server-side sockets of every connection so far. */
  readonly sockets: WebSocket[]
  close(): Promise<void>
}

/** Starts a `ws` origin on 127.0.0.1; `onConnection` defaults to echo. */
export async function startWsOrigin(
  onConnection: (socket: WebSocket) => void = echo,
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
): Promise<WsOrigin> {
  // With `server` (an HTTP server of the caller's, e.g. with a larger maxHeaderSize) it is listened on here, and closed with the origin.
  const httpServer = options.server
  const server = new WebSocketServer(httpServer ? options : { host: '127.0.0.1', port: 0, ...options })
  const sockets: WebSocket[] = []
  server.on('connection', (socket) => {
    sockets.push(socket)
    socket.on('error', () => {})
    onConnection(socket)
  })
  const listening = once(server, 'listening')
  httpServer?.listen(0, '127.0.0.1')
  await listening
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    server,
    sockets,
    close: async () => {
      for (const socket of server.clients) socket.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      if (httpServer) await new Promise<void>((resolve) => httpServer.close(() => resolve()))
    },
  }
}

/** Echoes every message with its text/binary flag. */
export function echo(socket: WebSocket): void {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
}

/** What a raw origin saw of one connection. */
export interface RawOriginConnection {
  socket: net.Socket
  /** The request head as received (request line and headers). */
  requestHead: string
  /** Lower-cased request headers (last value wins). */
  headers: Record<string, string>
}

/** A TCP origin whose answers are scripted byte by byte. */
export interface RawOrigin {
  readonly url: string
  readonly port: number
  readonly connections: RawOriginConnection[]
  /** Every origin-side socket, to check that none is left open. */
  readonly sockets: Set<net.Socket>
  close(): Promise<void>
}

/**
 * Starts an origin that reads one request head and calls `answer` with it;
 * `answer` writes whatever bytes the test needs (a good 101, a bad one, a
 * 404, nothing at all). `options` go to the server (e.g. `allowHalfOpen`).
 */
export async function startRawOrigin(answer: (connection: RawOriginConnection) => void, options: net.ServerOpts = {}): Promise<RawOrigin> {
  const connections: RawOriginConnection[] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer(options, (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    whenHead(socket, (requestHead, rest) => {
      if (rest.length > 0) socket.unshift(rest)
      const connection = { socket, requestHead, headers: parseHeaders(requestHead) }
      connections.push(connection)
      answer(connection)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    connections,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Parses `Name: value` lines of a head into a lower-cased map (the first line is skipped). */
export function parseHeaders(head: string): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return headers
}

/** The correct `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
}

/** A well-formed 101 for a raw origin connection, with optional extra header lines. */
export function switchingProtocols(connection: RawOriginConnection, extra: string[] = []): string {
  const key = connection.headers['sec-websocket-key'] ?? ''
  return [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`,
    ...extra,
    '',
    '',
  ].join('\r\n')
}
