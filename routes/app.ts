/**
 * The example routes, one module for both hosts: `npm start` serves them on
 * Node in front of an embedded echo origin (routes/index.ts), and
 * `npx wrangler dev` / `npx wrangler deploy` serve them on Cloudflare
 * Workers (src/workers/main.ts) in front of the origin named in
 * wrangler.toml. Nothing here knows which host runs it.
 */
import { Hono } from 'hono'
import { cacheBypass, jwtAuth, normalizeHeaders, waf } from '../middleware/index.ts'
import { http, websocket, type GatewayBindings } from '../src/index.ts'

/** Where the example routes send their connections. */
export interface ExampleRoutesSettings {
  /** The WebSocket origin every route proxies to, e.g. `ws://127.0.0.1:9001`. */
  echoOrigin: string
  /** A JWKS URL: when given, `/secure` requires a JWT signed by one of its keys. @default no `/secure` route */
  jwksUrl?: string | undefined
  /** A plain HTTP origin: when given, `/api/*` is proxied to it with `http()`. @default no `/api/*` route */
  httpOrigin?: string | undefined
}

/**
 * The example gateway: `/echo` proxied as it is, `/guarded` behind the WAF
 * (embedded baseline rules), with a JWKS `/secure` behind the full
 * handshake chain (WAF, header normalisation, cache bypass, JWT), and with
 * an HTTP origin `/api/*` as plain HTTP.
 *
 * @example
 * const app = exampleRoutes({ echoOrigin: 'ws://127.0.0.1:9001', jwksUrl: 'https://auth.example/.well-known/jwks.json' })
 */
export function exampleRoutes(settings: ExampleRoutesSettings): Hono<{ Bindings: GatewayBindings }> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.get('/', (c) => c.text(`wsgate demo: open a WebSocket to /echo (proxied to ${settings.echoOrigin})\n`))
  // app.all, not app.get: a POST to a WebSocket route must get 405 from the handshake check, not 404.
  app.all('/echo', websocket(settings.echoOrigin))
  app.all('/guarded', waf(), websocket(settings.echoOrigin))
  if (settings.jwksUrl) {
    app.all('/secure', waf(), normalizeHeaders(), cacheBypass(), jwtAuth({ jwksUrl: settings.jwksUrl, algorithms: ['ES256', 'RS256', 'EdDSA'] }), websocket(settings.echoOrigin))
  }
  if (settings.httpOrigin) app.all('/api/*', http(settings.httpOrigin))
  return app
}
