import { once } from 'node:events'
import http from 'node:http'
import type net from 'node:net'
import { Hono } from 'hono'
import { Server as SocketIoServer } from 'socket.io'
import { io as connectSocketIo, type Socket as SocketIoClient } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { origins, proxy, type GatewayBindings, type OriginsOptions } from '../../src/index.ts'
import { waitFor, type TestGateway } from '../helpers/gateway.ts'
import { useResources } from '../helpers/resources.ts'

// The proof that sticky routing matters: socket.io clients start with HTTP
// long-polling (several requests, each carrying the session id) and then
// upgrade to WebSocket; a socket.io server knows only the sessions it made.
// Two real socket.io servers sit behind one proxy() route as one pool.

const { gateway: gatewayServing, track } = useResources()

/** What one socket.io origin saw. */
interface SocketIoOrigin {
  readonly name: string
  readonly url: string
  /** Polling requests (plain HTTP under /socket.io/), with their session id if any. */
  readonly polls: { method: string; sid: string | null }[]
  /** WebSocket upgrade requests, with their session id. */
  readonly upgrades: (string | null)[]
  /** Engine.IO sessions this server made. */
  readonly sessions: Set<string>
  /** Session ids of requests this server did not know (400 "Session ID unknown"). */
  readonly unknownSessions: string[]
  close(): Promise<void>
}

async function socketIoOrigin(name: string): Promise<SocketIoOrigin> {
  const server = http.createServer()
  const sockets = new Set<net.Socket>()
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const origin = {
    name,
    url: '',
    polls: [] as { method: string; sid: string | null }[],
    upgrades: [] as (string | null)[],
    sessions: new Set<string>(),
    unknownSessions: [] as string[],
    close: async () => {},
  }
  const io = new SocketIoServer(server)
  // Added after socket.io attached (it takes over 'request'), and put first, so every request is counted.
  server.prependListener('request', (request: http.IncomingMessage) => {
    const sid = new URL(request.url ?? '/', 'http://origin').searchParams.get('sid')
    origin.polls.push({ method: request.method ?? '', sid })
    if (sid && !origin.sessions.has(sid)) origin.unknownSessions.push(sid)
  })
  server.prependListener('upgrade', (request: http.IncomingMessage) => {
    const sid = new URL(request.url ?? '/', 'http://origin').searchParams.get('sid')
    origin.upgrades.push(sid)
    if (sid && !origin.sessions.has(sid)) origin.unknownSessions.push(sid)
  })
  io.engine.on('connection', (socket: { id: string }) => origin.sessions.add(socket.id))
  io.on('connection', (socket) => {
    socket.on('hello', (text: string, reply: (answer: string) => void) => reply(`${name}: ${text}`))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  origin.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  origin.close = async () => {
    io.disconnectSockets(true)
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => io.close(() => resolve()))
  }
  return track(origin)
}

/** A gateway with `/socket.io/*` → proxy(pool of both origins). */
async function gatewayFor(a: SocketIoOrigin, b: SocketIoOrigin, options: OriginsOptions): Promise<TestGateway> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('/socket.io/*', proxy(origins([a.url, b.url], { probe: false, ...options })))
  return gatewayServing(app)
}

/** A socket.io client through the gateway: long-polling first, then the upgrade (socket.io's default), no reconnection. */
function client(gateway: TestGateway, headers: Record<string, string> = {}): SocketIoClient {
  const socket = connectSocketIo(gateway.url, { transports: ['polling', 'websocket'], reconnection: false, forceNew: true, extraHeaders: headers })
  track({ close: async () => void socket.disconnect() })
  return socket
}

describe('socket.io behind a pool of two origins', () => {
  it('with a sticky hash, every polling request and the upgrade reach the origin that made the session, and messages flow', async () => {
    const a = await socketIoOrigin('a')
    const b = await socketIoOrigin('b')
    const gateway = await gatewayFor(a, b, { strategy: { hash: (c) => c.env.wsgate.clientAddress } })

    const socket = client(gateway)
    try {
      await new Promise((resolve) => socket.once('connect', () => resolve(undefined)))
      expect(socket.io.engine.transport.name).toBe('polling')
      expect(await socket.emitWithAck('hello', 'over polling')).toMatch(/^[ab]: over polling$/)
      if (socket.io.engine.transport.name !== 'websocket') await new Promise((resolve) => socket.io.engine.once('upgrade', () => resolve(undefined)))
      expect(socket.io.engine.transport.name).toBe('websocket')
      const answer = await socket.emitWithAck('hello', 'over websocket')

      const used = answer.startsWith('a:') ? a : b
      const other = used === a ? b : a
      expect(answer).toBe(`${used.name}: over websocket`)
      const sid = socket.io.engine.id
      expect(used.sessions.has(sid)).toBe(true)
      // The handshake (no sid) and every later poll, GET and POST, with the session's id; then its upgrade.
      expect(used.polls.length).toBeGreaterThanOrEqual(3)
      expect(used.polls.filter((poll) => poll.sid !== null).every((poll) => poll.sid === sid)).toBe(true)
      expect(new Set(used.polls.map((poll) => poll.method))).toEqual(new Set(['GET', 'POST']))
      expect(used.upgrades).toEqual([sid])
      expect(used.unknownSessions).toEqual([])
      expect(other.polls).toEqual([])
      expect(other.upgrades).toEqual([])
    } finally {
      socket.disconnect()
      await waitFor(() => gateway.connections === 0, 5_000, 'the pipe to close')
    }
  })

  it('with a sticky hash on a header, a dozen clients each keep their session on one origin, spread over both', async () => {
    const a = await socketIoOrigin('a')
    const b = await socketIoOrigin('b')
    const gateway = await gatewayFor(a, b, { strategy: { hash: (c) => c.req.header('x-client-id') } })
    const placed: string[] = []
    for (let i = 0; i < 12; i++) {
      const socket = client(gateway, { 'x-client-id': `client-${i}` })
      try {
        await new Promise((resolve) => socket.once('connect', () => resolve(undefined)))
        if (socket.io.engine.transport.name !== 'websocket') await new Promise((resolve) => socket.io.engine.once('upgrade', () => resolve(undefined)))
        const answer = await socket.emitWithAck('hello', `client ${i}`)
        const used = answer.startsWith('a:') ? a : b
        const other = used === a ? b : a
        const sid = socket.io.engine.id
        expect(used.sessions.has(sid)).toBe(true)
        expect(used.upgrades).toContain(sid)
        expect(other.polls.some((poll) => poll.sid === sid) || other.upgrades.includes(sid)).toBe(false)
        placed.push(used.name)
      } finally {
        socket.disconnect()
      }
    }
    expect(new Set(placed)).toEqual(new Set(['a', 'b']))
    expect([...a.unknownSessions, ...b.unknownSessions]).toEqual([])
    await waitFor(() => gateway.connections === 0, 5_000, 'the pipes to close')
  })

  it('without stickiness (round robin), the session lands on both origins and breaks', async () => {
    const a = await socketIoOrigin('a')
    const b = await socketIoOrigin('b')
    const gateway = await gatewayFor(a, b, { strategy: 'weighted' })

    const socket = client(gateway)
    const outcome = await new Promise<string>((resolve) => {
      socket.once('connect', () => resolve('connect'))
      socket.once('connect_error', (error) => resolve(`connect_error: ${error.message}`))
    })
    // The handshake went to one origin, the next request to the other, which does not know the session.
    await waitFor(() => a.unknownSessions.length + b.unknownSessions.length > 0, 5_000, 'a request with a session id its origin does not know')
    expect(a.polls.length).toBeGreaterThan(0)
    expect(b.polls.length).toBeGreaterThan(0)
    expect(outcome).toMatch(/^connect_error/)
    expect(socket.connected).toBe(false)
  })
})
