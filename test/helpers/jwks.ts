import { once } from 'node:events'
import http from 'node:http'
import type net from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose'

/** A signing key of a test issuer, with its public half as a JWK (for a JWKS) and as PEM. */
export interface TestKey {
  readonly alg: string
  readonly kid: string
  readonly privateKey: CryptoKey
  readonly publicJwk: JWK
  readonly publicPem: string
}

/** Generates a key pair for `alg`; its public JWK carries `kid`, `alg` and `use: sig`, as identity providers publish them. */
export async function testKey(alg: 'RS256' | 'ES256' | 'EdDSA' | 'PS256', kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { alg, kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) }
}

/** Anything a token can be signed with: a test key, or raw bytes for HMAC. */
export type Signer = TestKey | { alg: string; kid?: string; secret: Uint8Array }

/** Signs `claims` with `signer`; `header` overrides the protected header (e.g. another `kid`; `kid: undefined` leaves it out). */
export async function mint(signer: Signer, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const merged: Record<string, unknown> = { alg: signer.alg, ...(signer.kid ? { kid: signer.kid } : {}), ...header }
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name]
  const protectedHeader = merged as JWTHeaderParameters
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign('secret' in signer ? signer.secret : signer.privateKey)
}

/** An unsigned token (`alg: none`), as an attacker would write it. */
export function unsignedToken(claims: JWTPayload): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`
}

/** How the JWKS server answers: the key set, an HTTP 500, a body that is not JSON, or nothing at all. */
export type JwksMode = 'keys' | 'error' | 'garbage' | 'silent'

/** A JWKS endpoint on 127.0.0.1 whose key set and behaviour a test can change between requests. */
export interface JwksServer {
  /** `http://127.0.0.1:<port>/.well-known/jwks.json` */
  readonly url: string
  /** The published keys; replace or push to rotate. */
  keys: JWK[]
  mode: JwksMode
  /** Requests served so far. */
  readonly requests: number
  close(): Promise<void>
}

/** Starts a JWKS server publishing `keys`. */
export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  let requests = 0
  const state = { keys, mode: 'keys' as JwksMode }
  const server = http.createServer((request, response) => {
    requests++
    if (state.mode === 'silent') return
    if (state.mode === 'error') return void response.writeHead(500).end('upstream trouble')
    if (state.mode === 'garbage') return void response.writeHead(200, { 'content-type': 'application/json' }).end('<html>')
    response.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: state.keys }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return Object.defineProperties(
    {
      url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      close: async () => {
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      },
    },
    {
      keys: { get: () => state.keys, set: (value: JWK[]) => void (state.keys = value), enumerable: true },
      mode: { get: () => state.mode, set: (value: JwksMode) => void (state.mode = value), enumerable: true },
      requests: { get: () => requests, enumerable: true },
    },
  ) as JwksServer
}
