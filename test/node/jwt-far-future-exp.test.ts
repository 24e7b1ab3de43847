import crypto from 'node:crypto'
import { Hono } from 'hono'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { jwtAuth } from '../../middleware/jwt-auth/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { closedLine, expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { echoOnce } from '../helpers/resources.ts'

const SECRET = new TextEncoder().encode('a-shared-secret-of-32-bytes-ok!!')

/** An HS256 token over these exact claims bytes (so that `1e400` stays as written, which JSON.parse reads as Infinity). */
function hs256(claimsJson: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
  const payload = Buffer.from(claimsJson).toString('base64url')
  const signature = crypto.createHmac('sha256', SECRET).update(`${header}.${payload}`).digest('base64url')
  return `${header}.${payload}.${signature}`
}

describe('jwtAuth: a token whose exp lies past the last date a Date can hold', () => {
  let origin: WsOrigin
  let gateway: TestGateway

  beforeEach(async () => {
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/hs', jwtAuth({ secret: SECRET, algorithms: ['HS256'] }), websocket(origin.url))
    app.all('/closing', jwtAuth({ secret: SECRET, algorithms: ['HS256'], closeOnTokenExpiry: true }), websocket(origin.url))
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    await gateway.close()
    await origin.close()
  })

  // exp: 1e13 (year ~318,857, the kind of "never" some issuers write) and 1e400 (Infinity once parsed) are genuine NumericDates
  // that pass the claim checks; the connection's close log line wrote new Date(exp * 1000).toISOString(), which threw a
  // RangeError out of the socket's close handler: an uncaught exception, the end of the gateway process.
  it.each([
    ['1e13', '{"exp":1e13}'],
    ['1e400 (Infinity)', '{"exp":1e400}'],
  ])('opens and closes a connection with exp %s, logging the latest representable date', async (_label, claims) => {
    for (const path of ['/hs', '/closing']) {
      await echoOnce(`${gateway.wsUrl}${path}`, 'still open', { headers: { authorization: `Bearer ${hs256(claims)}` } })
      const line = await closedLine(gateway, path)
      expect(line.expiresAt).toBe('+275760-09-13T00:00:00.000Z')
    }
    await expectNoOpenSockets(gateway)
  })
})
