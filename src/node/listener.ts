import { getRequestListener, RequestError, type HttpBindings } from '@hono/node-server'
import type http from 'node:http'
import type https from 'node:https'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { DEFAULT_HEADERS_CHECK_INTERVAL, DEFAULT_KEEP_ALIVE_TIMEOUT } from '../defaults.ts'
import { ERROR_HEADER, GatewayError } from '../errors.ts'
import { FairShare } from '../fair-share.ts'
import type { RequestHead } from '../request-head.ts'
import { accessLogger, AccessResponse, requestLine, type AccessRecord } from './access-log.ts'
import { drainingError, WatchedSet } from './drain.ts'
import type { Logger } from './log.ts'
import type { Pipe, PipeEndpoint } from './pipe.ts'
import { readFirstHead, type FirstHeadHandlers } from './first-head.ts'
import { h2Listener, type H2Listener } from './h2/listener.ts'
import { requestTimeoutError } from './h2/request-deadline.ts'
import { chainRequest, readRequestHead } from './request.ts'
import type { ServeSettings } from './settings.ts'
import { asGatewayError, toErrorResponse, withHeader } from '../responses.ts'
import { endScope, handleUpgrade, logHandshake, newScope, plainRuntime, type FetchApp, type GatewayState } from './upgrade.ts'
import { closingHead, endSocket, rawErrorResponse } from './write-response.ts'

/** Bytes of a request line besides its target (`CONNECT ` and ` HTTP/1.1\r\n`, with room to spare), for Node's head limit. */
const REQUEST_LINE_ALLOWANCE = 64

/**
 * A plain request's parsed head, the target as it was sent (the adapter
 * replaces `incoming.url`), and the refusal of its client's request cap
 * when it is over it (answered in place of the chain).
 */
interface ParsedRequest {
  head: RequestHead
  rawTarget: string
  overCap: GatewayError | undefined
}

/** Either listener of a gateway: the plain one, or the TLS one. */
export type ListeningServer = http.Server | https.Server

/**
 * The request handling of one gateway, shared by its listeners: the one
 * head parse, the Hono chain, the upgrade path, the fair share, the header
 * deadlines and keep-alive timers. Attached to the plain listener and to
 * the TLS one alike, so a request is handled the same whichever it came in
 * on; only the connection's scheme (`https` over TLS) differs.
 */
export interface GatewayListeners {
  /** The upgrade path's state: pipes, handshakes in flight, the fair share. */
  readonly state: GatewayState
  /** Every socket the gateway holds, client or origin side, on either listener. */
  readonly sockets: ReadonlySet<Socket>
  /**
   * Attaches the handlers to a server; `https.Server`s also get the TLS
   * handshake's, and with `tls.http2` the sockets that negotiated `h2` go
   * to the HTTP/2 half (`h2/listener.ts`) instead of Node's HTTP/1.1 server.
   */
  attach(server: ListeningServer, tls?: boolean): void
  /**
   * Begins a drain: from now on new handshakes and plain requests get 503
   * `ERR_GATEWAY_DRAINING` with `Retry-After` and `connection: close`, and
   * keep-alive connections idle between requests are closed. Open pipes are
   * left to the caller. The listeners keep accepting, so a client gets that
   * 503 rather than a refused connection.
   */
  beginDrain(): void
  /** Closes the keep-alive connections of every attached server that are idle between requests. */
  closeIdleConnections(): void
  /** Resolves once no pipe is open (at once if none is): after the last pipe's connection-end line was logged. */
  whenNoPipes(): Promise<void>
  /** Resolves once the gateway holds no socket, client or origin side (at once if it holds none). */
  whenNoSockets(): Promise<void>
  /**
   * Destroys every socket the gateway holds, and from now on every socket
   * handed to `state.track` (an origin connect or a probe already under
   * way hands its socket over a tick later); resolves once none is left.
   */
  destroySockets(): Promise<void>
}

/**
 * Node server options of a listener: Node's header limit and deadlines set
 * from the gateway's settings (the same for `http.createServer()` and
 * `https.createServer()`).
 */
export function listenerOptions(settings: ServeSettings): http.ServerOptions {
  // Node's limit counts the request line too: room for the longest target and the line's own bytes, so that
  // the head parse, which counts the field lines alone, tells 414 from 431.
  return {
    maxHeaderSize: settings.maxHeaderSize + settings.maxUriLength + REQUEST_LINE_ALLOWANCE,
    requireHostHeader: false,
    // Keep-alive requests after the first are bounded by Node's header deadline, counted from
    // their first byte. Node checks it every 30 s by default (a late request lived 22–40 s and got
    // 400); checked this often, it is met within a tenth of the timeout (at most 1 s), and
    // answered with the first request's 408 (the clientError handler).
    headersTimeout: settings.handshakeTimeout,
    connectionsCheckingInterval: Math.max(1, Math.min(DEFAULT_HEADERS_CHECK_INTERVAL, Math.ceil(settings.handshakeTimeout / 10))),
    // Idle between requests: closed (without an answer, nothing was asked) no later than a new connection would be.
    keepAliveTimeout: Math.min(DEFAULT_KEEP_ALIVE_TIMEOUT, settings.handshakeTimeout),
    // The whole request, head and body, from its first byte; answered 408 ERR_REQUEST_TIMEOUT by the clientError handler.
    requestTimeout: settings.requestTimeout,
    // Counts each response's body bytes for the access line.
    ServerResponse: AccessResponse,
  }
}

/**
 * The handlers of a gateway serving `app`, to attach to each of its listeners.
 *
 * @example
 * const listeners = gatewayListeners(app, settings, logger)
 * listeners.attach(http.createServer(listenerOptions(settings)))
 * listeners.attach(https.createServer({ ...listenerOptions(settings), cert, key }), true)
 */
export function gatewayListeners(app: FetchApp, settings: ServeSettings, logger: Logger): GatewayListeners {
  const sockets = new WatchedSet<Socket>()
  /** Set by destroySockets(): the gateway is going away, a socket handed over now is destroyed at once. */
  let destroying = false
  const headerTimers = new WeakMap<Socket, NodeJS.Timeout>()
  // Sockets whose last answer is decided (refused, timed out): nothing more is read from them or answered on them.
  const refused = new WeakSet<Socket>()
  // Listeners shared by every socket (`this` is the socket): none is made per connection.
  function untrack(this: Socket): void {
    sockets.delete(this)
  }
  function clientClosed(this: Socket): void {
    sockets.delete(this)
    headersReceived(this)
  }
  // Slowloris guard: the headers of every request must be complete in time; this answers the
  // first request's own timer (armed when the connection's bytes are HTTP: on 'connection', over TLS on
  // 'secureConnection') and Node's deadline for keep-alive ones alike.
  /** A refusal before any request reached the app (the header deadline, Node's parser): its handshake line and count, with no route. */
  function refusedBeforeApp(socket: Socket, status: number, code: string): void {
    logger.info({ client: socket.remoteAddress, status, code }, 'handshake rejected')
    state.metrics?.handshake(undefined, {}, status, code, performance.now())
  }

  function headersTimedOut(socket: Socket): void {
    const error = new GatewayError(408, 'ERR_HANDSHAKE_TIMEOUT', `request headers not received within ${settings.handshakeTimeout} ms`)
    refusedBeforeApp(socket, 408, error.code)
    // A request whose headers complete in the moment before the close is not run.
    refused.add(socket)
    socket.end(rawErrorResponse(error), () => socket.destroy())
  }
  /**
   * A plain request not in full within `requestTimeout` (its head was in
   * time, its body is not): 408 `ERR_REQUEST_TIMEOUT` and the connection
   * closed. The app's answer, whenever it comes, finds the socket gone; the
   * request's access line says 408 now.
   */
  function requestTimedOut(socket: Socket, response: AccessResponse): void {
    const error = requestTimeoutError(settings.requestTimeout)
    const record = response.access
    if (record) {
      response.access = undefined
      record.metrics?.request(record.runtime.target, response.req.method, record.note, error.status, error.code, record.started)
      if (logger.isLevelEnabled('info')) {
        const line = requestLine(record.runtime, record.note, error.status, error.code, record.started, response.req.method)
        line.bytes = Buffer.byteLength(error.body())
        logger.info(line, 'request')
      }
    }
    refused.add(socket)
    // The request id the app's answer would have carried (set before the chain ran).
    const requestId = response.getHeader('x-request-id')
    socket.end(timeoutResponse(error, typeof requestId === 'string' ? requestId : undefined), () => socket.destroy())
  }

  // Open pipes: a drain or a close waits until the last one has ended (and logged its line).
  const pipes = new WatchedSet<Pipe<PipeEndpoint>>()
  const state: GatewayState = {
    app,
    settings,
    logger,
    pipes,
    handshaking: 0,
    draining: false,
    fairShare: new FairShare(settings, settings.store),
    track(socket) {
      sockets.add(socket)
      socket.on('close', untrack)
      if (destroying) socket.destroy()
    },
  }
  // Forgotten, not only cleared: a WeakMap entry would keep the Timeout for the connection's life.
  function headersReceived(socket: Socket): void {
    clearTimeout(headerTimers.get(socket))
    headerTimers.delete(socket)
  }

  /** A connection whose bytes are HTTP: the first request's header timer starts now. */
  function onHttpConnection(socket: Socket): void {
    sockets.add(socket)
    headerTimers.set(socket, setTimeout(headersTimedOut, settings.handshakeTimeout, socket))
    socket.on('close', clientClosed)
  }

  /** A TCP connection to the TLS listener: held until it closes; its TLS handshake is bounded by the server's `handshakeTimeout`. */
  function onTcpConnection(socket: Socket): void {
    sockets.add(socket)
    socket.on('close', untrack)
    // A failed handshake's line names the client, who may have reset by then: read the address while it is here.
    if (logger.isLevelEnabled('info')) void socket.remoteAddress
  }

  /**
   * A TLS handshake that failed (a client that does not trust the
   * certificate, plain HTTP on the TLS port, a client that never finished
   * within the handshake timeout): one info line, and the connection closed.
   */
  function onTlsClientError(error: NodeJS.ErrnoException, socket: TLSSocket): void {
    // The TLS socket forgets its peer once closed; the TCP socket under it (Node's `_parent`) still knows it.
    const client = socket.remoteAddress ?? (socket as TLSSocket & { _parent?: Socket })._parent?.remoteAddress
    logger.info({ client, code: error.code ?? 'ERR_TLS', reason: error.code ? undefined : error.message }, 'tls handshake failed')
    socket.destroy()
  }

  function onClientError(error: ParserError, socket: Socket): void {
    headersReceived(socket)
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    // Already answered, or its last answer decided: what the parser choked on is the rest of a refused request, or
    // bytes after the connection's last request, and a deadline is of a request that will never be answered. The
    // answers it owes are left to finish; the connection closes after them.
    if (refused.has(socket)) return
    // Bytes after a request with `Connection: close` (or an HTTP/1.0 one without keep-alive) are not a request
    // (RFC 9112 §9.6): that request's answer is the connection's last, and Node closes it once that is sent.
    if (error.code === 'HPE_CLOSED_CONNECTION') {
      refused.add(socket)
      return
    }
    // With an answer under way, a refusal written now would land inside it. When that answer is to the request
    // whose body failed, or the error is a deadline (its 408 is written at once), the connection is dropped; an
    // answer under way to an earlier request is finished first, and the refusal follows it (below).
    const failing = requestInBody(socket)
    if (responseUnderWay(socket) && (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || responseOf(socket)!.req === failing)) {
      socket.destroy()
      return
    }
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // Node's request deadline: a request whose head came but whose body is still coming.
      const response = responseOf(socket)
      if (response && !response.req.complete) return requestTimedOut(socket, response)
      // Node's header deadline of a keep-alive request: the same 408 the first request gets.
      return headersTimedOut(socket)
    }
    const rejection = parserRejection(error, settings)
    refusedBeforeApp(socket, rejection.status, rejection.code)
    refused.add(socket)
    // Pipelined requests are answered in order (RFC 9112 §9.3.2): the refusal follows the answers owed before the
    // bytes that failed (none begun yet; they may still be coming from their origins), those to the requests before
    // the one whose body failed, or all of them.
    afterEarlierAnswers(socket, failing, () => {
      // Closed meanwhile: by the client, or by Node after an answer that was the connection's last.
      if (!socket.writable) return
      // The failing request's own response has begun meanwhile: the refusal would land inside it.
      if (responseUnderWay(socket)) {
        socket.destroy()
        return
      }
      socket.write(rawErrorResponse(rejection))
      endSocket(socket, settings.halfCloseTimeout)
    })
  }

  // Plain HTTP requests: the head parse first (what is refused never reaches Hono), then @hono/node-server.
  const requestHeads = new WeakMap<http.IncomingMessage, ParsedRequest>()
  const logAccess = accessLogger(logger)
  const honoListener = getRequestListener(
    async (request, env) => {
      const bindings = env as HttpBindings
      const { head, rawTarget, overCap } = requestHeads.get(bindings.incoming)!
      const started = performance.now()
      const scope = newScope()
      const runtime = plainRuntime(state, bindings.incoming, scope, { raw: rawTarget, normalised: head.target })
      // Every plain response carries its request id, the one in its log line (an origin's own x-request-id is
      // relayed as it came: Node lets the response's headers win over this one).
      const outgoing = bindings.outgoing as AccessResponse
      outgoing.setHeader('x-request-id', runtime.requestId)
      // The access line is written (and the request counted) when the response ends (its bytes and time known),
      // also when the client leaves first; it names the client even then: read its address while it is here.
      const { metrics } = state
      const info = logger.isLevelEnabled('info')
      const record: AccessRecord | undefined = info || metrics ? { runtime, note: scope.note, started, metrics } : undefined
      if (record) {
        if (info) void runtime.clientAddress
        outgoing.access = record
        outgoing.on('close', logAccess)
      }
      let response: Response
      try {
        if (overCap) {
          // Over its client's request cap: answered with the refusal, before any middleware or origin.
          runtime.note({ fairShare: { limited: 'requests', max: settings.maxRequestsPerClient } })
          response = overCap.getResponse()
        } else {
          // state.app, read per request: a routes reload (gateway.reloadRoutes()) swaps it for the next request.
          response = await state.app.fetch(chainRequest(request, head, bindings.incoming), { ...bindings, wsgate: runtime })
        }
      } catch (error) {
        response = toErrorResponse(error, logger)
      } finally {
        // A plain HTTP request never becomes a connection.
        endScope(scope, logger)
      }
      // A refusal by the gateway, or an upgrade request answered without switching protocols, ends the
      // connection: what the client sends next was not meant as another request (frames, a body of the
      // refused request), so nothing more is read and it is never answered.
      const code = response.headers.get(ERROR_HEADER)
      // A draining gateway answers what was asked before the drain, and keeps no connection alive after it.
      const last = code !== null || bindings.incoming.headers.upgrade !== undefined || state.draining
      if (last) stopReading(bindings.incoming.socket)
      // A request websocket() refused (it refuses every plain request, with an ERR_HANDSHAKE_* code, after noting
      // its route) is a failed handshake: it gets the handshake line, at once, instead of the access line.
      if (scope.note.route !== undefined && code?.startsWith('ERR_HANDSHAKE_')) {
        outgoing.access = undefined
        logHandshake(state, runtime, scope.note, response.status, code, started)
      } else if (record) record.code = code
      // A body without Content-Type goes out without one: the label @hono/node-server would add is dropped from the head.
      outgoing.untyped = !response.headers.has('content-type')
      return last ? withHeader(response, 'connection', 'close') : response
    },
    // What escapes the listener itself goes to the JSON log, never to stderr; @hono/node-server's own
    // complaints about a request (RequestError) are about client input, so a 400.
    { errorHandler: (error) => toErrorResponse(error instanceof RequestError ? asGatewayError(error) : error, logger) },
  )
  /**
   * A plain request (Node's 'request'), or one with an `Expect` (RFC 9110 §10.1.1) that Node hands over instead
   * of answering it itself: `expect` is `'continue'` for `100-continue` (Node's 'checkContinue'), `'other'` for
   * any other expectation ('checkExpectation').
   */
  function onRequest(incoming: http.IncomingMessage, outgoing: http.ServerResponse, expect?: 'continue' | 'other'): void {
    headersReceived(incoming.socket)
    if (refused.has(incoming.socket)) return
    let head: RequestHead
    try {
      head = readRequestHead(incoming, false, settings)
    } catch (error) {
      refuseRequest(incoming, outgoing, asGatewayError(error), undefined)
      return
    }
    if (state.draining) {
      refuseRequest(incoming, outgoing, drainingError(settings.retryAfter), head.target)
      return
    }
    // An expectation the gateway cannot meet: 417 (§10.1.1) as a refusal of its own, which closes the connection.
    // Node's own 417 kept it open and parsed what followed without the head parse ever seeing the request.
    if (expect === 'other') {
      refuseRequest(incoming, outgoing, new GatewayError(417, 'ERR_EXPECTATION_FAILED', 'only the 100-continue expectation is supported'), head.target)
      return
    }
    // A slot of the client's maxRequestsPerClient, held until the response closes: sent in full, or the client
    // gone (its socket closed, the 408 of requestTimeout included). Node emits 'close' once per response.
    const admitted = state.fairShare.admitRequest(outgoing, incoming.socket.remoteAddress)
    if (admitted === true) outgoing.once('close', state.fairShare.releaseRequest)
    // The body is invited only now, past every refusal the edge decides before the chain: a refused request is
    // answered without it (Node wrote 100 Continue before any check, and the refusal then closed on a body coming).
    if (expect === 'continue' && admitted === true) outgoing.writeContinue()
    requestHeads.set(incoming, { head, rawTarget: incoming.url ?? '', overCap: admitted instanceof GatewayError ? admitted : undefined })
    // @hono/node-server builds its Request from the target (never from Host) when the target is absolute.
    incoming.url = head.url
    void honoListener(incoming, outgoing)
  }

  // CONNECT (RFC 9110 §9.3.6) arrives apart from other requests; the gateway is not a forward proxy.
  function onConnect(incoming: http.IncomingMessage, socket: Socket): void {
    headersReceived(socket)
    const error = new GatewayError(501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', 'method CONNECT is not served')
    socket.on('error', () => socket.destroy())
    afterPipelinedAnswers(socket, () => {
      logger.info({ client: socket.remoteAddress, method: incoming.method, status: error.status, code: error.code }, 'request rejected')
      // Counted as the other refused plain requests are: with no route (the gateway answers it before routing).
      state.metrics?.request(undefined, 'CONNECT', {}, error.status, error.code, performance.now())
      socket.write(rawErrorResponse(error))
      endSocket(socket, settings.halfCloseTimeout)
    })
  }

  /** Reads nothing more from a socket whose last answer is under way, and answers nothing more on it. */
  function stopReading(socket: Socket): void {
    refused.add(socket)
    socket.pause()
  }

  /**
   * Answers a plain request the head parse (or a drain) refused, and closes: what follows its head cannot be
   * trusted. Counted with the route its `target` matches (undefined when the head parse refused it: no route).
   */
  function refuseRequest(incoming: http.IncomingMessage, outgoing: http.ServerResponse, error: GatewayError, target: string | undefined): void {
    // Never the target or a header: a refused head may carry anything, credentials included.
    logger.info({ client: incoming.socket.remoteAddress, method: incoming.method, status: error.status, code: error.code }, 'request rejected')
    state.metrics?.request(target, incoming.method, {}, error.status, error.code, performance.now())
    // Bytes after a refused head (a body of unknown framing, pipelined requests) are never parsed.
    stopReading(incoming.socket)
    const body = error.body()
    const headers: Record<string, string> = { 'content-length': String(Buffer.byteLength(body)), connection: 'close' }
    for (const [name, value] of error.responseHeaders()) headers[name] = value
    outgoing.writeHead(error.status, headers)
    outgoing.end(body)
  }

  function onUpgrade(incoming: http.IncomingMessage, socket: Socket, head: Buffer): void {
    headersReceived(socket)
    // Pipelined behind requests still being answered, the upgrade waits for their answers (RFC 9112 §9.3.2): its 101
    // (or refusal) never lands inside them, and no frame is relayed before them. Node has stopped reading the socket.
    afterPipelinedAnswers(socket, () => void handleUpgrade(state, incoming, socket, head))
  }

  /**
   * Runs `then` once every answer owed on the socket before a request Node
   * handed over whole (an upgrade, a CONNECT) is written. A request behind
   * one whose answer is the connection's last (a refusal, `Connection:
   * close`) is not a request (RFC 9112 §9.6): it is never run, and the
   * connection ends after that answer.
   */
  function afterPipelinedAnswers(socket: Socket, then: () => void): void {
    const run = (): void => {
      if (refused.has(socket) || !socket.writable) {
        endSocket(socket, settings.halfCloseTimeout)
        return
      }
      then()
    }
    afterEarlierAnswers(socket, undefined, run)
  }

  /** What readFirstHead() hands back: a clean upgrade to the upgrade path, a head cut short to Node's answer for it. */
  const firstHeads: FirstHeadHandlers = {
    // Node's limit on a head (request line included, see listenerOptions()): a longer one is Node's to refuse.
    limit: settings.maxHeaderSize + settings.maxUriLength + REQUEST_LINE_ALLOWANCE,
    answered: (socket) => refused.has(socket),
    upgrade(socket, head, rest) {
      headersReceived(socket)
      void handleUpgrade(state, { ...head, socket }, socket, rest)
    },
    // What Node's parser says of a head cut short.
    cutShort: (socket, bytes) => onClientError(Object.assign(new Error('Parse Error: Invalid EOF state'), { code: 'HPE_INVALID_EOF_STATE', rawPacket: bytes }), socket),
  }

  // HTTP/2 on the TLS listener, when offered (its ALPN offers h2 only then).
  const h2: H2Listener | undefined = settings.tls?.http2 ? h2Listener(state) : undefined

  /**
   * Node's own listeners of a connection `event` (its HTTP/1.1 server's)
   * get a connection only once its first head is theirs (readFirstHead); an
   * `h2` connection goes to the HTTP/2 half instead.
   */
  function takeHttpConnections(server: ListeningServer, event: 'connection' | 'secureConnection'): void {
    const http1 = server.listeners(event) as ((this: ListeningServer, socket: Socket) => void)[]
    server.removeAllListeners(event)
    server.on(event, function onConnection(this: ListeningServer, socket: Socket) {
      if (h2 && (socket as TLSSocket).alpnProtocol === 'h2') {
        h2.accept(socket as TLSSocket)
        return
      }
      onHttpConnection(socket)
      readFirstHead(socket, firstHeads, () => {
        for (const listener of http1) listener.call(this, socket)
      })
    })
  }

  const servers: ListeningServer[] = []
  return {
    state,
    sockets,
    beginDrain() {
      state.draining = true
      for (const server of servers) server.closeIdleConnections()
      h2?.beginDrain()
    },
    closeIdleConnections() {
      for (const server of servers) server.closeIdleConnections()
      h2?.closeIdleSessions()
    },
    whenNoPipes: () => pipes.whenEmpty(),
    whenNoSockets: () => sockets.whenEmpty(),
    destroySockets() {
      destroying = true
      for (const socket of sockets) socket.destroy()
      return sockets.whenEmpty()
    },
    attach(server, tls = false) {
      servers.push(server)
      if (tls) {
        server.on('connection', onTcpConnection)
        takeHttpConnections(server, 'secureConnection')
        server.on('tlsClientError', onTlsClientError)
      } else takeHttpConnections(server, 'connection')
      server.on('clientError', onClientError)
      server.on('request', onRequest)
      // With these listeners Node answers no Expect itself (see onRequest).
      server.on('checkContinue', (incoming: http.IncomingMessage, outgoing: http.ServerResponse) => onRequest(incoming, outgoing, 'continue'))
      server.on('checkExpectation', (incoming: http.IncomingMessage, outgoing: http.ServerResponse) => onRequest(incoming, outgoing, 'other'))
      server.on('connect', onConnect)
      server.on('upgrade', onUpgrade)
    },
  }
}

/** {@link rawErrorResponse} with the request's id, when it reached the app and has one. */
function timeoutResponse(error: GatewayError, requestId: string | undefined): string {
  if (requestId === undefined) return rawErrorResponse(error)
  const body = error.body()
  const headers = error.responseHeaders()
  headers.set('content-length', String(Buffer.byteLength(body)))
  headers.set('x-request-id', requestId)
  return closingHead(error.status, '', headers) + body
}

/**
 * The response Node's server is writing on the socket (`_httpMessage`; its
 * default clientError handling reads it too): the one of the request whose
 * head came last, until it has been written.
 */
function responseOf(socket: Socket): AccessResponse | undefined {
  return (socket as Socket & { _httpMessage?: AccessResponse | null })._httpMessage ?? undefined
}

/** Whether a response has started on the socket (its head sent), so nothing else may be written to it. */
function responseUnderWay(socket: Socket): boolean {
  return responseOf(socket)?.headersSent === true
}

/**
 * The request whose body Node's parser is reading on the socket (its head came, its body has not ended), or
 * undefined between requests: a parse error then is in the message after the last request, not in a body.
 */
function requestInBody(socket: Socket): http.IncomingMessage | undefined {
  const incoming = (socket as Socket & { parser?: { incoming?: http.IncomingMessage | null } | null }).parser?.incoming
  return incoming && !incoming.complete ? incoming : undefined
}

/**
 * Calls `then` once Node's server has written every answer it owes on the
 * socket before `request`'s (every answer, with no request): the one it is
 * writing (`_httpMessage`) and those queued behind it, one at a time, each
 * taking the socket when the one before it has ended. A response's 'close'
 * comes after it has been written in full, or when the connection is gone.
 */
function afterEarlierAnswers(socket: Socket, request: http.IncomingMessage | undefined, then: () => void): void {
  const pending = responseOf(socket)
  if (pending === undefined || pending.req === request) return then()
  pending.once('close', () => afterEarlierAnswers(socket, request, then))
}

/**
 * Node's parser refusals (llhttp error codes) as the head parse's codes, so
 * that a request gets the same answer whichever of the two saw the problem
 * first.
 */
function parserRejection(error: ParserError, settings: ServeSettings): GatewayError {
  const { code } = error
  // What the parser had read of the failing message, from the start of the line it failed in (a pipelined message
  // follows others in the same read), for telling an unknown method or version from plain noise.
  const packet = error.rawPacket
  const failedAt = Math.min(error.bytesParsed ?? 0, packet?.length ?? 0)
  const start = packet && failedAt > 0 ? packet.lastIndexOf(0x0a, failedAt - 1) + 1 : 0
  const line = packet?.toString('latin1', start, start + 256) ?? ''
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new GatewayError(431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE', `request header section exceeds ${settings.maxHeaderSize} bytes`)
    // RFC 9110 §9.1: a method the server does not recognise is 501.
    case 'HPE_INVALID_METHOD':
      if (!/^[A-Z][A-Z-]* /.test(line)) break
      return new GatewayError(501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', 'method not recognised')
    // RFC 9110 §15.6.6: a well-formed version the server does not support is 505; on an upgrade, 400 as for HTTP/1.0.
    case 'HPE_INVALID_VERSION':
      if (!/^[^\r\n]* HTTP\/[0-9]\.[0-9]\r?\n/.test(line)) break
      if (/\nupgrade:/i.test(line)) return new GatewayError(400, 'ERR_HANDSHAKE_HTTP_VERSION', 'an upgrade needs HTTP/1.1')
      return new GatewayError(505, 'ERR_HANDSHAKE_HTTP_VERSION', 'HTTP version not supported; use HTTP/1.1')
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CHUNK_SIZE':
      return new GatewayError(400, 'ERR_HANDSHAKE_FRAMING', `invalid message framing (${code})`)
    case 'HPE_INVALID_URL':
      return new GatewayError(400, 'ERR_HANDSHAKE_TARGET', 'invalid request target')
  }
  return new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', `malformed HTTP request (${code ?? 'parse error'})`)
}

/** A `clientError` from Node's parser: its llhttp code, the bytes it had read, and where in them it failed. */
type ParserError = NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number }
