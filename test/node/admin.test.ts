import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { jwtAuth } from '../../middleware/jwt-auth/index.ts'
import { origins, websocket, type GatewayBindings } from '../../src/index.ts'
import type { ConnectionPage, Readiness } from '../../src/node/index.ts'
import { adminOptions } from '../../src/node/cli.ts'
import { resolveServeSettings, serveWarnings } from '../../src/node/settings.ts'
import { adminJson, adminRequest, sample, scrape } from '../helpers/admin.ts'
import { closedLines, logsWith, waitFor } from '../helpers/gateway.ts'
import { mint } from '../helpers/jwks.ts'
import { freePort } from '../helpers/ports.ts'
import { openClient, useResources } from '../helpers/resources.ts'

// The admin listener of a real gateway, on a port of its own: the live
// connection list and closing one, the bearer token, liveness and
// readiness (draining, a pool with no origin up), and that none of it is
// reachable on the traffic port.

const { gateway: gatewayServing, wsOrigin, track } = useResources()

const SECRET = new TextEncoder().encode('a-shared-secret-of-32-bytes-ok!!')

/** A gateway with `/echo` and `/auth` (jwtAuth, then the same origin) and an admin listener on a free port. */
async function adminGateway(admin: { token?: string } = {}) {
  const origin = await wsOrigin()
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('/echo', websocket(origin.url))
  app.all('/auth', jwtAuth({ secret: SECRET, algorithms: ['HS256'] }), websocket(origin.url))
  const gateway = await gatewayServing(app, { admin: { port: 0, ...admin } })
  return { gateway, origin }
}

/** Opens a tracked client whose later errors are ignored. */
async function client(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return track(await openClient(url, { headers, ignoreErrors: true }))
}

/** A plain HTTP server answering 200 to every request: a pool member whose probes pass. */
async function healthyServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_request, response) => response.end('ok'))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return track({
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  })
}

/** A URL on a port nothing listens on (connections to it are refused). */
async function deadUrl(): Promise<string> {
  return `ws://127.0.0.1:${await freePort()}`
}

describe('admin API: /connections', () => {
  it('lists exactly the open connections, oldest first, with route, origin, client, JWT subject and bytes, paged', async () => {
    const { gateway, origin } = await adminGateway()
    const first = await client(`${gateway.wsUrl}/echo`)
    const token = await mint({ alg: 'HS256', secret: SECRET }, { sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })
    await client(`${gateway.wsUrl}/auth`, { authorization: `Bearer ${token}` })
    const gone = await client(`${gateway.wsUrl}/echo`)
    await client(`${gateway.wsUrl}/echo`)
    gone.close(1000)
    await waitFor(() => closedLines(gateway).length === 1, 5_000, 'the closed connection to end')
    const reply = once(first, 'message')
    first.send('hi')
    await reply

    const page = await adminJson<ConnectionPage & { offset: number; limit: number }>(gateway.adminUrl!, '/connections')
    expect(page.total).toBe(3)
    expect(page.connections.map(({ route, origin: to, client: from, subject }) => ({ route, origin: to, client: from, subject }))).toEqual([
      { route: '/echo', origin: origin.url, client: '127.0.0.1', subject: undefined },
      { route: '/auth', origin: origin.url, client: '127.0.0.1', subject: 'alice' },
      { route: '/echo', origin: origin.url, client: '127.0.0.1', subject: undefined },
    ])
    // The id is the handshake's request id, as its log line has it.
    const accepted = gateway.logs.filter((line) => line.msg === 'handshake accepted').map((line) => line.reqId)
    expect(page.connections.map((connection) => connection.id)).toEqual([accepted[0], accepted[1], accepted[3]])
    expect(page.connections[0]!.bytesFromClient).toBeGreaterThan(0)
    expect(page.connections[0]!.bytesFromOrigin).toBeGreaterThan(0)
    expect(page.connections[0]!.ageMs).toBeGreaterThanOrEqual(page.connections[2]!.ageMs)

    const second = await adminJson<ConnectionPage>(gateway.adminUrl!, '/connections?limit=1&offset=1')
    expect(second.total).toBe(3)
    expect(second.connections.map((connection) => connection.id)).toEqual([accepted[1]])
    expect((await adminRequest(gateway.adminUrl!, '/connections?limit=0')).status).toBe(400)
    expect((await adminRequest(gateway.adminUrl!, '/connections?offset=-1')).status).toBe(400)
  })

  it('DELETE /connections/:id closes that connection with close code 1001 and answers 204; an unknown id gets 404', async () => {
    const { gateway } = await adminGateway()
    const target = await client(`${gateway.wsUrl}/echo`)
    const other = await client(`${gateway.wsUrl}/echo`)
    const { connections } = await adminJson<ConnectionPage>(gateway.adminUrl!, '/connections')
    const closed = once(target, 'close') as Promise<[number, Buffer]>

    const response = await adminRequest(gateway.adminUrl!, `/connections/${connections[0]!.id}`, { method: 'DELETE' })
    expect(response.status).toBe(204)
    const [code, reason] = await closed
    expect([code, String(reason)]).toEqual([1001, 'closed by the gateway'])
    await waitFor(() => closedLines(gateway).length === 1, 5_000, 'the closed connection to end')
    expect(closedLines(gateway)[0]).toMatchObject({ closedBy: 'gateway', closeCause: 'operator', closeCode: 1001 })
    expect(other.readyState).toBe(other.OPEN)
    expect((await adminJson<ConnectionPage>(gateway.adminUrl!, '/connections')).connections.map((connection) => connection.id)).toEqual([connections[1]!.id])
    expect(sample(await scrape(gateway.adminUrl!), 'wsgate_closes_total', { route: '/echo', cause: 'operator', code: '1001' })).toBe(1)

    const unknown = await adminRequest(gateway.adminUrl!, `/connections/${connections[0]!.id}`, { method: 'DELETE' })
    expect(unknown.status).toBe(404)
    expect(JSON.parse(unknown.body)).toEqual({ error: 'no open connection has this id' })
  })
})

describe('admin API: its own listener and token', () => {
  it('is not reachable on the traffic port: /metrics there is what the app answers (404)', async () => {
    const { gateway } = await adminGateway()
    expect(new URL(gateway.adminUrl!).port).not.toBe(String(gateway.port))
    for (const path of ['/metrics', '/connections', '/healthz', '/readyz']) {
      const response = await adminRequest(gateway.url, path)
      expect([path, response.status]).toEqual([path, 404])
      expect(response.body).not.toContain('wsgate_')
    }
    const metrics = await adminRequest(gateway.adminUrl!, '/metrics')
    expect(metrics.status).toBe(200)
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(metrics.body).toContain('# TYPE wsgate_handshakes_total counter')
  })

  it('with a token, answers 401 to every request without it or with another, and 200 with it', async () => {
    const { gateway } = await adminGateway({ token: 'the-admin-token' })
    const everyEndpoint = [['/metrics', 'GET'], ['/healthz', 'GET'], ['/readyz', 'GET'], ['/connections', 'GET'], ['/connections/x', 'DELETE'], ['/log-level', 'GET'], ['/log-level', 'PUT']] as const
    for (const [path, method] of everyEndpoint) {
      const missing = await adminRequest(gateway.adminUrl!, path, { method })
      expect([path, missing.status, missing.headers['www-authenticate']]).toEqual([path, 401, 'Bearer realm="wsgate admin"'])
      expect((await adminRequest(gateway.adminUrl!, path, { method, token: 'the-admin-tokeN' })).status).toBe(401)
      expect((await adminRequest(gateway.adminUrl!, path, { method, token: 'the-admin-token-and-more' })).status).toBe(401)
    }
    expect((await adminRequest(gateway.adminUrl!, '/metrics', { token: 'the-admin-token' })).status).toBe(200)
    expect((await adminRequest(gateway.adminUrl!, '/healthz', { token: 'the-admin-token' })).status).toBe(200)
  })

  it('without a token, refuses with 421 a Host that is not an IP address or localhost (a DNS-rebinding page), with one, takes any', async () => {
    const { gateway } = await adminGateway()
    const port = new URL(gateway.adminUrl!).port
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`]) {
      for (const [path, method] of [['/connections', 'GET'], ['/connections/x', 'DELETE'], ['/', 'GET']] as const) {
        const refused = await adminRequest(gateway.adminUrl!, path, { method, host })
        expect([host, path, refused.status]).toEqual([host, path, 421])
      }
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect([host, (await adminRequest(gateway.adminUrl!, '/healthz', { host })).status]).toEqual([host, 200])
    }
    const { gateway: guarded } = await adminGateway({ token: 'the-admin-token' })
    expect((await adminRequest(guarded.adminUrl!, '/healthz', { host: 'admin.internal.example', token: 'the-admin-token' })).status).toBe(200)
  })

  it('closes with the gateway', async () => {
    const { gateway } = await adminGateway()
    const { adminUrl } = gateway
    await gateway.close()
    await expect(adminRequest(adminUrl!, '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })
})

describe('admin API: /log-level', () => {
  /** PUT /log-level with a raw body. */
  const putLevel = (adminUrl: string, body: string) => adminRequest(adminUrl, '/log-level', { method: 'PUT', body })

  it('answers the level in force, and sets another live: info lines stop at warn and come back at info, each change logged', async () => {
    const { gateway } = await adminGateway()
    expect(await adminJson<{ level: string }>(gateway.adminUrl!, '/log-level')).toEqual({ level: 'debug' })

    const quiet = await putLevel(gateway.adminUrl!, '{"level":"warn"}')
    expect([quiet.status, JSON.parse(quiet.body)]).toEqual([200, { level: 'warn', previous: 'debug' }])
    expect(await adminJson<{ level: string }>(gateway.adminUrl!, '/log-level')).toEqual({ level: 'warn' })
    const handshakeLines = (): number => logsWith(gateway, 'handshake accepted').length
    ;(await client(`${gateway.wsUrl}/echo`)).close()
    await waitFor(() => gateway.connections === 0, 5_000, 'the first connection to end')
    expect(handshakeLines()).toBe(0)

    const loud = await putLevel(gateway.adminUrl!, '{"level":"info"}')
    expect([loud.status, JSON.parse(loud.body)]).toEqual([200, { level: 'info', previous: 'warn' }])
    ;(await client(`${gateway.wsUrl}/echo`)).close()
    await waitFor(() => handshakeLines() === 1, 5_000, 'the second handshake line')
    expect(logsWith(gateway, 'log level changed').map((line) => [line.level, line.logLevel, line.previousLogLevel])).toEqual([
      [40, 'warn', 'debug'],
      [40, 'info', 'warn'],
    ])

    // A level that hides warn lines is announced before it takes effect.
    expect((await putLevel(gateway.adminUrl!, '{"level":"error"}')).status).toBe(200)
    expect(logsWith(gateway, 'log level changed').at(-1)).toMatchObject({ level: 40, logLevel: 'error', previousLogLevel: 'info' })
  })

  it('answers 400 to an unknown level, a body that is not JSON or one without a level, and keeps the level it had', async () => {
    const { gateway } = await adminGateway()
    for (const body of ['{"level":"verbose"}', '{"level":30}', 'level=warn', '{}', '']) {
      const refused = await putLevel(gateway.adminUrl!, body)
      expect([body, refused.status]).toEqual([body, 400])
      expect(JSON.parse(refused.body).error).toMatch(/^send \{"level": …\} with one of fatal, error, warn, info, debug, trace, silent$/)
    }
    expect(await adminJson<{ level: string }>(gateway.adminUrl!, '/log-level')).toEqual({ level: 'debug' })
    expect(logsWith(gateway, 'log level changed')).toEqual([])
  })
})

describe('admin API: /healthz and /readyz', () => {
  it('answers /healthz and /readyz with 200 while listening with every origin up', async () => {
    const { gateway } = await adminGateway()
    expect(await adminJson(gateway.adminUrl!, '/healthz')).toEqual({ status: 'alive' })
    expect(await adminJson<Readiness>(gateway.adminUrl!, '/readyz')).toEqual({ ready: true, listening: true, draining: false, routesWithoutOrigin: [] })
  })

  it('answers /readyz with 503 and draining: true once a drain has begun', async () => {
    const { gateway } = await adminGateway()
    // Two connections over a long window: the second is still open while /readyz is asked.
    await client(`${gateway.wsUrl}/echo`)
    await client(`${gateway.wsUrl}/echo`)
    const drained = gateway.close({ drain: true })
    const response = await adminRequest(gateway.adminUrl!, '/readyz')
    expect(response.status).toBe(503)
    expect(JSON.parse(response.body)).toEqual({ ready: false, listening: true, draining: true, routesWithoutOrigin: [] })
    expect((await adminRequest(gateway.adminUrl!, '/healthz')).status).toBe(200)
    await gateway.close()
    await drained
  })

  it('answers /readyz with 503 naming the route when every origin of its pool is down; wsgate_origin_up says which', async () => {
    const origin = await wsOrigin()
    const live = await healthyServer()
    const [deadA, deadB] = [await deadUrl(), await deadUrl()]
    const probe = { interval: 40, timeout: 30, fall: 1, rise: 1 }
    const down = origins([deadA, deadB], { probe })
    const mixed = origins([deadA, live.url], { probe })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/echo', websocket(origin.url))
    app.all('/down', websocket(down))
    app.all('/mixed', websocket(mixed))
    const gateway = await gatewayServing(app, { admin: { port: 0 } })
    await waitFor(() => down.status().every((member) => member.health === 'down') && mixed.status()[0]!.health === 'down', 5_000, 'the probes to take the dead origins down')
    await waitFor(() => mixed.status()[1]!.lastProbe?.ok === true, 5_000, 'the live origin’s first probe')

    const response = await adminRequest(gateway.adminUrl!, '/readyz')
    expect(response.status).toBe(503)
    expect(JSON.parse(response.body)).toEqual({ ready: false, listening: true, draining: false, routesWithoutOrigin: ['/down'] })
    const text = await scrape(gateway.adminUrl!)
    expect(sample(text, 'wsgate_origin_up', { route: '/down', origin: deadA })).toBe(0)
    expect(sample(text, 'wsgate_origin_up', { route: '/down', origin: deadB })).toBe(0)
    expect(sample(text, 'wsgate_origin_up', { route: '/mixed', origin: deadA })).toBe(0)
    expect(sample(text, 'wsgate_origin_up', { route: '/mixed', origin: live.url })).toBe(1)

    // Reloaded routes without the dead pool: readiness and wsgate_origin_up follow the new app, not the stopped pools.
    const next = new Hono<{ Bindings: GatewayBindings }>()
    next.all('/echo', websocket(origin.url))
    next.all('/mixed', websocket(mixed))
    gateway.reloadRoutes(next)
    const reloaded = await adminRequest(gateway.adminUrl!, '/readyz')
    expect([reloaded.status, JSON.parse(reloaded.body).routesWithoutOrigin]).toEqual([200, []])
    const after = await scrape(gateway.adminUrl!)
    expect(sample(after, 'wsgate_origin_up', { route: '/down', origin: deadA })).toBeUndefined()
    expect(sample(after, 'wsgate_origin_up', { route: '/mixed', origin: live.url })).toBe(1)
  })
})

describe('admin options', () => {
  it('refuses an admin port that is a traffic port, an empty token and admin without metrics, naming the option', () => {
    expect(() => resolveServeSettings({ port: 8080, admin: { port: 8080 } })).toThrow(/admin\.port 8080 is a traffic port too/)
    expect(() => resolveServeSettings({ admin: { port: 70_000 } })).toThrow(/admin\.port must be an integer from 0 to 65535/)
    expect(() => resolveServeSettings({ admin: { port: 9090, token: '' } })).toThrow(/admin\.token must be a non-empty string/)
    expect(() => resolveServeSettings({ admin: { port: 9090 }, metrics: false })).toThrow(/admin needs the metrics/)
    expect(resolveServeSettings({ admin: { port: 0 } })).toMatchObject({ admin: { port: 0, host: '127.0.0.1', token: undefined }, metrics: true })
    expect(resolveServeSettings({})).toMatchObject({ admin: undefined, metrics: false })
  })

  it('refuses a token no client can send (a space, a trailing newline, a control or non-ASCII character) without echoing it', () => {
    for (const token of ['s3cret\n', 'two words', 'tab\there', 'p\u00e4ssword', 'bell\u0007']) {
      let message = ''
      try {
        resolveServeSettings({ admin: { port: 9090, token } })
      } catch (error) {
        message = (error as Error).message
      }
      expect([JSON.stringify(token), message]).toEqual([JSON.stringify(token), expect.stringMatching(/^serve\(\): admin\.token must be printable ASCII without spaces/)])
      expect(message).not.toContain(token)
    }
    expect(resolveServeSettings({ admin: { port: 9090, token: 'A-Za-z0-9._~+/=!#$%&*' } })).toMatchObject({ admin: { token: 'A-Za-z0-9._~+/=!#$%&*' } })
  })

  it('warns about an admin listener beyond loopback without a token', () => {
    const warning = /admin listener binds 0\.0\.0\.0 without a token/
    expect(serveWarnings(resolveServeSettings({ admin: { port: 9090, host: '0.0.0.0' } })).join('\n')).toMatch(warning)
    expect(serveWarnings(resolveServeSettings({ admin: { port: 9090, host: '0.0.0.0', token: 't' } })).join('\n')).not.toMatch(warning)
    expect(serveWarnings(resolveServeSettings({ admin: { port: 9090 } })).join('\n')).not.toMatch(warning)
  })

  it('takes --admin-port, --admin-host and WSGATE_ADMIN_TOKEN from the CLI', () => {
    expect(adminOptions('9090', undefined, undefined)).toEqual({ port: 9090 })
    expect(adminOptions('0', '0.0.0.0', 's3cret')).toEqual({ port: 0, host: '0.0.0.0', token: 's3cret' })
    expect(adminOptions('9090', undefined, '')).toEqual({ port: 9090 })
    expect(adminOptions(undefined, undefined, 's3cret')).toBeUndefined()
    expect(() => adminOptions(undefined, '0.0.0.0', undefined)).toThrow('--admin-host needs --admin-port <n>')
    expect(() => adminOptions('nine', undefined, undefined)).toThrow('--admin-port expects a number, got "nine"')
  })
})
