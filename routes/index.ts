/**
 * The demo gateway that `npm start` runs: the example routes (routes/app.ts)
 * in front of an echo origin embedded in this process (routes/echo-origin.ts),
 * so the demo works with nothing else running. A routes module
 * default-exports a Hono app. `JWKS_URL` in the environment adds the
 * JWT-protected `/secure` route, `HTTP_ORIGIN` the plain HTTP `/api/*` route.
 */
import { exampleRoutes } from './app.ts'
import { echo } from './echo-origin.ts'

export default exampleRoutes({ echoOrigin: echo.url, jwksUrl: process.env.JWKS_URL, httpOrigin: process.env.HTTP_ORIGIN })
