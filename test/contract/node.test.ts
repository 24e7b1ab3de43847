import { exampleRoutes } from '../../routes/app.ts'
import { serve } from '../../src/node/index.ts'
import { pino } from 'pino'
import { contractSuite } from './contract.ts'

contractSuite('the Node host (serve())', async ({ echoOrigin, jwksUrl, httpOrigin }) => {
  const gateway = await serve(exampleRoutes({ echoOrigin, jwksUrl, httpOrigin }), { port: 0, host: '127.0.0.1', logger: pino({ enabled: false }) })
  return { url: gateway.url, close: () => gateway.close() }
})
