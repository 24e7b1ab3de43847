/**
 * The Worker wrangler.toml deploys: the example routes (routes/app.ts),
 * configured from the Worker's variables — `ECHO_ORIGIN` (the WebSocket
 * origin) and, optionally, `JWKS_URL`, `HTTP_ORIGIN` and `LOG_LEVEL`. Your own Worker
 * does the same with your routes module:
 * `export default workersGateway(app)`.
 */
import { exampleRoutes } from '../../routes/app.ts'
import { workersGateway } from './gateway.ts'

/** The Worker's variables this entry reads (wrangler.toml `[vars]`, or `wrangler dev --var`). */
interface ExampleEnv extends Record<string, unknown> {
  ECHO_ORIGIN?: string
  JWKS_URL?: string
  HTTP_ORIGIN?: string
}

export default workersGateway<ExampleEnv>((env) => {
  if (!env.ECHO_ORIGIN) throw new TypeError('set ECHO_ORIGIN (wrangler.toml [vars] or --var ECHO_ORIGIN:ws://…) to the WebSocket origin')
  return exampleRoutes({ echoOrigin: env.ECHO_ORIGIN, jwksUrl: env.JWKS_URL || undefined, httpOrigin: env.HTTP_ORIGIN || undefined })
})
