/**
 * Every limit of the gateway behind one interface: the connection caps
 * (`serve()`'s `maxConnections` and `maxConnectionsPerClient`, a route's
 * `maxConnections`) and `rateLimit()`'s token buckets and per-address cap.
 * A shared store (Redis, a Durable Object) implements it: every method is
 * one atomic operation on one key, so a remote store does each in a single
 * round trip (a Lua script) and gateways sharing it never race. The
 * in-memory store answers synchronously (plain values, no promise), so the
 * handshake path awaits nothing when limits are per process.
 * Portable: no `node:` import.
 */
import { LRUCache } from 'lru-cache'
import { DEFAULT_RATE_LIMIT_MAX_KEYS } from './defaults.ts'

/** A token bucket: `capacity` tokens at most, refilled continuously at `refillPerSecond`. */
export interface TokenBucket {
  /** Tokens the bucket holds when full: the largest burst. */
  capacity: number
  /** Tokens added per second, continuously (fractions allowed). */
  refillPerSecond: number
}

/** What one {@link RateLimitStore.consume} decided. */
export interface ConsumeResult {
  /** Whether the tokens were there and have been taken. */
  allowed: boolean
  /**
   * When `allowed` is false, seconds until the bucket holds `cost` tokens
   * (exact, not rounded; callers round up for `Retry-After`); 0 when allowed.
   */
  retryAfterSeconds: number
  /** Whole tokens left after this call. */
  remaining: number
}

/** A value, or a promise of it: the in-memory store answers at once, a remote one later. */
export type MaybePromise<T> = T | Promise<T>

/**
 * Where the gateway's connection caps and `rateLimit()` keep their counters.
 * A new key's bucket starts full; a key nobody has used for a while may be
 * forgotten (it then starts full again, which only ever errs on the side of
 * the client). Connection counters must not be forgotten while held; a
 * shared store should hold them as leases of the process that took them,
 * so that a crashed process's slots come back on their own.
 *
 * A method may return its answer directly (the in-memory store does, so the
 * handshake path awaits nothing) or a promise of it. A store that cannot
 * answer may throw (or reject with) a `GatewayError`, e.g. 503
 * `ERR_LIMIT_STORE_UNAVAILABLE`; the handshake is then refused with it.
 *
 * @example
 * // serve() and rateLimit() share one store: every cap and bucket lives there.
 * const store = redisStore({ url: 'redis://127.0.0.1:6379' })
 * app.all('/chat', rateLimit({ store }), websocket('ws://127.0.0.1:9001'))
 * await serve(app, { store })
 */
export interface LimitStore {
  /**
   * Refills `key`'s bucket for the time since its last use, then takes
   * `cost` tokens if it holds that many; a refused call takes nothing.
   * @param now the caller's clock, ms since the epoch (so tests and every gateway sharing a store agree on time)
   */
  consume(key: string, cost: number, bucket: TokenBucket, now: number): MaybePromise<ConsumeResult>
  /** Takes one of `max` slots of `key`; false (and nothing taken) when all are taken. */
  acquire(key: string, max: number): MaybePromise<boolean>
  /** Gives back a slot taken by {@link acquire}; never rejects (a shared store heals a lost release with its leases). */
  release(key: string): MaybePromise<void>
  /**
   * True when the counts are shared with other processes (Redis): then
   * `rateLimit()` instances without a store of their own keep their buckets
   * here too. @default false (absent)
   */
  readonly shared?: boolean
  /** Resolves once the store can answer (connected), or once it has given up waiting; never rejects. `serve()` awaits it before listening. */
  ready?(): Promise<void>
}

/**
 * The store interface under its first name, from when only `rateLimit()` used it.
 * @deprecated use {@link LimitStore}
 */
export type RateLimitStore = LimitStore

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Buckets kept at most; beyond it the least recently used is forgotten.
   * @default 100,000 (about 10 MB)
   */
  maxKeys?: number
}

/** A bucket's state: tokens at `updatedAt` (ms since the epoch). */
interface BucketState {
  tokens: number
  updatedAt: number
}

/**
 * Slack for floating-point error in token arithmetic (a billionth of a
 * token): 0.1 + 0.2 tokens is enough for a cost of 0.3.
 */
const EPSILON = 1e-9

/**
 * The in-process {@link LimitStore}, the default of `serve()` and of
 * `rateLimit()`. Buckets live in an LRU bounded by `maxKeys`; connection
 * counters live apart, unbounded but never larger than the connections open
 * at once, and a counter is dropped when it returns to zero. Every method
 * answers synchronously (a plain value, never a promise). Counts are per
 * process: a fleet of gateways, or `wsgate start --workers`, needs a shared
 * store (`redisStore()`) to enforce one limit.
 *
 * @example
 * const store = new MemoryStore({ maxKeys: 50_000 })
 * app.all('/chat', rateLimit({ store }), websocket('ws://127.0.0.1:9001'))
 */
export class MemoryStore implements LimitStore {
  /** Counts are this process's own. */
  readonly shared = false
  readonly #buckets: LRUCache<string, BucketState>
  readonly #connections = new Map<string, number>()

  constructor(options: MemoryStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? DEFAULT_RATE_LIMIT_MAX_KEYS
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new TypeError(`MemoryStore: maxKeys must be a positive integer, got ${String(maxKeys)}`)
    }
    this.#buckets = new LRUCache({ max: maxKeys })
  }

  /** Buckets held now (for tests and metrics). */
  get size(): number {
    return this.#buckets.size
  }

  /** Connection slots held now for `key`. */
  connections(key: string): number {
    return this.#connections.get(key) ?? 0
  }

  // Synchronous: each call runs to completion, no other can interleave with
  // it, and the handshake path has no promise to await.

  consume(key: string, cost: number, bucket: TokenBucket, now: number): ConsumeResult {
    const { capacity, refillPerSecond } = bucket
    if (!(cost > 0 && cost <= capacity) || !(refillPerSecond > 0) || !Number.isFinite(now)) {
      throw new RangeError(`MemoryStore.consume(): need 0 < cost <= capacity, refillPerSecond > 0 and a finite now; got cost ${cost}, capacity ${capacity}, refillPerSecond ${refillPerSecond}, now ${now}`)
    }
    const state = this.#buckets.get(key)
    let tokens = capacity
    let updatedAt = now
    if (state) {
      // A clock that stepped back earns nothing and does not move the bucket's time back.
      const elapsed = Math.max(0, now - state.updatedAt) / 1000
      tokens = Math.min(capacity, state.tokens + elapsed * refillPerSecond)
      updatedAt = Math.max(now, state.updatedAt)
    }
    if (tokens + EPSILON >= cost) {
      tokens = Math.max(0, tokens - cost)
      this.#buckets.set(key, { tokens, updatedAt })
      return { allowed: true, retryAfterSeconds: 0, remaining: Math.floor(tokens + EPSILON) }
    }
    this.#buckets.set(key, { tokens, updatedAt })
    return { allowed: false, retryAfterSeconds: (cost - tokens) / refillPerSecond, remaining: Math.floor(tokens + EPSILON) }
  }

  acquire(key: string, max: number): boolean {
    const held = this.#connections.get(key) ?? 0
    if (held >= max) return false
    this.#connections.set(key, held + 1)
    return true
  }

  release(key: string): void {
    const held = this.#connections.get(key) ?? 0
    if (held <= 1) this.#connections.delete(key)
    else this.#connections.set(key, held - 1)
  }
}

/**
 * Whether a store's answer is still to come (a promise), so the caller must
 * await it; the in-memory store's never is.
 *
 * @example
 * let taken = store.acquire('gateway:connections', 3_000)
 * if (isPending(taken)) taken = await taken
 */
export function isPending<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/**
 * Throws a `TypeError` unless `store` has the methods of a {@link LimitStore};
 * `where` names the option's owner in the message.
 *
 * @example
 * assertLimitStore(options.store, 'serve()')
 */
export function assertLimitStore(store: unknown, where: string): asserts store is LimitStore {
  if (typeof store !== 'object' || store === null || !['consume', 'acquire', 'release'].every((method) => typeof (store as Record<string, unknown>)[method] === 'function')) {
    throw new TypeError(`${where}: store must implement LimitStore (consume, acquire, release), e.g. new MemoryStore() or redisStore({ url })`)
  }
}

/**
 * Gives a slot back and forgets any failure: at a connection's end nobody is
 * left to tell, and a shared store heals a lost release with its leases.
 *
 * @example
 * runtime.onConnectionClose(() => releaseQuietly(store, 'route:/chat:connections'))
 */
export function releaseQuietly(store: LimitStore, key: string): void {
  try {
    const released = store.release(key)
    if (isPending(released)) released.catch(() => {})
  } catch {
    // As above.
  }
}
