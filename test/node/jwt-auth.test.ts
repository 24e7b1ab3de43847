import { once } from 'node:events'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import net from 'node:net'
import { Hono } from 'hono'
import type { JWTPayload } from 'jose'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { jwtAuth, type JwtAuthOptions } from '../../middleware/jwt-auth/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { closedLine, expectNoOpenSockets, logsWith, startGateway, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { mint, startJwksServer, testKey, unsignedToken, type JwksServer, type Signer, type TestKey } from '../helpers/jwks.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange, readHead, type RawResponse } from '../helpers/raw-client.ts'
import { exchangeOnce } from '../helpers/hostile-client.ts'

const ISSUER = 'https://idp.test/'
const AUDIENCE = 'chat'
const SECRET = new TextEncoder().encode('a-shared-secret-of-32-bytes-ok!!')
const hmac: Signer = { alg: 'HS256', secret: SECRET }
const SECRET_2 = new TextEncoder().encode('the-second-secret-of-32-bytes!!!')
/** The secrets of the /mixed route, beside its JWKS. */
const MIXED_SECRETS = [
  { kid: 'hs-1', alg: 'HS256' as const, secret: SECRET },
  { kid: 'hs-2', alg: 'HS256' as const, secret: SECRET_2 },
]

/** A raw handshake whose extra header lines are sent as listed, repeated names included. */
function handshakeWith(path: string, lines: [name: string, value: string][]): string {
  const head = handshakeRequest(path).slice(0, -2)
  return `${head}${lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`
}

/** What the origin received for one connection. */
interface OriginSaw {
  url: string
  headers: IncomingHttpHeaders
  /** The subprotocol the origin selected ('' for none). */
  protocol: string
}

let rsa: TestKey
let ec: TestKey
let ed: TestKey
let stranger: TestKey

beforeAll(async () => {
  ;[rsa, ec, ed, stranger] = await Promise.all([testKey('RS256', 'rsa-1'), testKey('ES256', 'ec-1'), testKey('EdDSA', 'ed-1'), testKey('RS256', 'rsa-1')])
})

/** Claims of a token valid for the next 10 minutes, with overrides. */
function claims(overrides: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000)
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: now - 60, exp: now + 600, ...overrides }
}

/** Asserts a rejection on the wire: status, code, challenge, and a one-line plain-text reason that does not repeat the token. */
function expectRejection(response: RawResponse, status: number, code: string, reason: RegExp, challenge: RegExp | string, token?: string): void {
  expect(response.status, response.statusLine).toBe(status)
  expect(response.headers['x-wsgate-error']).toBe(code)
  expect(response.headers['content-type']).toMatch(/^text\/plain/)
  expect(response.body).toMatch(reason)
  expect(response.body.trimEnd().split('\n')).toHaveLength(1)
  if (typeof challenge === 'string') expect(response.headers['www-authenticate']).toBe(challenge)
  else expect(response.headers['www-authenticate']).toMatch(challenge)
  expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  if (token) expect(response.raw.toString('latin1')).not.toContain(token)
}

describe('jwtAuth through a real gateway', () => {
  let jwks: JwksServer
  let origin: WsOrigin
  let gateway: TestGateway
  let originSaw: OriginSaw[]
  const clients: WebSocket[] = []

  /** Opens a ws client (closed after the test) and waits for the handshake. */
  async function open(path: string, protocols?: string[], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
    const client = new WebSocket(`${gateway.wsUrl}${path}`, protocols, options)
    clients.push(client)
    client.on('error', () => {})
    await once(client, 'open')
    return client
  }

  /** Sends one message through the client and expects it echoed, then closes cleanly. */
  async function echoAndClose(client: WebSocket): Promise<void> {
    const reply = once(client, 'message') as Promise<[Buffer, boolean]>
    client.send('through the gateway')
    const [data] = await reply
    expect(data.toString()).toBe('through the gateway')
    const closed = once(client, 'close')
    client.close(1000)
    await closed
  }

  function route(overrides: Partial<JwtAuthOptions> = {}) {
    return jwtAuth({
      jwksUrl: jwks.url,
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      issuer: ISSUER,
      audience: AUDIENCE,
      forwardClaims: { sub: 'X-Auth-Sub' },
      ...overrides,
    })
  }

  beforeEach(async () => {
    originSaw = []
    jwks = await startJwksServer([rsa.publicJwk, ec.publicJwk, ed.publicJwk])
    // The origin selects chat.v1 when offered, and nothing otherwise.
    origin = await startWsOrigin(undefined, { handleProtocols: (offered) => (offered.has('chat.v1') ? 'chat.v1' : false) })
    origin.server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      originSaw.push({ url: request.url ?? '', headers: request.headers, protocol: socket.protocol })
    })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', route(), websocket(origin.url))
    app.all('/rotating', route({ jwksCooldown: 0 }), websocket(origin.url))
    app.all('/cookie', route({ sources: ['cookie'] }), websocket(origin.url))
    app.all('/hs', jwtAuth({ secret: SECRET, algorithms: ['HS256'] }), websocket(origin.url))
    app.all('/scoped', route({ requiredScopes: ['chat:write'] }), websocket(origin.url))
    app.all('/all-sources', route({ sources: ['header', 'protocol', 'query', 'cookie'] }), websocket(origin.url))
    app.all('/mixed', route({ secrets: MIXED_SECRETS, algorithms: ['RS256', 'ES256', 'EdDSA', 'HS256'] }), websocket(origin.url))
    app.all('/oct', route({ allowSymmetricJwks: true, algorithms: ['RS256', 'HS256'] }), websocket(origin.url))
    app.all('/cached', route({ cache: { max: 100 } }), websocket(origin.url))
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    try {
      for (const client of clients.splice(0)) client.terminate()
      // After every case, rejected or not, the same gateway still serves a client with a good token.
      jwks.mode = 'keys'
      await echoAndClose(await open('/chat', undefined, { headers: { authorization: `Bearer ${await mint(rsa, claims())}` } }))
      await expectNoOpenSockets(gateway)
    } finally {
      await gateway.close()
      await Promise.all([origin.close(), jwks.close()])
    }
  })

  describe('the verified-token cache', () => {
    it('opens a reconnecting client\'s connection from the cache (logged cached: true) and refuses a forged signature over the same claims', async () => {
      const token = await mint(ec, claims({ sub: 'dave' }))
      for (let round = 0; round < 2; round++) await echoAndClose(await open('/cached', undefined, { headers: { authorization: `Bearer ${token}` } }))
      await waitFor(() => logsWith(gateway, 'handshake accepted').length >= 2, 2_000, "two 'handshake accepted' lines")
      const [first, second] = logsWith(gateway, 'handshake accepted').filter((line) => line.route === '/cached')
      expect(first).toMatchObject({ jwt: { source: 'header', sub: 'dave' } })
      expect(first!.jwt).not.toHaveProperty('cached')
      expect(second).toMatchObject({ jwt: { source: 'header', sub: 'dave', cached: true } })
      expect(originSaw.map((saw) => saw.headers['x-auth-sub'])).toEqual(['dave', 'dave'])
      expect(originSaw.every((saw) => saw.headers.authorization === undefined)).toBe(true)

      // Another P-256 key's signature over the same header and claims.
      const forgedSignature = (await mint(await testKey('ES256', 'ec-1'), claims({ sub: 'dave' }))).split('.')[2]!
      const forged = `${token.split('.').slice(0, 2).join('.')}.${forgedSignature}`
      const response = await rawExchange(gateway.port, handshakeWith('/cached', [['Authorization', `Bearer ${forged}`]]))
      expectRejection(response, 401, 'ERR_JWT_SIGNATURE_INVALID', /signature/, /error="invalid_token"/, forged)
    })
  })

  describe('tokens in each position', () => {
    it('opens a connection with Authorization: Bearer, forwards X-Auth-Sub and not the token', async () => {
      const token = await mint(rsa, claims({ sub: 'alice' }))
      await echoAndClose(await open('/chat', undefined, { headers: { authorization: `Bearer ${token}`, 'x-auth-sub': 'forged' } }))
      const [saw] = originSaw
      expect(saw!.headers['x-auth-sub']).toBe('alice')
      expect(saw!.headers).not.toHaveProperty('authorization')
      expect(JSON.stringify(saw!.headers)).not.toContain(token)
    })

    it('removes client-sent underscore spellings of a forwardClaims header (X-Auth_Sub), which a CGI-style origin reads as X-Auth-Sub', async () => {
      const token = await mint(rsa, claims({ sub: 'alice' }))
      await echoAndClose(await open('/chat', undefined, { headers: { authorization: `Bearer ${token}`, 'x-auth_sub': 'admin', x_auth_sub: 'admin', 'X_Auth-Sub': 'admin' } }))
      const [saw] = originSaw
      expect(saw!.headers['x-auth-sub']).toBe('alice')
      expect(Object.keys(saw!.headers).filter((name) => name.replace(/_/g, '-') === 'x-auth-sub')).toEqual(['x-auth-sub'])
    })

    it('opens a connection with the [access_token, jwt] subprotocol pair and answers access_token, not the token', async () => {
      const token = await mint(rsa, claims())
      const client = new WebSocket(`${gateway.wsUrl}/chat`, ['access_token', token])
      clients.push(client)
      // ws emits 'open' in the same tick as 'upgrade': listen for both first.
      const upgraded = once(client, 'upgrade') as Promise<[IncomingMessage]>
      const opened = once(client, 'open')
      const [upgrade] = await upgraded
      await opened
      expect(client.protocol).toBe('access_token')
      expect(upgrade.headers['sec-websocket-protocol']).toBe('access_token')
      expect(JSON.stringify(upgrade.headers)).not.toContain(token)
      await echoAndClose(client)
      expect(originSaw[0]!.headers).not.toHaveProperty('sec-websocket-protocol')
      expect(originSaw[0]!.protocol).toBe('')
    })

    it('never writes the token back in the 101 head (raw bytes)', async () => {
      const token = await mint(rsa, claims())
      const socket = net.connect(gateway.port, '127.0.0.1')
      try {
        socket.write(handshakeRequest('/chat', { 'Sec-WebSocket-Protocol': `access_token, ${token}` }))
        const { head } = await readHead(socket)
        expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
        expect(head).toMatch(/\r\nsec-websocket-protocol: access_token\r\n/i)
        expect(head).not.toContain(token)
      } finally {
        socket.destroy()
      }
    })

    it("keeps the origin's choice when the pair comes with a real subprotocol", async () => {
      const token = await mint(rsa, claims())
      const client = await open('/chat', ['access_token', token, 'chat.v1'])
      expect(client.protocol).toBe('chat.v1')
      await echoAndClose(client)
      expect(originSaw[0]!.headers['sec-websocket-protocol']).toBe('chat.v1')
      expect(originSaw[0]!.protocol).toBe('chat.v1')
    })

    it('opens a connection with a bearer.<jwt> entry offered alongside a real subprotocol, which the origin selects', async () => {
      const token = await mint(ec, claims())
      const client = await open('/chat', ['chat.v1', `bearer.${token}`])
      expect(client.protocol).toBe('chat.v1')
      await echoAndClose(client)
      expect(originSaw[0]!.headers['sec-websocket-protocol']).toBe('chat.v1')
    })

    it('removes the Authorization field when empty Authorization lines sit beside the Bearer one (joined as ", Bearer <jwt>")', async () => {
      const token = await mint(rsa, claims({ sub: 'erin' }))
      for (const lines of [
        [['Authorization', ''], ['Authorization', `Bearer ${token}`]],
        [['Authorization', `Bearer ${token}`], ['Authorization', '']],
        [['Authorization', `, Bearer ${token}`]],
      ] as [string, string][][]) {
        originSaw = []
        const { response } = await exchangeOnce(gateway.port, handshakeWith('/chat', lines))
        expect(response?.status, response?.statusLine).toBe(101)
        await waitFor(() => originSaw.length === 1, 2_000, 'the origin to see the connection')
        expect(originSaw[0]!.headers['x-auth-sub']).toBe('erin')
        expect(originSaw[0]!.headers, JSON.stringify(lines.map(([name]) => name))).not.toHaveProperty('authorization')
        expect(JSON.stringify(originSaw[0]!.headers)).not.toContain(token)
      }
    })

    it('opens a connection with the access_token query parameter and sends the origin the URL without it', async () => {
      const token = await mint(ed, claims())
      await echoAndClose(await open(`/chat?room=lobby&access_token=${token}&lang=en`))
      expect(originSaw[0]!.url).toBe('/chat?room=lobby&lang=en')
    })

    it('opens a connection with the token cookie on a cookie route and forwards the other cookies only', async () => {
      const token = await mint(rsa, claims())
      await echoAndClose(await open('/cookie', undefined, { headers: { cookie: `theme=dark; access_token=${token}` } }))
      expect(originSaw[0]!.headers.cookie).toBe('theme=dark')
    })

    for (const [alg, signer] of [
      ['RS256', () => rsa],
      ['ES256', () => ec],
      ['EdDSA', () => ed],
    ] as const) {
      it(`opens a connection with an ${alg} token verified against the JWKS`, async () => {
        const token = await mint(signer(), claims({ sub: `${alg}-user` }))
        await echoAndClose(await open('/chat', ['access_token', token]))
        expect(originSaw[0]!.headers['x-auth-sub']).toBe(`${alg}-user`)
      })
    }

    it('opens a connection with an HS256 token and a shared secret', async () => {
      await echoAndClose(await open('/hs', undefined, { headers: { authorization: `Bearer ${await mint(hmac, claims())}` } }))
      expect(originSaw).toHaveLength(1)
    })
  })

  it("records the token's exp as the connection's end in its log line", async () => {
    const exp = Math.floor(Date.now() / 1000) + 123
    await echoAndClose(await open('/chat', undefined, { headers: { authorization: `Bearer ${await mint(rsa, claims({ exp }))}` } }))
    const line = await closedLine(gateway, '/chat')
    expect(line.expiresAt).toBe(new Date(exp * 1000).toISOString())
  })

  it("logs the subject of an accepted handshake and jose's reason for a refused one, never the token", async () => {
    const good = await mint(rsa, claims({ sub: 'alice' }))
    await echoAndClose(await open('/chat', ['access_token', good]))
    const expired = await mint(rsa, claims({ iat: 1_000, exp: 2_000 }))
    expect((await rawExchange(gateway.port, handshakeRequest(`/chat?access_token=${expired}`))).status).toBe(401)
    await waitFor(() => logsWith(gateway, 'handshake rejected').length > 0, 2_000, "the 'handshake rejected' line")
    expect(logsWith(gateway, 'handshake accepted')[0]).toMatchObject({ route: '/chat', jwt: { source: 'protocol', sub: 'alice', iss: ISSUER } })
    expect(logsWith(gateway, 'handshake rejected')[0]).toMatchObject({
      code: 'ERR_JWT_EXPIRED',
      jwt: { source: 'query', error: '"exp" claim timestamp check failed' },
    })
    const everything = JSON.stringify(gateway.logs)
    expect(everything).not.toContain(good)
    expect(everything).not.toContain(expired)
  })

  it('accepts a key rotated into the JWKS: the new kid triggers one fetch, the old key keeps working', async () => {
    await echoAndClose(await open('/rotating', undefined, { headers: { authorization: `Bearer ${await mint(rsa, claims())}` } }))
    expect(jwks.requests).toBe(1)
    const next = await testKey('ES256', 'ec-2')
    jwks.keys = [...jwks.keys, next.publicJwk]
    await echoAndClose(await open('/rotating', ['access_token', await mint(next, claims({ sub: 'rotated' }))]))
    expect(jwks.requests).toBe(2)
    expect(originSaw[1]!.headers['x-auth-sub']).toBe('rotated')
    await echoAndClose(await open('/rotating', undefined, { headers: { authorization: `Bearer ${await mint(rsa, claims())}` } }))
    expect(jwks.requests).toBe(2)
  })

  it('refuses a key removed from the JWKS once the set is fetched again', async () => {
    await echoAndClose(await open('/rotating', undefined, { headers: { authorization: `Bearer ${await mint(ec, claims())}` } }))
    jwks.keys = [rsa.publicJwk]
    // A token naming a kid the cached set lacks makes the gateway fetch the new set, which has dropped ec-1 too.
    const unknown = await mint(ed, claims(), { kid: 'ed-gone' })
    expectRejection(
      await rawExchange(gateway.port, handshakeRequest('/rotating', { Authorization: `Bearer ${unknown}` })),
      401,
      'ERR_JWT_KEY_UNKNOWN',
      /no key matches the token/,
      /error="invalid_token"/,
    )
    const dropped = await mint(ec, claims())
    const response = await rawExchange(gateway.port, handshakeRequest('/rotating', { Authorization: `Bearer ${dropped}` }))
    expectRejection(response, 401, 'ERR_JWT_KEY_UNKNOWN', /no key matches the token/, /error="invalid_token"/, dropped)
    expect(originSaw).toHaveLength(1)
  })

  describe('refused handshakes (raw bytes)', () => {
    const now = (): number => Math.floor(Date.now() / 1000)
    const cases: [label: string, request: () => Promise<string>, status: number, code: string, reason: RegExp, challenge: RegExp | string][] = [
      ['no token', async () => handshakeRequest('/chat'), 401, 'ERR_JWT_MISSING', /^missing bearer token: send it in the Authorization header, Sec-WebSocket-Protocol or the access_token query parameter\n$/, 'Bearer'],
      ['a malformed token', async () => handshakeRequest('/chat', { Authorization: 'Bearer not.a-jwt' }), 401, 'ERR_JWT_MALFORMED', /^malformed token in the Authorization header\n$/, 'Bearer error="invalid_token", error_description="malformed token in the Authorization header"'],
      ['a token signed by another key under a known kid', async () => handshakeRequest('/chat', { Authorization: `Bearer ${await mint(stranger, claims())}` }), 401, 'ERR_JWT_SIGNATURE_INVALID', /^token signature is invalid\n$/, /error="invalid_token", error_description="token signature is invalid"/],
      ['an expired token', async () => handshakeRequest('/chat', { Authorization: `Bearer ${await mint(rsa, claims({ iat: now() - 7200, exp: now() - 3600 }))}` }), 401, 'ERR_JWT_EXPIRED', /^token expired \(exp\)\n$/, /error="invalid_token", error_description="token expired \(exp\)"/],
      ['a token whose nbf is in the future', async () => handshakeRequest('/chat', { Authorization: `Bearer ${await mint(rsa, claims({ nbf: now() + 3600 }))}` }), 401, 'ERR_JWT_NOT_YET_VALID', /^token not yet valid \(nbf is in the future\)\n$/, /error="invalid_token"/],
      ['a token from another issuer', async () => handshakeRequest('/chat', { Authorization: `Bearer ${await mint(rsa, claims({ iss: 'https://evil.test/' }))}` }), 401, 'ERR_JWT_CLAIM_INVALID', /^token claim "iss" is invalid\n$/, /error="invalid_token", error_description="token claim iss is invalid"/],
      ['a token for another audience', async () => handshakeRequest('/chat', { Authorization: `Bearer ${await mint(rsa, claims({ aud: 'billing' }))}` }), 401, 'ERR_JWT_CLAIM_INVALID', /^token claim "aud" is invalid\n$/, /error="invalid_token"/],
      ['a token whose kid the JWKS does not have', async () => `${handshakeRequest('/chat', { 'Sec-WebSocket-Protocol': `access_token, ${await mint(rsa, claims(), { kid: 'nope' })}` })}`, 401, 'ERR_JWT_KEY_UNKNOWN', /^no key matches the token \(kid\)\n$/, /error="invalid_token"/],
      ['an algorithm outside the allowlist', async () => handshakeRequest('/hs', { Authorization: `Bearer ${await mint(rsa, claims())}` }), 401, 'ERR_JWT_ALGORITHM_NOT_ALLOWED', /^token algorithm RS256 is not allowed\n$/, /error="invalid_token"/],
      ['an unsigned alg none token', async () => handshakeRequest(`/chat?access_token=${unsignedToken(claims())}`), 401, 'ERR_JWT_ALGORITHM_NOT_ALLOWED', /^token algorithm none is not allowed\n$/, /error="invalid_token"/],
      [
        'HS256 signed with the RSA public key (algorithm confusion)',
        async () => handshakeRequest('/chat', { Authorization: `Bearer ${await mint({ alg: 'HS256', kid: rsa.kid, secret: new TextEncoder().encode(rsa.publicPem) }, claims())}` }),
        401,
        'ERR_JWT_ALGORITHM_NOT_ALLOWED',
        /^token algorithm HS256 is not allowed\n$/,
        /error="invalid_token"/,
      ],
      ['a genuine token without the required scope', async () => handshakeRequest('/scoped', { Authorization: `Bearer ${await mint(rsa, claims({ scope: 'chat:read' }))}` }), 403, 'ERR_JWT_INSUFFICIENT_SCOPE', /^token lacks the required scope "chat:write"\n$/, 'Bearer error="insufficient_scope", error_description="token lacks the required scope chat:write", scope="chat:write"'],
    ]
    for (const [label, request, status, code, reason, challenge] of cases) {
      it(`refuses ${label} with ${status} and ${code}, and the origin never hears of it`, async () => {
        const bytes = await request()
        const response = await rawExchange(gateway.port, bytes)
        const token = /(?:Bearer |access_token[=,] ?)([\w.-]+\.[\w.-]*)/.exec(bytes)?.[1]
        expectRejection(response, status, code, reason, challenge, token)
        expect(origin.sockets).toHaveLength(0)
        await waitFor(() => logsWith(gateway, 'handshake rejected').length > 0, 2_000, "the 'handshake rejected' line")
        expect(logsWith(gateway, 'handshake rejected')).toContainEqual(expect.objectContaining({ status, code }))
      })
    }
  })

  it("ignores keys a token brings along (jwk, jku, x5u, x5c; RFC 8725 §3.10): the attacker's own key set is never fetched and its key never verifies", async () => {
    const attacker = await testKey('RS256', 'attacker-1')
    const attackerSet = await startJwksServer([attacker.publicJwk])
    try {
      const brought = { jwk: attacker.publicJwk, jku: attackerSet.url, x5u: attackerSet.url, x5c: ['MIIBfake'] }
      for (const [kid, code] of [
        [attacker.kid, 'ERR_JWT_KEY_UNKNOWN'],
        [rsa.kid, 'ERR_JWT_SIGNATURE_INVALID'],
        [undefined, 'ERR_JWT_SIGNATURE_INVALID'],
      ] as const) {
        const token = await mint(attacker, claims({ sub: 'admin' }), { ...brought, kid })
        const response = await rawExchange(gateway.port, handshakeRequest('/chat', { Authorization: `Bearer ${token}` }))
        expect(response.status, `kid ${String(kid)}: ${response.statusLine}`).toBe(401)
        expect(response.headers['x-wsgate-error'], `kid ${String(kid)}`).toBe(code)
      }
      expect(attackerSet.requests, "requests to the token's jku/x5u").toBe(0)
      expect(origin.sockets).toHaveLength(0)
    } finally {
      await attackerSet.close()
    }
  })

  it('answers 503 ERR_JWKS_UNAVAILABLE with Retry-After when the JWKS endpoint fails, and recovers when it is back', async () => {
    jwks.mode = 'error'
    const response = await rawExchange(gateway.port, handshakeRequest('/chat', { Authorization: `Bearer ${await mint(rsa, claims())}` }))
    expect(response.status, response.statusLine).toBe(503)
    expect(response.headers['x-wsgate-error']).toBe('ERR_JWKS_UNAVAILABLE')
    expect(response.headers['retry-after']).toBe('5')
    expect(response.body).toBe('token signing keys unavailable, retry later\n')
    expect(origin.sockets).toHaveLength(0)
    await waitFor(() => logsWith(gateway, 'handshake rejected').length > 0, 2_000, "the 'handshake rejected' line")
    expect(logsWith(gateway, 'handshake rejected')[0]).toMatchObject({ status: 503, code: 'ERR_JWKS_UNAVAILABLE', jwt: { error: 'Expected 200 OK from the JSON Web Key Set HTTP response' } })
    // afterEach then connects with the endpoint answering again.
  })

  describe('one token, in one place (RFC 6750 §3.1)', () => {
    /** One place a token can travel in, and the request parts that put it there. */
    const places: { label: string; put: (token: string) => { query?: string; line?: [string, string] } }[] = [
      { label: 'Authorization: Bearer', put: (token) => ({ line: ['Authorization', `Bearer ${token}`] }) },
      { label: 'the subprotocol pair', put: (token) => ({ line: ['Sec-WebSocket-Protocol', `access_token, ${token}`] }) },
      { label: 'a bearer. subprotocol', put: (token) => ({ line: ['Sec-WebSocket-Protocol', `chat.v1, bearer.${token}`] }) },
      { label: 'the query parameter', put: (token) => ({ query: `access_token=${token}` }) },
      { label: 'the cookie', put: (token) => ({ line: ['Cookie', `theme=dark; access_token=${token}`] }) },
    ]

    /** The raw request carrying `parts` in the order given. */
    function requestWith(parts: { query?: string; line?: [string, string] }[]): string {
      const query = parts.flatMap((part) => (part.query ? [part.query] : [])).join('&')
      return handshakeWith(`/all-sources${query ? `?${query}` : ''}`, parts.flatMap((part) => (part.line ? [part.line] : [])))
    }

    async function expectAmbiguous(bytes: string, reason: RegExp, label: string): Promise<void> {
      const response = await rawExchange(gateway.port, bytes)
      expect(response.status, `${label}: ${response.statusLine} ${response.body}`).toBe(400)
      expectRejection(response, 400, 'ERR_JWT_AMBIGUOUS', reason, /^Bearer error="invalid_request", error_description="[^"]+"$/)
      for (const token of bytes.match(/ey[\w-]+\.[\w-]+\.[\w-]+/g) ?? []) expect(response.raw.toString('latin1'), label).not.toContain(token)
    }

    it('refuses every pair of places, in both orders, genuine or forged, with 400 ERR_JWT_AMBIGUOUS, and the origin never hears of it', async () => {
      const genuine = await mint(rsa, claims({ sub: 'genuine' }))
      const forged = await mint(stranger, claims({ sub: 'admin' }))
      const copies: [string, string][] = [
        [genuine, genuine],
        [genuine, forged],
        [forged, genuine],
      ]
      for (const [i, first] of places.entries()) {
        for (const second of places.slice(i + 1)) {
          for (const [a, b] of copies) {
            for (const [x, y] of [
              [first, second],
              [second, first],
            ] as const) {
              const label = `${x.label} then ${y.label}`
              const sameSource = x.label.includes('subprotocol') && y.label.includes('subprotocol')
              await expectAmbiguous(requestWith([x.put(a), y.put(b)]), sameSource ? /^more than one token in Sec-WebSocket-Protocol\n$/ : /^token sent in more than one place: .+ and .+\n$/, label)
            }
          }
        }
      }
      expect(origin.sockets).toHaveLength(0)
      expect(originSaw).toHaveLength(0)
      // Refused before any key was looked up: the key set was never fetched.
      expect(jwks.requests).toBe(0)
    })

    it('refuses one place carrying two tokens: the query parameter twice, two Cookie lines, two Authorization lines, the subprotocol twice', async () => {
      const genuine = await mint(rsa, claims())
      const forged = await mint(stranger, claims({ sub: 'admin' }))
      const cases: [label: string, bytes: string, reason: RegExp][] = [
        ['the query parameter twice', handshakeWith(`/all-sources?access_token=${genuine}&room=a&access_token=${forged}`, []), /^more than one token in the access_token query parameter\n$/],
        ['the query parameter twice, one empty', handshakeWith(`/all-sources?access_token=&access_token=${genuine}`, []), /^more than one token in the access_token query parameter\n$/],
        ['two Cookie lines', handshakeWith('/all-sources', [['Cookie', `access_token=${forged}`], ['Cookie', `access_token=${genuine}`]]), /^more than one token in the access_token cookie\n$/],
        ['the cookie twice in one line', handshakeWith('/all-sources', [['Cookie', `access_token=${genuine}; access_token=${forged}`]]), /^more than one token in the access_token cookie\n$/],
        ['two Authorization lines', handshakeWith('/all-sources', [['Authorization', `Bearer ${forged}`], ['Authorization', `Bearer ${genuine}`]]), /^more than one credential in the Authorization header\n$/],
        ['Authorization: Bearer beside Authorization: Basic', handshakeWith('/all-sources', [['Authorization', `Bearer ${genuine}`], ['Authorization', 'Basic dXNlcjpwdw==']]), /^more than one credential in the Authorization header\n$/],
        ['two Sec-WebSocket-Protocol lines with a token each', handshakeWith('/all-sources', [['Sec-WebSocket-Protocol', `bearer.${genuine}`], ['Sec-WebSocket-Protocol', `access_token, ${forged}`]]), /^more than one token in Sec-WebSocket-Protocol\n$/],
      ]
      for (const [label, bytes, reason] of cases) await expectAmbiguous(bytes, reason, label)
      expect(originSaw).toHaveLength(0)
    })

    it('refuses Authorization: Bearer<NBSP><jwt> (a Bearer credential to Python, Go and JavaScript origins) beside a query token, and the origin never hears of it', async () => {
      const genuine = await mint(rsa, claims())
      const forged = await mint(stranger, claims({ sub: 'admin' }))
      // exchangeOnce writes the head as latin1: U+00A0 goes as the one obs-text byte 0xA0.
      const { response } = await exchangeOnce(gateway.port, handshakeWith(`/chat?access_token=${genuine}`, [['Authorization', `Bearer\u00a0${forged}`]]))
      expect(response?.status, response?.statusLine).toBe(400)
      expect(response?.headers['x-wsgate-error']).toBe('ERR_JWT_AMBIGUOUS')
      expect(originSaw).toHaveLength(0)
    })

    it('logs the places of an ambiguous request and never the tokens', async () => {
      const token = await mint(rsa, claims())
      await expectAmbiguous(handshakeWith(`/all-sources?access_token=${token}`, [['Authorization', `Bearer ${token}`]]), /^token sent in more than one place: the Authorization header and the access_token query parameter\n$/, 'header and query')
      await waitFor(() => logsWith(gateway, 'handshake rejected').length > 0, 2_000, "the 'handshake rejected' line")
      expect(logsWith(gateway, 'handshake rejected')[0]).toMatchObject({ status: 400, code: 'ERR_JWT_AMBIGUOUS', jwt: { sources: ['header', 'query'] } })
      expect(JSON.stringify(gateway.logs)).not.toContain(token)
    })

    it('opens a connection with one token while another sits in a place the route does not read, which reaches the origin untouched', async () => {
      const token = await mint(rsa, claims({ sub: 'header-only' }))
      await echoAndClose(await open('/chat', undefined, { headers: { authorization: `Bearer ${token}`, cookie: 'access_token=not-read-here' } }))
      expect(originSaw[0]!.headers['x-auth-sub']).toBe('header-only')
      expect(originSaw[0]!.headers.cookie).toBe('access_token=not-read-here')
    })
  })

  describe('a JWKS and secrets bound by kid on one route', () => {
    it('opens connections with HS256 tokens by the kid of their secret without fetching the JWKS, and with RS256/ES256 tokens by the kid of their JWKS key', async () => {
      await echoAndClose(await open('/mixed', undefined, { headers: { authorization: `Bearer ${await mint({ alg: 'HS256', kid: 'hs-1', secret: SECRET }, claims({ sub: 'hs-1' }))}` } }))
      await echoAndClose(await open('/mixed', ['access_token', await mint({ alg: 'HS256', kid: 'hs-2', secret: SECRET_2 }, claims({ sub: 'hs-2' }))]))
      expect(jwks.requests).toBe(0)
      await echoAndClose(await open('/mixed', ['access_token', await mint(rsa, claims({ sub: 'rsa' }))]))
      await echoAndClose(await open(`/mixed?access_token=${await mint(ec, claims({ sub: 'ec' }))}`))
      expect(jwks.requests).toBe(1)
      expect(originSaw.map((saw) => saw.headers['x-auth-sub'])).toEqual(['hs-1', 'hs-2', 'rsa', 'ec'])
    })

    it('refuses algorithm-confusion attempts on the wire with 401 ERR_JWT_KEY_UNKNOWN, and the origin never hears of them', async () => {
      const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
      // Published in the set, but the route has no allowSymmetricJwks: never a key for it.
      jwks.keys = [...jwks.keys, { kty: 'oct', kid: 'oct-1', alg: 'HS256', k: Buffer.from(SECRET_2).toString('base64url') }]
      const cases: [label: string, token: string][] = [
        ["HS256 MACed with the RSA key's PEM under its kid", await mint({ alg: 'HS256', kid: rsa.kid, secret: encode(rsa.publicPem) }, claims())],
        ["HS256 MACed with the RSA key's JWK under its kid", await mint({ alg: 'HS256', kid: rsa.kid, secret: encode(JSON.stringify(rsa.publicJwk)) }, claims())],
        ["HS256 MACed with the EC key's PEM under its kid", await mint({ alg: 'HS256', kid: ec.kid, secret: encode(ec.publicPem) }, claims())],
        ['RS256 under the kid of a secret', await mint(rsa, claims(), { kid: 'hs-1' })],
        ['HS256 under the kid of an oct key in the JWKS, without allowSymmetricJwks', await mint({ alg: 'HS256', kid: 'oct-1', secret: SECRET_2 }, claims())],
      ]
      for (const [label, token] of cases) {
        const response = await rawExchange(gateway.port, handshakeRequest('/mixed', { Authorization: `Bearer ${token}` }))
        expect(response.status, `${label}: ${response.body}`).toBe(401)
        expectRejection(response, 401, 'ERR_JWT_KEY_UNKNOWN', /^no key matches the token \(kid\)\n$/, /error="invalid_token"/, token)
      }
      const pemNoKid = await mint({ alg: 'HS256', secret: encode(rsa.publicPem) }, claims())
      expectRejection(
        await rawExchange(gateway.port, handshakeRequest('/mixed', { Authorization: `Bearer ${pemNoKid}` })),
        401,
        'ERR_JWT_SIGNATURE_INVALID',
        /^token signature is invalid\n$/,
        /error="invalid_token"/,
        pemNoKid,
      )
      expect(origin.sockets).toHaveLength(0)
      expect(originSaw).toHaveLength(0)
    })

    it('opens a connection with an HS256 token by the kid of an oct key of the remote JWKS when allowSymmetricJwks is on, for that alg only', async () => {
      jwks.keys = [...jwks.keys, { kty: 'oct', kid: 'oct-1', alg: 'HS256', k: Buffer.from(SECRET_2).toString('base64url') }]
      await echoAndClose(await open('/oct', undefined, { headers: { authorization: `Bearer ${await mint({ alg: 'HS256', kid: 'oct-1', secret: SECRET_2 }, claims({ sub: 'oct' }))}` } }))
      expect(originSaw[0]!.headers['x-auth-sub']).toBe('oct')
      const asRsa = await mint(rsa, claims(), { kid: 'oct-1' })
      expectRejection(await rawExchange(gateway.port, handshakeRequest('/oct', { Authorization: `Bearer ${asRsa}` })), 401, 'ERR_JWT_KEY_UNKNOWN', /^no key matches the token \(kid\)\n$/, /error="invalid_token"/, asRsa)
      const confused = await mint({ alg: 'HS256', kid: rsa.kid, secret: new TextEncoder().encode(rsa.publicPem) }, claims())
      expectRejection(await rawExchange(gateway.port, handshakeRequest('/oct', { Authorization: `Bearer ${confused}` })), 401, 'ERR_JWT_KEY_UNKNOWN', /^no key matches the token \(kid\)\n$/, /error="invalid_token"/, confused)
      expect(originSaw).toHaveLength(1)
    })
  })
})
