import type { Context, MiddlewareHandler } from 'hono'
import ipaddr from 'ipaddr.js'
import type { JWTPayload } from 'jose'
import { parseAddress } from '../src/cidr.ts'
import { DEFAULT_RATE_LIMIT_BURST, DEFAULT_RATE_LIMIT_REFILL_PER_SECOND, DEFAULT_RETRY_AFTER } from '../src/defaults.ts'
import { GatewayError } from '../src/errors.ts'
import { MemoryStore, releaseQuietly, type LimitStore, type RateLimitStore, type TokenBucket } from '../src/limit-store.ts'
import type { GatewayBindings } from '../src/runtime.ts'
import { assertOptionNames } from '../src/options.ts'
import { HTTP_TOKEN } from '../src/headers.ts'
import { hostNeed, withHostNeeds } from '../src/host-needs.ts'

/**
 * The env `rateLimit()` runs in: a wsgate runtime, the claims `jwtAuth()` may
 * have published, and the client address `normalizeHeaders()` may have
 * established behind trusted proxies.
 */
export interface RateLimitEnv {
  Bindings: GatewayBindings
  Variables: { jwtPayload?: JWTPayload; clientAddress?: string }
}

/**
 * Whom a bucket belongs to:
 * - `'ip'`: the client address (IPv4, or the IPv6 network of `ipv6Prefix`
 *   bits): the socket's peer, or behind a trusted proxy the address
 *   `normalizeHeaders({ trustedProxies })` found in `X-Forwarded-For` when it
 *   runs earlier in the chain;
 * - `{ header: 'x-api-key' }`: the value of a request header (hashed before
 *   it reaches the store, as such values are often secrets);
 * - `{ claim: 'sub' }`: a claim of the token `jwtAuth()` verified earlier in
 *   the chain (`c.get('jwtPayload')`), a string or a number;
 * - a function of the context returning the key.
 * When a header, claim or function yields nothing, the client address is
 * the key, so a client cannot escape the limit by leaving a header out. A
 * header's value, though, is the client's to choose: one that sends a new
 * value each time gets a new bucket each time. Key by a header only where
 * something earlier in the chain checks the value, or put an `'ip'`-keyed
 * `rateLimit()` (with a larger `burst`) beside it to bound made-up keys.
 */
export type RateLimitKey =
  | 'ip'
  | { header: string }
  | { claim: string }
  | ((c: Context<RateLimitEnv>) => string | undefined | Promise<string | undefined>)

/** Options of {@link rateLimit}. */
export interface RateLimitOptions {
  /**
   * Handshakes a key may make in a burst: the token bucket's capacity, and
   * what a key that has been quiet long enough has available.
   * @default 20
   */
  burst?: number
  /**
   * Handshakes per second a key earns back after a burst (fractions allowed:
   * `0.5` is one every two seconds). A refused handshake earns nothing.
   * @default 1 (60 a minute)
   */
  refillPerSecond?: number
  /**
   * Whom the handshake rate is counted for; see {@link RateLimitKey}.
   * @default 'ip'
   */
  key?: RateLimitKey
  /**
   * Open connections (and handshakes in flight) one client address may hold
   * on the routes this instance guards; beyond it 429
   * `ERR_TOO_MANY_CONNECTIONS`. A slot is taken when the handshake passes the
   * limiter and given back when the connection ends or the handshake fails.
   * Always per client address as the `'ip'` key counts it (IPv6 per
   * `ipv6Prefix` network), whatever `key` says.
   * @default no cap
   */
  maxConnectionsPerIp?: number
  /**
   * Bits of an IPv6 client address that name a client, for the `'ip'` key and
   * the connection cap: a host usually holds a whole /64, so counting per
   * address would let it pick a fresh one per handshake. 128 counts each address.
   * @default 64
   */
  ipv6Prefix?: number
  /**
   * Where the counters live. Instances sharing a store and a `prefix` share
   * their limits (across routes, or across gateways with a shared store such
   * as `redisStore()`).
   * @default the gateway's store when it is shared (`serve({ store: redisStore(…) })`, `wsgate start --redis`), so every gateway using it shares the buckets; else a new in-memory `MemoryStore` per instance (100,000 keys at most)
   */
  store?: RateLimitStore
  /**
   * Prepended to every store key, to keep routes or applications sharing a
   * store apart.
   * @default 'wsgate:rate-limit'
   */
  prefix?: string
  /** The clock, ms since the epoch (tests move it by hand). @default Date.now */
  now?: () => number
}

/** Option names, to refuse a misspelt one at start rather than ignore it. */
const OPTION_NAMES: readonly string[] = ['burst', 'refillPerSecond', 'key', 'maxConnectionsPerIp', 'ipv6Prefix', 'store', 'prefix', 'now']

/** Slack for floating-point error when rounding a wait up to whole seconds (1.0000000002 s is 1 s). */
const ROUNDING_SLACK = 1e-6

/** IPv6 network size a client is assumed to hold (RFC 6177: end sites get at least a /64). */
const DEFAULT_IPV6_PREFIX = 64

/**
 * Limits how fast each client may open WebSocket connections, and how many
 * it may hold open at once. Each handshake takes a token from the client's
 * bucket (`burst` tokens, refilled at `refillPerSecond`); with none left the
 * handshake gets 429 `ERR_RATE_LIMITED` and a `Retry-After` giving the
 * seconds until a token is back (rounded up). With `maxConnectionsPerIp`,
 * a client address holding that many connections gets 429
 * `ERR_TOO_MANY_CONNECTIONS` (`Retry-After: 5`) until one of them ends.
 *
 * Put it before `websocket()` and after `jwtAuth()` when keying by a claim;
 * put it first to shed floods before any other work, but after
 * `normalizeHeaders({ trustedProxies })` when the gateway sits behind
 * proxies (else every client behind one proxy shares its bucket). The handshake's log
 * line records the key kind and the tokens left (`rateLimit`), never a key's
 * value. Counts live in `store`: in memory by default, so per process.
 * Bad options throw a `TypeError` naming the option when the route is defined.
 *
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all(
 *   '/chat',
 *   rateLimit({ burst: 10, refillPerSecond: 0.5, maxConnectionsPerIp: 20 }),
 *   websocket('ws://127.0.0.1:9001'),
 * )
 * // Per API key, 100 handshakes a minute:
 * app.all('/feed', rateLimit({ key: { header: 'x-api-key' }, burst: 100, refillPerSecond: 100 / 60 }), websocket('ws://127.0.0.1:9002'))
 */
export function rateLimit(options: RateLimitOptions = {}): MiddlewareHandler<RateLimitEnv> {
  assertOptionNames(options, 'rateLimit()', OPTION_NAMES, '{ burst: 20, refillPerSecond: 1 }')
  const burst = options.burst ?? DEFAULT_RATE_LIMIT_BURST
  if (!Number.isInteger(burst) || burst < 1) throw new TypeError(`rateLimit(): burst must be a positive integer (handshakes), got ${String(burst)}`)
  const refillPerSecond = options.refillPerSecond ?? DEFAULT_RATE_LIMIT_REFILL_PER_SECOND
  if (typeof refillPerSecond !== 'number' || !Number.isFinite(refillPerSecond) || refillPerSecond <= 0) {
    throw new TypeError(`rateLimit(): refillPerSecond must be a positive number (handshakes per second, e.g. 0.5), got ${String(refillPerSecond)}`)
  }
  const maxConnections = options.maxConnectionsPerIp
  if (maxConnections !== undefined && !(Number.isInteger(maxConnections) && maxConnections > 0)) {
    throw new TypeError(`rateLimit(): maxConnectionsPerIp must be a positive integer, got ${String(maxConnections)}; leave it out for no cap`)
  }
  const ipv6Prefix = options.ipv6Prefix ?? DEFAULT_IPV6_PREFIX
  if (!Number.isInteger(ipv6Prefix) || ipv6Prefix < 1 || ipv6Prefix > 128) {
    throw new TypeError(`rateLimit(): ipv6Prefix must be an integer from 1 to 128 (bits), got ${String(ipv6Prefix)}`)
  }
  const own = options.store
  if (own !== undefined && (typeof own !== 'object' || own === null || !['consume', 'acquire', 'release'].every((method) => typeof (own as unknown as Record<string, unknown>)[method] === 'function'))) {
    throw new TypeError('rateLimit(): store must implement RateLimitStore (consume, acquire, release), e.g. new MemoryStore()')
  }
  const prefix = options.prefix ?? 'wsgate:rate-limit'
  if (typeof prefix !== 'string' || prefix === '') throw new TypeError(`rateLimit(): prefix must be a non-empty string, got ${JSON.stringify(prefix)}`)
  const now = options.now ?? Date.now
  if (typeof now !== 'function') throw new TypeError('rateLimit(): now must be a function returning ms since the epoch, e.g. Date.now')
  const keyOf = keyResolver(options.key ?? 'ip')
  const bucket: TokenBucket = { capacity: burst, refillPerSecond }
  const retryAfterCapped = String(DEFAULT_RETRY_AFTER)
  // Without a store of its own: the gateway's when that one is shared (Redis), else this instance's own.
  const local = own ? undefined : new MemoryStore()

  // The connection cap gives its slot back when the connection ends, which only a host that sees the end can tell.
  return withHostNeeds(async function rateLimit(c, next) {
    const runtime = c.env?.wsgate
    if (!runtime) {
      throw new GatewayError(500, 'ERR_RUNTIME_MISSING', 'rateLimit() runs only under a wsgate runtime (serve() or the CLI)')
    }
    const store: LimitStore = own ?? (runtime.limitStore?.shared ? runtime.limitStore : local!)
    // Behind a trusted proxy the socket's peer is the proxy: normalizeHeaders() (earlier in the chain) found the client.
    const client = clientId(c.get('clientAddress') ?? runtime.clientAddress, ipv6Prefix)
    const resolved = await keyOf(c)
    const [kind, id] = resolved ?? ['ip', client]

    const result = await store.consume(`${prefix}:rate:${kind}:${id}`, 1, bucket, now())
    if (!result.allowed) {
      const seconds = Math.max(1, Math.ceil(result.retryAfterSeconds - ROUNDING_SLACK))
      runtime.note({ rateLimit: { key: kind, limited: 'rate', retryAfter: seconds } })
      throw new GatewayError(429, 'ERR_RATE_LIMITED', `too many handshakes, retry in ${seconds} s`, {
        headers: { 'retry-after': String(seconds) },
      })
    }

    if (maxConnections !== undefined) {
      const slot = `${prefix}:connections:${client}`
      if (!(await store.acquire(slot, maxConnections))) {
        runtime.note({ rateLimit: { key: kind, limited: 'connections', max: maxConnections } })
        throw new GatewayError(429, 'ERR_TOO_MANY_CONNECTIONS', `too many open connections from this address (at most ${maxConnections})`, {
          headers: { 'retry-after': retryAfterCapped },
        })
      }
      // Runs once: when the connection ends, or right after the answer if the
      // handshake fails later in the chain. A store that cannot release has
      // nobody to tell at that point; a shared store should lease slots with
      // an expiry so that a lost release heals.
      runtime.onConnectionClose(() => releaseQuietly(store, slot))
    }
    runtime.note({ rateLimit: { key: kind, remaining: result.remaining } })
    await next()
  }, [maxConnections !== undefined && hostNeed('connection-tracking', 'rateLimit', 'maxConnectionsPerIp')])
}

type KeyResolver = (c: Context<RateLimitEnv>) => Promise<readonly [kind: string, id: string] | undefined>

/** Turns the `key` option into a function giving the bucket's kind and id, or undefined for "use the address". */
function keyResolver(key: RateLimitKey): KeyResolver {
  if (key === 'ip') return async () => undefined
  if (typeof key === 'function') {
    return async (c) => {
      const value = await key(c)
      if (value !== undefined && typeof value !== 'string') {
        throw new TypeError(`rateLimit(): the key function must return a string or undefined, got ${typeof value}`)
      }
      return value ? ['custom', value] : undefined
    }
  }
  if (typeof key === 'object' && key !== null && 'header' in key) {
    const name = key.header
    if (typeof name !== 'string' || !HTTP_TOKEN.test(name)) throw new TypeError(`rateLimit(): key.header must be a header name, got ${JSON.stringify(name)}`)
    const kind = `header:${name.toLowerCase()}`
    return async (c) => {
      const value = c.req.raw.headers.get(name)
      return value ? [kind, await sha256(value)] : undefined
    }
  }
  if (typeof key === 'object' && key !== null && 'claim' in key) {
    const claim = key.claim
    if (typeof claim !== 'string' || claim === '') throw new TypeError(`rateLimit(): key.claim must be a claim name, e.g. "sub", got ${JSON.stringify(claim)}`)
    const kind = `claim:${claim}`
    return async (c) => {
      const value = c.get('jwtPayload')?.[claim]
      if (typeof value === 'string' && value !== '') return [kind, value]
      if (typeof value === 'number' && Number.isFinite(value)) return [kind, String(value)]
      return undefined
    }
  }
  throw new TypeError(`rateLimit(): key must be 'ip', { header: name }, { claim: name } or a function, got ${JSON.stringify(key)}`)
}

/**
 * The client an address stands for: IPv4 as dotted decimal (also when it
 * came IPv4-mapped over IPv6), IPv6 as its `/prefix` network. Anything else
 * (an empty address from a socket already gone) stays as it is.
 */
function clientId(address: string, ipv6Prefix: number): string {
  const parsed = parseAddress(address)
  if (!parsed) return address
  if (parsed.kind() === 'ipv4') return parsed.toString()
  if (ipv6Prefix === 128) return (parsed as ipaddr.IPv6).toRFC5952String()
  const parts = (parsed as ipaddr.IPv6).parts.map((part, index) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - index * 16))
    return bits === 16 ? part : part & ((0xffff << (16 - bits)) & 0xffff)
  })
  return `${new ipaddr.IPv6(parts).toRFC5952String()}/${ipv6Prefix}`
}

/** Hex SHA-256 of a string: header values (API keys) go to the store only as digests. */
async function sha256(value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)))
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('')
}
