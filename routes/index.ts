/**
 * The demo gateway that `npm start` runs: the example routes (routes/app.ts)
 * in front of an echo origin embedded in this process, so the demo works
 * with nothing else running. A routes module default-exports a Hono app.
 * `JWKS_URL` in the environment adds the JWT-protected `/secure` route,
 * `HTTP_ORIGIN` the plain HTTP `/api/*` route.
 */
import { startEchoOrigin } from '../src/node/index.ts'
import { exampleRoutes } from './app.ts'

const echo = await startEchoOrigin({ port: Number(process.env.ECHO_PORT ?? 0) })

export default exampleRoutes({ echoOrigin: echo.url, jwksUrl: process.env.JWKS_URL, httpOrigin: process.env.HTTP_ORIGIN })
