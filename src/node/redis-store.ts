/**
 * The shared {@link LimitStore}: connection caps and rate-limit buckets in
 * Redis (ioredis), so that several gateway processes (`--workers`) and
 * hosts enforce one limit. Node only (ioredis opens TCP sockets).
 *
 * Connection counts are held as leases. Each process has an id and a lease
 * in one sorted set (`<prefix>~leases`, the id scored by the lease's expiry,
 * Redis's own clock), renewed by a heartbeat every third of `leaseTtl` and
 * by every acquire. A count is a hash (`<prefix><key>`) with one field per
 * process holding slots of it; each process also lists what it holds
 * (`<prefix>~held:<id>`). Every check-and-increment is one Lua script: it
 * sums the fields of live leases only (and deletes a dead process's field on
 * the way), so a crashed process's slots stop counting once its lease has
 * expired; each heartbeat also sweeps a few dead processes' fields away.
 * A process whose own lease lapsed while it was alive (Redis unreachable,
 * a long stall) writes its counts back at its next heartbeat.
 */
import { randomUUID } from 'node:crypto'
import os from 'node:os'
import { Redis, type RedisOptions } from 'ioredis'
import { DEFAULT_RETRY_AFTER, DEFAULT_STORE_KEY_PREFIX, DEFAULT_STORE_LEASE_TTL, DEFAULT_STORE_TIMEOUT } from '../defaults.ts'
import { GatewayError } from '../errors.ts'
import type { ConsumeResult, LimitStore, TokenBucket } from '../limit-store.ts'
import { createLogger, type Logger } from './log.ts'

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * The Redis server, `redis://[user:password@]host:port[/db]` (`rediss://` for TLS).
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string
  /**
   * Prepended to every key; stores with different prefixes share nothing.
   * For Redis Cluster, put a hash tag in it (`'{wsgate}:'`) so that every key
   * lands on one node.
   * @default 'wsgate:'
   */
  keyPrefix?: string
  /**
   * How long this process's hold on its connection slots lives without a
   * heartbeat, ms (renewed every third of it). A crashed process's slots
   * stop counting at most this long after its last heartbeat.
   * @default 10 s
   */
  leaseTtl?: number
  /**
   * What a handshake meets while Redis cannot be reached (or does not answer
   * within `timeout`): `true` admits it (caps and rate limits are not
   * enforced meanwhile; one warn line per outage, one info line when Redis is
   * back); `false` refuses it with 503 `ERR_LIMIT_STORE_UNAVAILABLE` and
   * `Retry-After`.
   * @default true
   */
  failOpen?: boolean
  /**
   * Time one Redis command may take before Redis counts as down, ms: the
   * longest a handshake waits on its limits. Once Redis counts as down, one
   * command per `timeout` (and the heartbeat) goes to it as a probe until it
   * answers; every other handshake meets `failOpen` at once.
   * @default 500 ms
   */
  timeout?: number
  /** Where the outage warnings go. @default `createLogger()` */
  logger?: Logger
  /** More ioredis options (TLS, Sentinel, …), merged under the store's own. @default none */
  redis?: RedisOptions
}

/** Lua: Redis's clock in ms (scripts replicate their effects, so reading TIME is allowed). */
const NOW = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`

/**
 * Lua that renews this process's lease (ARGV[1] is its id) in the leases
 * sorted set `leases` for `ttl` ms, leaving `lost` = 1 when the lease had
 * lapsed (its counts may have been swept meanwhile). Needs {@link NOW}.
 */
function renewLease(leases: string, ttl: string): string {
  return `local id = ARGV[1]
local own = redis.call('ZSCORE', ${leases}, id)
local lost = 0
if (not own) or tonumber(own) < now then lost = 1 end
redis.call('ZADD', ${leases}, now + tonumber(${ttl}), id)`
}

/**
 * KEYS: count hash, leases, this process's held hash. ARGV: process id, max,
 * lease ttl (ms), the count's key as given. Returns { taken (0/1), count
 * after, lease lost (0/1) }.
 */
const ACQUIRE = `${NOW}
${renewLease('KEYS[2]', 'ARGV[3]')}
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  local holder = fields[i]
  local held = tonumber(fields[i + 1])
  if holder == id then
    total = total + held
  else
    local expiry = redis.call('ZSCORE', KEYS[2], holder)
    if expiry and tonumber(expiry) >= now then
      total = total + held
    else
      redis.call('HDEL', KEYS[1], holder)
    end
  end
end
if total >= tonumber(ARGV[2]) then return { 0, total, lost } end
redis.call('HINCRBY', KEYS[1], id, 1)
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
return { 1, total + 1, lost }
`

/** KEYS: count hash, this process's held hash. ARGV: process id, the count's key as given. Never leaves a field at 0 or below. */
const RELEASE = `
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local held = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if held <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
return left
`

/**
 * KEYS: leases. ARGV: process id, lease ttl (ms), key prefix, most dead
 * processes to sweep. Renews this process's lease, removes the counts of up
 * to that many processes whose lease has expired, and returns 1 when this
 * process's own lease had lapsed (its counts may have been swept).
 */
const HEARTBEAT = `${NOW}
${renewLease('KEYS[1]', 'ARGV[2]')}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, holder in ipairs(dead) do
  local list = ARGV[3] .. '~held:' .. holder
  for _, key in ipairs(redis.call('HKEYS', list)) do
    redis.call('HDEL', ARGV[3] .. key, holder)
  end
  redis.call('DEL', list)
  redis.call('ZREM', KEYS[1], holder)
end
return lost
`

/**
 * KEYS: this process's held hash. ARGV: process id, key prefix, 1 to start
 * the list afresh, then key/count pairs: this process's counts as it holds
 * them, written back as they are (after an outage or a lapsed lease).
 */
const REASSERT = `
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
for i = 4, #ARGV, 2 do
  local key = ARGV[i]
  local held = tonumber(ARGV[i + 1])
  if held > 0 then
    redis.call('HSET', ARGV[2] .. key, ARGV[1], held)
    redis.call('HSET', KEYS[1], key, held)
  else
    redis.call('HDEL', ARGV[2] .. key, ARGV[1])
    redis.call('HDEL', KEYS[1], key)
  end
end
return 1
`

/** KEYS: leases, this process's held hash. ARGV: process id, key prefix. Gives back everything this process holds. */
const LEAVE = `
for _, key in ipairs(redis.call('HKEYS', KEYS[2])) do
  redis.call('HDEL', ARGV[2] .. key, ARGV[1])
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`

/**
 * KEYS: the bucket. ARGV: cost, capacity, refill per second, now (ms, the
 * caller's clock). The same arithmetic as the in-memory store; the bucket
 * expires once it would be full again (a forgotten bucket starts full).
 * Returns { allowed (0/1), tokens left (a string: Lua numbers reach the
 * client as integers) }.
 */
const CONSUME = `
local cost = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local refill = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens = capacity
local updated = now
if state[1] and state[2] then
  local last = tonumber(state[2])
  tokens = math.min(capacity, tonumber(state[1]) + math.max(0, now - last) / 1000 * refill)
  updated = math.max(now, last)
end
local allowed = 0
if tokens + 1e-9 >= cost then
  tokens = math.max(0, tokens - cost)
  allowed = 1
end
local text = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 't', text, 'u', string.format('%.17g', updated))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / refill * 1000) + 1000)
return { allowed, text }
`

/** The scripts as ioredis commands (EVALSHA, falling back to EVAL once per connection). */
interface StoreCommands {
  wsgateAcquire(count: string, leases: string, held: string, id: string, max: number, ttl: number, key: string): Promise<[number, number, number]>
  wsgateRelease(count: string, held: string, id: string, key: string): Promise<number>
  wsgateHeartbeat(leases: string, id: string, ttl: number, prefix: string, sweep: number): Promise<number>
  wsgateReassert(held: string, id: string, prefix: string, fresh: string, ...pairs: (string | number)[]): Promise<number>
  wsgateLeave(leases: string, held: string, id: string, prefix: string): Promise<number>
  wsgateConsume(bucket: string, cost: number, capacity: number, refill: number, now: number): Promise<[number, string]>
}

/** Dead processes one heartbeat sweeps at most, so that a heartbeat stays short after a mass crash. */
const SWEEP_PER_HEARTBEAT = 20

/** Slack for floating-point error in token arithmetic, as in the in-memory store. */
const EPSILON = 1e-9

/**
 * The Redis {@link LimitStore}. Create it with {@link redisStore}; give it
 * to `serve({ store })` and to `rateLimit({ store })`, or start the CLI
 * with `--redis <url>`.
 *
 * @example
 * const store = redisStore({ url: 'redis://10.0.0.2:6379', failOpen: false })
 * app.all('/chat', rateLimit({ store, maxConnectionsPerIp: 20 }), websocket('ws://127.0.0.1:9001', { maxConnections: 500 }))
 * const gateway = await serve(app, { store, maxConnections: 3_000 })
 * // … on shutdown, after gateway.close():
 * await store.close()
 */
export class RedisStore implements LimitStore {
  /** Counts are shared with every process using the same Redis and key prefix. */
  readonly shared = true
  /** This process's id in the leases: host, pid and a random part (a pid is reused after a restart). */
  readonly processId: string
  readonly failOpen: boolean
  readonly leaseTtl: number
  readonly keyPrefix: string
  readonly #redis: Redis & StoreCommands
  readonly #logger: () => Logger
  readonly #leases: string
  readonly #held: string
  /** Slots this process holds, per key (unprefixed): the truth it writes back after an outage. */
  readonly #counts = new Map<string, number>()
  /** Acquires and releases sent and not yet answered, per key: such a key is not written back until they are. */
  readonly #inflight = new Map<string, number>()
  /** Keys whose Redis count may differ from {@link #counts} (an acquire admitted open, a release that failed). */
  readonly #dirty = new Set<string>()
  #heartbeat: NodeJS.Timeout | undefined
  /** Set when Redis failed, until it answers again: one warn line per outage. */
  #outage = false
  /** During an outage, when the next command may go to Redis (ms since the epoch); until then commands fail at once. */
  #probeAt = 0
  /** The `timeout` option: how long a probe is given before the next one may go. */
  readonly #timeout: number
  /** Set when this process's lease lapsed: every count is written back. */
  #leaseLost = false
  #closed = false
  readonly #ready: Promise<void>

  constructor(options: RedisStoreOptions = {}) {
    const url = options.url ?? 'redis://127.0.0.1:6379'
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
      throw new TypeError(`redisStore(): url must be a redis:// or rediss:// URL, e.g. 'redis://127.0.0.1:6379', got ${JSON.stringify(url)}`)
    }
    this.keyPrefix = options.keyPrefix ?? DEFAULT_STORE_KEY_PREFIX
    if (typeof this.keyPrefix !== 'string') throw new TypeError(`redisStore(): keyPrefix must be a string, got ${String(this.keyPrefix)}`)
    this.leaseTtl = options.leaseTtl ?? DEFAULT_STORE_LEASE_TTL
    if (!(Number.isInteger(this.leaseTtl) && this.leaseTtl >= 300 && this.leaseTtl <= 3_600_000)) {
      throw new TypeError(`redisStore(): leaseTtl must be a whole number of ms from 300 to 3,600,000 (1 h), got ${String(options.leaseTtl)}`)
    }
    const timeout = options.timeout ?? DEFAULT_STORE_TIMEOUT
    if (!(Number.isInteger(timeout) && timeout > 0 && timeout <= 60_000)) {
      throw new TypeError(`redisStore(): timeout must be a whole number of ms from 1 to 60,000, got ${String(options.timeout)}`)
    }
    this.#timeout = timeout
    this.failOpen = options.failOpen ?? true
    if (typeof this.failOpen !== 'boolean') throw new TypeError(`redisStore(): failOpen must be a boolean, got ${String(options.failOpen)}`)
    let logger = options.logger
    this.#logger = () => (logger ??= createLogger())
    this.processId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
    this.#leases = `${this.keyPrefix}~leases`
    this.#held = `${this.keyPrefix}~held:${this.processId}`

    const redis = new Redis(url, {
      ...options.redis,
      // Fail at once while disconnected (fail open or closed), rather than queue handshakes behind a dead server.
      enableOfflineQueue: false,
      commandTimeout: timeout,
      connectTimeout: Math.max(timeout, 1_000),
      maxRetriesPerRequest: 0,
      // Reconnect for ever, backing off to 2 s between attempts.
      retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
      lazyConnect: false,
    })
    // ioredis reports every failed reconnect as 'error'; the outage is logged once, by the first failed command.
    redis.on('error', () => {})
    redis.defineCommand('wsgateAcquire', { numberOfKeys: 3, lua: ACQUIRE })
    redis.defineCommand('wsgateRelease', { numberOfKeys: 2, lua: RELEASE })
    redis.defineCommand('wsgateHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT })
    redis.defineCommand('wsgateReassert', { numberOfKeys: 1, lua: REASSERT })
    redis.defineCommand('wsgateLeave', { numberOfKeys: 2, lua: LEAVE })
    redis.defineCommand('wsgateConsume', { numberOfKeys: 1, lua: CONSUME })
    this.#redis = redis as Redis & StoreCommands
    // A new connection (also after an outage) renews the lease and writes back what changed meanwhile.
    redis.on('ready', () => void this.#beat())
    this.#ready = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        redis.off('ready', done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(timeout, 1_000) * 2)
      // Nobody waiting on it must not keep the process alive.
      timer.unref()
      redis.once('ready', done)
    })
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(100, Math.floor(this.leaseTtl / 3)))
    this.#heartbeat.unref()
  }

  /** Resolves once connected to Redis, or after twice the connect timeout if it is not reachable (then every call meets `failOpen`). Never rejects. */
  ready(): Promise<void> {
    return this.#ready
  }

  /** Slots this process holds of `key` (for tests and metrics). */
  held(key: string): number {
    return this.#counts.get(key) ?? 0
  }

  /** Takes one of `max` slots of `key` across every process (one Lua script); while Redis is down, `failOpen` decides. */
  async acquire(key: string, max: number): Promise<boolean> {
    this.#assertOpen()
    // Counted before the answer, so that a write-back racing it errs on the high side.
    this.#add(key, 1)
    this.#send(key, 1)
    let answer: [number, number, number]
    try {
      answer = await this.#command(() => this.#redis.wsgateAcquire(this.keyPrefix + key, this.#leases, this.#held, this.processId, max, this.leaseTtl, key))
    } catch (error) {
      this.#send(key, -1)
      // Either way Redis may now be wrong: a command that timed out here may still run there (a stalled Redis
      // resumes), and a slot it took that nobody holds would count against the cap for as long as our lease
      // lives. What this process holds is written back when Redis answers again.
      this.#dirty.add(key)
      if (this.failOpen) {
        // Admitted while Redis is away: counted here.
        this.#failed(error)
        return true
      }
      this.#add(key, -1)
      throw this.#failed(error)
    }
    this.#send(key, -1)
    this.#recovered()
    if (answer[0] !== 1) this.#add(key, -1)
    if (answer[2] === 1) {
      // Our lease had lapsed: other processes may have swept our counts; write them back now.
      this.#leaseLost = true
      void this.#beat()
    }
    return answer[0] === 1
  }

  /** Gives back one of this process's slots of `key`; never rejects (a failed release is written back later). */
  async release(key: string): Promise<void> {
    if (!this.#counts.has(key)) return
    this.#add(key, -1)
    if (this.#closed) return
    this.#send(key, 1)
    try {
      await this.#command(() => this.#redis.wsgateRelease(this.keyPrefix + key, this.#held, this.processId, key))
      this.#recovered()
    } catch (error) {
      // Written back at the first heartbeat that reaches Redis; never rejects.
      this.#dirty.add(key)
      this.#failed(error)
    } finally {
      this.#send(key, -1)
    }
  }

  /** The token bucket of `key` in Redis, with the in-memory store's arithmetic; while Redis is down, `failOpen` decides. */
  async consume(key: string, cost: number, bucket: TokenBucket, now: number): Promise<ConsumeResult> {
    const { capacity, refillPerSecond } = bucket
    if (!(cost > 0 && cost <= capacity) || !(refillPerSecond > 0) || !Number.isFinite(now)) {
      throw new RangeError(`RedisStore.consume(): need 0 < cost <= capacity, refillPerSecond > 0 and a finite now; got cost ${cost}, capacity ${capacity}, refillPerSecond ${refillPerSecond}, now ${now}`)
    }
    this.#assertOpen()
    let answer: [number, string]
    try {
      answer = await this.#command(() => this.#redis.wsgateConsume(this.keyPrefix + key, cost, capacity, refillPerSecond, now))
    } catch (error) {
      if (this.failOpen) {
        this.#failed(error)
        return { allowed: true, retryAfterSeconds: 0, remaining: Math.floor(capacity - cost + EPSILON) }
      }
      throw this.#failed(error)
    }
    this.#recovered()
    const tokens = Number(answer[1])
    if (answer[0] === 1) return { allowed: true, retryAfterSeconds: 0, remaining: Math.floor(tokens + EPSILON) }
    return { allowed: false, retryAfterSeconds: (cost - tokens) / refillPerSecond, remaining: Math.floor(tokens + EPSILON) }
  }

  /**
   * Gives back every slot this process holds, removes its lease and closes
   * the connection. Call it after `gateway.close()`. Never rejects: if Redis
   * cannot be reached, the lease expires on its own.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#heartbeat)
    try {
      if (this.#redis.status === 'ready') await this.#redis.wsgateLeave(this.#leases, this.#held, this.processId, this.keyPrefix)
    } catch {
      // The lease expires on its own.
    }
    this.#counts.clear()
    try {
      await this.#redis.quit()
    } catch {
      this.#redis.disconnect()
    }
  }

  /** Renews the lease, sweeps dead processes, and writes back what Redis may have wrong. Never rejects. */
  async #beat(): Promise<void> {
    if (this.#closed || this.#redis.status !== 'ready') return
    try {
      const lost = await this.#redis.wsgateHeartbeat(this.#leases, this.processId, this.leaseTtl, this.keyPrefix, SWEEP_PER_HEARTBEAT)
      if (lost === 1) this.#leaseLost = true
      await this.#writeBack()
      this.#recovered()
    } catch (error) {
      this.#failed(error)
    }
  }

  /**
   * After a lapsed lease every count, else the dirty ones, as this process
   * holds them; a key with a command in flight waits for the next heartbeat
   * (its answer would land after the value written).
   */
  async #writeBack(): Promise<void> {
    const fresh = this.#leaseLost
    const keys = fresh ? [...this.#counts.keys()] : [...this.#dirty]
    if (keys.length === 0 && !fresh) return
    const pairs: (string | number)[] = []
    const written: string[] = []
    for (const key of keys) {
      if (this.#inflight.has(key)) {
        this.#dirty.add(key)
        continue
      }
      pairs.push(key, this.#counts.get(key) ?? 0)
      written.push(key)
    }
    // Counts written while an acquire is in flight would be wrong: start afresh only when none is.
    const afresh = fresh && written.length === keys.length
    await this.#redis.wsgateReassert(this.#held, this.processId, this.keyPrefix, afresh ? '1' : '0', ...pairs)
    for (const key of written) this.#dirty.delete(key)
    if (afresh) this.#leaseLost = false
    else if (fresh) for (const key of keys) this.#dirty.add(key)
  }

  #add(key: string, delta: number): void {
    const count = (this.#counts.get(key) ?? 0) + delta
    if (count > 0) this.#counts.set(key, count)
    else this.#counts.delete(key)
  }

  #send(key: string, delta: number): void {
    const count = (this.#inflight.get(key) ?? 0) + delta
    if (count > 0) this.#inflight.set(key, count)
    else this.#inflight.delete(key)
  }

  #assertOpen(): void {
    if (this.#closed) throw new TypeError('RedisStore: the store is closed')
  }

  /**
   * Sends a command, or fails at once during an outage until the next probe
   * is due (one command per `timeout`; the heartbeat probes too). A stalled
   * Redis (paused, or its host gone without a reset: TCP retries for many
   * minutes) would otherwise hold every handshake for `timeout`, and queue
   * every handshake's command in memory until it answers.
   */
  #command<T>(send: () => Promise<T>): Promise<T> {
    if (this.#outage) {
      const now = Date.now()
      if (now < this.#probeAt) return Promise.reject(new Error('Redis failed; not asked again until the next probe'))
      this.#probeAt = now + this.#timeout
    }
    return send()
  }

  /** Notes a failed command: one warn line per outage. Returns the refusal a store that fails closed throws. */
  #failed(error: unknown): GatewayError {
    if (!this.#outage && !this.#closed) {
      this.#outage = true
      this.#probeAt = Date.now() + this.#timeout
      this.#logger().warn(
        { code: 'ERR_LIMIT_STORE_UNAVAILABLE', failOpen: this.failOpen, reason: error instanceof Error ? error.message : String(error) },
        this.failOpen
          ? 'limit store unavailable: admitting handshakes without connection caps and rate limits until Redis is back'
          : 'limit store unavailable: refusing handshakes with 503 until Redis is back',
      )
    }
    return new GatewayError(503, 'ERR_LIMIT_STORE_UNAVAILABLE', 'connection limits cannot be checked now, retry later', {
      headers: { 'retry-after': String(DEFAULT_RETRY_AFTER) },
      cause: error,
    })
  }

  #recovered(): void {
    if (!this.#outage) return
    this.#outage = false
    this.#logger().info({ failOpen: this.failOpen }, 'limit store available again')
    // What was admitted or released meanwhile is written back now.
    if (this.#dirty.size > 0) void this.#beat()
  }
}

/**
 * A {@link LimitStore} in Redis: the gateway's connection caps
 * (`maxConnections`, `maxConnectionsPerClient`, a route's `maxConnections`)
 * and `rateLimit()`'s buckets, shared by every gateway process and host
 * using the same Redis and `keyPrefix`. Each process holds its slots as a
 * lease renewed every `leaseTtl / 3`: a crashed process's slots stop
 * counting within `leaseTtl`. While Redis is down, `failOpen` decides. See
 * the README's "Many cores, many hosts" for the consistency it gives.
 *
 * @example
 * import { redisStore, serve } from 'wsgate/node'
 * const store = redisStore({ url: process.env.REDIS_URL })
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/chat', rateLimit({ store, burst: 10 }), websocket('ws://127.0.0.1:9001', { maxConnections: 1_000 }))
 * await serve(app, { store, maxConnections: 10_000, maxConnectionsPerClient: 50 })
 */
export function redisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options)
}
