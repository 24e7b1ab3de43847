import { once } from 'node:events'
import http from 'node:http'
import type net from 'node:net'
import type { GatewayRuntime } from '../../src/index.ts'
import { fetchOrigin } from '../../src/node/http-connector.ts'

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
  const server = http.createServer()
  const origin = {
    url: '',
    port: 0,
    server,
    requests,
    handler,
    sockets,
    close: async () => {
      server.closeAllConnections()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
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
