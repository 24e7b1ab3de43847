import { once } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Hono, type MiddlewareHandler } from 'hono'
import { describe, expect, it } from 'vitest'
import { rateLimit } from '../../middleware/rate-limit.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { openClient, useResources } from '../helpers/resources.ts'

// What survives the 101: nothing of the handshake's own objects may stay reachable
// for an idle connection's life (each would cost every open connection its size).

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const { gateway, wsOrigin } = useResources()

/** Collects until `refs` are all gone or a few rounds have passed; returns the names still alive. */
async function collectedExcept(refs: Record<string, WeakRef<object>>): Promise<string[]> {
  for (let round = 0; round < 10; round++) {
    gc()
    // Let timers and microtasks that still hold the handshake run out between rounds.
    await new Promise((resolve) => setTimeout(resolve, 20))
    if (Object.values(refs).every((ref) => ref.deref() === undefined)) return []
  }
  return Object.entries(refs)
    .filter(([, ref]) => ref.deref() !== undefined)
    .map(([name]) => name)
}

describe('an open connection holds none of its handshake', () => {
  for (const [name, withRateLimit] of [
    ['websocket() alone', false],
    ['a rateLimit({ maxConnectionsPerIp }) in front', true],
  ] as const) {
    it(`lets the Request, the Hono context and the runtime go once the pipe runs (${name})`, async () => {
      const origin = await wsOrigin()
      let refs: Record<string, WeakRef<object>> = {}
      const watch: MiddlewareHandler<{ Bindings: GatewayBindings }> = async (c, next) => {
        refs = { request: new WeakRef(c.req.raw), context: new WeakRef(c), runtime: new WeakRef(c.env.wsgate) }
        await next()
      }
      const chain: MiddlewareHandler[] = [watch as MiddlewareHandler]
      if (withRateLimit) chain.push(rateLimit({ maxConnectionsPerIp: 10 }) as MiddlewareHandler)
      const app = new Hono<{ Bindings: GatewayBindings }>()
      for (const middleware of chain) app.use('/echo', middleware)
      app.get('/echo', websocket(origin.url))
      const running = await gateway(app)
      const client = await openClient(`${running.wsUrl}/echo`)
      // The pipe runs: an echo comes back.
      const echoed = once(client, 'message')
      client.send('ping')
      expect(String((await echoed)[0])).toBe('ping')
      expect(Object.keys(refs)).toEqual(['request', 'context', 'runtime'])
      expect(await collectedExcept(refs)).toEqual([])
      // Still open and relaying after the collection.
      const again = once(client, 'message')
      client.send('pong')
      expect(String((await again)[0])).toBe('pong')
      client.close()
      await once(client, 'close')
    })
  }
})
