/**
 * Origin pools: several origins behind one route, picked by priority and
 * strategy, kept healthy by HTTP probes (run by an injected prober) and by
 * what the handshakes themselves see (passive health). Portable: no `node:`
 * import, no timers of its own unless the host gives none; the Node host
 * starts every pool it finds in the app's routes (src/node/pools.ts).
 */
import type { Context } from 'hono'
import {
  DEFAULT_ORIGIN_COOLDOWN,
  DEFAULT_ORIGIN_PRIORITY,
  DEFAULT_ORIGIN_RETRIES,
  DEFAULT_ORIGIN_WEIGHT,
  DEFAULT_PROBE_EXPECT,
  DEFAULT_PROBE_FALL,
  DEFAULT_PROBE_INTERVAL,
  DEFAULT_PROBE_PATH,
  DEFAULT_PROBE_RISE,
  DEFAULT_PROBE_TIMEOUT,
} from '../defaults.ts'
import { GatewayError } from '../errors.ts'
import { assertDuration } from '../limits.ts'
import type { OriginTls } from '../runtime.ts'
import { assertOriginTls, tlsWarnings } from '../origin-tls.ts'
import { parseTarget } from '../target.ts'
import { hash53, leastConnections, rendezvous, smoothWeighted, type Selectable } from './select.ts'
import { everyOriginDown } from '../origin-errors.ts'
import { hostNeed, withHostNeeds, type HostNeed } from '../host-needs.ts'

/** Whether an origin gets new connections. */
export type OriginHealth = 'up' | 'down'

/** One origin of a pool, with its share and rank. */
export interface OriginTargetOptions {
  /** The origin, `ws://host:port/path` (or `wss://`, `http://`, `https://`), as a `websocket()` target. */
  url: string | URL
  /**
   * Share of the traffic within its priority, relative to the others' (3 and 1: 75 % and 25 %).
   * @default 1
   */
  weight?: number
  /**
   * Rank (lower number = preferred): an origin of priority 2 gets traffic only while every origin of priority 1 is down.
   * @default 1
   */
  priority?: number
  /** For a `wss://`/`https://` origin: how its certificate is verified (merged over the pool's `tls`). @default the pool's `tls` */
  tls?: OriginTls
}

/** A pool member: a target URL, or one with its weight, priority and TLS settings. */
export type OriginTarget = string | URL | OriginTargetOptions

/**
 * How a pool picks among the healthy origins of its best priority.
 * - `'weighted'`: smooth weighted round robin, each origin its weight's share, interleaved.
 * - `'least-connections'`: the origin with the fewest live WebSocket connections of this gateway per unit of weight.
 * - `{ hash }`: sticky: the same key always reaches the same origin (weighted rendezvous hashing); only the keys
 *   of an origin that goes down move, and they come back when it returns. A key of `undefined` falls back to weighted.
 */
// Context<any>: the hash reads whatever the user's app typed into its context (c.env.wsgate, c.get('jwtPayload'), cookies).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OriginStrategy = 'weighted' | 'least-connections' | { hash: (c: Context<any, any, any>) => string | undefined }

/** Active health checks: one HTTP request to every origin at each interval. */
export interface OriginProbeOptions {
  /** Path (and query) requested on the origin's host. @default '/' */
  path?: string
  /** @default 'GET' */
  method?: 'GET' | 'HEAD'
  /** Time between two probes of one origin, ms. @default 10 s */
  interval?: number
  /** Time one probe may take before it counts as failed, ms (at most `interval`). @default 2 s, or `interval` when shorter */
  timeout?: number
  /** Statuses that count as healthy, inclusive. @default [200, 399] */
  expect?: readonly [min: number, max: number]
  /** Consecutive failures (probes or handshakes) that take an origin down. @default 3 */
  fall?: number
  /** Consecutive successful probes that bring a down origin back. @default 2 */
  rise?: number
}

/** Options of {@link origins}. */
export interface OriginsOptions {
  /** How an origin is picked among the healthy ones of the best priority. @default 'weighted' */
  strategy?: OriginStrategy
  /**
   * Health probes over HTTP (over TLS for `wss://`/`https://` origins), or `false` for passive health only.
   * @default { path: '/', method: 'GET', interval: 10 s, timeout: 2 s, expect: [200, 399], fall: 3, rise: 2 }
   */
  probe?: false | OriginProbeOptions
  /**
   * Further origins tried after a refused, reset or timed-out one, before the client gets its answer, within the handshake timeout.
   * @default 2
   */
  retries?: number
  /** TLS settings for every `wss://`/`https://` target (a target's own `tls` overrides them field by field). @default the system CAs, the origin's host */
  tls?: OriginTls
  /**
   * Without probes (`probe: false`, or before a host starts them), how long an origin that passive health took down
   * gets no connections, ms; then it is tried again, and its next failure takes it down at once.
   * @default 10 s
   */
  cooldown?: number
}

/** What a probe asks of the host's prober. */
export interface ProbeRequest {
  method: 'GET' | 'HEAD'
  /** The prober must give up after this long, ms (the pool also aborts `signal` then). */
  timeout: number
  /** For an `https:` URL: how the certificate is verified. */
  tls: OriginTls | undefined
  /** Aborted when the probe times out or the pool stops. */
  signal: AbortSignal
}

/** Timers a host lends a pool (the Node host's are unref'd, so probes never keep a process alive). */
export interface PoolTimers {
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** One change of an origin's health, reported once to the host. */
export interface OriginChange {
  /** The origin as its target was given, e.g. `ws://10.0.0.5:9001`. */
  origin: string
  priority: number
  /** The new state. */
  health: OriginHealth
  previous: OriginHealth
  /** What decided it: probes, handshakes seen by the handlers, or the end of a cooldown. */
  cause: 'probe' | 'passive' | 'cooldown'
  /** The last observation, e.g. `status 500`, `ECONNREFUSED`, `2 probes passed`. */
  reason: string
  /** When, ms since the epoch (the host's clock). */
  at: number
}

/** What runs a pool's probes and hears its changes: the runtime's prober, clock and timers. */
export interface OriginPoolHost {
  /** One HTTP request to `url`; resolves with the status once the response head is in, rejects when none comes. */
  probe(url: URL, request: ProbeRequest): Promise<{ status: number }>
  /** Called once per health change (the Node host logs one line). */
  onChange(change: OriginChange): void
  /** @default Date.now */
  now?(): number
  /** @default the global setTimeout/clearTimeout */
  timers?: PoolTimers
}

/** The last probe of an origin. */
export interface ProbeResult {
  /** When it finished, ms since the epoch. */
  at: number
  /** Whether it counted as healthy. */
  ok: boolean
  /** The status, when one came. */
  status?: number
  /** Why it failed without a status (e.g. `ECONNREFUSED`, `timeout after 2000 ms`). */
  error?: string
}

/** One origin as `pool.status()` reports it. */
export interface OriginStatus {
  url: string
  priority: number
  weight: number
  health: OriginHealth
  /** Live WebSocket connections of this gateway process to it. */
  live: number
  /** Consecutive failures so far (probes and handshakes). */
  failures: number
  /** The last probe, once one has run. */
  lastProbe: ProbeResult | undefined
  /** Since when it has been down, ms since the epoch. */
  downSince: number | undefined
}

/** A pool member with its counters. Internal to the pool and the handlers. */
export class PoolOrigin implements Selectable {
  /** The target as given, for logs and status. */
  readonly label: string
  /** The target parsed (`http:`/`https:`), the base of every request URL. */
  readonly base: URL
  readonly weight: number
  readonly priority: number
  readonly tls: OriginTls | undefined
  readonly seed: number
  health: OriginHealth = 'up'
  failures = 0
  successes = 0
  live = 0
  pending = 0
  current = 0
  downSince: number | undefined
  lastProbe: ProbeResult | undefined
  /** The next probe's timer, and the probe in flight. */
  timer: unknown
  probing: AbortController | undefined

  constructor(label: string, base: URL, weight: number, priority: number, tls: OriginTls | undefined) {
    this.label = label
    this.base = base
    this.weight = weight
    this.priority = priority
    this.tls = tls
    this.seed = hash53(base.href) >>> 0
  }
}

/** Resolved probe settings. */
interface ProbeSettings {
  path: string
  method: 'GET' | 'HEAD'
  interval: number
  timeout: number
  expect: readonly [number, number]
}

/** The property under which a handler carries the pools it uses, for the host to start them. */
export const POOLS = 'originPools'

/**
 * Several origins behind a route, made by {@link origins}: `websocket()`,
 * `http()` and `proxy()` take one wherever they take a target. It picks an
 * origin per request, tracks each origin's health from probes and
 * handshakes, and reports every change to its host.
 *
 * @example
 * const api = origins(['http://10.0.0.8:9000', 'http://10.0.0.9:9000'])
 * app.all('/api/*', http(api))
 * app.get('/ops/origins', (c) => c.json(api.status()))
 */
export class OriginPool {
  readonly #origins: PoolOrigin[]
  readonly #strategy: OriginStrategy
  readonly #probe: ProbeSettings | undefined
  readonly #fall: number
  readonly #rise: number
  readonly #cooldown: number
  /** A single string target: no probes, no passive marking, no retries. */
  readonly #fixed: boolean
  /** Further origins tried after a failed one. */
  readonly retries: number
  /**
   * @internal What the pool's settings ask of the host (probes, least-connections,
   * TLS settings), for every handler using it to carry (`withPools`).
   */
  readonly hostNeeds: readonly HostNeed[]
  #host: OriginPoolHost | undefined
  #starts = 0
  /** Bumped by stop(), so a probe that finishes after it is ignored. */
  #generation = 0

  /** @internal Use {@link origins}, or pass a string target to the handler. */
  constructor(members: PoolOrigin[], strategy: OriginStrategy, probe: ProbeSettings | undefined, fall: number, rise: number, retries: number, cooldown: number, fixed: boolean, hostNeeds: readonly HostNeed[]) {
    this.#origins = members
    this.#strategy = strategy
    this.#probe = probe
    this.#fall = fall
    this.#rise = rise
    this.retries = retries
    this.#cooldown = cooldown
    this.#fixed = fixed
    this.hostNeeds = hostNeeds
  }

  /** @internal A one-origin pool for a plain target: always that origin, no health tracking (502/504 as ever). */
  static single(target: string | URL, caller: string, tls?: OriginTls): OriginPool {
    const base = parseTarget(target, caller)
    const origin = new PoolOrigin(String(target), base, DEFAULT_ORIGIN_WEIGHT, DEFAULT_ORIGIN_PRIORITY, base.protocol === 'https:' ? tls : undefined)
    // `caller` is the handler, e.g. 'websocket()': the route's own tls setting, used only for an https origin.
    const needs = origin.tls ? [hostNeed('origin-tls', caller.replace(/\(\)$/, ''), 'tls')] : []
    return new OriginPool([origin], 'weighted', undefined, DEFAULT_PROBE_FALL, DEFAULT_PROBE_RISE, 0, DEFAULT_ORIGIN_COOLDOWN, true, needs)
  }

  /** @internal Whether this pool stands for a single plain target (nothing to start). */
  get fixed(): boolean {
    return this.#fixed
  }

  /**
   * @internal Start-up warnings of the pool's settings, one per risky origin
   * (`tls.rejectUnauthorized: false`), for the handler to carry (`withWarnings`).
   */
  get warnings(): string[] {
    return this.#origins.flatMap((origin) => tlsWarnings(origin.tls).map((warning) => (this.#fixed ? warning : `${origin.label}: ${warning}`)))
  }

  /** @internal The only origin of a single-target pool. */
  get first(): PoolOrigin {
    return this.#origins[0]!
  }

  /**
   * Each origin with its health, live connections and last probe, in the
   * order the targets were given.
   *
   * @example
   * app.get('/ops/origins', (c) => c.json(chat.status()))
   */
  status(): OriginStatus[] {
    return this.#origins.map((origin) => ({
      url: origin.label,
      priority: origin.priority,
      weight: origin.weight,
      health: origin.health,
      live: origin.live,
      failures: origin.failures,
      lastProbe: origin.lastProbe,
      downSince: origin.downSince,
    }))
  }

  /**
   * Starts the probes (each origin at once, then every `interval`) on the
   * host's prober and timers, and reports every health change to
   * `host.onChange`. A pool without probes only reports. The Node host's
   * `serve()` calls it for every pool in the app's routes before it
   * listens, and {@link stop} when it closes; a second `start()` (a second
   * gateway on the same app) shares the first host's probes, and each
   * `start()` needs its `stop()`.
   *
   * @example
   * pool.start({ probe: async (url) => ({ status: (await fetch(url)).status }), onChange: console.log })
   */
  start(host: OriginPoolHost): void {
    if (this.#fixed) return
    if (this.#starts++ > 0) return
    this.#host = host
    if (!this.#probe) return
    const generation = this.#generation
    for (const origin of this.#origins) void this.#probeOnce(origin, generation)
  }

  /** Stops the probes (one in flight is aborted) and the reports. Established connections are not touched. */
  stop(): void {
    if (this.#fixed || this.#starts === 0) return
    if (--this.#starts > 0) return
    this.#generation++
    const timers = this.#timers()
    for (const origin of this.#origins) {
      if (origin.timer !== undefined) timers.clearTimeout(origin.timer)
      origin.timer = undefined
      origin.probing?.abort()
      origin.probing = undefined
    }
    this.#host = undefined
  }

  /**
   * @internal The sticky key of a request, when the strategy hashes. Called once per request.
   * What a hash written in JavaScript may give is taken as its type says: `null` (what
   * `Headers.get()` answers for a missing header) falls back to weighted as `undefined` does,
   * a number is keyed by its text, anything else by no key (not all on one origin, not a 500).
   */
  keyOf(c: Context): string | undefined {
    const strategy = this.#strategy
    if (typeof strategy !== 'object') return undefined
    const key: unknown = strategy.hash(c)
    return typeof key === 'string' ? key : typeof key === 'number' ? String(key) : undefined
  }

  /**
   * @internal The origin for the next attempt: the healthy, untried origins
   * of the best priority, then the strategy. Undefined when none is left.
   */
  pick(key: string | undefined, tried?: readonly PoolOrigin[]): PoolOrigin | undefined {
    if (this.#fixed) return tried?.length ? undefined : this.#origins[0]
    let best = Infinity
    const candidates: PoolOrigin[] = []
    let now: number | undefined
    for (const origin of this.#origins) {
      if (origin.health === 'down') {
        // Without probes running, a passively downed origin comes back on trial after its cooldown.
        if (this.#host && this.#probe) continue
        now ??= this.#now()
        if (now - origin.downSince! < this.#cooldown) continue
        this.#change(origin, 'up', 'cooldown', `${this.#cooldown} ms without connections`)
        // Half-open: one more failure takes it down again at once.
        origin.failures = this.#fall - 1
      }
      if (tried?.includes(origin)) continue
      if (origin.priority < best) {
        best = origin.priority
        candidates.length = 0
      }
      if (origin.priority === best) candidates.push(origin)
    }
    if (candidates.length <= 1) return candidates[0]
    const strategy = this.#strategy
    if (strategy === 'least-connections') return leastConnections(candidates)
    if (typeof strategy === 'object' && key !== undefined) return rendezvous(candidates, key)
    return smoothWeighted(candidates)
  }

  /** @internal The 503 for a request when every origin is down: no connect attempt, a `Retry-After` for when one may be back. */
  downError(): GatewayError {
    let seconds: number
    if (this.#host && this.#probe) {
      seconds = this.#probe.interval / 1000
    } else {
      const now = this.#now()
      seconds = Math.min(...this.#origins.map((origin) => (this.#cooldown - (now - (origin.downSince ?? now))) / 1000))
    }
    return everyOriginDown(Math.max(1, Math.ceil(seconds)))
  }

  /** @internal A handshake (or request) to `origin` failed to connect or answered the upgrade with a 5xx. */
  failed(origin: PoolOrigin, reason: string): void {
    if (this.#fixed) return
    this.#fail(origin, 'passive', reason)
  }

  /** @internal `origin` answered a handshake (or request) without a 5xx. */
  succeeded(origin: PoolOrigin): void {
    if (this.#fixed) return
    this.#succeed(origin, 'passive', 'handshakes answered')
  }

  /** @internal A WebSocket connection to `origin` is live (counted for least-connections and status). */
  acquire(origin: PoolOrigin): void {
    origin.live++
  }

  /** @internal That connection has ended. */
  release(origin: PoolOrigin): void {
    origin.live--
  }

  #fail(origin: PoolOrigin, cause: OriginChange['cause'], reason: string): void {
    origin.successes = 0
    origin.failures++
    if (origin.health === 'up' && origin.failures >= this.#fall) this.#change(origin, 'down', cause, reason)
  }

  #succeed(origin: PoolOrigin, cause: OriginChange['cause'], reason: string): void {
    origin.failures = 0
    origin.successes++
    if (origin.health === 'down' && origin.successes >= this.#rise) this.#change(origin, 'up', cause, `${origin.successes} ${cause === 'probe' ? 'probes passed' : reason}`)
  }

  #change(origin: PoolOrigin, health: OriginHealth, cause: OriginChange['cause'], reason: string): void {
    const previous = origin.health
    const at = this.#now()
    origin.health = health
    origin.downSince = health === 'down' ? at : undefined
    if (health === 'up') origin.successes = 0
    this.#host?.onChange({ origin: origin.label, priority: origin.priority, health, previous, cause, reason, at })
  }

  async #probeOnce(origin: PoolOrigin, generation: number): Promise<void> {
    const host = this.#host!
    const probe = this.#probe!
    const timers = this.#timers()
    const controller = new AbortController()
    origin.probing = controller
    const url = new URL(probe.path, origin.base)
    let timedOut = false
    // A prober that ignores its signal and never settles must not stop this origin's probes for good: the timeout decides.
    let expire!: (error: Error) => void
    const expired = new Promise<never>((_, reject) => (expire = reject))
    const timer = timers.setTimeout(() => {
      timedOut = true
      controller.abort()
      expire(new Error('timeout'))
    }, probe.timeout)
    let result: ProbeResult
    try {
      const answer = Promise.resolve(host.probe(url, { method: probe.method, timeout: probe.timeout, tls: origin.tls, signal: controller.signal }))
      // Its late rejection, after the timeout won, is nobody's to handle.
      answer.catch(() => {})
      const { status } = await Promise.race([answer, expired])
      result = { at: 0, ok: status >= probe.expect[0] && status <= probe.expect[1], status }
    } catch (error) {
      result = { at: 0, ok: false, error: timedOut ? `timeout after ${probe.timeout} ms` : errorReason(error) }
    } finally {
      timers.clearTimeout(timer)
    }
    // Stopped meanwhile: the pool's host is gone (and may be another one by now).
    if (generation !== this.#generation) return
    origin.probing = undefined
    result.at = this.#now()
    origin.lastProbe = result
    if (result.ok) this.#succeed(origin, 'probe', '')
    else this.#fail(origin, 'probe', result.status !== undefined ? probeStatusReason(result.status, probe.expect) : `probe: ${result.error}`)
    origin.timer = timers.setTimeout(() => void this.#probeOnce(origin, generation), probe.interval)
  }

  #now(): number {
    return this.#host?.now?.() ?? Date.now()
  }

  #timers(): PoolTimers {
    return this.#host?.timers ?? GLOBAL_TIMERS
  }
}

const GLOBAL_TIMERS: PoolTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/**
 * A short reason for a failure: the error's code (`ECONNREFUSED`) or message.
 *
 * @example
 * errorReason(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) // 'ECONNREFUSED'
 */
export function errorReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  return error instanceof Error ? error.message : String(error)
}

/**
 * A pool of origins for one or more routes: `websocket()`, `http()` and
 * `proxy()` take it wherever they take a target. Within the best priority
 * that has a healthy origin, the strategy picks one; an origin of a lower
 * priority (higher number) gets traffic only while every origin above it is
 * down. Probes (`GET /` every 10 s by default, over TLS for `wss://`
 * origins) and failed handshakes (refused, reset, timed out, a 5xx answer)
 * take an origin down after `fall` failures in a row; `rise` passing probes
 * bring it back. A down origin gets no new connections; open ones are never
 * touched. A refused or timed-out origin is retried on the next one before
 * the client gets its answer (`retries`, within the handshake timeout);
 * with every origin down the client gets 503 `ERR_ORIGIN_DOWN` with
 * `Retry-After` at once. Bad targets or options throw a `TypeError` here.
 *
 * @param targets the origins: URLs, or `{ url, weight, priority, tls }`
 * @example
 * const chat = origins([
 *   { url: 'ws://10.0.0.5:9001', weight: 3 },
 *   { url: 'ws://10.0.0.6:9001', weight: 1 },
 *   { url: 'wss://standby.example.net', priority: 2 },
 * ], { probe: { path: '/healthz' } })
 * app.all('/chat', websocket(chat))
 */
export function origins(targets: readonly OriginTarget[], options: OriginsOptions = {}): OriginPool {
  const where = 'origins()'
  if (!Array.isArray(targets) || targets.length === 0) throw new TypeError(`${where}: targets must be a non-empty list of origin URLs or { url, weight, priority, tls }`)
  if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options must be an object`)
  assertOriginTls(options.tls, where)
  const members: PoolOrigin[] = []
  const seen = new Set<string>()
  // Which tls settings reach an https origin (on a ws:// or http:// one they are never used): each needs origin-tls.
  let poolTls = false
  let targetTls = false
  targets.forEach((target, index) => {
    const spec: OriginTargetOptions = typeof target === 'string' || target instanceof URL ? { url: target } : target
    if (spec === null || typeof spec !== 'object' || spec.url === undefined) {
      throw new TypeError(`${where}: targets[${index}] must be a URL or { url, weight, priority, tls }, got ${String(target)}`)
    }
    const base = parseTarget(spec.url, `${where} targets[${index}]`)
    if (seen.has(base.href)) throw new TypeError(`${where}: targets[${index}] (${String(spec.url)}) is listed twice; give it a larger weight instead`)
    seen.add(base.href)
    const weight = spec.weight ?? DEFAULT_ORIGIN_WEIGHT
    const priority = spec.priority ?? DEFAULT_ORIGIN_PRIORITY
    assertInteger(`targets[${index}].weight`, weight, 1, where)
    assertInteger(`targets[${index}].priority`, priority, 1, where)
    assertOriginTls(spec.tls, `${where} targets[${index}]`)
    const tls = options.tls || spec.tls ? { ...options.tls, ...spec.tls } : undefined
    members.push(new PoolOrigin(String(spec.url), base, weight, priority, base.protocol === 'https:' ? tls : undefined))
    if (base.protocol === 'https:') {
      poolTls ||= options.tls !== undefined
      targetTls ||= spec.tls !== undefined
    }
  })

  const strategy = options.strategy ?? 'weighted'
  if (strategy !== 'weighted' && strategy !== 'least-connections' && !(typeof strategy === 'object' && strategy !== null && typeof strategy.hash === 'function')) {
    throw new TypeError(`${where}: strategy must be 'weighted', 'least-connections' or { hash: (c) => key }, got ${JSON.stringify(strategy)}`)
  }
  const retries = options.retries ?? DEFAULT_ORIGIN_RETRIES
  assertInteger('retries', retries, 0, where)
  const cooldown = options.cooldown ?? DEFAULT_ORIGIN_COOLDOWN
  assertDuration('cooldown', cooldown, where)

  const probeOptions = options.probe ?? {}
  let probe: ProbeSettings | undefined
  let fall = DEFAULT_PROBE_FALL
  let rise = DEFAULT_PROBE_RISE
  if (probeOptions !== false) {
    if (probeOptions === null || typeof probeOptions !== 'object') throw new TypeError(`${where}: probe must be false or { path, method, interval, timeout, expect, fall, rise }`)
    const path = probeOptions.path ?? DEFAULT_PROBE_PATH
    // A backslash, tab or newline after the first "/" reads as "//" to the URL parser (ws/http are special schemes):
    // '/\\probe.example' would probe the host probe.example instead of the origin.
    if (typeof path !== 'string' || !path.startsWith('/') || new URL(path, 'http://origin.invalid').host !== 'origin.invalid') {
      throw new TypeError(`${where}: probe.path must be a path starting with one "/", e.g. '/healthz', got ${JSON.stringify(path)}`)
    }
    const method = probeOptions.method ?? 'GET'
    if (method !== 'GET' && method !== 'HEAD') throw new TypeError(`${where}: probe.method must be 'GET' or 'HEAD', got ${JSON.stringify(method)}`)
    const interval = probeOptions.interval ?? DEFAULT_PROBE_INTERVAL
    const timeout = probeOptions.timeout ?? Math.min(DEFAULT_PROBE_TIMEOUT, interval)
    assertDuration('probe.interval', interval, where)
    assertDuration('probe.timeout', timeout, where)
    if (timeout > interval) throw new TypeError(`${where}: probe.timeout (${timeout} ms) must not exceed probe.interval (${interval} ms)`)
    const expect = probeOptions.expect ?? DEFAULT_PROBE_EXPECT
    if (!Array.isArray(expect) || expect.length !== 2 || !expect.every((status) => Number.isInteger(status) && status >= 100 && status <= 599) || expect[0] > expect[1]) {
      throw new TypeError(`${where}: probe.expect must be an inclusive status range [min, max] within 100–599, e.g. [200, 399], got ${JSON.stringify(expect)}`)
    }
    fall = probeOptions.fall ?? DEFAULT_PROBE_FALL
    rise = probeOptions.rise ?? DEFAULT_PROBE_RISE
    assertInteger('probe.fall', fall, 1, where)
    assertInteger('probe.rise', rise, 1, where)
    probe = { path, method, interval, timeout, expect: [expect[0], expect[1]] }
  }
  // Probes are on by default, so an unset `probe` needs them too; only `probe: false` needs nothing.
  const needs = [
    probe !== undefined && hostNeed('active-probes', 'origins', 'probe'),
    strategy === 'least-connections' && hostNeed('connection-tracking', 'origins', "strategy: 'least-connections'"),
    poolTls && hostNeed('origin-tls', 'origins', 'tls'),
    targetTls && ({ capability: 'origin-tls', option: 'origins([{ url, tls }])' } as const),
  ].filter((need): need is HostNeed => need !== false)
  return new OriginPool(members, strategy, probe, fall, rise, retries, cooldown, false, needs)
}

/**
 * The pool behind a handler's target: the pool itself, or a one-origin pool
 * for a plain URL (verified as `tls` says when it is `wss://`/`https://`).
 * Throws a `TypeError` naming `caller` for a bad target or `tls`, and for
 * `tls` given with a pool (it belongs to `origins()`).
 *
 * @example
 * const pool = toPool(target, 'websocket()', options.tls) // in the factory
 */
export function toPool(target: string | URL | OriginPool, caller: string, tls?: OriginTls): OriginPool {
  assertOriginTls(tls, caller)
  if (!(target instanceof OriginPool)) return OriginPool.single(target, caller, tls)
  if (tls !== undefined) throw new TypeError(`${caller}: with a pool, give tls to origins() (for all targets, or per target), not to the route`)
  return target
}

/**
 * Attaches the pools a handler uses to the handler, for the host to find in
 * the app's routes and start (nothing for a plain target's one-origin pool),
 * and what their settings ask of the host (`withHostNeeds`), so that a host
 * without probes, say, refuses the route that uses the pool.
 *
 * @example
 * return withPools(handler, [pool])
 */
export function withPools<T extends object>(handler: T, pools: readonly OriginPool[]): T {
  const started = pools.filter((pool) => !pool.fixed)
  if (started.length > 0) Object.defineProperty(handler, POOLS, { value: started, enumerable: false })
  return withHostNeeds(handler, pools.flatMap((pool) => pool.hostNeeds))
}

/**
 * The pools a handler carries (see {@link withPools}); empty for anything else.
 *
 * @example
 * for (const route of app.routes) for (const pool of poolsOf(route.handler)) pool.start(host)
 */
export function poolsOf(handler: unknown): readonly OriginPool[] {
  return (typeof handler === 'function' && (handler as unknown as Record<string, unknown>)[POOLS]) ? (handler as unknown as Record<typeof POOLS, OriginPool[]>)[POOLS] : []
}

function assertInteger(name: string, value: unknown, min: number, where: string): void {
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= min)) {
    throw new TypeError(`${where}: ${name} must be an integer of at least ${min}, got ${String(value)}`)
  }
}

/**
 * Why a probe's status failed it. A 426 is what WebSocket-only servers (`ws`,
 * many others) answer a plain GET: the origin is probably fine and the probe
 * is misconfigured, so the reason says how to fix it.
 */
function probeStatusReason(status: number, expect: readonly [number, number]): string {
  const base = `probe: status ${status}, expected ${expect[0]}–${expect[1]}`
  return status === 426 ? `${base} (a WebSocket-only origin answers 426 to plain GET: set probe.path to a health URL, or probe.expect to [426, 426])` : base
}
