import { describe, expect, it } from 'vitest'
import { compileRules, type RuleUnit } from '../../../../middleware/waf/rules/compile.ts'
import { functionRule, type WafRuleObject } from '../../../../middleware/waf/rules/custom-units.ts'
import { evaluate, type EvaluateOptions, type Evaluation } from '../../../../middleware/waf/engine/engine.ts'
import { facts, fakeCollections, fakePrimitives } from '../fake-primitives.ts'

const OPTIONS: EvaluateOptions = { detectionOnly: false, budgetMs: 50, onBudgetExceeded: 'block', now: () => 0 }

function compile(text: string, extra: RuleUnit[] = []) {
  return compileRules([{ file: 'rules.conf', text }, ...extra], fakePrimitives)
}

const ids = (evaluation: Evaluation): number[] => evaluation.matches.map((match) => match.id)

describe('custom rules in code', () => {
  const object: WafRuleObject = {
    id: 10001,
    variables: ['REQUEST_HEADERS:User-Agent'],
    operator: '@contains evilbot',
    transformations: ['lowercase'],
    message: 'evil bot',
  }

  it('compiles a rule object on the same engine; it denies by default', () => {
    const { ruleSet, summary } = compileRules([{ file: 'waf({ rules })', rule: object }], fakePrimitives)
    const handshake = facts('/ws', [['User-Agent', 'EvilBot/2.0']])
    expect(evaluate(ruleSet, handshake, fakeCollections(handshake), OPTIONS)).toMatchObject({
      blocked: true,
      matches: [{ id: 10001, message: 'evil bot', variable: 'REQUEST_HEADERS:User-Agent', value: 'evilbot/2.0', severity: 'CRITICAL' }],
    })
    expect(summary).toMatchObject({ rulesLoaded: 1, customRules: 1 })
  })

  it('a rule object with action pass only records the match', () => {
    const { ruleSet } = compileRules([{ file: 'waf({ rules })', rule: { ...object, action: 'pass' } }], fakePrimitives)
    const handshake = facts('/ws', [['User-Agent', 'EvilBot/2.0']])
    expect(evaluate(ruleSet, handshake, fakeCollections(handshake), OPTIONS)).toMatchObject({ blocked: false, matches: [{ id: 10001 }] })
  })

  it('runs a rule written as a function with the facts and collections', () => {
    const rule = functionRule(
      (handshake, collections) =>
        collections.get('ARGS')?.some((arg) => arg.name === 'debug') ? { id: 10002, message: `debug from ${handshake.remoteAddress}`, variable: 'ARGS:debug', value: '' } : null,
      'waf({ rules })',
    )
    const { ruleSet } = compileRules([{ file: 'waf({ rules })', compiled: [rule] }], fakePrimitives)
    const handshake = facts('/ws?debug=1')
    expect(evaluate(ruleSet, handshake, fakeCollections(handshake), OPTIONS)).toMatchObject({
      blocked: true,
      matches: [{ id: 10002, message: 'debug from 203.0.113.7' }],
    })
  })

  it('refuses, at start, a custom rule that needs something unsupported or reuses an id', () => {
    expect(() => compileRules([{ file: 'waf({ rules })', rule: { ...object, operator: '@detectSQLi' } }], fakePrimitives)).toThrow(
      'waf(): custom rule 10001 uses unsupported operator @detectsqli',
    )
    expect(() => compileRules([{ file: 'waf({ rules })', rule: { ...object, transformations: ['sha1'] } }], fakePrimitives)).toThrow('unsupported transformation t:sha1')
    expect(() => compileRules([{ file: 'waf({ rules })', rule: { ...object, variables: 'ARG' } }], fakePrimitives)).toThrow('unsupported variable ARG')
    expect(() => compileRules([{ file: 'waf({ rules })', rule: { ...object, id: 0 } }], fakePrimitives)).toThrow('needs a positive integer id')
    expect(() =>
      compileRules(
        [
          { file: 'a.conf', text: 'SecRule ARGS "@rx a" "id:10001,deny"' },
          { file: 'waf({ rules })', rule: object },
        ],
        fakePrimitives,
      ),
    ).toThrow('rule id 10001 is used twice')
  })
})

describe('the compile summary', () => {
  const text = `
SecComponentSignature "OWASP_CRS/9.9.9"
SecCollectionTimeout 600
SecRule ARGS "@detectSQLi" "id:1,phase:2,block,capture"
SecRule ARGS "@rx a" "id:2,phase:2,pass,t:none,t:sha1,t:hexEncode"
SecRule ARGS "@rx (?R)" "id:3,phase:2,pass"
SecRule IP:REPUT_BLOCK_FLAG "@eq 1" "id:4,phase:2,deny,msg:'%{ip.reput_block_reason}'"
SecAction "id:5,phase:1,pass,nolog,initcol:ip=%{remote_addr},initcol:tx=x,expirevar:ip.x=60,setvar:ip.y=1,ctl:auditLogParts=+E,ctl:ruleRemoveById=1"
SecRule REQUEST_BODY "@rx a" "id:6,phase:2,deny"
SecRule ARGS_POST|FILES "@rx a" "id:7,phase:2,deny"
SecRule RESPONSE_STATUS "@rx ^5" "id:8,phase:4,deny"
SecRule ARGS "@rx a" "id:9,phase:2,pass,sanitiseArg:password,log,auditlog,ver:'x',rev:2,maturity:9,accuracy:9"
SecMarker END
`
  it('counts loaded, not applicable and disabled rules, and lists each unsupported item with its count', () => {
    const { summary } = compileRules(
      [
        { file: '/crs/rules/REQUEST-900.conf', text },
        { file: '/crs/rules/RESPONSE-950.conf', text: 'SecRule RESPONSE_BODY "@rx a" "id:950100,phase:4,block"\nSecRule RESPONSE_BODY "@rx b" "id:950101,phase:4,block"' },
      ],
      fakePrimitives,
    )
    expect(summary).toMatchObject({
      version: 'OWASP_CRS/9.9.9',
      rulesLoaded: 3,
      customRules: 0,
      rulesDisabled: 3,
      markers: 1,
      notApplicable: { response: 2, laterPhase: 1, bodyOnly: 2 },
    })
    expect(summary.unsupported.map(({ kind, name, count, effect, rules }) => ({ kind, name, count, effect, rules }))).toEqual([
      { kind: 'variable', name: 'IP', count: 2, effect: 'empty', rules: [4] },
      { kind: 'action', name: 'ctl:auditLogParts', count: 1, effect: 'ignored', rules: [5] },
      { kind: 'action', name: 'expirevar', count: 1, effect: 'ignored', rules: [5] },
      { kind: 'action', name: 'initcol:ip', count: 1, effect: 'ignored', rules: [5] },
      { kind: 'action', name: 'sanitiseArg', count: 1, effect: 'ignored', rules: [9] },
      { kind: 'action', name: 'setvar:ip', count: 1, effect: 'ignored', rules: [5] },
      { kind: 'directive', name: 'SecCollectionTimeout', count: 1, effect: 'ignored', rules: [] },
      { kind: 'operator', name: '@detectsqli', count: 1, effect: 'rule disabled', rules: [1] },
      { kind: 'regex', name: 'recursion (?R) has no JavaScript equivalent', count: 1, effect: 'rule disabled', rules: [3] },
      { kind: 'transformation', name: 't:hexEncode', count: 1, effect: 'rule disabled', rules: [2] },
      { kind: 'transformation', name: 't:sha1', count: 1, effect: 'rule disabled', rules: [2] },
    ])
  })
})

describe('compile-time tuning directives', () => {
  const rules = `
SecRule ARGS "@contains attack" "id:942100,phase:2,pass,msg:'sqli',tag:'attack-sqli'"
SecRule ARGS "@contains attack" "id:941100,phase:2,pass,msg:'xss',tag:'attack-xss'"
SecRule ARGS "@contains attack" "id:930100,phase:2,pass,msg:'lfi',tag:'attack-lfi'"
`
  it('SecRuleRemoveById and SecRuleRemoveByTag remove rules defined before them', () => {
    const { ruleSet, summary } = compile(`${rules}SecRuleRemoveById 942100 930000-930999\nSecRuleRemoveByTag attack-xss`)
    const handshake = facts('/ws?q=attack')
    expect(ids(evaluate(ruleSet, handshake, fakeCollections(handshake), OPTIONS))).toEqual([])
    expect(summary.rulesLoaded).toBe(0)
  })

  it('SecRuleUpdateTargetById and SecRuleUpdateTargetByTag add exclusions to rules defined before them', () => {
    const { ruleSet } = compile(`${rules}SecRuleUpdateTargetById 942100 "!ARGS:q"\nSecRuleUpdateTargetByTag attack-xss "!ARGS:/^q$/"`)
    const handshake = facts('/ws?q=attack')
    expect(ids(evaluate(ruleSet, handshake, fakeCollections(handshake), OPTIONS))).toEqual([930100])
  })
})
