import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { http as httpRoute, origins, proxy, websocket, type GatewayBindings, type OriginPool, type OriginsOptions } from '../../src/index.ts'
import { probeOrigin } from '../../src/node/index.ts'
import { logsWith, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { makeCa, issue } from '../helpers/certificates.ts'
import { echo, startRawOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { send, startHttpOrigin } from '../helpers/http.ts'
import { useResources } from '../helpers/resources.ts'

// Origin pools end to end: real ws origins on 127.0.0.1 whose health
// endpoint the test switches, a real gateway whose serve() starts the
// pool's probes (short intervals given as options), and state changes
// awaited through the gateway's 'origin down' / 'origin up' log lines,
// never by sleeping.

const { gateway: gatewayServing, track } = useResources()

/** A ws origin that greets each connection with its name, echoes, and answers `/healthz` with a status the test sets. */
interface PoolOrigin {
  readonly name: string
  readonly url: string
  readonly port: number
  /** Status of `/healthz` (and every other plain request). */
  health: number
  /** Upgrade requests received, accepted or not. */
  upgrades: number
  /** Plain requests received (probes). */
  probes: number
  /** Open server-side WebSocket connections. */
  readonly live: () => number
  /** Stops listening (probes and handshakes are refused); open connections stay. */
  stopListening(): Promise<void>
  /** Listens again on the same port. */
  listenAgain(): Promise<void>
  close(): Promise<void>
}

async function poolOrigin(name: string): Promise<PoolOrigin> {
  const server = http.createServer()
  const sockets = new Set<net.Socket>()
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const wss = new WebSocketServer({ server })
  const origin: PoolOrigin = {
    name,
    url: '',
    port: 0,
    health: 200,
    upgrades: 0,
    probes: 0,
    live: () => wss.clients.size,
    stopListening: () => new Promise<void>((resolve) => server.close(() => resolve())),
    listenAgain: async () => {
      server.listen(origin.port, '127.0.0.1')
      await once(server, 'listening')
    },
    close: async () => {
      for (const client of wss.clients) client.terminate()
      for (const socket of sockets) socket.destroy()
      wss.close()
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  server.prependListener('upgrade', () => origin.upgrades++)
  server.on('request', (_request: http.IncomingMessage, response: http.ServerResponse) => {
    origin.probes++
    response.writeHead(origin.health).end(name)
  })
  wss.on('connection', (socket) => {
    socket.on('error', () => {})
    socket.send(name)
    echo(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  Object.assign(origin, { url: `ws://127.0.0.1:${port}`, port })
  return track(origin)
}

/** A gateway with one route `/chat` → websocket(pool). */
async function gatewayFor(pool: OriginPool): Promise<TestGateway> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('/chat', websocket(pool))
  return gatewayServing(app)
}

/** Opens a client on `/chat` and resolves with it and the name of the origin that greeted it. */
async function connect(gateway: TestGateway): Promise<{ client: WebSocket; origin: string }> {
  const client = track(new WebSocket(`${gateway.wsUrl}/chat`))
  client.on('error', () => {})
  const [greeting] = (await once(client, 'message')) as [Buffer]
  return { client, origin: String(greeting) }
}

/** Sends a message and expects it back. */
async function roundTrip(client: WebSocket, text: string): Promise<void> {
  const reply = once(client, 'message') as Promise<[Buffer]>
  client.send(text)
  expect(String((await reply)[0])).toBe(text)
}

/** Waits for the gateway's log line that `origin` changed to `health`, the `count`-th such line. */
async function healthLine(gateway: TestGateway, origin: PoolOrigin, health: 'up' | 'down', count = 1) {
  const msg = `origin ${health}`
  await waitFor(() => logsWith(gateway, msg).filter((line) => line.origin === origin.url).length >= count, 5_000, `'${msg}' for ${origin.name}`)
  return logsWith(gateway, msg).filter((line) => line.origin === origin.url)[count - 1]!
}

/** A port nothing listens on (connections to it are refused). */
async function deadPort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const FAST_PROBES: OriginsOptions['probe'] = { path: '/healthz', interval: 40, timeout: 30, fall: 2, rise: 2 }

describe('origins(): health probes', () => {
  it('takes an origin whose probe answers 500 down and back up; new connections avoid it meanwhile, an open one lives on', async () => {
    const a = await poolOrigin('a')
    const b = await poolOrigin('b')
    const pool = origins([a.url, b.url], { probe: FAST_PROBES })
    const gateway = await gatewayFor(pool)
    await waitFor(() => pool.status().every((origin) => origin.lastProbe?.ok === true), 5_000, 'the first probes')

    // Round robin: one connection on each.
    const first = await connect(gateway)
    const second = await connect(gateway)
    expect([first.origin, second.origin].sort()).toEqual(['a', 'b'])
    const onA = first.origin === 'a' ? first.client : second.client

    a.health = 500
    const down = await healthLine(gateway, a, 'down')
    expect(down).toMatchObject({ level: 40, origin: a.url, health: 'down', cause: 'probe', reason: 'probe: status 500, expected 200–399', priority: 1 })
    expect(pool.status()[0]).toMatchObject({ url: a.url, health: 'down', lastProbe: { ok: false, status: 500 } })

    const upgradesOfA = a.upgrades
    const whileDown = await Promise.all(Array.from({ length: 6 }, () => connect(gateway)))
    expect(whileDown.map((connection) => connection.origin)).toEqual(['b', 'b', 'b', 'b', 'b', 'b'])
    expect(a.upgrades).toBe(upgradesOfA)
    // The probe result never touches an established pipe.
    await roundTrip(onA, 'still here')
    expect(pool.status().map((origin) => origin.live)).toEqual([1, 7])

    a.health = 200
    const up = await healthLine(gateway, a, 'up')
    expect(up).toMatchObject({ level: 30, health: 'up', cause: 'probe', reason: '2 probes passed' })
    const afterwards = await Promise.all(Array.from({ length: 4 }, () => connect(gateway)))
    expect(afterwards.map((connection) => connection.origin).sort()).toEqual(['a', 'a', 'b', 'b'])
    // Each change was logged once.
    expect(logsWith(gateway, 'origin down')).toHaveLength(1)
    expect(logsWith(gateway, 'origin up')).toHaveLength(1)
  })

  it('takes an origin that stops listening down (refused probes) and up when it listens again', async () => {
    const a = await poolOrigin('a')
    const b = await poolOrigin('b')
    const pool = origins([a.url, b.url], { probe: FAST_PROBES })
    const gateway = await gatewayFor(pool)
    await waitFor(() => pool.status().every((origin) => origin.lastProbe?.ok === true), 5_000, 'the first probes')

    await a.stopListening()
    const down = await healthLine(gateway, a, 'down')
    expect(down.reason).toBe('probe: ECONNREFUSED')
    expect((await connect(gateway)).origin).toBe('b')
    expect((await connect(gateway)).origin).toBe('b')

    await a.listenAgain()
    await healthLine(gateway, a, 'up')
    const next = await Promise.all([connect(gateway), connect(gateway)])
    expect(next.map((connection) => connection.origin).sort()).toEqual(['a', 'b'])
  })

  it('counts probe sockets in openSockets and releases them: none is left when the gateway closes', async () => {
    const a = await poolOrigin('a')
    const pool = origins([a.url], { probe: FAST_PROBES })
    const gateway = await gatewayFor(pool)
    await waitFor(() => a.probes >= 3, 5_000, 'three probes')
    await gateway.close()
    expect(gateway.openSockets).toBe(0)
    expect(logsWith(gateway, 'origin down')).toHaveLength(0)
  })
})

describe('origins(): failover before the 101', () => {
  it('gives the client its 101 from the second origin when the first refuses, and logs the origin actually used', async () => {
    const port = await deadPort()
    const live = await poolOrigin('live')
    const dead = `ws://127.0.0.1:${port}`
    const pool = origins([dead, live.url], { probe: false })
    const gateway = await gatewayFor(pool)

    const { client, origin } = await connect(gateway)
    expect(origin).toBe('live')
    await roundTrip(client, 'hello')
    await waitFor(() => logsWith(gateway, 'handshake accepted').length === 1, 5_000, 'the handshake line')
    const [line] = logsWith(gateway, 'handshake accepted')
    expect(line).toMatchObject({ status: 101, route: '/chat', origin: live.url, failover: [{ origin: dead, code: 'ERR_ORIGIN_UNAVAILABLE' }] })
    expect(String((line!.failover as { reason: string }[])[0]!.reason)).toContain('ECONNREFUSED')
  })

  it('fails over from a wss:// origin whose certificate is not trusted (502 ERR_ORIGIN_TLS) to the next one', async () => {
    const leaf = issue(makeCa(), ['localhost'])
    const untrusted = https.createServer({ cert: leaf.cert, key: leaf.key })
    untrusted.listen(0, '127.0.0.1')
    await once(untrusted, 'listening')
    track({ close: () => new Promise<void>((resolve) => (untrusted.closeAllConnections(), untrusted.close(() => resolve()))) })
    const live = await poolOrigin('live')
    const bad = `wss://127.0.0.1:${(untrusted.address() as net.AddressInfo).port}`
    const pool = origins([{ url: bad, tls: { servername: 'localhost' } }, live.url], { probe: false })
    const gateway = await gatewayFor(pool)
    expect((await connect(gateway)).origin).toBe('live')
    await waitFor(() => logsWith(gateway, 'handshake accepted').length === 1, 5_000, 'the handshake line')
    expect(logsWith(gateway, 'handshake accepted')[0]).toMatchObject({ origin: live.url, failover: [{ origin: bad, code: 'ERR_ORIGIN_TLS' }] })
  })

  it('takes a refusing origin down by passive health after `fall` failed handshakes, without probes', async () => {
    const port = await deadPort()
    const live = await poolOrigin('live')
    const dead = `ws://127.0.0.1:${port}`
    const pool = origins([dead, live.url], { probe: false })
    const gateway = await gatewayFor(pool)
    // Round robin puts every other handshake on the dead origin first: 3 failures within 6 handshakes.
    for (let i = 0; i < 6; i++) expect((await connect(gateway)).origin).toBe('live')
    const down = logsWith(gateway, 'origin down')
    expect(down).toHaveLength(1)
    expect(down[0]).toMatchObject({ origin: dead, cause: 'passive' })
    expect(String(down[0]!.reason)).toContain('ECONNREFUSED')
    expect(pool.status()[0]).toMatchObject({ health: 'down' })
  })

  it.each([
    ['a 101 with the wrong accept value', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3JvbmcgYWNjZXB0IHZhbHVlPQ==\r\n\r\n'],
    ['bytes that are not HTTP', 'SSH-2.0-OpenSSH_9.2\r\n'],
  ])('takes an origin that answers handshakes with %s down by passive health after `fall` of them', async (_label, answer) => {
    const broken = track(await startRawOrigin((connection) => connection.socket.end(answer)))
    const brokenUrl = broken.url
    const live = await poolOrigin('live')
    const pool = origins([brokenUrl, live.url], { probe: false })
    const gateway = await gatewayFor(pool)
    // Round robin: every other handshake reaches the broken origin, which answered (so it is not retried): 502 each.
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const client = track(new WebSocket(`${gateway.wsUrl}/chat`))
      client.on('error', () => {})
      const refused = once(client, 'unexpected-response').then(([, response]) => (response as http.IncomingMessage).statusCode!)
      statuses.push(await Promise.race([once(client, 'open').then(() => 101), refused]))
      client.terminate()
    }
    expect(statuses.filter((status) => status === 502)).toHaveLength(3)
    const down = logsWith(gateway, 'origin down')
    expect(down).toHaveLength(1)
    expect(down[0]).toMatchObject({ origin: brokenUrl, cause: 'passive' })
    expect(String(down[0]!.reason)).toContain('ERR_ORIGIN_BAD_HANDSHAKE')
    // Down: every handshake now goes to the live origin.
    for (let i = 0; i < 2; i++) expect((await connect(gateway)).origin).toBe('live')
  })

  it('answers 502 naming the last cause when every origin refuses', async () => {
    const dead1 = `ws://127.0.0.1:${await deadPort()}`
    const dead2 = `ws://127.0.0.1:${await deadPort()}`
    const pool = origins([dead1, dead2], { probe: false })
    const gateway = await gatewayFor(pool)
    const answer = await rawExchange(gateway.port, handshakeRequest('/chat'))
    expect(answer.status).toBe(502)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_UNAVAILABLE')
    expect(answer.body).toBe('origin unavailable (ECONNREFUSED); 2 origins tried\n')
  })

  it('relays a non-101 answer as it came without trying another origin, and counts a 5xx against the origin', async () => {
    const b = await poolOrigin('b')
    // This origin refuses every upgrade with 503.
    const refusing = http.createServer()
    refusing.on('upgrade', (_request, socket: net.Socket) => socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy'))
    refusing.listen(0, '127.0.0.1')
    await once(refusing, 'listening')
    track({ close: () => new Promise<void>((resolve) => (refusing.closeAllConnections(), refusing.close(() => resolve()))) })
    const refusingUrl = `ws://127.0.0.1:${(refusing.address() as net.AddressInfo).port}`
    const pool = origins([refusingUrl, b.url], { probe: false })
    const gateway = await gatewayFor(pool)
    const answer = await rawExchange(gateway.port, handshakeRequest('/chat'))
    expect(answer.status).toBe(503)
    expect(answer.body).toBe('busy')
    expect(b.upgrades).toBe(0)
    expect(pool.status()[0]).toMatchObject({ url: refusingUrl, failures: 1, health: 'up' })
  })
})

describe('origins(): every origin down', () => {
  it('answers 503 ERR_ORIGIN_DOWN with Retry-After at once, without a connection attempt', async () => {
    const a = await poolOrigin('a')
    const b = await poolOrigin('b')
    a.health = 500
    b.health = 500
    const pool = origins([a.url, b.url], { probe: FAST_PROBES })
    const gateway = await gatewayFor(pool)
    await healthLine(gateway, a, 'down')
    await healthLine(gateway, b, 'down')

    const started = performance.now()
    const answer = await rawExchange(gateway.port, handshakeRequest('/chat'))
    const elapsed = performance.now() - started
    expect(answer.status).toBe(503)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_DOWN')
    expect(answer.headers['retry-after']).toBe('1')
    expect(answer.body).toBe('every origin of this route is down, retry later\n')
    // The fact that matters: no handshake reached either origin (the time is logged for the record, the bound is generous).
    expect(a.upgrades + b.upgrades).toBe(0)
    expect(elapsed).toBeLessThan(1_000)
    console.info(`all origins down: 503 in ${elapsed.toFixed(1)} ms`)
  })

  it('uses priority 2 only while every origin of priority 1 is down', async () => {
    const a = await poolOrigin('a')
    const b = await poolOrigin('b')
    const standby = await poolOrigin('standby')
    const pool = origins([a.url, b.url, { url: standby.url, priority: 2 }], { probe: FAST_PROBES })
    const gateway = await gatewayFor(pool)
    await waitFor(() => pool.status().every((origin) => origin.lastProbe?.ok === true), 5_000, 'the first probes')
    const before = await Promise.all(Array.from({ length: 4 }, () => connect(gateway)))
    expect(before.map((connection) => connection.origin).sort()).toEqual(['a', 'a', 'b', 'b'])
    a.health = 500
    await healthLine(gateway, a, 'down')
    expect((await connect(gateway)).origin).toBe('b')
    b.health = 500
    await healthLine(gateway, b, 'down')
    const during = await Promise.all(Array.from({ length: 3 }, () => connect(gateway)))
    expect(during.map((connection) => connection.origin)).toEqual(['standby', 'standby', 'standby'])
    a.health = 200
    await healthLine(gateway, a, 'up')
    expect((await connect(gateway)).origin).toBe('a')
    expect(standby.upgrades).toBe(3)
  })
})

describe('origins(): selection end to end', () => {
  it('spreads 2,000 handshakes over weights 3:1 as 1,500 and 500 (smooth weighted round robin: exact, well within ±5 %)', async () => {
    const a = await poolOrigin('a')
    const b = await poolOrigin('b')
    const pool = origins([{ url: a.url, weight: 3 }, { url: b.url, weight: 1 }], { probe: false })
    const gateway = await gatewayFor(pool)
    const counts: Record<string, number> = {}
    // Batches of 20: the gateway lets one address have 30 handshakes in flight.
    for (let batch = 0; batch < 100; batch++) {
      const opened = await Promise.all(Array.from({ length: 20 }, () => connect(gateway)))
      for (const { client, origin } of opened) {
        counts[origin] = (counts[origin] ?? 0) + 1
        client.terminate()
      }
    }
    expect(counts).toEqual({ a: 1500, b: 500 })
  })

  it('evens out live connections with least-connections as connections close', async () => {
    const a = await poolOrigin('a')
    const b = await poolOrigin('b')
    const pool = origins([a.url, b.url], { strategy: 'least-connections', probe: false })
    const gateway = await gatewayFor(pool)
    const opened = await Promise.all(Array.from({ length: 10 }, () => connect(gateway)))
    expect(pool.status().map((origin) => origin.live)).toEqual([5, 5])
    // Four of a's connections end; the next four go to a.
    const closing = opened.filter((connection) => connection.origin === 'a').slice(0, 4)
    await Promise.all(closing.map(({ client }) => new Promise((resolve) => (client.once('close', resolve), client.close()))))
    await waitFor(() => pool.status()[0]!.live === 1, 5_000, "a's connections to be released")
    const next = await Promise.all(Array.from({ length: 4 }, () => connect(gateway)))
    expect(next.map((connection) => connection.origin)).toEqual(['a', 'a', 'a', 'a'])
    expect(pool.status().map((origin) => origin.live)).toEqual([5, 5])
    expect([a.live(), b.live()]).toEqual([5, 5])
  })

  it('keeps each client on its origin with a hash of a header, across http() and websocket() of one proxy() route', async () => {
    const a = await poolOrigin('a')
    const b = await poolOrigin('b')
    const pool = origins([a.url, b.url], { strategy: { hash: (c) => c.req.header('x-user') }, probe: false })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', proxy(pool))
    const gateway = await gatewayServing(app)
    const seen = new Map<string, Set<string>>()
    for (let i = 0; i < 3; i++) {
      for (const user of Array.from({ length: 20 }, (_, i) => `user-${i}`)) {
        const plain = await send(`${gateway.url}/chat`, { headers: { 'x-user': user } })
        const client = track(new WebSocket(`${gateway.wsUrl}/chat`, { headers: { 'x-user': user } }))
        client.on('error', () => {})
        const [greeting] = (await once(client, 'message')) as [Buffer]
        client.terminate()
        const names = seen.get(user) ?? new Set<string>()
        names.add(String(plain.body)).add(String(greeting))
        seen.set(user, names)
      }
    }
    for (const names of seen.values()) expect(names.size).toBe(1)
    expect(new Set([...seen.values()].map((names) => [...names][0])).size).toBe(2)
  })
})

describe('origins() with http()', () => {
  it('retries a GET on the next origin when the first refuses, and does not retry a POST with a body', async () => {
    const live = await startHttpOrigin((_request, response) => response.end('from live'))
    track(live)
    const dead = `http://127.0.0.1:${await deadPort()}`
    const pool = origins([dead, live.url], { probe: false })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/api/*', httpRoute(pool))
    const gateway = await gatewayServing(app)
    const get = await send(`${gateway.url}/api/x`)
    expect(get.status).toBe(200)
    expect(String(get.body)).toBe('from live')
    // The next pick is the dead origin again (round robin): a POST with a body is not sent twice.
    await send(`${gateway.url}/api/x`)
    const post = await send(`${gateway.url}/api/x`, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } })
    expect(post.status).toBe(502)
    expect(post.headers['x-wsgate-error']).toBe('ERR_ORIGIN_UNAVAILABLE')
    expect(live.requests.map((request) => request.method)).toEqual(['GET', 'GET'])
  })
})

describe('probeOrigin(): the Node prober', () => {
  it('probes a wss:// origin over TLS with the pool’s CA, and fails it without', async () => {
    const ca = makeCa()
    const leaf = issue(ca, ['localhost'])
    const server = https.createServer({ cert: leaf.cert, key: leaf.key }, (_request, response) => response.writeHead(204).end())
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    track({ close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) })
    const port = (server.address() as net.AddressInfo).port
    const url = new URL(`https://127.0.0.1:${port}/healthz`)
    const sockets: net.Socket[] = []
    const request = { method: 'GET' as const, timeout: 2_000, signal: new AbortController().signal }
    expect(await probeOrigin(url, { ...request, tls: { ca: ca.cert, servername: 'localhost' } }, { onSocket: (socket) => sockets.push(socket) })).toEqual({ status: 204 })
    await expect(probeOrigin(url, { ...request, tls: { servername: 'localhost' } })).rejects.toMatchObject({ code: expect.stringMatching(/CERT|SIGNATURE|SELF_SIGNED/) })
    expect(sockets).toHaveLength(1)
    await waitFor(() => sockets.every((socket) => socket.destroyed), 5_000, 'the probe socket to close')

    // Through a pool: the wss:// origin is up with the CA given to origins().
    const pool = origins([{ url: `wss://127.0.0.1:${port}`, tls: { ca: ca.cert, servername: 'localhost' } }], { probe: { ...FAST_PROBES, expect: [204, 204] } })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', websocket(pool))
    await gatewayServing(app)
    await waitFor(() => pool.status()[0]!.lastProbe !== undefined, 5_000, 'the first probe')
    expect(pool.status()[0]).toMatchObject({ health: 'up', lastProbe: { ok: true, status: 204 } })
  })

  it('logs one warning at start for a pool origin whose certificate is not verified', async () => {
    const pool = origins([{ url: `wss://127.0.0.1:${await deadPort()}`, tls: { rejectUnauthorized: false } }], { probe: false })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', proxy(pool))
    const gateway = await gatewayServing(app)
    const warnings = gateway.logs.filter((line) => line.level === 40 && /rejectUnauthorized is false/.test(line.msg))
    expect(warnings).toHaveLength(1)
  })

  it('gives up after its timeout on an origin that never answers', async () => {
    const silent = net.createServer((socket) => socket.on('error', () => {}))
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    const held: net.Socket[] = []
    silent.on('connection', (socket) => held.push(socket))
    track({ close: () => new Promise<void>((resolve) => (held.forEach((socket) => socket.destroy()), silent.close(() => resolve()))) })
    const url = new URL(`http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`)
    await expect(probeOrigin(url, { method: 'HEAD', timeout: 50, tls: undefined, signal: new AbortController().signal })).rejects.toMatchObject({ code: 'ETIMEDOUT' })
  })
})
