import { describe, expect, it } from 'vitest'
import { parseCtl, parseDefaultAction, parseSetvar, type ActionContext } from '../../../../middleware/waf/rules/compile-actions.ts'
import { inRanges, parseIdRanges } from '../../../../middleware/waf/rules/id-ranges.ts'
import { compileTemplate } from '../../../../middleware/waf/engine/macros.ts'

/** A context that compiles templates as the compiler does, selects plain keys, and collects problems. */
function context(): ActionContext & { problems: string[] } {
  const problems: string[] = []
  return {
    problems,
    problem: (kind, name) => void problems.push(`${kind} ${name}`),
    template: (text) => compileTemplate(text),
    selection: (variable) => ({ collection: variable.collection, key: variable.selector?.toLowerCase() || undefined, keyPattern: undefined }),
  }
}

describe('setvar', () => {
  it('reads set, add, subtract, delete and a bare name', () => {
    const ctx = context()
    expect(parseSetvar('tx.a=1', 1, ctx)).toMatchObject({ op: 'set' })
    expect(parseSetvar('tx.a=+%{tx.b}', 1, ctx)).toMatchObject({ op: 'add' })
    expect(parseSetvar('tx.a=-1', 1, ctx)).toMatchObject({ op: 'sub' })
    expect(parseSetvar('!tx.a', 1, ctx)).toMatchObject({ op: 'delete' })
    expect(parseSetvar('tx.a', 1, ctx)).toMatchObject({ op: 'set', value: '1' })
    expect(ctx.problems).toEqual([])
  })

  it('reports and ignores a collection other than TX', () => {
    const ctx = context()
    expect(parseSetvar('ip.reput=1', 7, ctx)).toBeUndefined()
    expect(ctx.problems).toEqual(['action setvar:ip'])
  })
})

describe('ctl', () => {
  it('reads rule and target removals by id and by tag, and ruleEngine', () => {
    const ctx = context()
    expect(parseCtl('ruleRemoveById=920100 921000-921999', 1, ctx)).toEqual({ kind: 'removeById', ranges: [[920100, 920100], [921000, 921999]] })
    expect(parseCtl('ruleRemoveByTag=Attack-SQLi', 1, ctx)).toEqual({ kind: 'removeByTag', tag: 'attack-sqli' })
    expect(parseCtl('ruleRemoveTargetById=942100;ARGS:Q', 1, ctx)).toEqual({ kind: 'removeTargetById', ranges: [[942100, 942100]], exclusion: { collection: 'ARGS', key: 'q', keyPattern: undefined } })
    expect(parseCtl('ruleRemoveTargetByTag=xss;ARGS', 1, ctx)).toMatchObject({ kind: 'removeTargetByTag', tag: 'xss' })
    expect(parseCtl('ruleEngine=DetectionOnly', 1, ctx)).toEqual({ kind: 'ruleEngine', mode: 'detectiononly' })
    expect(ctx.problems).toEqual([])
  })

  it('reports and ignores what it cannot do', () => {
    const ctx = context()
    expect(parseCtl('auditLogParts=+E', 1, ctx)).toBeUndefined()
    expect(parseCtl('ruleEngine=Sometimes', 1, ctx)).toBeUndefined()
    expect(ctx.problems).toEqual(['action ctl:auditLogParts', 'action ctl:ruleEngine=Sometimes'])
  })
})

describe('SecDefaultAction', () => {
  it('gives its phase the disruptive action, transformations and log setting', () => {
    const directive = { kind: 'defaultAction' as const, actions: 'phase:1,nolog,block,t:none,t:lowercase', file: 'a.conf', line: 1 }
    expect(parseDefaultAction(directive)).toEqual({ phase: 1, defaults: { disruptive: 'pass', transformations: ['lowercase'], log: false } })
  })
})

describe('id ranges', () => {
  it('reads single ids and ranges, separated by spaces or commas', () => {
    expect(parseIdRanges('920000-920999 920180,1')).toEqual([[920000, 920999], [920180, 920180], [1, 1]])
    expect(inRanges(920500, parseIdRanges('920000-920999'))).toBe(true)
    expect(inRanges(921000, parseIdRanges('920000-920999'))).toBe(false)
  })
})
