import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { waf } from '../../../../middleware/waf/index.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { ValueCaches } from '../../../../middleware/waf/engine/value-caches.ts'
import { readCrs } from '../../../../src/node/crs-directory.ts'
import { DEFAULT_WAF_TEXT_CACHE_BYTES, DEFAULT_WAF_TEXT_CACHE_ENTRIES, DEFAULT_WAF_TEXT_CACHE_MAX_TEXT } from '../../../../src/defaults.ts'
import { VERDICT_CASES, VERDICT_CONFIGS, verdictRecord, type VerdictRecord } from '../../../fixtures/waf/verdicts.ts'

const snapshot = JSON.parse(readFileSync(new URL('../../../fixtures/waf/verdicts.json', import.meta.url), 'utf8')) as Record<string, Record<string, VerdictRecord>>

/** A deterministic shuffle (mulberry32), so that a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items]
  let state = seed
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('the cross-handshake text cache changes no verdict', () => {
  // The snapshot was recorded with a cold start per configuration; here every case runs again with the cache warm, then in shuffled order.
  it.each(VERDICT_CONFIGS.map(([label, options]) => [label, options] as const))('%s: a second pass and a shuffled third pass equal the snapshot', (label, options) => {
    const middleware = waf(options)
    const expected = snapshot[label]!
    const differing: string[] = []
    const passes = [VERDICT_CASES, VERDICT_CASES, shuffled(VERDICT_CASES, 0x5eed)]
    passes.forEach((cases, pass) => {
      for (const { id, facts } of cases) {
        if (JSON.stringify(verdictRecord(middleware, facts)) !== JSON.stringify(expected[id])) differing.push(`pass ${pass}: ${id}`)
      }
    })
    expect(differing).toEqual([])
    const stats = middleware.textCacheStats()!
    // The passes after the first find most texts already cached.
    expect(stats.hits).toBeGreaterThan(stats.misses)
  })
})

describe('the text cache stays within its bounds', () => {
  it('holds at most DEFAULT_WAF_TEXT_CACHE_ENTRIES texts and DEFAULT_WAF_TEXT_CACHE_BYTES bytes, whatever the traffic', () => {
    const middleware = waf({ crs: readCrs('/usr/share/modsecurity-crs'), paranoia: 1, budgetMs: 1e9 })
    let largest = 0
    for (let i = 0; i < 1_500; i++) {
      const facts: HandshakeFacts = {
        method: 'GET',
        rawTarget: `/ws/${i}?room=r${i}&token=${'t'.repeat(i % 50)}${i}&q=%3Cb%3E${i}`,
        protocol: 'HTTP/1.1',
        headers: [
          ['Host', `h${i}.example.com`],
          ['Connection', 'Upgrade'],
          ['Upgrade', 'websocket'],
          ['User-Agent', `Mozilla/5.0 agent ${i} ${'x'.repeat(i % 300)}`],
          ['Origin', `https://o${i}.example.com`],
          ['Sec-WebSocket-Key', `key${i}==`],
          ['Cookie', `sid=${i}; big=${'c'.repeat(DEFAULT_WAF_TEXT_CACHE_MAX_TEXT + (i % 5))}`],
        ],
        remoteAddress: '192.0.2.1',
      }
      middleware.inspect(facts)
      const stats = middleware.textCacheStats()!
      expect(stats.entries).toBeLessThanOrEqual(DEFAULT_WAF_TEXT_CACHE_ENTRIES)
      expect(stats.bytes).toBeLessThanOrEqual(DEFAULT_WAF_TEXT_CACHE_BYTES)
      largest = Math.max(largest, stats.bytes)
    }
    // The traffic did fill it: the bound, not the traffic, is what held it.
    expect(largest).toBeGreaterThan(DEFAULT_WAF_TEXT_CACHE_BYTES * 0.9)
  })

  it('evicts one-off texts before recurring ones, drops long texts at the end of their evaluation, and frees their literal sets', () => {
    const caches = new ValueCaches(2, 1, 1, { maxEntries: 8, maxBytes: 1e9, maxText: 10 })
    const arena = caches.arena!
    for (let i = 0; i < 100; i++) {
      caches.of('recurring')
      const cache = caches.of(`one-off ${i}`.slice(0, 10))
      caches.setLiterals(cache, 0, arena.allocate(), true)
      const long = caches.of(`too long to keep ${i}`)
      caches.setLiterals(long, 2, arena.allocate(), true)
      caches.release()
      const stats = caches.stats
      expect(stats.entries).toBeLessThanOrEqual(8)
      // Each held one-off owns one set; the recurring text none; the long text's was freed with it.
      expect(stats.literalSets).toBe(stats.entries - 1)
    }
    const misses = caches.stats.misses
    caches.of('recurring')
    caches.of('too long to keep 99')
    expect(caches.stats.misses).toBe(misses + 1)
  })

  it('counts bytes and keeps within them', () => {
    const caches = new ValueCaches(4, 2, 2, { maxEntries: 1e9, maxBytes: 4_000, maxText: 1_000 })
    for (let i = 0; i < 200; i++) {
      const cache = caches.of(`text number ${i} `.repeat(1 + (i % 7)))
      caches.setTransformed(cache, 0, caches.setLastOutput(cache, 0, 'a', `changed ${i}`.repeat(3)))
      caches.release()
      expect(caches.stats.bytes).toBeLessThanOrEqual(4_000)
      expect(caches.stats.bytes).toBeGreaterThan(0)
    }
  })
})
