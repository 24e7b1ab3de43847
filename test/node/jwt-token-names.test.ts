import { once } from 'node:events'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { Hono } from 'hono'
import type { JWTPayload } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { jwtAuth, type JwtAuthOptions } from '../../middleware/jwt-auth/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { mint, startJwksServer, testKey, type JwksServer, type TestKey } from '../helpers/jwks.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange, type RawResponse } from '../helpers/raw-client.ts'

/**
 * Origin parsers read other names as the token's: PHP turns `access.token`,
 * `access token`, `access[token` into `access_token` and files
 * `access_token[]` under it, ASP.NET ignores case, Rack 2 and qs read
 * `[access_token]`. Through a real gateway and a real `ws` origin: each such
 * spelling counts as the token (ambiguous beside another copy, verified when
 * alone) and never reaches the origin; other names reach it byte for byte.
 */

const ISSUER = 'https://idp.test/'
const AUDIENCE = 'chat'

/** Query spellings (as written in the request target) an origin reads as `access_token`, and whose parser does. */
const QUERY_LOOK_ALIKES: [spelling: string, reader: string][] = [
  ['access.token', 'PHP: . becomes _'],
  ['access%20token', 'PHP: a space becomes _'],
  ['access+token', 'PHP: + is a space, which becomes _'],
  ['access%2Etoken', 'PHP: a decoded . becomes _'],
  ['access%5Ftoken', 'every parser: %5F is _'],
  ['access[token', 'PHP: an unmatched [ becomes _'],
  ['access_token[]', 'PHP, Rack, qs: an array under access_token'],
  ['access_token[x]', 'PHP, Rack, qs: a map under access_token'],
  ['ACCESS_TOKEN', 'ASP.NET: names ignore case'],
  ['Access_Token', 'ASP.NET: names ignore case'],
  ['%20access_token', 'PHP: leading spaces are dropped'],
  ['[access_token]', 'Rack 2 and qs: a leading [name] is name'],
  ['access_token%00x', 'PHP: the name is a C string, cut at NUL'],
]

/** Cookie names (as sent in `Cookie`) an origin reads as `access_token`. */
const COOKIE_LOOK_ALIKES: [spelling: string, reader: string][] = [
  ['access.token', 'PHP: . becomes _'],
  ['access token', 'PHP: a space becomes _'],
  ['access+token', 'older PHP and Rack 2 decode names: + is a space'],
  ['access%2Etoken', 'older PHP and Rack 2 decode names'],
  ['access%5Ftoken', 'older PHP and Rack 2 decode names'],
  ['access[token', 'PHP: an unmatched [ becomes _'],
  ['access_token[]', 'PHP: an array under access_token'],
  ['access_token[x]', 'PHP: a map under access_token'],
  ['ACCESS_TOKEN', 'ASP.NET: cookie names ignore case'],
  ['Access_Token', 'ASP.NET: cookie names ignore case'],
  ['%20access_token', 'older PHP: a decoded leading space is dropped'],
]

/** Names no origin parser reads as `access_token` (`-` is not touched by PHP). */
const UNRELATED = ['access_tokens', 'xaccess_token', 'access_token_hint', 'access-token']

/** A raw handshake with extra header lines, sent as listed. */
function handshakeWith(path: string, lines: [name: string, value: string][]): string {
  const head = handshakeRequest(path).slice(0, -2)
  return `${head}${lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`
}

/** What the origin received for one connection. */
interface OriginSaw {
  url: string
  headers: IncomingHttpHeaders
}

let rsa: TestKey
let stranger: TestKey
let jwks: JwksServer
let origin: WsOrigin
let gateway: TestGateway
const originSaw: OriginSaw[] = []
const clients: WebSocket[] = []

function claims(overrides: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000)
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: now - 60, exp: now + 600, ...overrides }
}

/** A token the gateway accepts, and one signed by another key under the same kid. */
const genuine = (sub = 'user-1'): Promise<string> => mint(rsa, claims({ sub }))
const forged = (): Promise<string> => mint(stranger, claims({ sub: 'admin' }))

beforeAll(async () => {
  ;[rsa, stranger] = await Promise.all([testKey('RS256', 'rsa-1'), testKey('RS256', 'rsa-1')])
  jwks = await startJwksServer([rsa.publicJwk])
  origin = await startWsOrigin()
  origin.server.on('connection', (_socket: WebSocket, request: IncomingMessage) => {
    originSaw.push({ url: request.url ?? '', headers: request.headers })
  })
  const route = (overrides: Partial<JwtAuthOptions> = {}) =>
    jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE, forwardClaims: { sub: 'X-Auth-Sub' }, ...overrides })
  const app = new Hono<{ Bindings: GatewayBindings }>()
  // The default sources: header, protocol, query.
  app.all('/chat', route(), websocket(origin.url))
  app.all('/cookie', route({ sources: ['header', 'cookie'] }), websocket(origin.url))
  app.all('/header-only', route({ sources: ['header'] }), websocket(origin.url))
  gateway = await startGateway(app)
})

afterEach(() => {
  for (const client of clients.splice(0)) client.terminate()
})

afterAll(async () => {
  try {
    await expectNoOpenSockets(gateway)
  } finally {
    await gateway.close()
    await Promise.all([origin.close(), jwks.close()])
  }
})

/** Opens a connection through the gateway and returns what the origin saw of it. */
async function openAndSee(path: string, headers: Record<string, string> = {}): Promise<OriginSaw> {
  const before = originSaw.length
  const client = new WebSocket(`${gateway.wsUrl}${path}`, { headers })
  clients.push(client)
  client.on('error', () => {})
  await once(client, 'open')
  expect(originSaw).toHaveLength(before + 1)
  const closed = once(client, 'close')
  client.close(1000)
  await closed
  return originSaw.at(-1)!
}

/** Asserts a rejection: status, code, one-line reason, challenge, and no token in the answer; the origin never heard of it. */
function expectRejection(response: RawResponse, status: number, code: string, reason: RegExp, challenge: RegExp, tokens: string[], seenBefore: number): void {
  expect(response.status, response.statusLine).toBe(status)
  expect(response.headers['x-wsgate-error']).toBe(code)
  expect(response.headers['content-type']).toMatch(/^text\/plain/)
  expect(response.body).toMatch(reason)
  expect(response.body.trimEnd().split('\n')).toHaveLength(1)
  expect(response.headers['www-authenticate']).toMatch(challenge)
  for (const token of tokens) expect(response.raw.toString('latin1')).not.toContain(token)
  expect(originSaw).toHaveLength(seenBefore)
}

/** A genuine Authorization: Bearer token beside a forged token cookie in `cookieWith(forged)`: 400 ERR_JWT_AMBIGUOUS, nothing reaches the origin. */
async function expectAmbiguousBesideHeader(cookieWith: (token: string) => string): Promise<void> {
  const [good, bad] = await Promise.all([genuine(), forged()])
  const before = originSaw.length
  const response = await rawExchange(
    gateway.port,
    handshakeWith('/cookie', [
      ['Authorization', `Bearer ${good}`],
      ['Cookie', cookieWith(bad)],
    ]),
  )
  expectRejection(
    response,
    400,
    'ERR_JWT_AMBIGUOUS',
    /^token sent in more than one place: the Authorization header and the access_token cookie\n$/,
    /error="invalid_request"/,
    [good, bad],
    before,
  )
}

describe('jwtAuth: query parameter spellings an origin reads as access_token', () => {
  it('refuses the attack: ?access_token=<genuine>&access.token=<forged> is 400 ERR_JWT_AMBIGUOUS', async () => {
    const [good, bad] = await Promise.all([genuine(), forged()])
    const before = originSaw.length
    const response = await rawExchange(gateway.port, handshakeRequest(`/chat?access_token=${good}&access.token=${bad}`))
    expectRejection(response, 400, 'ERR_JWT_AMBIGUOUS', /^more than one token in the access_token query parameter\n$/, /error="invalid_request"/, [good, bad], before)
  })

  describe.each(QUERY_LOOK_ALIKES)('?%s= (%s)', (spelling) => {
    it('is refused with 400 ERR_JWT_AMBIGUOUS beside a genuine Authorization: Bearer token', async () => {
      const [good, bad] = await Promise.all([genuine(), forged()])
      const before = originSaw.length
      const response = await rawExchange(gateway.port, handshakeWith(`/chat?room=1&${spelling}=${bad}`, [['Authorization', `Bearer ${good}`]]))
      expectRejection(
        response,
        400,
        'ERR_JWT_AMBIGUOUS',
        /^token sent in more than one place: the Authorization header and the access_token query parameter\n$/,
        /error="invalid_request"/,
        [good, bad],
        before,
      )
    })

    it('is the token when alone: a genuine one opens the connection and the origin receives no copy of it', async () => {
      const token = await genuine('alice')
      const saw = await openAndSee(`/chat?room=1&${spelling}=${token}&lang=en`)
      expect(saw.url).toBe('/chat?room=1&lang=en')
      expect(saw.headers['x-auth-sub']).toBe('alice')
      expect(JSON.stringify(saw)).not.toContain(token)
    })

    it('is the token when alone: a forged one is refused with 401 ERR_JWT_SIGNATURE_INVALID', async () => {
      const bad = await forged()
      const before = originSaw.length
      const response = await rawExchange(gateway.port, handshakeRequest(`/chat?room=1&${spelling}=${bad}`))
      expectRejection(response, 401, 'ERR_JWT_SIGNATURE_INVALID', /^token signature is invalid\n$/, /error="invalid_token"/, [bad], before)
    })
  })

  it.each(UNRELATED)('passes ?%s= to the origin byte for byte beside a header token', async (name) => {
    const token = await genuine()
    const saw = await openAndSee(`/chat?${name}=kept&room=1`, { authorization: `Bearer ${token}` })
    expect(saw.url).toBe(`/chat?${name}=kept&room=1`)
    expect(saw.headers).not.toHaveProperty('authorization')
  })

  it('leaves look-alikes alone where the query source is off', async () => {
    const token = await genuine()
    const saw = await openAndSee('/header-only?access.token=x&ACCESS_TOKEN=y&access_token[]=z', { authorization: `Bearer ${token}` })
    expect(saw.url).toBe('/header-only?access.token=x&ACCESS_TOKEN=y&access_token[]=z')
  })
})

describe('jwtAuth: cookie names an origin reads as access_token (cookie source on)', () => {
  describe.each(COOKIE_LOOK_ALIKES)('Cookie: %s= (%s)', (spelling) => {
    it('is refused with 400 ERR_JWT_AMBIGUOUS beside a genuine Authorization: Bearer token', async () => {
      await expectAmbiguousBesideHeader((bad) => `theme=dark; ${spelling}=${bad}`)
    })

    it('is the token when alone: a genuine one opens the connection and the origin receives no copy of it', async () => {
      const token = await genuine('alice')
      const saw = await openAndSee('/cookie', { cookie: `theme=dark; ${spelling}=${token}; lang=en` })
      expect(saw.headers.cookie).toBe('theme=dark; lang=en')
      expect(saw.headers['x-auth-sub']).toBe('alice')
      expect(JSON.stringify(saw)).not.toContain(token)
    })

    it('is the token when alone: a forged one is refused with 401 ERR_JWT_SIGNATURE_INVALID', async () => {
      const bad = await forged()
      const before = originSaw.length
      const response = await rawExchange(gateway.port, handshakeWith('/cookie', [['Cookie', `${spelling}=${bad}`]]))
      expectRejection(response, 401, 'ERR_JWT_SIGNATURE_INVALID', /^token signature is invalid\n$/, /error="invalid_token"/, [bad], before)
    })
  })

  describe('a token cookie after a comma (Rack 2 splits the Cookie header at "," as well as ";")', () => {
    it('is refused with 400 ERR_JWT_AMBIGUOUS beside a genuine Authorization: Bearer token', async () => {
      await expectAmbiguousBesideHeader((bad) => `theme=dark, access_token=${bad}; lang=en`)
    })

    it('is the token when alone, and the origin receives the other cookies of its part without it', async () => {
      const token = await genuine('alice')
      const saw = await openAndSee('/cookie', { cookie: `theme=dark, access_token=${token}, sid=1; lang=en` })
      expect(saw.headers.cookie).toBe('theme=dark, sid=1; lang=en')
      expect(saw.headers['x-auth-sub']).toBe('alice')
      expect(JSON.stringify(saw)).not.toContain(token)
    })
  })

  it('passes a cookie holding a comma but no token name to the origin byte for byte beside a header token', async () => {
    const token = await genuine()
    const cookie = 'prefs=a,b=c, d; theme=dark'
    const saw = await openAndSee('/cookie', { authorization: `Bearer ${token}`, cookie })
    expect(saw.headers.cookie).toBe(cookie)
  })

  it('passes cookies of unrelated names to the origin byte for byte beside a header token', async () => {
    const token = await genuine()
    const cookie = UNRELATED.map((name) => `${name}=kept`).join('; ')
    const saw = await openAndSee('/cookie', { authorization: `Bearer ${token}`, cookie })
    expect(saw.headers.cookie).toBe(cookie)
  })

  it('passes a Cookie header that holds escapes but no token name to the origin byte for byte', async () => {
    const token = await genuine()
    // Escapes make the gateway look at every name; finding none of the token's, it leaves the header as it came.
    const cookie = 'theme=dark;lang=en%2DUS;  sid=a+b'
    const saw = await openAndSee('/cookie', { authorization: `Bearer ${token}`, cookie })
    expect(saw.headers.cookie).toBe(cookie)
  })

  it('leaves look-alike cookies alone where the cookie source is off (the default)', async () => {
    const token = await genuine()
    const cookie = 'access.token=x; ACCESS_TOKEN=y; access_token[]=z'
    const saw = await openAndSee('/chat', { authorization: `Bearer ${token}`, cookie })
    expect(saw.headers.cookie).toBe(cookie)
  })
})
