/**
 * What a route asks of the host that runs it. The same routes run on the
 * Node host, which owns every socket, and on hosts that only see requests
 * (Cloudflare Workers, where Cloudflare runs the pipe after the upgrade).
 * A factory knows which of its settings only a socket-owning host can
 * honour, but not which host it will run on; so, like start-up warnings
 * (`withWarnings`) and pools (`withPools`), it attaches those needs to the
 * handler it returns, and the host compares them with what it provides
 * before it serves, refusing to start rather than ignore a setting.
 *
 * Only settings the user gave need anything: an option left unset means
 * "the host's own behaviour", which every host has. The exception is a
 * default that itself needs a capability: `origins()` probes, which are on
 * unless `probe: false`. Portable: no `node:` import.
 */
import { COMPOSED_HANDLER } from 'hono/utils/constants'

/**
 * Something a host may or may not provide to the routes it runs. Each
 * member is described, with the way out for a host without it, in
 * {@link HOST_CAPABILITIES}.
 */
export type HostCapability =
  | 'pipe-timers'
  | 'close-frames'
  | 'connection-tracking'
  | 'origin-tls'
  | 'active-probes'
  | 'node-crypto'
  | 'running-clock'

/** What a {@link HostCapability} means, and what a route can do without it. */
export interface HostCapabilityInfo {
  /** What the host does when it provides the capability. */
  readonly meaning: string
  /** How to change the routes for a host without it (the end of the start-up error). */
  readonly without: string
}

/**
 * Every capability a route can need, with what it means and the way out
 * without it; the keys are every {@link HostCapability}, for a host that
 * provides all of them (the Node host). The README's table of what runs
 * where says the same.
 *
 * @example
 * assertHostCapabilities(app.routes, new Set(Object.keys(HOST_CAPABILITIES) as HostCapability[]), 'the Node host') // never throws
 */
export const HOST_CAPABILITIES: Readonly<Record<HostCapability, HostCapabilityInfo>> = {
  'pipe-timers': {
    meaning: "the gateway's own timers on an open connection: idle timeout, maximum lifetime and its jitter",
    without: "leave idleTimeout, maxLifetime and lifetimeJitter unset: the host's own limits then apply",
  },
  'close-frames': {
    // The pipe has to follow frame boundaries to put a close frame between two of the peers' frames.
    meaning: 'the gateway ending an open connection by itself with a close frame (it follows frame boundaries on the pipe)',
    without: 'leave closeFrames and closeOnTokenExpiry unset: a connection then lives until a peer or the host closes it',
  },
  'connection-tracking': {
    meaning: 'knowing when each WebSocket connection ends, to count open connections',
    without: "leave maxConnections and maxConnectionsPerIp unset, and pick origins with strategy 'weighted' or { hash }",
  },
  'origin-tls': {
    meaning: 'per-origin TLS settings for wss:// and https:// origins: ca, servername, rejectUnauthorized',
    without: "leave tls unset: origins are then verified against the host's CAs, by the host name of their URL",
  },
  'active-probes': {
    meaning: 'timers that run between requests, for the health probes of origins() pools',
    without: 'set origins({ probe: false }) (probes are on by default): failed handshakes still take an origin down for its cooldown',
  },
  'node-crypto': {
    meaning: "node:crypto injected by the host (GatewayRuntime.crypto), for jwtAuth's synchronous signature checks",
    without: "leave verifyWith unset (or 'webcrypto'), or pass jwtAuth({ crypto })",
  },
  'running-clock': {
    // Cloudflare Workers stops the clock while code runs (a Spectre mitigation); it moves only across I/O.
    meaning: 'a clock that advances during synchronous work, so a time budget checked between WAF rules can run out',
    without: "leave budgetMs and onBudgetExceeded unset (the host's CPU limit bounds an evaluation), or give waf({ now }) a clock",
  },
}

/** One setting of a route that needs a capability of the host. */
export interface HostNeed {
  /** What the host must provide. */
  readonly capability: HostCapability
  /** The setting as the user wrote it, e.g. `websocket({ idleTimeout })`, `origins({ probe })`. */
  readonly option: string
}

/** The property under which a handler carries its needs (not enumerable, so spreading a handler does not copy it). */
export const HOST_NEEDS = 'hostNeeds'

/**
 * A {@link HostNeed} for one setting of one factory, with the option named
 * the way every message names it: `factory({ setting })`.
 *
 * @param factory the factory's name, without parentheses, e.g. `websocket`
 * @param setting the option, with its value where only some values need the capability, e.g. `idleTimeout`, `closeFrames: true`
 * @example
 * hostNeed('pipe-timers', 'websocket', 'idleTimeout') // { capability: 'pipe-timers', option: 'websocket({ idleTimeout })' }
 */
export function hostNeed(capability: HostCapability, factory: string, setting: string): HostNeed {
  return { capability, option: `${factory}({ ${setting} })` }
}

/**
 * Attaches `needs` (the ones that apply, falsy entries dropped) to a
 * handler, beside the needs it already carries, and returns it. Attach
 * them to the handler that lands in the app's routes: the terminal
 * handler, or the middleware itself.
 *
 * @example
 * return withHostNeeds(handler, [options.idleTimeout !== undefined && hostNeed('pipe-timers', 'websocket', 'idleTimeout')])
 */
export function withHostNeeds<T extends object>(handler: T, needs: readonly (HostNeed | false | undefined)[]): T {
  const merged = uniqueNeeds([...ownNeeds(handler), ...needs.filter((need): need is HostNeed => typeof need === 'object' && need !== null)])
  // Configurable, so that a later call (e.g. proxy() adding to what a pool attached) can replace the list.
  if (merged.length > 0) Object.defineProperty(handler, HOST_NEEDS, { value: Object.freeze(merged), enumerable: false, configurable: true })
  return handler
}

/**
 * The needs a handler carries (see {@link withHostNeeds}); empty for
 * anything else. A handler Hono wrapped when it mounted a sub-app with its
 * own error handler (`app.route()`) is looked through.
 *
 * @example
 * for (const route of app.routes) for (const need of hostNeedsOf(route.handler)) console.log(route.path, need.option)
 */
export function hostNeedsOf(handler: unknown): readonly HostNeed[] {
  const found: HostNeed[] = []
  // Bounded: a wrapper is one level per mounted sub-app, and a cycle someone built by hand must not hang the host's start.
  for (let current = handler, depth = 0; (typeof current === 'function' || (typeof current === 'object' && current !== null)) && depth < 16; depth++) {
    found.push(...ownNeeds(current))
    current = (current as Record<string, unknown>)[COMPOSED_HANDLER]
  }
  return uniqueNeeds(found)
}

/** One setting of one route that the host cannot honour. */
export interface UnmetHostNeed {
  /** The route's method as Hono lists it (`ALL` for `app.all()` and `app.use()`). */
  method: string
  /** The route's pattern, e.g. `/chat`, `/api/*`. */
  path: string
  need: HostNeed
}

/**
 * The settings in `routes` that need a capability not in `provided`, in
 * route order, each (method, path, need) once.
 *
 * @param routes what Hono's `app.routes` gives: every handler of every route, middleware included
 * @example
 * unmetHostNeeds(app.routes, new Set(['origin-tls'])) // [{ method: 'ALL', path: '/chat', need: { capability: 'pipe-timers', option: 'websocket({ idleTimeout })' } }]
 */
export function unmetHostNeeds(
  routes: readonly { method: string; path: string; handler: unknown }[],
  provided: ReadonlySet<HostCapability>,
): UnmetHostNeed[] {
  const unmet: UnmetHostNeed[] = []
  const seen = new Set<string>()
  for (const { method, path, handler } of routes) {
    for (const need of hostNeedsOf(handler)) {
      if (provided.has(need.capability)) continue
      const key = `${method} ${path}\u0000${need.capability}\u0000${need.option}`
      if (seen.has(key)) continue
      seen.add(key)
      unmet.push({ method, path, need })
    }
  }
  return unmet
}

/**
 * Thrown at start when a route has settings its host cannot honour: one
 * line per setting (`METHOD path: option needs capability, which host does
 * not provide`), then the way out for each capability missing.
 */
export class HostCapabilityError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'ERR_HOST_UNSUPPORTED'
  /** The host that refused, e.g. `Cloudflare Workers`. */
  readonly host: string
  /** Every setting it cannot honour. */
  readonly unmet: readonly UnmetHostNeed[]

  constructor(host: string, unmet: readonly UnmetHostNeed[]) {
    const lines = unmet.map(({ method, path, need }) => `${method} ${path}: ${need.option} needs ${need.capability}, which ${host} does not provide`)
    const missing = [...new Set(unmet.map(({ need }) => need.capability))]
    const ways = missing.map((capability) => `${capability}: ${HOST_CAPABILITIES[capability].without}`)
    const count = unmet.length === 1 ? 'a route setting' : `${unmet.length} route settings`
    super(`${host} cannot honour ${count} of this app:\n${lines.join('\n')}\nWithout them:\n${ways.join('\n')}`)
    this.name = 'HostCapabilityError'
    this.host = host
    this.unmet = unmet
  }
}

/**
 * Throws a {@link HostCapabilityError} listing every setting in `routes`
 * that needs a capability not in `provided`; returns quietly when there is
 * none. A host calls it once, before it serves.
 *
 * @param hostName the host as the message names it, e.g. `Cloudflare Workers`
 * @example
 * assertHostCapabilities(app.routes, new Set(['origin-tls']), 'Cloudflare Workers')
 * // HostCapabilityError: Cloudflare Workers cannot honour a route setting of this app:
 * // ALL /chat: websocket({ idleTimeout }) needs pipe-timers, which Cloudflare Workers does not provide
 * // Without them:
 * // pipe-timers: leave idleTimeout, maxLifetime and lifetimeJitter unset: the host's own limits then apply
 */
export function assertHostCapabilities(
  routes: readonly { method: string; path: string; handler: unknown }[],
  provided: ReadonlySet<HostCapability>,
  hostName: string,
): void {
  const unmet = unmetHostNeeds(routes, provided)
  if (unmet.length > 0) throw new HostCapabilityError(hostName, unmet)
}

/** The needs attached to this very handler, not to one it wraps. */
function ownNeeds(handler: unknown): readonly HostNeed[] {
  const needs = (handler as Record<string, unknown> | null | undefined)?.[HOST_NEEDS]
  return Array.isArray(needs) ? (needs as HostNeed[]) : []
}

/** `needs` without repeats (same capability, same option), in first-seen order. */
function uniqueNeeds(needs: readonly HostNeed[]): HostNeed[] {
  const seen = new Set<string>()
  return needs.filter((need) => {
    const key = `${need.capability}\u0000${need.option}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}
