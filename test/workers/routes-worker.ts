/**
 * The Worker the workerd tests run: `/` answers plain HTTP, `/echo` and
 * `/raw` are `websocket()` routes to the origins the test names in the
 * Worker's variables (`ECHO_ORIGIN`, `RAW_ORIGIN`).
 */
import { Hono } from 'hono'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { workersGateway } from '../../src/workers/gateway.ts'

interface TestEnv extends Record<string, unknown> {
  ECHO_ORIGIN: string
  RAW_ORIGIN: string
}

export default workersGateway<TestEnv>((env) => {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.get('/', (c) => c.text('plain answer'))
  app.all('/echo', websocket(env.ECHO_ORIGIN))
  app.all('/raw', websocket(env.RAW_ORIGIN))
  return app
})
