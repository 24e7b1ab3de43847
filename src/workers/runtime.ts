import type { LimitStore } from '../limit-store.ts'
import type { GatewayRuntime, HandshakeNote, OriginAnswer, OriginRequest, PipeSettings, UpgradeSlot } from '../runtime.ts'
import { connectWorkersOrigin, relayedOriginHeaders, type WorkersOriginTunnel } from './origin.ts'

/** What the Workers host knows of one request, besides the `Request` itself. */
export interface WorkersRequestFacts {
  readonly requestId: string
  /** The client's address: `CF-Connecting-IP`, which Cloudflare sets on every request (a client cannot). */
  readonly clientAddress: string
  /** `1.1`, `2`, `3`, from `request.cf.httpProtocol`. */
  readonly httpVersion: string
  /** The target as the Worker received it (Cloudflare has parsed it once already). */
  readonly rawTarget: string
  /** The normalised target the router, the WAF and the origin see; undefined when the head parse refused it. */
  readonly target: string | undefined
  /** The header list; Workers give no arrival order or repeated lines, so one entry per header name. */
  readonly rawHeaders: readonly [string, string][]
  readonly handshakeTimeout: number
  readonly limitStore: LimitStore
  /** Whether the platform can switch the request to a WebSocket (`Upgrade: websocket` alone): then the chain gets an upgrade slot. */
  readonly upgrade: boolean
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal
}

/**
 * The Workers host's {@link GatewayRuntime} for one request. Upgrades go to
 * the origin through `fetch()`, and an accepted one becomes a `101`
 * response holding the origin's socket: Cloudflare pipes the bytes, so the
 * pipe's timers, close frames and byte counts are the platform's. There is
 * no `node:crypto` (jwtAuth verifies with WebCrypto through jose) and no
 * `fetchOrigin` (`http()` uses the global `fetch`).
 */
export class WorkersGatewayRuntime implements GatewayRuntime {
  readonly clientAddress: string
  readonly httpVersion: string
  readonly rawTarget: string
  readonly target: string | undefined
  readonly rawHeaders: readonly [string, string][]
  readonly requestId: string
  readonly handshakeTimeout: number
  readonly upgrade: UpgradeSlot | undefined
  readonly signal: AbortSignal
  readonly limitStore: LimitStore
  /** Route, origin and middleware facts for the request's log line. */
  readonly facts: HandshakeNote = {}
  readonly #closeListeners: (() => void)[] = []
  /** The settings of the upgrade the chain accepted, if it did. */
  #accepted: PipeSettings | undefined

  constructor(request: WorkersRequestFacts) {
    this.clientAddress = request.clientAddress
    this.httpVersion = request.httpVersion
    this.rawTarget = request.rawTarget
    this.target = request.target
    this.rawHeaders = request.rawHeaders
    this.requestId = request.requestId
    this.handshakeTimeout = request.handshakeTimeout
    this.limitStore = request.limitStore
    this.signal = request.signal
    this.upgrade = request.upgrade ? { accept: (answer, settings) => ((this.#accepted = settings), upgradeResponse(answer)) } : undefined
  }

  readonly note = (facts: HandshakeNote): void => void Object.assign(this.facts, facts)

  /**
   * On Workers the end of a connection is not seen (Cloudflare pipes it):
   * listeners run when the request's answer has been decided, so what they
   * release (a route's connection slot) counts handshakes, not connections.
   */
  readonly onConnectionClose = (listener: () => void): void => void this.#closeListeners.push(listener)

  readonly connectOrigin = (request: OriginRequest): Promise<OriginAnswer> => connectWorkersOrigin(request, this.signal, this.note)

  /** Runs the accepted upgrade's and the close listeners once; the host calls it when the answer is decided. */
  end(): void {
    const accepted = this.#accepted
    this.#accepted = undefined
    for (const listener of [...(accepted?.onClose ? [accepted.onClose] : []), ...this.#closeListeners.splice(0)]) {
      try {
        listener()
      } catch {
        // A listener's failure must not keep the others from releasing.
      }
    }
  }
}

/** The client's 101: the origin's headers (which the chain may still change) and the origin's socket. */
function upgradeResponse(answer: Extract<OriginAnswer, { upgraded: true }>): Response {
  const tunnel = answer.tunnel as unknown as WorkersOriginTunnel
  // The platform writes Upgrade, Connection and Sec-WebSocket-Accept itself and negotiates the client's extensions;
  // the rest (the subprotocol, the origin's own headers) is relayed, as on Node less what is not the client's.
  return new Response(null, { status: 101, headers: relayedOriginHeaders(answer.headers, true), webSocket: tunnel.webSocket } as ResponseInit)
}
