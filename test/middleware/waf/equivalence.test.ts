import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { recordVerdicts, type VerdictRecord } from '../../fixtures/waf/verdicts.ts'

/**
 * The snapshot recorded before the engine's per-handshake optimisations
 * (transformation caches, regex prefilters, collection caches): every
 * optimisation must leave every verdict, match, logged value, anomaly
 * score and the final TX collection exactly as they were.
 */
const snapshot = JSON.parse(readFileSync(new URL('../../fixtures/waf/verdicts.json', import.meta.url), 'utf8')) as Record<string, Record<string, VerdictRecord>>

describe('the engine decides every corpus handshake exactly as the recorded snapshot', () => {
  // Compiling the CRS three times and evaluating ~2,700 handshakes: once for the file.
  const current = recordVerdicts()

  it.each(Object.keys(snapshot))('%s: same verdict, matches, values, anomaly score and TX for every case', (config) => {
    const expected = snapshot[config]!
    const actual = current[config]!
    expect(Object.keys(actual)).toEqual(Object.keys(expected))
    const differing = Object.keys(expected).filter((id) => JSON.stringify(actual[id]) !== JSON.stringify(expected[id]))
    // One case in full first: the diff names what changed.
    if (differing.length) expect({ id: differing[0], ...actual[differing[0]!] }).toEqual({ id: differing[0], ...expected[differing[0]!] })
    expect(differing).toEqual([])
  })
})
