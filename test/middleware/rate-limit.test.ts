import { Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import { describe, expect, it } from 'vitest'
import { normalizeHeaders } from '../../middleware/normalize-headers.ts'
import { rateLimit, type RateLimitEnv, type RateLimitOptions } from '../../middleware/rate-limit.ts'
import { MemoryStore, type RateLimitStore } from '../../src/limit-store.ts'
import type { GatewayBindings, GatewayRuntime, HandshakeNote } from '../../src/runtime.ts'

/** A wsgate runtime for one request: records notes and close listeners, has no origin. */
interface FakeRuntime extends GatewayRuntime {
  readonly notes: HandshakeNote[]
  /** Runs the connection-close listeners, as the runtime does when the connection ends. */
  closeConnection(): void
}

function fakeRuntime(clientAddress: string): FakeRuntime {
  const notes: HandshakeNote[] = []
  const listeners: (() => void)[] = []
  return {
    clientAddress,
    httpVersion: '1.1',
    rawTarget: '/chat',
    rawHeaders: [],
    requestId: 'test-request',
    handshakeTimeout: 10_000,
    upgrade: undefined,
    note: (note) => void notes.push(note),
    onConnectionClose: (listener) => void listeners.push(listener),
    connectOrigin: () => Promise.reject(new Error('no origin in tier-1 tests')),
    notes,
    closeConnection: () => {
      for (const listener of listeners.splice(0)) listener()
    },
  }
}

/** A clock the test moves by hand, ms since the epoch. */
function manualClock(start = Date.UTC(2024, 5, 10, 12)): { now: () => number; advance(ms: number): void } {
  let time = start
  return { now: () => time, advance: (ms) => void (time += ms) }
}

/**
 * An app with `rateLimit(options)` on `/chat` before a handler that answers
 * 200. A `x-test-sub` header stands in for `jwtAuth()`: it becomes
 * `jwtPayload.sub`, as a verified token's would.
 */
function limitedApp(options: RateLimitOptions) {
  const app = new Hono<RateLimitEnv>()
  const fakeJwtAuth = createMiddleware<RateLimitEnv>(async function fakeJwtAuth(c, next) {
    const sub = c.req.header('x-test-sub')
    if (sub !== undefined) c.set('jwtPayload', { sub, iss: 'https://auth.example.com/' })
    await next()
  })
  app.all('/chat', fakeJwtAuth, rateLimit(options), (c) => c.text('admitted'))
  return {
    /** One handshake from `ip` with `headers`; returns the response and the runtime it ran with. */
    async handshake(ip = '203.0.113.7', headers: Record<string, string> = {}): Promise<{ response: Response; runtime: FakeRuntime }> {
      const runtime = fakeRuntime(ip)
      const env: GatewayBindings = { wsgate: runtime }
      const response = await app.request('http://gw.example/chat', { headers: { upgrade: 'websocket', ...headers } }, env)
      return { response, runtime }
    },
  }
}

/** Asserts a 429 with its code, reason and `Retry-After`. */
async function expectLimited(response: Response, code: string, retryAfter: string, reason: RegExp): Promise<void> {
  expect(response.status).toBe(429)
  expect(response.headers.get('x-wsgate-error')).toBe(code)
  expect(response.headers.get('retry-after')).toBe(retryAfter)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
  const body = await response.text()
  expect(body).toMatch(reason)
  expect(body.trimEnd().split('\n')).toHaveLength(1)
}

async function statuses(handshakes: Promise<{ response: Response }>[]): Promise<number[]> {
  return (await Promise.all(handshakes)).map(({ response }) => response.status)
}

describe('rateLimit(): handshake rate', () => {
  it('admits a burst of `burst` handshakes, then answers 429 ERR_RATE_LIMITED with Retry-After', async () => {
    const clock = manualClock()
    const app = limitedApp({ burst: 3, refillPerSecond: 1, now: clock.now })
    for (let i = 0; i < 3; i++) {
      const { response } = await app.handshake()
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('admitted')
    }
    const { response } = await app.handshake()
    await expectLimited(response, 'ERR_RATE_LIMITED', '1', /^too many handshakes, retry in 1 s$/m)
  })

  it('earns one handshake back per 1/refillPerSecond seconds, counting down Retry-After meanwhile', async () => {
    const clock = manualClock()
    const app = limitedApp({ burst: 2, refillPerSecond: 0.5, now: clock.now })
    expect(await statuses([app.handshake(), app.handshake()])).toEqual([200, 200])
    await expectLimited((await app.handshake()).response, 'ERR_RATE_LIMITED', '2', /retry in 2 s/)
    clock.advance(1_000)
    await expectLimited((await app.handshake()).response, 'ERR_RATE_LIMITED', '1', /retry in 1 s/)
    clock.advance(999)
    // 1 ms short of a token still means "retry in 1 s", never 0.
    await expectLimited((await app.handshake()).response, 'ERR_RATE_LIMITED', '1', /retry in 1 s/)
    clock.advance(1)
    expect((await app.handshake()).response.status).toBe(200)
    await expectLimited((await app.handshake()).response, 'ERR_RATE_LIMITED', '2', /retry in 2 s/)
  })

  it('rounds a fractional wait up to whole seconds in Retry-After', async () => {
    const clock = manualClock()
    const fast = limitedApp({ burst: 1, refillPerSecond: 3, now: clock.now })
    expect((await fast.handshake()).response.status).toBe(200)
    // One token takes 1/3 s.
    expect((await fast.handshake()).response.headers.get('retry-after')).toBe('1')

    const slow = limitedApp({ burst: 1, refillPerSecond: 0.1, now: clock.now })
    expect((await slow.handshake()).response.status).toBe(200)
    expect((await slow.handshake()).response.headers.get('retry-after')).toBe('10')
    clock.advance(4_500)
    expect((await slow.handshake()).response.headers.get('retry-after')).toBe('6')
  })

  it('never refills beyond the burst, however long a client stays away', async () => {
    const clock = manualClock()
    const app = limitedApp({ burst: 2, refillPerSecond: 1, now: clock.now })
    expect(await statuses([app.handshake(), app.handshake(), app.handshake()])).toEqual([200, 200, 429])
    clock.advance(24 * 60 * 60_000)
    expect(await statuses([app.handshake(), app.handshake(), app.handshake()])).toEqual([200, 200, 429])
  })

  it('earns nothing back from a clock that steps backwards', async () => {
    const clock = manualClock()
    const app = limitedApp({ burst: 1, refillPerSecond: 1, now: clock.now })
    expect((await app.handshake()).response.status).toBe(200)
    clock.advance(-60_000)
    await expectLimited((await app.handshake()).response, 'ERR_RATE_LIMITED', '1', /retry in 1 s/)
    clock.advance(60_000 + 1_000)
    expect((await app.handshake()).response.status).toBe(200)
  })

  it('uses the defaults (20 in a burst, 1 a second) when given no options', async () => {
    const clock = manualClock()
    const app = limitedApp({ now: clock.now })
    const first = await statuses(Array.from({ length: 21 }, () => app.handshake()))
    expect(first.filter((status) => status === 200)).toHaveLength(20)
    expect(first.at(-1)).toBe(429)
    clock.advance(1_000)
    expect(await statuses([app.handshake(), app.handshake()])).toEqual([200, 429])
  })
})

describe('rateLimit(): keys', () => {
  it('keeps client addresses apart: one exhausted bucket does not limit another client', async () => {
    const app = limitedApp({ burst: 1, now: manualClock().now })
    expect((await app.handshake('203.0.113.7')).response.status).toBe(200)
    expect((await app.handshake('203.0.113.7')).response.status).toBe(429)
    expect((await app.handshake('203.0.113.8')).response.status).toBe(200)
    expect((await app.handshake('2001:db8:1::1')).response.status).toBe(200)
  })

  it('counts an IPv4-mapped address as the IPv4 client, and an IPv6 client per /64', async () => {
    const app = limitedApp({ burst: 1, now: manualClock().now })
    expect((await app.handshake('203.0.113.7')).response.status).toBe(200)
    expect((await app.handshake('::ffff:203.0.113.7')).response.status).toBe(429)
    expect((await app.handshake('2001:db8:1:2::a')).response.status).toBe(200)
    expect((await app.handshake('2001:db8:1:2:ffff::b')).response.status).toBe(429)
    expect((await app.handshake('2001:db8:1:3::a')).response.status).toBe(200)
  })

  it('counts each IPv6 address apart with ipv6Prefix: 128', async () => {
    const app = limitedApp({ burst: 1, ipv6Prefix: 128, now: manualClock().now })
    expect((await app.handshake('2001:db8:1:2::a')).response.status).toBe(200)
    expect((await app.handshake('2001:db8:1:2::b')).response.status).toBe(200)
    expect((await app.handshake('2001:DB8:1:2:0:0:0:A')).response.status).toBe(429)
  })

  it('keys by a header when asked: one bucket per value across addresses, the address when it is missing', async () => {
    const app = limitedApp({ burst: 1, key: { header: 'X-Api-Key' }, now: manualClock().now })
    expect((await app.handshake('203.0.113.7', { 'x-api-key': 'key-a' })).response.status).toBe(200)
    expect((await app.handshake('203.0.113.99', { 'x-api-key': 'key-a' })).response.status).toBe(429)
    expect((await app.handshake('203.0.113.7', { 'x-api-key': 'key-b' })).response.status).toBe(200)
    // Without the header the address is the key, and 203.0.113.7 has not used its own bucket yet.
    expect((await app.handshake('203.0.113.7')).response.status).toBe(200)
    expect((await app.handshake('203.0.113.7')).response.status).toBe(429)
  })

  it('keys by a JWT claim that jwtAuth() published, falling back to the address without a token', async () => {
    const app = limitedApp({ burst: 1, key: { claim: 'sub' }, now: manualClock().now })
    expect((await app.handshake('203.0.113.7', { 'x-test-sub': 'alice' })).response.status).toBe(200)
    expect((await app.handshake('198.51.100.1', { 'x-test-sub': 'alice' })).response.status).toBe(429)
    const bob = await app.handshake('203.0.113.7', { 'x-test-sub': 'bob' })
    expect(bob.response.status).toBe(200)
    expect(bob.runtime.notes).toContainEqual({ rateLimit: { key: 'claim:sub', remaining: 0 } })
    const anonymous = await app.handshake('203.0.113.7')
    expect(anonymous.response.status).toBe(200)
    expect(anonymous.runtime.notes).toContainEqual({ rateLimit: { key: 'ip', remaining: 0 } })
  })

  it('keys by a function of the context', async () => {
    const app = limitedApp({ burst: 1, key: (c) => c.req.header('x-tenant'), now: manualClock().now })
    expect((await app.handshake('203.0.113.7', { 'x-tenant': 'acme' })).response.status).toBe(200)
    expect((await app.handshake('203.0.113.8', { 'x-tenant': 'acme' })).response.status).toBe(429)
    expect((await app.handshake('203.0.113.8', { 'x-tenant': 'globex' })).response.status).toBe(200)
  })

  it('never hands a header value (an API key) to the store or the log line', async () => {
    const keys: string[] = []
    const memory = new MemoryStore()
    const spy: RateLimitStore = {
      consume: (key, ...rest) => (keys.push(key), memory.consume(key, ...rest)),
      acquire: (key, max) => (keys.push(key), memory.acquire(key, max)),
      release: (key) => memory.release(key),
    }
    const app = limitedApp({ key: { header: 'x-api-key' }, store: spy, maxConnectionsPerIp: 5, now: manualClock().now })
    const { response, runtime } = await app.handshake('203.0.113.7', { 'x-api-key': 'sk_live_secret123' })
    expect(response.status).toBe(200)
    expect(keys).toHaveLength(2)
    expect(keys[0]).toMatch(/^wsgate:rate-limit:rate:header:x-api-key:[0-9a-f]{64}$/)
    expect(keys[1]).toBe('wsgate:rate-limit:connections:203.0.113.7')
    expect(JSON.stringify([keys, runtime.notes])).not.toContain('secret123')
  })

  it('keeps instances sharing a store apart by prefix, and together without one', async () => {
    const store = new MemoryStore()
    const clock = manualClock()
    const a = limitedApp({ burst: 1, store, prefix: 'route-a', now: clock.now })
    const b = limitedApp({ burst: 1, store, prefix: 'route-b', now: clock.now })
    const c = limitedApp({ burst: 1, store, prefix: 'route-a', now: clock.now })
    expect((await a.handshake()).response.status).toBe(200)
    expect((await b.handshake()).response.status).toBe(200)
    expect((await c.handshake()).response.status).toBe(429)
  })
})

describe('rateLimit(): concurrent connections per address', () => {
  it('answers 429 ERR_TOO_MANY_CONNECTIONS beyond maxConnectionsPerIp and admits again once a connection closes', async () => {
    const app = limitedApp({ maxConnectionsPerIp: 2, now: manualClock().now })
    const first = await app.handshake()
    const second = await app.handshake()
    expect([first.response.status, second.response.status]).toEqual([200, 200])
    const third = await app.handshake()
    await expectLimited(third.response, 'ERR_TOO_MANY_CONNECTIONS', '5', /^too many open connections from this address \(at most 2\)$/m)
    expect((await app.handshake('203.0.113.8')).response.status).toBe(200)

    first.runtime.closeConnection()
    expect((await app.handshake()).response.status).toBe(200)
    expect((await app.handshake()).response.status).toBe(429)
  })

  it('takes no slot for a handshake the rate limit refused', async () => {
    const store = new MemoryStore()
    const app = limitedApp({ burst: 1, maxConnectionsPerIp: 1, store, now: manualClock().now })
    const admitted = await app.handshake()
    expect(admitted.response.status).toBe(200)
    expect(store.connections('wsgate:rate-limit:connections:203.0.113.7')).toBe(1)
    const refused = await app.handshake()
    expect(refused.response.headers.get('x-wsgate-error')).toBe('ERR_RATE_LIMITED')
    refused.runtime.closeConnection()
    expect(store.connections('wsgate:rate-limit:connections:203.0.113.7')).toBe(1)
    admitted.runtime.closeConnection()
    expect(store.connections('wsgate:rate-limit:connections:203.0.113.7')).toBe(0)
  })

  it('counts per address whatever the rate key is', async () => {
    const app = limitedApp({ key: { header: 'x-api-key' }, maxConnectionsPerIp: 1, now: manualClock().now })
    expect((await app.handshake('203.0.113.7', { 'x-api-key': 'a' })).response.status).toBe(200)
    const second = await app.handshake('203.0.113.7', { 'x-api-key': 'b' })
    expect(second.response.headers.get('x-wsgate-error')).toBe('ERR_TOO_MANY_CONNECTIONS')
  })
})

describe('rateLimit(): behind trusted proxies', () => {
  /** `normalizeHeaders({ trustedProxies: ['10.0.0.0/8'] })`, then `rateLimit(options)`; handshakes arrive through proxy 10.0.0.1 with an X-Forwarded-For. */
  function behindProxy(options: RateLimitOptions) {
    const app = new Hono<RateLimitEnv>()
    app.all('/chat', normalizeHeaders({ trustedProxies: ['10.0.0.0/8'] }), rateLimit(options), (c) => c.text('admitted'))
    return async (forwardedFor: string, peer = '10.0.0.1'): Promise<{ response: Response; runtime: FakeRuntime }> => {
      const runtime = fakeRuntime(peer)
      const response = await app.request('http://gw.example/chat', { headers: { host: 'gw.example', 'x-forwarded-for': forwardedFor } }, { wsgate: runtime })
      return { response, runtime }
    }
  }

  it('gives each client behind one proxy its own bucket, so one client cannot use up everyone else\'s', async () => {
    const handshake = behindProxy({ burst: 1, now: manualClock().now })
    expect((await handshake('198.51.100.1')).response.status).toBe(200)
    expect((await handshake('198.51.100.1')).response.status).toBe(429)
    expect((await handshake('198.51.100.2')).response.status).toBe(200)
  })

  it('counts by the address the proxy appended: a client cannot get a fresh bucket by writing addresses to its left', async () => {
    const handshake = behindProxy({ burst: 1, now: manualClock().now })
    expect((await handshake('198.51.100.1')).response.status).toBe(200)
    for (const spoofed of ['6.6.6.6, 198.51.100.1', '6.6.6.7, 198.51.100.1', '10.0.0.9, 198.51.100.1']) {
      expect((await handshake(spoofed)).response.status, spoofed).toBe(429)
    }
  })

  it('still counts by the socket address when the peer is not a trusted proxy, whatever X-Forwarded-For says', async () => {
    const handshake = behindProxy({ burst: 1, now: manualClock().now })
    expect((await handshake('198.51.100.1', '203.0.113.7')).response.status).toBe(200)
    expect((await handshake('198.51.100.2', '203.0.113.7')).response.status).toBe(429)
  })

  it('caps connections per client behind the proxy, not per proxy', async () => {
    const store = new MemoryStore()
    const handshake = behindProxy({ maxConnectionsPerIp: 1, store, now: manualClock().now })
    expect((await handshake('198.51.100.1')).response.status).toBe(200)
    expect((await handshake('198.51.100.2')).response.status).toBe(200)
    expect((await handshake('198.51.100.1')).response.headers.get('x-wsgate-error')).toBe('ERR_TOO_MANY_CONNECTIONS')
    expect(store.connections('wsgate:rate-limit:connections:198.51.100.1')).toBe(1)
  })
})

describe('rateLimit(): log line and runtime', () => {
  it('records the key kind and tokens left, or why it refused, for the handshake log line', async () => {
    const app = limitedApp({ burst: 2, maxConnectionsPerIp: 1, now: manualClock().now })
    expect((await app.handshake()).runtime.notes).toEqual([{ rateLimit: { key: 'ip', remaining: 1 } }])
    expect((await app.handshake()).runtime.notes).toEqual([{ rateLimit: { key: 'ip', limited: 'connections', max: 1 } }])
    expect((await app.handshake()).runtime.notes).toEqual([{ rateLimit: { key: 'ip', limited: 'rate', retryAfter: 1 } }])
  })

  it('answers 500 ERR_RUNTIME_MISSING outside a wsgate runtime', async () => {
    const app = new Hono()
    app.all('/chat', rateLimit() as never, (c) => c.text('admitted'))
    const response = await app.request('http://gw.example/chat')
    expect(response.status).toBe(500)
    expect(response.headers.get('x-wsgate-error')).toBe('ERR_RUNTIME_MISSING')
  })
})

describe('rateLimit(): options', () => {
  const cases: [options: unknown, message: RegExp][] = [
    [null, /options must be an object/],
    [{ limit: 5 }, /unknown option "limit"/],
    [{ burst: 0 }, /burst must be a positive integer/],
    [{ burst: 2.5 }, /burst must be a positive integer/],
    [{ refillPerSecond: 0 }, /refillPerSecond must be a positive number/],
    [{ refillPerSecond: Number.POSITIVE_INFINITY }, /refillPerSecond must be a positive number/],
    [{ refillPerSecond: '1' }, /refillPerSecond must be a positive number/],
    [{ maxConnectionsPerIp: 0 }, /maxConnectionsPerIp must be a positive integer/],
    [{ ipv6Prefix: 129 }, /ipv6Prefix must be an integer from 1 to 128/],
    [{ key: 'user' }, /key must be 'ip', \{ header: name \}, \{ claim: name \} or a function/],
    [{ key: { header: 'x api key' } }, /key.header must be a header name/],
    [{ key: { claim: '' } }, /key.claim must be a claim name/],
    [{ store: {} }, /store must implement RateLimitStore/],
    [{ prefix: '' }, /prefix must be a non-empty string/],
    [{ now: 5 }, /now must be a function/],
  ]
  for (const [options, message] of cases) {
    it(`refuses ${JSON.stringify(options)} with a TypeError naming the option`, () => {
      expect(() => rateLimit(options as RateLimitOptions)).toThrow(TypeError)
      expect(() => rateLimit(options as RateLimitOptions)).toThrow(message)
    })
  }

  it('returns a handler named rateLimit', () => {
    expect(rateLimit().name).toBe('rateLimit')
  })
})

describe('MemoryStore', () => {
  const bucket = { capacity: 2, refillPerSecond: 1 }

  it('starts a new key full and reports whole tokens left', async () => {
    const store = new MemoryStore()
    expect(await store.consume('k', 1, bucket, 0)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 })
    expect(await store.consume('k', 1, bucket, 0)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 })
    expect(await store.consume('k', 1, bucket, 250)).toEqual({ allowed: false, retryAfterSeconds: 0.75, remaining: 0 })
  })

  it('takes nothing on a refused call, so waiting the exact Retry-After is enough', async () => {
    const store = new MemoryStore()
    await store.consume('k', 2, bucket, 0)
    const refused = await store.consume('k', 2, bucket, 500)
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1.5, remaining: 0 })
    expect((await store.consume('k', 2, bucket, 2_000)).allowed).toBe(true)
  })

  it('tolerates floating-point error: a client probing every second gets its token at exactly 1/refill seconds', async () => {
    const store = new MemoryStore()
    const tenth = { capacity: 1, refillPerSecond: 0.1 }
    await store.consume('k', 1, tenth, 0)
    // Refills of 0.1 added ten times make 0.9999999999999999 tokens, not 1.
    for (let second = 1; second < 10; second++) expect((await store.consume('k', 1, tenth, second * 1000)).allowed).toBe(false)
    expect(await store.consume('k', 1, tenth, 10_000)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 })
  })

  it('forgets the least recently used bucket beyond maxKeys; a forgotten key starts full again', async () => {
    const store = new MemoryStore({ maxKeys: 2 })
    await store.consume('a', 2, bucket, 0)
    await store.consume('b', 2, bucket, 0)
    expect((await store.consume('a', 1, bucket, 0)).allowed).toBe(false) // touches a: b is now the oldest
    await store.consume('c', 2, bucket, 0)
    expect(store.size).toBe(2)
    expect((await store.consume('a', 1, bucket, 0)).allowed).toBe(false)
    expect(await store.consume('b', 1, bucket, 0)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 })
  })

  it('holds connection slots up to max and drops a counter that returns to zero', async () => {
    const store = new MemoryStore({ maxKeys: 1 })
    expect(await store.acquire('ip', 2)).toBe(true)
    expect(await store.acquire('ip', 2)).toBe(true)
    expect(await store.acquire('ip', 2)).toBe(false)
    // Buckets filling the LRU never evict a held slot.
    await store.consume('x', 1, bucket, 0)
    await store.consume('y', 1, bucket, 0)
    expect(store.connections('ip')).toBe(2)
    await store.release('ip')
    expect(await store.acquire('ip', 2)).toBe(true)
    await store.release('ip')
    await store.release('ip')
    expect(store.connections('ip')).toBe(0)
    await store.release('ip')
    expect(store.connections('ip')).toBe(0)
  })

  it('refuses a cost the bucket can never hold, and a bad maxKeys', async () => {
    // The in-memory store answers synchronously: it throws rather than rejects.
    expect(() => new MemoryStore().consume('k', 3, bucket, 0)).toThrow(RangeError)
    expect(() => new MemoryStore().consume('k', 1, { capacity: 1, refillPerSecond: 0 }, 0)).toThrow(RangeError)
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(/maxKeys must be a positive integer/)
  })
})
