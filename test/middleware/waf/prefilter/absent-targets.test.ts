import { describe, expect, it } from 'vitest'
import { absentPlan, presentCollections } from '../../../../middleware/waf/prefilter/absent-targets.ts'
import { compileRules } from '../../../../middleware/waf/rules/compile.ts'
import { evaluate, type EvaluateOptions, type Evaluation } from '../../../../middleware/waf/engine/engine.ts'
import { PRIMITIVES } from '../../../../middleware/waf/primitives.ts'
import { crsUnits } from '../../../../middleware/waf/rules/crs-units.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { readCrs } from '../../../../src/node/crs-directory.ts'
import { guardRegExpBacktracking } from '../../../../src/node/regexp-guard.ts'
import { handshakeFacts } from '../../../fixtures/waf/handshake.ts'
import { crsPatternTrees, sampleOf, seededRandom } from '../crs-patterns.ts'
import { facts, fakeCollections, fakePrimitives } from '../fake-primitives.ts'

guardRegExpBacktracking()

const OPTIONS: EvaluateOptions = { detectionOnly: true, budgetMs: Number.POSITIVE_INFINITY, onBudgetExceeded: 'pass', now: () => 0 }

/** What must not differ between an evaluation that steps over rules and one that runs every rule. */
function outcome(evaluation: Evaluation) {
  return { blocked: evaluation.blocked, wouldBlock: evaluation.wouldBlock, blockedBy: evaluation.blockedBy, anomalyScore: evaluation.anomalyScore, matches: evaluation.matches, tx: [...evaluation.tx] }
}

/** Each handshake evaluated twice with one rule set (the second from the constant plan), with and without the step-over. */
function bothWays(text: string, handshakes: HandshakeFacts[]): { stepping: Evaluation[]; every: Evaluation[] } {
  const { ruleSet } = compileRules([{ file: 'rules.conf', text }], fakePrimitives)
  const run = (options: EvaluateOptions): Evaluation[] => [...handshakes, ...handshakes].map((handshake) => evaluate(ruleSet, handshake, fakeCollections(handshake), options, 'req-1'))
  return { stepping: run(OPTIONS), every: run({ ...OPTIONS, everyRule: true }) }
}

describe('rules whose first link reads only collections the handshake has empty', () => {
  it('still counts an absent collection: &ARGS "@eq 0" matches a handshake without a query', () => {
    const { stepping, every } = bothWays(`SecRule &ARGS "@eq 0" "id:1,phase:1,deny,msg:'no args'"`, [facts('/ws'), facts('/ws?a=1')])
    expect(stepping.map((evaluation) => evaluation.blockedBy)).toEqual([1, undefined, 1, undefined])
    expect(stepping.map(outcome)).toEqual(every.map(outcome))
  })

  it('runs the first link of a chain whose second link reads an absent collection: its setvar happens though the chain fails', () => {
    const text = `
SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1,pass,nolog,setvar:tx.seen=yes,chain"
  SecRule ARGS "@rx ." ""
SecRule TX:seen "@streq yes" "id:2,phase:1,deny,msg:'first link ran'"
`
    const { stepping, every } = bothWays(text, [facts('/ws'), facts('/ws?a=1')])
    expect(stepping.map((evaluation) => evaluation.blockedBy)).toEqual([2, 2, 2, 2])
    expect(stepping.map(outcome)).toEqual(every.map(outcome))
  })

  it('matches nothing on an absent collection, negated operator or not, and leaves MATCHED_VAR as it was', () => {
    const text = `
SecRule REQUEST_URI "@rx ^/(ws)" "id:1,phase:1,pass,nolog,capture,setvar:tx.before=%{tx.1}"
SecRule ARGS "!@rx ^zzz$" "id:2,phase:1,pass,log,msg:'negated on ARGS'"
SecRule REQUEST_COOKIES|ARGS_NAMES "@rx ." "id:3,phase:1,pass,log,msg:'any cookie or arg name'"
SecRule MATCHED_VAR "@streq /ws" "id:4,phase:1,deny,msg:'MATCHED_VAR untouched'"
`
    const { stepping, every } = bothWays(text, [facts('/ws'), facts('/ws?a=1'), facts('/ws', [['Cookie', 'sid=1']])])
    expect(stepping.map((evaluation) => evaluation.matches.map((match) => match.id))).toEqual([[4], [2, 3], [3], [4], [2, 3], [3]])
    expect(stepping.map(outcome)).toEqual(every.map(outcome))
  })

  it('does not step over a request rule while planning: a later TX-only rule sees what it set', () => {
    const text = `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.level=1"
SecRule ARGS:raise "@rx ^([0-9])$" "id:2,phase:1,pass,nolog,capture,setvar:tx.level=%{tx.1}"
SecRule TX:level "@lt 2" "id:3,phase:1,pass,nolog,skipAfter:END"
SecRule REQUEST_URI "@contains ws" "id:4,phase:1,deny,msg:'level 2'"
SecMarker END
`
    const { stepping, every } = bothWays(text, [facts('/ws'), facts('/ws?raise=2')])
    expect(stepping.map((evaluation) => evaluation.blockedBy)).toEqual([undefined, 4, undefined, 4])
    expect(stepping.map(outcome)).toEqual(every.map(outcome))
  })
})

/** The CRS at paranoia 4 (every rule), compiled as `waf({ crs })` compiles it. */
function crsRuleSet() {
  return compileRules(crsUnits(readCrs('/usr/share/modsecurity-crs'), 4, 5).units, PRIMITIVES).ruleSet
}

describe('stepping over rules whose collections are empty, on the CRS', () => {
  const ruleSet = crsRuleSet()

  it('steps over most attack rules on a handshake without a query or cookies, and over none when both are there', () => {
    const plan = absentPlan(ruleSet)
    const stepped = (handshake: HandshakeFacts): number => {
      const present = presentCollections(plan, PRIMITIVES.buildCollections(handshake))
      return plan.reads.reduce((sum, reads) => sum + reads.filter((bits) => bits !== 0 && (bits & present) === 0).length, 0)
    }
    expect(stepped(handshakeFacts({}))).toBeGreaterThan(100)
    expect(stepped(handshakeFacts({ target: '/ws?a=1', cookie: 'sid=1' }))).toBeLessThan(stepped(handshakeFacts({})) / 4)
  })

  it('changes nothing on handshakes carrying strings generated from every CRS pattern, with and without a query, cookies and headers', () => {
    const random = seededRandom(0xab5e)
    const differing: string[] = []
    let count = 0
    let scored = 0
    for (const { pattern, tree } of crsPatternTrees()) {
      const cases: HandshakeFacts[] = []
      for (let i = 0; i < 2; i++) {
        const sample = sampleOf(tree, random).slice(0, 80)
        const encoded = encodeURIComponent(sample).replace(/%25/g, '%')
        const header = sample.replace(/[^\x20-\x7e]/g, ' ')
        // Each part present or absent at random: the collections a rule reads are empty in some cases, full in others.
        const target = random() < 0.5 ? `/${random() < 0.5 ? encoded : 'ws'}` : `/ws?q=${encoded}&${encoded}=1`
        cases.push(
          handshakeFacts({ target, ...(random() < 0.5 ? { cookie: `sid=${header.replace(/;/g, ',')}` } : {}) }),
          handshakeFacts({ target, headers: { 'User-Agent': header, Referer: `https://example.com/${encoded}` } }),
          handshakeFacts({ target: '/ws', client: 'go', headers: { 'User-Agent': header } }),
        )
      }
      for (const handshake of cases) {
        count++
        const stepping = outcome(evaluate(ruleSet, handshake, PRIMITIVES.buildCollections(handshake), OPTIONS))
        const every = outcome(evaluate(ruleSet, handshake, PRIMITIVES.buildCollections(handshake), { ...OPTIONS, everyRule: true }))
        if (stepping.anomalyScore > 0) scored++
        if (JSON.stringify(stepping) !== JSON.stringify(every)) differing.push(`${pattern.slice(0, 60)} :: ${JSON.stringify(handshake).slice(0, 300)}`)
      }
    }
    expect(differing).toEqual([])
    // Enough of them must make rules match, or the comparison would prove little.
    expect(count).toBeGreaterThan(1_000)
    expect(scored).toBeGreaterThan(count / 4)
  })
})
