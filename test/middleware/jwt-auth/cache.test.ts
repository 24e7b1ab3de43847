import { Hono, type MiddlewareHandler } from 'hono'
import type { JWTPayload } from 'jose'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { jwtAuth, type JwtAuthOptions, type JwtAuthVariables } from '../../../middleware/jwt-auth/index.ts'
import type { NodeCrypto } from '../../../src/native-crypto.ts'
import { nodeCrypto } from '../../../src/node/native-crypto.ts'
import type { GatewayBindings, GatewayRuntime, HandshakeNote } from '../../../src/runtime.ts'
import { mint, startJwksServer, testKey, type JwksServer, type TestKey } from '../../helpers/jwks.ts'

/** The frozen clock of these tests (jwtAuth's `now`), moved by the tests that need time to pass. */
const NOW = Date.UTC(2030, 0, 15, 12, 0, 0)
const NOW_S = NOW / 1000
const ISSUER = 'https://idp.test/'
const AUDIENCE = 'chat'

let ec: TestKey
let ec2: TestKey
/** Another ES256 key published under the first one's kid: what a forger holds. */
let forger: TestKey
let jwks: JwksServer
let clock: number

beforeAll(async () => {
  ;[ec, ec2, forger] = await Promise.all([testKey('ES256', 'ec-1'), testKey('ES256', 'ec-2'), testKey('ES256', 'ec-1')])
})

beforeEach(async () => {
  clock = NOW
  jwks = await startJwksServer([ec.publicJwk, ec2.publicJwk])
  return () => jwks.close()
})

function claims(overrides: JWTPayload = {}): JWTPayload {
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: NOW_S - 60, exp: NOW_S + 600, ...overrides }
}

/**
 * The real `node:crypto` of the Node host, counting the signature checks it
 * is asked for: the honest measure of whether a handshake verified its token
 * (the route passes it as `crypto`, the documented way to inject it).
 */
function countingCrypto(): { crypto: NodeCrypto; readonly verifies: number } {
  let verifies = 0
  const crypto: NodeCrypto = {
    ...nodeCrypto,
    verify: (...args: Parameters<NodeCrypto['verify']>) => {
      verifies++
      return nodeCrypto.verify(...args)
    },
  }
  return {
    crypto,
    get verifies() {
      return verifies
    },
  }
}

interface Answer {
  status: number
  code: string | null
  payload?: JWTPayload
  url?: string
  forwardedSub?: string | null
  note: Record<string, unknown> | undefined
}

/** An app with jwtAuth(options) on /chat whose handler reports what reached it, and each request's `jwt` log field. */
function appWith(options: Partial<JwtAuthOptions>, after?: MiddlewareHandler<{ Bindings: GatewayBindings; Variables: JwtAuthVariables }>) {
  const app = new Hono<{ Bindings: GatewayBindings; Variables: JwtAuthVariables }>()
  // The shared JWKS server unless the test brings its own keys.
  const keys = options.jwks || options.secret ? {} : { jwksUrl: jwks.url }
  const middleware = jwtAuth({ ...keys, algorithms: ['ES256'], issuer: ISSUER, audience: AUDIENCE, now: () => clock, forwardClaims: { sub: 'X-Auth-Sub' }, ...options })
  app.all('/chat', middleware, after ?? (async (_c, next) => next()), (c) =>
    c.json({ payload: c.get('jwtPayload'), url: c.req.url, forwardedSub: c.req.header('x-auth-sub') ?? null }),
  )
  return async (init: { headers?: Record<string, string>; query?: string } = {}): Promise<Answer> => {
    let note: Record<string, unknown> | undefined
    const runtime = { clientAddress: '127.0.0.1', httpVersion: '1.1', note: (fields: HandshakeNote) => void (note = fields.jwt as Record<string, unknown>) }
    const response = await app.request(`http://gw.test/chat${init.query ?? ''}`, { headers: init.headers ?? {} }, { wsgate: runtime as unknown as GatewayRuntime })
    const code = response.headers.get('x-wsgate-error')
    if (response.status !== 200) return { status: response.status, code, note }
    return { status: 200, code, note, ...((await response.json()) as Omit<Answer, 'status' | 'code' | 'note'>) }
  }
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

describe('jwtAuth({ cache }): verified tokens', () => {
  it('accepts a token again without checking its signature again, and says so in the log field', async () => {
    const counted = countingCrypto()
    const send = appWith({ crypto: counted.crypto, cache: { max: 100 } })
    const token = await mint(ec, claims())
    const first = await send(bearer(token))
    const second = await send(bearer(token))
    expect([first.status, second.status]).toEqual([200, 200])
    expect(second.payload).toEqual(first.payload)
    expect(counted.verifies).toBe(1)
    expect(first.note).toEqual({ source: 'header', sub: 'user-1', iss: ISSUER })
    expect(second.note).toEqual({ source: 'header', sub: 'user-1', iss: ISSUER, cached: true })
  })

  it('checks every handshake\'s signature without the option (off by default)', async () => {
    const counted = countingCrypto()
    const send = appWith({ crypto: counted.crypto })
    const token = await mint(ec, claims())
    expect((await send(bearer(token))).status).toBe(200)
    expect((await send(bearer(token))).status).toBe(200)
    expect(counted.verifies).toBe(2)
  })

  it('refuses a cached token with 401 ERR_JWT_EXPIRED once its exp has passed', async () => {
    const counted = countingCrypto()
    const send = appWith({ crypto: counted.crypto, cache: {} })
    const token = await mint(ec, claims({ exp: NOW_S + 60 }))
    expect((await send(bearer(token))).status).toBe(200)
    clock = NOW + 60_000
    const refused = await send(bearer(token))
    expect(refused).toMatchObject({ status: 401, code: 'ERR_JWT_EXPIRED' })
    // The expired entry is dropped: back before exp, the token is verified afresh.
    clock = NOW
    expect((await send(bearer(token))).status).toBe(200)
    expect(counted.verifies).toBe(2)
  })

  it('refuses a cached token with 401 ERR_JWT_NOT_YET_VALID when the clock is before its nbf', async () => {
    const send = appWith({ cache: {}, crypto: nodeCrypto })
    const token = await mint(ec, claims({ nbf: NOW_S }))
    expect((await send(bearer(token))).status).toBe(200)
    clock = NOW - 10_000
    expect(await send(bearer(token))).toMatchObject({ status: 401, code: 'ERR_JWT_NOT_YET_VALID' })
  })

  it('refuses a token with the claims of a cached one and another signature (the entry is the whole token)', async () => {
    const counted = countingCrypto()
    const send = appWith({ crypto: counted.crypto, cache: {} })
    const genuine = await mint(ec, claims())
    expect((await send(bearer(genuine))).status).toBe(200)
    // Same header and claims, signed by another key under the same kid; and the genuine signature with one bit changed.
    const [header, payload] = genuine.split('.')
    const forgedSignature = (await mint(forger, claims())).split('.')[2]!
    const forged = `${header}.${payload}.${forgedSignature}`
    const signature = Buffer.from(genuine.split('.')[2]!, 'base64url')
    signature[0]! ^= 1
    const tampered = `${header}.${payload}.${signature.toString('base64url')}`
    for (const token of [forged, tampered]) {
      expect(await send(bearer(token))).toMatchObject({ status: 401, code: 'ERR_JWT_SIGNATURE_INVALID' })
      // Refused twice: a failure is never kept.
      expect(await send(bearer(token))).toMatchObject({ status: 401, code: 'ERR_JWT_SIGNATURE_INVALID' })
    }
    expect(counted.verifies).toBe(5)
    expect((await send(bearer(genuine))).note).toMatchObject({ cached: true })
  })

  it('stops accepting cached tokens signed with a key rotated out of the JWKS at the next fetch of the set', async () => {
    const counted = countingCrypto()
    const send = appWith({ crypto: counted.crypto, cache: {}, jwksCooldown: 0 })
    const old = await mint(ec, claims())
    expect((await send(bearer(old))).status).toBe(200)
    expect((await send(bearer(old))).note).toMatchObject({ cached: true })
    jwks.keys = [ec2.publicJwk]
    // Until the gateway fetches the set again it holds the old key, as without the cache; an unknown kid makes it fetch.
    expect(await send(bearer(await mint(ec, claims(), { kid: 'ec-3' })))).toMatchObject({ status: 401, code: 'ERR_JWT_KEY_UNKNOWN' })
    expect(await send(bearer(old))).toMatchObject({ status: 401, code: 'ERR_JWT_KEY_UNKNOWN' })
    expect(await send(bearer(old))).toMatchObject({ status: 401, code: 'ERR_JWT_KEY_UNKNOWN' })
    expect((await send(bearer(await mint(ec2, claims())))).status).toBe(200)
    expect(counted.verifies).toBe(2)
  })

  it('refuses a cached token once the JWKS publishes another key under its kid (the entry is bound to the key object)', async () => {
    const send = appWith({ crypto: nodeCrypto, cache: {}, jwksCooldown: 0 })
    const old = await mint(ec, claims())
    expect((await send(bearer(old))).status).toBe(200)
    expect((await send(bearer(old))).note).toMatchObject({ cached: true })
    // The issuer replaces the key behind kid ec-1 (say, after a leak); an unknown kid makes the gateway fetch the set.
    jwks.keys = [forger.publicJwk, ec2.publicJwk]
    expect(await send(bearer(await mint(ec, claims(), { kid: 'ec-3' })))).toMatchObject({ status: 401, code: 'ERR_JWT_KEY_UNKNOWN' })
    expect(await send(bearer(old))).toMatchObject({ status: 401, code: 'ERR_JWT_SIGNATURE_INVALID' })
    expect((await send(bearer(await mint(forger, claims())))).status).toBe(200)
  })

  it('verifies a cached token once more after the key set is fetched again, even when its key stayed', async () => {
    const counted = countingCrypto()
    const send = appWith({ crypto: counted.crypto, cache: {}, jwksCooldown: 0 })
    const token = await mint(ec, claims())
    expect((await send(bearer(token))).status).toBe(200)
    expect(await send(bearer(await mint(ec, claims(), { kid: 'ec-3' })))).toMatchObject({ status: 401, code: 'ERR_JWT_KEY_UNKNOWN' })
    const again = await send(bearer(token))
    expect(again.status).toBe(200)
    expect(again.note).not.toHaveProperty('cached')
    expect(counted.verifies).toBe(2)
    expect((await send(bearer(token))).note).toMatchObject({ cached: true })
  })

  it('holds at most max tokens, the least recently used leaving first', async () => {
    const counted = countingCrypto()
    const send = appWith({ crypto: counted.crypto, cache: { max: 2 } })
    const [one, two, three] = await Promise.all(['a', 'b', 'c'].map((sub) => mint(ec, claims({ sub }))))
    const cachedAnswer = async (token: string) => (await send(bearer(token))).note?.cached === true
    expect(await cachedAnswer(one!)).toBe(false)
    expect(await cachedAnswer(two!)).toBe(false)
    expect(await cachedAnswer(one!)).toBe(true)
    expect(await cachedAnswer(three!)).toBe(false) // evicts two, the least recently used
    expect(await cachedAnswer(one!)).toBe(true)
    expect(await cachedAnswer(three!)).toBe(true)
    expect(await cachedAnswer(two!)).toBe(false)
    expect(counted.verifies).toBe(4)
  })

  it('still works out the source, ambiguity, stripping and forwarded claims at every request', async () => {
    const send = appWith({ cache: {}, crypto: nodeCrypto })
    const token = await mint(ec, claims({ sub: 'carol' }))
    expect((await send(bearer(token))).status).toBe(200)
    const fromQuery = await send({ query: `?room=1&access_token=${token}` })
    expect(fromQuery).toMatchObject({ status: 200, forwardedSub: 'carol', note: { source: 'query', cached: true } })
    expect(fromQuery.url).toBe('http://gw.test/chat?room=1')
    expect(await send({ headers: { authorization: `Bearer ${token}` }, query: `?access_token=${token}` })).toMatchObject({ status: 400, code: 'ERR_JWT_AMBIGUOUS' })
  })

  it('refuses a cached token on a route that requires a scope it lacks (the cache is the route\'s own)', async () => {
    const token = await mint(ec, claims({ scope: 'chat:read' }))
    const open = appWith({ cache: {}, crypto: nodeCrypto })
    const scoped = appWith({ cache: {}, crypto: nodeCrypto, requiredScopes: ['chat:write'] })
    expect((await open(bearer(token))).status).toBe(200)
    expect((await open(bearer(token))).note).toMatchObject({ cached: true })
    expect(await scoped(bearer(token))).toMatchObject({ status: 403, code: 'ERR_JWT_INSUFFICIENT_SCOPE' })
    expect(await scoped(bearer(token))).toMatchObject({ status: 403, code: 'ERR_JWT_INSUFFICIENT_SCOPE' })
  })

  it('gives every request claims of its own: a later step changing them changes nothing for the next', async () => {
    const send = appWith({ cache: {}, crypto: nodeCrypto }, async (c, next) => {
      c.get('jwtPayload').sub = 'mallory'
      await next()
    })
    const token = await mint(ec, claims({ sub: 'alice' }))
    await send(bearer(token))
    const second = await send(bearer(token))
    expect(second.note).toMatchObject({ cached: true, sub: 'alice' })
  })

  it('caches on the WebCrypto path too', async () => {
    const send = appWith({ cache: {}, verifyWith: 'webcrypto' })
    const token = await mint(ec, claims())
    expect((await send(bearer(token))).note).not.toHaveProperty('cached')
    expect((await send(bearer(token))).note).toMatchObject({ cached: true })
    clock = NOW + 600_000
    expect(await send(bearer(token))).toMatchObject({ status: 401, code: 'ERR_JWT_EXPIRED' })
  })

  it('caches tokens checked with a local key set and with a shared secret', async () => {
    const secret = new TextEncoder().encode('a-shared-secret-of-32-bytes-ok!!')
    for (const options of [
      { jwks: { keys: [ec.publicJwk] } },
      { secret, algorithms: ['HS256' as const] },
    ] satisfies Partial<JwtAuthOptions>[]) {
      const counted = countingCrypto()
      const send = appWith({ crypto: counted.crypto, cache: {}, ...options })
      const token = 'secret' in options ? await mint({ alg: 'HS256', secret }, claims()) : await mint(ec, claims())
      expect((await send(bearer(token))).status).toBe(200)
      expect((await send(bearer(token))).note).toMatchObject({ cached: true })
      if (!('secret' in options)) expect(counted.verifies).toBe(1)
    }
  })

  it('throws a TypeError at start for a cache option that is not { max } with a positive integer', () => {
    const base: JwtAuthOptions = { jwks: { keys: [ec.publicJwk] }, algorithms: ['ES256'] }
    for (const cache of [0, true, { max: 0 }, { max: 1.5 }, { max: -1 }, { size: 10 }]) {
      expect(() => jwtAuth({ ...base, cache: cache as NonNullable<JwtAuthOptions['cache']> }), JSON.stringify(cache)).toThrow(TypeError)
    }
    expect(() => jwtAuth({ ...base, cache: false })).not.toThrow()
  })
})
