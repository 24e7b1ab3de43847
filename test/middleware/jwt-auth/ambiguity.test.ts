import { Hono } from 'hono'
import type { JWTPayload } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jwtAuth, type JwtAuthOptions, type JwtAuthVariables, type TokenSource } from '../../../middleware/jwt-auth/index.ts'
import { mint, startJwksServer, testKey, type JwksServer, type TestKey } from '../../helpers/jwks.ts'

/**
 * RFC 6750 §3.1: a client "MUST NOT use more than one method to transmit the
 * token in each request". Every way of sending two tokens (two places, or one
 * place twice) is refused with 400 ERR_JWT_AMBIGUOUS before any token is
 * verified, whatever the order and whichever copy is genuine.
 */

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0)
const NOW_S = NOW / 1000
const ALL_SOURCES: TokenSource[] = ['header', 'protocol', 'query', 'cookie']

let rsa: TestKey
let stranger: TestKey
let jwks: JwksServer

beforeAll(async () => {
  ;[rsa, stranger] = await Promise.all([testKey('RS256', 'rsa-1'), testKey('RS256', 'rsa-1')])
  jwks = await startJwksServer([rsa.publicJwk])
})

afterAll(async () => {
  await jwks.close()
})

function claims(overrides: JWTPayload = {}): JWTPayload {
  return { sub: 'user-1', iat: NOW_S - 60, exp: NOW_S + 600, ...overrides }
}

function appWith(overrides: Partial<JwtAuthOptions> = {}) {
  const app = new Hono<{ Variables: JwtAuthVariables }>()
  app.all('*', jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], now: () => NOW, ...overrides }), (c) =>
    c.json({ sub: c.get('jwtPayload').sub, url: c.req.url, headers: Object.fromEntries(c.req.raw.headers) }),
  )
  return app
}

/** A request under construction: the query string and the header list (repeated names stay separate entries). */
interface Draft {
  query: string[]
  headers: [string, string][]
}

/** One place a token can travel in, and how a client puts it there. */
interface Place {
  label: string
  source: TokenSource
  put(draft: Draft, token: string): void
}

const PLACES: Place[] = [
  { label: 'Authorization: Bearer', source: 'header', put: (d, t) => void d.headers.push(['authorization', `Bearer ${t}`]) },
  { label: 'the access_token subprotocol pair', source: 'protocol', put: (d, t) => void d.headers.push(['sec-websocket-protocol', `access_token, ${t}`]) },
  { label: 'a bearer. subprotocol entry', source: 'protocol', put: (d, t) => void d.headers.push(['sec-websocket-protocol', `bearer.${t}`]) },
  { label: 'the access_token query parameter', source: 'query', put: (d, t) => void d.query.push(`access_token=${t}`) },
  { label: 'the access_token cookie', source: 'cookie', put: (d, t) => void d.headers.push(['cookie', `access_token=${t}`]) },
]

/** How each source is named in the reason. */
const NAMES: Record<TokenSource, string> = {
  header: 'the Authorization header',
  protocol: 'Sec-WebSocket-Protocol',
  query: 'the access_token query parameter',
  cookie: 'the access_token cookie',
}

function request(draft: Draft): Request {
  const headers = new Headers()
  for (const [name, value] of draft.headers) headers.append(name, value)
  return new Request(`http://localhost/chat${draft.query.length > 0 ? `?${draft.query.join('&')}` : ''}`, { headers })
}

/** The copies a client may send: the genuine token, one signed by a forger, and text that is no JWT at all. */
type Copy = 'genuine' | 'forged' | 'garbage'
const PAIRS: [Copy, Copy][] = [
  ['genuine', 'genuine'],
  ['genuine', 'forged'],
  ['forged', 'genuine'],
  ['genuine', 'garbage'],
  ['garbage', 'genuine'],
]

let tokens: Record<Copy, string>
beforeAll(async () => {
  tokens = { genuine: await mint(rsa, claims()), forged: await mint(stranger, claims({ sub: 'admin' })), garbage: 'not-a-jwt' }
})

/** Asserts the 400: code, one-line reason, the invalid_request challenge carrying the same reason, and no token echoed. */
async function expectAmbiguous(response: Response, reason: string): Promise<void> {
  const body = await response.text()
  expect(response.status, body).toBe(400)
  expect(response.headers.get('x-wsgate-error')).toBe('ERR_JWT_AMBIGUOUS')
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
  expect(body).toBe(`${reason}\n`)
  expect(response.headers.get('www-authenticate')).toBe(`Bearer error="invalid_request", error_description="${reason}"`)
  for (const token of Object.values(tokens)) {
    expect(body).not.toContain(token)
    expect(response.headers.get('www-authenticate')).not.toContain(token)
  }
}

describe('jwtAuth: a token in two places is refused with 400 ERR_JWT_AMBIGUOUS', () => {
  for (const [i, first] of PLACES.entries()) {
    for (const second of PLACES.slice(i + 1)) {
      /** The reason names the places in the order of the `sources` option, whatever the client's order. */
      const reasonFor = (sources: TokenSource[]): string =>
        first.source === second.source
          ? `more than one token in ${NAMES[first.source]}`
          : `token sent in more than one place: ${sources.filter((s) => s === first.source || s === second.source).map((s) => NAMES[s]).join(' and ')}`
      it(`refuses ${first.label} with ${second.label}, in either order and whichever copy is genuine, before verifying either`, async () => {
        const fetched = jwks.requests
        for (const sources of [ALL_SOURCES, [...ALL_SOURCES].reverse()]) {
          const app = appWith({ sources })
          for (const [a, b] of PAIRS) {
            for (const [x, y] of [
              [first, second],
              [second, first],
            ] as const) {
              const draft: Draft = { query: [], headers: [] }
              x.put(draft, tokens[a])
              y.put(draft, tokens[b])
              const label = `${x.label} (${a}) then ${y.label} (${b}), sources ${sources.join(',')}`
              const response = await app.request(request(draft))
              expect(response.status, label).toBe(400)
              await expectAmbiguous(response, reasonFor(sources))
            }
          }
        }
        // Refused before any key was looked up.
        expect(jwks.requests).toBe(fetched)
      })
    }
  }
})

describe('jwtAuth: one place carrying the token twice is refused with 400 ERR_JWT_AMBIGUOUS', () => {
  const cases: [label: string, build: (a: string, b: string) => Draft, reason: string][] = [
    ['the query parameter twice', (a, b) => ({ query: [`access_token=${a}`, `access_token=${b}`], headers: [] }), 'more than one token in the access_token query parameter'],
    ['the query parameter twice, once percent-encoded in its name', (a, b) => ({ query: [`access_token=${a}`, `access%5Ftoken=${b}`], headers: [] }), 'more than one token in the access_token query parameter'],
    ['the cookie twice in one Cookie header', (a, b) => ({ query: [], headers: [['cookie', `access_token=${a}; theme=dark; access_token=${b}`]] }), 'more than one token in the access_token cookie'],
    ['the cookie in two Cookie headers', (a, b) => ({ query: [], headers: [['cookie', `access_token=${a}`], ['cookie', `access_token="${b}"`]] }), 'more than one token in the access_token cookie'],
    ['two Authorization: Bearer headers', (a, b) => ({ query: [], headers: [['authorization', `Bearer ${a}`], ['authorization', `bearer ${b}`]] }), 'more than one credential in the Authorization header'],
    ['the subprotocol pair twice', (a, b) => ({ query: [], headers: [['sec-websocket-protocol', `access_token, ${a}, chat.v1, access_token, ${b}`]] }), 'more than one token in Sec-WebSocket-Protocol'],
    ['two bearer. entries in two Sec-WebSocket-Protocol headers', (a, b) => ({ query: [], headers: [['sec-websocket-protocol', `bearer.${a}`], ['sec-websocket-protocol', `chat.v1, bearer.${b}`]] }), 'more than one token in Sec-WebSocket-Protocol'],
  ]
  for (const [label, build, reason] of cases) {
    it(`refuses ${label}, whichever copy comes first and whichever is genuine`, async () => {
      const app = appWith({ sources: ALL_SOURCES })
      for (const [a, b] of PAIRS) await expectAmbiguous(await app.request(request(build(tokens[a], tokens[b]))), reason)
    })
  }

  it("counts a token after a ';' in the query, where servers that split there read one: refused beside another, taken alone and removed before the origin", async () => {
    const app = appWith()
    // An origin splitting at ';' (old Go, Python's cgi) would read the forged token; with a header token beside it, neither is used.
    await expectAmbiguous(
      await app.request(`/chat?room=1;access_token=${tokens.forged}`, { headers: { authorization: `Bearer ${tokens.genuine}` } }),
      'token sent in more than one place: the Authorization header and the access_token query parameter',
    )
    await expectAmbiguous(await app.request(`/chat?access_token=${tokens.genuine};access_token=${tokens.forged}`), 'more than one token in the access_token query parameter')
    const alone = await app.request(`/chat?room=1;access_token=${tokens.genuine};lang=en&x=2`)
    expect(alone.status).toBe(200)
    const seen = (await alone.json()) as { sub: string; url: string }
    expect(seen.sub).toBe('user-1')
    expect(new URL(seen.url).search).toBe('?room=1;lang=en&x=2')
  })

  it('counts a present but empty copy as a token: ?access_token=&access_token=<jwt> and Authorization: Bearer beside a query token', async () => {
    const app = appWith()
    await expectAmbiguous(await app.request(`/chat?access_token=&access_token=${tokens.genuine}`), 'more than one token in the access_token query parameter')
    await expectAmbiguous(await app.request(`/chat?access_token=${tokens.genuine}&access_token`), 'more than one token in the access_token query parameter')
    await expectAmbiguous(
      await app.request(`/chat?access_token=${tokens.genuine}`, { headers: { authorization: 'Bearer' } }),
      'token sent in more than one place: the Authorization header and the access_token query parameter',
    )
    await expectAmbiguous(
      await app.request(`/chat?access_token=${tokens.genuine}`, { headers: { 'sec-websocket-protocol': 'chat.v1, access_token' } }),
      'token sent in more than one place: Sec-WebSocket-Protocol and the access_token query parameter',
    )
  })

  it('refuses a Bearer credential sent beside a second Authorization of another scheme (RFC 9110 §11.6.2: one credential per request)', async () => {
    const app = appWith()
    for (const value of [`Bearer ${tokens.genuine}, Basic dXNlcjpwdw==`, `Basic dXNlcjpwdw==, Bearer ${tokens.genuine}`, `Digest username="a", realm="b, c", Bearer ${tokens.genuine}`]) {
      await expectAmbiguous(await app.request('/chat', { headers: { authorization: value } }), 'more than one credential in the Authorization header')
    }
  })

  // Not Bearer credentials by RFC 9110's grammar, but Bearer ones to an origin: Python's split(), Go's strings.Fields and
  // JavaScript's \s take U+00A0 (obs-text on the wire) for a separator; code cutting the first 7 characters takes anything.
  const LOOK_ALIKES = [(t: string) => `Bearer\u00a0${t}`, (t: string) => `bearer\u00a0\u00a0${t}`, (t: string) => `Bearer:${t}`, (t: string) => `Bearer${t}`]

  it('counts an Authorization credential that only looks like Bearer (Bearer\\u00a0<jwt>, Bearer:<jwt>, Bearer<jwt>) as a token: beside a query token it is ambiguous, never forwarded', async () => {
    const app = appWith()
    for (const lookAlike of LOOK_ALIKES) {
      const value = lookAlike(tokens.forged)
      await expectAmbiguous(
        await app.request(`/chat?access_token=${tokens.genuine}`, { headers: { authorization: value } }),
        'token sent in more than one place: the Authorization header and the access_token query parameter',
      )
      await expectAmbiguous(await app.request('/chat', { headers: { authorization: `Basic dXNlcjpwdw==, ${value}` } }), 'more than one credential in the Authorization header')
    }
  })

  it('reads an Authorization whose quoted string is left open as an origin splitting at commas does: a Bearer credential after a comma counts', async () => {
    // Balanced quotes hide a comma (realm="b, Bearer c" stays one auth-param); an open one proves nothing about where a credential ends.
    const app = appWith()
    for (const value of [`Basic "x, Bearer ${tokens.forged}`, `Digest realm="a\\", Bearer ${tokens.forged}`, `Basic x\\", Bearer ${tokens.forged}`]) {
      await expectAmbiguous(
        await app.request(`/chat?access_token=${tokens.genuine}`, { headers: { authorization: value } }),
        'token sent in more than one place: the Authorization header and the access_token query parameter',
      )
    }
  })

  it('refuses such a look-alike alone as a malformed token, whatever follows it', async () => {
    const app = appWith()
    for (const lookAlike of LOOK_ALIKES) {
      const response = await app.request('/chat', { headers: { authorization: lookAlike(tokens.genuine) } })
      expect(response.status, JSON.stringify(lookAlike(''))).toBe(401)
      expect(response.headers.get('x-wsgate-error')).toBe('ERR_JWT_MALFORMED')
      expect(await response.text()).toBe('malformed token in the Authorization header\n')
    }
  })

  it('names the realm in the 400 challenge when one is set', async () => {
    const response = await appWith({ realm: 'chat' }).request(`/chat?access_token=${tokens.genuine}`, { headers: { authorization: `Bearer ${tokens.genuine}` } })
    expect(response.status).toBe(400)
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="chat", error="invalid_request", error_description="token sent in more than one place: the Authorization header and the access_token query parameter"',
    )
  })
})

describe('jwtAuth: what is not a second token', () => {
  it('accepts one token when another sits in a source that is not enabled, and forwards that one untouched', async () => {
    const response = await appWith({ sources: ['header'] }).request(`/chat?access_token=${tokens.forged}`, {
      headers: { authorization: `Bearer ${tokens.genuine}`, cookie: `access_token=${tokens.forged}`, 'sec-websocket-protocol': `bearer.${tokens.forged}` },
    })
    expect(response.status, await response.clone().text()).toBe(200)
    const seen = (await response.json()) as { sub: string; url: string; headers: Record<string, string> }
    expect(seen.sub).toBe('user-1')
    expect(seen.url).toBe(`http://localhost/chat?access_token=${tokens.forged}`)
    expect(seen.headers.cookie).toBe(`access_token=${tokens.forged}`)
    expect(seen.headers['sec-websocket-protocol']).toBe(`bearer.${tokens.forged}`)
    expect(seen.headers).not.toHaveProperty('authorization')
  })

  it('accepts a query token beside an Authorization of another scheme, even one whose parameters hold commas, and keeps that header', async () => {
    for (const other of ['Basic dXNlcjpwdw==', 'Digest username="a", realm="b, Bearer c"']) {
      const response = await appWith().request(`/chat?access_token=${tokens.genuine}`, { headers: { authorization: other } })
      expect(response.status, `${other}: ${await response.clone().text()}`).toBe(200)
      expect(((await response.json()) as { headers: Record<string, string> }).headers.authorization).toBe(other)
    }
  })

  it('accepts a cookie or a parameter whose name only resembles the token name', async () => {
    const app = appWith({ sources: ['query', 'cookie'] })
    const response = await app.request(`/chat?access_token=${tokens.genuine}&x_access_token=${tokens.forged}`, { headers: { cookie: `access_token_old=${tokens.forged}` } })
    expect(response.status, await response.clone().text()).toBe(200)
  })
})
