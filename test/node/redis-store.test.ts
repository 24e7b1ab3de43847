import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.ts'
import { redisStore, type RedisStore, type RedisStoreOptions } from '../../src/node/redis-store.ts'
import { freePort } from '../helpers/ports.ts'
import { startRedis, type TestRedis } from '../helpers/redis.ts'
import { limitStoreContract } from '../unit/store-contract.ts'

let redis: TestRedis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

/** A logger whose lines the test reads. */
function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  return { logger: pino({ level: 'info' }, stream), lines }
}

/** A store on the test's Redis under a key prefix of its own, so tests share nothing. */
function storeOn(options: RedisStoreOptions = {}): RedisStore {
  return redisStore({ url: redis.url, keyPrefix: `test:${randomUUID()}:`, logger: capturingLogger().logger, ...options })
}

limitStoreContract('RedisStore', async () => {
  const store = storeOn()
  await store.ready()
  return { store, close: () => store.close() }
})

describe('RedisStore shared by several processes', () => {
  it('holds one cap for every store on the same Redis and prefix, and gives a slot back to whichever asks next', async () => {
    const keyPrefix = `test:${randomUUID()}:`
    const a = storeOn({ keyPrefix })
    const b = storeOn({ keyPrefix })
    try {
      await Promise.all([a.ready(), b.ready()])
      expect(await a.acquire('gateway:connections', 3)).toBe(true)
      expect(await b.acquire('gateway:connections', 3)).toBe(true)
      expect(await a.acquire('gateway:connections', 3)).toBe(true)
      expect(await b.acquire('gateway:connections', 3)).toBe(false)
      await a.release('gateway:connections')
      expect(await b.acquire('gateway:connections', 3)).toBe(true)
      expect(await a.acquire('gateway:connections', 3)).toBe(false)
      expect([a.held('gateway:connections'), b.held('gateway:connections')]).toEqual([1, 2])
      // Buckets are shared too.
      const bucket = { capacity: 2, refillPerSecond: 0.001 }
      expect((await a.consume('rate:x', 1, bucket, Date.now())).allowed).toBe(true)
      expect((await b.consume('rate:x', 1, bucket, Date.now())).allowed).toBe(true)
      expect((await a.consume('rate:x', 1, bucket, Date.now())).allowed).toBe(false)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it("stops counting a crashed process's slots once its lease has expired, and close() gives every slot back at once", async () => {
    const keyPrefix = `test:${randomUUID()}:`
    const leaseTtl = 1_000
    const survivor = storeOn({ keyPrefix, leaseTtl })
    const inspector = new Redis(redis.url)
    const holder = spawn(process.execPath, ['test/fixtures/redis-holder.ts', redis.url, keyPrefix, String(leaseTtl), 'k', '2', '2'], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const [line] = (await once(createInterface({ input: holder.stdout! }), 'line')) as [string]
      const { processId, held } = JSON.parse(line) as { processId: string; held: number }
      expect(held).toBe(2)
      await survivor.ready()
      expect(await survivor.acquire('k', 2)).toBe(false)

      const killed = Date.now()
      const exited = once(holder, 'exit')
      process.kill(holder.pid!, 'SIGKILL')
      await exited
      // Still counted until its lease runs out, then no longer.
      expect(await survivor.acquire('k', 2)).toBe(false)
      while (!(await survivor.acquire('k', 2))) {
        expect(Date.now() - killed).toBeLessThan(leaseTtl + 2_000)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(await inspector.hget(`${keyPrefix}k`, processId)).toBe(null)
      // Its lease and its list are swept by the survivor's heartbeat (every third of the lease).
      let swept = false
      for (const deadline = Date.now() + 5_000; !swept && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
        swept = (await inspector.zscore(`${keyPrefix}~leases`, processId)) === null && (await inspector.exists(`${keyPrefix}~held:${processId}`)) === 0
      }
      expect(swept).toBe(true)

      // A graceful stop gives back what is held at once, and removes the lease.
      expect(await survivor.acquire('k', 2)).toBe(true)
      await survivor.close()
      expect(await inspector.hgetall(`${keyPrefix}k`)).toEqual({})
      expect(await inspector.zscore(`${keyPrefix}~leases`, survivor.processId)).toBe(null)
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) process.kill(holder.pid!, 'SIGKILL')
      inspector.disconnect()
      await survivor.close()
    }
  })
})

describe('RedisStore while Redis is down', () => {
  it('with failOpen (the default) admits every handshake and logs one warning per outage', async () => {
    const { logger, lines } = capturingLogger()
    const store = redisStore({ url: `redis://127.0.0.1:${await freePort()}`, logger, timeout: 200 })
    try {
      await store.ready()
      for (let i = 0; i < 5; i++) expect(await store.acquire('k', 1)).toBe(true)
      expect(await store.consume('rate', 1, { capacity: 1, refillPerSecond: 1 }, Date.now())).toMatchObject({ allowed: true })
      const warnings = lines.filter((line) => line.level === 40)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatchObject({ code: 'ERR_LIMIT_STORE_UNAVAILABLE', failOpen: true })
      expect(warnings[0]!.msg).toMatch(/limit store unavailable: admitting/)
    } finally {
      await store.close()
    }
  })

  it('with failOpen: false refuses with 503 ERR_LIMIT_STORE_UNAVAILABLE and Retry-After', async () => {
    const { logger, lines } = capturingLogger()
    const store = redisStore({ url: `redis://127.0.0.1:${await freePort()}`, logger, failOpen: false, timeout: 200 })
    try {
      await store.ready()
      for (const attempt of [() => store.acquire('k', 1), () => store.consume('rate', 1, { capacity: 1, refillPerSecond: 1 }, Date.now())]) {
        const error = await Promise.resolve(attempt()).then(
          () => undefined,
          (thrown: unknown) => thrown,
        )
        expect(error).toBeInstanceOf(GatewayError)
        expect(error).toMatchObject({ status: 503, code: 'ERR_LIMIT_STORE_UNAVAILABLE', headers: { 'retry-after': '5' } })
      }
      expect(store.held('k')).toBe(0)
      expect(lines.filter((line) => line.level === 40)).toHaveLength(1)
    } finally {
      await store.close()
    }
  })

  it('with failOpen: false does not keep counting a slot whose acquire timed out here and then ran on a Redis that had stalled', async () => {
    // A stalled Redis (SIGSTOP: a swapping or paused server) answers nothing, then runs what it had queued: the
    // refused handshake's acquire takes a slot there that no connection holds, and our lease keeps it counted.
    const own = await startRedis()
    const keyPrefix = `test:${randomUUID()}:`
    const store = redisStore({ url: own.url, keyPrefix, logger: capturingLogger().logger, failOpen: false, timeout: 200, leaseTtl: 1_500 })
    const inspector = new Redis(own.url)
    try {
      await store.ready()
      // Two round trips: the first heartbeat and its write-back are answered before the stall.
      for (let i = 0; i < 2; i++) await store.consume('warm', 1, { capacity: 5, refillPerSecond: 1 }, Date.now())
      process.kill(own.pid, 'SIGSTOP')
      let refused: unknown
      try {
        await store.acquire('k', 5)
      } catch (error) {
        refused = error
      } finally {
        process.kill(own.pid, 'SIGCONT')
      }
      expect(refused).toMatchObject({ status: 503, code: 'ERR_LIMIT_STORE_UNAVAILABLE' })
      expect(store.held('k')).toBe(0)
      const counted = async (): Promise<string | null> => inspector.hget(`${keyPrefix}k`, store.processId)
      const deadline = Date.now() + 5_000
      while ((await counted()) !== null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(await counted()).toBe(null)
      // The lease stayed alive all along (it is not a lapsed lease's full write-back that fixed it).
      expect(Number(await inspector.zscore(`${keyPrefix}~leases`, store.processId))).toBeGreaterThan(Date.now())
    } finally {
      inspector.disconnect()
      await store.close()
      await own.stop()
    }
  })

  it('while Redis is stalled, answers handshakes at once instead of queueing a command for each (one probe per timeout)', async () => {
    // A paused Redis, or one whose host vanished without a reset, keeps the connection open and answers nothing:
    // every command sent meanwhile waits in memory and runs when (if) it resumes.
    const own = await startRedis()
    const keyPrefix = `test:${randomUUID()}:`
    const store = redisStore({ url: own.url, keyPrefix, logger: capturingLogger().logger, timeout: 200 })
    const inspector = new Redis(own.url)
    const bucket = { capacity: 100, refillPerSecond: 1 }
    // One clock reading for every call: the bucket earns nothing back, so its tokens count the calls that ran.
    const now = Date.now()
    try {
      await store.ready()
      expect(await store.consume('rate', 1, bucket, now)).toMatchObject({ allowed: true, remaining: 99 })
      process.kill(own.pid, 'SIGSTOP')
      try {
        // The first call meets the stall and waits out the timeout; it is admitted (failOpen).
        expect(await store.consume('rate', 1, bucket, now)).toMatchObject({ allowed: true })
        const meanwhile = await Promise.all(Array.from({ length: 50 }, () => store.consume('rate', 1, bucket, now)))
        expect(meanwhile.every((result) => result.allowed)).toBe(true)
      } finally {
        process.kill(own.pid, 'SIGCONT')
      }
      // Two round trips on another connection: by the second, Redis has run whatever the store had sent it.
      await inspector.ping()
      await inspector.ping()
      // Of 100 tokens: the call before the stall, the stalled one (run on resume), and perhaps a probe; not the 50.
      expect(Number(await inspector.hget(`${keyPrefix}rate`, 't'))).toBeGreaterThan(90)
    } finally {
      inspector.disconnect()
      await store.close()
      await own.stop()
    }
  })

  it('writes back what it admitted during an outage once Redis is back (empty, as after a restart without persistence)', async () => {
    const own = await startRedis()
    const { logger, lines } = capturingLogger()
    const keyPrefix = `test:${randomUUID()}:`
    const store = redisStore({ url: own.url, keyPrefix, logger, timeout: 200, leaseTtl: 900 })
    let inspector: Redis | undefined
    try {
      await store.ready()
      expect(await store.acquire('k', 3)).toBe(true)
      await own.stop()
      expect(await store.acquire('k', 3)).toBe(true)
      expect(store.held('k')).toBe(2)
      await own.restart()
      inspector = new Redis(own.url)
      const counted = async (): Promise<string | null> => inspector!.hget(`${keyPrefix}k`, store.processId)
      const deadline = Date.now() + 10_000
      while ((await counted()) !== '2' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(await counted()).toBe('2')
      expect(await store.acquire('k', 3)).toBe(true)
      expect(await store.acquire('k', 3)).toBe(false)
      expect(lines.map((line) => line.msg)).toContain('limit store available again')
    } finally {
      inspector?.disconnect()
      await store.close()
      await own.stop()
    }
  })
})
