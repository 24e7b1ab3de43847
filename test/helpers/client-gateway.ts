import { Hono } from 'hono'
import { jwtAuth } from '../../middleware/jwt-auth/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { startDeflateOrigin, type DeflateOrigin } from './client-traffic.ts'
import { startGateway, type GatewayOptions, type TestGateway } from './gateway.ts'
import { mint, startJwksServer, testKey, type JwksServer, type TestKey } from './jwks.ts'

/** The route every real-client suite connects to: jwtAuth() in front of the deflate origin. */
export const ECHO_ROUTE = '/echo'

/** Issuer and audience of the test tokens, checked by the route. */
const ISSUER = 'https://idp.wsgate.test/'
const AUDIENCE = 'wsgate-clients'

/** A gateway, its origin and its identity provider, for one real-client suite. */
export interface ClientGateway {
  readonly gateway: TestGateway
  readonly origin: DeflateOrigin
  readonly jwks: JwksServer
  /** A token the route accepts, for `sub`, valid for ten minutes. */
  token(sub: string): Promise<string>
  /** Stops the gateway, the origin and the JWKS server (each even when another fails). */
  close(): Promise<void>
}

/**
 * Starts the JWKS server, the origin and a gateway whose `/echo` route
 * checks an ES256 token from the JWKS (default sources: header, subprotocol,
 * query) before `websocket()`. `app` may add routes of the suite's own
 * (before `/echo` is added); `options` go to the gateway (tls, admin).
 */
export async function startClientGateway(
  options: GatewayOptions = {},
  app: Hono<{ Bindings: GatewayBindings }> = new Hono<{ Bindings: GatewayBindings }>(),
): Promise<ClientGateway> {
  const key: TestKey = await testKey('ES256', 'clients-1')
  const jwks = await startJwksServer([key.publicJwk])
  let origin: DeflateOrigin | undefined
  try {
    origin = await startDeflateOrigin()
    app.all(ECHO_ROUTE, jwtAuth({ jwksUrl: jwks.url, algorithms: ['ES256'], issuer: ISSUER, audience: AUDIENCE }), websocket(origin.url))
    const gateway = await startGateway(app, options)
    const started = origin
    return {
      gateway,
      origin: started,
      jwks,
      token: async (sub) => {
        const now = Math.floor(Date.now() / 1000)
        return mint(key, { sub, iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600 })
      },
      close: async () => {
        await Promise.allSettled([gateway.close(), started.close(), jwks.close()])
      },
    }
  } catch (error) {
    await Promise.allSettled([origin?.close(), jwks.close()])
    throw error
  }
}
