import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  DEFAULT_CLOSE_GRACE,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HALF_CLOSE_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_IPV6_PREFIX,
  DEFAULT_LIFETIME_JITTER,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_CLIENT_SHARE,
  DEFAULT_MAX_HANDSHAKES_PER_CLIENT,
  DEFAULT_MAX_REQUESTS_PER_CLIENT,
  DEFAULT_MAX_HANDSHAKES_PER_ROUTE_SHARE,
  DEFAULT_MAX_HEADER_SIZE,
  DEFAULT_MAX_LIFETIME,
  DEFAULT_MAX_URI_LENGTH,
  DEFAULT_PORT,
  DEFAULT_RETRY_AFTER,
} from '../../src/defaults.ts'
import { jittered, MAX_TIMER } from '../../src/limits.ts'
import { resolveServeSettings, type ServeOptions } from '../../src/node/settings.ts'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('jittered()', () => {
  const DRAWS = 20_000

  for (const [lifetime, jitter] of [
    [1_000, 0.05],
    [400, 0.5],
    [DEFAULT_MAX_LIFETIME, DEFAULT_LIFETIME_JITTER],
  ] as const) {
    it(`keeps ${DRAWS} draws of a ${lifetime} ms lifetime within ±${jitter * 100} % and spreads them across the range`, () => {
      const low = lifetime * (1 - jitter)
      const high = lifetime * (1 + jitter)
      let min = Number.POSITIVE_INFINITY
      let max = Number.NEGATIVE_INFINITY
      for (let i = 0; i < DRAWS; i++) {
        const value = jittered(lifetime, jitter)
        expect(Number.isInteger(value)).toBe(true)
        // Rounding to whole ms may step half a ms past an edge.
        expect(value).toBeGreaterThanOrEqual(Math.floor(low))
        expect(value).toBeLessThanOrEqual(Math.ceil(high))
        min = Math.min(min, value)
        max = Math.max(max, value)
      }
      // Uniform draws reach the outer tenth at each end (a miss has odds of 0.9^20000).
      const tenth = (high - low) / 10
      expect(min).toBeLessThan(low + tenth)
      expect(max).toBeGreaterThan(high - tenth)
    })
  }

  it('returns the lifetime exactly when jitter is 0', () => {
    for (const lifetime of [1, 400, 1_234, DEFAULT_MAX_LIFETIME, MAX_TIMER]) {
      for (let i = 0; i < 1_000; i++) expect(jittered(lifetime, 0)).toBe(lifetime)
    }
  })

  it('maps the lowest and highest random draws to the two ends of the range', () => {
    vi.spyOn(Math, 'random').mockReturnValueOnce(0).mockReturnValueOnce(1 - Number.EPSILON).mockReturnValueOnce(0.5)
    expect(jittered(1_000, 0.2)).toBe(800)
    expect(jittered(1_000, 0.2)).toBe(1_200)
    expect(jittered(1_000, 0.2)).toBe(1_000)
  })

  it('never exceeds the timer ceiling nor drops below 1 ms', () => {
    vi.spyOn(Math, 'random').mockReturnValueOnce(1 - Number.EPSILON).mockReturnValueOnce(0)
    // setTimeout fires at once past MAX_TIMER, which would recycle every connection immediately.
    expect(jittered(MAX_TIMER, 0.5)).toBe(MAX_TIMER)
    expect(jittered(1, 0.99)).toBe(1)
  })
})

describe('resolveServeSettings()', () => {
  it('fills every default from src/defaults.ts', () => {
    expect(resolveServeSettings({})).toEqual({
      port: DEFAULT_PORT,
      host: DEFAULT_HOST,
      handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT,
      requestTimeout: DEFAULT_REQUEST_TIMEOUT,
      maxHeaderSize: DEFAULT_MAX_HEADER_SIZE,
      maxUriLength: DEFAULT_MAX_URI_LENGTH,
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      retryAfter: DEFAULT_RETRY_AFTER,
      maxConnectionsPerClient: DEFAULT_MAX_CONNECTIONS * DEFAULT_MAX_CONNECTIONS_PER_CLIENT_SHARE,
      maxHandshakesPerClient: DEFAULT_MAX_HANDSHAKES_PER_CLIENT,
      maxRequestsPerClient: DEFAULT_MAX_REQUESTS_PER_CLIENT,
      maxHandshakesPerRoute: DEFAULT_MAX_CONNECTIONS * DEFAULT_MAX_HANDSHAKES_PER_ROUTE_SHARE,
      ipv6Prefix: DEFAULT_IPV6_PREFIX,
      idleTimeout: DEFAULT_IDLE_TIMEOUT,
      maxLifetime: DEFAULT_MAX_LIFETIME,
      lifetimeJitter: DEFAULT_LIFETIME_JITTER,
      halfCloseTimeout: DEFAULT_HALF_CLOSE_TIMEOUT,
      drainTimeout: DEFAULT_DRAIN_TIMEOUT,
      closeGrace: DEFAULT_CLOSE_GRACE,
      metrics: false,
    })
  })

  it('states the documented default values', () => {
    // The README's table of defaults promises these numbers; a change here is a change of contract.
    expect(resolveServeSettings({})).toEqual({
      port: 8080,
      host: '127.0.0.1',
      handshakeTimeout: 10_000,
      requestTimeout: 300_000,
      maxHeaderSize: 16_384,
      maxUriLength: 8_192,
      maxConnections: 3_000,
      retryAfter: 5,
      maxConnectionsPerClient: 300,
      maxHandshakesPerClient: 30,
      maxHandshakesPerRoute: 300,
      maxRequestsPerClient: 100,
      ipv6Prefix: 64,
      idleTimeout: 300_000,
      maxLifetime: 14_400_000,
      lifetimeJitter: 0.05,
      halfCloseTimeout: 5_000,
      drainTimeout: 30_000,
      closeGrace: 5_000,
      metrics: false,
    })
  })

  it('keeps every option given, including the edges of the valid ranges', () => {
    const options = {
      port: 0,
      host: '::1',
      handshakeTimeout: 1,
      requestTimeout: 1,
      maxHeaderSize: 1,
      maxUriLength: 1,
      maxConnections: 1,
      retryAfter: 1,
      maxConnectionsPerClient: 1,
      maxHandshakesPerClient: Number.POSITIVE_INFINITY,
      maxHandshakesPerRoute: 1,
      maxRequestsPerClient: 1,
      ipv6Prefix: 128,
      idleTimeout: MAX_TIMER,
      maxLifetime: 1,
      lifetimeJitter: 0,
      halfCloseTimeout: 250,
      drainTimeout: 1,
      closeGrace: MAX_TIMER,
      metrics: true,
    } satisfies ServeOptions
    expect(resolveServeSettings(options)).toEqual(options)
    expect(resolveServeSettings({ port: 65_535, lifetimeJitter: 0.999 })).toMatchObject({ port: 65_535, lifetimeJitter: 0.999 })
  })

  it('derives the fair shares from maxConnections when they are not given: 10 %, rounded up, at least 1', () => {
    expect(resolveServeSettings({ maxConnections: 20_000 })).toMatchObject({ maxConnectionsPerClient: 2_000, maxHandshakesPerRoute: 2_000, maxHandshakesPerClient: 30 })
    expect(resolveServeSettings({ maxConnections: 25 })).toMatchObject({ maxConnectionsPerClient: 3, maxHandshakesPerRoute: 3 })
    expect(resolveServeSettings({ maxConnections: 1 })).toMatchObject({ maxConnectionsPerClient: 1, maxHandshakesPerRoute: 1 })
    // An explicit value wins, also above the gateway's cap, and Infinity turns a cap off.
    expect(resolveServeSettings({ maxConnections: 10, maxConnectionsPerClient: 50, maxHandshakesPerRoute: Number.POSITIVE_INFINITY })).toMatchObject({
      maxConnectionsPerClient: 50,
      maxHandshakesPerRoute: Number.POSITIVE_INFINITY,
    })
  })

  const bad: [name: keyof ServeOptions, values: number[]][] = [
    ['port', [-1, 65_536, 1.5, Number.NaN]],
    ['handshakeTimeout', [0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER + 1]],
    ['idleTimeout', [0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER + 1]],
    ['maxLifetime', [0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER + 1]],
    ['halfCloseTimeout', [0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER + 1]],
    ['maxHeaderSize', [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]],
    ['maxConnections', [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]],
    ['retryAfter', [0, -1, 1.5, Number.NaN]],
    ['lifetimeJitter', [-0.01, 1, 1.5, Number.NaN]],
    ['maxConnectionsPerClient', [0, -1, 1.5, Number.NaN, Number.NEGATIVE_INFINITY]],
    ['maxHandshakesPerClient', [0, -1, 1.5, Number.NaN]],
    ['maxHandshakesPerRoute', [0, -1, 1.5, Number.NaN]],
    ['ipv6Prefix', [0, 129, 64.5, Number.NaN, Number.POSITIVE_INFINITY]],
  ]
  for (const [name, values] of bad) {
    for (const value of values) {
      it(`rejects ${name}: ${value} with a TypeError naming ${name} and the value`, () => {
        const attempt = (): unknown => resolveServeSettings({ [name]: value })
        expect(attempt).toThrow(TypeError)
        expect(attempt).toThrow(new RegExp(`^serve\\(\\): ${name} must be .*, got ${String(value)}$`))
      })
    }
  }
})
