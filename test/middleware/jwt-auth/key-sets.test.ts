import { Hono } from 'hono'
import type { JWK, JWTPayload } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jwtAuth, type JwtAuthOptions, type JwtAuthVariables, type SignatureBackend } from '../../../middleware/jwt-auth/index.ts'
import { mint, startJwksServer, testKey, type JwksServer, type TestKey } from '../../helpers/jwks.ts'
import { nodeCrypto } from '../../../src/node/native-crypto.ts'

/**
 * Public keys (a JWKS) and HMAC secrets on one route: a token's alg picks the
 * kind of key, its kid the key. Every case runs on both signature backends.
 */

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0)
const NOW_S = NOW / 1000
const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const HS_SECRET = encode('a-shared-secret-of-32-bytes-ok!!')
const HS_SECRET_2 = encode('the-second-secret-of-32-bytes!!!')
const HS512_SECRET = encode('a-64-byte-secret-for-hs512-0123456789-0123456789-0123456789-0123')
const BACKENDS: SignatureBackend[] = ['node:crypto', 'webcrypto']

let rsa: TestKey
let ec: TestKey

beforeAll(async () => {
  ;[rsa, ec] = await Promise.all([testKey('RS256', 'rsa-1'), testKey('ES256', 'ec-1')])
})

function claims(overrides: JWTPayload = {}): JWTPayload {
  return { sub: 'user-1', iat: NOW_S - 60, exp: NOW_S + 600, ...overrides }
}

/** An `oct` JWK of `secret`; `alg` undefined leaves it out. */
function oct(kid: string, alg: string | undefined, secret: Uint8Array, extra: Partial<JWK> = {}): JWK {
  return { kty: 'oct', kid, ...(alg ? { alg } : {}), k: Buffer.from(secret).toString('base64url'), ...extra }
}

function appWith(options: JwtAuthOptions, verifyWith: SignatureBackend) {
  const app = new Hono<{ Variables: JwtAuthVariables }>()
  app.all('*', jwtAuth({ now: () => NOW, ...options, verifyWith, crypto: nodeCrypto }), (c) => c.json({ sub: c.get('jwtPayload').sub }))
  return app
}

async function expectAccepted(response: Response, sub: string, label: string): Promise<void> {
  const body = await response.text()
  expect(response.status, `${label}: ${body}`).toBe(200)
  expect((JSON.parse(body) as { sub: string }).sub, label).toBe(sub)
}

async function expectRefused(response: Response, code: string, reason: RegExp, label: string): Promise<void> {
  const body = await response.text()
  expect(response.status, `${label}: ${body}`).toBe(401)
  expect(response.headers.get('x-wsgate-error'), label).toBe(code)
  expect(body, label).toMatch(reason)
  expect(response.headers.get('www-authenticate'), label).toMatch(/^Bearer error="invalid_token", error_description="[^"]+"$/)
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

describe('jwtAuth: a JWKS and secrets bound by kid on one route', () => {
  let jwks: JwksServer
  beforeAll(async () => {
    jwks = await startJwksServer([rsa.publicJwk, ec.publicJwk])
  })
  afterAll(async () => {
    await jwks.close()
  })

  const secrets = () => [
    { kid: 'hs-1', alg: 'HS256' as const, secret: HS_SECRET },
    { kid: 'hs-2', alg: 'HS256' as const, secret: HS_SECRET_2 },
    { kid: 'hs-512', alg: 'HS512' as const, secret: HS512_SECRET },
  ]
  const configs: [string, () => JwtAuthOptions][] = [
    ['a remote JWKS', () => ({ jwksUrl: jwks.url, secrets: secrets(), algorithms: ['RS256', 'ES256', 'HS256', 'HS512'] })],
    ['a local JWKS', () => ({ jwks: { keys: [rsa.publicJwk, ec.publicJwk] }, secrets: secrets(), algorithms: ['RS256', 'ES256', 'HS256', 'HS512'] })],
  ]

  for (const [name, options] of configs) {
    for (const backend of BACKENDS) {
      it(`verifies HS256/HS512 tokens with the secret their kid names and RS256/ES256 tokens with the key their kid names (${name}, ${backend})`, async () => {
        const app = appWith(options(), backend)
        await expectAccepted(await app.request('/', bearer(await mint({ alg: 'HS256', kid: 'hs-1', secret: HS_SECRET }, claims({ sub: 'hs-1' })))), 'hs-1', 'HS256 hs-1')
        await expectAccepted(await app.request('/', bearer(await mint({ alg: 'HS256', kid: 'hs-2', secret: HS_SECRET_2 }, claims({ sub: 'hs-2' })))), 'hs-2', 'HS256 hs-2')
        await expectAccepted(await app.request('/', bearer(await mint({ alg: 'HS512', kid: 'hs-512', secret: HS512_SECRET }, claims({ sub: 'hs-512' })))), 'hs-512', 'HS512')
        await expectAccepted(await app.request('/', bearer(await mint(rsa, claims({ sub: 'rsa' })))), 'rsa', 'RS256')
        await expectAccepted(await app.request('/', bearer(await mint(ec, claims({ sub: 'ec' })))), 'ec', 'ES256')
        // A kid-less HMAC token is tried against each secret of its alg, as jose tries each fitting key of a set.
        await expectAccepted(await app.request('/', bearer(await mint({ alg: 'HS256', secret: HS_SECRET_2 }, claims({ sub: 'no-kid' })))), 'no-kid', 'kid-less HS256')
      })

      it(`refuses algorithm-confusion attempts with 401 and ERR_JWT_KEY_UNKNOWN or ERR_JWT_SIGNATURE_INVALID (${name}, ${backend})`, async () => {
        const app = appWith(options(), backend)
        const unknown = /^no key matches the token \(kid\)\n$/
        const invalid = /^token signature is invalid\n$/
        const cases: [label: string, token: string, code: string, reason: RegExp][] = [
          ["HS256 MACed with the RSA key's PEM under the RSA key's kid", await mint({ alg: 'HS256', kid: rsa.kid, secret: encode(rsa.publicPem) }, claims()), 'ERR_JWT_KEY_UNKNOWN', unknown],
          ["HS256 MACed with the RSA key's JWK under the RSA key's kid", await mint({ alg: 'HS256', kid: rsa.kid, secret: encode(JSON.stringify(rsa.publicJwk)) }, claims()), 'ERR_JWT_KEY_UNKNOWN', unknown],
          ["HS256 MACed with the EC key's PEM under the EC key's kid", await mint({ alg: 'HS256', kid: ec.kid, secret: encode(ec.publicPem) }, claims()), 'ERR_JWT_KEY_UNKNOWN', unknown],
          ["HS256 MACed with the RSA key's PEM without kid (only secrets are tried)", await mint({ alg: 'HS256', secret: encode(rsa.publicPem) }, claims()), 'ERR_JWT_SIGNATURE_INVALID', invalid],
          ["HS256 MACed with the RSA key's PEM under a secret's kid", await mint({ alg: 'HS256', kid: 'hs-1', secret: encode(rsa.publicPem) }, claims()), 'ERR_JWT_SIGNATURE_INVALID', invalid],
          ['HS512 under the kid of an HS256 secret', await mint({ alg: 'HS512', kid: 'hs-1', secret: HS512_SECRET }, claims()), 'ERR_JWT_KEY_UNKNOWN', unknown],
          ["HS256 MACed with the HS512 secret under the HS512 secret's kid", await mint({ alg: 'HS256', kid: 'hs-512', secret: HS512_SECRET }, claims()), 'ERR_JWT_KEY_UNKNOWN', unknown],
          ['RS256 under the kid of a secret', await mint(rsa, claims(), { kid: 'hs-1' }), 'ERR_JWT_KEY_UNKNOWN', unknown],
          ["ES256 under the RSA key's kid", await mint(ec, claims(), { kid: rsa.kid }), 'ERR_JWT_KEY_UNKNOWN', unknown],
          ['HS256 with the second secret under the first secret\'s kid', await mint({ alg: 'HS256', kid: 'hs-1', secret: HS_SECRET_2 }, claims()), 'ERR_JWT_SIGNATURE_INVALID', invalid],
          ['HS384, which algorithms does not list', await mint({ alg: 'HS384', kid: 'hs-1', secret: HS512_SECRET }, claims()), 'ERR_JWT_ALGORITHM_NOT_ALLOWED', /^token algorithm HS384 is not allowed\n$/],
        ]
        for (const [label, token, code, reason] of cases) await expectRefused(await app.request('/', bearer(token)), code, reason, label)
      })
    }
  }

  it('never fetches the JWKS for an HMAC token, whatever its kid, when the set may not hold oct keys', async () => {
    const server = await startJwksServer([rsa.publicJwk])
    try {
      const app = appWith({ jwksUrl: server.url, jwksCooldown: 0, secrets: secrets(), algorithms: ['RS256', 'HS256', 'HS512'] }, 'node:crypto')
      for (const kid of ['rsa-1', 'made-up', undefined]) {
        const token = await mint({ alg: 'HS256', ...(kid ? { kid } : {}), secret: encode('not-a-secret-of-this-gateway-32b') }, claims())
        const response = await app.request('/', bearer(token))
        expect(response.status).toBe(401)
      }
      expect(server.requests).toBe(0)
    } finally {
      await server.close()
    }
  })
})

describe('jwtAuth: oct keys in a JWKS', () => {
  for (const backend of BACKENDS) {
    it(`ignores an oct key of a remote JWKS without allowSymmetricJwks: a token naming it gets 401 ERR_JWT_KEY_UNKNOWN (${backend})`, async () => {
      const server = await startJwksServer([rsa.publicJwk, oct('oct-1', 'HS256', HS_SECRET)])
      try {
        const app = appWith({ jwksUrl: server.url, secrets: [{ kid: 'hs-1', alg: 'HS256', secret: HS_SECRET_2 }], algorithms: ['RS256', 'HS256'] }, backend)
        await expectRefused(await app.request('/', bearer(await mint({ alg: 'HS256', kid: 'oct-1', secret: HS_SECRET }, claims()))), 'ERR_JWT_KEY_UNKNOWN', /no key matches/, 'oct-1')
        // jose matches public keys by kty, so the oct key never verifies an RS256 token either.
        await expectRefused(await app.request('/', bearer(await mint(rsa, claims(), { kid: 'oct-1' }))), 'ERR_JWT_KEY_UNKNOWN', /no key matches/, 'RS256 as oct-1')
        await expectAccepted(await app.request('/', bearer(await mint(rsa, claims({ sub: 'rsa' })))), 'rsa', 'RS256 rsa-1')
      } finally {
        await server.close()
      }
    })

    it(`uses an oct key of a remote JWKS for its own kid and alg only, with allowSymmetricJwks (${backend})`, async () => {
      const server = await startJwksServer([
        rsa.publicJwk,
        oct('oct-1', 'HS256', HS_SECRET),
        oct('oct-no-alg', undefined, HS_SECRET),
        oct('oct-short', 'HS256', encode('too-short')),
        oct('oct-enc', 'HS256', HS_SECRET, { use: 'enc' }),
        oct('oct-sign-only', 'HS256', HS_SECRET, { key_ops: ['sign'] }),
        oct('oct-512', 'HS512', HS512_SECRET),
      ])
      try {
        const app = appWith({ jwksUrl: server.url, allowSymmetricJwks: true, algorithms: ['RS256', 'HS256', 'HS512'] }, backend)
        await expectAccepted(await app.request('/', bearer(await mint({ alg: 'HS256', kid: 'oct-1', secret: HS_SECRET }, claims({ sub: 'oct' })))), 'oct', 'oct-1')
        await expectAccepted(await app.request('/', bearer(await mint({ alg: 'HS512', kid: 'oct-512', secret: HS512_SECRET }, claims({ sub: 'oct-512' })))), 'oct-512', 'oct-512')
        await expectAccepted(await app.request('/', bearer(await mint(rsa, claims({ sub: 'rsa' })))), 'rsa', 'RS256')
        for (const [label, token] of [
          ['an oct key without alg', await mint({ alg: 'HS256', kid: 'oct-no-alg', secret: HS_SECRET }, claims())],
          ['an oct key shorter than its hash', await mint({ alg: 'HS256', kid: 'oct-short', secret: encode('too-short') }, claims())],
          ['an oct key for encryption (use enc)', await mint({ alg: 'HS256', kid: 'oct-enc', secret: HS_SECRET }, claims())],
          ['an oct key whose key_ops lack verify', await mint({ alg: 'HS256', kid: 'oct-sign-only', secret: HS_SECRET }, claims())],
          ['HS512 under the kid of the HS256 oct key', await mint({ alg: 'HS512', kid: 'oct-1', secret: HS512_SECRET }, claims())],
          ['RS256 under the kid of the oct key', await mint(rsa, claims(), { kid: 'oct-1' })],
          ["HS256 MACed with the RSA key's PEM under its kid", await mint({ alg: 'HS256', kid: rsa.kid, secret: encode(rsa.publicPem) }, claims())],
        ] as const) {
          await expectRefused(await app.request('/', bearer(token)), 'ERR_JWT_KEY_UNKNOWN', /^no key matches the token \(kid\)\n$/, label)
        }
      } finally {
        await server.close()
      }
    })
  }

  it('finds an oct key rotated into the remote JWKS by fetching again for its unknown kid', async () => {
    const server = await startJwksServer([rsa.publicJwk])
    try {
      const app = appWith({ jwksUrl: server.url, jwksCooldown: 0, allowSymmetricJwks: true, algorithms: ['RS256', 'HS256'] }, 'node:crypto')
      const token = await mint({ alg: 'HS256', kid: 'oct-new', secret: HS_SECRET }, claims({ sub: 'rotated' }))
      await expectRefused(await app.request('/', bearer(token)), 'ERR_JWT_KEY_UNKNOWN', /no key matches/, 'before rotation')
      server.keys = [rsa.publicJwk, oct('oct-new', 'HS256', HS_SECRET)]
      await expectAccepted(await app.request('/', bearer(token)), 'rotated', 'after rotation')
    } finally {
      await server.close()
    }
  })

  it('answers 503 ERR_JWKS_UNAVAILABLE for an HMAC token when the remote set holding oct keys cannot be fetched', async () => {
    const server = await startJwksServer([oct('oct-1', 'HS256', HS_SECRET)])
    try {
      server.mode = 'error'
      const app = appWith({ jwksUrl: server.url, allowSymmetricJwks: true, algorithms: ['HS256'] }, 'node:crypto')
      const response = await app.request('/', bearer(await mint({ alg: 'HS256', kid: 'oct-1', secret: HS_SECRET }, claims())))
      expect(response.status).toBe(503)
      expect(response.headers.get('x-wsgate-error')).toBe('ERR_JWKS_UNAVAILABLE')
      expect(response.headers.get('retry-after')).toBe('5')
    } finally {
      await server.close()
    }
  })

  for (const backend of BACKENDS) {
    it(`uses an oct key of a local JWKS for its kid and alg, with allowSymmetricJwks (${backend})`, async () => {
      const app = appWith({ jwks: { keys: [rsa.publicJwk, oct('oct-1', 'HS256', HS_SECRET)] }, allowSymmetricJwks: true, algorithms: ['RS256', 'HS256'] }, backend)
      await expectAccepted(await app.request('/', bearer(await mint({ alg: 'HS256', kid: 'oct-1', secret: HS_SECRET }, claims({ sub: 'oct' })))), 'oct', 'oct-1')
      await expectRefused(await app.request('/', bearer(await mint(rsa, claims(), { kid: 'oct-1' }))), 'ERR_JWT_KEY_UNKNOWN', /no key matches/, 'RS256 as oct-1')
      await expectRefused(
        await app.request('/', bearer(await mint({ alg: 'HS256', kid: rsa.kid, secret: encode(rsa.publicPem) }, claims()))),
        'ERR_JWT_KEY_UNKNOWN',
        /no key matches/,
        'HS256 as rsa-1',
      )
    })
  }
})

describe('jwtAuth: key options are checked when the route is defined', () => {
  const jwks = () => ({ keys: [rsa.publicJwk] })
  const secrets = () => [{ kid: 'hs-1', alg: 'HS256' as const, secret: HS_SECRET }]
  const cases: [label: string, options: () => Record<string, unknown>, message: RegExp][] = [
    ['an oct key in a local JWKS without allowSymmetricJwks', () => ({ jwks: { keys: [rsa.publicJwk, oct('oct-1', 'HS256', HS_SECRET)] }, secrets: secrets(), algorithms: ['RS256', 'HS256'] }), /jwks key 1 is a symmetric \(oct\) key; give HMAC keys as secrets, or set allowSymmetricJwks: true/],
    ['an oct key without alg', () => ({ jwks: { keys: [oct('oct-1', undefined, HS_SECRET)] }, allowSymmetricJwks: true, algorithms: ['HS256'] }), /jwks key 0 is a symmetric \(oct\) key; it needs alg HS256, HS384 or HS512/],
    ['an oct key with an asymmetric alg', () => ({ jwks: { keys: [rsa.publicJwk, oct('oct-1', 'RS256', HS_SECRET)] }, allowSymmetricJwks: true, algorithms: ['RS256'] }), /jwks key 1 is a symmetric \(oct\) key; it needs alg HS256/],
    ['an oct key without kid', () => ({ jwks: { keys: [{ kty: 'oct', alg: 'HS256', k: Buffer.from(HS_SECRET).toString('base64url') }] }, allowSymmetricJwks: true, algorithms: ['HS256'] }), /jwks key 0 is a symmetric \(oct\) key without a kid/],
    ['an oct key whose alg algorithms does not list', () => ({ jwks: { keys: [rsa.publicJwk, oct('oct-1', 'HS512', HS512_SECRET)] }, allowSymmetricJwks: true, algorithms: ['RS256', 'HS256'] }), /jwks key 1 has alg HS512, which algorithms does not list/],
    ['an oct key shorter than its hash', () => ({ jwks: { keys: [oct('oct-1', 'HS256', encode('short'))] }, allowSymmetricJwks: true, algorithms: ['HS256'] }), /jwks key 0 is unusable: its k must be base64url of at least 32 bytes/],
    ['an oct key sharing its kid with a public key', () => ({ jwks: { keys: [rsa.publicJwk, oct(rsa.kid, 'HS256', HS_SECRET)] }, allowSymmetricJwks: true, algorithms: ['RS256', 'HS256'] }), /the kid "rsa-1" of a symmetric jwks key is used by another jwks key/],
    ['allowSymmetricJwks without a JWKS', () => ({ secrets: secrets(), allowSymmetricJwks: true, algorithms: ['HS256'] }), /allowSymmetricJwks applies only with jwks or jwksUrl/],
    ['allowSymmetricJwks that is not a boolean', () => ({ jwks: jwks(), allowSymmetricJwks: 'yes', algorithms: ['RS256'] }), /allowSymmetricJwks must be true or false/],
    ['HS256 with a JWKS that may hold no oct key and no secrets', () => ({ jwksUrl: 'https://idp.test/jwks', algorithms: ['RS256', 'HS256'] }), /jwksUrl holds public keys, which must never verify HS256 \(algorithm confusion\); use secret or secrets for HMAC, or allowSymmetricJwks/],
    ['HS256 with a local JWKS allowing oct keys but holding none, and no secrets', () => ({ jwks: jwks(), allowSymmetricJwks: true, algorithms: ['RS256', 'HS256'] }), /algorithms lists HS256, but jwks holds no oct key and secrets is not set/],
    ['a kid-less secret beside a JWKS', () => ({ jwksUrl: 'https://idp.test/jwks', secret: HS_SECRET, algorithms: ['RS256', 'HS256'] }), /secret has no kid, so it cannot sit beside jwksUrl; bind it to a kid and alg: secrets: \[\{ kid, alg: 'HS256', secret \}\]/],
    ['secret and secrets together', () => ({ secret: HS_SECRET, secrets: secrets(), algorithms: ['HS256'] }), /set secret or secrets, not both/],
    ['publicKey beside secrets', () => ({ publicKey: rsa.publicPem, secrets: secrets(), algorithms: ['RS256', 'HS256'] }), /publicKey has no kid, so it cannot share a route with secrets/],
    ['jwks and jwksUrl together', () => ({ jwks: jwks(), jwksUrl: 'https://idp.test/jwks', secrets: secrets(), algorithms: ['RS256', 'HS256'] }), /set only one key source, got jwksUrl and jwks/],
    ['empty secrets', () => ({ secrets: [], algorithms: ['HS256'] }), /secrets must be a non-empty array, e.g. secrets: \[\{ kid: 'svc-1', alg: 'HS256', secret \}\]/],
    ['a secret without kid', () => ({ secrets: [{ alg: 'HS256', secret: HS_SECRET }], algorithms: ['HS256'] }), /secrets\[0\]\.kid must be a non-empty string/],
    ['a secret with an asymmetric alg', () => ({ jwks: jwks(), secrets: [{ kid: 'hs-1', alg: 'RS256', secret: HS_SECRET }], algorithms: ['RS256', 'HS256'] }), /secrets\[0\]\.alg must be HS256, HS384 or HS512, got "RS256"/],
    ['a secret whose alg algorithms does not list', () => ({ secrets: [...secrets(), { kid: 'hs-2', alg: 'HS512', secret: HS512_SECRET }], algorithms: ['HS256'] }), /secrets\[1\]\.alg is HS512, which algorithms does not list/],
    ['a secret shorter than its hash', () => ({ secrets: [{ kid: 'hs-1', alg: 'HS512', secret: HS_SECRET }], algorithms: ['HS512'] }), /secrets\[0\]\.secret is 32 bytes, but HS512 needs at least 64/],
    ['a secret that is neither string nor bytes', () => ({ secrets: [{ kid: 'hs-1', alg: 'HS256', secret: 42 }], algorithms: ['HS256'] }), /secrets\[0\]\.secret must be a string or a Uint8Array/],
    ['two secrets under one kid', () => ({ secrets: [...secrets(), { kid: 'hs-1', alg: 'HS256', secret: HS_SECRET_2 }], algorithms: ['HS256'] }), /secrets\[1\]\.kid "hs-1" is already the kid of secrets\[0\]/],
    ['a secret sharing its kid with a local JWKS key', () => ({ jwks: jwks(), secrets: [{ kid: rsa.kid, alg: 'HS256', secret: HS_SECRET }], algorithms: ['RS256', 'HS256'] }), /kid "rsa-1" names both secrets\[0\] and a jwks key/],
    ['secrets with only asymmetric algorithms', () => ({ jwks: jwks(), secrets: secrets(), algorithms: ['RS256'] }), /secrets verifies only HS256\/HS384\/HS512, and algorithms lists none of them/],
    ['a JWKS with only HMAC algorithms', () => ({ jwksUrl: 'https://idp.test/jwks', secrets: secrets(), algorithms: ['HS256'] }), /jwksUrl holds public keys, but algorithms lists only HS256/],
    ['secrets with an asymmetric algorithm and no public key', () => ({ secrets: secrets(), algorithms: ['HS256', 'ES256'] }), /a secret verifies only HS256\/HS384\/HS512, but algorithms lists ES256/],
  ]
  for (const [label, options, message] of cases) {
    it(`throws a TypeError naming the option for ${label}`, () => {
      expect(() => jwtAuth(options() as unknown as JwtAuthOptions)).toThrow(TypeError)
      expect(() => jwtAuth(options() as unknown as JwtAuthOptions)).toThrow(message)
    })
  }

  it('accepts a JWKS with secrets, secrets alone, and a JWKS of oct keys alone, without fetching anything', () => {
    expect(jwtAuth({ jwksUrl: 'https://idp.test/jwks', secrets: secrets(), algorithms: ['RS256', 'HS256'] }).name).toBe('jwtAuth')
    expect(jwtAuth({ secrets: secrets(), algorithms: ['HS256'] }).name).toBe('jwtAuth')
    expect(jwtAuth({ jwksUrl: 'https://idp.test/jwks', allowSymmetricJwks: true, algorithms: ['HS256'] }).name).toBe('jwtAuth')
    expect(jwtAuth({ jwks: { keys: [oct('oct-1', 'HS256', HS_SECRET)] }, allowSymmetricJwks: true, algorithms: ['HS256'] }).name).toBe('jwtAuth')
  })

  it("keeps the route's keys fixed when the caller changes its secrets array afterwards", async () => {
    const list: { kid: string; alg: 'HS256'; secret: Uint8Array }[] = [{ kid: 'hs-1', alg: 'HS256', secret: new Uint8Array(HS_SECRET) }]
    const app = appWith({ secrets: list, algorithms: ['HS256'] }, 'node:crypto')
    list[0]!.secret.fill(0)
    list.push({ kid: 'hs-evil', alg: 'HS256', secret: HS_SECRET_2 })
    await expectAccepted(await app.request('/', bearer(await mint({ alg: 'HS256', kid: 'hs-1', secret: HS_SECRET }, claims({ sub: 'fixed' })))), 'fixed', 'original')
    await expectRefused(await app.request('/', bearer(await mint({ alg: 'HS256', kid: 'hs-evil', secret: HS_SECRET_2 }, claims()))), 'ERR_JWT_KEY_UNKNOWN', /no key matches/, 'added later')
  })
})
