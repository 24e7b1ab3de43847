/**
 * A fair share of the gateway for every client, without any middleware: the
 * gateway's connection cap, one client address holding only part of it
 * (open connections plus handshakes in flight) and only so many handshakes
 * at once, and one route's handshakes waiting for their origin only part of
 * it, so neither a single client nor a dead origin can lock everyone else
 * out; and one client address holding only so many plain HTTP requests
 * (not upgrades) at once. The caps come from `serve()`'s options; the Node
 * host admits every upgrade, and every plain request on HTTP/1.1 and
 * HTTP/2, through one {@link FairShare}.
 *
 * The connection caps (the gateway's and each client's) count in the
 * gateway's {@link LimitStore}: in memory by default, answered synchronously
 * (nothing awaited on the handshake path), or shared by several processes
 * (Redis). Handshakes in flight, per client and per route, and plain
 * requests in flight per client guard this process's own sockets and
 * timers, so they are counted here, in memory.
 * Portable: no `node:` import.
 */
import ipaddr from 'ipaddr.js'
import { parseAddress } from './cidr.ts'
import { GatewayError } from './errors.ts'
import { isPending, MemoryStore, releaseQuietly, type LimitStore, type MaybePromise } from './limit-store.ts'
import type { GatewayRuntime } from './runtime.ts'

/** The caps a {@link FairShare} enforces; `Infinity` turns one off. `serve()`'s settings have these fields. */
export interface FairShareLimits {
  /**
   * Connections of the whole gateway, open plus handshaking, counted in the
   * store (so across every process sharing it); beyond it 503
   * `ERR_CONNECTION_LIMIT`. @default no gateway cap (absent)
   */
  readonly maxConnections?: number
  /** Connections, open plus handshaking, per client address, counted in the store; beyond it 429 `ERR_TOO_MANY_CONNECTIONS`. */
  readonly maxConnectionsPerClient: number
  /** Handshakes in flight per client address in this process; beyond it 429 `ERR_TOO_MANY_HANDSHAKES`. */
  readonly maxHandshakesPerClient: number
  /** Handshakes of one route waiting for its origin's answer in this process; beyond it 503 `ERR_ROUTE_HANDSHAKE_LIMIT`. */
  readonly maxHandshakesPerRoute: number
  /**
   * Plain requests (not upgrades) in flight per client address in this
   * process, from the accepted head until the response has been sent or the
   * client left; beyond it 429 `ERR_CLIENT_REQUEST_LIMIT`.
   * @default no cap (absent)
   */
  readonly maxRequestsPerClient?: number
  /** Bits of an IPv6 address that name one client (64: a /64 is one client). */
  readonly ipv6Prefix: number
  /** `Retry-After` seconds with every refusal. */
  readonly retryAfter: number
}

/** The store key of the gateway's connection count. */
export const GATEWAY_CONNECTIONS_KEY = 'gateway:connections'

/**
 * The store key of one client's (address or IPv6 network's) connection count.
 *
 * @example
 * clientConnectionsKey(clientNetwork('2001:db8::1', 64)) // 'client:2001:db8::/64:connections'
 */
export function clientConnectionsKey(network: string): string {
  return `client:${network}:connections`
}

/**
 * The client an address stands for, as the per-client caps count it: IPv4 in
 * dotted decimal (also when it came IPv4-mapped, `::ffff:10.0.0.1`, from a
 * dual-stack socket; RFC 4291 §2.5.5.2), IPv6 as its network of `ipv6Prefix`
 * bits (`2001:db8:1:2::/64`), since one host usually holds a whole /64 and
 * could otherwise take a fresh address per connection. Anything else (the
 * empty address of a socket already gone) stays as it is.
 *
 * @example
 * clientNetwork('::ffff:127.0.0.2', 64) // '127.0.0.2'
 * clientNetwork('2001:db8:1:2:a::1', 64) // '2001:db8:1:2::/64'
 */
export function clientNetwork(address: string, ipv6Prefix: number): string {
  // What an IPv4 socket reports is already dotted decimal: no parse on the common path.
  if (!address.includes(':')) return address
  // What a dual-stack socket reports for an IPv4 client: no full IPv6 parse either.
  if (address.startsWith('::ffff:') && ipaddr.IPv4.isValidFourPartDecimal(address.slice(7))) return address.slice(7)
  const parsed = parseAddress(address)
  if (!parsed) return address
  if (parsed.kind() === 'ipv4') return parsed.toString()
  const v6 = parsed as ipaddr.IPv6
  if (ipv6Prefix >= 128) return v6.toRFC5952String()
  const parts = v6.parts.map((part, index) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - index * 16))
    return bits === 16 ? part : part & ((0xffff << (16 - bits)) & 0xffff)
  })
  return `${new ipaddr.IPv6(parts).toRFC5952String()}/${ipv6Prefix}`
}

/** What one client address holds in this process now. */
interface ClientCount {
  readonly key: string
  /** Open connections plus handshakes in flight. */
  connections: number
  handshakes: number
}

/** What a {@link ClientSlot} gives back to: the store, the keys it holds there, this process's counts. */
interface SlotOwner {
  readonly store: LimitStore
  readonly clients: Map<string, ClientCount>
}

/**
 * The slots one admitted handshake holds: a slot of the gateway's cap and
 * of its client's in the store, given back when the connection ends (or when
 * the handshake fails), and a handshake slot, given back when the handshake
 * is decided. Each is given back once, however often its release is called.
 */
export class ClientSlot {
  readonly #owner: SlotOwner
  readonly #count: ClientCount | undefined
  /** Whether a slot of the gateway's cap is held. */
  readonly #gateway: boolean
  /** The store key of the client's slot, when one is held. */
  readonly #client: string | undefined
  #handshake = true
  #connection = true

  constructor(owner: SlotOwner, count: ClientCount | undefined, gateway: boolean, client: string | undefined) {
    this.#owner = owner
    this.#count = count
    this.#gateway = gateway
    this.#client = client
    if (count) {
      count.connections++
      count.handshakes++
    }
  }

  /** Gives back the handshake slot: the handshake has its answer (a pipe, or a refusal). */
  releaseHandshake(): void {
    if (!this.#handshake) return
    this.#handshake = false
    if (this.#count) this.#count.handshakes--
  }

  /**
   * Gives back the connection slots (and the handshake slot, if still held).
   * An arrow field: it is handed to `onConnectionClose` as it is.
   */
  readonly releaseConnection = (): void => {
    if (!this.#connection) return
    this.#connection = false
    this.releaseHandshake()
    const { store, clients } = this.#owner
    if (this.#gateway) releaseQuietly(store, GATEWAY_CONNECTIONS_KEY)
    if (this.#client !== undefined) releaseQuietly(store, this.#client)
    const count = this.#count
    // Every handshake holds a connection slot too, so none is left when connections reach 0.
    if (count && --count.connections === 0) clients.delete(count.key)
  }
}

/** What an admission decides: the slots taken, a refusal, or nothing (every cap off). */
type Admission = ClientSlot | GatewayError | undefined

/**
 * Counts what the gateway, each client address and each route hold, and
 * refuses what is over its share. One per gateway; the connection caps count
 * in `store` (shared by every process using it), handshakes in this process.
 *
 * @example
 * const share = new FairShare(settings, settings.store)
 * let slot = share.admit(runtime)
 * if (slot instanceof Promise) slot = await slot // only with a remote store
 * if (slot instanceof GatewayError) return slot.getResponse()
 * if (slot) runtime.onConnectionClose(slot.releaseConnection)
 */
export class FairShare {
  readonly #limits: FairShareLimits
  readonly #retryAfter: string
  readonly #perClient: boolean
  readonly #gatewayCap: number
  readonly #owner: SlotOwner
  readonly #clients = new Map<string, ClientCount>()
  readonly #routes = new Map<string, number>()
  readonly #requestCap: number
  /** Plain requests in flight per client network; a key is deleted when its count reaches 0. */
  readonly #requests = new Map<string, number>()
  /** The client network each admitted request's owner (its response or stream) holds a slot of. */
  readonly #requestSlots = new WeakMap<object, string>()
  #requestsInFlight = 0

  /**
   * Gives back the request slot its owner (`this`: the response or stream
   * handed to {@link FairShare.admitRequest}) holds, once: later calls, and
   * calls for an owner that holds none, do nothing. One function per
   * gateway, to pass as a `close` listener as it is.
   *
   * @example
   * if (share.admitRequest(outgoing, address) === true) outgoing.once('close', share.releaseRequest)
   */
  readonly releaseRequest: (this: object) => void

  /** @param store where the connection caps count @default a new `MemoryStore` (this process only) */
  constructor(limits: FairShareLimits, store: LimitStore = new MemoryStore()) {
    this.#limits = limits
    this.#requestCap = limits.maxRequestsPerClient ?? Infinity
    const slots = this.#requestSlots
    const requests = this.#requests
    const share = this
    this.releaseRequest = function releaseRequest(this: object): void {
      const key = slots.get(this)
      if (key === undefined) return
      slots.delete(this)
      share.#requestsInFlight--
      const left = requests.get(key)! - 1
      if (left === 0) requests.delete(key)
      else requests.set(key, left)
    }
    this.#retryAfter = String(limits.retryAfter)
    this.#perClient = limits.maxConnectionsPerClient !== Infinity || limits.maxHandshakesPerClient !== Infinity
    this.#gatewayCap = limits.maxConnections ?? Infinity
    this.#owner = { store, clients: this.#clients }
  }

  /** Where the connection caps count (the gateway's limit store). */
  get store(): LimitStore {
    return this.#owner.store
  }

  /** Client addresses (networks) holding a slot in this process now; 0 once every connection and handshake has ended. */
  get clients(): number {
    return this.#clients.size
  }

  /** Routes with handshakes waiting for their origin now; 0 when none is. */
  get routes(): number {
    return this.#routes.size
  }

  /** Plain requests holding a slot of their client's `maxRequestsPerClient` now; 0 once every one has ended (or with the cap off). */
  get requests(): number {
    return this.#requestsInFlight
  }

  /** Client addresses (networks) with plain requests holding a slot now; 0 once every one has ended. */
  get requestClients(): number {
    return this.#requests.size
  }

  /**
   * Takes a slot of `maxRequestsPerClient` for a plain request from
   * `address` (the client socket's), held by `owner` (its response, or its
   * HTTP/2 stream) until {@link FairShare.releaseRequest} is called with it
   * as `this`. True when a slot was taken (the caller must see it given
   * back), false when the cap is off (nothing to give back; the address is
   * not even read), or the refusal: 429 `ERR_CLIENT_REQUEST_LIMIT` with
   * `Retry-After`, when the client holds every slot. Synchronous, in memory.
   */
  admitRequest(owner: object, address: string | undefined): GatewayError | boolean {
    const max = this.#requestCap
    if (max === Infinity) return false
    const key = clientNetwork(address ?? '', this.#limits.ipv6Prefix)
    const held = this.#requests.get(key) ?? 0
    if (held >= max) {
      return new GatewayError(429, 'ERR_CLIENT_REQUEST_LIMIT', `too many requests in progress from this address (at most ${max})`, {
        headers: { 'retry-after': this.#retryAfter },
      })
    }
    this.#requests.set(key, held + 1)
    this.#requestSlots.set(owner, key)
    this.#requestsInFlight++
    return true
  }

  /**
   * Takes a slot of the gateway's cap, then a connection slot and a
   * handshake slot for the runtime's client, or returns what refuses it: 503
   * `ERR_CONNECTION_LIMIT` (the gateway is full), 429
   * `ERR_TOO_MANY_CONNECTIONS` / `ERR_TOO_MANY_HANDSHAKES` (noted for the log
   * line as `fairShare`), or the store's own refusal when it cannot answer
   * (503 `ERR_LIMIT_STORE_UNAVAILABLE` from a store that fails closed).
   * Undefined when every cap is off: the client's address is then not even
   * read. Synchronous with a store that answers synchronously (the
   * in-memory one); a promise only while a remote store's answer is to come.
   */
  admit(runtime: Pick<GatewayRuntime, 'clientAddress' | 'note'>): MaybePromise<Admission> {
    if (this.#gatewayCap === Infinity) return this.#perClient ? this.#admitClient(runtime, false) : undefined
    let taken: MaybePromise<boolean>
    try {
      taken = this.#owner.store.acquire(GATEWAY_CONNECTIONS_KEY, this.#gatewayCap)
    } catch (error) {
      return this.#storeFailed(error, false, undefined)
    }
    if (isPending(taken)) {
      return taken.then(
        (answer) => this.#afterGateway(runtime, answer),
        (error: unknown) => this.#storeFailed(error, false, undefined),
      )
    }
    return this.#afterGateway(runtime, taken)
  }

  /** The gateway's cap answered: refused, or on to the client's share. */
  #afterGateway(runtime: Pick<GatewayRuntime, 'clientAddress' | 'note'>, taken: boolean): MaybePromise<Admission> {
    if (!taken) {
      return new GatewayError(503, 'ERR_CONNECTION_LIMIT', 'gateway connection limit reached, retry later', {
        headers: { 'retry-after': this.#retryAfter },
      })
    }
    return this.#perClient ? this.#admitClient(runtime, true) : new ClientSlot(this.#owner, undefined, true, undefined)
  }

  /** Takes the client's connection slot in the store (when capped), then its handshake slot here. */
  #admitClient(runtime: Pick<GatewayRuntime, 'clientAddress' | 'note'>, gateway: boolean): MaybePromise<Admission> {
    const { maxConnectionsPerClient, ipv6Prefix } = this.#limits
    const network = clientNetwork(runtime.clientAddress, ipv6Prefix)
    if (maxConnectionsPerClient === Infinity) return this.#afterClient(runtime, network, gateway, undefined, true)
    const key = clientConnectionsKey(network)
    let taken: MaybePromise<boolean>
    try {
      taken = this.#owner.store.acquire(key, maxConnectionsPerClient)
    } catch (error) {
      return this.#storeFailed(error, gateway, undefined)
    }
    if (isPending(taken)) {
      return taken.then(
        (answer) => this.#afterClient(runtime, network, gateway, key, answer),
        (error: unknown) => this.#storeFailed(error, gateway, undefined),
      )
    }
    return this.#afterClient(runtime, network, gateway, key, taken)
  }

  /** The client's share answered: refused (giving back the gateway's slot), or a handshake slot if one is free. */
  #afterClient(runtime: Pick<GatewayRuntime, 'clientAddress' | 'note'>, network: string, gateway: boolean, key: string | undefined, taken: boolean): Admission {
    const { maxConnectionsPerClient, maxHandshakesPerClient } = this.#limits
    if (!taken) {
      this.#giveBack(gateway, undefined)
      runtime.note({ fairShare: { limited: 'connections', max: maxConnectionsPerClient } })
      return new GatewayError(429, 'ERR_TOO_MANY_CONNECTIONS', `too many open connections from this address (at most ${maxConnectionsPerClient})`, {
        headers: { 'retry-after': this.#retryAfter },
      })
    }
    // Read after the store has answered: other handshakes may have come and gone meanwhile.
    let count = this.#clients.get(network)
    if (count && count.handshakes >= maxHandshakesPerClient) {
      this.#giveBack(gateway, key)
      runtime.note({ fairShare: { limited: 'handshakes', max: maxHandshakesPerClient } })
      return new GatewayError(429, 'ERR_TOO_MANY_HANDSHAKES', `too many handshakes in progress from this address (at most ${maxHandshakesPerClient})`, {
        headers: { 'retry-after': this.#retryAfter },
      })
    }
    if (!count) {
      count = { key: network, connections: 0, handshakes: 0 }
      this.#clients.set(network, count)
    }
    return new ClientSlot(this.#owner, count, gateway, key)
  }

  /** The store could not answer (and fails closed): what was taken goes back, the handshake gets the store's refusal. */
  #storeFailed(error: unknown, gateway: boolean, key: string | undefined): GatewayError {
    this.#giveBack(gateway, key)
    if (error instanceof GatewayError) return error
    return new GatewayError(503, 'ERR_LIMIT_STORE_UNAVAILABLE', 'connection limits cannot be checked now, retry later', {
      headers: { 'retry-after': this.#retryAfter },
      cause: error,
    })
  }

  #giveBack(gateway: boolean, key: string | undefined): void {
    if (gateway) releaseQuietly(this.#owner.store, GATEWAY_CONNECTIONS_KEY)
    if (key !== undefined) releaseQuietly(this.#owner.store, key)
  }

  /**
   * Runs `connect` (the round trip to an origin) holding one of `route`'s
   * slots for handshakes waiting on their origin, given back when it
   * settles: answered, failed, timed out or aborted because the client left.
   * Throws a 503 `ERR_ROUTE_HANDSHAKE_LIMIT` without calling `connect` when
   * the route holds them all.
   */
  async toOrigin<T>(route: string, connect: () => Promise<T>): Promise<T> {
    const max = this.#limits.maxHandshakesPerRoute
    if (max === Infinity) return connect()
    const held = this.#routes.get(route) ?? 0
    if (held >= max) {
      throw new GatewayError(503, 'ERR_ROUTE_HANDSHAKE_LIMIT', "too many handshakes waiting for this route's origin, retry later", {
        headers: { 'retry-after': this.#retryAfter },
      })
    }
    this.#routes.set(route, held + 1)
    try {
      return await connect()
    } finally {
      const left = this.#routes.get(route)! - 1
      if (left === 0) this.#routes.delete(route)
      else this.#routes.set(route, left)
    }
  }
}
