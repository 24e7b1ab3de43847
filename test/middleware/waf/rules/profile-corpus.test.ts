import { describe, expect, it } from 'vitest'
import { crsWaf } from '../crs-instances.ts'
import type { WafMiddleware } from '../../../../middleware/waf/index.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { ATTACKS, ATTACKS_PARANOIA_2 } from '../../../fixtures/waf/attacks.ts'
import { REALTIME, REALTIME_PLAIN } from '../../../fixtures/waf/realtime.ts'

/**
 * What the handshake profile is for, on the realtime benign corpus and the
 * attack corpus: fewer false positives at PL1 and PL2, none at PL1 on the
 * plain handshakes, and not one attack less blocked. The figures are the
 * README's.
 */
const crs = crsWaf
const blocked = (instance: WafMiddleware, cases: readonly { id: string; facts: HandshakeFacts }[]): string[] =>
  cases.filter((item) => instance.inspect(item.facts).blocked).map((item) => item.id)

describe('the handshake profile on the realtime benign corpus', () => {
  it.each([1, 2] as const)('blocks fewer handshakes at PL%i than the CRS as written, and none the CRS lets through', (paranoia) => {
    const without = blocked(crs(paranoia, false), REALTIME)
    const withProfile = blocked(crs(paranoia, true), REALTIME)
    expect(withProfile.length).toBeLessThan(without.length)
    expect(withProfile.filter((id) => !without.includes(id))).toEqual([])
  })

  it('blocks no plain handshake at PL1', () => {
    expect(blocked(crs(1, true), REALTIME_PLAIN)).toEqual([])
  })

  it("gives the README's figures (blocked without → with the profile, all cases and plain ones)", () => {
    const figures = ([1, 2] as const).map((paranoia) => ({
      paranoia,
      all: [blocked(crs(paranoia, false), REALTIME).length, blocked(crs(paranoia, true), REALTIME).length],
      plain: [blocked(crs(paranoia, false), REALTIME_PLAIN).length, blocked(crs(paranoia, true), REALTIME_PLAIN).length],
    }))
    expect({ cases: REALTIME.length, plain: REALTIME_PLAIN.length, figures }).toEqual({
      cases: 657,
      plain: 609,
      figures: [
        { paranoia: 1, all: [37, 24], plain: [13, 0] },
        { paranoia: 2, all: [108, 94], plain: [76, 62] },
      ],
    })
  })
})

describe('the handshake profile on the attack corpus', () => {
  it('loses no detection at PL1: every attack is blocked', () => {
    expect(ATTACKS.filter((attack) => !crs(1, true).inspect(attack.facts).blocked).map((attack) => attack.id)).toEqual([])
  })

  it('loses no detection at PL2: every attack, the paranoia-2 ones included, is blocked', () => {
    expect([...ATTACKS, ...ATTACKS_PARANOIA_2].filter((attack) => !crs(2, true).inspect(attack.facts).blocked).map((attack) => attack.id)).toEqual([])
  })
})
