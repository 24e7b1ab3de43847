import { getRequestListener, type HttpBindings } from '@hono/node-server'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import type { Socket } from 'node:net'
import { GatewayError } from '../errors.ts'
import { jittered } from '../limits.ts'
import type { GatewayBindings, GatewayRuntime, HandshakeNote, OriginAnswer, PipeSettings } from '../runtime.ts'
import { connectOrigin, NodeOriginTunnel } from './connector.ts'
import { createLogger, type Logger } from './log.ts'
import { Pipe, type PipeSummary } from './pipe.ts'
import { toRequest } from './request.ts'
import { resolveServeSettings, type ServeOptions, type ServeSettings } from './settings.ts'
import { closingHead, endSocket, writeResponse } from './write-response.ts'

export type { ServeOptions } from './settings.ts'

/** Env bindings on a Node host: Hono's Node bindings on plain HTTP requests, plus the wsgate runtime. */
export type NodeGatewayBindings = GatewayBindings & Partial<HttpBindings>

/** Anything with Hono's `fetch` signature: a Hono app, or a user's own. */
export interface FetchApp {
  fetch(request: Request, env: NodeGatewayBindings): Response | Promise<Response>
}

/** A running gateway. */
export interface Gateway {
  /** `http://host:port` the gateway listens on (use `ws://` for WebSocket clients). */
  readonly url: string
  readonly host: string
  readonly port: number
  /** Open WebSocket pipes. */
  readonly connections: number
  /** Every socket the gateway holds, client or origin side; 0 when nothing leaks. */
  readonly openSockets: number
  /** The effective settings, defaults filled in. */
  readonly settings: Readonly<ServeSettings>
  /** Stops listening, drops every connection and resolves when every socket has closed. */
  close(): Promise<void>
}

/** Header that marks the response `UpgradeSlot.accept()` produced; never leaves the gateway. */
const UPGRADE_MARKER = 'x-wsgate-upgrade'

/**
 * Runs a Hono app (or anything with its `fetch`) as a WebSocket gateway on
 * a Node host. Upgrade requests run the app's chain on the raw socket; when
 * `websocket()` accepts, the 101 is written and a raw pipe joins client and
 * origin. Plain HTTP requests go through @hono/node-server.
 *
 * @example
 * const gateway = await serve(app, { port: 8080, idleTimeout: 60_000 })
 * // … later
 * await gateway.close()
 */
export async function serve(app: FetchApp, options: ServeOptions = {}): Promise<Gateway> {
  const settings = resolveServeSettings(options)
  const logger = options.logger ?? createLogger()
  const pipes = new Set<Pipe>()
  const sockets = new Set<Socket>()
  const headerTimers = new WeakMap<Socket, NodeJS.Timeout>()
  let handshaking = 0

  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  const headersReceived = (socket: Socket): void => clearTimeout(headerTimers.get(socket))

  const server = http.createServer({ maxHeaderSize: settings.maxHeaderSize, requireHostHeader: false })
  // Keep-alive requests after the first are bounded by Node's own header timeout.
  server.headersTimeout = settings.handshakeTimeout
  server.requestTimeout = Math.max(300_000, settings.handshakeTimeout)

  server.on('connection', (socket: Socket) => {
    track(socket)
    // Slowloris guard for the first request: its headers must be complete in time.
    const timer = setTimeout(() => {
      const error = new GatewayError(408, 'ERR_HANDSHAKE_TIMEOUT', `request headers not received within ${settings.handshakeTimeout} ms`)
      logger.info({ client: socket.remoteAddress, status: 408, code: error.code }, 'handshake rejected')
      socket.end(rawResponse(error), () => socket.destroy())
    }, settings.handshakeTimeout)
    headerTimers.set(socket, timer)
    socket.once('close', () => clearTimeout(timer))
  })

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    headersReceived(socket)
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    const rejection =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? new GatewayError(431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE', `request header section exceeds ${settings.maxHeaderSize} bytes`)
        : new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', `malformed HTTP request (${error.code ?? 'parse error'})`)
    logger.info({ client: socket.remoteAddress, status: rejection.status, code: rejection.code }, 'handshake rejected')
    socket.write(rawResponse(rejection))
    endSocket(socket, settings.halfCloseTimeout)
  })

  const plainHttp = getRequestListener(async (request, env) => {
    const incoming = (env as HttpBindings).incoming
    headersReceived(incoming.socket)
    const started = performance.now()
    const note: HandshakeNote = {}
    const runtime = runtimeFor(incoming, randomUUID(), note, undefined, () =>
      Promise.reject(new GatewayError(400, 'ERR_HANDSHAKE_UPGRADE', 'request did not arrive as an HTTP upgrade')),
    )
    const response = await app.fetch(request, { ...(env as HttpBindings), wsgate: runtime })
    // Only requests that reached a WebSocket route get a handshake log line and a request id.
    if (note.route === undefined) return response
    logHandshake(runtime, note, response.status, response.headers.get('x-wsgate-error'), started)
    return withRequestId(response, runtime.requestId)
  })
  server.on('request', plainHttp)

  server.on('upgrade', (incoming: http.IncomingMessage, socket: Socket, head: Buffer) => {
    headersReceived(socket)
    void handleUpgrade(incoming, socket, head)
  })

  function runtimeFor(
    incoming: http.IncomingMessage,
    requestId: string,
    note: HandshakeNote,
    upgrade: GatewayRuntime['upgrade'],
    connect: GatewayRuntime['connectOrigin'],
  ): GatewayRuntime {
    return {
      clientAddress: incoming.socket.remoteAddress ?? '',
      httpVersion: incoming.httpVersion,
      requestId,
      handshakeTimeout: settings.handshakeTimeout,
      upgrade,
      note: (facts) => Object.assign(note, facts),
      connectOrigin: connect,
    }
  }

  function logHandshake(runtime: GatewayRuntime, note: HandshakeNote, status: number, code: string | null, started: number): void {
    logger.info(
      {
        reqId: runtime.requestId,
        route: note.route,
        origin: note.origin,
        client: runtime.clientAddress,
        status,
        ...(code ? { code } : {}),
        ms: Math.round(performance.now() - started),
      },
      status === 101 ? 'handshake accepted' : 'handshake rejected',
    )
  }

  async function handleUpgrade(incoming: http.IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const started = performance.now()
    const requestId = randomUUID()
    const note: HandshakeNote = {}
    // Until the pipe takes over, a socket error only means the client left; 'close' handles that.
    socket.on('error', () => {})

    let accepted: { answer: Extract<OriginAnswer, { upgraded: true }>; settings: PipeSettings } | undefined
    const abort = new AbortController()
    const clientGone = (): void => abort.abort()
    const runtime = runtimeFor(
      incoming,
      requestId,
      note,
      {
        accept(answer, pipeSettings) {
          accepted = { answer, settings: pipeSettings }
          const headers = new Headers(answer.headers)
          headers.set(UPGRADE_MARKER, requestId)
          return new Response(null, { status: 200, headers })
        },
      },
      (request) => connectOrigin(request, { signal: abort.signal, onSocket: track }),
    )

    let response: Response
    if (pipes.size + handshaking >= settings.maxConnections) {
      response = new GatewayError(503, 'ERR_CONNECTION_LIMIT', 'gateway connection limit reached, retry later', {
        headers: { 'retry-after': String(settings.retryAfter) },
      }).getResponse()
    } else {
      handshaking++
      // A client's FIN arrives as 'end' only (the socket is half-open), so 'close'
      // would not fire until the origin answered or timed out. A WebSocket client
      // that half-closes before its 101 can never send a frame: treat it as gone.
      const clientEnded = (): void => void socket.destroy()
      socket.once('close', clientGone)
      socket.once('end', clientEnded)
      try {
        response = await app.fetch(toRequest(incoming), { wsgate: runtime })
      } catch (error) {
        response = toErrorResponse(error, logger)
      } finally {
        handshaking--
        socket.off('close', clientGone)
        socket.off('end', clientEnded)
      }
    }

    const upgraded = accepted !== undefined && response.headers.get(UPGRADE_MARKER) === requestId
    if (accepted && upgraded && !socket.destroyed) {
      startPipe(socket, head, accepted.answer.tunnel as NodeOriginTunnel, response.headers, accepted.settings, runtime, note)
      logHandshake(runtime, note, 101, null, started)
      return
    }
    if (accepted) {
      // The chain replaced the upgrade with another answer, or the client left meanwhile.
      accepted.answer.tunnel.close()
      accepted.settings.onClose?.()
    }
    logHandshake(runtime, note, socket.destroyed ? 499 : response.status, response.headers.get('x-wsgate-error'), started)
    await writeResponse(socket, withRequestId(response, requestId), settings.halfCloseTimeout)
  }

  function startPipe(
    socket: Socket,
    head: Buffer,
    tunnel: NodeOriginTunnel,
    headers: Headers,
    pipeSettings: PipeSettings,
    runtime: GatewayRuntime,
    note: HandshakeNote,
  ): void {
    let head101 = 'HTTP/1.1 101 Switching Protocols\r\n'
    for (const [name, value] of headers) {
      if (name !== UPGRADE_MARKER) head101 += `${name}: ${value}\r\n`
    }
    socket.write(`${head101}x-request-id: ${runtime.requestId}\r\n\r\n`, 'latin1')
    const pipe = new Pipe(socket, tunnel.socket, head, tunnel.head, {
      idleTimeout: pipeSettings.idleTimeout ?? settings.idleTimeout,
      lifetime: jittered(pipeSettings.maxLifetime ?? settings.maxLifetime, pipeSettings.lifetimeJitter ?? settings.lifetimeJitter),
      halfCloseTimeout: settings.halfCloseTimeout,
      onEnd: (summary: PipeSummary) => {
        pipes.delete(pipe)
        pipeSettings.onClose?.()
        logger.info(
          { reqId: runtime.requestId, route: note.route, origin: note.origin, client: runtime.clientAddress, ...summary },
          'connection closed',
        )
      },
    })
    pipes.add(pipe)
  }

  server.listen(settings.port, settings.host)
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : settings.port
  const host = settings.host
  logger.info({ host, port, maxConnections: settings.maxConnections }, 'gateway listening')

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    settings,
    get connections() {
      return pipes.size
    },
    get openSockets() {
      return sockets.size
    },
    async close() {
      const closed = new Promise((resolve) => server.close(resolve))
      for (const pipe of pipes) pipe.close('shutdown')
      server.closeAllConnections()
      const remaining = [...sockets]
      for (const socket of remaining) socket.destroy()
      await Promise.all(remaining.map((socket) => (socket.closed ? undefined : once(socket, 'close'))))
      await closed
      logger.info({ host, port }, 'gateway closed')
    },
  }
}

/** A response with `x-request-id` added; responses from an origin may have immutable headers, so copy. */
function withRequestId(response: Response, requestId: string): Response {
  const headers = new Headers(response.headers)
  headers.set('x-request-id', requestId)
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers })
}

/** The response for an exception that escaped the chain: its own if it is a GatewayError, else a logged 500. */
function toErrorResponse(error: unknown, logger: Logger): Response {
  if (error instanceof GatewayError) return error.getResponse()
  logger.error({ err: error }, 'handshake failed')
  return new GatewayError(500, 'ERR_INTERNAL', 'internal gateway error').getResponse()
}

/** A complete HTTP/1.1 response for a GatewayError, for sockets still owned by Node's HTTP parser. */
function rawResponse(error: GatewayError): string {
  const body = error.body()
  const headers = error.responseHeaders()
  headers.set('content-length', String(Buffer.byteLength(body)))
  return closingHead(error.status, '', headers) + body
}
