import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import { ERROR_HEADER, GatewayError } from '../errors.ts'
import type { ClientSlot, FairShare } from '../fair-share.ts'
import { isPending } from '../limit-store.ts'
import { jittered } from '../limits.ts'
import type { GatewayBindings, GatewayRuntime, HandshakeNote, OriginAnswer, PipeSettings } from '../runtime.ts'
import { drainingError } from './drain.ts'
import { connectOrigin, type NodeOriginTunnel } from './origin/connect.ts'
import { fetchOrigin } from './origin/fetch.ts'
import { NodeGatewayRuntime, type RequestFacts, type RequestScope, type RequestTargets, type RuntimePaths } from './gateway-runtime.ts'
import type { Logger } from './log.ts'
import { requestLine } from './access-log.ts'
import type { GatewayMetrics } from './metrics/index.ts'
import { asGatewayError, toErrorResponse, withRequestId } from '../responses.ts'
import { Pipe, type PipeEndpoint } from './pipe.ts'
import { ignoreHandshakeError } from './pipe/handshake-guard.ts'
import { readRequestHead, toRequest, type NodeRequestHead } from './request.ts'
import type { RequestHead } from '../request-head.ts'
import type { ServeSettings } from './settings.ts'
import { writeResponse } from './write-response.ts'

/** Anything with Hono's `fetch` signature: a Hono app, or a user's own. */
export interface FetchApp {
  fetch(request: Request, env: GatewayBindings & Record<string, unknown>): Response | Promise<Response>
}

/** What the upgrade path shares with the server that owns it. */
export interface GatewayState {
  /**
   * The routes: read once per request, when its chain starts, so that a
   * routes reload (`gateway.reloadRoutes()`) swaps them here, at this one
   * place, for every request after it; established connections hold no
   * reference to it.
   */
  app: FetchApp
  readonly settings: ServeSettings
  readonly logger: Logger
  /** Open pipes, for the connection cap and for shutdown. */
  readonly pipes: Set<Pipe<PipeEndpoint>>
  /** Accounts for a socket until it closes (leak checks, shutdown). */
  readonly track: (socket: Socket) => void
  /** Handshakes between the upgrade event and their answer; they count against the cap. */
  handshaking: number
  /**
   * Set when a drain begins (`gateway.close({ drain: true })`, SIGTERM):
   * new handshakes and plain requests get 503 `ERR_GATEWAY_DRAINING`, and a
   * handshake in flight whose origin answers 101 gets it too (no pipe starts).
   */
  draining: boolean
  /** Each client's and each route's share of the cap (see `src/fair-share.ts`). */
  readonly fairShare: FairShare
  /** The gateway's Prometheus metrics, when `serve()` collects them (`metrics`, `admin`). */
  metrics?: GatewayMetrics | undefined
}

export type { RequestScope } from './gateway-runtime.ts'

/** Header that marks the response `UpgradeSlot.accept()` produced; never leaves the gateway. */
const UPGRADE_MARKER = 'x-wsgate-upgrade'

/** A fresh scope for one request. */
export function newScope(): RequestScope {
  return { requestId: randomUUID(), note: {}, closeListeners: [] }
}

/** Runs a scope's connection-close callbacks once; a failing callback is logged and does not stop the others. */
export function endScope(scope: RequestScope, logger: Logger): void {
  runCloseListeners(scope.closeListeners, scope.requestId, logger)
}

function runCloseListeners(listeners: (() => void)[], requestId: string, logger: Logger): void {
  for (const listener of listeners.splice(0)) {
    try {
      listener()
    } catch (error) {
      logger.error({ err: error, reqId: requestId }, 'connection close callback failed')
    }
  }
}

/** 'end' listener of a client socket during its handshake (`this` is the socket): it has left. */
function destroyOnEnd(this: PipeEndpoint): void {
  this.destroy()
}

export type { RequestFacts } from './gateway-runtime.ts'

/**
 * The transport-specific half of a handshake: how its client is answered.
 * {@link runHandshake} runs the rest (head decision, admission, the
 * chain, the pipe, the log line) the same for every transport; HTTP/1.1
 * answers on the upgraded socket ({@link HTTP1_UPGRADE}), HTTP/2 on the
 * extended CONNECT stream (`h2/transport.ts`).
 */
export interface HandshakeTransport<Client extends PipeEndpoint> {
  /** Written into the handshake's note (so its handshake and connection lines carry it): `'2'` for HTTP/2; HTTP/1.1 adds nothing. */
  readonly http: '2' | undefined
  /** The success answer (101 on HTTP/1.1, 200 on HTTP/2) with the origin's headers as the chain left them, before the pipe starts. */
  accept(client: Client, headers: Headers, requestId: string): void
  /** Any other answer (a refusal, an origin's non-101), after which the client is ended. */
  refuse(client: Client, response: Response, halfCloseTimeout: number): Promise<void>
  /**
   * What goes to the client instead of a refused handshake's `response`, when the transport cannot carry it as it
   * is (HTTP/2: a 2xx would tell the client its WebSocket is open); the log line and metrics say what went.
   */
  refusal?(response: Response): Response
}

/** HTTP/1.1: the 101 and the refusals are written raw onto the upgraded socket, which closes after a refusal. */
export const HTTP1_UPGRADE: HandshakeTransport<Socket> = {
  http: undefined,
  accept(socket, headers, requestId) {
    let head101 = 'HTTP/1.1 101 Switching Protocols\r\n'
    // An origin's own x-request-id is relayed as it came (as on HTTP/2 and plain requests), not beside a second one.
    let identified = false
    for (const [name, value] of headers) {
      if (name === UPGRADE_MARKER) continue
      if (name === 'x-request-id') identified = true
      head101 += `${name}: ${value}\r\n`
    }
    socket.write(identified ? `${head101}\r\n` : `${head101}x-request-id: ${requestId}\r\n\r\n`, 'latin1')
  },
  refuse: writeResponse,
}

/** Accepted origin upgrade waiting for the chain to finish. */
type Accepted = { answer: Extract<OriginAnswer, { upgraded: true }>; settings: PipeSettings }

/**
 * Handles one HTTP/1.1 upgrade request (Node's `upgrade` event, or a
 * connection's first head the gateway read itself, listener.ts
 * `readFirstHead()`): runs the app's chain on the raw socket, then either
 * writes the 101 and starts the pipe, or writes the chain's answer and
 * closes. Logs one line for the decision.
 */
export function handleUpgrade(state: GatewayState, incoming: NodeRequestHead, socket: Socket, head: Buffer): Promise<void> {
  // One parse of the head decides, before any admission or route, what is refused and the URL everyone sees.
  let parsed: RequestHead | GatewayError
  try {
    parsed = readRequestHead(incoming, true, state.settings)
  } catch (error) {
    parsed = asGatewayError(error)
  }
  return runHandshake(state, HTTP1_UPGRADE, socket, incoming, incoming.method ?? 'GET', incoming.url ?? '', parsed, head)
}

/**
 * One handshake on any transport: `parsed` is the edge's head decision
 * (the head, or the refusal), `method` and `rawTarget` as the client sent
 * them, `head` the bytes the client sent after its head. Admission, the
 * app's chain and the decision's log line, then either the transport's
 * success answer and the pipe, or its other answer.
 */
export async function runHandshake<Client extends PipeEndpoint>(
  state: GatewayState,
  transport: HandshakeTransport<Client>,
  socket: Client,
  incoming: RequestFacts,
  method: string,
  rawTarget: string,
  parsed: RequestHead | GatewayError,
  head: Buffer,
): Promise<void> {
  const { settings } = state
  const started = performance.now()
  const scope = newScope()
  const { requestId, note } = scope
  if (transport.http) note.http = transport.http
  // Until the pipe takes over, a socket error only means the client left; 'close' handles that.
  // A module-level function: a closure made here would keep this handshake's whole scope alive for the connection's life.
  socket.on('error', ignoreHandshakeError)

  let accepted: Accepted | undefined
  const abort = new AbortController()
  const runtime = runtimeFor(state, incoming, scope, { raw: rawTarget, normalised: parsed instanceof GatewayError ? undefined : parsed.target }, {
    upgrade: {
      accept(answer, pipeSettings) {
        accepted = { answer, settings: pipeSettings }
        // The origin's headers are this handshake's own; `set`, so that an origin's own marker line cannot pass for ours.
        const { headers } = answer
        headers.set(UPGRADE_MARKER, requestId)
        // The gateway's own header: an origin's would log and count an accepted handshake as refused.
        headers.delete(ERROR_HEADER)
        // @hono/node-server's Response (the global one once its listener exists) keeps a Headers it is given as
        // it is: the origin's lines (raw.ts) are read and relayed from where they came, never copied.
        return new Response(null, { status: 200, headers })
      },
    },
    signal: abort.signal,
    // Per route (websocket() has noted it by now): a dead origin holds at most its route's share of the cap.
    // Per attempt: a pool's failover holds one slot at a time, so the cap still counts handshakes waiting.
    connectOrigin: (request) =>
      state.fairShare.toOrigin(note.route ?? request.url.host, () => connectOrigin(request, { signal: abort.signal, onSocket: state.track, note })),
    // A non-WebSocket upgrade (e.g. h2c) on a proxy() route is answered as plain HTTP.
    fetchOrigin: (request, timeout, tls) => fetchOrigin(request, timeout, { tls, onSocket: state.track, note }),
  })

  // The decision's log line names the client even if it has left by then: read its address while it is here.
  if (state.logger.isLevelEnabled('info')) void runtime.clientAddress

  let response: Response
  // A slot of the gateway's cap and the client's slots of its fair share. The in-memory store answers
  // at once (nothing awaited here); a shared one (Redis) later, and then the client may have left.
  let admission = parsed instanceof GatewayError || state.draining ? undefined : state.fairShare.admit(runtime)
  if (isPending(admission)) admission = await admission
  // The connection slots are held until the connection ends, or until this answer if it never becomes one.
  if (admission && !(admission instanceof GatewayError)) runtime.onConnectionClose(admission.releaseConnection)
  let admitted: ClientSlot | GatewayError | undefined
  if (parsed instanceof GatewayError) {
    response = parsed.getResponse()
  } else if (state.draining) {
    response = drainingError(settings.retryAfter).getResponse()
  } else if ((admitted = admission) instanceof GatewayError) {
    response = admitted.getResponse()
  } else {
    state.handshaking++
    const clientGone = (): void => abort.abort()
    // A client's FIN arrives as 'end' only (the socket is half-open), so 'close'
    // would not fire until the origin answered or timed out. A WebSocket client
    // that half-closes before its 101 can never send a frame: treat it as gone.
    // on/off rather than once: once() wraps each listener in one more closure per handshake.
    socket.on('close', clientGone)
    socket.on('end', destroyOnEnd)
    try {
      response = await state.app.fetch(toRequest(method, parsed), { wsgate: runtime })
    } catch (error) {
      response = toErrorResponse(error, state.logger)
    } finally {
      state.handshaking--
      admitted?.releaseHandshake()
      socket.off('close', clientGone)
      socket.off('end', destroyOnEnd)
    }
  }

  // A handshake in flight when the drain began: its origin said 101, but no new pipe may start now.
  if (accepted && state.draining) response = drainingError(settings.retryAfter).getResponse()
  if (accepted && response.headers.get(UPGRADE_MARKER) === requestId && !socket.destroyed) {
    startPipe(state, transport, socket, head, accepted, response.headers, runtime, scope)
    logHandshake(state, runtime, note, 101, null, started)
    return
  }
  if (accepted) {
    // The chain replaced the upgrade with another answer, or the client left meanwhile.
    accepted.answer.tunnel.close()
    accepted.settings.onClose?.()
  }
  if (transport.refusal) response = transport.refusal(response)
  endScope(scope, state.logger)
  logHandshake(state, runtime, note, socket.destroyed ? 499 : response.status, response.headers.get(ERROR_HEADER), started)
  await transport.refuse(socket, withRequestId(response, requestId), settings.halfCloseTimeout)
}

/** Writes the client's 101 (the origin's headers as the chain left them) and joins the two sockets. */
function startPipe<Client extends PipeEndpoint>(
  state: GatewayState,
  transport: HandshakeTransport<Client>,
  socket: Client,
  head: Buffer,
  accepted: Accepted,
  headers: Headers,
  runtime: GatewayRuntime,
  scope: RequestScope,
): void {
  const { settings } = state
  const tunnel = accepted.answer.tunnel as NodeOriginTunnel
  const limits = accepted.settings
  // What the connection's end needs, taken out of the handshake's objects: holding those for the
  // connection's life would hold the runtime's closures, the request, the origin's answer, the abort
  // controller and every middleware note (a WAF verdict, JWT claims) per open connection.
  const { requestId } = runtime
  const { logger } = state
  // Read now, while the socket is connected; only a line at info needs it (getpeername is a syscall).
  const clientAddress = logger.isLevelEnabled('info') ? runtime.clientAddress : undefined
  const { route, origin, http } = scope.note
  // A copy of exactly its length: the scope's array grew by push and keeps spare slots for the connection's life.
  const closeListeners = scope.closeListeners.slice()
  const { onClose, expiresAt, closeOnExpiry, closeFrames } = limits
  transport.accept(socket, headers, requestId)
  const { metrics } = state
  // After the 101, before the pipe relays anything: the listing counts bytes from the same point as the pipe.
  const record = metrics?.connectionStarting({ id: requestId, note: scope.note, client: runtime.clientAddress, clientSocket: socket, originSocket: tunnel.socket })
  const pipe = new Pipe(socket, tunnel, head, {
    idleTimeout: limits.idleTimeout ?? settings.idleTimeout,
    lifetime: jittered(limits.maxLifetime ?? settings.maxLifetime, limits.lifetimeJitter ?? settings.lifetimeJitter),
    halfCloseTimeout: settings.halfCloseTimeout,
    closeGrace: settings.closeGrace,
    closeFrames: closeFrames ?? true,
    // Only jwtAuth({ closeOnTokenExpiry }) asks for a close at the token's exp; otherwise it is only logged.
    expiresAt: closeOnExpiry ? expiresAt : undefined,
    onEnd: (summary) => {
      state.pipes.delete(pipe)
      if (record) metrics!.connectionEnded(record, summary)
      onClose?.()
      runCloseListeners(closeListeners, requestId, logger)
      if (!logger.isLevelEnabled('info')) return
      logger.info(
        {
          reqId: requestId,
          route,
          origin,
          // The level may have been raised since the 101; then the socket's cached address, if any.
          client: clientAddress ?? socket.remoteAddress,
          http,
          ...summary,
          // pino leaves out undefined fields: no second object just to omit one.
          expiresAt: expiresAt !== undefined ? new Date(expiresAt).toISOString() : undefined,
        },
        'connection closed',
      )
    },
  })
  state.pipes.add(pipe)
  if (record) metrics!.connectionOpened(record, pipe)
}

/** The runtime a request's chain sees in `c.env.wsgate`. */
export function runtimeFor(
  state: GatewayState,
  incoming: RequestFacts,
  scope: RequestScope,
  targets: RequestTargets,
  paths: RuntimePaths,
): GatewayRuntime {
  return new NodeGatewayRuntime(incoming, scope, targets, state.settings.handshakeTimeout, paths, state.fairShare.store)
}

/**
 * The runtime of a plain request (HTTP/1.1 or HTTP/2, not an upgrade): no
 * upgrade slot, and `connectOrigin` refuses with 400 `ERR_HANDSHAKE_UPGRADE`;
 * `http()` reaches its origins through `fetchOrigin`.
 */
export function plainRuntime(state: GatewayState, incoming: RequestFacts, scope: RequestScope, targets: RequestTargets): GatewayRuntime {
  return runtimeFor(state, incoming, scope, targets, {
    upgrade: undefined,
    connectOrigin: notAnUpgrade,
    fetchOrigin: (request, timeout, tls) => fetchOrigin(request, timeout, { tls, onSocket: state.track, note: scope.note }),
  })
}

function notAnUpgrade(): Promise<never> {
  return Promise.reject(new GatewayError(400, 'ERR_HANDSHAKE_UPGRADE', 'request did not arrive as an HTTP upgrade'))
}

/** The one log line per handshake decision, and its count in the gateway's metrics when they are on. */
export function logHandshake(
  { logger, metrics }: Pick<GatewayState, 'logger' | 'metrics'>,
  runtime: GatewayRuntime,
  note: HandshakeNote,
  status: number,
  code: string | null,
  started: number,
): void {
  metrics?.handshake(runtime.target, note, status, code, started)
  // Below info (LOG_LEVEL=warn) the line is dropped: do not build it.
  if (!logger.isLevelEnabled('info')) return
  // The path tells which route a middleware refused before websocket() could note it (see requestLine()).
  logger.info(requestLine(runtime, note, status, code, started), status === 101 ? 'handshake accepted' : 'handshake rejected')
}

