import { Hono, type Context } from 'hono'
import type { JWTPayload } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { jwtAuth, type JwtAuthOptions, type JwtAuthVariables } from '../../middleware/jwt-auth/index.ts'
import { mint, startJwksServer, testKey, unsignedToken, type JwksServer, type Signer, type TestKey } from '../helpers/jwks.ts'

/** The frozen "now" of every check in this file (jwtAuth's `now` option), and the same in seconds. */
const NOW = Date.UTC(2030, 0, 15, 12, 0, 0)
const NOW_S = NOW / 1000
const ISSUER = 'https://idp.test/'
const AUDIENCE = 'chat'
const SECRET = new TextEncoder().encode('a-shared-secret-of-32-bytes-ok!!')

let rsa: TestKey
let ec: TestKey
let ed: TestKey
let stranger: TestKey
let jwks: JwksServer
const hmac: Signer = { alg: 'HS256', secret: SECRET }

beforeAll(async () => {
  ;[rsa, ec, ed, stranger] = await Promise.all([testKey('RS256', 'rsa-1'), testKey('ES256', 'ec-1'), testKey('EdDSA', 'ed-1'), testKey('RS256', 'rsa-1')])
  jwks = await startJwksServer([rsa.publicJwk, ec.publicJwk, ed.publicJwk])
})

afterAll(async () => {
  await jwks.close()
})

/** Claims of a good token at NOW, with overrides (`undefined` removes a claim). */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const base: JWTPayload = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: NOW_S - 60, exp: NOW_S + 600 }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[name]
    else base[name] = value
  }
  return base
}

/** Options of the JWKS-backed middleware most tests use, with overrides. */
function jwksOptions(overrides: Partial<JwtAuthOptions> = {}): JwtAuthOptions {
  return { jwksUrl: jwks.url, algorithms: ['RS256', 'ES256', 'EdDSA'], issuer: ISSUER, audience: AUDIENCE, now: () => NOW, ...overrides }
}

/** What the final handler saw. */
interface Seen {
  payload: JWTPayload
  expiresAt: number | null
  url: string
  headers: Record<string, string>
}

/** The final handler of the test apps: answers with what reached it. */
function reportSeen(c: Context<{ Variables: JwtAuthVariables }>): Response {
  return c.json({
    payload: c.get('jwtPayload'),
    expiresAt: c.get('connectionExpiresAt') ?? null,
    url: c.req.url,
    headers: Object.fromEntries(c.req.raw.headers),
  })
}

/** An app with jwtAuth in front of `final` (by default: report what was seen). */
function appWith(options: JwtAuthOptions, final: (c: Context<{ Variables: JwtAuthVariables }>) => Response = reportSeen) {
  const app = new Hono<{ Variables: JwtAuthVariables }>()
  app.all('*', jwtAuth(options), final)
  return app
}

/** A final handler that answers like websocket() does on an accepted upgrade, with the origin's chosen subprotocol if any. */
function upgradeAnswer(selected?: string) {
  return () => new Response(null, { headers: { 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', upgrade: 'websocket', ...(selected ? { 'sec-websocket-protocol': selected } : {}) } })
}

async function seenBy(response: Response): Promise<Seen> {
  expect(response.status, await response.clone().text()).toBe(200)
  return (await response.json()) as Seen
}

/** Asserts a refusal: status, code, one-line plain-text reason, and the challenge. */
async function expectRefused(response: Response, status: number, code: string, reason: RegExp, challenge?: RegExp): Promise<string> {
  const body = await response.text()
  expect(response.status, body).toBe(status)
  expect(response.headers.get('x-wsgate-error')).toBe(code)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
  expect(body).toMatch(reason)
  expect(body.trimEnd().split('\n')).toHaveLength(1)
  if (challenge) expect(response.headers.get('www-authenticate')).toMatch(challenge)
  return body
}

/** Asserts a 401 invalid_token with this code and reason, and that the reason does not repeat the token. */
async function expectInvalid(response: Response, code: string, reason: RegExp, token?: string): Promise<void> {
  const body = await expectRefused(response, 401, code, reason, /^Bearer error="invalid_token", error_description="[^"]+"$/)
  if (token) {
    expect(body).not.toContain(token)
    expect(response.headers.get('www-authenticate')).not.toContain(token)
  }
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

describe('jwtAuth: where the token comes from', () => {
  it('accepts a token in Authorization: Bearer and removes the header before the origin', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(await appWith(jwksOptions()).request('/chat', { headers: { ...bearer(token), 'x-other': 'kept' } }))
    expect(seen.payload.sub).toBe('user-1')
    expect(seen.headers).not.toHaveProperty('authorization')
    expect(seen.headers['x-other']).toBe('kept')
  })

  it('accepts the Bearer scheme in any case (RFC 6750 §2.1)', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(await appWith(jwksOptions()).request('/chat', { headers: { authorization: `bEaReR ${token}` } }))
    expect(seen.payload.sub).toBe('user-1')
    expect(seen.headers).not.toHaveProperty('authorization')
  })

  it('accepts the access_token, <jwt> subprotocol pair and removes both entries, keeping the other subprotocols in order', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(
      await appWith(jwksOptions()).request('/chat', { headers: { 'sec-websocket-protocol': `chat.v2, access_token, ${token}, chat.v1` } }),
    )
    expect(seen.payload.sub).toBe('user-1')
    expect(seen.headers['sec-websocket-protocol']).toBe('chat.v2, chat.v1')
  })

  it('accepts a bearer.<jwt> subprotocol entry and removes it', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(await appWith(jwksOptions()).request('/chat', { headers: { 'sec-websocket-protocol': `chat.v1, bearer.${token}` } }))
    expect(seen.payload.sub).toBe('user-1')
    expect(seen.headers['sec-websocket-protocol']).toBe('chat.v1')
  })

  it('removes Sec-WebSocket-Protocol entirely when it held only the token', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(await appWith(jwksOptions()).request('/chat', { headers: { 'sec-websocket-protocol': `access_token, ${token}` } }))
    expect(seen.headers).not.toHaveProperty('sec-websocket-protocol')
  })

  it('accepts the access_token query parameter and strips it from the URL, keeping the other parameters byte for byte', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(await appWith(jwksOptions()).request(`/chat?room=a%20b&access_token=${token}&q=x+y&flag`))
    expect(seen.payload.sub).toBe('user-1')
    expect(new URL(seen.url).search).toBe('?room=a%20b&q=x+y&flag')
    expect(seen.url).not.toContain(token)
  })

  it('drops the query string entirely when the token was its only parameter', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(await appWith(jwksOptions()).request(`/chat?access_token=${token}`))
    expect(seen.url).toBe('http://localhost/chat')
  })

  it('ignores a token in a cookie unless cookie is among the sources (cross-site handshakes carry cookies)', async () => {
    const token = await mint(rsa, claims())
    await expectRefused(
      await appWith(jwksOptions()).request('/chat', { headers: { cookie: `access_token=${token}` } }),
      401,
      'ERR_JWT_MISSING',
      /missing bearer token/,
    )
  })

  it('reads the token from its cookie when enabled and strips only that cookie', async () => {
    const token = await mint(rsa, claims())
    const app = appWith(jwksOptions({ sources: ['cookie'] }))
    const seen = await seenBy(await app.request('/chat', { headers: { cookie: `theme=dark; access_token="${token}"; lang=en` } }))
    expect(seen.payload.sub).toBe('user-1')
    expect(seen.headers.cookie).toBe('theme=dark; lang=en')
  })

  it('refuses a token in the query beside another in Authorization with 400 ERR_JWT_AMBIGUOUS instead of choosing one (more in jwt-auth/ambiguity.test.ts)', async () => {
    const fromQuery = await mint(rsa, claims({ sub: 'from-query' }))
    const fromHeader = await mint(rsa, claims({ sub: 'from-header' }))
    const response = await appWith(jwksOptions({ sources: ['query', 'header', 'protocol'] })).request(`/chat?access_token=${fromQuery}`, { headers: bearer(fromHeader) })
    await expectRefused(
      response,
      400,
      'ERR_JWT_AMBIGUOUS',
      /^token sent in more than one place: the access_token query parameter and the Authorization header\n$/,
      /^Bearer error="invalid_request", error_description="token sent in more than one place: /,
    )
  })

  it('uses the configured query parameter, cookie, marker and prefix names', async () => {
    const token = await mint(rsa, claims())
    const app = appWith(
      jwksOptions({ sources: ['protocol', 'query', 'cookie'], queryParameter: 'jwt', cookie: 'session', protocolMarker: 'auth-token', protocolPrefix: 'jwt~' }),
    )
    expect((await seenBy(await app.request(`/chat?jwt=${token}&access_token=other`))).url).toBe('http://localhost/chat?access_token=other')
    expect((await seenBy(await app.request('/chat', { headers: { cookie: `session=${token}` } }))).headers).not.toHaveProperty('cookie')
    const paired = await seenBy(await app.request('/chat', { headers: { 'sec-websocket-protocol': `auth-token, ${token}, chat.v1` } }))
    expect(paired.headers['sec-websocket-protocol']).toBe('chat.v1')
    const prefixed = await seenBy(await app.request('/chat', { headers: { 'sec-websocket-protocol': `jwt~${token}, chat.v1` } }))
    expect(prefixed.headers['sec-websocket-protocol']).toBe('chat.v1')
  })

  it('leaves an Authorization header of another scheme alone and looks further', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(await appWith(jwksOptions()).request(`/chat?access_token=${token}`, { headers: { authorization: 'Basic dXNlcjpwdw==' } }))
    expect(seen.headers.authorization).toBe('Basic dXNlcjpwdw==')
  })

  it('sends the verified token to the origin as Authorization: Bearer when forwardToken is set, wherever it came from', async () => {
    const token = await mint(rsa, claims())
    const seen = await seenBy(await appWith(jwksOptions({ forwardToken: true })).request(`/chat?access_token=${token}`))
    expect(seen.headers.authorization).toBe(`Bearer ${token}`)
    expect(seen.url).toBe('http://localhost/chat')
  })
})

describe('jwtAuth: what later steps receive', () => {
  it("publishes the verified payload as jwtPayload and the token's exp as connectionExpiresAt in ms", async () => {
    const token = await mint(rsa, claims({ tenant: 'acme' }))
    const seen = await seenBy(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }))
    expect(seen.payload).toEqual(claims({ tenant: 'acme' }))
    expect(seen.expiresAt).toBe((NOW_S + 600) * 1000)
  })

  it('forwards chosen claims as headers: strings as they are, other values as JSON, non-ASCII percent-encoded', async () => {
    const token = await mint(rsa, claims({ tenant: 'acme', level: 3, roles: ['a', 'b'], name: 'Zoë' }))
    const app = appWith(jwksOptions({ forwardClaims: { sub: 'X-Auth-Sub', tenant: 'X-Tenant', level: 'X-Level', roles: 'X-Roles', name: 'X-Name' } }))
    const seen = await seenBy(await app.request('/chat', { headers: bearer(token) }))
    expect(seen.headers['x-auth-sub']).toBe('user-1')
    expect(seen.headers['x-tenant']).toBe('acme')
    expect(seen.headers['x-level']).toBe('3')
    expect(seen.headers['x-roles']).toBe('["a","b"]')
    expect(seen.headers['x-name']).toBe('Zo%C3%AB')
  })

  it('percent-encodes a claim holding %, or a space at either end, so that an origin decoding the header reads that claim and not another', async () => {
    // Raw, "%61dmin" decodes to "admin", and " admin" loses its space as a header value: both would reach the origin as admin.
    const cases: [claim: string, header: string][] = [
      ['%61dmin', '%2561dmin'],
      [' admin', '%20admin'],
      ['admin ', 'admin%20'],
      ['John Smith', 'John Smith'],
      ['\ud800lone', '%EF%BF%BDlone'],
      ['', ''],
    ]
    const app = appWith(jwksOptions({ forwardClaims: { name: 'X-Name' } }))
    for (const [claim, header] of cases) {
      const seen = await seenBy(await app.request('/chat', { headers: bearer(await mint(rsa, claims({ name: claim }))) }))
      expect(seen.headers['x-name'], JSON.stringify(claim)).toBe(header)
      if (!claim.includes('\ud800')) expect(decodeURIComponent(seen.headers['x-name']!)).toBe(claim)
    }
  })

  it('removes a client-sent header named in forwardClaims even when the token lacks the claim, so it cannot be forged', async () => {
    const token = await mint(rsa, claims())
    const app = appWith(jwksOptions({ forwardClaims: { sub: 'X-Auth-Sub', tenant: 'X-Tenant' } }))
    const seen = await seenBy(await app.request('/chat', { headers: { ...bearer(token), 'x-tenant': 'forged', 'x-auth-sub': 'admin' } }))
    expect(seen.headers).not.toHaveProperty('x-tenant')
    expect(seen.headers['x-auth-sub']).toBe('user-1')
  })

  it('keeps an earlier connectionExpiresAt set before it in the chain', async () => {
    const token = await mint(rsa, claims())
    const app = new Hono<{ Variables: JwtAuthVariables }>()
    app.all(
      '*',
      async (c, next) => {
        c.set('connectionExpiresAt', NOW + 1_000)
        await next()
      },
      jwtAuth(jwksOptions()),
      reportSeen,
    )
    expect((await seenBy(await app.request('/chat', { headers: bearer(token) }))).expiresAt).toBe(NOW + 1_000)
  })
})

describe('jwtAuth: the subprotocol answered to the client', () => {
  it('answers Sec-WebSocket-Protocol: access_token on an upgrade when the token came as the pair and the origin selected none', async () => {
    const token = await mint(rsa, claims())
    const response = await appWith(jwksOptions(), upgradeAnswer()).request('/chat', { headers: { 'sec-websocket-protocol': `access_token, ${token}` } })
    expect(response.headers.get('sec-websocket-protocol')).toBe('access_token')
    expect([...response.headers].join('\n')).not.toContain(token)
  })

  it("keeps the origin's selected subprotocol when it selected one", async () => {
    const token = await mint(rsa, claims())
    const response = await appWith(jwksOptions(), upgradeAnswer('chat.v1')).request('/chat', {
      headers: { 'sec-websocket-protocol': `access_token, ${token}, chat.v1` },
    })
    expect(response.headers.get('sec-websocket-protocol')).toBe('chat.v1')
  })

  it('selects nothing for the bearer.<jwt> form: it would have to echo the token', async () => {
    const token = await mint(rsa, claims())
    const response = await appWith(jwksOptions(), upgradeAnswer()).request('/chat', { headers: { 'sec-websocket-protocol': `bearer.${token}` } })
    expect(response.headers.get('sec-websocket-accept')).not.toBeNull()
    expect(response.headers.get('sec-websocket-protocol')).toBeNull()
  })

  it('leaves a response that is not an upgrade alone', async () => {
    const token = await mint(rsa, claims())
    const response = await appWith(jwksOptions(), () => new Response('origin says no', { status: 403 })).request('/chat', {
      headers: { 'sec-websocket-protocol': `access_token, ${token}` },
    })
    expect(response.status).toBe(403)
    expect(response.headers.get('sec-websocket-protocol')).toBeNull()
  })
})

describe('jwtAuth: keys', () => {
  for (const name of ['rsa', 'ec', 'ed'] as const) {
    it(`verifies ${name === 'rsa' ? 'RS256' : name === 'ec' ? 'ES256' : 'EdDSA'} tokens against a JWKS served over HTTP`, async () => {
      const key = { rsa, ec, ed }[name]
      const token = await mint(key, claims({ sub: `signed-by-${key.kid}` }))
      const seen = await seenBy(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }))
      expect(seen.payload.sub).toBe(`signed-by-${key.kid}`)
    })
  }

  it('verifies HS256 tokens with a shared secret', async () => {
    const token = await mint(hmac, claims())
    const seen = await seenBy(await appWith({ secret: SECRET, algorithms: ['HS256'], now: () => NOW }).request('/chat', { headers: bearer(token) }))
    expect(seen.payload.sub).toBe('user-1')
  })

  it('verifies RS256 and PS256 tokens with one PEM public key', async () => {
    const pss = await testKey('PS256', 'pss')
    const app = appWith({ publicKey: pss.publicPem, algorithms: ['RS256', 'PS256'], now: () => NOW })
    const seen = await seenBy(await app.request('/chat', { headers: bearer(await mint(pss, claims({ sub: 'pss' }))) }))
    expect(seen.payload.sub).toBe('pss')
    await expectInvalid(await app.request('/chat', { headers: bearer(await mint(rsa, claims())) }), 'ERR_JWT_SIGNATURE_INVALID', /signature is invalid/)
  })

  it('verifies tokens against a local JWKS', async () => {
    const app = appWith({ jwks: { keys: [ec.publicJwk] }, algorithms: ['ES256'], now: () => NOW })
    expect((await seenBy(await app.request('/chat', { headers: bearer(await mint(ec, claims())) }))).payload.sub).toBe('user-1')
  })

  it('verifies a token without kid against a key set holding several keys of its type, trying each', async () => {
    const second = await testKey('RS256', 'rsa-2')
    const app = appWith({ jwks: { keys: [rsa.publicJwk, second.publicJwk] }, algorithms: ['RS256'], now: () => NOW })
    const token = await mint(second, claims({ sub: 'no-kid' }), { kid: undefined })
    expect((await seenBy(await app.request('/chat', { headers: bearer(token) }))).payload.sub).toBe('no-kid')
    const forged = await mint(stranger, claims(), { kid: undefined })
    await expectInvalid(await app.request('/chat', { headers: bearer(forged) }), 'ERR_JWT_SIGNATURE_INVALID', /signature is invalid/)
  })

  it('finds a rotated-in key once the cooldown after the last fetch has passed, without refetching before', async () => {
    const server = await startJwksServer([rsa.publicJwk])
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(NOW)
      const app = appWith(jwksOptions({ jwksUrl: server.url }))
      await seenBy(await app.request('/chat', { headers: bearer(await mint(rsa, claims())) }))
      expect(server.requests).toBe(1)

      const rotated = await testKey('ES256', 'ec-rotated')
      server.keys = [rsa.publicJwk, rotated.publicJwk]
      const token = await mint(rotated, claims({ sub: 'rotated' }))
      // Within the 30 s cooldown an unknown kid is refused without a fetch: made-up kids cannot flood the issuer.
      vi.setSystemTime(NOW + 29_000)
      await expectInvalid(await app.request('/chat', { headers: bearer(token) }), 'ERR_JWT_KEY_UNKNOWN', /no key matches the token/)
      expect(server.requests).toBe(1)

      vi.setSystemTime(NOW + 31_000)
      expect((await seenBy(await app.request('/chat', { headers: bearer(token) }))).payload.sub).toBe('rotated')
      expect(server.requests).toBe(2)
    } finally {
      vi.useRealTimers()
      await server.close()
    }
  })

  for (const [mode, what] of [
    ['error', 'answers 500'],
    ['garbage', 'answers something that is not JSON'],
  ] as const) {
    it(`answers 503 ERR_JWKS_UNAVAILABLE with Retry-After when the JWKS endpoint ${what}`, async () => {
      const server = await startJwksServer([rsa.publicJwk])
      try {
        server.mode = mode
        const response = await appWith(jwksOptions({ jwksUrl: server.url })).request('/chat', { headers: bearer(await mint(rsa, claims())) })
        await expectRefused(response, 503, 'ERR_JWKS_UNAVAILABLE', /token signing keys unavailable, retry later/)
        expect(response.headers.get('retry-after')).toBe('5')
        expect(server.requests).toBe(1)
      } finally {
        await server.close()
      }
    })
  }

  it('answers 503 ERR_JWKS_UNAVAILABLE when the JWKS endpoint refuses connections', async () => {
    const server = await startJwksServer([])
    const url = server.url
    await server.close()
    const response = await appWith(jwksOptions({ jwksUrl: url })).request('/chat', { headers: bearer(await mint(rsa, claims())) })
    await expectRefused(response, 503, 'ERR_JWKS_UNAVAILABLE', /unavailable/)
  })

  it('answers 503 ERR_JWKS_UNAVAILABLE when the JWKS endpoint does not answer within jwksTimeout', async () => {
    const server = await startJwksServer([rsa.publicJwk])
    try {
      server.mode = 'silent'
      const response = await appWith(jwksOptions({ jwksUrl: server.url, jwksTimeout: 50 })).request('/chat', { headers: bearer(await mint(rsa, claims())) })
      await expectRefused(response, 503, 'ERR_JWKS_UNAVAILABLE', /unavailable/)
    } finally {
      await server.close()
    }
  })
})

describe('jwtAuth: refused tokens', () => {
  it('answers 401 ERR_JWT_MISSING with a bare Bearer challenge and the places it looked when there is no token', async () => {
    const response = await appWith(jwksOptions()).request('/chat')
    await expectRefused(
      response,
      401,
      'ERR_JWT_MISSING',
      /^missing bearer token: send it in the Authorization header, Sec-WebSocket-Protocol or the access_token query parameter\n$/,
    )
    expect(response.headers.get('www-authenticate')).toBe('Bearer')
  })

  it('names the realm in the challenge when one is set', async () => {
    const response = await appWith(jwksOptions({ realm: 'chat' })).request('/chat', { headers: bearer('x.y.z') })
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="chat", error="invalid_token"/)
    expect((await appWith(jwksOptions({ realm: 'chat' })).request('/chat')).headers.get('www-authenticate')).toBe('Bearer realm="chat"')
  })

  it('answers 401, not 500, when a reason names a query parameter or cookie configured beyond ASCII, leaving those characters out of the challenge', async () => {
    // A header value holds no character above U+00FF (and RFC 6750 §3 none outside printable ASCII): the challenge could not be written.
    const app = appWith(jwksOptions({ queryParameter: 'jeton_d\u2019acc\u00e8s', cookie: 'access_token', sources: ['query', 'cookie'] }))
    const response = await app.request(`/chat?${encodeURIComponent('jeton_d\u2019acc\u00e8s')}=x.y`)
    await expectRefused(response, 401, 'ERR_JWT_MALFORMED', /^malformed token in the jeton_d\u2019acc\u00e8s query parameter\n$/)
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token", error_description="malformed token in the jeton_daccs query parameter"')
  })

  for (const [label, headers] of [
    ['a token that is not a JWT', bearer('not-a-jwt')],
    ['an empty Bearer credential', { authorization: 'Bearer' }],
    ['a JWE-shaped token with five parts', bearer('a.b.c.d.e')],
    ['the subprotocol marker without a token after it', { 'sec-websocket-protocol': 'access_token' }],
  ] as const) {
    it(`rejects ${label} with 401 and ERR_JWT_MALFORMED`, async () => {
      await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers }), 'ERR_JWT_MALFORMED', /^malformed token in (the Authorization header|Sec-WebSocket-Protocol)\n$/)
    })
  }

  it('rejects a token whose header is not JSON with 401 and ERR_JWT_MALFORMED', async () => {
    await expectInvalid(await appWith(jwksOptions()).request('/chat?access_token=bm90anNvbg.e30.c2ln'), 'ERR_JWT_MALFORMED', /malformed token in the access_token query parameter/)
  })

  it('rejects a token marking an unsupported header extension critical with 401 and ERR_JWT_MALFORMED, not as an algorithm problem', async () => {
    // RFC 7515 §4.1.11: a crit extension the verifier does not understand makes the JWS invalid.
    // Signed by hand: jose's SignJWT refuses to sign such a header.
    const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const signingInput = `${encode({ alg: 'RS256', kid: rsa.kid, crit: ['x-tenant'], 'x-tenant': 'acme' })}.${encode(claims())}`
    const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', rsa.privateKey, new TextEncoder().encode(signingInput))
    const token = `${signingInput}.${Buffer.from(signature).toString('base64url')}`
    await expectInvalid(
      await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }),
      'ERR_JWT_MALFORMED',
      /^token marks a header extension critical \(crit\) that is not supported\n$/,
    )
  })

  it('with typ set, rejects a JWT of another type (an ID token) with 401 ERR_JWT_CLAIM_INVALID naming the typ header, and admits an access token', async () => {
    const app = appWith({ secret: SECRET, algorithms: ['HS256'], typ: 'at+jwt', now: () => NOW })
    const idToken = await mint(hmac, claims(), { typ: 'JWT' })
    await expectInvalid(await app.request('/chat', { headers: bearer(idToken) }), 'ERR_JWT_CLAIM_INVALID', /^token type \(typ header\) is not the expected one\n$/)
    const untyped = await mint(hmac, claims())
    await expectInvalid(await app.request('/chat', { headers: bearer(untyped) }), 'ERR_JWT_CLAIM_INVALID', /typ header/)
    const accessToken = await mint(hmac, claims(), { typ: 'at+jwt' })
    expect((await seenBy(await app.request('/chat', { headers: bearer(accessToken) }))).payload.sub).toBe('user-1')
  })

  it('rejects a token with a changed payload with 401 and ERR_JWT_SIGNATURE_INVALID', async () => {
    const [header, , signature] = (await mint(rsa, claims())).split('.')
    const tampered = `${header}.${Buffer.from(JSON.stringify(claims({ sub: 'admin' }))).toString('base64url')}.${signature}`
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(tampered) }), 'ERR_JWT_SIGNATURE_INVALID', /^token signature is invalid\n$/, tampered)
  })

  it("rejects a token signed by another key under a known kid with 401 and ERR_JWT_SIGNATURE_INVALID", async () => {
    const forged = await mint(stranger, claims())
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(forged) }), 'ERR_JWT_SIGNATURE_INVALID', /signature is invalid/, forged)
  })

  it('rejects an expired token with 401 and ERR_JWT_EXPIRED', async () => {
    const token = await mint(rsa, claims({ iat: NOW_S - 3600, exp: NOW_S - 1 }))
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_EXPIRED', /^token expired \(exp\)\n$/, token)
  })

  it('rejects a token that expires exactly now (exp is exclusive)', async () => {
    const token = await mint(rsa, claims({ exp: NOW_S }))
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_EXPIRED', /token expired/)
  })

  it('accepts a token expired less than clockTolerance ago, and not one expired longer ago', async () => {
    const app = appWith(jwksOptions({ clockTolerance: 30_000 }))
    await seenBy(await app.request('/chat', { headers: bearer(await mint(rsa, claims({ exp: NOW_S - 29 }))) }))
    await expectInvalid(await app.request('/chat', { headers: bearer(await mint(rsa, claims({ exp: NOW_S - 31 }))) }), 'ERR_JWT_EXPIRED', /token expired/)
  })

  it('ends the connection of a token accepted within clockTolerance at exp plus the tolerance, not at exp, which has passed (closeOnTokenExpiry would close it at once)', async () => {
    const app = appWith(jwksOptions({ clockTolerance: 30_000, closeOnTokenExpiry: true }))
    expect((await seenBy(await app.request('/chat', { headers: bearer(await mint(rsa, claims({ exp: NOW_S - 29 }))) }))).expiresAt).toBe(NOW + 1_000)
    expect((await seenBy(await app.request('/chat', { headers: bearer(await mint(rsa, claims({ exp: NOW_S + 600 }))) }))).expiresAt).toBe(NOW + 630_000)
  })

  it('rejects a token whose nbf is in the future with 401 and ERR_JWT_NOT_YET_VALID', async () => {
    const token = await mint(rsa, claims({ nbf: NOW_S + 60 }))
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_NOT_YET_VALID', /^token not yet valid \(nbf is in the future\)\n$/)
  })

  it('rejects a token from another issuer with 401 and ERR_JWT_CLAIM_INVALID naming iss', async () => {
    const token = await mint(rsa, claims({ iss: 'https://evil.test/' }))
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_CLAIM_INVALID', /^token claim "iss" is invalid\n$/)
  })

  it('rejects a token without iss when an issuer is required, with 401 and ERR_JWT_CLAIM_INVALID', async () => {
    const token = await mint(rsa, claims({ iss: undefined }))
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_CLAIM_INVALID', /^token lacks the "iss" claim\n$/)
  })

  it('rejects a token for another audience with 401 and ERR_JWT_CLAIM_INVALID naming aud', async () => {
    const token = await mint(rsa, claims({ aud: ['billing', 'admin'] }))
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_CLAIM_INVALID', /^token claim "aud" is invalid\n$/)
  })

  it('accepts a token whose aud array contains the audience', async () => {
    const token = await mint(rsa, claims({ aud: ['billing', AUDIENCE] }))
    await seenBy(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }))
  })

  it('rejects a token without exp with 401 and ERR_JWT_CLAIM_INVALID, unless requireExpiration is false', async () => {
    const token = await mint(rsa, claims({ exp: undefined }))
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_CLAIM_INVALID', /^token lacks the "exp" claim\n$/)
    const seen = await seenBy(await appWith(jwksOptions({ requireExpiration: false })).request('/chat', { headers: bearer(token) }))
    expect(seen.expiresAt).toBeNull()
  })

  it('rejects a token issued longer ago than maxTokenAge with 401 and ERR_JWT_EXPIRED', async () => {
    const app = appWith(jwksOptions({ maxTokenAge: 5 * 60_000 }))
    await seenBy(await app.request('/chat', { headers: bearer(await mint(rsa, claims({ iat: NOW_S - 299 }))) }))
    const old = await mint(rsa, claims({ iat: NOW_S - 301 }))
    await expectInvalid(await app.request('/chat', { headers: bearer(old) }), 'ERR_JWT_EXPIRED', /^token too old \(iat is past maxTokenAge\)\n$/)
  })

  it('rejects a token whose kid is in no key set with 401 and ERR_JWT_KEY_UNKNOWN', async () => {
    const token = await mint(rsa, claims(), { kid: 'retired-key' })
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_KEY_UNKNOWN', /^no key matches the token \(kid\)\n$/)
  })

  it("rejects a token naming an RSA key's kid but an EC algorithm with 401 and ERR_JWT_KEY_UNKNOWN", async () => {
    const token = await mint(ec, claims(), { kid: rsa.kid })
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_KEY_UNKNOWN', /no key matches/)
  })

  it('rejects an algorithm outside the allowlist with 401 and ERR_JWT_ALGORITHM_NOT_ALLOWED', async () => {
    const token = await mint(ec, claims())
    await expectInvalid(
      await appWith(jwksOptions({ algorithms: ['RS256'] })).request('/chat', { headers: bearer(token) }),
      'ERR_JWT_ALGORITHM_NOT_ALLOWED',
      /^token algorithm ES256 is not allowed\n$/,
    )
  })

  it('rejects an unsigned alg "none" token with 401 and ERR_JWT_ALGORITHM_NOT_ALLOWED', async () => {
    const token = unsignedToken(claims())
    await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(token) }), 'ERR_JWT_ALGORITHM_NOT_ALLOWED', /token algorithm none is not allowed/)
  })

  it('rejects HS256 signed with the RSA public key (algorithm confusion) with 401 and ERR_JWT_ALGORITHM_NOT_ALLOWED, for a JWKS and for a PEM key', async () => {
    for (const material of [rsa.publicPem, JSON.stringify(rsa.publicJwk)]) {
      const confused = await mint({ alg: 'HS256', kid: rsa.kid, secret: new TextEncoder().encode(material) }, claims())
      await expectInvalid(await appWith(jwksOptions()).request('/chat', { headers: bearer(confused) }), 'ERR_JWT_ALGORITHM_NOT_ALLOWED', /HS256 is not allowed/)
      const pemApp = appWith({ publicKey: rsa.publicPem, algorithms: ['RS256'], now: () => NOW })
      await expectInvalid(await pemApp.request('/chat', { headers: bearer(confused) }), 'ERR_JWT_ALGORITHM_NOT_ALLOWED', /HS256 is not allowed/)
    }
  })

  it('does not repeat a hostile alg header in the reason', async () => {
    const token = unsignedToken(claims()).replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg: 'x"\r\nSet-Cookie: a=b' })).toString('base64url'))
    const response = await appWith(jwksOptions()).request('/chat', { headers: bearer(token) })
    await expectInvalid(response, 'ERR_JWT_ALGORITHM_NOT_ALLOWED', /^token algorithm is not allowed\n$/)
  })

  it('answers 500 ERR_INTERNAL, not a token verdict, when the PEM key does not fit an allowed algorithm', async () => {
    const app = appWith({ publicKey: ec.publicPem, algorithms: ['RS256'], now: () => NOW })
    await expectRefused(await app.request('/chat', { headers: bearer(await mint(rsa, claims())) }), 500, 'ERR_INTERNAL', /gateway key configuration error/)
  })
})

describe('jwtAuth: required claims and scopes', () => {
  it('answers 403 ERR_JWT_INSUFFICIENT_SCOPE with error="insufficient_scope" and the scopes when a required scope is missing', async () => {
    const token = await mint(rsa, claims({ scope: 'chat:read profile' }))
    const response = await appWith(jwksOptions({ requiredScopes: ['chat:read', 'chat:write'] })).request('/chat', { headers: bearer(token) })
    await expectRefused(response, 403, 'ERR_JWT_INSUFFICIENT_SCOPE', /^token lacks the required scope "chat:write"\n$/)
    expect(response.headers.get('www-authenticate')).toBe(
      "Bearer error=\"insufficient_scope\", error_description=\"token lacks the required scope chat:write\", scope=\"chat:read chat:write\"",
    )
  })

  it('accepts a token granting every required scope, as a space-separated string or as an array in scopeClaim', async () => {
    const spaced = await mint(rsa, claims({ scope: 'chat:write profile chat:read' }))
    await seenBy(await appWith(jwksOptions({ requiredScopes: ['chat:read', 'chat:write'] })).request('/chat', { headers: bearer(spaced) }))
    const listed = await mint(rsa, claims({ scp: ['chat:read', 'chat:write'] }))
    await seenBy(await appWith(jwksOptions({ requiredScopes: ['chat:write'], scopeClaim: 'scp' })).request('/chat', { headers: bearer(listed) }))
  })

  it('answers 403 ERR_JWT_INSUFFICIENT_SCOPE naming the claim when a required claim is absent', async () => {
    const token = await mint(rsa, claims())
    const response = await appWith(jwksOptions({ requiredClaims: ['tenant'] })).request('/chat', { headers: bearer(token) })
    await expectRefused(response, 403, 'ERR_JWT_INSUFFICIENT_SCOPE', /^token lacks the required "tenant" claim\n$/, /^Bearer error="insufficient_scope"/)
    await seenBy(await appWith(jwksOptions({ requiredClaims: ['tenant'] })).request('/chat', { headers: bearer(await mint(rsa, claims({ tenant: 'acme' }))) }))
  })

  it('checks scopes only after the signature: a forged token with every scope still gets 401', async () => {
    const forged = await mint(stranger, claims({ scope: 'chat:write' }))
    await expectInvalid(await appWith(jwksOptions({ requiredScopes: ['chat:write'] })).request('/chat', { headers: bearer(forged) }), 'ERR_JWT_SIGNATURE_INVALID', /signature/)
  })
})

describe('jwtAuth: options are checked when the route is defined', () => {
  const pem = (): string => rsa.publicPem
  for (const [label, options, message] of [
    ['no key source', { algorithms: ['RS256'] }, /no key source; set one of jwksUrl, jwks, publicKey, secret or secrets/],
    ['two public key sources', { publicKey: pem, jwksUrl: 'https://idp.test/jwks', algorithms: ['RS256'] }, /set only one key source, got jwksUrl and publicKey/],
    ['no algorithms', { jwksUrl: 'https://idp.test/jwks' }, /algorithms is required/],
    ['empty algorithms', { jwksUrl: 'https://idp.test/jwks', algorithms: [] }, /algorithms must be a non-empty array/],
    ["'none' in algorithms", { jwksUrl: 'https://idp.test/jwks', algorithms: ['RS256', 'none'] }, /must not contain 'none'/],
    ['an unknown algorithm', { jwksUrl: 'https://idp.test/jwks', algorithms: ['RS1'] }, /unknown algorithm "RS1"/],
    ['a secret with an asymmetric algorithm', { secret: SECRET, algorithms: ['HS256', 'RS256'] }, /a secret verifies only HS256\/HS384\/HS512, but algorithms lists RS256/],
    ['a JWKS with an HMAC algorithm', { jwksUrl: 'https://idp.test/jwks', algorithms: ['RS256', 'HS256'] }, /jwksUrl holds public keys, which must never verify HS256/],
    ['a PEM key with an HMAC algorithm', { publicKey: 'PEM', algorithms: ['HS256'] }, /publicKey holds public keys, which must never verify HS256/],
    ['a secret shorter than the hash', { secret: 'short', algorithms: ['HS256'] }, /secret is 5 bytes, but HS256 needs at least 32/],
    ['a plain-http JWKS URL off loopback', { jwksUrl: 'http://idp.test/jwks', algorithms: ['RS256'] }, /jwksUrl must use https/],
    ['a jwksUrl that is not a URL', { jwksUrl: 'idp/jwks', algorithms: ['RS256'] }, /jwksUrl "idp\/jwks" is not a URL/],
    ['a local JWKS with a private key', { jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }] }, algorithms: ['ES256'] }, /jwks key 0 holds a private key/],
    ['a local JWKS that is no key set', { jwks: [] as never, algorithms: ['ES256'] }, /jwks must be a JSON Web Key Set/],
    ['a publicKey that is not PEM SPKI', { publicKey: '-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----', algorithms: ['RS256'] }, /publicKey must be a PEM SPKI/],
    ['a publicKey with algorithms of two key types', { publicKey: pem, algorithms: ['RS256', 'ES256'] }, /algorithms mixes key types/],
    ['jwksCooldown without jwksUrl', { secret: SECRET, algorithms: ['HS256'], jwksCooldown: 0 }, /jwksCooldown applies only with jwksUrl/],
    ['a negative jwksTimeout', { jwksUrl: 'https://idp.test/jwks', algorithms: ['RS256'], jwksTimeout: -1 }, /jwksTimeout must be a non-negative integer/],
    ['a zero jwksTimeout (every fetch aborted at once)', { jwksUrl: 'https://idp.test/jwks', algorithms: ['RS256'], jwksTimeout: 0 }, /jwksTimeout must be a positive integer of milliseconds, got 0/],
    ['an infinite jwksTimeout', { jwksUrl: 'https://idp.test/jwks', algorithms: ['RS256'], jwksTimeout: Infinity }, /jwksTimeout must be a positive integer of milliseconds, got Infinity/],
    ['an unknown source', { secret: SECRET, algorithms: ['HS256'], sources: ['header', 'body'] }, /unknown source "body"/],
    ['empty sources', { secret: SECRET, algorithms: ['HS256'], sources: [] }, /sources must be a non-empty array/],
    ['forwardClaims writing Authorization', { secret: SECRET, algorithms: ['HS256'], forwardClaims: { sub: 'Authorization' } }, /forwardClaims.sub may not write Authorization/],
    ['forwardClaims with a bad header name', { secret: SECRET, algorithms: ['HS256'], forwardClaims: { sub: 'X Auth' } }, /forwardClaims.sub must be a header name/],
    ['a negative clockTolerance', { secret: SECRET, algorithms: ['HS256'], clockTolerance: -5 }, /clockTolerance must be a non-negative number of milliseconds/],
    ['a zero maxTokenAge', { secret: SECRET, algorithms: ['HS256'], maxTokenAge: 0 }, /maxTokenAge must be a positive number/],
    ['a protocolMarker that is not a token', { secret: SECRET, algorithms: ['HS256'], protocolMarker: 'access token' }, /protocolMarker must be an HTTP token/],
    ['an empty issuer list', { secret: SECRET, algorithms: ['HS256'], issuer: [] }, /issuer must be a non-empty string or array of strings/],
    ['an empty typ', { secret: SECRET, algorithms: ['HS256'], typ: '' }, /typ must be a non-empty media type/],
    ['a typ that is only the application/ prefix', { secret: SECRET, algorithms: ['HS256'], typ: 'application/' }, /typ must be a non-empty media type/],
    ['a realm beyond printable ASCII', { secret: SECRET, algorithms: ['HS256'], realm: 'chat \u65e5\u672c' }, /realm must be printable ASCII without quotes or backslashes/],
  ] as const) {
    it(`throws a TypeError naming the option for ${label}`, () => {
      const resolved = { ...options } as Record<string, unknown>
      if (typeof resolved.publicKey === 'function') resolved.publicKey = (resolved.publicKey as () => string)()
      expect(() => jwtAuth(resolved as unknown as JwtAuthOptions)).toThrow(TypeError)
      expect(() => jwtAuth(resolved as unknown as JwtAuthOptions)).toThrow(message)
    })
  }

  it('returns a middleware named jwtAuth for valid options, without fetching the key set yet', async () => {
    const server = await startJwksServer([rsa.publicJwk])
    try {
      const middleware = jwtAuth({ jwksUrl: server.url, algorithms: ['RS256'] })
      expect(middleware.name).toBe('jwtAuth')
      expect(server.requests).toBe(0)
    } finally {
      await server.close()
    }
  })
})
