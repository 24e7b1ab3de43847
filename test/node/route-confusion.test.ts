import { Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waf } from '../../middleware/waf/index.ts'
import { GatewayError, jwtAuth, proxy, type GatewayBindings, type GatewayErrorCode } from '../../src/index.ts'
import { rawValues, startDualOrigin, type DualOrigin, type DualSeen } from '../helpers/dual-origin.ts'
import { expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { exchangeOnce, plainRequest, pool, upgradeRequest, type Exchange, type RequestParts } from '../helpers/hostile-client.ts'
import { mint } from '../helpers/jwks.ts'
import { judgeHost, judgeTarget } from '../helpers/strict-request.ts'
import { echoOnce } from '../helpers/resources.ts'

/**
 * Issue 9, route confusion: routes with different middleware in front of
 * different origins. Whatever the Host, the target's form, its dot-segments,
 * encoded dots and slashes, `;` parameters, doubled slashes or case, a
 * request reaches an origin only through the chain of that origin's route,
 * the origin receives the path that chain was routed on, and no request
 * without a valid token ever reaches the authenticated route's origin.
 */

const SECRET = new TextEncoder().encode('route-confusion-hmac-secret-32-bytes')

/** Which origin each route forwards to. */
const ORIGIN_OF_ROUTE = {
  '/public': 'public',
  '/public/*': 'public',
  '/admin': 'admin',
  '/admin/*': 'admin',
  '/internal/*': 'internal',
  '/files/*': 'files',
} as const
type Route = keyof typeof ORIGIN_OF_ROUTE
type OriginName = (typeof ORIGIN_OF_ROUTE)[Route]

/** One chain run: the route whose middleware ran, and the path of the request it ran on. */
interface Mark {
  route: Route
  path: string
}

/** Targets that try to reach one route through another's path, or the origin on a path its route never saw. */
const PATHS = [
  '/public',
  '/public/x',
  '/admin',
  '/admin/x',
  '/internal/x',
  '/files/x',
  '/files/secret',
  // Dot-segments, plain and encoded.
  '/public/../admin',
  '/public/../admin/x',
  '/public/%2e%2e/admin',
  '/public/%2E%2E/admin',
  '/public/.%2e/admin',
  '/public/%2e./admin',
  '/public/./../admin',
  '/./admin',
  '/../admin',
  '/..',
  '/%2e%2e/admin',
  '/admin/..',
  '/admin/../public',
  '/admin/%2e%2e/public',
  '/public/..',
  '/internal/../public',
  '/public/../internal/x',
  // Dot-segments behind encoded slashes and backslashes, raw backslashes, double encoding.
  '/public/..%2fadmin',
  '/public/..%2Fadmin',
  '/public/%2e%2e%2fadmin',
  '/public%2f..%2fadmin',
  '/public%2F..%2Fadmin',
  '/public/..%5cadmin',
  '/public/..%5Cadmin',
  '/public\\..\\admin',
  '/public/..\\admin',
  '/public/%252e%252e/admin',
  '/public/..%252fadmin',
  '/public/..%c0%afadmin',
  '/public/%u002e%u002e/admin',
  '/public/..%2finternal/x',
  // `;` parameters.
  '/public/..;/admin',
  '/public;/../admin',
  '/public/x/..;/..;/admin',
  '/admin;/x',
  '/public;x=/../admin',
  // `;` parameters spelt %3B, and NUL: an origin that decodes before it drops parameters, or ends a segment at a NUL, reads `..`.
  '/public/..%3B/admin',
  '/public/..%3b/admin',
  '/public/%2e%2e%3bx/admin',
  '/public/.%3B/../admin',
  '/public/..%00/admin',
  '/public/.%00/../admin',
  '/public/x/..%3B/..%3B/admin',
  // Doubled slashes.
  '//admin',
  '///admin',
  '/public//admin',
  '/public//../admin',
  '/public/x//../../admin',
  '//public/../admin',
  // Case and encoded letters.
  '/ADMIN',
  '/Admin',
  '/%61dmin',
  '/%41dmin',
  '/%2561dmin',
  '/admin%2f',
  '/admin%2Fx',
  '/admin/',
  // Query and fragment carrying path syntax.
  '/public?/../admin',
  '/public?x=/../admin',
  '/public#/../admin',
  // The WAF route: /files/secret is blocked however it is spelt.
  '/files/../files/secret',
  '/files/%73ecret',
  '/files/%2573ecret',
  '/files/x/..%2fsecret',
  '/files/./secret',
  '/files//secret',
  '/files/secret;x',
  '/files/x/../secret',
  '/public/../files/secret',
  '/files/SECRET',
] as const

/** Host values: valid ones, and ones that try to carry a path or another authority. */
const HOSTS: HostValue[] = [
  '127.0.0.1',
  'admin',
  'public',
  'evil/admin?',
  'evil/admin#',
  '127.0.0.1/admin',
  'x@127.0.0.1',
  '127.0.0.1:1/../admin',
  'a\\admin',
  '',
  null,
  ['127.0.0.1', 'admin'],
  '[::1]',
  'EVIL.example',
]

/** A Host as a case sends it: one value, several lines, or none. */
type HostValue = string | null | readonly string[]

/** One request of the matrix. */
interface Case {
  probe: string
  kind: 'upgrade' | 'plain'
  target: string
  host: HostValue
  authenticated: boolean
}

describe('route confusion: Host, target forms and path spellings never cross routes', () => {
  const origins = {} as Record<OriginName, DualOrigin>
  const marks = new Map<string, Mark[]>()
  let gateway: TestGateway
  let token: string

  beforeAll(async () => {
    for (const name of ['public', 'admin', 'internal', 'files'] as const) origins[name] = await startDualOrigin()
    token = await mint({ alg: 'HS256', secret: SECRET }, { sub: 'root', exp: Math.floor(Date.now() / 1000) + 3600 })

    /** Records that `route`'s chain ran, for the request carrying this X-Probe, and the path it ran on. */
    const mark = (route: Route) =>
      createMiddleware(async function mark(c, next) {
        const probe = c.req.header('x-probe') ?? ''
        const list = marks.get(probe) ?? []
        list.push({ route, path: new URL(c.req.url).pathname })
        marks.set(probe, list)
        await next()
      })
    /** A user middleware that refuses everyone: its origin must never see a request. */
    const refuseAll = createMiddleware(async function refuseAll() {
      throw new GatewayError(403, 'ERR_INTERNAL_ONLY' as GatewayErrorCode, 'internal route')
    })
    const auth = jwtAuth({ secret: SECRET, algorithms: ['HS256'] })
    const secretRule = `SecRule REQUEST_FILENAME "@contains /secret" "id:10001,phase:1,deny,t:lowercase,msg:'secret file'"`

    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/public', mark('/public'), proxy(origins.public.url))
    app.all('/public/*', mark('/public/*'), proxy(origins.public.url))
    app.all('/admin', mark('/admin'), auth, proxy(origins.admin.url))
    app.all('/admin/*', mark('/admin/*'), auth, proxy(origins.admin.url))
    app.all('/internal/*', mark('/internal/*'), refuseAll, proxy(origins.internal.url))
    app.all('/files/*', mark('/files/*'), waf({ baseline: false, rules: [secretRule] }), proxy(origins.files.url))
    gateway = await startGateway(app, { maxConnections: 10_000 })
  })

  afterAll(async () => {
    try {
      await expectNoOpenSockets(gateway)
    } finally {
      await gateway.close()
      await Promise.all(Object.values(origins).map((origin) => origin.close()))
    }
  })

  /** Every combination: origin-form with every Host, absolute-form with a few authorities and Hosts, both as upgrade and as plain GET. */
  function matrix(authenticated: boolean): Case[] {
    const cases: Case[] = []
    const forms: [prefix: string, hosts: HostValue[]][] = authenticated
      ? [
          ['', ['127.0.0.1', 'evil/admin?']],
          [`http://127.0.0.1:${gateway.port}`, ['127.0.0.1']],
          ['http://admin', ['public']],
          ['https://public', ['admin']],
        ]
      : [
          ['', HOSTS],
          [`http://127.0.0.1:${gateway.port}`, ['127.0.0.1', 'evil/admin?', 'admin']],
          ['http://admin', ['127.0.0.1', 'public']],
          ['https://public', ['admin', '127.0.0.1/admin']],
          ['http://evil/admin?', ['127.0.0.1']],
        ]
    for (const path of PATHS) {
      for (const [prefix, hosts] of forms) {
        for (const host of hosts) {
          for (const kind of ['upgrade', 'plain'] as const) {
            cases.push({ probe: `${authenticated ? 'a' : 'u'}${cases.length}`, kind, target: `${prefix}${path}`, host, authenticated })
          }
        }
      }
    }
    return cases
  }

  function requestOf(test: Case): string {
    const extra = [`X-Probe: ${test.probe}`, ...(test.authenticated ? [`Authorization: Bearer ${token}`] : [])]
    return test.kind === 'upgrade' ? upgradeRequest(test.target, { host: test.host, extra }) : plainRequest(test.target, { host: test.host, extra })
  }

  /** Where each probe arrived, over all origins. */
  function arrivals(): Map<string, { origin: OriginName; seen: DualSeen }[]> {
    const byProbe = new Map<string, { origin: OriginName; seen: DualSeen }[]>()
    for (const [origin, dual] of Object.entries(origins) as [OriginName, DualOrigin][]) {
      for (const seen of dual.seen) {
        const probe = rawValues(seen.rawHeaders, 'x-probe')[0] ?? ''
        byProbe.set(probe, [...(byProbe.get(probe) ?? []), { origin, seen }])
      }
    }
    return byProbe
  }

  /** Runs the cases and returns every violation, each naming the request. */
  async function violations(cases: Case[]): Promise<{ problems: string[]; exchanges: Exchange[] }> {
    const exchanges = await pool(cases, 32, (test) => exchangeOnce(gateway.port, requestOf(test)))
    const reached = arrivals()
    const problems: string[] = []
    cases.forEach((test, i) => {
      const exchange = exchanges[i]!
      const label = `${test.kind} ${JSON.stringify(test.target)} Host ${JSON.stringify(test.host)}${test.authenticated ? ' with a token' : ''}`
      const status = exchange.response?.status ?? 0
      if (status >= 500) problems.push(`${label}: answered ${exchange.response?.statusLine}`)
      if (exchange.response === undefined) problems.push(`${label}: closed without an answer`)
      const ran = marks.get(test.probe) ?? []
      if (ran.length > 1) problems.push(`${label}: ran ${ran.length} chains (${ran.map((mark) => mark.route).join(', ')})`)
      const chain = ran[0]
      // What the target alone says, Host ignored (test/helpers/strict-request.ts).
      const expected = expectation(test)
      if (expected.kind === 'refuse' && chain) problems.push(`${label}: must be refused before routing (${expected.reason}), but the chain of ${chain.route} ran`)
      if (expected.kind === 'route' && chain) {
        if (chain.route !== expected.route) problems.push(`${label}: the target is ${expected.path}, routed to ${expected.route ?? 'no route'}, but the chain of ${chain.route} ran`)
        if (chain.path !== expected.path) problems.push(`${label}: the target normalises to ${expected.path}, but the chain ran on ${chain.path}`)
      }
      const arrived = reached.get(test.probe) ?? []
      if (arrived.length > 1) problems.push(`${label}: reached ${arrived.length} origins`)
      for (const { origin, seen } of arrived) {
        if (!chain) {
          problems.push(`${label}: reached the ${origin} origin as ${seen.url} without any route's chain running`)
          continue
        }
        if (ORIGIN_OF_ROUTE[chain.route] !== origin) problems.push(`${label}: the chain of ${chain.route} ran, but the ${origin} origin received ${seen.url}`)
        const received = seen.url.split('?', 1)[0]!
        if (received !== chain.path) problems.push(`${label}: routed on ${chain.path} but the origin received ${seen.url}`)
        if (expected.kind === 'route' && expected.query && seen.url !== `${expected.path}?${expected.query}`) {
          problems.push(`${label}: the origin received ${seen.url}, not the query as sent`)
        }
        if (origin === 'admin' && !test.authenticated) problems.push(`${label}: reached the admin origin as ${seen.url} without a token`)
        if (origin === 'internal') problems.push(`${label}: reached the internal origin as ${seen.url} though its chain refuses everyone`)
        if (origin === 'files' && safeDecode(received).toLowerCase().includes('/secret')) problems.push(`${label}: the files origin received ${seen.url}, which the WAF blocks`)
        if (test.kind === 'upgrade' && status !== 101) problems.push(`${label}: the origin upgraded but the client got ${exchange.response?.statusLine}`)
      }
      // And not over-refused: a valid request for a route whose chain lets it through reaches that route's origin.
      if (expected.kind === 'route' && expected.route && judgeHostOf(test.host) === 'valid' && passes(expected.route, expected.path, test.authenticated)) {
        const want = ORIGIN_OF_ROUTE[expected.route]
        if (!arrived.some((arrival) => arrival.origin === want)) problems.push(`${label}: a valid request for ${expected.path} did not reach the ${want} origin (${exchange.response?.statusLine})`)
      }
    })
    return { problems, exchanges }
  }

  it('sends no unauthenticated request to the admin origin, and every request to the origin of the chain that ran, on the path it was routed on', async () => {
    const cases = matrix(false)
    const { problems, exchanges } = await violations(cases)
    expect(problems, `${problems.length} of ${cases.length} requests crossed routes`).toEqual([])
    // Not vacuous: plain spellings of /public reached its origin, and /admin without a token was refused by jwtAuth.
    const byTarget = (target: string, kind: Case['kind']): Exchange => exchanges[cases.findIndex((test) => test.target === target && test.kind === kind && test.host === '127.0.0.1')]!
    expect(byTarget('/public', 'upgrade').response?.status).toBe(101)
    expect(byTarget('/public', 'plain').response?.status).toBe(200)
    expect(byTarget('/admin', 'upgrade').response?.status).toBe(401)
    expect(byTarget('/internal/x', 'upgrade').response?.status).toBe(403)
    expect(byTarget('/files/secret', 'upgrade').response?.status).toBe(403)
    expect(origins.admin.seen).toEqual([])
    expect(origins.internal.seen).toEqual([])
    await echoGatewayStillServes()
  })

  it('sends authenticated requests only to the origin of the chain that ran, on the path it was routed on, and never to the internal origin', async () => {
    const cases = matrix(true)
    const { problems, exchanges } = await violations(cases)
    expect(problems, `${problems.length} of ${cases.length} requests crossed routes`).toEqual([])
    const adminUpgrade = exchanges[cases.findIndex((test) => test.target === '/admin' && test.kind === 'upgrade')]!
    expect(adminUpgrade.response?.status, 'a token opens /admin').toBe(101)
    expect(origins.admin.seen.length).toBeGreaterThan(0)
    expect(origins.internal.seen).toEqual([])
    await echoGatewayStillServes()
  })

  it('routes /public/../admin as /admin: the admin chain runs and refuses it without a token', async () => {
    const exchange = await exchangeOnce(gateway.port, upgradeRequest('/public/../admin', { extra: ['X-Probe: single-1'] }))
    expect(exchange.response?.status).toBe(401)
    expect(marks.get('single-1')).toEqual([{ route: '/admin', path: '/admin' }])
  })

  it('routes GET /public with Host: evil/admin? nowhere: 400 before any chain runs', async () => {
    const exchange = await exchangeOnce(gateway.port, upgradeRequest('/public', { host: 'evil/admin?', extra: ['X-Probe: single-2'] }))
    expect(exchange.response?.status).toBe(400)
    expect(exchange.response?.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_HOST')
    expect(marks.get('single-2')).toBeUndefined()
  })

  /** The gateway still serves a normal client through the public route and holds no socket. */
  async function echoGatewayStillServes(): Promise<void> {
    await echoOnce(`${gateway.wsUrl}/public`, 'still serving')
    await expectNoOpenSockets(gateway)
  }
})

/** What a case must come to, from its target alone. */
type Expectation = { kind: 'refuse'; reason: string } | { kind: 'route'; path: string; query: string | undefined; route: Route | undefined } | { kind: 'either' }

function expectation(test: Case): Expectation {
  const target = judgeTarget(test.target)
  if (target.kind === 'refuse') return target
  if (target.kind === 'either') return { kind: 'either' }
  return { kind: 'route', path: target.path, query: target.query, route: routeOf(target.path) }
}

/** The route a normalised path belongs to (Hono matches `/public` before `/public/*`). */
function routeOf(path: string): Route | undefined {
  for (const base of ['/public', '/admin'] as const) {
    if (path === base) return base
    if (path.startsWith(`${base}/`)) return `${base}/*`
  }
  if (path.startsWith('/internal/')) return '/internal/*'
  if (path.startsWith('/files/')) return '/files/*'
  return undefined
}

/** Whether `route`'s chain lets a valid request for `path` through. */
function passes(route: Route, path: string, authenticated: boolean): boolean {
  if (route === '/internal/*') return false
  if (route === '/admin' || route === '/admin/*') return authenticated
  if (route === '/files/*') return !safeDecode(path).toLowerCase().includes('/secret')
  return true
}

/** A case's Host as the strict rule judges it: exactly one valid value. */
function judgeHostOf(host: HostValue): 'valid' | 'invalid' | 'either' {
  if (host === null) return 'invalid'
  if (typeof host !== 'string') return 'invalid'
  return judgeHost(host)
}

/** Percent-decodes as far as it can (a WAF decodes REQUEST_FILENAME the same way). */
function safeDecode(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
}
