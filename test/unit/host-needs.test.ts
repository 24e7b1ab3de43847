import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import {
  assertHostCapabilities,
  HOST_CAPABILITIES,
  HostCapabilityError,
  hostNeed,
  hostNeedsOf,
  unmetHostNeeds,
  withHostNeeds,
  type HostCapability,
  type HostNeed,
} from '../../src/host-needs.ts'
import { http } from '../../src/http.ts'
import { origins } from '../../src/origins/pool.ts'
import { proxy } from '../../src/proxy.ts'
import { websocket } from '../../src/websocket.ts'
import { nodeCrypto } from '../../src/node/native-crypto.ts'
import { cache } from '../../middleware/cache.ts'
import { cacheBypass } from '../../middleware/cache-bypass.ts'
import { jwtAuth, type JwtAuthOptions } from '../../middleware/jwt-auth/index.ts'
import { normalizeHeaders } from '../../middleware/normalize-headers.ts'
import { originCheck } from '../../middleware/origin-check.ts'
import { rateLimit } from '../../middleware/rate-limit.ts'
import { waf } from '../../middleware/waf/index.ts'

// Each factory is called with real options and the needs its handler
// carries are read back: what a host compares with what it provides.

const WS = 'ws://127.0.0.1:9001'
const WSS = 'wss://origin.test'
const TLS = { servername: 'origin.internal' }
const JWT: JwtAuthOptions = { secret: 'a-shared-secret-of-32-bytes-ok!!', algorithms: ['HS256'] }

/** The needs of a handler as `capability option` lines, easy to read in a failed assertion. */
function needs(handler: unknown): string[] {
  return hostNeedsOf(handler).map((need) => `${need.capability} ${need.option}`)
}

/** A host that provides every capability but `missing`. */
function without(...missing: HostCapability[]): Set<HostCapability> {
  return new Set((Object.keys(HOST_CAPABILITIES) as HostCapability[]).filter((capability) => !missing.includes(capability)))
}

describe('websocket() and proxy() options', () => {
  it('need nothing when every option is left at its default', () => {
    expect(needs(websocket(WS))).toEqual([])
    expect(needs(proxy(WS))).toEqual([])
  })

  it('need pipe-timers for each pipe limit given, connection-tracking for maxConnections and close-frames for closeFrames: true', () => {
    const options = { idleTimeout: 60_000, maxLifetime: 3_600_000, lifetimeJitter: 0.1, maxConnections: 100, closeFrames: true }
    expect(needs(websocket(WS, options))).toEqual([
      'pipe-timers websocket({ idleTimeout })',
      'pipe-timers websocket({ maxLifetime })',
      'pipe-timers websocket({ lifetimeJitter })',
      'connection-tracking websocket({ maxConnections })',
      'close-frames websocket({ closeFrames: true })',
    ])
  })

  it('names proxy() in what proxy() needs, not the websocket() inside it', () => {
    expect(needs(proxy(WS, { idleTimeout: 60_000, maxConnections: 10, timeout: 5_000 }))).toEqual([
      'pipe-timers proxy({ idleTimeout })',
      'connection-tracking proxy({ maxConnections })',
    ])
  })

  it('need nothing for closeFrames: false, which asks for no close frames of the gateway', () => {
    expect(needs(websocket(WS, { closeFrames: false }))).toEqual([])
  })

  it('need nothing for the options every host honours (handshakeTimeout, retryAfter, appendPath, appendQuery, preserveHost)', () => {
    const options = { handshakeTimeout: 5_000, retryAfter: 10, appendPath: false, appendQuery: false, preserveHost: true }
    expect(needs(websocket(WS, options))).toEqual([])
    expect(needs(proxy(WS, options))).toEqual([])
  })

  it('need origin-tls for tls on a wss:// target, and nothing for tls on a ws:// target, where it is never used', () => {
    expect(needs(websocket(WSS, { tls: TLS }))).toEqual(['origin-tls websocket({ tls })'])
    expect(needs(proxy(WSS, { tls: TLS }))).toEqual(['origin-tls proxy({ tls })'])
    expect(needs(websocket(WS, { tls: TLS }))).toEqual([])
  })
})

describe('http() options', () => {
  it('need nothing at their defaults or for timeout', () => {
    expect(needs(http('http://127.0.0.1:9000'))).toEqual([])
    expect(needs(http('http://127.0.0.1:9000', { timeout: 5_000, preserveHost: true }))).toEqual([])
  })

  it('need origin-tls for tls on an https:// target', () => {
    expect(needs(http('https://origin.test', { tls: { rejectUnauthorized: false } }))).toEqual(['origin-tls http({ tls })'])
  })
})

describe('origins() options', () => {
  it('need active-probes by default, since probes are on unless probe: false', () => {
    expect(origins([WS]).hostNeeds).toEqual([{ capability: 'active-probes', option: 'origins({ probe })' }])
    expect(origins([WS], { probe: { path: '/healthz' } }).hostNeeds).toEqual([{ capability: 'active-probes', option: 'origins({ probe })' }])
  })

  it('need nothing with probe: false and the weighted or hash strategies', () => {
    expect(origins([WS], { probe: false }).hostNeeds).toEqual([])
    expect(origins([WS], { probe: false, strategy: 'weighted', retries: 1, cooldown: 5_000 }).hostNeeds).toEqual([])
    expect(origins([WS], { probe: false, strategy: { hash: () => 'k' } }).hostNeeds).toEqual([])
  })

  it("need connection-tracking for strategy: 'least-connections'", () => {
    expect(origins([WS], { probe: false, strategy: 'least-connections' }).hostNeeds).toEqual([
      { capability: 'connection-tracking', option: "origins({ strategy: 'least-connections' })" },
    ])
  })

  it('need origin-tls for the pool-wide and per-target tls that reach a wss:// origin, and nothing for tls over ws:// only', () => {
    expect(origins([WSS], { probe: false, tls: TLS }).hostNeeds).toEqual([{ capability: 'origin-tls', option: 'origins({ tls })' }])
    expect(origins([WS, { url: WSS, tls: TLS }], { probe: false }).hostNeeds).toEqual([{ capability: 'origin-tls', option: 'origins([{ url, tls }])' }])
    expect(origins([WS, { url: 'ws://127.0.0.1:9002', tls: TLS }], { probe: false, tls: TLS }).hostNeeds).toEqual([])
  })

  it("reach the handler that uses the pool: websocket(pool), http(pool) and proxy(pool), beside the handler's own", () => {
    const pool = origins([WS, 'ws://127.0.0.1:9002'], { strategy: 'least-connections' })
    const poolNeeds = ['active-probes origins({ probe })', "connection-tracking origins({ strategy: 'least-connections' })"]
    expect(needs(websocket(pool, { idleTimeout: 1_000 }))).toEqual([...poolNeeds, 'pipe-timers websocket({ idleTimeout })'])
    expect(needs(http(pool))).toEqual(poolNeeds)
    expect(needs(proxy(pool))).toEqual(poolNeeds)
  })
})

describe('middleware options', () => {
  it('jwtAuth() needs close-frames for closeOnTokenExpiry: true and nothing for false or by default', () => {
    expect(needs(jwtAuth(JWT))).toEqual([])
    expect(needs(jwtAuth({ ...JWT, closeOnTokenExpiry: false }))).toEqual([])
    expect(needs(jwtAuth({ ...JWT, closeOnTokenExpiry: true }))).toEqual(['close-frames jwtAuth({ closeOnTokenExpiry: true })'])
  })

  it("jwtAuth() needs node-crypto for verifyWith: 'node:crypto' unless the route brings its own crypto", () => {
    expect(needs(jwtAuth({ ...JWT, verifyWith: 'node:crypto' }))).toEqual(["node-crypto jwtAuth({ verifyWith: 'node:crypto' })"])
    expect(needs(jwtAuth({ ...JWT, verifyWith: 'node:crypto', crypto: nodeCrypto }))).toEqual([])
    expect(needs(jwtAuth({ ...JWT, verifyWith: 'webcrypto' }))).toEqual([])
  })

  it('rateLimit() needs connection-tracking for maxConnectionsPerIp, and nothing for the token bucket', () => {
    expect(needs(rateLimit({ burst: 5, refillPerSecond: 2, key: { header: 'x-api-key' } }))).toEqual([])
    expect(needs(rateLimit({ maxConnectionsPerIp: 20 }))).toEqual(['connection-tracking rateLimit({ maxConnectionsPerIp })'])
  })

  it("waf() needs running-clock for budgetMs and onBudgetExceeded on the host's clock, and nothing with its own now", () => {
    expect(needs(waf({ paranoia: 2, detectionOnly: true }))).toEqual([])
    expect(needs(waf({ budgetMs: 20, onBudgetExceeded: 'pass' }))).toEqual(['running-clock waf({ budgetMs })', 'running-clock waf({ onBudgetExceeded })'])
    expect(needs(waf({ budgetMs: 20, now: () => 0 }))).toEqual([])
  })

  it('normalizeHeaders(), originCheck(), cache() and cacheBypass() need nothing, whatever their options', () => {
    expect(needs(normalizeHeaders({ trustedProxies: ['10.0.0.0/8'], preserveHost: true }))).toEqual([])
    expect(needs(originCheck({ allowedOrigins: ['https://app.example.com'], allowMissing: true }))).toEqual([])
    expect(needs(cache({ maxSize: 1_000_000, maxEntrySize: 1_000 }))).toEqual([])
    expect(needs(cacheBypass({ when: () => true }))).toEqual([])
  })
})

describe('withHostNeeds() and hostNeedsOf()', () => {
  it('attaches needs that spreading or JSON does not copy, drops falsy entries and merges with those already attached, once each', () => {
    const handler = withHostNeeds(() => {}, [hostNeed('pipe-timers', 'websocket', 'idleTimeout'), false, undefined])
    expect(Object.keys(handler)).toEqual([])
    withHostNeeds(handler, [hostNeed('pipe-timers', 'websocket', 'idleTimeout'), hostNeed('origin-tls', 'websocket', 'tls')])
    expect(needs(handler)).toEqual(['pipe-timers websocket({ idleTimeout })', 'origin-tls websocket({ tls })'])
  })

  it('finds nothing on a handler without needs, or on something that is no handler', () => {
    expect(hostNeedsOf(() => {})).toEqual([])
    expect(hostNeedsOf(undefined)).toEqual([])
    expect(hostNeedsOf('websocket')).toEqual([])
  })
})

describe('unmetHostNeeds() over app.routes', () => {
  /** An app with global middleware, middleware before terminal handlers, and routes with and without such options. */
  function app(): Hono {
    const app = new Hono()
    app.use(normalizeHeaders())
    app.all('/plain', websocket(WS))
    app.all('/chat', jwtAuth({ ...JWT, closeOnTokenExpiry: true }), rateLimit({ maxConnectionsPerIp: 5 }), websocket(WS, { idleTimeout: 60_000 }))
    app.get('/api/*', http(origins(['http://10.0.0.8:9000', 'http://10.0.0.9:9000'])))
    app.get('/healthz', (c) => c.text('ok'))
    return app
  }

  it('lists each setting a host without the capability cannot honour, with its route, in route order', () => {
    expect(unmetHostNeeds(app().routes, new Set())).toEqual([
      { method: 'ALL', path: '/chat', need: { capability: 'close-frames', option: 'jwtAuth({ closeOnTokenExpiry: true })' } },
      { method: 'ALL', path: '/chat', need: { capability: 'connection-tracking', option: 'rateLimit({ maxConnectionsPerIp })' } },
      { method: 'ALL', path: '/chat', need: { capability: 'pipe-timers', option: 'websocket({ idleTimeout })' } },
      { method: 'GET', path: '/api/*', need: { capability: 'active-probes', option: 'origins({ probe })' } },
    ])
  })

  it('leaves out what the host provides, and is empty for a host that provides everything', () => {
    expect(unmetHostNeeds(app().routes, without('pipe-timers')).map(({ path, need }) => `${path} ${need.option}`)).toEqual(['/chat websocket({ idleTimeout })'])
    expect(unmetHostNeeds(app().routes, without())).toEqual([])
  })

  it('lists a middleware instance once per route it guards, and a route under app.use() by its pattern', () => {
    const shared = rateLimit({ maxConnectionsPerIp: 5 })
    const app = new Hono()
    app.use('/live/*', shared)
    app.all('/a', shared, websocket(WS))
    app.all('/b', shared, websocket(WS))
    expect(unmetHostNeeds(app.routes, new Set()).map(({ method, path }) => `${method} ${path}`)).toEqual(['ALL /live/*', 'ALL /a', 'ALL /b'])
  })

  it('looks through the wrapper Hono puts around the handlers of a sub-app with its own error handler', () => {
    const sub = new Hono()
    sub.onError((error, c) => c.text(error.message, 500))
    sub.all('/feed', websocket(WS, { maxLifetime: 60_000 }))
    const app = new Hono()
    app.route('/v1', sub)
    expect(unmetHostNeeds(app.routes, new Set())).toEqual([{ method: 'ALL', path: '/v1/feed', need: { capability: 'pipe-timers', option: 'websocket({ maxLifetime })' } }])
  })
})

describe('assertHostCapabilities()', () => {
  it('returns quietly when the host provides every capability the routes need', () => {
    const app = new Hono()
    app.all('/chat', websocket(WS, { idleTimeout: 60_000 }))
    expect(() => assertHostCapabilities(app.routes, without(), 'the Node host')).not.toThrow()
    expect(() => assertHostCapabilities(new Hono().routes, new Set(), 'Cloudflare Workers')).not.toThrow()
  })

  it('throws ERR_HOST_UNSUPPORTED naming each route, setting and capability, then the way out for each capability missing', () => {
    const app = new Hono()
    app.all('/chat', websocket(WS, { idleTimeout: 60_000, maxLifetime: 3_600_000 }))
    app.get('/api/*', http(origins(['http://10.0.0.8:9000'])))
    let error: unknown
    try {
      assertHostCapabilities(app.routes, new Set(['origin-tls']), 'Cloudflare Workers')
    } catch (thrown) {
      error = thrown
    }
    expect(error).toBeInstanceOf(HostCapabilityError)
    expect(error).toBeInstanceOf(Error)
    const refused = error as HostCapabilityError
    expect(refused.code).toBe('ERR_HOST_UNSUPPORTED')
    expect(refused.name).toBe('HostCapabilityError')
    expect(refused.host).toBe('Cloudflare Workers')
    expect(refused.unmet).toHaveLength(3)
    expect(refused.message).toBe(
      [
        'Cloudflare Workers cannot honour 3 route settings of this app:',
        'ALL /chat: websocket({ idleTimeout }) needs pipe-timers, which Cloudflare Workers does not provide',
        'ALL /chat: websocket({ maxLifetime }) needs pipe-timers, which Cloudflare Workers does not provide',
        'GET /api/*: origins({ probe }) needs active-probes, which Cloudflare Workers does not provide',
        'Without them:',
        "pipe-timers: leave idleTimeout, maxLifetime and lifetimeJitter unset: the host's own limits then apply",
        'active-probes: set origins({ probe: false }) (probes are on by default): failed handshakes still take an origin down for its cooldown',
      ].join('\n'),
    )
  })

  it('says "a route setting" when there is one', () => {
    const app = new Hono()
    app.all('/chat', jwtAuth({ ...JWT, verifyWith: 'node:crypto' }), websocket(WS))
    expect(() => assertHostCapabilities(app.routes, new Set(), 'Cloudflare Workers')).toThrow(
      /^Cloudflare Workers cannot honour a route setting of this app:\nALL \/chat: jwtAuth\(\{ verifyWith: 'node:crypto' \}\) needs node-crypto, which Cloudflare Workers does not provide\n/,
    )
  })
})

describe('HOST_CAPABILITIES', () => {
  it('describes every capability a factory names, with the way out without it', () => {
    const named: HostNeed[] = [
      ...hostNeedsOf(websocket(WSS, { idleTimeout: 1, maxConnections: 1, closeFrames: true, tls: TLS })),
      ...origins([WS]).hostNeeds,
      ...hostNeedsOf(jwtAuth({ ...JWT, verifyWith: 'node:crypto' })),
      ...hostNeedsOf(waf({ budgetMs: 1 })),
    ]
    expect(new Set(named.map((need) => need.capability))).toEqual(new Set(Object.keys(HOST_CAPABILITIES)))
    for (const info of Object.values(HOST_CAPABILITIES)) expect(info.without).not.toBe('')
  })
})
