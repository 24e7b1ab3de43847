/**
 * Counters for `rateLimit()`, behind an interface a shared store (Redis, a
 * Durable Object) can implement: every method is one atomic operation on one
 * key, so a remote store does each in a single round trip (a Lua script, a
 * transaction) and gateways sharing it never race. Portable: no `node:` import.
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

/**
 * Where `rateLimit()` keeps its counters. A new key's bucket starts full;
 * a key nobody has used for a while may be forgotten (it then starts full
 * again, which only ever errs on the side of the client). Connection
 * counters must not be forgotten while held.
 */
export interface RateLimitStore {
  /**
   * Refills `key`'s bucket for the time since its last use, then takes
   * `cost` tokens if it holds that many; a refused call takes nothing.
   * @param now the caller's clock, ms since the epoch (so tests and every gateway sharing a store agree on time)
   */
  consume(key: string, cost: number, bucket: TokenBucket, now: number): Promise<ConsumeResult>
  /** Takes one of `max` slots of `key`; false (and nothing taken) when all are taken. */
  acquire(key: string, max: number): Promise<boolean>
  /** Gives back a slot taken by {@link acquire}. */
  release(key: string): Promise<void>
}

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
 * The in-process {@link RateLimitStore}, the default of `rateLimit()`.
 * Buckets live in an LRU bounded by `maxKeys`; connection counters live
 * apart, unbounded but never larger than the connections open at once, and
 * a counter is dropped when it returns to zero. Counts are per process: a
 * fleet of gateways needs a shared store to enforce one limit.
 *
 * @example
 * const store = new MemoryStore({ maxKeys: 50_000 })
 * app.all('/chat', rateLimit({ store }), websocket('ws://127.0.0.1:9001'))
 */
export class MemoryStore implements RateLimitStore {
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

  // The methods are async for the interface, but each runs to completion
  // before its promise is created: no other call can interleave with it.

  async consume(key: string, cost: number, bucket: TokenBucket, now: number): Promise<ConsumeResult> {
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

  async acquire(key: string, max: number): Promise<boolean> {
    const held = this.#connections.get(key) ?? 0
    if (held >= max) return false
    this.#connections.set(key, held + 1)
    return true
  }

  async release(key: string): Promise<void> {
    const held = this.#connections.get(key) ?? 0
    if (held <= 1) this.#connections.delete(key)
    else this.#connections.set(key, held - 1)
  }
}
