import { describe, expect, it } from 'vitest'
import { compileRules } from '../../../../middleware/waf/rules/compile.ts'
import { evaluate, type EvaluateOptions, type Evaluation } from '../../../../middleware/waf/engine/engine.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { facts, fakeCollections, fakePrimitives } from '../fake-primitives.ts'

/**
 * The engine runs a rule set's leading transaction-only rules once and
 * jumps over later rules whose answers are fixed (`constant-rules.ts`):
 * every evaluation must still decide as if each rule had run. Each rule set
 * here is evaluated several times, alternating handshakes, so that the
 * plan made by the first is what the later ones start from.
 */
const OPTIONS: EvaluateOptions = { detectionOnly: false, budgetMs: 50, onBudgetExceeded: 'block', now: () => 0 }

/** Evaluates each handshake in turn with one compiled rule set, twice over. */
function evaluations(text: string, handshakes: HandshakeFacts[], options: Partial<EvaluateOptions> = {}): Evaluation[] {
  const { ruleSet } = compileRules([{ file: 'rules.conf', text }], fakePrimitives)
  return [...handshakes, ...handshakes].map((handshake) => evaluate(ruleSet, handshake, fakeCollections(handshake), { ...OPTIONS, ...options }, 'req-1'))
}

const ids = (evaluation: Evaluation): number[] => evaluation.matches.map((match) => match.id)

/** A paranoia-style gate on tx.level, set to 1 by a leading rule; rule 4 runs only at level 2 and above. */
const GATED = (between: string) => `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.level=1"
${between}
SecRule TX:level "@lt 2" "id:3,phase:1,pass,nolog,skipAfter:END-LEVEL-2"
SecRule REQUEST_URI "@contains ws" "id:4,phase:1,deny,msg:'level 2 rule'"
SecMarker END-LEVEL-2
`

describe('rules whose answers are fixed', () => {
  it('skips what a gate skips on every evaluation, not only the first', () => {
    const results = evaluations(GATED(''), [facts('/ws'), facts('/ws?a=1')])
    expect(results.map((evaluation) => evaluation.blocked)).toEqual([false, false, false, false])
  })

  it('still runs a gate whose key a rule reading the request may change, with the value that rule set', () => {
    const raise = `SecRule REQUEST_HEADERS:X-Level "@rx ^([0-9])$" "id:2,phase:1,pass,nolog,capture,setvar:tx.level=%{tx.1}"`
    const results = evaluations(GATED(raise), [facts('/ws', [['X-Level', '2']]), facts('/ws')])
    expect(results.map((evaluation) => evaluation.blockedBy)).toEqual([4, undefined, 4, undefined])
  })

  it('stops jumping over a gate once a ctl has removed a rule', () => {
    const remove = `SecRule REQUEST_HEADERS:X-Remove "@streq gate" "id:2,phase:1,pass,nolog,ctl:ruleRemoveById=3"`
    const results = evaluations(GATED(remove), [facts('/ws', [['X-Remove', 'gate']]), facts('/ws')])
    expect(results.map((evaluation) => evaluation.blockedBy)).toEqual([4, undefined, 4, undefined])
  })

  it('decides as if every rule ran when a ctl removes rules and targets no jump passes over (a per-request exclusion)', () => {
    // Rule 5 reads the request and is removed per request; the gate (3) still skips rule 4 on every evaluation.
    const text = `${GATED(`SecRule REQUEST_HEADERS:X-Remove "@streq five" "id:2,phase:1,pass,nolog,ctl:ruleRemoveById=5,ctl:ruleRemoveTargetById=6;ARGS:a"`)}
SecRule REQUEST_URI "@contains ws" "id:5,phase:1,deny,msg:'rule 5'"
SecRule ARGS:a "@streq x" "id:6,phase:1,deny,msg:'rule 6'"`
    const results = evaluations(text, [facts('/ws?a=x', [['X-Remove', 'five']]), facts('/ws?a=x'), facts('/ws?a=y', [['X-Remove', 'five']])])
    expect(results.map((evaluation) => evaluation.blockedBy)).toEqual([undefined, 5, undefined, undefined, 5, undefined])
  })

  it('stops jumping over a gate once a ctl has removed it by tag, or removed the TX target it reads', () => {
    const tagged = GATED(`SecRule REQUEST_HEADERS:X-Remove "@streq gate" "id:2,phase:1,pass,nolog,ctl:ruleRemoveByTag=gate"`).replace('skipAfter:END-LEVEL-2"', 'skipAfter:END-LEVEL-2,tag:gate"')
    expect(evaluations(tagged, [facts('/ws', [['X-Remove', 'gate']]), facts('/ws')]).map((evaluation) => evaluation.blockedBy)).toEqual([4, undefined, 4, undefined])
    const target = GATED(`SecRule REQUEST_HEADERS:X-Remove "@streq gate" "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetById=3;TX:level"`)
    expect(evaluations(target, [facts('/ws', [['X-Remove', 'gate']]), facts('/ws')]).map((evaluation) => evaluation.blockedBy)).toEqual([4, undefined, 4, undefined])
  })

  it('leaves MATCHED_VAR as a gate that matched a value would leave it', () => {
    const text = `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.a=alpha"
SecRule REQUEST_URI "@contains ws" "id:2,phase:1,pass,nolog"
SecRule TX:a "@streq alpha" "id:3,phase:1,pass,nolog"
SecRule MATCHED_VAR "@streq alpha" "id:4,phase:1,deny,msg:'saw alpha'"
`
    const results = evaluations(text, [facts('/ws')])
    expect(results.map((evaluation) => evaluation.blockedBy)).toEqual([4, 4])
    expect(results[1]!.matches).toEqual([{ id: 4, message: 'saw alpha', variable: 'MATCHED_VAR', value: 'alpha' }])
  })
})

describe('the leading rules that read only the transaction', () => {
  it('give every evaluation their TX values and their logged matches, each its own copy', () => {
    const text = `
SecAction "id:1,phase:1,pass,log,msg:'always',setvar:tx.score=2"
SecRule REQUEST_URI "@contains admin" "id:2,phase:1,pass,log,msg:'admin',setvar:tx.score=+3"
`
    const results = evaluations(text, [facts('/admin'), facts('/ws')])
    expect(results.map(ids)).toEqual([[1, 2], [1], [1, 2], [1]])
    expect(results.map((evaluation) => evaluation.tx.get('score'))).toEqual(['5', '2', '5', '2'])
    results[0]!.matches[0]!.message = 'changed by a caller'
    expect(results[2]!.matches[0]!.message).toBe('always')
  })

  it('refuse every handshake when one of them denies, or only detect it in detection-only mode', () => {
    const text = `SecAction "id:1,phase:1,deny,msg:'closed'"\nSecRule REQUEST_URI "@contains ws" "id:2,phase:1,pass,log,msg:'not reached'"`
    expect(evaluations(text, [facts('/ws')]).map((evaluation) => [evaluation.blocked, evaluation.blockedBy, ids(evaluation)])).toEqual([
      [true, 1, [1]],
      [true, 1, [1]],
    ])
    expect(evaluations(text, [facts('/ws')], { detectionOnly: true }).map((evaluation) => [evaluation.blocked, evaluation.wouldBlock, ids(evaluation)])).toEqual([
      [false, true, [1]],
      [false, true, [1]],
    ])
  })
})
