import { describe, expect, it } from 'vitest'
import { compileRules, type Primitives } from '../../../../middleware/waf/rules/compile.ts'
import { evaluate, type Evaluation } from '../../../../middleware/waf/engine/engine.ts'
import { PRIMITIVES } from '../../../../middleware/waf/primitives.ts'
import { crsUnits } from '../../../../middleware/waf/rules/crs-units.ts'
import type { HandshakeFacts, OperatorFactory } from '../../../../middleware/waf/types.ts'
import { readCrs } from '../../../../src/node/crs-directory.ts'
import { guardRegExpBacktracking } from '../../../../src/node/regexp-guard.ts'
import { handshakeFacts } from '../../../fixtures/waf/handshake.ts'
import { crsPatternTrees, sampleOf, seededRandom } from '../crs-patterns.ts'

guardRegExpBacktracking()

/** The real primitives with every operator's `factors` dropped: the engine then runs every operator on every value. */
const UNFILTERED: Primitives = {
  ...PRIMITIVES,
  operators: Object.fromEntries(
    Object.entries(PRIMITIVES.operators).map(([name, factory]): [string, OperatorFactory] => [
      name,
      (param, context) => {
        const operator = factory(param, context)
        return (input, expand) => operator(input, expand)
      },
    ]),
  ),
}

/** The CRS at paranoia 4 (every rule), compiled as `waf({ crs })` compiles it, with the given primitives. */
function crsRuleSet(primitives: Primitives) {
  return compileRules(crsUnits(readCrs('/usr/share/modsecurity-crs'), 4, 5).units, primitives).ruleSet
}

/** What must not differ between the prefiltered and the plain engine. */
function outcome(evaluation: Evaluation) {
  return { blocked: evaluation.blocked, blockedBy: evaluation.blockedBy, anomalyScore: evaluation.anomalyScore, matches: evaluation.matches, tx: [...evaluation.tx] }
}

describe('the engine prefilter (operator factors, literal index, literal sets cached per value and chain)', () => {
  it('changes nothing on handshakes carrying strings generated from every CRS pattern, in the query, a cookie, a header and the path', () => {
    const filtered = crsRuleSet(PRIMITIVES)
    const plain = crsRuleSet(UNFILTERED)
    expect(filtered.literals).toBeDefined()
    expect(plain.literals).toBeUndefined()
    const random = seededRandom(0xe9e1)
    const options = { detectionOnly: true, budgetMs: Number.POSITIVE_INFINITY, onBudgetExceeded: 'pass' as const, now: () => 0 }
    const differing: string[] = []
    let count = 0
    let scored = 0
    for (const { pattern, tree } of crsPatternTrees()) {
      for (let i = 0; i < 3; i++) {
        const sample = sampleOf(tree, random).slice(0, 80)
        const encoded = encodeURIComponent(sample).replace(/%25/g, '%')
        const header = sample.replace(/[^\x20-\x7e]/g, ' ')
        const cases: HandshakeFacts[] = [
          handshakeFacts({ target: `/ws?q=${encoded}&${encoded}=1` }),
          handshakeFacts({ cookie: `sid=${header.replace(/;/g, ',')}; ${header.replace(/[;=]/g, '')}=x` }),
          handshakeFacts({ headers: { 'User-Agent': header, Referer: `https://example.com/${encoded}` } }),
          handshakeFacts({ target: `/${encoded}/socket` }),
        ]
        for (const facts of cases) {
          count++
          const a = outcome(evaluate(filtered, facts, PRIMITIVES.buildCollections(facts), options))
          const b = outcome(evaluate(plain, facts, PRIMITIVES.buildCollections(facts), options))
          if (a.anomalyScore > 0) scored++
          if (JSON.stringify(a) !== JSON.stringify(b)) differing.push(`${pattern.slice(0, 60)} :: ${JSON.stringify(facts).slice(0, 300)}`)
        }
      }
    }
    expect(differing).toEqual([])
    // Enough of them must make rules match, or the comparison would prove little.
    expect(count).toBeGreaterThan(2_000)
    expect(scored).toBeGreaterThan(count / 3)
  })
})
