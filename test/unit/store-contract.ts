/**
 * The LimitStore contract: one suite, run against every implementation
 * (the in-memory store in test/unit/store-memory.test.ts, the Redis store in
 * test/node/redis-store.test.ts). Each test gets a fresh, empty store.
 */
import { describe, expect, it } from 'vitest'
import type { LimitStore, TokenBucket } from '../../src/limit-store.ts'

/** A store for one test, and how to dispose of it. */
export interface StoreUnderTest {
  store: LimitStore
  close(): Promise<void>
}

export function limitStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  /** Runs `test` with a fresh store, closed afterwards whatever happens. */
  function withStore(test: (store: LimitStore) => Promise<void>): () => Promise<void> {
    return async () => {
      const { store, close } = await open()
      try {
        await test(store)
      } finally {
        await close()
      }
    }
  }

  describe(`${name}: the LimitStore contract`, () => {
    const bucket: TokenBucket = { capacity: 2, refillPerSecond: 1 }
    const t0 = Date.UTC(2026, 0, 1)

    it(
      'gives out max slots of a key, refuses the next without taking it, and takes one again once one is given back',
      withStore(async (store) => {
        expect(await store.acquire('client:a', 2)).toBe(true)
        expect(await store.acquire('client:a', 2)).toBe(true)
        expect(await store.acquire('client:a', 2)).toBe(false)
        expect(await store.acquire('client:a', 2)).toBe(false)
        await store.release('client:a')
        expect(await store.acquire('client:a', 2)).toBe(true)
        expect(await store.acquire('client:a', 2)).toBe(false)
      }),
    )

    it(
      'counts each key on its own',
      withStore(async (store) => {
        expect(await store.acquire('route:/a', 1)).toBe(true)
        expect(await store.acquire('route:/b', 1)).toBe(true)
        expect(await store.acquire('route:/a', 1)).toBe(false)
      }),
    )

    it(
      'never counts below zero: a release of a slot not held gives nothing extra',
      withStore(async (store) => {
        await store.release('gateway')
        await store.release('gateway')
        expect(await store.acquire('gateway', 1)).toBe(true)
        expect(await store.acquire('gateway', 1)).toBe(false)
        await store.release('gateway')
        await store.release('gateway')
        expect(await store.acquire('gateway', 1)).toBe(true)
        expect(await store.acquire('gateway', 1)).toBe(false)
      }),
    )

    it(
      'checks the cap of each call: a lower max refuses what a higher one admitted',
      withStore(async (store) => {
        expect(await store.acquire('k', 3)).toBe(true)
        expect(await store.acquire('k', 3)).toBe(true)
        expect(await store.acquire('k', 2)).toBe(false)
        expect(await store.acquire('k', 3)).toBe(true)
      }),
    )

    it(
      'starts a bucket full, refuses beyond it with the exact wait, and refills with time',
      withStore(async (store) => {
        expect(await store.consume('rate:a', 1, bucket, t0)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 })
        expect(await store.consume('rate:a', 1, bucket, t0)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 })
        expect(await store.consume('rate:a', 1, bucket, t0 + 250)).toEqual({ allowed: false, retryAfterSeconds: 0.75, remaining: 0 })
        expect(await store.consume('rate:a', 1, bucket, t0 + 1_000)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 })
        // Another key has its own full bucket.
        expect(await store.consume('rate:b', 2, bucket, t0 + 1_000)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 })
      }),
    )

    it(
      'takes nothing on a refused call, fills no further than the capacity, and earns nothing from a clock that stepped back',
      withStore(async (store) => {
        await store.consume('k', 2, bucket, t0)
        const refused = await store.consume('k', 2, bucket, t0 + 500)
        expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1.5, remaining: 0 })
        expect((await store.consume('k', 2, bucket, t0 + 2_000)).allowed).toBe(true)
        // An hour later the bucket holds its capacity, not 3,600 tokens.
        expect(await store.consume('k', 1, bucket, t0 + 3_602_000)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 })
        expect(await store.consume('k', 1, bucket, t0 + 3_602_000)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 })
        expect((await store.consume('k', 1, bucket, t0)).allowed).toBe(false)
      }),
    )

    it(
      'keeps fractions of a token: ten calls a second apart at 0.1 a second earn exactly one',
      withStore(async (store) => {
        const tenth: TokenBucket = { capacity: 1, refillPerSecond: 0.1 }
        await store.consume('k', 1, tenth, t0)
        for (let second = 1; second < 10; second++) expect((await store.consume('k', 1, tenth, t0 + second * 1000)).allowed).toBe(false)
        expect(await store.consume('k', 1, tenth, t0 + 10_000)).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 })
      }),
    )
  })
}
