import type { NodeCrypto } from '../native-crypto.ts'
import { nodeCrypto } from './native-crypto.ts'
import type { IncomingMessage } from 'node:http'
import type { LimitStore } from '../limit-store.ts'
import type { GatewayRuntime, HandshakeNote, OriginAnswer, OriginRequest, OriginTls, UpgradeSlot } from '../runtime.ts'

/**
 * What the runtime reads of a request: Node's `IncomingMessage` on
 * HTTP/1.1, the same three facts of an HTTP/2 stream otherwise (its
 * translated header lines, `1.1`, its session's socket).
 */
export type RequestFacts = Pick<IncomingMessage, 'httpVersion' | 'rawHeaders'> & { readonly socket: { readonly remoteAddress?: string | undefined } }

/** Per-request state the runtime's callbacks write into. */
export interface RequestScope {
  readonly requestId: string
  /** Route and origin, for the log lines. */
  readonly note: HandshakeNote
  /** `onConnectionClose` callbacks, run once when the connection (or the request) ends. */
  readonly closeListeners: (() => void)[]
}

/** A request's target as sent, and as the head parse normalised it (undefined when the parse refused it). */
export interface RequestTargets {
  raw: string
  normalised: string | undefined
}

/** How one request reaches origins: set per path (upgrade or plain HTTP) by the adapter. */
export interface RuntimePaths {
  upgrade: UpgradeSlot | undefined
  /** Aborted when the client goes away before its answer (the upgrade path). */
  signal?: AbortSignal | undefined
  connectOrigin: (request: OriginRequest) => Promise<OriginAnswer>
  fetchOrigin: (request: Request, timeout: number, tls?: OriginTls) => Promise<Response>
}

/**
 * The Node host's {@link GatewayRuntime} for one request. A class rather
 * than an object literal: its getters live once on the prototype, where a
 * literal would allocate two accessor closures and their pairs per
 * handshake. What a chain may never read (the client's address: a
 * getpeername syscall; the raw header pairs) is built on first use.
 */
export class NodeGatewayRuntime implements GatewayRuntime {
  readonly httpVersion: string
  readonly rawTarget: string
  readonly target: string | undefined
  readonly requestId: string
  readonly handshakeTimeout: number
  readonly upgrade: UpgradeSlot | undefined
  readonly signal: AbortSignal | undefined
  readonly connectOrigin: RuntimePaths['connectOrigin']
  readonly fetchOrigin: RuntimePaths['fetchOrigin']
  readonly limitStore: LimitStore | undefined
  readonly #incoming: RequestFacts
  readonly #scope: RequestScope
  #clientAddress: string | undefined
  #rawHeaders: [string, string][] | undefined

  constructor(incoming: RequestFacts, scope: RequestScope, targets: RequestTargets, handshakeTimeout: number, paths: RuntimePaths, limitStore?: LimitStore) {
    this.#incoming = incoming
    this.#scope = scope
    this.httpVersion = incoming.httpVersion
    this.rawTarget = targets.raw
    this.target = targets.normalised
    this.requestId = scope.requestId
    this.handshakeTimeout = handshakeTimeout
    this.upgrade = paths.upgrade
    this.signal = paths.signal
    this.connectOrigin = paths.connectOrigin
    this.fetchOrigin = paths.fetchOrigin
    this.limitStore = limitStore
  }

  /** `node:crypto` for jwtAuth's synchronous verifier: on the prototype, so no request pays a field for it. */
  get crypto(): NodeCrypto {
    return nodeCrypto
  }

  /** This thread's CPU clock, for waf()'s budget: on the prototype, like `crypto`. */
  get cpuClock(): () => number {
    return threadCpuMs
  }

  get clientAddress(): string {
    return (this.#clientAddress ??= this.#incoming.socket.remoteAddress ?? '')
  }

  get rawHeaders(): [string, string][] {
    if (!this.#rawHeaders) {
      const raw = this.#incoming.rawHeaders
      const pairs: [string, string][] = []
      for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!])
      this.#rawHeaders = pairs
    }
    return this.#rawHeaders
  }

  // Arrow fields, not methods: middleware may pass them around detached from the runtime.
  readonly note = (facts: HandshakeNote): void => void Object.assign(this.#scope.note, facts)

  readonly onConnectionClose = (listener: () => void): void => void this.#scope.closeListeners.push(listener)
}

/** CPU time this thread has used, ms (user and system): one system call. */
function threadCpuMs(): number {
  const { user, system } = process.threadCpuUsage()
  return (user + system) / 1000
}
