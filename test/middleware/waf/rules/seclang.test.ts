import { describe, expect, it } from 'vitest'
import { parseActions, parseOperator, parseSecLang, parseVariables, SecLangSyntaxError } from '../../../../middleware/waf/rules/seclang.ts'

describe('parseSecLang', () => {
  it('reads SecRule, SecAction, SecMarker, SecDefaultAction and keeps other directives by name', () => {
    const text = [
      '# a comment',
      'SecDefaultAction "phase:1,log,auditlog,pass"',
      '',
      'SecRule ARGS "@rx <script" "id:1,phase:2,deny"',
      'SecAction "id:2,phase:1,nolog,pass,setvar:tx.a=1"',
      'SecMarker END-TEST',
      'SecCollectionTimeout 600',
    ].join('\n')
    expect(parseSecLang(text, 'test.conf')).toEqual([
      { kind: 'defaultAction', actions: 'phase:1,log,auditlog,pass', file: 'test.conf', line: 2 },
      { kind: 'rule', variables: 'ARGS', operator: '@rx <script', actions: 'id:1,phase:2,deny', file: 'test.conf', line: 4 },
      { kind: 'action', actions: 'id:2,phase:1,nolog,pass,setvar:tx.a=1', file: 'test.conf', line: 5 },
      { kind: 'marker', name: 'END-TEST', file: 'test.conf', line: 6 },
      { kind: 'other', name: 'SecCollectionTimeout', args: ['600'], file: 'test.conf', line: 7 },
    ])
  })

  it('joins backslash-continued lines, trimming each, and reports the first line number', () => {
    const text = ['', 'SecRule REQUEST_HEADERS:User-Agent "@rx ^$" \\', '    "id:920330,\\', '    phase:1,\\', '    pass"'].join('\n')
    expect(parseSecLang(text, 'crs.conf')).toEqual([
      { kind: 'rule', variables: 'REQUEST_HEADERS:User-Agent', operator: '@rx ^$', actions: 'id:920330,phase:1,pass', file: 'crs.conf', line: 2 },
    ])
  })

  it('unescapes \\" inside a quoted argument and keeps every other backslash as written', () => {
    const [rule] = parseSecLang(String.raw`SecRule ARGS "@rx (?:^|[\\/])\.\.[\\/]\"x\\" "id:3"`)
    expect(rule).toMatchObject({ operator: String.raw`@rx (?:^|[\\/])\.\.[\\/]"x\\`, actions: 'id:3' })
  })

  it('accepts a rule without actions (a chained rule may have none)', () => {
    expect(parseSecLang('SecRule ARGS "@rx a"')).toMatchObject([{ kind: 'rule', variables: 'ARGS', operator: '@rx a', actions: '' }])
  })

  it('accepts single-quoted arguments and CRLF line ends', () => {
    expect(parseSecLang("SecMarker 'BEGIN'\r\nSecMarker END\r\n")).toMatchObject([
      { kind: 'marker', name: 'BEGIN', line: 1 },
      { kind: 'marker', name: 'END', line: 2 },
    ])
  })

  it('throws a SecLangSyntaxError naming file and line for an unterminated quote', () => {
    const parse = () => parseSecLang('SecMarker A\nSecRule ARGS "@rx a\n', 'bad.conf')
    expect(parse).toThrow(SecLangSyntaxError)
    expect(parse).toThrow('bad.conf:2: unterminated double-quoted argument')
  })

  it('throws for a SecRule without an operator', () => {
    expect(() => parseSecLang('SecRule ARGS', 'x.conf')).toThrow('x.conf:1: SecRule expects VARIABLES "OPERATOR" ["ACTIONS"], got 1 argument(s)')
  })
})

describe('parseActions', () => {
  it('splits at top-level commas and unquotes single-quoted values', () => {
    expect(parseActions("id:942100, phase:2,block,msg:'SQL Injection, found',t:none,t:urlDecodeUni,setvar:'tx.sql_injection_score=+%{tx.critical_anomaly_score}'")).toEqual([
      { name: 'id', value: '942100' },
      { name: 'phase', value: '2' },
      { name: 'block', value: undefined },
      { name: 'msg', value: 'SQL Injection, found' },
      { name: 't', value: 'none' },
      { name: 't', value: 'urlDecodeUni' },
      { name: 'setvar', value: 'tx.sql_injection_score=+%{tx.critical_anomaly_score}' },
    ])
  })

  it("keeps colons after the first in the value and unescapes \\' in quotes", () => {
    expect(parseActions("ctl:ruleRemoveTargetById=942100;ARGS:password,msg:'it\\'s here'")).toEqual([
      { name: 'ctl', value: 'ruleRemoveTargetById=942100;ARGS:password' },
      { name: 'msg', value: "it's here" },
    ])
  })

  it('returns an empty list for an empty action string', () => {
    expect(parseActions('')).toEqual([])
  })

  it('throws on an unterminated single quote', () => {
    expect(() => parseActions("msg:'open")).toThrow('unterminated single quote')
  })
})

describe('parseOperator', () => {
  it('reads the name lower-cased, the parameter and the negation', () => {
    expect(parseOperator('@rx ^a b$')).toEqual({ negated: false, name: 'rx', param: '^a b$' })
    expect(parseOperator('!@within GET HEAD')).toEqual({ negated: true, name: 'within', param: 'GET HEAD' })
    expect(parseOperator('@pmFromFile scanners.data')).toEqual({ negated: false, name: 'pmfromfile', param: 'scanners.data' })
    expect(parseOperator('@unconditionalMatch')).toEqual({ negated: false, name: 'unconditionalmatch', param: '' })
  })

  it('treats an operator without @ as a regex', () => {
    expect(parseOperator('^(?:GET|HEAD)$')).toEqual({ negated: false, name: 'rx', param: '^(?:GET|HEAD)$' })
    expect(parseOperator('!^x')).toEqual({ negated: true, name: 'rx', param: '^x' })
  })
})

describe('parseVariables', () => {
  it('reads targets, exclusions, counts and selectors', () => {
    expect(parseVariables('REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|&ARGS|request_headers:User-Agent')).toEqual([
      { collection: 'REQUEST_COOKIES', selector: undefined, selectorIsRegex: false, count: false, exclude: false },
      { collection: 'REQUEST_COOKIES', selector: '__utm', selectorIsRegex: true, count: false, exclude: true },
      { collection: 'ARGS', selector: undefined, selectorIsRegex: false, count: true, exclude: false },
      { collection: 'REQUEST_HEADERS', selector: 'User-Agent', selectorIsRegex: false, count: false, exclude: false },
    ])
  })

  it('does not split at a | inside a regex selector, and reads quoted selectors', () => {
    expect(parseVariables("ARGS:/^(?:a|b)\\/c$/|TX:'/^header_name_/'|ARGS:'x y'")).toEqual([
      { collection: 'ARGS', selector: '^(?:a|b)\\/c$', selectorIsRegex: true, count: false, exclude: false },
      { collection: 'TX', selector: '^header_name_', selectorIsRegex: true, count: false, exclude: false },
      { collection: 'ARGS', selector: 'x y', selectorIsRegex: false, count: false, exclude: false },
    ])
  })

  it('reads an XML XPath selector as a plain key', () => {
    expect(parseVariables('ARGS|XML:/*')).toEqual([
      { collection: 'ARGS', selector: undefined, selectorIsRegex: false, count: false, exclude: false },
      { collection: 'XML', selector: '/*', selectorIsRegex: false, count: false, exclude: false },
    ])
  })

  it('throws on a malformed list', () => {
    expect(() => parseVariables('ARGS||')).toThrow('malformed variable list')
    expect(() => parseVariables('ARGS:/open')).toThrow('unterminated /regex/ selector')
  })
})
