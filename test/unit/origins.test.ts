import type { Context } from 'hono'
import { describe, expect, it } from 'vitest'
import { origins, websocket, type OriginChange, type OriginPool, type OriginPoolHost, type ProbeRequest } from '../../src/index.ts'
import type { PoolOrigin } from '../../src/origins/pool.ts'
import { throughPool } from '../../src/origins/failover.ts'
import { GatewayError } from '../../src/errors.ts'

// The pool's selection and health, without sockets: picks are counted by
// origin label, time is a counter the test moves, and probes answer from a
// table the test edits.

/** A context whose only use is the hash strategy's key. */
function keyed(key: string | undefined): Context {
  return { key } as unknown as Context
}

/** Picks `count` times (no key) and counts them per origin label. */
function tally(pool: OriginPool, count: number, key?: (i: number) => string | undefined): Record<string, number> {
  const counts: Record<string, number> = {}
  for (let i = 0; i < count; i++) {
    const origin = pool.pick(key?.(i))
    const label = origin?.label ?? 'none'
    counts[label] = (counts[label] ?? 0) + 1
  }
  return counts
}

/** Takes an origin down through passive failures (as many as `fall`). */
function fail(pool: OriginPool, origin: PoolOrigin, times = 3): void {
  for (let i = 0; i < times; i++) pool.failed(origin, 'ECONNREFUSED')
}

/** The pool's origin of a label. */
function member(pool: OriginPool, label: string): PoolOrigin {
  for (let i = 0; i < 100; i++) {
    const origin = pool.pick(String(i))
    if (origin?.label === label) return origin
  }
  throw new Error(`no origin ${label}`)
}

/** A probe host under the test's control: answers by URL host, a manual clock and manual timers. */
function fakeHost() {
  const answers = new Map<string, number | Error>()
  const changes: OriginChange[] = []
  const timers: { at: number; callback: () => void; id: number }[] = []
  let now = 1_000_000
  let nextId = 1
  const probes: { url: URL; request: ProbeRequest }[] = []
  const host: OriginPoolHost = {
    async probe(url, request) {
      probes.push({ url, request })
      const answer = answers.get(url.host) ?? 200
      if (answer instanceof Error) throw answer
      return { status: answer }
    },
    onChange: (change) => changes.push(change),
    now: () => now,
    timers: {
      setTimeout(callback, ms) {
        const id = nextId++
        timers.push({ at: now + ms, callback, id })
        return id
      },
      clearTimeout(handle) {
        const index = timers.findIndex((timer) => timer.id === handle)
        if (index >= 0) timers.splice(index, 1)
      },
    },
  }
  /** Moves the clock to the next timer and runs it, then lets the probe's promise settle. */
  async function step(): Promise<void> {
    for (let i = 0; i < 5; i++) await Promise.resolve()
    timers.sort((a, b) => a.at - b.at)
    const timer = timers.shift()
    if (!timer) throw new Error('no timer pending')
    now = timer.at
    timer.callback()
    for (let i = 0; i < 5; i++) await Promise.resolve()
  }
  return { host, answers, changes, probes, timers, step, advance: (ms: number) => (now += ms) }
}

describe('origins(): weighted selection', () => {
  it('lands 2,000 picks over weights 3:1 within ±5 % of 75/25 (smooth weighted round robin: exactly)', () => {
    const pool = origins([{ url: 'ws://a:1', weight: 3 }, { url: 'ws://b:1', weight: 1 }], { probe: false })
    const counts = tally(pool, 2000)
    expect(counts['ws://a:1']! / 2000).toBeGreaterThanOrEqual(0.7)
    expect(counts['ws://a:1']! / 2000).toBeLessThanOrEqual(0.8)
    expect(counts).toEqual({ 'ws://a:1': 1500, 'ws://b:1': 500 })
  })

  it('gives every run of 4 picks over 3:1 exactly three to the heavier origin and one to the lighter', () => {
    const pool = origins([{ url: 'ws://a:1', weight: 3 }, { url: 'ws://b:1', weight: 1 }], { probe: false })
    const sequence = Array.from({ length: 8 }, () => pool.pick(undefined)!.label.slice(5, 6)).join('')
    expect(sequence).toBe('aabaaaba')
  })

  it('sends traffic to priority 2 only while every origin of priority 1 is down, and back when one returns', () => {
    const pool = origins(['ws://a:1', 'ws://b:1', { url: 'ws://standby:1', priority: 2 }], { probe: false })
    expect(Object.keys(tally(pool, 100)).sort()).toEqual(['ws://a:1', 'ws://b:1'])
    const a = member(pool, 'ws://a:1')
    const b = member(pool, 'ws://b:1')
    fail(pool, a)
    expect(tally(pool, 100)).toEqual({ 'ws://b:1': 100 })
    fail(pool, b)
    expect(tally(pool, 100)).toEqual({ 'ws://standby:1': 100 })
  })

  it('returns nothing when every origin is down, and the 503 ERR_ORIGIN_DOWN names a Retry-After', () => {
    const pool = origins(['ws://a:1', 'ws://b:1'], { probe: false, cooldown: 30_000 })
    fail(pool, member(pool, 'ws://a:1'))
    fail(pool, member(pool, 'ws://b:1'))
    expect(pool.pick(undefined)).toBeUndefined()
    const error = pool.downError()
    expect(error.status).toBe(503)
    expect(error.code).toBe('ERR_ORIGIN_DOWN')
    expect(Number(error.headers['retry-after'])).toBeGreaterThanOrEqual(29)
  })

  it('takes an origin down only after `fall` failures in a row; a success in between starts the count again', () => {
    const pool = origins(['ws://a:1', 'ws://b:1'], { probe: { fall: 3 } })
    const a = member(pool, 'ws://a:1')
    pool.failed(a, 'ECONNRESET')
    pool.failed(a, 'ECONNRESET')
    pool.succeeded(a)
    pool.failed(a, 'ECONNRESET')
    pool.failed(a, 'ECONNRESET')
    expect(pool.status()[0]!.health).toBe('up')
    pool.failed(a, 'ECONNRESET')
    expect(pool.status()[0]).toMatchObject({ url: 'ws://a:1', health: 'down', failures: 3 })
  })
})

describe('origins(): least connections', () => {
  it('evens out live connections as they open and close', () => {
    const pool = origins(['ws://a:1', 'ws://b:1', 'ws://c:1'], { strategy: 'least-connections', probe: false })
    const open: PoolOrigin[] = []
    for (let i = 0; i < 30; i++) {
      const origin = pool.pick(undefined)!
      pool.acquire(origin)
      open.push(origin)
    }
    expect(pool.status().map((origin) => origin.live)).toEqual([10, 10, 10])
    // Close the first 8 connections of origin a: the next 8 all go to a.
    for (const origin of open.filter((origin) => origin.label === 'ws://a:1').slice(0, 8)) pool.release(origin)
    for (let i = 0; i < 8; i++) {
      const origin = pool.pick(undefined)!
      expect(origin.label).toBe('ws://a:1')
      pool.acquire(origin)
    }
    expect(pool.status().map((origin) => origin.live)).toEqual([10, 10, 10])
  })

  it('weighs live connections by weight (2:1 holds 20 and 10)', () => {
    const pool = origins([{ url: 'ws://a:1', weight: 2 }, 'ws://b:1'], { strategy: 'least-connections', probe: false })
    for (let i = 0; i < 30; i++) pool.acquire(pool.pick(undefined)!)
    expect(pool.status().map((origin) => origin.live)).toEqual([20, 10])
  })
})

describe('origins(): sticky hashing', () => {
  const keys = Array.from({ length: 3000 }, (_, i) => `client-${i}`)
  const hashed = () => origins(['ws://a:1', 'ws://b:1', 'ws://c:1'], { strategy: { hash: (c) => (c as unknown as { key: string }).key }, probe: false })
  const placement = (pool: OriginPool) => new Map(keys.map((key) => [key, pool.pick(pool.keyOf(keyed(key)))!.label]))

  it('keeps every key on its origin, and spreads keys about evenly', () => {
    const pool = hashed()
    const first = placement(pool)
    expect(placement(pool)).toEqual(first)
    const counts: Record<string, number> = {}
    for (const label of first.values()) counts[label] = (counts[label] ?? 0) + 1
    for (const count of Object.values(counts)) expect(count / keys.length).toBeGreaterThan(0.28)
  })

  it('moves only the keys of an origin that goes down, and moves them back when it returns', () => {
    const pool = hashed()
    const before = placement(pool)
    const b = member(pool, 'ws://b:1')
    fail(pool, b)
    const during = placement(pool)
    let moved = 0
    for (const key of keys) {
      if (before.get(key) === 'ws://b:1') {
        expect(during.get(key)).not.toBe('ws://b:1')
        moved++
      } else {
        expect(during.get(key), key).toBe(before.get(key))
      }
    }
    expect(moved).toBeGreaterThan(800)
    // Back up (probes would do it; here two successes with rise 2).
    pool.succeeded(b)
    pool.succeeded(b)
    expect(pool.status()[1]!.health).toBe('up')
    expect(placement(pool)).toEqual(before)
  })

  it('gives a heavier origin its weight share of the keys', () => {
    const pool = origins([{ url: 'ws://a:1', weight: 3 }, 'ws://b:1'], { strategy: { hash: (c) => (c as unknown as { key: string }).key }, probe: false })
    const counts = tally(pool, keys.length, (i) => keys[i])
    expect(counts['ws://a:1']! / keys.length).toBeGreaterThan(0.7)
    expect(counts['ws://a:1']! / keys.length).toBeLessThan(0.8)
  })

  it('takes a null key (a Headers.get() of a missing header) as no key, and a number as its text', () => {
    const pool = origins(['ws://a:1', 'ws://b:1'], { strategy: { hash: (c) => (c as unknown as { key: string }).key }, probe: false })
    const nullKey = { key: null } as unknown as Context
    expect(pool.keyOf(nullKey)).toBeUndefined()
    expect(tally(pool, 10, () => pool.keyOf(nullKey))).toEqual({ 'ws://a:1': 5, 'ws://b:1': 5 })
    expect(pool.keyOf({ key: 42 } as unknown as Context)).toBe('42')
    expect(pool.keyOf({ key: { id: 1 } } as unknown as Context)).toBeUndefined()
  })

  it('falls back to weighted round robin for a request without a key', () => {
    const pool = origins(['ws://a:1', 'ws://b:1'], { strategy: { hash: () => undefined }, probe: false })
    expect(tally(pool, 10, () => pool.keyOf(keyed(undefined)))).toEqual({ 'ws://a:1': 5, 'ws://b:1': 5 })
  })
})

describe('origins(): probes on an injected host', () => {
  it('probes every origin at start, takes one down after `fall` failed probes and up after `rise`, reporting each change once', async () => {
    const { host, answers, changes, probes, step } = fakeHost()
    const pool = origins(['ws://a:1/base', 'wss://b:2'], { probe: { path: '/healthz', interval: 1000, timeout: 100, fall: 2, rise: 2 } })
    answers.set('a:1', 500)
    pool.start(host)
    await Promise.resolve()
    expect(probes.map((probe) => probe.url.href)).toEqual(['http://a:1/healthz', 'https://b:2/healthz'])
    expect(probes[0]!.request).toMatchObject({ method: 'GET', timeout: 100 })
    await waitUntil(() => changes.length === 1, step)
    expect(changes[0]).toMatchObject({ origin: 'ws://a:1/base', health: 'down', previous: 'up', cause: 'probe', reason: 'probe: status 500, expected 200–399' })
    expect(pool.status()[0]).toMatchObject({ health: 'down', lastProbe: { ok: false, status: 500 } })
    answers.set('a:1', 204)
    await waitUntil(() => changes.length === 2, step)
    expect(changes[1]).toMatchObject({ origin: 'ws://a:1/base', health: 'up', previous: 'down', cause: 'probe', reason: '2 probes passed' })
    expect(changes).toHaveLength(2)
    pool.stop()
  })

  it('says how to fix a probe that a WebSocket-only origin answers with 426', async () => {
    const { host, answers, changes, step } = fakeHost()
    const pool = origins(['ws://a:1'], { probe: { interval: 1000, fall: 1 } })
    answers.set('a:1', 426)
    pool.start(host)
    await waitUntil(() => changes.length === 1, step)
    expect(changes[0]!.reason).toBe('probe: status 426, expected 200–399 (a WebSocket-only origin answers 426 to plain GET: set probe.path to a health URL, or probe.expect to [426, 426])')
    pool.stop()
  })

  it('counts a probe without an answer as failed, with its error', async () => {
    const { host, answers, changes, step } = fakeHost()
    const pool = origins(['ws://a:1'], { probe: { interval: 1000, fall: 1 } })
    answers.set('a:1', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
    pool.start(host)
    await waitUntil(() => changes.length === 1, step)
    expect(changes[0]).toMatchObject({ health: 'down', reason: 'probe: ECONNREFUSED' })
    expect(pool.status()[0]!.lastProbe).toMatchObject({ ok: false, error: 'ECONNREFUSED' })
    pool.stop()
  })

  it('fails a probe whose prober ignores the abort and never settles at the timeout, and probes again', async () => {
    const { host, changes, probes, step } = fakeHost()
    host.probe = async (url, request) => {
      probes.push({ url, request })
      return new Promise<never>(() => {})
    }
    const pool = origins(['ws://a:1'], { probe: { interval: 1000, timeout: 500, fall: 1 } })
    pool.start(host)
    await waitUntil(() => changes.length === 1, step)
    expect(changes[0]).toMatchObject({ health: 'down', reason: 'probe: timeout after 500 ms' })
    await waitUntil(() => probes.length === 2, step)
    pool.stop()
  })

  it('stops probing on stop(): no timer is left and a late answer changes nothing', async () => {
    const { host, timers, step } = fakeHost()
    const pool = origins(['ws://a:1', 'ws://b:1'], { probe: { interval: 1000 } })
    pool.start(host)
    await step()
    pool.stop()
    expect(timers).toHaveLength(0)
  })

  it('lets an origin that passive health took down back in after the cooldown when no probes run, on trial', () => {
    const { host, changes, advance } = fakeHost()
    const pool = origins(['ws://a:1', 'ws://b:1'], { probe: false, cooldown: 5_000 })
    pool.start(host)
    const a = member(pool, 'ws://a:1')
    fail(pool, a)
    expect(changes.at(-1)).toMatchObject({ origin: 'ws://a:1', health: 'down', cause: 'passive' })
    expect(tally(pool, 4)).toEqual({ 'ws://b:1': 4 })
    advance(5_000)
    expect(Object.keys(tally(pool, 4)).sort()).toEqual(['ws://a:1', 'ws://b:1'])
    expect(changes.at(-1)).toMatchObject({ origin: 'ws://a:1', health: 'up', cause: 'cooldown' })
    // On trial: one more failure takes it down again.
    pool.failed(a, 'ECONNREFUSED')
    expect(pool.status()[0]!.health).toBe('down')
    pool.stop()
  })
})

describe('origins(): failover', () => {
  const refused = () => new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', 'origin unavailable (ECONNREFUSED)')
  const attempts = { budget: 1000, retry: true, clientGone: () => false, note: () => {} }

  it('tries the next origin after a refused one, at most `retries` more, and names how many were tried', async () => {
    const pool = origins(['ws://a:1', 'ws://b:1', 'ws://c:1', 'ws://d:1'], { probe: false, retries: 2 })
    const tried: string[] = []
    await expect(
      throughPool(pool, keyed(undefined), attempts, async (origin) => {
        tried.push(origin.label)
        throw refused()
      }),
    ).rejects.toMatchObject({ status: 502, code: 'ERR_ORIGIN_UNAVAILABLE', message: 'origin unavailable (ECONNREFUSED); 3 origins tried' })
    expect(new Set(tried).size).toBe(3)
    const ok = await throughPool(pool, keyed(undefined), attempts, async (origin) => {
      if (origin.label !== 'ws://d:1') throw refused()
      return 'ok'
    })
    expect(ok).toMatchObject({ value: 'ok', origin: { label: 'ws://d:1' } })
  })

  it('does not retry other errors, nor when the client has gone; an answer that is not HTTP still counts against its origin', async () => {
    const pool = origins(['ws://a:1', 'ws://b:1'], { probe: false })
    let calls = 0
    await expect(
      throughPool(pool, keyed(undefined), attempts, async () => {
        calls++
        throw new GatewayError(502, 'ERR_ORIGIN_BAD_HANDSHAKE', 'bad')
      }),
    ).rejects.toMatchObject({ code: 'ERR_ORIGIN_BAD_HANDSHAKE' })
    await expect(
      throughPool(pool, keyed(undefined), { ...attempts, clientGone: () => true }, async () => {
        calls++
        throw refused()
      }),
    ).rejects.toMatchObject({ code: 'ERR_ORIGIN_UNAVAILABLE' })
    expect(calls).toBe(2)
    // The origin answered, if not with HTTP: not retried, but a failure for passive health. A client gone is no one's.
    expect(pool.status().map((origin) => origin.failures)).toEqual([1, 0])
  })

  it('answers 503 ERR_ORIGIN_DOWN without an attempt when every origin is down', async () => {
    const pool = origins(['ws://a:1'], { probe: false })
    fail(pool, member(pool, 'ws://a:1'))
    let calls = 0
    await expect(throughPool(pool, keyed(undefined), attempts, async () => calls++)).rejects.toMatchObject({ status: 503, code: 'ERR_ORIGIN_DOWN' })
    expect(calls).toBe(0)
  })
})

describe('origins(): bad configuration fails at start', () => {
  it.each([
    [[], {}, /non-empty list/],
    [['ftp://a'], {}, /scheme/],
    [['ws://a:1', 'ws://a:1'], {}, /listed twice/],
    [[{ url: 'ws://a:1', weight: 0 }], {}, /weight must be an integer of at least 1/],
    [[{ url: 'ws://a:1', priority: 1.5 }], {}, /priority/],
    [['ws://a:1'], { strategy: 'random' }, /strategy/],
    [['ws://a:1'], { retries: -1 }, /retries/],
    [['ws://a:1'], { probe: { path: 'healthz' } }, /probe.path/],
    [['ws://a:1'], { probe: { path: '//probe.example/healthz' } }, /probe.path/],
    [['ws://a:1'], { probe: { path: '/\\probe.example/healthz' } }, /probe.path/],
    [['ws://a:1'], { probe: { path: '/\t/probe.example' } }, /probe.path/],
    [['ws://a:1'], { probe: { method: 'POST' } }, /probe.method/],
    [['ws://a:1'], { probe: { interval: 1000, timeout: 2000 } }, /must not exceed/],
    [['ws://a:1'], { probe: { expect: [400, 200] } }, /probe.expect/],
    [['ws://a:1'], { probe: { fall: 0 } }, /probe.fall/],
    [['wss://a:1'], { tls: { ca: 'not a certificate' } }, /origins\(\): tls.ca must be PEM/],
    [[{ url: 'wss://a:1', tls: { servername: 'b.internal:443' } }], {}, /origins\(\) targets\[0\]: tls.servername/],
  ])('refuses %j with %j', (targets, options, message) => {
    expect(() => origins(targets as never, options as never)).toThrow(message)
  })
})

describe('origins(): TLS settings', () => {
  it("merges a target's tls over the pool's, for wss:// targets only, and warns when verification is off", () => {
    const pool = origins(['ws://a:1', { url: 'wss://b:1', tls: { servername: 'b.internal' } }], { tls: { rejectUnauthorized: false }, probe: false })
    const [a, b] = [member(pool, 'ws://a:1'), member(pool, 'wss://b:1')]
    expect(a.tls).toBeUndefined()
    expect(b.tls).toEqual({ rejectUnauthorized: false, servername: 'b.internal' })
    expect(pool.warnings).toHaveLength(1)
    expect(pool.warnings[0]).toMatch(/^wss:\/\/b:1: tls.rejectUnauthorized is false/)
  })

  it('refuses tls on a route whose target is a pool (it belongs to origins())', () => {
    const pool = origins(['wss://a:1'], { probe: false })
    expect(() => websocket(pool, { tls: { servername: 'x' } })).toThrow(/give tls to origins\(\)/)
  })
})

/** Steps the fake clock until `predicate` holds (at most 50 timers). */
async function waitUntil(predicate: () => boolean, step: () => Promise<void>): Promise<void> {
  for (let i = 0; i < 50 && !predicate(); i++) await step()
  expect(predicate()).toBe(true)
}
