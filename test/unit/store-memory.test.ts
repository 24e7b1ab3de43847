import { describe, expect, it } from 'vitest'
import { isPending, MemoryStore } from '../../src/limit-store.ts'
import { limitStoreContract } from './store-contract.ts'

limitStoreContract('MemoryStore', async () => ({ store: new MemoryStore(), close: async () => {} }))

describe('MemoryStore on the handshake path', () => {
  it('answers every call synchronously, with a plain value and never a promise', () => {
    const store = new MemoryStore()
    const acquired = store.acquire('gateway', 1)
    expect(isPending(acquired)).toBe(false)
    expect(acquired).toBe(true)
    expect(store.acquire('gateway', 1)).toBe(false)
    expect(isPending(store.release('gateway'))).toBe(false)
    const consumed = store.consume('rate', 1, { capacity: 1, refillPerSecond: 1 }, 0)
    expect(isPending(consumed)).toBe(false)
    expect(consumed).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 })
    expect(store.shared).toBe(false)
  })

  it('forgets a connection count that returns to zero', () => {
    const store = new MemoryStore()
    store.acquire('client:10.0.0.1:connections', 5)
    store.release('client:10.0.0.1:connections')
    expect(store.connections('client:10.0.0.1:connections')).toBe(0)
  })
})
