import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import type { GatewayRuntime } from '../../src/index.ts'
import { fetchOrigin } from '../../src/node/origin/fetch.ts'

/** What an HTTP origin saw of one request: head and the whole body. */
export interface SeenRequest {
  method: string
  url: string
  /** Lower-cased headers as Node parsed them. */
  headers: http.IncomingHttpHeaders
  /** Header list as sent (names as sent, repeated headers separate). */
  rawHeaders: string[]
  body: Buffer
}

/** Answers one request; the body has been read into `seen.body` already unless `streamRequest` is set. */
export type OriginHandler = (request: http.IncomingMessage, response: http.ServerResponse, seen: SeenRequest) => void

/** A node:http origin on 127.0.0.1 whose handler a test may swap. */
export interface HttpOrigin {
  readonly url: string
  readonly port: number
  readonly server: http.Server
  /** Every request so far, in arrival order. */
  readonly requests: SeenRequest[]
  /** The current handler. */
  handler: OriginHandler
  /** Origin-side sockets still open. */
  readonly sockets: Set<net.Socket>
  /**
   * The bytes each connection received, exactly as they came off the wire
   * (latin1), one entry per connection in accept order; an entry grows as
   * bytes arrive. The gateway opens one connection per request.
   */
  readonly wire: string[]
  close(): Promise<void>
}

/**
 * Starts a node:http origin. By default each request's body is read in full
 * before `handler` runs; with `streamRequest`, the handler gets the request
 * unread (for tests that watch bytes arrive) and `seen.body` stays empty.
 */
export async function startHttpOrigin(handler: OriginHandler, options: { streamRequest?: boolean } = {}): Promise<HttpOrigin> {
  const requests: SeenRequest[] = []
  const sockets = new Set<net.Socket>()
  const wire: string[] = []
  const server = http.createServer()
  const origin = {
    url: '',
    port: 0,
    server,
    requests,
    handler,
    sockets,
    wire,
    close: async () => {
      server.closeAllConnections()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    // A 'data' listener makes Node's server feed its parser from 'data' events too, so both see every byte.
    const index = wire.push('') - 1
    socket.on('data', (chunk: Buffer) => (wire[index] += chunk.toString('latin1')))
  })
  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    const seen: SeenRequest = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, rawHeaders: request.rawHeaders, body: Buffer.alloc(0) }
    requests.push(seen)
    if (options.streamRequest) return origin.handler(request, response, seen)
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      seen.body = Buffer.concat(chunks)
      origin.handler(request, response, seen)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  return Object.assign(origin, { url: `http://127.0.0.1:${port}`, port })
}

/** A response as a plain node:http client (no decompression, no redirects) received it. */
export interface ClientResponse {
  status: number
  statusText: string
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  body: Buffer
}

/** Options of {@link send}. */
export interface SendOptions {
  method?: string
  headers?: http.OutgoingHttpHeaders
  body?: Buffer | string
}

/**
 * One request with node:http and no connection reuse (`agent: false`), so
 * the gateway's socket closes after the answer; the whole body is read.
 */
export function send(url: string, options: SendOptions = {}): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', reject)
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          statusText: response.statusMessage ?? '',
          headers: response.headers,
          rawHeaders: response.rawHeaders,
          body: Buffer.concat(chunks),
        }),
      )
    })
    request.on('error', reject)
    request.end(options.body)
  })
}

/**
 * A runtime for tier-1 tests (`app.request(url, init, { wsgate })`): plain
 * HTTP path, no upgrade slot, and the real Node `fetchOrigin` unless one is given.
 */
export function plainRuntime(overrides: Partial<GatewayRuntime> = {}): GatewayRuntime {
  return {
    clientAddress: '127.0.0.1',
    httpVersion: '1.1',
    rawTarget: '/',
    rawHeaders: [],
    requestId: 'test-request',
    handshakeTimeout: 5_000,
    upgrade: undefined,
    note: () => {},
    onConnectionClose: () => {},
    connectOrigin: () => Promise.reject(new Error('connectOrigin is not used by these tests')),
    fetchOrigin: (request, timeout) => fetchOrigin(request, timeout),
    ...overrides,
  }
}

/** One response as a raw client read it off a keep-alive connection. */
export interface WireResponse {
  status: number
  reason: string
  /** Lower-cased headers (last value wins). */
  headers: Record<string, string>
  /** The body, de-chunked when it came chunked (latin1). */
  body: string
  /** The response exactly as received (latin1). */
  raw: string
}

/** A raw `net` client on one connection, reading responses as they complete. */
export interface WireConnection {
  readonly socket: net.Socket
  /** Every byte received so far (latin1). */
  readonly received: () => string
  /** Writes bytes as they are, no framing added. */
  send(bytes: string | Buffer): void
  /**
   * The next complete response (framed by Content-Length, chunked coding,
   * or the close); `bodiless` for the answer to a HEAD. Rejects when the
   * connection closes before one is complete.
   */
  response(options?: { bodiless?: boolean }): Promise<WireResponse>
  /** Resolves once the gateway has closed the connection. */
  readonly closed: Promise<void>
}

/** Opens a raw connection to 127.0.0.1:`port`; destroy it (or track it) when done. */
export async function openWire(port: number): Promise<WireConnection> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let text = ''
  let offset = 0
  let ended = false
  let waiter: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1')
    waiter?.()
  })
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true
      waiter?.()
      resolve()
    }),
  )
  return {
    socket,
    received: () => text,
    send: (bytes) => void socket.write(bytes),
    closed,
    response: ({ bodiless = false } = {}) =>
      new Promise((resolve, reject) => {
        const attempt = (): void => {
          const parsed = parseWireResponse(text.slice(offset), bodiless, ended)
          if (parsed) {
            waiter = undefined
            offset += parsed.raw.length
            resolve(parsed)
          } else if (ended) {
            waiter = undefined
            reject(new Error(`connection closed before a complete response: ${JSON.stringify(text.slice(offset, offset + 300))}`))
          }
        }
        waiter = attempt
        attempt()
      }),
  }
}

/** The first complete response in `text`, or undefined while it is incomplete. */
function parseWireResponse(text: string, bodiless: boolean, ended: boolean): WireResponse | undefined {
  const end = text.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const head = text.slice(0, end)
  const [statusLine = ''] = head.split('\r\n')
  const match = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine)
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`)
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const status = Number(match[1])
  const start = end + 4
  const done = (bodyEnd: number, body: string): WireResponse => ({ status, reason: match[2] ?? '', headers, body, raw: text.slice(0, bodyEnd) })
  if (bodiless || status === 204 || status === 304 || (status >= 100 && status < 200)) return done(start, '')
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    let at = start
    let body = ''
    for (;;) {
      const lineEnd = text.indexOf('\r\n', at)
      if (lineEnd < 0) return undefined
      const size = parseInt(text.slice(at, lineEnd), 16)
      if (size === 0) {
        const trailerEnd = text.indexOf('\r\n\r\n', lineEnd)
        return trailerEnd < 0 ? undefined : done(trailerEnd + 4, body)
      }
      if (text.length < lineEnd + 2 + size + 2) return undefined
      body += text.slice(lineEnd + 2, lineEnd + 2 + size)
      at = lineEnd + 2 + size + 2
    }
  }
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'])
    return text.length < start + length ? undefined : done(start + length, text.slice(start, start + length))
  }
  return ended ? done(text.length, text.slice(start)) : undefined
}

/** A request (or response) as one origin connection received it: head and what followed it. */
export interface WireMessage {
  /** Request line and header lines, without the blank line. */
  head: string
  /** Lower-cased headers (last value wins). */
  headers: Record<string, string>
  /** Every byte after the head's blank line (latin1), framing included. */
  rest: string
}

/** Splits what one connection received into its first head and the bytes after it. */
export function splitWire(text: string): WireMessage {
  const end = text.indexOf('\r\n\r\n')
  if (end < 0) throw new Error(`no complete head in ${JSON.stringify(text.slice(0, 300))}`)
  const head = text.slice(0, end)
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { head, headers, rest: text.slice(end + 4) }
}
