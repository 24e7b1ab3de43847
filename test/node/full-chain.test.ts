import { once } from 'node:events'
import type http from 'node:http'
import { Hono, type MiddlewareHandler } from 'hono'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { cache, cacheBypass, jwtAuth, normalizeHeaders, originCheck, proxy, type GatewayBindings } from '../../src/index.ts'
import { startDualOrigin, type DualSeen } from '../helpers/dual-origin.ts'
import { expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { send } from '../helpers/http.ts'
import { mint, startJwksServer, testKey, type JwksServer, type TestKey } from '../helpers/jwks.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'

/** A cacheable page for everyone, and a per-user page (`?me=1`) whose origin forgot `private`. */
function pages(request: http.IncomingMessage, response: http.ServerResponse, seen: readonly DualSeen[]): void {
  if (request.url?.includes('me=1')) {
    // Only the cache's knowledge of authentication protects this page.
    response.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' }).end(`hello ${String(request.headers['x-auth-sub'])}`)
    return
  }
  response.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' }).end(`page ${seen.length}`)
}

const ISSUER = 'https://idp.example.com'
const APP_ORIGIN = 'https://app.example.com'

describe('the full handshake chain on one route', () => {
  let key: TestKey
  let jwks: JwksServer
  let origin: Awaited<ReturnType<typeof startDualOrigin>>
  let gateway: TestGateway
  let token: string

  /** The README's full example route, with the test's JWKS and origin; `order` permutes the middleware. */
  function chain(order: (steps: Record<string, MiddlewareHandler>) => MiddlewareHandler[]): MiddlewareHandler[] {
    const steps: Record<string, MiddlewareHandler> = {
      normalizeHeaders: normalizeHeaders({ trustedProxies: ['10.0.0.0/8'] }),
      originCheck: originCheck({ allowedOrigins: [APP_ORIGIN, 'https://*.example.com'] }),
      jwtAuth: jwtAuth({ jwksUrl: jwks.url, algorithms: ['ES256'], issuer: ISSUER, audience: 'wsgate', forwardClaims: { sub: 'x-auth-sub' } }),
      cacheBypass: cacheBypass(),
      cache: cache({ maxSize: 32 * 1024 * 1024 }),
    }
    return [...order(steps), proxy(origin.url) as MiddlewareHandler]
  }

  beforeEach(async () => {
    key = await testKey('ES256', 'k1')
    jwks = await startJwksServer([key.publicJwk])
    origin = await startDualOrigin(pages)
    token = await mint(key, { sub: 'user-42', iss: ISSUER, aud: 'wsgate', exp: Math.floor(Date.now() / 1000) + 3600 })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    const [first, ...rest] = chain((s) => [s.normalizeHeaders!, s.originCheck!, s.jwtAuth!, s.cacheBypass!, s.cache!])
    app.all('/live', first!, ...rest)
    // "Combined in any order": the same middleware, reversed (the proxy stays last, it ends the chain).
    const [firstReversed, ...restReversed] = chain((s) => [s.cache!, s.cacheBypass!, s.jwtAuth!, s.originCheck!, s.normalizeHeaders!])
    app.all('/reversed', firstReversed!, ...restReversed)
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    await expectNoOpenSockets(gateway)
    await gateway.close()
    await origin.close()
    await jwks.close()
  })

  for (const path of ['/live', '/reversed']) {
    it(`upgrades an authenticated same-site WebSocket on ${path} and forwards only what the chain allows`, async () => {
      const client = new WebSocket(`${gateway.wsUrl}${path}?room=1`, {
        headers: { origin: APP_ORIGIN, authorization: `Bearer ${token}`, 'x-forwarded-for': '6.6.6.6', 'x-auth-sub': 'forged' },
      })
      // ws emits 'open' in the same tick as 'upgrade': listen for both before awaiting either.
      const upgraded = once(client, 'upgrade') as Promise<[http.IncomingMessage]>
      const opened = once(client, 'open')
      const [response] = await upgraded
      await opened
      expect(response.headers['x-cache']).toBe('BYPASS')
      const echoed = once(client, 'message')
      client.send('tick')
      expect(String((await echoed)[0])).toBe('tick')
      client.close()
      await once(client, 'close')

      const [upgrade] = origin.seen.filter((request) => request.kind === 'websocket')
      expect(upgrade!.url).toBe(`${path}?room=1`)
      expect(upgrade!.headers.upgrade).toBe('websocket')
      expect(upgrade!.headers.connection).toBe('upgrade')
      expect(upgrade!.headers['x-auth-sub']).toBe('user-42')
      expect(upgrade!.headers['x-forwarded-for']).toBe('127.0.0.1')
      expect(upgrade!.headers.authorization).toBeUndefined()
    })

    it(`serves the second authenticated GET of ${path} from the cache and still upgrades WebSockets there`, async () => {
      const headers = { origin: APP_ORIGIN, authorization: `Bearer ${token}` }
      const first = await send(`${gateway.url}${path}`, { headers })
      const second = await send(`${gateway.url}${path}`, { headers })
      expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual(['MISS', 'HIT'])
      expect(second.body.toString()).toBe(first.body.toString())
      expect(origin.seen.filter((request) => request.kind === 'http')).toHaveLength(1)

      const client = new WebSocket(`${gateway.wsUrl}${path}`, { headers })
      await once(client, 'open')
      client.close()
      await once(client, 'close')
      expect(origin.seen.filter((request) => request.kind === 'websocket')).toHaveLength(1)
    })

    it(`never serves one user's page to another on ${path}, though the token is stripped before the cache`, async () => {
      const bob = await mint(key, { sub: 'user-7', iss: ISSUER, aud: 'wsgate', exp: Math.floor(Date.now() / 1000) + 3600 })
      const alicePage = await send(`${gateway.url}${path}?me=1`, { headers: { origin: APP_ORIGIN, authorization: `Bearer ${token}` } })
      const bobPage = await send(`${gateway.url}${path}?me=1`, { headers: { origin: APP_ORIGIN, authorization: `Bearer ${bob}` } })
      expect(alicePage.body.toString()).toBe('hello user-42')
      expect(bobPage.body.toString()).toBe('hello user-7')
      expect(bobPage.headers['x-cache']).toBe('MISS')
    })

    it(`refuses a cross-site handshake on ${path} with 403 before any key is fetched or the origin contacted`, async () => {
      const response = await rawExchange(gateway.port, handshakeRequest(path, { Origin: 'https://evil.example', Authorization: `Bearer ${token}` }))
      expect(response.status).toBe(403)
      expect(response.headers['x-wsgate-error']).toBe('ERR_ORIGIN_HEADER_FORBIDDEN')
      expect(origin.seen).toHaveLength(0)
      // On /live originCheck runs before jwtAuth, so no key was fetched; on /reversed jwtAuth runs first.
      if (path === '/live') expect(jwks.requests).toBe(0)
    })

    it(`refuses a handshake without a token on ${path} with 401, and a cached page is not served without one`, async () => {
      const response = await rawExchange(gateway.port, handshakeRequest(path, { Origin: APP_ORIGIN }))
      expect(response.status).toBe(401)
      expect(response.headers['x-wsgate-error']).toBe('ERR_JWT_MISSING')
      expect(response.headers['www-authenticate']).toBe('Bearer')

      await send(`${gateway.url}${path}`, { headers: { origin: APP_ORIGIN, authorization: `Bearer ${token}` } })
      const anonymous = await send(`${gateway.url}${path}`, { headers: { origin: APP_ORIGIN } })
      if (path === '/live') {
        // jwtAuth before cache: no token, no page, even a cached one.
        expect(anonymous.status).toBe(401)
      } else {
        // cache before jwtAuth serves stored pages to anyone: the reason the README's order puts jwtAuth first.
        expect(anonymous.headers['x-cache']).toBe('HIT')
      }
    })
  }
})
