import { describe, expect, it } from 'vitest'
import { compileRules, type RuleUnit } from '../../../../middleware/waf/rules/compile.ts'
import { evaluate, type EvaluateOptions, type Evaluation } from '../../../../middleware/waf/engine/engine.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { facts, fakeCollections, fakePrimitives } from '../fake-primitives.ts'

const OPTIONS: EvaluateOptions = { detectionOnly: false, budgetMs: 50, onBudgetExceeded: 'block', now: () => 0 }

function compile(text: string, extra: RuleUnit[] = []) {
  return compileRules([{ file: 'rules.conf', text }, ...extra], fakePrimitives)
}

function run(text: string, handshake: HandshakeFacts = facts(), options: Partial<EvaluateOptions> = {}): Evaluation {
  const { ruleSet } = compile(text)
  return evaluate(ruleSet, handshake, fakeCollections(handshake), { ...OPTIONS, ...options }, 'req-1')
}

const ids = (evaluation: Evaluation): number[] => evaluation.matches.map((match) => match.id)

/** A CRS-like scaffold: anomaly scoring with `block` meaning pass, and a blocking rule at the end of phase 2. */
const SCORING = `
SecDefaultAction "phase:1,log,pass"
SecDefaultAction "phase:2,log,pass"
SecAction "id:900000,phase:1,nolog,pass,setvar:tx.anomaly_score=0,setvar:tx.critical_anomaly_score=5,setvar:tx.warning_anomaly_score=3,setvar:tx.threshold=5"
`
const BLOCKING = `
SecRule TX:ANOMALY_SCORE "@ge %{tx.threshold}" "id:949110,phase:2,deny,t:none,msg:'Inbound Anomaly Score Exceeded (Total Score: %{TX.ANOMALY_SCORE})'"
`

describe('rule evaluation', () => {
  it('blocks on a deny rule and records the rule id, message, variable and transformed value', () => {
    const evaluation = run(`SecRule ARGS "@rx <script" "id:1001,phase:2,deny,t:lowercase,msg:'XSS in %{MATCHED_VAR_NAME}',severity:2,tag:'attack-xss'"`, facts('/ws?q=%3CSCRIPT%3Ealert(1)'))
    expect(evaluation.blocked).toBe(true)
    expect(evaluation.blockedBy).toBe(1001)
    expect(evaluation.matches).toEqual([
      { id: 1001, message: 'XSS in ARGS:q', variable: 'ARGS:q', value: '<script>alert(1)', severity: 'CRITICAL', tags: ['attack-xss'] },
    ])
  })

  it('passes a handshake no rule matches, with an empty match list', () => {
    const evaluation = run(`SecRule ARGS "@rx <script" "id:1001,phase:2,deny"`, facts('/ws?q=hello'))
    expect(evaluation).toMatchObject({ blocked: false, wouldBlock: false, anomalyScore: 0, matches: [], budgetExceeded: false })
  })

  it('runs transformations in order and lets t:none drop the SecDefaultAction ones', () => {
    const rules = `
SecDefaultAction "phase:2,log,pass,t:lowercase"
SecRule ARGS:q "@streq ABC" "id:1,phase:2,pass,msg:'default lowercase kept'"
SecRule ARGS:q "@streq ABC" "id:2,phase:2,pass,t:none,msg:'t:none resets'"
SecRule ARGS:q "@streq a b" "id:3,phase:2,pass,t:none,t:urlDecodeUni,t:lowercase,msg:'pipeline'"
`
    expect(ids(run(rules, facts('/ws?q=ABC')))).toEqual([2])
    expect(ids(run(rules, facts('/ws?q=A%20B')))).toEqual([3])
  })

  it('negates an operator with !', () => {
    const rules = `SecRule REQUEST_METHOD "!@within GET HEAD" "id:911100,phase:1,deny,msg:'Method is not allowed by policy'"`
    expect(run(rules).blocked).toBe(false)
    expect(run(rules, { ...facts(), method: 'TRACE' }).matches).toMatchObject([{ id: 911100, variable: 'REQUEST_METHOD', value: 'TRACE' }])
  })

  it('selects header keys case-insensitively and honours exclusions and regex selectors', () => {
    const handshake = facts('/ws?password=%27or%271&user=%27or%271&sess_a=%27x', [['user-agent', 'sqlmap/1.5']])
    expect(run(`SecRule REQUEST_HEADERS:User-Agent "@contains sqlmap" "id:1,phase:1,pass,msg:'ua'"`, handshake).matches).toMatchObject([
      { id: 1, variable: 'REQUEST_HEADERS:user-agent', value: 'sqlmap/1.5' },
    ])
    const excluded = run(`SecRule ARGS|!ARGS:password|!ARGS:/^sess_/ "@contains '" "id:2,phase:2,pass,msg:'quote'"`, handshake)
    expect(excluded.matches).toMatchObject([{ id: 2, variable: 'ARGS:user' }])
    const bySelector = run(`SecRule ARGS:/^sess_/ "@contains '" "id:3,phase:2,pass,msg:'quote'"`, handshake)
    expect(bySelector.matches).toMatchObject([{ id: 3, variable: 'ARGS:sess_a' }])
  })

  it('counts a collection with &, zero when a selected key is absent', () => {
    const rules = `
SecRule &ARGS "@eq 3" "id:1,phase:2,pass,msg:'three args'"
SecRule &REQUEST_HEADERS:X-Missing "@eq 0" "id:2,phase:1,pass,msg:'no x-missing'"
SecRule &REQUEST_HEADERS:Host "@eq 1" "id:3,phase:1,pass,msg:'one host'"
`
    const evaluation = run(rules, facts('/ws?a=1&b=2&c=3'))
    expect(evaluation.matches).toMatchObject([
      { id: 2, variable: '&REQUEST_HEADERS:x-missing', value: '0' },
      { id: 3, value: '1' },
      { id: 1, variable: '&ARGS', value: '3' },
    ])
  })

  it('runs phase 1 rules before phase 2 rules whatever their order in the file', () => {
    const rules = `
SecRule REQUEST_URI "@contains ws" "id:2,phase:2,pass,msg:'two'"
SecRule REQUEST_URI "@contains ws" "id:1,phase:1,pass,msg:'one'"
`
    expect(ids(run(rules))).toEqual([1, 2])
  })

  it('tries every intermediate value with multiMatch', () => {
    const rules = `
SecRule ARGS:q "@streq %41" "id:1,phase:2,pass,t:none,t:urlDecodeUni,msg:'without multiMatch'"
SecRule ARGS:q "@streq %41" "id:2,phase:2,pass,t:none,t:urlDecodeUni,multiMatch,msg:'with multiMatch'"
`
    // The fake collections decode ARGS once (%2541 → %41); urlDecodeUni then gives A.
    expect(ids(run(rules, facts('/ws?q=%2541')))).toEqual([2])
  })

  it('allow stops the evaluation and the handshake passes', () => {
    const rules = `
SecRule REMOTE_ADDR "@streq 10.0.0.1" "id:1,phase:1,allow,nolog"
SecRule REQUEST_URI "@contains ws" "id:2,phase:1,deny,msg:'never reached for 10.0.0.1'"
`
    expect(run(rules, facts('/ws', [], '10.0.0.1')).blocked).toBe(false)
    expect(run(rules, facts('/ws', [], '10.0.0.2')).blocked).toBe(true)
  })
})

describe('chains', () => {
  const rules = `
SecRule ARGS "@rx select" "id:2001,phase:2,deny,t:lowercase,msg:'chain: %{MATCHED_VAR_NAME}',chain"
  SecRule MATCHED_VARS "@rx from" "t:lowercase,chain"
    SecRule REQUEST_METHOD "@streq GET"
`
  it('matches only when every link matches', () => {
    expect(run(rules, facts('/ws?q=SELECT%20a%20FROM%20b')).matches).toMatchObject([{ id: 2001, variable: 'ARGS:q', message: 'chain: REQUEST_METHOD' }])
    expect(run(rules, facts('/ws?q=select%20a')).matches).toEqual([])
    expect(run(rules, { ...facts('/ws?q=select%20a%20from%20b'), method: 'POST' }).matches).toEqual([])
  })

  it('gives each link the values the previous link matched as MATCHED_VARS', () => {
    // "select" is in one argument and "from" in another: the second link sees only the first argument.
    expect(run(rules, facts('/ws?a=select%201&b=from%20x')).matches).toEqual([])
  })

  it('runs a link’s setvar as soon as it matches and the chain’s disruptive action only when the chain matches', () => {
    const chained = `
SecRule ARGS "@rx a" "id:1,phase:2,deny,setvar:tx.first=1,chain"
  SecRule ARGS "@rx z" "setvar:tx.second=1"
`
    const partial = run(chained, facts('/ws?q=a'))
    expect(partial.blocked).toBe(false)
    expect(Object.fromEntries(partial.tx)).toEqual({ first: '1' })
    const whole = run(chained, facts('/ws?q=az'))
    expect(whole.blocked).toBe(true)
    expect(Object.fromEntries(whole.tx)).toEqual({ first: '1', second: '1' })
  })

  it('rejects a file that ends in the middle of a chain', () => {
    expect(() => compile('SecRule ARGS "@rx a" "id:1,chain"')).toThrow('rules.conf:1: the last rule of the file ends with `chain` but no rule follows')
  })
})

describe('setvar and macros', () => {
  it('sets, adds, subtracts and deletes TX variables, expanding macros in names and values', () => {
    const rules = `
SecAction "id:1,phase:1,nolog,pass,setvar:tx.a=5,setvar:'tx.b=+%{tx.a}',setvar:tx.b=+2,setvar:tx.c=10,setvar:tx.c=-3,setvar:tx.gone=1,setvar:!tx.gone,setvar:tx.flag"
SecRule REQUEST_HEADERS:Host "@rx ^(.+)$" "id:2,phase:1,pass,nolog,capture,setvar:'tx.host_%{tx.1}=%{MATCHED_VAR_NAME} %{REQUEST_HEADERS.host} %{request_method} %{tx.missing}.'"
SecRule REQUEST_URI "@contains ws" "id:3,phase:1,pass,nolog,setvar:tx.Mixed_Case=%{MATCHED_VAR},setvar:tx.rule=%{rule.id}"
`
    expect(Object.fromEntries(run(rules).tx)).toEqual({
      a: '5',
      b: '7',
      c: '7',
      flag: '1',
      '0': 'chat.example.com',
      '1': 'chat.example.com',
      'host_chat.example.com': 'REQUEST_HEADERS:Host chat.example.com GET .',
      mixed_case: '/ws',
      rule: '3',
    })
  })

  it('treats non-numeric values as 0 in arithmetic, as atoi does', () => {
    const evaluation = run(`SecAction "id:1,phase:1,nolog,pass,setvar:tx.n=abc,setvar:tx.n=+2,setvar:tx.m=+x"`)
    expect(Object.fromEntries(evaluation.tx)).toEqual({ n: '2', m: '0' })
  })

  it('captures regex groups into TX.0–TX.9 only with the capture action', () => {
    const rules = `
SecRule ARGS:q "@rx (\\d+)-(\\d+)" "id:1,phase:2,pass,nolog,setvar:tx.without=%{tx.1}"
SecRule ARGS:q "@rx (\\d+)-(\\d+)" "id:2,phase:2,pass,nolog,capture,setvar:tx.with=%{tx.2}/%{tx.0}"
`
    expect(Object.fromEntries(run(rules, facts('/ws?q=12-34')).tx)).toMatchObject({ without: '', with: '34/12-34', '1': '12', '2': '34' })
  })

  it('expands macros in operator parameters at evaluation time', () => {
    const rules = `
SecAction "id:1,phase:1,nolog,pass,setvar:'tx.allowed_methods=GET HEAD'"
SecRule REQUEST_METHOD "!@within %{tx.allowed_methods}" "id:2,phase:1,deny,msg:'method'"
`
    expect(run(rules).blocked).toBe(false)
    expect(run(rules, { ...facts(), method: 'DELETE' }).blocked).toBe(true)
  })
})

describe('flow: skip, skipAfter and markers', () => {
  const rules = `
SecRule REQUEST_HEADERS:X-Skip "@streq marker" "id:1,phase:1,pass,nolog,skipAfter:END-CHECKS"
SecRule REQUEST_HEADERS:X-Skip "@streq one" "id:2,phase:1,pass,nolog,skip:1"
SecRule REQUEST_URI "@contains ws" "id:3,phase:1,pass,msg:'three'"
SecRule REQUEST_URI "@contains ws" "id:4,phase:1,pass,msg:'four'"
SecMarker END-CHECKS
SecRule REQUEST_URI "@contains ws" "id:5,phase:1,pass,msg:'five'"
`
  it('skipAfter continues after the named marker', () => {
    expect(ids(run(rules, facts('/ws', [['X-Skip', 'marker']])))).toEqual([5])
  })

  it('skip:N skips the next N rules', () => {
    expect(ids(run(rules, facts('/ws', [['X-Skip', 'one']])))).toEqual([4, 5])
  })

  it('runs everything when no flow rule matches', () => {
    expect(ids(run(rules))).toEqual([3, 4, 5])
  })

  it('a marker is found in each phase', () => {
    const phased = `
SecAction "id:1,phase:2,pass,nolog,skipAfter:END"
SecRule REQUEST_URI "@contains ws" "id:2,phase:1,pass,msg:'phase 1 before the marker'"
SecRule REQUEST_URI "@contains ws" "id:3,phase:2,pass,msg:'skipped'"
SecMarker END
SecRule REQUEST_URI "@contains ws" "id:4,phase:2,pass,msg:'after'"
`
    expect(ids(run(phased))).toEqual([2, 4])
  })
})

describe('ctl actions', () => {
  const detections = `
SecRule ARGS "@contains attack" "id:942100,phase:2,pass,msg:'sqli',tag:'attack-sqli'"
SecRule ARGS "@contains attack" "id:941100,phase:2,pass,msg:'xss',tag:'attack-xss'"
`
  const withCtl = (ctl: string) => `SecRule REQUEST_FILENAME "@streq /ws" "id:1,phase:1,pass,nolog,${ctl}"\n${detections}`

  it('ruleRemoveById removes a rule, or a range of rules, for this handshake only', () => {
    expect(ids(run(withCtl('ctl:ruleRemoveById=942100'), facts('/ws?q=attack')))).toEqual([941100])
    expect(ids(run(withCtl('ctl:ruleRemoveById=941000-942999'), facts('/ws?q=attack')))).toEqual([])
    expect(ids(run(withCtl('ctl:ruleRemoveById=942100'), facts('/other?q=attack')))).toEqual([942100, 941100])
  })

  it('ruleRemoveByTag removes the rules with that tag', () => {
    expect(ids(run(withCtl('ctl:ruleRemoveByTag=attack-xss'), facts('/ws?q=attack')))).toEqual([942100])
  })

  it('ruleRemoveTargetById and ruleRemoveTargetByTag stop one rule from reading one target', () => {
    expect(ids(run(withCtl('ctl:ruleRemoveTargetById=942100;ARGS:q'), facts('/ws?q=attack')))).toEqual([941100])
    expect(ids(run(withCtl('ctl:ruleRemoveTargetById=942100;ARGS:q'), facts('/ws?other=attack')))).toEqual([942100, 941100])
    expect(ids(run(withCtl('ctl:ruleRemoveTargetByTag=attack-sqli;ARGS:/^q/'), facts('/ws?q1=attack')))).toEqual([941100])
  })

  it('ruleEngine=Off stops the evaluation; ruleEngine=DetectionOnly keeps evaluating without blocking', () => {
    const deny = `SecRule ARGS "@contains attack" "id:3,phase:2,deny,msg:'deny'"`
    const off = run(`SecRule REQUEST_FILENAME "@streq /ws" "id:1,phase:1,pass,nolog,ctl:ruleEngine=Off"\n${deny}`, facts('/ws?q=attack'))
    expect(off).toMatchObject({ blocked: false, wouldBlock: false, matches: [] })
    const detect = run(`SecRule REQUEST_FILENAME "@streq /ws" "id:1,phase:1,pass,nolog,ctl:ruleEngine=DetectionOnly"\n${deny}`, facts('/ws?q=attack'))
    expect(detect).toMatchObject({ blocked: false, wouldBlock: true, blockedBy: 3 })
  })
})

describe('anomaly scoring', () => {
  const rules = `${SCORING}
SecRule ARGS "@contains union" "id:942100,phase:2,block,msg:'SQLi',severity:CRITICAL,setvar:'tx.anomaly_score=+%{tx.critical_anomaly_score}'"
SecRule REQUEST_HEADERS:Host "@rx ^\\d+\\.\\d+\\.\\d+\\.\\d+$" "id:920350,phase:1,block,msg:'Host header is a numeric IP address',severity:WARNING,setvar:'tx.anomaly_score=+%{tx.warning_anomaly_score}'"
SecRule &REQUEST_HEADERS:User-Agent "@eq 0" "id:920320,phase:1,block,msg:'Missing User Agent Header',severity:WARNING,setvar:'tx.anomaly_score=+%{tx.warning_anomaly_score}'"
${BLOCKING}`

  it('block means the SecDefaultAction’s pass: one warning scores 3 and passes', () => {
    const evaluation = run(rules, facts('/ws', [['User-Agent', 'Mozilla/5.0']]))
    expect(evaluation).toMatchObject({ blocked: false, anomalyScore: 0, matches: [] })
    const ipHost: HandshakeFacts = { ...facts('/ws', [['User-Agent', 'Mozilla/5.0']]), headers: [['Host', '10.0.0.1'], ['User-Agent', 'Mozilla/5.0']] }
    expect(run(rules, ipHost)).toMatchObject({ blocked: false, anomalyScore: 3, matches: [{ id: 920350, severity: 'WARNING' }] })
  })

  it('two warnings add up past the threshold and the blocking rule denies with the total in its message', () => {
    const handshake: HandshakeFacts = { ...facts(), headers: [['Host', '10.0.0.1']] }
    const evaluation = run(rules, handshake)
    expect(evaluation).toMatchObject({ blocked: true, blockedBy: 949110, anomalyScore: 6 })
    expect(evaluation.matches.map((match) => [match.id, match.message])).toEqual([
      [920350, 'Host header is a numeric IP address'],
      [920320, 'Missing User Agent Header'],
      [949110, 'Inbound Anomaly Score Exceeded (Total Score: 6)'],
    ])
  })

  it('a critical match alone reaches the threshold of 5', () => {
    expect(run(rules, facts('/ws?q=1%20union%20select', [['User-Agent', 'x']]))).toMatchObject({ blocked: true, anomalyScore: 5 })
  })

  it('a setvar runs once per matched value', () => {
    expect(run(rules, facts('/ws?a=union&b=union', [['User-Agent', 'x']])).anomalyScore).toBe(10)
  })
})

describe('paranoia levels', () => {
  // The CRS gates each level with skipAfter rules on tx.executing_paranoia_level (e.g. 942011–942018).
  const rules = (level: number) => `
SecAction "id:900000,phase:1,nolog,pass,setvar:tx.executing_paranoia_level=${level}"
SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 1" "id:942011,phase:2,pass,nolog,skipAfter:END-942"
SecRule ARGS "@contains x" "id:942101,phase:2,pass,msg:'pl1',tag:'paranoia-level/1'"
SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 2" "id:942013,phase:2,pass,nolog,skipAfter:END-942"
SecRule ARGS "@contains x" "id:942102,phase:2,pass,msg:'pl2',tag:'paranoia-level/2'"
SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 3" "id:942015,phase:2,pass,nolog,skipAfter:END-942"
SecRule ARGS "@contains x" "id:942103,phase:2,pass,msg:'pl3',tag:'paranoia-level/3'"
SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 4" "id:942017,phase:2,pass,nolog,skipAfter:END-942"
SecRule ARGS "@contains x" "id:942104,phase:2,pass,msg:'pl4',tag:'paranoia-level/4'"
SecMarker END-942
`
  it.each([
    [1, [942101]],
    [2, [942101, 942102]],
    [3, [942101, 942102, 942103]],
    [4, [942101, 942102, 942103, 942104]],
  ])('at paranoia level %i runs the rules of that level and below', (level, expected) => {
    expect(ids(run(rules(level), facts('/ws?q=x')))).toEqual(expected)
  })
})

describe('detection-only', () => {
  it('never blocks but reports what would have been blocked and every match', () => {
    const rules = `SecRule ARGS "@contains attack" "id:1,phase:2,deny,msg:'attack'"`
    const evaluation = run(rules, facts('/ws?q=attack'), { detectionOnly: true })
    expect(evaluation).toMatchObject({ blocked: false, wouldBlock: true, blockedBy: 1, matches: [{ id: 1, message: 'attack' }] })
  })

  it('SecRuleEngine DetectionOnly in the rules has the same effect', () => {
    const evaluation = run(`SecRuleEngine DetectionOnly\nSecRule ARGS "@contains attack" "id:1,phase:2,deny"`, facts('/ws?q=attack'))
    expect(evaluation).toMatchObject({ blocked: false, wouldBlock: true })
  })

  it('SecRuleEngine Off evaluates nothing', () => {
    expect(run(`SecRuleEngine Off\nSecRule ARGS "@contains attack" "id:1,phase:2,deny"`, facts('/ws?q=attack'))).toMatchObject({ blocked: false, matches: [] })
  })
})

describe('time budget', () => {
  /** A clock that advances 10 ms each time it is read. */
  function ticking(): () => number {
    let now = 0
    return () => (now += 10)
  }
  const rules = Array.from({ length: 10 }, (_, i) => `SecRule REQUEST_URI "@contains ws" "id:${i + 1},phase:1,pass,msg:'rule ${i + 1}'"`).join('\n')

  it('stops between rules once the budget is spent and blocks by default (fail closed)', () => {
    const evaluation = run(rules, facts(), { budgetMs: 25, now: ticking() })
    expect(evaluation).toMatchObject({ budgetExceeded: true, blocked: true, wouldBlock: true, blockedBy: undefined })
    // Started at 10; the clock is read after each rule that ran an operator: after rule 1 at 20, rule 2 at 30 (20 ms),
    // rule 3 at 40 (30 ms > 25): three rules ran.
    expect(ids(evaluation)).toEqual([1, 2, 3])
  })

  it('does not read the clock after a rule that ran no operator', () => {
    // Ten rules on a header the handshake lacks (no value, no operator run), then the ten of `rules`: read at the start,
    // after each of rules 1–9 and at the end, as without the ten.
    const absent = Array.from({ length: 10 }, (_, i) => `SecRule REQUEST_HEADERS:X-Absent "@contains ws" "id:${i + 101},phase:1,pass"`).join('\n')
    expect(run(`${absent}\n${rules}`, facts(), { budgetMs: 1_000, now: ticking() }).micros).toBe(100_000)
  })

  it('passes the handshake when told to, still reporting the overrun', () => {
    expect(run(rules, facts(), { budgetMs: 25, now: ticking(), onBudgetExceeded: 'pass' })).toMatchObject({ budgetExceeded: true, blocked: false, wouldBlock: false })
  })

  it('with a CPU clock, runs on past a wall-clock overrun while the thread uses no CPU (descheduled), and reports no overrun', () => {
    const evaluation = run(rules, facts(), { budgetMs: 25, now: ticking(), cpuNow: () => 0 })
    expect(evaluation).toMatchObject({ budgetExceeded: false, blocked: false })
    expect(ids(evaluation)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  })

  it('with a CPU clock, refuses once the rules have used the budget in CPU since the wall clock ran past it', () => {
    // Wall: past 25 ms after rule 3 (the CPU count starts there, at 10); CPU then advances 10 ms a read: 20 after
    // rule 4, 30 after rule 5 (20 ms since the mark), 40 after rule 6 (30 ms > 25): six rules ran.
    const evaluation = run(rules, facts(), { budgetMs: 25, now: ticking(), cpuNow: ticking() })
    expect(evaluation).toMatchObject({ budgetExceeded: true, blocked: true })
    expect(ids(evaluation)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('reports the evaluation time from the injected clock in microseconds', () => {
    // Read at 10 (start), 20–100 (before rules 2–10, each after a rule that ran its operator) and 110 (end): 100 ms.
    expect(run(rules, facts(), { budgetMs: 1_000, now: ticking() }).micros).toBe(100_000)
  })
})
