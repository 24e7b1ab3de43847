import { describe, expect, it } from 'vitest'
import { crsWaf, DEBIAN_CRS as CRS } from '../crs-instances.ts'
import { buildCollections } from '../../../../middleware/waf/engine/collections.ts'
import { waf, type WafMiddleware } from '../../../../middleware/waf/index.ts'
import { HANDSHAKE_PROFILE, type ProfileExclusion } from '../../../../middleware/waf/rules/profile.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { ATTACKS, ATTACKS_PARANOIA_2, type AttackCase, type AttackCategory } from '../../../fixtures/waf/attacks.ts'
import { CRS_FALSE_POSITIVES } from '../../../fixtures/waf/benign.ts'
import { handshakeFacts } from '../../../fixtures/waf/handshake.ts'

/**
 * The handshake profile (middleware/waf/rules/profile.ts): each exclusion lets
 * go of only what it names, and an attack placed in its target is still
 * caught, because the value breaks the target's grammar (and is inspected
 * as usual) or because another rule catches it.
 */

const crs = crsWaf

/** What a verdict amounts to: blocked, the score, and each match by rule and variable. */
function outcome(instance: WafMiddleware, facts: HandshakeFacts): { blocked: boolean; score: number; matches: string[] } {
  const evaluation = instance.inspect(facts)
  return { blocked: evaluation.blocked, score: evaluation.anomalyScore, matches: evaluation.matches.map((match) => `${match.id} ${match.variable}`) }
}

const ruleIds = (instance: WafMiddleware, facts: HandshakeFacts): number[] => instance.inspect(facts).matches.map((match) => match.id)

/** The attack categories of the corpus that a rule family's rules look for. */
const CATEGORY: Record<string, AttackCategory> = { 932000: 'rce', 941000: 'xss', 942000: 'sqli' }

/** The payload of an attack placed in a query argument (`/chat/socket?room=lobby&<name>=<payload>`), as sent (percent-encoded). */
function queryPayload(attack: AttackCase): string | undefined {
  const prefix = '/chat/socket?room=lobby&'
  if (attack.placement !== 'query' || !attack.facts.rawTarget.startsWith(prefix)) return undefined
  const pair = attack.facts.rawTarget.slice(prefix.length)
  return pair.includes('=') ? pair.slice(pair.indexOf('=') + 1) : undefined
}

const DEFAULT_HEADERS = new Set(handshakeFacts().headers.map(([name, value]) => `${name}\n${value}`))
/** The payload of an attack placed in a header: the one header value the default handshake does not have. */
function headerPayload(attack: AttackCase): string | undefined {
  if (attack.placement !== 'header') return undefined
  const changed = attack.facts.headers.filter(([name, value]) => !DEFAULT_HEADERS.has(`${name}\n${value}`))
  return changed.length === 1 ? changed[0]![1] : undefined
}

type GrammarExclusion = Extract<ProfileExclusion, { kind: 'grammar' }>

/** Every attack of the family's category that the corpus places in a query value or a header, moved into the exclusion's target. */
function attacksIn(exclusion: GrammarExclusion): { id: string; value: string; facts: HandshakeFacts }[] {
  const category = CATEGORY[exclusion.family.rules[0]]!
  return [...ATTACKS, ...ATTACKS_PARANOIA_2]
    .filter((attack) => attack.category === category)
    .flatMap((attack) => {
      if (exclusion.collection === 'ARGS') {
        const payload = queryPayload(attack)
        if (payload === undefined) return []
        const facts = handshakeFacts({ target: `/ws?room=lobby&${exclusion.key}=${payload}` })
        // The value as the rules read it: the WAF's own decoding of the query.
        const value = buildCollections(facts).get('ARGS')!.find((item) => item.name.toLowerCase() === exclusion.key.toLowerCase())!.value
        return [{ id: attack.id, value, facts }]
      }
      const payload = headerPayload(attack)
      return payload === undefined ? [] : [{ id: attack.id, value: payload, facts: handshakeFacts({ headers: { [exclusion.key]: payload } }) }]
    })
}

const GRAMMAR_EXCLUSIONS = HANDSHAKE_PROFILE.filter((exclusion): exclusion is GrammarExclusion => exclusion.kind === 'grammar')

describe('the handshake profile', () => {
  it('is on by default with the CRS, listed in the load report, and off with handshakeProfile: false', () => {
    expect(waf({ crs: CRS }).report.handshakeProfile).toEqual(HANDSHAKE_PROFILE.map((exclusion) => exclusion.name))
    expect(crs(1, false).report.handshakeProfile).toEqual([])
    expect(crs(1, false).reportLines.some((line) => line.includes('handshake profile'))).toBe(false)
    expect(waf({}).report.handshakeProfile).toEqual([])
    expect(() => waf({ crs: CRS, handshakeProfile: 'yes' as unknown as boolean })).toThrow('waf(): handshakeProfile must be true or false, got "yes"')
  })

  it('names one rule or one rule family and one target in each exclusion, each with a reason', () => {
    const names = HANDSHAKE_PROFILE.map((exclusion) => exclusion.name)
    expect(new Set(names).size).toBe(names.length)
    for (const exclusion of HANDSHAKE_PROFILE) {
      expect(exclusion.reason.length, exclusion.name).toBeGreaterThan(20)
      if (exclusion.kind === 'grammar') {
        const [from, to] = exclusion.family.rules
        expect(to - from, exclusion.name).toBe(999)
        expect(exclusion.grammar.source.startsWith('^') && exclusion.grammar.source.endsWith('$'), exclusion.name).toBe(true)
      }
    }
  })
})

describe.each(GRAMMAR_EXCLUSIONS.map((exclusion) => [exclusion.name, exclusion] as const))('grammar exclusion %s', (_name, exclusion) => {
  const placed = attacksIn(exclusion)

  it("breaks the target's grammar with every attack of the family's category the corpus holds", () => {
    expect(placed.length).toBeGreaterThan(0)
    expect(placed.filter(({ value }) => exclusion.grammar.test(value)).map(({ id }) => id)).toEqual([])
  })

  it.each([1, 2] as const)('so at PL%i each is inspected as without the profile, and blocked as it was', (paranoia) => {
    const differing: string[] = []
    const blocked = { on: 0, off: 0 }
    for (const { id, facts } of placed) {
      const on = outcome(crs(paranoia, true), facts)
      const off = outcome(crs(paranoia, false), facts)
      // 920300 is the profile's other business (relaxed for upgrades); what this exclusion decides is the rest.
      const strip = (result: typeof on): typeof on => ({ ...result, score: result.score - (result.matches.some((match) => match.startsWith('920300 ')) ? 2 : 0), matches: result.matches.filter((match) => !/^(?:920300|949110) /.test(match)) })
      if (JSON.stringify(strip(on)) !== JSON.stringify(strip(off)) || on.blocked !== off.blocked) differing.push(id)
      if (on.blocked) blocked.on++
      if (off.blocked) blocked.off++
    }
    expect(differing).toEqual([])
    expect(blocked.on).toBe(blocked.off)
    // Query arguments are read by every rule of the family; of the handshake headers, CRS 3.3.4 reads every one only in RCE (932170/932171).
    if (exclusion.collection === 'ARGS' || exclusion.family.rules[0] === 932000) expect(blocked.on).toBeGreaterThan(0)
  })
})

describe('upgrade exclusion ARGS_NAMES:session_id/943120', () => {
  const uuid = '8f14e45f-ceea-467f-a9f8-1a2b3c4d5e6f'
  const kernel = (query: string, headers: Record<string, string | null> = {}): HandshakeFacts => handshakeFacts({ target: `/api/kernels/0b4f2d1e-3c5a-4e6f-8a9b-0c1d2e3f4a5b/channels?${query}`, headers })

  it("lets through Jupyter's kernel channels, which the CRS as written blocks", () => {
    const jupyter = CRS_FALSE_POSITIVES.filter((item) => item.crsRules.includes(943120))
    expect(jupyter.length).toBeGreaterThan(0)
    for (const { id, facts } of jupyter) {
      expect(ruleIds(crs(1, false), facts), id).toContain(943120)
      expect(ruleIds(crs(1, true), facts), id).not.toContain(943120)
      expect(crs(1, true).inspect(facts).blocked, id).toBe(false)
    }
  })

  it.each([
    ['a value that is not a UUID', `session_id=attacker-chosen`, {}],
    ['a second session_id', `session_id=${uuid}&session_id=${uuid}`, {}],
    ['another session parameter name', `jsessionid=${uuid}`, {}],
    ['a request that is not a WebSocket upgrade (a navigation)', `session_id=${uuid}`, { Upgrade: null, Connection: 'keep-alive', Accept: 'text/html' }],
    ['an upgrade to something else', `session_id=${uuid}`, { Upgrade: 'h2c' }],
  ])('still flags a session id on %s', (_what, query, headers) => {
    expect(ruleIds(crs(1, true), kernel(query, headers))).toContain(943120)
  })

  it('leaves the value to every other rule: an injection in session_id is blocked', () => {
    const facts = kernel(`session_id=${encodeURIComponent("1' OR '1'='1")}`)
    expect(crs(1, true).inspect(facts).blocked).toBe(true)
  })
})

describe('upgrade exclusion REQUEST_HEADERS:Accept/920300', () => {
  const python = (headers: Record<string, string | null> = {}): HandshakeFacts => handshakeFacts({ client: 'python-websockets', target: '/ws', headers })

  it('drops the missing-Accept notice on a WebSocket upgrade at PL2', () => {
    expect(ruleIds(crs(2, false), python())).toContain(920300)
    expect(ruleIds(crs(2, true), python())).not.toContain(920300)
  })

  it('keeps it for a request that is not an upgrade', () => {
    expect(ruleIds(crs(2, true), python({ Upgrade: null, Connection: 'close' }))).toContain(920300)
  })

  it('loses no attack: every attack of the corpus (none sends Accept) is still blocked at PL2', () => {
    const cases = [...ATTACKS, ...ATTACKS_PARANOIA_2]
    expect(cases.filter((attack) => !crs(2, true).inspect(attack.facts).blocked).map((attack) => attack.id)).toEqual([])
  })
})
