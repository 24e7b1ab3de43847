import { once } from 'node:events'
import { Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { GatewayError, replaceRequest, websocket, type GatewayBindings, type GatewayErrorCode } from '../../src/index.ts'
import { expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'

/** Options of the example middleware, as a user would write them. */
interface TenantCheckOptions {
  /** Tenants allowed through. */
  tenants: string[]
  /** Header the tenant arrives in. @default 'x-tenant' */
  header?: string
}

/**
 * The README's example of a user-written handshake middleware: a tenant
 * header check that rejects unknown tenants and tells the origin which
 * tenant it is serving. Written exactly like the built-in ones.
 */
function tenantCheck(options: TenantCheckOptions) {
  const header = options.header ?? 'x-tenant'
  const tenants = new Set(options.tenants)
  return createMiddleware<{ Variables: { tenant: string } }>(async function tenantCheck(c, next) {
    const tenant = c.req.header(header)
    if (!tenant) throw new GatewayError(403, 'ERR_TENANT_MISSING' as GatewayErrorCode, `missing ${header} header`)
    if (!tenants.has(tenant)) throw new GatewayError(403, 'ERR_TENANT_UNKNOWN' as GatewayErrorCode, `unknown tenant in ${header}`)
    c.set('tenant', tenant)
    const headers = new Headers(c.req.raw.headers)
    headers.set('x-tenant-id', tenant)
    replaceRequest(c, { headers })
    await next()
  })
}

describe('a user-written handshake middleware', () => {
  let origin: WsOrigin
  let gateway: TestGateway
  const seenByOrigin: (string | undefined)[] = []

  beforeEach(async () => {
    seenByOrigin.length = 0
    origin = await startWsOrigin((socket) => socket.on('message', (data) => socket.send(data)))
    origin.server.on('headers', (_headers, request) => seenByOrigin.push(request.headers['x-tenant-id'] as string | undefined))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', tenantCheck({ tenants: ['acme', 'globex'] }), websocket(origin.url))
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    await expectNoOpenSockets(gateway)
    await gateway.close()
    await origin.close()
  })

  it('runs in the chain before websocket() and hands the origin what it added', async () => {
    const client = new WebSocket(`${gateway.wsUrl}/chat`, { headers: { 'x-tenant': 'acme' } })
    await once(client, 'open')
    const reply = once(client, 'message')
    client.send('hi')
    expect(String((await reply)[0])).toBe('hi')
    expect(seenByOrigin).toEqual(['acme'])
    client.close()
    await once(client, 'close')
  })

  it('rejects an unknown tenant with its own 403 and code, and the origin never sees the request', async () => {
    const response = await rawExchange(gateway.port, handshakeRequest('/chat', { 'X-Tenant': 'initech' }))
    expect(response.status).toBe(403)
    expect(response.headers['x-wsgate-error']).toBe('ERR_TENANT_UNKNOWN')
    expect(response.body).toBe('unknown tenant in x-tenant\n')
    expect(origin.sockets).toHaveLength(0)
  })

  it('rejects a handshake without the tenant header with 403 and keeps serving valid clients', async () => {
    const response = await rawExchange(gateway.port, handshakeRequest('/chat'))
    expect(response.status).toBe(403)
    expect(response.headers['x-wsgate-error']).toBe('ERR_TENANT_MISSING')
    const client = new WebSocket(`${gateway.wsUrl}/chat`, { headers: { 'x-tenant': 'globex' } })
    await once(client, 'open')
    client.close()
    await once(client, 'close')
    expect(seenByOrigin).toEqual(['globex'])
  })
})

describe('onConnectionClose', () => {
  let origin: WsOrigin
  let gateway: TestGateway
  const events: string[] = []

  beforeEach(async () => {
    events.length = 0
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    // A middleware that tracks connections the way a per-client cap would.
    const track = createMiddleware<{ Bindings: GatewayBindings }>(async function track(c, next) {
      const label = c.req.query('label') ?? '?'
      events.push(`open ${label}`)
      c.env.wsgate.onConnectionClose(() => events.push(`close ${label}`))
      await next()
    })
    app.all('/chat', track, websocket(origin.url))
    app.all('/refused', track, websocket('ws://127.0.0.1:1'))
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    await expectNoOpenSockets(gateway)
    await gateway.close()
    await origin.close()
  })

  it('fires once when an accepted connection ends, not before', async () => {
    const client = new WebSocket(`${gateway.wsUrl}/chat?label=a`)
    await once(client, 'open')
    expect(events).toEqual(['open a'])
    client.close()
    await once(client, 'close')
    await expectNoOpenSockets(gateway)
    expect(events).toEqual(['open a', 'close a'])
  })

  it('fires once as soon as a handshake that never becomes a connection is answered', async () => {
    const response = await rawExchange(gateway.port, handshakeRequest('/refused?label=b'))
    expect(response.status).toBe(502)
    expect(events).toEqual(['open b', 'close b'])
  })
})
