import { describe, expect, it } from 'vitest'
import { compileRules, type GrammarExclusion, type RuleUnit } from '../../../../middleware/waf/rules/compile.ts'
import { evaluate, type EvaluateOptions, type Evaluation } from '../../../../middleware/waf/engine/engine.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { facts, fakeCollections, fakePrimitives } from '../fake-primitives.ts'

/**
 * Grammar exclusions (the handshake profile's, `GrammarExclusion`): applied
 * at compile time to the rules loaded before them, as
 * `SecRuleUpdateTargetById` is, but an item is excluded only while its
 * value matches the grammar.
 */
const OPTIONS: EvaluateOptions = { detectionOnly: false, budgetMs: 50, onBudgetExceeded: 'block', now: () => 0 }

const RULES = `
SecRule ARGS "@rx --" "id:942440,phase:2,deny,msg:'comment'"
SecRule ARGS "@rx --" "id:932100,phase:2,deny,msg:'other family'"
SecRule &ARGS "@eq 3" "id:920000,phase:2,pass,log,msg:'three arguments'"
`
const SID: GrammarExclusion = { rules: [[942000, 942999]], collection: 'ARGS', key: 'sid', grammar: /^[A-Za-z0-9_-]{1,64}$/ }

function run(units: RuleUnit[], handshake: HandshakeFacts): Evaluation {
  const { ruleSet } = compileRules(units, fakePrimitives)
  return evaluate(ruleSet, handshake, fakeCollections(handshake), OPTIONS, 'req-1')
}
const matched = (evaluation: Evaluation): string[] => evaluation.matches.map((match) => `${match.id} ${match.variable}`)
const withProfile = (handshake: HandshakeFacts, exclusions: GrammarExclusion[] = [SID]): string[] =>
  matched(run([{ file: 'rules.conf', text: RULES }, { file: 'profile', exclusions }], handshake))

describe('a grammar exclusion', () => {
  it('takes a value that matches its grammar from the rules in its range only', () => {
    expect(withProfile(facts('/ws?sid=ab--cd-ef'))).toEqual(['932100 ARGS:sid'])
    expect(withProfile(facts('/ws?sid=ab--cd-ef'), [])).toEqual(['942440 ARGS:sid'])
  })

  it('leaves a value outside the grammar to the rules, as if it were not there', () => {
    expect(withProfile(facts("/ws?sid=1'--%20x"))).toEqual(['942440 ARGS:sid'])
  })

  it('decides per value: of two occurrences of the name, the one outside the grammar is inspected', () => {
    expect(withProfile(facts("/ws?sid=ab-cd&sid=1'--%20x"))).toEqual(["942440 ARGS:sid"])
    expect(withProfile(facts('/ws?sid=ab--cd-ef&other=x--y-'))).toEqual(['942440 ARGS:other'])
  })

  it('matches the name case-insensitively, as SecLang keys do', () => {
    expect(withProfile(facts('/ws?SID=ab--cd-ef'))).toEqual(['932100 ARGS:SID'])
  })

  it('applies only to the rules loaded before it, and not to count targets', () => {
    const after = `SecRule ARGS "@rx --" "id:942999,phase:2,deny,msg:'loaded after'"`
    const evaluation = run([{ file: 'profile', exclusions: [SID] }, { file: 'rules.conf', text: after }], facts('/ws?sid=ab--cd-ef'))
    expect(matched(evaluation)).toEqual(['942999 ARGS:sid'])
    expect(withProfile(facts('/ws?sid=ab&a=1&b=2'), [{ ...SID, rules: [[920000, 920999]] }])).toEqual(['920000 &ARGS'])
  })
})
