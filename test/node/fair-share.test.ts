import { once } from 'node:events'
import net from 'node:net'
import { Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import { describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { GatewayError, websocket, type GatewayBindings } from '../../src/index.ts'
import { closedLines, logsWith, routesApp, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { switchingProtocols, type RawOriginConnection } from '../helpers/origins.ts'
import { handshakeRequest, parseResponse, readHead, type RawResponse } from '../helpers/raw-client.ts'
import { closeClient, dropClient, echoOnce, openClient, useResources } from '../helpers/resources.ts'

// Everything a test starts, stopped in afterEach (gateways are checked for open pipes and sockets first).
const { gateway: gatewayFor, gatewayWith, wsOrigin, rawOrigin, track } = useResources()

/**
 * Client addresses: the gateway listens on 127.0.0.1 and every client
 * connects from an address of its own on 127.0.0.0/8 (Linux routes the whole
 * /8 to loopback), as separate hosts would.
 */
const FIRST = '127.0.0.2'
const SECOND = '127.0.0.3'

/** Opens a tracked ws client from `localAddress` and waits for its 101. */
async function openFrom(gateway: TestGateway, path: string, localAddress: string): Promise<WebSocket> {
  return track(await openClient(`${gateway.wsUrl}${path}`, { localAddress, ignoreErrors: true }))
}

/** A raw handshake from `localAddress`, answered and closed by the gateway (a refusal or a relayed answer). */
function exchangeFrom(gateway: TestGateway, path: string, localAddress: string, headers: Record<string, string | null> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = track(net.connect({ port: gateway.port, host: '127.0.0.1', localAddress }))
    const chunks: Buffer[] = []
    socket.on('connect', () => socket.write(handshakeRequest(path, headers)))
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(parseResponse(Buffer.concat(chunks))))
  })
}

/** A raw handshake from `localAddress` left waiting for its answer (the test destroys the socket, or reads the 101). */
async function pendingFrom(gateway: TestGateway, path: string, localAddress: string): Promise<net.Socket> {
  const socket = track(net.connect({ port: gateway.port, host: '127.0.0.1', localAddress }))
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(handshakeRequest(path))
  return socket
}

/** Destroys `sockets` and waits until the gateway has logged that many more abandoned (499) handshakes. */
async function leave(gateway: TestGateway, sockets: net.Socket[]): Promise<void> {
  const before = abandoned(gateway)
  for (const socket of sockets) socket.destroy()
  await waitFor(() => abandoned(gateway) === before + sockets.length, 5_000, `${sockets.length} abandoned handshakes to be logged`)
}

function abandoned(gateway: TestGateway): number {
  return logsWith(gateway, 'handshake rejected').filter((line) => line.status === 499).length
}

/** Expects a refusal with `status`, `code`, `Retry-After: 5`, a request id, and `reason` as the body's one line. */
function expectRefusal(response: RawResponse, status: number, code: string, reason: RegExp): void {
  expect(response.status, response.statusLine).toBe(status)
  expect(response.headers['x-wsgate-error']).toBe(code)
  expect(response.headers['retry-after']).toBe('5')
  expect(response.headers['x-request-id']).toMatch(/\S/)
  expect(response.body).toMatch(reason)
}

describe('a fair share of connections for every client address', () => {
  it('answers 429 ERR_TOO_MANY_CONNECTIONS to an address holding maxConnectionsPerClient, while another address still gets its 101', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url }, { maxConnections: 10, maxConnectionsPerClient: 3 })
    const held = [await openFrom(gateway, '/echo', FIRST), await openFrom(gateway, '/echo', FIRST), await openFrom(gateway, '/echo', FIRST)]

    const refused = await exchangeFrom(gateway, '/echo', FIRST)
    expectRefusal(refused, 429, 'ERR_TOO_MANY_CONNECTIONS', /^too many open connections from this address \(at most 3\)\n$/)
    // Refused before the chain ran: the origin never saw it.
    expect(origin.sockets).toHaveLength(3)
    expect(logsWith(gateway, 'handshake rejected')).toEqual([
      expect.objectContaining({ client: FIRST, status: 429, code: 'ERR_TOO_MANY_CONNECTIONS', fairShare: { limited: 'connections', max: 3 } }),
    ])

    // Everyone else keeps connecting.
    await echoOnce(`${gateway.wsUrl}/echo`, 'still served', { localAddress: SECOND })
    expect(gateway.connections).toBe(3)

    // A connection that ends gives its slot back: the first address may connect again, once.
    await closeClient(held[0]!, 1000)
    await waitFor(() => closedLines(gateway).length === 2, 5_000, 'the closed connection to be logged')
    await openFrom(gateway, '/echo', FIRST)
    expect((await exchangeFrom(gateway, '/echo', FIRST)).status).toBe(429)
    for (const client of held.slice(1)) await closeClient(client, 1000)
  })

  it('gives each address 10 % of maxConnections when maxConnectionsPerClient is not set, and logs no warning', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url }, { maxConnections: 20 })
    await openFrom(gateway, '/echo', FIRST)
    await openFrom(gateway, '/echo', FIRST)
    const refused = await exchangeFrom(gateway, '/echo', FIRST)
    expectRefusal(refused, 429, 'ERR_TOO_MANY_CONNECTIONS', /\(at most 2\)/)
    await openFrom(gateway, '/echo', SECOND)
    expect(gateway.connections).toBe(3)
    expect(gateway.logs.filter((line) => line.level === 40)).toEqual([])
  })

  it('answers 429 ERR_TOO_MANY_HANDSHAKES to an address with maxHandshakesPerClient handshakes in flight, and admits it again once they are answered', async () => {
    const pending: RawOriginConnection[] = []
    let holding = true
    // Holds every upgrade until the test answers it; once told, answers at once.
    const origin = await rawOrigin((connection) => {
      if (holding) pending.push(connection)
      else connection.socket.write(switchingProtocols(connection))
    })
    const gateway = await gatewayWith({ '/slow': origin.url }, { maxHandshakesPerClient: 2 })
    const waiting = [await pendingFrom(gateway, '/slow', FIRST), await pendingFrom(gateway, '/slow', FIRST)]
    await waitFor(() => pending.length === 2, 5_000, 'both upgrades to reach the origin')

    const refused = await exchangeFrom(gateway, '/slow', FIRST)
    expectRefusal(refused, 429, 'ERR_TOO_MANY_HANDSHAKES', /^too many handshakes in progress from this address \(at most 2\)\n$/)
    expect(logsWith(gateway, 'handshake rejected')).toEqual([
      expect.objectContaining({ client: FIRST, status: 429, code: 'ERR_TOO_MANY_HANDSHAKES', fairShare: { limited: 'handshakes', max: 2 } }),
    ])
    // Another address is admitted meanwhile.
    waiting.push(await pendingFrom(gateway, '/slow', SECOND))
    await waitFor(() => pending.length === 3, 5_000, "the second address's upgrade to reach the origin")

    holding = false
    const heads = waiting.map((socket) => readHead(socket))
    for (const connection of pending) connection.socket.write(switchingProtocols(connection))
    for (const { head } of await Promise.all(heads)) expect(head).toMatch(/^HTTP\/1\.1 101 /)
    expect(gateway.connections).toBe(3)
    // Answered handshakes are no longer in flight: the first address may handshake again.
    await openFrom(gateway, '/slow', FIRST)
    for (const socket of waiting) socket.destroy()
  })
})

describe('handshakes waiting for an origin, per route', () => {
  it('holds at most maxHandshakesPerRoute handshakes on a route whose origin never answers: the next gets 503 ERR_ROUTE_HANDSHAKE_LIMIT, other routes keep serving and the rest of the gateway cap stays open', async () => {
    // Accepts every connection, reads the upgrade request and says nothing.
    const dead = await rawOrigin(() => {})
    const live = await wsOrigin()
    const gateway = await gatewayWith({ '/dead': dead.url, '/live': live.url }, { maxConnections: 6, maxHandshakesPerRoute: 3 })
    // From three addresses, as a crowd of clients would (each address's default share is 1 of 6).
    const stuck = [
      await pendingFrom(gateway, '/dead', '127.0.0.11'),
      await pendingFrom(gateway, '/dead', '127.0.0.12'),
      await pendingFrom(gateway, '/dead', '127.0.0.13'),
    ]
    await waitFor(() => dead.connections.length === 3, 5_000, 'three upgrades to reach the dead origin')

    const refused = await exchangeFrom(gateway, '/dead', '127.0.0.14')
    expectRefusal(refused, 503, 'ERR_ROUTE_HANDSHAKE_LIMIT', /^too many handshakes waiting for this route's origin, retry later\n$/)
    expect(dead.connections).toHaveLength(3)
    expect(logsWith(gateway, 'handshake rejected')).toEqual([expect.objectContaining({ route: '/dead', status: 503, code: 'ERR_ROUTE_HANDSHAKE_LIMIT' })])

    // The other route serves, up to the rest of the gateway's cap.
    await echoOnce(`${gateway.wsUrl}/live`, 'alive', { localAddress: '127.0.0.20' })
    await waitFor(() => closedLines(gateway).length === 1, 5_000, 'the echo connection to end')
    const open = [
      await openFrom(gateway, '/live', '127.0.0.21'),
      await openFrom(gateway, '/live', '127.0.0.22'),
      await openFrom(gateway, '/live', '127.0.0.23'),
    ]
    expect(gateway.connections).toBe(3)
    // Now the gateway's cap itself is reached: 3 handshakes waiting plus 3 open.
    expectRefusal(await exchangeFrom(gateway, '/live', '127.0.0.24'), 503, 'ERR_CONNECTION_LIMIT', /gateway connection limit/)

    // Clients that give up give their route slots back: the dead route admits again.
    await leave(gateway, stuck)
    const again = await pendingFrom(gateway, '/dead', '127.0.0.14')
    await waitFor(() => dead.connections.length === 4, 5_000, 'a new upgrade to reach the dead origin')
    await leave(gateway, [again])
    for (const client of open) await closeClient(client, 1000)
  })

  it("gives a route's slots back when its handshakes time out", async () => {
    const dead = await rawOrigin(() => {})
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/dead', websocket(dead.url, { handshakeTimeout: 100 }))
    const gateway = await gatewayFor(app, { maxHandshakesPerRoute: 2 })
    // Three rounds of two at once: each round fills the route, and each must find it empty again.
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all([exchangeFrom(gateway, '/dead', FIRST), exchangeFrom(gateway, '/dead', SECOND)])
      for (const answer of answers) expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_TIMEOUT')
    }
    expect(dead.connections).toHaveLength(6)
  })
})

describe('every slot is given back once', () => {
  it("gives an address's slots back on every way a handshake ends without a connection, and never more than it took", async () => {
    const held: RawOriginConnection[] = []
    const refusing = await rawOrigin((connection) => connection.socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'))
    const holding = await rawOrigin((connection) => held.push(connection))
    const echo = await wsOrigin()
    const app = routesApp({ '/refused': refusing.url, '/down': 'ws://127.0.0.1:1', '/held': holding.url, '/echo': echo.url })
    const forbid = createMiddleware(async function forbid() {
      throw new GatewayError(403, 'ERR_WAF_BLOCKED', 'blocked')
    })
    app.all('/blocked', forbid, websocket(echo.url))
    const gateway = await gatewayFor(app, { maxConnectionsPerClient: 2, maxHandshakesPerRoute: 1 })

    // Each way, three times: more than the address's cap of 2, so a slot kept would show as a 429.
    for (let i = 0; i < 3; i++) {
      expect((await exchangeFrom(gateway, '/refused', FIRST)).status).toBe(404) // the origin's own answer
      expect((await exchangeFrom(gateway, '/down', FIRST)).headers['x-wsgate-error']).toBe('ERR_ORIGIN_UNAVAILABLE')
      expect((await exchangeFrom(gateway, '/blocked', FIRST)).headers['x-wsgate-error']).toBe('ERR_WAF_BLOCKED')
      expect((await exchangeFrom(gateway, '/echo', FIRST, { 'Sec-WebSocket-Version': '8' })).headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_VERSION')
      expect((await exchangeFrom(gateway, '/nowhere', FIRST)).status).toBe(404)
      // The client leaves while the origin has not answered yet.
      const leaving = await pendingFrom(gateway, '/held', FIRST)
      await waitFor(() => held.length === i + 1, 5_000, 'the upgrade to reach the holding origin')
      await leave(gateway, [leaving])
    }
    // A route at its cap of handshakes waiting (held by another address) refuses after admission: that too gives the slots back.
    const blocker = await pendingFrom(gateway, '/held', SECOND)
    await waitFor(() => held.length === 4, 5_000, "the other address's upgrade to reach the holding origin")
    for (let i = 0; i < 3; i++) {
      expect((await exchangeFrom(gateway, '/held', FIRST)).headers['x-wsgate-error']).toBe('ERR_ROUTE_HANDSHAKE_LIMIT')
    }
    await leave(gateway, [blocker])

    // The address still has exactly its 2: none kept, none given back twice.
    const first = await openFrom(gateway, '/echo', FIRST)
    const second = await openFrom(gateway, '/echo', FIRST)
    for (let i = 0; i < 3; i++) expect((await exchangeFrom(gateway, '/echo', FIRST)).headers['x-wsgate-error']).toBe('ERR_TOO_MANY_CONNECTIONS')
    await dropClient(first)
    await closeClient(second, 1000)
    await waitFor(() => gateway.connections === 0, 5_000, 'both connections to end')
    await closeClient(await openFrom(gateway, '/echo', FIRST), 1000)
  })

  it('gives the connection slot back when the origin ends the connection', async () => {
    // Closes every connection right after its 101.
    const origin = await wsOrigin((socket) => socket.close(1000))
    const gateway = await gatewayWith({ '/bye': origin.url }, { maxConnectionsPerClient: 1 })
    for (let i = 1; i <= 3; i++) {
      const client = await openFrom(gateway, '/bye', FIRST)
      await once(client, 'close')
      await waitFor(() => closedLines(gateway).length === i, 5_000, `connection ${i} to end`)
    }
  })
})

describe('turning a cap off', () => {
  it('logs one warning per fair-share cap set to Infinity before listening, and lets one address take the whole gateway', async () => {
    const origin = await wsOrigin()
    const off = { maxConnectionsPerClient: Infinity, maxHandshakesPerClient: Infinity, maxHandshakesPerRoute: Infinity }
    const gateway = await gatewayWith({ '/echo': origin.url }, { maxConnections: 3, ...off })
    const warnings = gateway.logs.filter((line) => line.level === 40).map((line) => line.msg)
    expect(warnings).toEqual([
      expect.stringMatching(/^serve\(\): maxConnectionsPerClient is Infinity: one client address may hold every connection/),
      expect.stringMatching(/^serve\(\): maxHandshakesPerClient is Infinity/),
      expect.stringMatching(/^serve\(\): maxHandshakesPerRoute is Infinity: an origin that never answers/),
    ])
    expect(gateway.logs.findLastIndex((line) => line.level === 40)).toBeLessThan(gateway.logs.findIndex((line) => line.msg === 'gateway listening'))
    const clients = [await openFrom(gateway, '/echo', FIRST), await openFrom(gateway, '/echo', FIRST), await openFrom(gateway, '/echo', FIRST)]
    expect((await exchangeFrom(gateway, '/echo', SECOND)).headers['x-wsgate-error']).toBe('ERR_CONNECTION_LIMIT')
    for (const client of clients) await closeClient(client, 1000)
  })
})
