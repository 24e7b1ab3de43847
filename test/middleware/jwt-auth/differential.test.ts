import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../../../src/errors.ts'
import { jwtAuth, type JwtAuthOptions, type JwtAuthVariables } from '../../../middleware/jwt-auth/index.ts'
import { claimChecks } from '../../../middleware/jwt-auth/claims.ts'
import { verificationFailure } from '../../../middleware/jwt-auth/failures.ts'
import { keyResolver } from '../../../middleware/jwt-auth/keys.ts'
import { nodeCrypto } from '../../../src/node/native-crypto.ts'
import { tokenVerifier, type SignatureBackend } from '../../../middleware/jwt-auth/verifier.ts'
import type { TokenLocations } from '../../../middleware/jwt-auth/token.ts'
import { startJwksServer, type JwksServer } from '../../helpers/jwks.ts'
import {
  AUDIENCE,
  corpusKeys,
  ISSUER,
  keySetCorpus,
  kidlessCorpus,
  lenientCorpus,
  mismatchCorpus,
  mixedCorpus,
  mixedSecrets,
  NOW,
  octJwk,
  pemCorpus,
  SECRET,
  secretCorpus,
  symmetricJwksCorpus,
  typedCorpus,
  type CorpusEntry,
  type CorpusKeys,
} from './corpus.ts'

/**
 * The same corpus through the node:crypto verifier and through jose's
 * jwtVerify (the WebCrypto path): each token must get the same verdict, the
 * same jose error (class, message, claim, reason), and so the same client
 * answer. Both verifiers get their own key resolver, as two routes would.
 */

const WHERE: TokenLocations = { sources: ['header'], queryParameter: 'access_token', cookie: 'access_token', protocolMarker: 'access_token', protocolPrefix: 'bearer.' }

/** A gateway's compact-JWS pre-check (index.ts): tokens failing it never reach a verifier. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/

let keys: CorpusKeys
let jwks: JwksServer

beforeAll(async () => {
  keys = corpusKeys()
  const { rsa, rsaAnyAlg, pss, ec, ec384, ec521, ed, rsaSmall } = keys
  // rsaSmall last: kid-less RS256 tokens reach it only after the good keys.
  jwks = await startJwksServer([rsa.publicJwk, rsaAnyAlg.publicJwk, pss.publicJwk, ec.publicJwk, ec384.publicJwk, ec521.publicJwk, ed.publicJwk, rsaSmall.publicJwk])
})

afterAll(async () => {
  await jwks.close()
})

/** One configuration of jwtAuth and the corpus meant for it. */
interface Case {
  name: string
  options: () => JwtAuthOptions
  corpus: (keys: CorpusKeys) => CorpusEntry[]
}

const CASES: Case[] = [
  {
    name: 'a remote key set',
    options: () => ({ jwksUrl: jwks.url, algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'], issuer: ISSUER, audience: AUDIENCE }),
    corpus: keySetCorpus,
  },
  {
    name: 'a remote key set with lenient claim options',
    options: () => ({
      jwksUrl: jwks.url,
      algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'],
      issuer: [ISSUER, 'https://idp2.test/'],
      audience: [AUDIENCE, 'admin'],
      clockTolerance: 30_000,
      maxTokenAge: 300_000,
      requireExpiration: false,
    }),
    corpus: lenientCorpus,
  },
  {
    name: 'a local key set of two RSA keys',
    options: () => ({ jwks: { keys: [keys.rsa.publicJwk, keys.rsa2.publicJwk] }, algorithms: ['RS256'], issuer: ISSUER }),
    corpus: kidlessCorpus,
  },
  { name: 'a shared secret', options: () => ({ secret: SECRET, algorithms: ['HS256', 'HS384', 'HS512'], audience: AUDIENCE }), corpus: secretCorpus },
  { name: 'a shared secret, access tokens only (typ at+jwt)', options: () => ({ secret: SECRET, algorithms: ['HS256'], typ: 'at+jwt' }), corpus: typedCorpus },
  { name: 'a PEM RSA key', options: () => ({ publicKey: keys.rsaAnyAlg.publicPem, algorithms: ['RS256', 'PS256'] }), corpus: pemCorpus },
  { name: 'an EC PEM key configured for RS256', options: () => ({ publicKey: keys.ec.publicPem, algorithms: ['RS256'] }), corpus: mismatchCorpus },
  {
    name: 'a remote key set and secrets bound by kid',
    options: () => ({ jwksUrl: jwks.url, secrets: mixedSecrets(), algorithms: ['RS256', 'ES256', 'HS256', 'HS512'], issuer: ISSUER, audience: AUDIENCE }),
    corpus: mixedCorpus,
  },
  {
    name: 'a local key set holding an HS256 oct key (allowSymmetricJwks)',
    options: () => ({ jwks: { keys: [keys.rsa.publicJwk, octJwk('oct-1', 'HS256', SECRET)] }, allowSymmetricJwks: true, algorithms: ['RS256', 'HS256'] }),
    corpus: symmetricJwksCorpus,
  },
]

/** What a verifier did with a token, in comparable form. */
type Outcome =
  | { accepted: true; payload: unknown }
  | {
      accepted: false
      /** The jose error, with the message of its cause: the log line shows both. */
      error: { name: string; message: string; cause: unknown; code: unknown; claim: unknown; reason: unknown }
      answer: { status: number; code: string; reason: string }
    }

async function outcome(verify: ReturnType<typeof tokenVerifier>, token: string): Promise<Outcome> {
  try {
    return { accepted: true, payload: await verify(token, new Date(NOW)) }
  } catch (caught) {
    const error = caught as Error & { code?: unknown; claim?: unknown; reason?: unknown }
    const failure = verificationFailure(error, token, undefined, 'header', WHERE)
    return {
      accepted: false,
      error: {
        name: error.constructor.name,
        message: error.message,
        cause: error.cause instanceof Error ? error.cause.message : undefined,
        code: error.code,
        claim: error.claim,
        reason: error.reason,
      },
      answer: { status: failure.status, code: failure.code, reason: failure.message },
    }
  }
}

function verdict(result: Outcome): string {
  return result.accepted ? 'accepted' : result.answer.code
}

/** What a client and the origin see for one request. */
async function exchange(app: Hono<{ Variables: JwtAuthVariables }>, token: string) {
  const response = await app.request('/chat', { headers: { authorization: `Bearer ${token}` } })
  return {
    status: response.status,
    code: response.headers.get('x-wsgate-error'),
    challenge: response.headers.get('www-authenticate'),
    body: await response.text(),
  }
}

function appWith(options: JwtAuthOptions, verifyWith: SignatureBackend): Hono<{ Variables: JwtAuthVariables }> {
  const app = new Hono<{ Variables: JwtAuthVariables }>()
  app.all('*', jwtAuth({ ...options, now: () => NOW, verifyWith, crypto: nodeCrypto }), (c) => c.json({ payload: c.get('jwtPayload'), expiresAt: c.get('connectionExpiresAt') ?? null }))
  return app
}

describe('jwtAuth: the node:crypto verifier against jose (differential)', () => {
  for (const { name, options, corpus } of CASES) {
    it(`gives every token of the corpus for ${name} the same verdict, jose error and answer as jose's jwtVerify`, async () => {
      const config = options()
      const algorithms = config.algorithms
      const [node, jose] = (['node:crypto', 'webcrypto'] as const).map((backend) =>
        tokenVerifier(keyResolver(config, algorithms), claimChecks(config, algorithms), backend, nodeCrypto),
      ) as [ReturnType<typeof tokenVerifier>, ReturnType<typeof tokenVerifier>]
      const entries = corpus(keys)
      expect(entries.length).toBeGreaterThan(1)
      for (const { label, token, expected } of entries) {
        const fromJose = await outcome(jose, token)
        const fromNode = await outcome(node, token)
        expect(fromNode, label).toEqual(fromJose)
        expect(verdict(fromJose), label).toBe(expected)
      }
    })

    it(`answers every token of the corpus for ${name} alike through the middleware on both paths`, async () => {
      const config = options()
      const onNode = appWith(config, 'node:crypto')
      const onWebCrypto = appWith(config, 'webcrypto')
      for (const { label, token, expected } of corpus(keys)) {
        const fromWebCrypto = await exchange(onWebCrypto, token)
        const fromNode = await exchange(onNode, token)
        expect(fromNode, label).toEqual(fromWebCrypto)
        const atGateway = COMPACT_JWS.test(token) ? expected : 'ERR_JWT_MALFORMED'
        expect(fromNode.status === 200 ? 'accepted' : fromNode.code, label).toBe(atGateway)
      }
    })
  }

  it('covers every verdict the verifier can reach: accepted and each refusal code', () => {
    const verdicts = new Set(CASES.flatMap(({ corpus }) => corpus(keys).map((entry) => entry.expected)))
    expect([...verdicts].sort()).toEqual(
      [
        'accepted',
        'ERR_INTERNAL',
        'ERR_JWT_ALGORITHM_NOT_ALLOWED',
        'ERR_JWT_CLAIM_INVALID',
        'ERR_JWT_EXPIRED',
        'ERR_JWT_KEY_UNKNOWN',
        'ERR_JWT_MALFORMED',
        'ERR_JWT_NOT_YET_VALID',
        'ERR_JWT_SIGNATURE_INVALID',
      ].sort(),
    )
  })

  it('answers 503 ERR_JWKS_UNAVAILABLE on both paths when the key set cannot be fetched', async () => {
    const server = await startJwksServer([keys.rsa.publicJwk])
    try {
      server.mode = 'error'
      const { token } = keySetCorpus(keys)[0]!
      for (const verifyWith of ['node:crypto', 'webcrypto'] as const) {
        const answer = await exchange(appWith({ jwksUrl: server.url, algorithms: ['RS256'] }, verifyWith), token)
        expect(answer, verifyWith).toMatchObject({ status: 503, code: 'ERR_JWKS_UNAVAILABLE', body: 'token signing keys unavailable, retry later\n' })
      }
    } finally {
      await server.close()
    }
  })

  it('maps a verifier error to a GatewayError the same way on both paths (sanity check of the harness)', async () => {
    const config: JwtAuthOptions = { secret: SECRET, algorithms: ['HS256'] }
    const verify = tokenVerifier(keyResolver(config, config.algorithms), claimChecks(config, config.algorithms), 'node:crypto', nodeCrypto)
    const failure = await verify('a.b.c', undefined).then(
      () => undefined,
      (error: unknown) => verificationFailure(error, 'a.b.c', undefined, 'header', WHERE),
    )
    expect(failure).toBeInstanceOf(GatewayError)
    expect(failure?.code).toBe('ERR_JWT_MALFORMED')
  })
})
