/**
 * A fair share of the gateway for every client, without any middleware: one
 * client address may hold only part of the gateway's connection cap (open
 * connections plus handshakes in flight) and only so many handshakes at
 * once, and one route's handshakes waiting for their origin only part of it,
 * so neither a single client nor a dead origin can lock everyone else out.
 * The caps come from `serve()`'s options; the Node host admits every upgrade
 * through one {@link FairShare}. Portable: no `node:` import.
 */
import ipaddr from 'ipaddr.js'
import { parseAddress } from './cidr.ts'
import { GatewayError } from './errors.ts'
import type { GatewayRuntime } from './runtime.ts'

/** The caps a {@link FairShare} enforces; `Infinity` turns one off. `serve()`'s settings have these fields. */
export interface FairShareLimits {
  /** Connections, open plus handshaking, per client address; beyond it 429 `ERR_TOO_MANY_CONNECTIONS`. */
  readonly maxConnectionsPerClient: number
  /** Handshakes in flight per client address; beyond it 429 `ERR_TOO_MANY_HANDSHAKES`. */
  readonly maxHandshakesPerClient: number
  /** Handshakes of one route waiting for its origin's answer; beyond it 503 `ERR_ROUTE_HANDSHAKE_LIMIT`. */
  readonly maxHandshakesPerRoute: number
  /** Bits of an IPv6 address that name one client (64: a /64 is one client). */
  readonly ipv6Prefix: number
  /** `Retry-After` seconds with every refusal. */
  readonly retryAfter: number
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

/** What one client address holds now. */
interface ClientCount {
  readonly key: string
  /** Open connections plus handshakes in flight. */
  connections: number
  handshakes: number
}

/**
 * The slots one admitted handshake holds for its client: a handshake slot,
 * given back when the handshake is decided, and a connection slot, given
 * back when the connection ends (or when the handshake fails). Each is given
 * back once, however often its release is called.
 */
export class ClientSlot {
  readonly #clients: Map<string, ClientCount>
  readonly #count: ClientCount
  #handshake = true
  #connection = true

  constructor(clients: Map<string, ClientCount>, count: ClientCount) {
    this.#clients = clients
    this.#count = count
    count.connections++
    count.handshakes++
  }

  /** Gives back the handshake slot: the handshake has its answer (a pipe, or a refusal). */
  releaseHandshake(): void {
    if (!this.#handshake) return
    this.#handshake = false
    this.#count.handshakes--
  }

  /**
   * Gives back the connection slot (and the handshake slot, if still held).
   * An arrow field: it is handed to `onConnectionClose` as it is.
   */
  readonly releaseConnection = (): void => {
    if (!this.#connection) return
    this.#connection = false
    this.releaseHandshake()
    // Every handshake holds a connection slot too, so none is left when connections reach 0.
    if (--this.#count.connections === 0) this.#clients.delete(this.#count.key)
  }
}

/**
 * Counts what each client address and each route hold of the gateway, and
 * refuses what is over its share. One per gateway; counts are per process.
 *
 * @example
 * const share = new FairShare(settings)
 * const slot = share.admit(runtime)
 * if (slot instanceof GatewayError) return slot.getResponse()
 * if (slot) runtime.onConnectionClose(slot.releaseConnection)
 */
export class FairShare {
  readonly #limits: FairShareLimits
  readonly #retryAfter: string
  readonly #perClient: boolean
  readonly #clients = new Map<string, ClientCount>()
  readonly #routes = new Map<string, number>()

  constructor(limits: FairShareLimits) {
    this.#limits = limits
    this.#retryAfter = String(limits.retryAfter)
    this.#perClient = limits.maxConnectionsPerClient !== Infinity || limits.maxHandshakesPerClient !== Infinity
  }

  /** Client addresses (networks) holding a slot now; 0 once every connection and handshake has ended. */
  get clients(): number {
    return this.#clients.size
  }

  /** Routes with handshakes waiting for their origin now; 0 when none is. */
  get routes(): number {
    return this.#routes.size
  }

  /**
   * Takes a connection slot and a handshake slot for the runtime's client,
   * or returns the 429 that refuses it (noted for the log line as
   * `fairShare`). Undefined when both per-client caps are off: the client's
   * address is then not even read.
   */
  admit(runtime: Pick<GatewayRuntime, 'clientAddress' | 'note'>): ClientSlot | GatewayError | undefined {
    if (!this.#perClient) return undefined
    const { maxConnectionsPerClient, maxHandshakesPerClient, ipv6Prefix } = this.#limits
    const key = clientNetwork(runtime.clientAddress, ipv6Prefix)
    let count = this.#clients.get(key)
    if (count && count.connections >= maxConnectionsPerClient) {
      runtime.note({ fairShare: { limited: 'connections', max: maxConnectionsPerClient } })
      return new GatewayError(429, 'ERR_TOO_MANY_CONNECTIONS', `too many open connections from this address (at most ${maxConnectionsPerClient})`, {
        headers: { 'retry-after': this.#retryAfter },
      })
    }
    if (count && count.handshakes >= maxHandshakesPerClient) {
      runtime.note({ fairShare: { limited: 'handshakes', max: maxHandshakesPerClient } })
      return new GatewayError(429, 'ERR_TOO_MANY_HANDSHAKES', `too many handshakes in progress from this address (at most ${maxHandshakesPerClient})`, {
        headers: { 'retry-after': this.#retryAfter },
      })
    }
    if (!count) {
      count = { key, connections: 0, handshakes: 0 }
      this.#clients.set(key, count)
    }
    return new ClientSlot(this.#clients, count)
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
