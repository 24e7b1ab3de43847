import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { crsWaf } from './crs-instances.ts'
import { evasionCases } from './parity/evasion-cases.ts'

/**
 * `waf()` with the CRS as written (no handshake profile) against what
 * nginx + libmodsecurity 3.0.9 decided on the same requests with the same
 * CRS 3.3.4: the verdict and every CRS rule that matched (the blocking and
 * reporting rules 949110/980130 and wsgate's own 99xxxxx complements
 * aside). The recorded cases are those on which the two agreed when this
 * was written; the places where they did not are listed in
 * `parity/README.md` with why, so a change that opens an evasion (or a
 * false positive) on any recorded case fails here.
 */
const EXPECTED: Record<string, string> = JSON.parse(readFileSync(new URL('./parity/modsecurity-3.0.9-crs-3.3.4.json', import.meta.url), 'utf8'))
const IGNORED = new Set([949110, 980130, 959100, 980140])

describe('parity with ModSecurity 3.0.9 on the evasion corpus', () => {
  const cases = evasionCases().filter(({ name }) => name in EXPECTED)

  it('covers the recorded corpus', () => {
    expect(cases.length).toBe(Object.keys(EXPECTED).length)
    expect(cases.length).toBeGreaterThan(2000)
  })

  it('matches the same CRS rules and reaches the same verdict on every case', () => {
    const differences: string[] = []
    for (const { name, paranoia, target, headers } of cases) {
      const evaluation = crsWaf(paranoia, false).inspect({
        method: 'GET',
        rawTarget: target,
        protocol: 'HTTP/1.1',
        headers: [['Host', 'localhost'], ...headers, ['X-Case', '1'], ['Connection', 'close']],
        remoteAddress: '127.0.0.1',
      })
      const rules = [...new Set(evaluation.matches.map(({ id }) => id).filter((id) => !IGNORED.has(id) && id < 9_900_000))].sort()
      const got = (evaluation.blocked ? '403' : '200') + (rules.length > 0 ? ` ${rules.join(',')}` : '')
      if (got !== EXPECTED[name]) differences.push(`${name}: ModSecurity ${EXPECTED[name]}, waf() ${got}`)
    }
    expect(differences).toEqual([])
  })
})
