import http2, { constants, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import type { TLSSocket } from 'node:tls'
import { DEFAULT_H2_GOAWAY_GRACE, DEFAULT_H2_MAX_CONCURRENT_STREAMS, DEFAULT_KEEP_ALIVE_TIMEOUT } from '../../defaults.ts'
import { GatewayError } from '../../errors.ts'
import { runHandshake, type GatewayState, type HandshakeTransport, type RequestFacts } from '../upgrade.ts'
import { servePlainH2 } from './plain.ts'
import { readH2RequestHead } from './request-head.ts'
import { acceptConnect, respond } from './respond.ts'
import { H2StreamEndpoint } from './stream-endpoint.ts'

/**
 * HTTP/2 on the TLS listener: the sockets that negotiated `h2` by ALPN are
 * handed here (the `http/1.1` ones stay with Node's HTTP/1.1 server, as
 * before). Each becomes a server session advertising
 * SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3), whose streams are taken
 * one by one:
 *
 * - an extended CONNECT with `:protocol = websocket` runs the handshake
 *   chain as an HTTP/1.1 upgrade would (`runHandshake`), answered with 200
 *   and piped over the stream; refused, it gets the chain's answer, but
 *   never a 2xx (which would open it): a route's own 2xx becomes 502
 *   `ERR_HANDSHAKE_NOT_UPGRADED`;
 * - a CONNECT without `:protocol` (a tunnel: the gateway is not a CONNECT
 *   proxy) or for another protocol gets 501 (RFC 9110 §9.3.6, RFC 9220 §3),
 *   as CONNECT gets on HTTP/1.1;
 * - any other request goes through the app as a plain request.
 *
 * A malformed request (RFC 9113 §8.1.1: `:protocol` without CONNECT, a
 * CONNECT with `:path` but no `:protocol`, connection-specific fields, a
 * `:path` that is not origin-form, userinfo in `:authority`) is reset by
 * nghttp2 itself with PROTOCOL_ERROR before it reaches here, and a field
 * whose value holds CR, LF or NUL is dropped by it.
 *
 * A stream is taken once what came with its header block has been read
 * (`setImmediate`), so that one reset in the same breath (rapid reset,
 * CVE-2023-44487) never runs the chain; nghttp2's own reset rate limit
 * then bounds the streams a connection may open and reset.
 *
 * Sessions are bounded like HTTP/1.1 connections: one that opens no stream
 * within `handshakeTimeout` of its start, or stays without a stream for
 * the keep-alive time, is closed (GOAWAY).
 */

/** An HTTP/2 extended CONNECT: its 200 and its refusals are HTTP/2 responses on the stream. */
export const HTTP2_CONNECT: HandshakeTransport<H2StreamEndpoint> = {
  http: '2',
  accept(endpoint, headers, requestId) {
    try {
      acceptConnect(endpoint.stream, headers, requestId)
    } catch {
      // A stream that can take no answer (closed by the client a moment ago): reset, so the pipe about to
      // start on it hears its close and ends, rather than a rejection no one handles.
      endpoint.destroy()
    }
  },
  async refuse(endpoint, response) {
    await respond(endpoint.stream, response, { closeRequest: true }).catch(() => endpoint.destroy())
  },
  // Any 2xx to a CONNECT opens the tunnel (RFC 9110 §9.3.6, RFC 8441 §5): a route's 200 or 204 that is no WebSocket
  // (an http() route, a page, a websocket() origin that answered 200) would have the client take its WebSocket for
  // open and read the body as frames. HTTP/1.1 relays such an answer, which no client takes for its 101.
  refusal(response) {
    if (response.status < 200 || response.status > 299) return response
    void response.body?.cancel().catch(() => {})
    return new GatewayError(502, 'ERR_HANDSHAKE_NOT_UPGRADED', `the route answered ${response.status} without opening the WebSocket`).getResponse()
  },
}

/** What the TLS listener's HTTP/2 half offers the gateway's listeners. */
export interface H2Listener {
  /** Takes a TLS socket that negotiated `h2`. */
  accept(socket: TLSSocket): void
  /** The drain began: every session is told to take no new streams (GOAWAY); open ones finish. */
  beginDrain(): void
  /** Closes the sessions with no open stream. */
  closeIdleSessions(): void
}

/** Per session: its open streams, and the timer that closes it while it has none. */
interface SessionState {
  streams: number
  idleTimer: NodeJS.Timeout | undefined
}

const SESSION_STATE = Symbol('wsgate.h2.session')
type TrackedSession = ServerHttp2Session & { [SESSION_STATE]: SessionState }

/**
 * The HTTP/2 half of the TLS listener of a gateway with `state`.
 *
 * @example
 * const h2 = h2Listener(state)
 * tlsServer.on('secureConnection', (socket) => socket.alpnProtocol === 'h2' ? h2.accept(socket) : http1(socket))
 */
export function h2Listener(state: GatewayState): H2Listener {
  const { settings, logger } = state
  const keepAlive = Math.min(DEFAULT_KEEP_ALIVE_TIMEOUT, settings.handshakeTimeout)
  // Never listens: it only makes sessions of the sockets handed to it. No 'request' listener, so Node's
  // compatibility layer (which would read every stream, CONNECT ones too) is never set up.
  const server = http2.createServer({
    settings: { enableConnectProtocol: true, maxConcurrentStreams: DEFAULT_H2_MAX_CONCURRENT_STREAMS },
  })
  const sessions = new Set<TrackedSession>()

  function idle(session: TrackedSession, ms: number): void {
    const record = session[SESSION_STATE]
    clearTimeout(record.idleTimer)
    record.idleTimer = setTimeout(closeSession, ms, session)
  }

  server.on('session', (session: ServerHttp2Session) => {
    const tracked = session as TrackedSession
    tracked[SESSION_STATE] = { streams: 0, idleTimer: undefined }
    sessions.add(tracked)
    // The first stream's headers are due within the handshake timeout, as a first HTTP/1.1 request's.
    idle(tracked, settings.handshakeTimeout)
    session.on('error', () => session.destroy())
    session.on('close', () => {
      clearTimeout(tracked[SESSION_STATE].idleTimer)
      sessions.delete(tracked)
    })
    if (state.draining) session.close()
  })

  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const session = stream.session as TrackedSession | undefined
    if (session) {
      const record = session[SESSION_STATE]
      record.streams++
      clearTimeout(record.idleTimer)
      record.idleTimer = undefined
      stream.once('close', () => {
        if (--record.streams === 0 && !session.closed && !session.destroyed) idle(session, keepAlive)
      })
    }
    // A reset while the stream waits is its end; its errors are no one's.
    stream.on('error', ignore)
    // Rapid reset (CVE-2023-44487): a client can open a stream and reset it in the same breath, at no cost of
    // its own, hundreds of times a connection before nghttp2's rate limit answers. The chain (a WAF, a JWT
    // check, an origin connect) runs only for a stream still open once the bytes that came with it are read.
    setImmediate(takeStream, stream, headers, rawHeaders)
  })

  /** A stream whose header block came, once the rest of what came with it has been read: served unless reset meanwhile. */
  function takeStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    if (stream.destroyed || stream.closed) return
    const session = stream.session
    const facts: RequestFacts = { httpVersion: '1.1', rawHeaders: [], socket: { remoteAddress: session?.socket?.remoteAddress } }
    const method = headers[constants.HTTP2_HEADER_METHOD]
    if (method === 'CONNECT') {
      const protocol = headers[':protocol'] as string | undefined
      if (protocol?.toLowerCase() !== 'websocket') {
        refuseConnect(stream, facts, protocol)
        return
      }
      const head = readH2RequestHead(rawHeaders, true, settings)
      const endpoint = new H2StreamEndpoint(stream)
      void runHandshake(state, HTTP2_CONNECT, endpoint, { ...facts, rawHeaders: head.rawHeaders }, head.method, head.rawTarget, head.parsed, EMPTY)
      return
    }
    // A plain request's stream errors (a reset) end it (the listener above ignores them); its answer is dropped.
    const head = readH2RequestHead(rawHeaders, false, settings)
    void servePlainH2(state, stream, head, { ...facts, rawHeaders: head.rawHeaders })
  }

  /** A CONNECT the gateway does not serve: a tunnel (no `:protocol`), or another protocol than WebSocket. */
  function refuseConnect(stream: ServerHttp2Stream, facts: RequestFacts, protocol: string | undefined): void {
    const error = new GatewayError(
      501,
      'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED',
      protocol === undefined ? 'method CONNECT is not served' : `extended CONNECT for protocol ${protocol} is not served`,
    )
    logger.info({ client: facts.socket.remoteAddress, method: 'CONNECT', status: error.status, code: error.code, http: '2' }, 'request rejected')
    // Counted as the other refused plain requests are: with no route (the gateway answers it before routing).
    state.metrics?.request(undefined, 'CONNECT', {}, error.status, error.code, performance.now())
    void respond(stream, error.getResponse(), { closeRequest: true }).catch(() => stream.destroy())
  }

  return {
    accept(socket) {
      // Small frames (pings, chat messages) must not wait for Nagle: the socket is every stream's (the session
      // hides it behind a proxy that refuses setNoDelay, so it is set before).
      socket.setNoDelay(true)
      server.emit('connection', socket)
    },
    beginDrain() {
      for (const session of sessions) session.close()
    },
    closeIdleSessions() {
      for (const session of sessions) if (session[SESSION_STATE].streams === 0) session.close()
    },
  }
}

const EMPTY = Buffer.alloc(0)

function ignore(): void {}

/**
 * A session without a stream for too long: GOAWAY, and the socket closes
 * once it has gone, or after {@link DEFAULT_H2_GOAWAY_GRACE} at the latest
 * (a header block still coming in holds a graceful close open).
 */
function closeSession(session: TrackedSession): void {
  if (session[SESSION_STATE].streams !== 0 || session.closed || session.destroyed) return
  session.close()
  setTimeout(dropSession, DEFAULT_H2_GOAWAY_GRACE, session).unref()
}

function dropSession(session: TrackedSession): void {
  if (!session.destroyed) session.destroy()
}
