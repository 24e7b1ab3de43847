import { describe, expect, it, vi } from 'vitest'
import { validateClientHandshake } from '../../src/handshake.ts'
import type { HandshakeFacts } from '../../middleware/waf/types.ts'
import { ATTACKS, ATTACKS_PARANOIA_2, type AttackCase } from '../fixtures/waf/attacks.ts'
import { BENIGN, CRS_FALSE_POSITIVES } from '../fixtures/waf/benign.ts'
import { handshakeFacts } from '../fixtures/waf/handshake.ts'
import { REALTIME, REALTIME_PLAIN } from '../fixtures/waf/realtime.ts'

const CATEGORIES = ['sqli', 'xss', 'lfi', 'rfi', 'rce', 'php', 'java', 'nodejs', 'scanner', 'protocol'] as const
const PLACEMENTS = ['path', 'query', 'header', 'cookie', 'request-line'] as const
const ENCODINGS = ['plain', 'url', 'double-url', 'unicode', 'html-entity', 'mixed-case', 'comment', 'other'] as const

/** Header names are RFC 9110 tokens; values carry no CR, LF or NUL (Node's parser refuses them). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
/** What Node's HTTP parser accepts as a request target: printable ASCII, no space. */
const TARGET = /^(?:\/|https?:\/\/)[\x21-\x7e]*$/

/** Why `facts` is not a WebSocket handshake the gateway would evaluate, or null when it is. */
function handshakeProblem(facts: HandshakeFacts): string | null {
  if (facts.method !== 'GET') return `method ${facts.method}`
  if (facts.protocol !== 'HTTP/1.1') return `protocol ${facts.protocol}`
  if (!TARGET.test(facts.rawTarget)) return `request target ${JSON.stringify(facts.rawTarget)}`
  if (!facts.remoteAddress) return 'no remote address'
  const headers = new Headers()
  for (const [name, value] of facts.headers) {
    if (!TOKEN.test(name)) return `header name ${JSON.stringify(name)}`
    if (!FIELD_VALUE.test(value)) return `value of ${name}`
    headers.append(name, value)
  }
  try {
    validateClientHandshake({ method: facts.method, httpVersion: facts.protocol.slice('HTTP/'.length), headers })
  } catch (error) {
    return (error as Error).message
  }
  return null
}

function problems(cases: readonly { id: string; facts: HandshakeFacts }[]): string[] {
  return cases.flatMap(({ id, facts }) => {
    const problem = handshakeProblem(facts)
    return problem === null ? [] : [`${id}: ${problem}`]
  })
}

const count = <T extends string>(cases: readonly AttackCase[], key: 'category' | 'placement' | 'encoding', value: T): number =>
  cases.filter((c) => c[key] === value).length

describe('the handshake builder', () => {
  it('builds a valid browser handshake by default and applies header changes in place', () => {
    const facts = handshakeFacts({ headers: { 'user-agent': 'x', Pragma: null, 'X-Extra': '1' }, cookie: 'a=b' })
    expect(handshakeProblem(facts)).toBeNull()
    const names = facts.headers.map(([name]) => name)
    expect(names).not.toContain('Pragma')
    expect(names.at(-1)).toBe('X-Extra')
    expect(facts.headers.find(([name]) => name === 'User-Agent')?.[1]).toBe('x')
    expect(facts.headers.find(([name]) => name === 'Cookie')?.[1]).toBe('a=b')
  })

  it('sees through a handshake that is not one (so the corpus checks below can fail)', () => {
    expect(handshakeProblem(handshakeFacts({ headers: { 'Sec-WebSocket-Key': 'short' } }))).toMatch(/Sec-WebSocket-Key/)
    expect(handshakeProblem(handshakeFacts({ headers: { Upgrade: null } }))).toMatch(/Upgrade/)
    expect(handshakeProblem(handshakeFacts({ target: '/a b' }))).toMatch(/request target/)
    expect(handshakeProblem(handshakeFacts({ headers: { 'X-Bad': 'a\r\nb' } }))).toMatch(/X-Bad/)
  })
})

describe('the attack corpus', () => {
  it('has between 150 and 320 cases with unique ids named <category>-<placement>-<encoding>-<name>', () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(150)
    expect(ATTACKS.length).toBeLessThanOrEqual(320)
    const ids = [...ATTACKS, ...ATTACKS_PARANOIA_2].map((c) => c.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const c of [...ATTACKS, ...ATTACKS_PARANOIA_2]) expect(c.id.startsWith(`${c.category}-${c.placement}-${c.encoding}-`), c.id).toBe(true)
  })

  it('holds no two cases with the same handshake', () => {
    const seen = new Map<string, string>()
    const duplicates: string[] = []
    for (const { id, facts } of [...ATTACKS, ...ATTACKS_PARANOIA_2]) {
      const key = JSON.stringify(facts)
      const first = seen.get(key)
      if (first === undefined) seen.set(key, id)
      else duplicates.push(`${id} = ${first}`)
    }
    expect(duplicates).toEqual([])
  })

  it('covers every category, placement and encoding', () => {
    for (const category of CATEGORIES) expect(count(ATTACKS, 'category', category), category).toBeGreaterThanOrEqual(8)
    for (const placement of PLACEMENTS) expect(count(ATTACKS, 'placement', placement), placement).toBeGreaterThanOrEqual(10)
    for (const encoding of ENCODINGS) expect(count(ATTACKS, 'encoding', encoding), encoding).toBeGreaterThanOrEqual(4)
    expect(new Set(ATTACKS.map((c) => c.category))).toEqual(new Set(CATEGORIES))
    expect(new Set(ATTACKS.map((c) => c.placement))).toEqual(new Set(PLACEMENTS))
    expect(new Set(ATTACKS.map((c) => c.encoding))).toEqual(new Set(ENCODINGS))
  })

  it('marks plain forms for the baseline in every category, and only unencoded ones', () => {
    for (const category of CATEGORIES) expect(ATTACKS.some((c) => c.category === category && c.plain), category).toBe(true)
    expect(ATTACKS.filter((c) => c.plain && c.encoding !== 'plain')).toEqual([])
  })

  it('places each attack where it says', () => {
    const misplaced = ATTACKS.filter(({ placement, facts }) => {
      const cookie = facts.headers.some(([name]) => name.toLowerCase() === 'cookie')
      if (placement === 'query') return !facts.rawTarget.includes('?')
      if (placement === 'path') return facts.rawTarget.includes('?') || !facts.rawTarget.startsWith('/')
      if (placement === 'cookie') return !cookie
      if (placement === 'header') return JSON.stringify(facts.headers) === JSON.stringify(handshakeFacts().headers)
      return false
    })
    expect(misplaced.map((c) => c.id)).toEqual([])
  })

  it('records the CRS rules that matched, and keeps the paranoia-2 cases apart', () => {
    for (const c of ATTACKS) {
      expect(c.crsRules.length, c.id).toBeGreaterThan(0)
      expect(c.paranoia, c.id).toBeUndefined()
    }
    expect(ATTACKS_PARANOIA_2.length).toBeGreaterThan(0)
    for (const c of ATTACKS_PARANOIA_2) {
      expect(c.paranoia, c.id).toBe(2)
      expect(c.plain, c.id).toBe(false)
    }
  })

  it('consists of valid WebSocket handshakes only', () => {
    expect(problems(ATTACKS)).toEqual([])
    expect(problems(ATTACKS_PARANOIA_2)).toEqual([])
  })
})

describe('the benign corpus', () => {
  it('has at least 300 cases with unique ids', () => {
    expect(BENIGN.length).toBeGreaterThanOrEqual(300)
    const ids = [...BENIGN, ...CRS_FALSE_POSITIVES].map((c) => c.id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('imitates the applications the WAF must let through', () => {
    const apps = new Set(BENIGN.map((c) => c.app))
    for (const app of ['chat', 'graphql-ws', 'subscriptions-transport-ws', 'graphql-query-string', 'socket.io', 'signalr', 'binance', 'grafana-live', 'phoenix', 'actioncable', 'discord-like-gateway', 'home-assistant', 'jupyter', 'vscode-remote', 'mobile-app', 'server-client']) {
      expect(apps.has(app), app).toBe(true)
    }
  })

  it('carries what real handshakes carry: browsers, cookies, JWTs, subprotocols, long query strings', () => {
    const header = (c: (typeof BENIGN)[number], name: string): string | undefined => c.facts.headers.find(([n]) => n.toLowerCase() === name)?.[1]
    for (const agent of ['Firefox/', 'Edg/', 'Chrome/', 'Version/17', 'Mobile Safari', 'okhttp/', 'websockets/', 'Go-http-client/']) {
      expect(BENIGN.filter((c) => header(c, 'user-agent')?.includes(agent)).length, agent).toBeGreaterThan(3)
    }
    const jwt = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/
    expect(BENIGN.filter((c) => jwt.test(header(c, 'cookie') ?? '')).length).toBeGreaterThan(10)
    expect(BENIGN.filter((c) => jwt.test(c.facts.rawTarget)).length).toBeGreaterThan(10)
    expect(BENIGN.filter((c) => header(c, 'sec-websocket-protocol') !== undefined).length).toBeGreaterThan(20)
    expect(BENIGN.filter((c) => c.facts.rawTarget.length > 300).length).toBeGreaterThan(20)
    expect(BENIGN.filter((c) => header(c, 'origin') === undefined).length).toBeGreaterThan(20)
  })

  it('is the same on every load (seeded, no clock)', async () => {
    vi.resetModules()
    const again = await import('../fixtures/waf/benign.ts')
    expect(again.BENIGN).not.toBe(BENIGN)
    expect(JSON.stringify(again.BENIGN)).toBe(JSON.stringify(BENIGN))
  })

  it('lists the CRS false positives apart, each with its rule and reason', () => {
    expect(CRS_FALSE_POSITIVES.length).toBeGreaterThan(0)
    for (const c of CRS_FALSE_POSITIVES) {
      expect(c.crsRules.length, c.id).toBeGreaterThan(0)
      expect(c.reason, c.id).not.toBe('')
    }
  })

  it('consists of valid WebSocket handshakes only', () => {
    expect(problems(BENIGN)).toEqual([])
    expect(problems(CRS_FALSE_POSITIVES)).toEqual([])
  })
})

describe('the realtime benign corpus', () => {
  const header = (c: (typeof REALTIME)[number], name: string): string | undefined => c.facts.headers.find(([n]) => n.toLowerCase() === name)?.[1]
  const query = (c: (typeof REALTIME)[number]): URLSearchParams => new URLSearchParams(c.facts.rawTarget.split('?')[1] ?? '')

  it('has at least 500 cases with unique ids, apart from the other benign corpus', () => {
    expect(REALTIME.length).toBeGreaterThanOrEqual(500)
    const ids = [...REALTIME, ...BENIGN, ...CRS_FALSE_POSITIVES].map((c) => c.id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('keeps a plain subset of ordinary handshakes, most of the corpus, apart from the tricky ones', () => {
    expect(REALTIME_PLAIN.length).toBeGreaterThanOrEqual(500)
    expect(REALTIME_PLAIN).toEqual(REALTIME.filter((c) => c.plain))
    expect(new Set(REALTIME.filter((c) => !c.plain).map((c) => c.app))).toEqual(new Set(['graphql-in-url', 'chat-room-words', 'live-search']))
  })

  it('imitates the realtime frameworks with their own URL grammar and subprotocols', () => {
    const apps = new Set(REALTIME.map((c) => c.app))
    for (const app of ['socket.io', 'signalr', 'graphql-ws', 'phoenix', 'phoenix-liveview', 'actioncable', 'jupyter', 'vite-hmr', 'webpack-hmr', 'mqtt', 'stomp', 'trading', 'chat']) expect(apps.has(app), app).toBe(true)
    const some = (predicate: (c: (typeof REALTIME)[number]) => boolean): number => REALTIME.filter(predicate).length
    expect(some((c) => /^[34]$/.test(query(c).get('EIO') ?? '') && query(c).get('transport') === 'websocket')).toBeGreaterThan(30)
    expect(some((c) => query(c).has('sid') && query(c).has('EIO'))).toBeGreaterThan(10)
    expect(some((c) => query(c).has('t') && query(c).has('EIO'))).toBeGreaterThan(10)
    expect(some((c) => query(c).has('id') && query(c).has('access_token'))).toBeGreaterThan(10)
    expect(some((c) => query(c).get('negotiateVersion') === '1')).toBeGreaterThan(5)
    expect(some((c) => query(c).has('vsn'))).toBeGreaterThan(20)
    expect(some((c) => query(c).has('_csrf_token'))).toBeGreaterThan(10)
    expect(some((c) => query(c).has('session_id') && c.facts.rawTarget.includes('/api/kernels/'))).toBeGreaterThan(10)
    expect(some((c) => c.app === 'vite-hmr' && query(c).has('token'))).toBeGreaterThan(5)
    for (const protocol of ['graphql-transport-ws', 'graphql-ws', 'mqtt', 'v12.stomp', 'vite-hmr', 'actioncable-v1-json', 'v1.kernel.websocket.jupyter.org']) {
      expect(some((c) => (header(c, 'sec-websocket-protocol') ?? '').split(/\s*,\s*/).includes(protocol)), protocol).toBeGreaterThanOrEqual(3)
    }
    expect(some((c) => c.app === 'trading' && /symbols=|streams=|channels=/.test(c.facts.rawTarget))).toBeGreaterThan(10)
  })

  it('carries real browser header sets, cookies of real sites, and Origin and Referer present and absent', () => {
    const some = (predicate: (c: (typeof REALTIME)[number]) => boolean): number => REALTIME.filter(predicate).length
    for (const agent of ['Firefox/', 'Edg/', 'Chrome/', 'Version/1', 'Mobile Safari', 'okhttp/', 'websockets/', 'Go-http-client/']) {
      expect(some((c) => header(c, 'user-agent')?.includes(agent) ?? false), agent).toBeGreaterThan(3)
    }
    expect(some((c) => header(c, 'sec-fetch-mode') === 'websocket')).toBeGreaterThan(20)
    for (const cookie of [/\b_ga=GA1\./, /\b__utma=/, /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/, /\b(?:connect\.sid|PHPSESSID|JSESSIONID|sessionid|_session_id)=/, /--/, /CookieConsent=/]) {
      expect(some((c) => cookie.test(header(c, 'cookie') ?? '')), String(cookie)).toBeGreaterThan(3)
    }
    expect(some((c) => header(c, 'origin') === undefined)).toBeGreaterThan(50)
    expect(some((c) => header(c, 'origin') !== undefined)).toBeGreaterThan(300)
    expect(some((c) => header(c, 'referer') !== undefined)).toBeGreaterThan(0)
  })

  it('is the same on every load (seeded, no clock)', async () => {
    vi.resetModules()
    const again = await import('../fixtures/waf/realtime.ts')
    expect(again.REALTIME).not.toBe(REALTIME)
    expect(JSON.stringify(again.REALTIME)).toBe(JSON.stringify(REALTIME))
  })

  it('consists of valid WebSocket handshakes only, each with its own key', () => {
    expect(problems(REALTIME)).toEqual([])
    const keys = REALTIME.map((c) => header(c, 'sec-websocket-key'))
    expect(new Set(keys).size).toBe(keys.length)
  })
})
