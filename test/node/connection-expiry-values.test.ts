import { Hono, type MiddlewareHandler } from 'hono'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import type { ForwardingVariables } from '../../src/forward.ts'
import { closedLine, expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { echoOnce } from '../helpers/resources.ts'

/**
 * `connectionExpiresAt` is any middleware's to set, a user's own included:
 * whatever it holds, the connection opens, relays and closes, and the
 * gateway lives on to log it (an ISO date of an out-of-range time threw
 * from the close handler: an uncaught exception, the end of the process).
 */

/** A middleware that sets `connectionExpiresAt` to `value`, asking for a close at that moment. */
function expiresAt(value: unknown): MiddlewareHandler<{ Variables: ForwardingVariables }> {
  return async (c, next) => {
    c.set('connectionExpiresAt', value as number)
    c.set('closeOnConnectionExpiry', true)
    await next()
  }
}

describe('websocket(): a connectionExpiresAt a middleware set, whatever it holds', () => {
  let origin: WsOrigin
  let gateway: TestGateway
  const cases: [label: string, value: unknown, logged: string | undefined][] = [
    ['Infinity', Infinity, '+275760-09-13T00:00:00.000Z'],
    ['1e20', 1e20, '+275760-09-13T00:00:00.000Z'],
    ['NaN', NaN, undefined],
    ['a string', 'tomorrow', undefined],
  ]

  beforeEach(async () => {
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    cases.forEach(([, value], index) => app.all(`/case${index}`, expiresAt(value), websocket(origin.url)))
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    await gateway.close()
    await origin.close()
  })

  it.each(cases.map((entry, index) => [entry[0], index, entry[2]] as const))('relays and closes with %s, and logs the connection', async (_label, index, logged) => {
    const path = `/case${index}`
    await echoOnce(`${gateway.wsUrl}${path}`, 'still open')
    const line = await closedLine(gateway, path)
    expect(line.expiresAt).toBe(logged)
    await expectNoOpenSockets(gateway)
  })
})
