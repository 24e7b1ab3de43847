/**
 * The demo gateway that `npm start` runs. A routes module default-exports a
 * Hono app; `websocket(target)` ends a WebSocket route. The echo origin is
 * embedded in this process so the demo works with nothing else running.
 */
import { Hono } from 'hono'
import { websocket, type GatewayBindings } from '../src/index.ts'
import { startEchoOrigin } from '../src/node/index.ts'

const echo = await startEchoOrigin({ port: Number(process.env.ECHO_PORT ?? 0) })

const app = new Hono<{ Bindings: GatewayBindings }>()

app.get('/', (c) => c.text(`wsgate demo: open a WebSocket to /echo (proxied to ${echo.url})\n`))

// app.all, not app.get: a POST to a WebSocket route must get 405 from the handshake check, not 404.
app.all('/echo', websocket(echo.url))

export default app
