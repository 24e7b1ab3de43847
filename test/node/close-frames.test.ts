import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { Writable } from 'node:stream'
import { Hono } from 'hono'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { jwtAuth } from '../../middleware/index.ts'
import { websocket, type GatewayBindings, type WebSocketOptions } from '../../src/index.ts'
import { gatewayListeners, listenerOptions } from '../../src/node/listener.ts'
import type { GatewayCloseCause } from '../../src/node/pipe.ts'
import { resolveServeSettings } from '../../src/node/settings.ts'
import { closedLine, routesApp, startGateway, type GatewayOptions, type LogLine } from '../helpers/gateway.ts'
import { mint } from '../helpers/jwks.ts'
import { switchingProtocols } from '../helpers/origins.ts'
import { handshakeRequest } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'
import { frame, parseFrames, pattern, whenHead } from '../helpers/wire.ts'

const { gatewayWith, gateway: gatewayFor, wsOrigin, rawOrigin, track, open } = useResources()

const BINARY = 0x2
const CLOSE = 0x8
const KEY = Buffer.from([0x11, 0x22, 0x33, 0x44])

/** What a `ws` client or server saw at its close event. */
interface Closed {
  code: number
  reason: string
}

/** Resolves with a ws peer's close code and reason. */
async function closeOf(socket: WebSocket): Promise<Closed> {
  const [code, reason] = (await once(socket, 'close')) as [number, Buffer]
  return { code, reason: reason.toString() }
}

/** The messages a ws peer receives, as they arrive. */
function received(socket: WebSocket): Buffer[] {
  const messages: Buffer[] = []
  socket.on('message', (data: Buffer) => messages.push(Buffer.from(data)))
  return messages
}

/** A close frame's payload. */
function closePayload(code: number, reason: string): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
  payload.writeUInt16BE(code, 0)
  payload.write(reason, 2)
  return payload
}

/** Collects what a raw socket receives (after `initial`) and resolves once `until` holds for the frames so far. */
function framesOn(socket: net.Socket, initial: Buffer = Buffer.alloc(0)): (until: (frames: ReturnType<typeof parseFrames>['frames']) => boolean) => Promise<ReturnType<typeof parseFrames>['frames']> {
  let bytes = initial
  const waiters = new Set<() => void>()
  socket.on('data', (chunk: Buffer) => {
    bytes = Buffer.concat([bytes, chunk])
    for (const waiter of waiters) waiter()
  })
  return (until) =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const { frames } = parseFrames(bytes)
        if (until(frames)) {
          waiters.delete(check)
          resolve(frames)
        } else if (socket.readableEnded || socket.destroyed) {
          waiters.delete(check)
          reject(new Error(`socket closed with frames ${JSON.stringify(frames.map((f) => f.opcode))}`))
        }
      }
      waiters.add(check)
      socket.once('close', check)
      check()
    })
}

const hasClose = (frames: { opcode: number }[]): boolean => frames.some((f) => f.opcode === CLOSE)

/** A close frame's code and reason. */
function codeOf(payload: Buffer): Closed {
  return { code: payload.readUInt16BE(0), reason: payload.toString('utf8', 2) }
}

/** A raw client through the gateway: handshake sent, 101 read; resolves with the socket and a frame reader. */
async function rawClient(port: number, path: string): Promise<{ socket: net.Socket; frames: ReturnType<typeof framesOn> }> {
  const socket = track(net.connect(port, '127.0.0.1'))
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(handshakeRequest(path))
  const rest = await new Promise<Buffer>((resolve, reject) => {
    whenHead(socket, (head, after) => (head.startsWith('HTTP/1.1 101') ? resolve(after) : reject(new Error(head))))
  })
  return { socket, frames: framesOn(socket, rest) }
}

/**
 * A gateway built from its listeners (what `serve()` does inside), so a
 * test can reach its open pipes and close them as a drain or an operator
 * would: `closeAll(cause)`.
 */
async function pipeGateway(
  app: Hono<{ Bindings: GatewayBindings }>,
  options: GatewayOptions = {},
): Promise<{ wsUrl: string; port: number; logs: LogLine[]; closeAll: (cause: GatewayCloseCause, reason?: string) => void; connections: () => number }> {
  const logs: LogLine[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as LogLine)
      done()
    },
  })
  const settings = resolveServeSettings({ ...options, port: 0, host: '127.0.0.1' })
  const listeners = gatewayListeners(app, settings, pino({ level: 'debug' }, sink))
  const server = http.createServer(listenerOptions(settings))
  listeners.attach(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  track({
    close: async () => {
      for (const socket of listeners.sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  })
  return {
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    logs,
    closeAll: (cause, reason) => {
      for (const pipe of listeners.state.pipes) pipe.close(cause, reason === undefined ? {} : { closeReason: reason })
    },
    connections: () => listeners.state.pipes.size,
  }
}

/** A Hono app with one WebSocket route. */
function oneRoute(path: string, target: string, options?: WebSocketOptions): Hono<{ Bindings: GatewayBindings }> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all(path, websocket(target, options))
  return app
}

describe('close frames when the gateway ends a connection', () => {
  it('sends a ws client and a ws origin 1001 "idle timeout" on the idle timeout, masked toward the origin, and logs closedBy gateway', async () => {
    let originClosed!: Promise<Closed>
    const origin = await wsOrigin((socket) => (originClosed = closeOf(socket)))
    const gateway = await gatewayWith({ '/echo': origin.url }, { idleTimeout: 200, closeGrace: 2_000 })
    const client = await open(`${gateway.wsUrl}/echo`)
    expect(await closeOf(client)).toEqual({ code: 1001, reason: 'idle timeout' })
    // A ws server fails an unmasked client frame with 1002: 1001 here means the gateway masked its frame.
    expect(await originClosed).toEqual({ code: 1001, reason: 'idle timeout' })
    expect(await closedLine(gateway)).toMatchObject({ closedBy: 'gateway', closeCause: 'idle', closeCode: 1001, closeReason: 'idle timeout' })
  })

  it("sends Node's built-in WebSocket 1001 with the reason on the idle timeout and on the lifetime", async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith(
      { '/idle': [origin.url, { idleTimeout: 200 }], '/old': [origin.url, { maxLifetime: 300, lifetimeJitter: 0 }] },
      { closeGrace: 2_000 },
    )
    for (const [path, reason] of [
      ['/idle', 'idle timeout'],
      ['/old', 'max lifetime'],
    ] as const) {
      const client = new globalThis.WebSocket(`${gateway.wsUrl}${path}`)
      const closed = new Promise<CloseEvent>((resolve) => client.addEventListener('close', resolve))
      await new Promise((resolve, reject) => {
        client.addEventListener('open', resolve)
        client.addEventListener('error', reject)
      })
      const event = await closed
      expect({ code: event.code, reason: event.reason, wasClean: event.wasClean }).toEqual({ code: 1001, reason, wasClean: true })
    }
  })

  it('delivers every message sent before a lifetime close, both ways, then 1001 "max lifetime" to both sides', async () => {
    const fromClient: Buffer[] = []
    let originSide!: WebSocket
    let originClosed!: Promise<Closed>
    const origin = await wsOrigin((socket) => {
      originSide = socket
      socket.on('message', (data: Buffer) => fromClient.push(Buffer.from(data)))
      originClosed = closeOf(socket)
    })
    const gateway = await gatewayWith({ '/chat': origin.url }, { maxLifetime: 400, lifetimeJitter: 0, idleTimeout: 60_000, closeGrace: 2_000 })
    const client = await open(`${gateway.wsUrl}/chat`)
    const toClient = received(client)
    const sent = Array.from({ length: 40 }, (_, i) => pattern(1 + i * 997, i))
    for (const message of sent) client.send(message)
    for (const message of sent) originSide.send(message)
    const [clientClosed, originEnd] = await Promise.all([closeOf(client), originClosed])
    expect(clientClosed).toEqual({ code: 1001, reason: 'max lifetime' })
    expect(originEnd).toEqual({ code: 1001, reason: 'max lifetime' })
    expect(fromClient).toEqual(sent)
    expect(toClient).toEqual(sent)
  })

  it('puts the close frame toward the origin after a client frame that is still arriving, which reaches the origin whole', async () => {
    const message = pattern(200_000, 7)
    const masked = frame(BINARY, message, { mask: KEY })
    let originSide!: WebSocket
    const messages: Buffer[] = []
    let originClosed!: Promise<Closed>
    const origin = await wsOrigin((socket) => {
      originSide = socket
      socket.on('message', (data: Buffer) => messages.push(Buffer.from(data)))
      originClosed = closeOf(socket)
    })
    const gateway = await gatewayWith({ '/up': origin.url }, { maxLifetime: 300, lifetimeJitter: 0, closeGrace: 5_000 })
    const { socket, frames } = await rawClient(gateway.port, '/up')
    // Half a frame now; the lifetime comes while the origin waits for the rest.
    socket.write(masked.subarray(0, 100_000))
    const toClient = await frames(hasClose)
    expect(codeOf(toClient.find((f) => f.opcode === CLOSE)!.payload)).toEqual({ code: 1001, reason: 'max lifetime' })
    expect(originSide.readyState).toBe(WebSocket.OPEN)
    const clientClosed = once(socket, 'close')
    // The rest of the frame, then the client's close reply: the origin gets the whole message, then the gateway's 1001.
    socket.write(Buffer.concat([masked.subarray(100_000), frame(CLOSE, closePayload(1001, ''), { mask: KEY })]))
    expect(await originClosed).toEqual({ code: 1001, reason: 'max lifetime' })
    expect(messages).toHaveLength(1)
    expect(messages[0]!.equals(message)).toBe(true)
    // The gateway ends the client's connection once it has answered.
    await clientClosed
    expect(await closedLine(gateway)).toMatchObject({ closedBy: 'gateway', closeCause: 'lifetime', closeCode: 1001 })
  })

  it('puts the close frame toward the client after an origin frame that is still arriving, which reaches the client whole', async () => {
    const message = pattern(150_000, 3)
    const whole = frame(BINARY, message)
    let originSocket!: net.Socket
    const origin = await rawOrigin((connection) => {
      originSocket = connection.socket
      connection.socket.write(switchingProtocols(connection))
      connection.socket.write(whole.subarray(0, 70_000))
    })
    const gateway = await gatewayWith({ '/down': origin.url }, { maxLifetime: 300, lifetimeJitter: 0, closeGrace: 5_000 })
    const client = await open(`${gateway.wsUrl}/down`)
    const messages = received(client)
    const closed = closeOf(client)
    // The gateway's masked close reaches the origin at the lifetime (the client → origin direction is between frames).
    const toOrigin = await framesOn(originSocket)(hasClose)
    const close = toOrigin.find((f) => f.opcode === CLOSE)!
    expect(close.masked).toBe(true)
    expect(codeOf(close.payload)).toEqual({ code: 1001, reason: 'max lifetime' })
    // The rest of the frame, then the origin's close reply (unmasked, as a server's).
    originSocket.write(Buffer.concat([whole.subarray(70_000), frame(CLOSE, closePayload(1001, ''))]))
    expect(await closed).toEqual({ code: 1001, reason: 'max lifetime' })
    expect(messages).toHaveLength(1)
    expect(messages[0]!.equals(message)).toBe(true)
  })

  it('closes with 1001 "gateway draining" (and a second close is harmless) when a drain closes the pipe', async () => {
    let originClosed!: Promise<Closed>
    const origin = await wsOrigin((socket) => (originClosed = closeOf(socket)))
    const gateway = await pipeGateway(oneRoute('/echo', origin.url), { closeGrace: 2_000 })
    const wsClient = await open(`${gateway.wsUrl}/echo`)
    const native = new globalThis.WebSocket(`${gateway.wsUrl}/echo`)
    const nativeClosed = new Promise<CloseEvent>((resolve) => native.addEventListener('close', resolve))
    await new Promise((resolve) => native.addEventListener('open', resolve))
    const closed = closeOf(wsClient)
    gateway.closeAll('drain')
    gateway.closeAll('shutdown')
    expect(await closed).toEqual({ code: 1001, reason: 'gateway draining' })
    const event = await nativeClosed
    expect({ code: event.code, reason: event.reason }).toEqual({ code: 1001, reason: 'gateway draining' })
    expect(await originClosed).toEqual({ code: 1001, reason: 'gateway draining' })
    await expect.poll(() => gateway.connections()).toBe(0)
    const lines = gateway.logs.filter((line) => line.msg === 'connection closed')
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).toMatchObject({ closedBy: 'gateway', closeCause: 'drain', closeCode: 1001, closeReason: 'gateway draining' })
  })

  it("tells the origin first and relays every message it sent before answering, in order, then the client gets the gateway's 1001", async () => {
    // The origin streams numbered messages until the gateway's close frame reaches it (ws turns CLOSING there).
    let sent = 0
    let originClosed!: Promise<Closed>
    const origin = await wsOrigin((socket) => {
      originClosed = closeOf(socket)
      const stream = (): void => {
        if (socket.readyState !== WebSocket.OPEN) return
        socket.send(`m-${sent++}`)
        setImmediate(stream)
      }
      socket.once('message', stream)
    })
    const gateway = await pipeGateway(oneRoute('/feed', origin.url), { closeGrace: 5_000 })
    const client = await open(`${gateway.wsUrl}/feed`)
    const messages: string[] = []
    client.on('message', (data: Buffer) => messages.push(data.toString()))
    const closed = closeOf(client)
    client.send('start')
    await expect.poll(() => messages.length).toBeGreaterThan(20)
    gateway.closeAll('drain')
    expect(await closed).toEqual({ code: 1001, reason: 'gateway draining' })
    expect(await originClosed).toEqual({ code: 1001, reason: 'gateway draining' })
    // Everything the origin sent before it answered the close reached the client: none lost in flight, none out of order.
    expect(messages).toEqual(Array.from({ length: sent }, (_, i) => `m-${i}`))
  })

  it('relays what an origin sends after the close frame until half the grace has passed when it never answers, then sends the client 1001', async () => {
    const origin = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection))
      // No close reply, ever: one more message once the gateway's close frame has come.
      framesOn(connection.socket)(hasClose).then(
        () => connection.socket.write(frame(0x1, 'after your close')),
        () => {},
      )
    })
    const gateway = await pipeGateway(oneRoute('/mute', origin.url), { closeGrace: 600 })
    const client = await open(`${gateway.wsUrl}/mute`)
    const messages = received(client)
    const closed = closeOf(client)
    gateway.closeAll('operator')
    expect(await closed).toEqual({ code: 1001, reason: 'closed by the gateway' })
    expect(messages.map(String)).toEqual(['after your close'])
    await expect.poll(() => gateway.connections()).toBe(0)
  })

  it('sends the client 1001 as soon as an origin leaves without answering the close frame, not after the grace', async () => {
    const origin = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection))
      framesOn(connection.socket)(hasClose).then(
        () => connection.socket.end(),
        () => {},
      )
    })
    const gateway = await pipeGateway(oneRoute('/gone', origin.url), { closeGrace: 60_000 })
    const client = await open(`${gateway.wsUrl}/gone`)
    const closed = closeOf(client)
    gateway.closeAll('drain')
    // With a minute of grace, an answer that came at all came because the origin's FIN released it.
    expect(await closed).toEqual({ code: 1001, reason: 'gateway draining' })
    await expect.poll(() => gateway.connections()).toBe(0)
  })

  it("sends 1001 'gateway shutting down' for the shutdown cause, and an operator's own reason", async () => {
    const origin = await wsOrigin()
    const gateway = await pipeGateway(oneRoute('/echo', origin.url), { closeGrace: 2_000 })
    const first = await open(`${gateway.wsUrl}/echo`)
    const closed = closeOf(first)
    gateway.closeAll('shutdown')
    expect(await closed).toEqual({ code: 1001, reason: 'gateway shutting down' })
    const second = await open(`${gateway.wsUrl}/echo`)
    const closedToo = closeOf(second)
    gateway.closeAll('operator', 'maintenance, back in 5 minutes')
    expect(await closedToo).toEqual({ code: 1001, reason: 'maintenance, back in 5 minutes' })
  })

  it("sends ws clients and the origin 1001 'gateway shutting down' when the gateway is closed at once (gateway.close())", async () => {
    const originCloses: Promise<Closed>[] = []
    const origin = await wsOrigin((socket) => originCloses.push(closeOf(socket)))
    const gateway = await startGateway(routesApp({ '/echo': origin.url }))
    try {
      const clients = await Promise.all(Array.from({ length: 5 }, () => open(`${gateway.wsUrl}/echo`)))
      const closes = clients.map(closeOf)
      await gateway.close()
      for (const closed of await Promise.all(closes)) expect(closed).toEqual({ code: 1001, reason: 'gateway shutting down' })
      for (const closed of await Promise.all(originCloses)) expect(closed).toEqual({ code: 1001, reason: 'gateway shutting down' })
      const lines = gateway.logs.filter((line) => line.msg === 'connection closed')
      expect(lines).toHaveLength(5)
      for (const line of lines) expect(line).toMatchObject({ closedBy: 'gateway', closeCause: 'shutdown', closeCode: 1001 })
    } finally {
      await gateway.close()
    }
  })

  it('destroys a client that never answers the close frame once closeGrace has passed', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url }, { idleTimeout: 200, closeGrace: 300 })
    const { socket, frames } = await rawClient(gateway.port, '/echo')
    await frames(hasClose)
    // The raw client never answers: the gateway gives up after the grace.
    await once(socket, 'close')
    expect(await closedLine(gateway)).toMatchObject({ closedBy: 'gateway', closeCause: 'idle' })
  })

  it('keeps the close frames off a route with closeFrames: false, where an idle connection is dropped (1006)', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/blind': [origin.url, { closeFrames: false }] }, { idleTimeout: 200 })
    const client = await open(`${gateway.wsUrl}/blind`)
    expect((await closeOf(client)).code).toBe(1006)
    const line = await closedLine(gateway)
    expect(line).toMatchObject({ closedBy: 'gateway', closeCause: 'idle' })
    expect(line.closeCode, 'no close frame was sent').toBeUndefined()
  })
})

describe('who closed, in the connection-end log line', () => {
  it("logs closedBy client with the client's code and reason when the client closes", async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url })
    const client = await open(`${gateway.wsUrl}/echo`)
    const closed = closeOf(client)
    client.close(4000, 'bye from client')
    expect(await closed).toEqual({ code: 4000, reason: 'bye from client' })
    expect(await closedLine(gateway)).toMatchObject({ closedBy: 'client', closeCode: 4000, closeReason: 'bye from client' })
  })

  it("logs closedBy origin with the origin's code and reason when the origin closes, and relays its close frame", async () => {
    const origin = await wsOrigin((socket) => socket.on('message', () => socket.close(4001, 'bye from origin')))
    const gateway = await gatewayWith({ '/echo': origin.url })
    const client = await open(`${gateway.wsUrl}/echo`)
    const closed = closeOf(client)
    client.send('please close')
    expect(await closed).toEqual({ code: 4001, reason: 'bye from origin' })
    expect(await closedLine(gateway)).toMatchObject({ closedBy: 'origin', closeCode: 4001, closeReason: 'bye from origin' })
  })

  it('logs a close frame without a code as 1005', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url })
    const client = await open(`${gateway.wsUrl}/echo`)
    const closed = closeOf(client)
    client.close()
    expect((await closed).code).toBe(1005)
    expect(await closedLine(gateway)).toMatchObject({ closedBy: 'client', closeCode: 1005, closeReason: '' })
  })
})

describe('permessage-deflate through the tracker', () => {
  it('relays compressed messages intact both ways, then closes with 1001 on idle', async () => {
    let originSide!: WebSocket
    const fromClient: string[] = []
    const origin = await wsOrigin(
      (socket) => {
        originSide = socket
        socket.on('message', (data: Buffer) => fromClient.push(data.toString()))
      },
      { perMessageDeflate: { threshold: 0 } },
    )
    const gateway = await gatewayWith({ '/z': origin.url }, { idleTimeout: 300, closeGrace: 2_000 })
    const client = track(new WebSocket(`${gateway.wsUrl}/z`, { perMessageDeflate: { threshold: 0 } }))
    client.on('error', () => {})
    await once(client, 'open')
    expect(client.extensions).toMatch(/permessage-deflate/)
    const toClient: string[] = []
    client.on('message', (data: Buffer) => toClient.push(data.toString()))
    const messages = Array.from({ length: 20 }, (_, i) => `message ${i} `.repeat(50 + i * 40))
    for (const message of messages) client.send(message)
    for (const message of messages) originSide.send(message)
    expect(await closeOf(client)).toEqual({ code: 1001, reason: 'idle timeout' })
    expect(fromClient).toEqual(messages)
    expect(toClient).toEqual(messages)
  })
})

describe('jwtAuth({ closeOnTokenExpiry })', () => {
  const secret = new TextEncoder().encode('a-test-secret-of-at-least-32-bytes!!')

  it('closes the connection with 1008 "token expired" when the token expires, and leaves one without the option open', async () => {
    let originClosed!: Promise<Closed>
    const origin = await wsOrigin((socket) => {
      socket.on('message', (data: Buffer) => socket.send(data))
      if (!originClosed) originClosed = closeOf(socket)
    })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/expiring', jwtAuth({ secret, algorithms: ['HS256'], closeOnTokenExpiry: true }), websocket(origin.url))
    app.all('/lasting', jwtAuth({ secret, algorithms: ['HS256'] }), websocket(origin.url))
    const gateway = await gatewayFor(app, { closeGrace: 2_000 })
    // exp has whole seconds: 1–2 s from now.
    const exp = Math.floor(Date.now() / 1000) + 2
    const token = await mint({ alg: 'HS256', secret }, { sub: 'alice', exp })
    const headers = { authorization: `Bearer ${token}` }
    const expiring = track(new WebSocket(`${gateway.wsUrl}/expiring`, { headers }))
    expiring.on('error', () => {})
    await once(expiring, 'open')
    const lasting = track(new WebSocket(`${gateway.wsUrl}/lasting`, { headers }))
    lasting.on('error', () => {})
    await once(lasting, 'open')
    const echoes = received(expiring)
    expiring.send('before expiry')
    expect(await closeOf(expiring)).toEqual({ code: 1008, reason: 'token expired' })
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50)
    expect(echoes.map(String)).toEqual(['before expiry'])
    expect(await originClosed).toEqual({ code: 1008, reason: 'token expired' })
    const line = await closedLine(gateway, '/expiring')
    expect(line).toMatchObject({ closedBy: 'gateway', closeCause: 'token-expired', closeCode: 1008, closeReason: 'token expired' })
    // The same token, past its exp, on a route without the option: still open and relaying.
    expect(lasting.readyState).toBe(WebSocket.OPEN)
    const reply = once(lasting, 'message')
    lasting.send('still here')
    expect(String(((await reply) as [Buffer])[0])).toBe('still here')
    const closed = closeOf(lasting)
    lasting.close(1000)
    await closed
  })

  it('refuses a non-boolean closeOnTokenExpiry at start', () => {
    expect(() => jwtAuth({ secret, algorithms: ['HS256'], closeOnTokenExpiry: 'yes' as unknown as boolean })).toThrow(/closeOnTokenExpiry must be a boolean/)
  })
})

