import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import type { ServeOptions } from '../../src/node/index.ts'
import { expectNoOpenSockets, logsWith, startGateway, waitFor, type LogLine, type TestGateway } from '../helpers/gateway.ts'
import { startRawOrigin, startWsOrigin, switchingProtocols, type RawOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, parseResponse } from '../helpers/raw-client.ts'

const ORIGIN_SCRIPT = fileURLToPath(new URL('../fixtures/teardown-echo-origin.ts', import.meta.url))
const CLIENT_SCRIPT = fileURLToPath(new URL('../fixtures/teardown-client.ts', import.meta.url))

/** The bound on how soon one side's death must end the other side's connection. */
const TEARDOWN_BOUND_MS = 1_000

/**
 * For teardown tests: far beyond the test timeout, so the half-close fallback
 * (which destroys both sides eventually) cannot pass a test that prompt
 * teardown should pass.
 */
const NO_FALLBACK = { halfCloseTimeout: 120_000 }

// Everything a test starts, stopped in afterEach (gateways are checked for leaks first).
let gateways: TestGateway[] = []
let origins: { close(): Promise<void> }[] = []
let children: ChildProcess[] = []
let peers: net.Socket[] = []

afterEach(async () => {
  for (const child of children) {
    // Only the children this suite spawned, by their own PID.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  for (const peer of peers) peer.destroy()
  try {
    for (const gateway of gateways) await expectNoOpenSockets(gateway)
  } finally {
    await Promise.all(gateways.map((gateway) => gateway.close()))
    await Promise.all(origins.map((origin) => origin.close()))
    gateways = []
    origins = []
    children = []
    peers = []
  }
})

/** A gateway with one route, `/echo`, to `target`. */
async function gatewayTo(target: string, options: Omit<ServeOptions, 'logger' | 'port' | 'host'> = {}): Promise<TestGateway> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('/echo', websocket(target))
  const gateway = await startGateway(app, options)
  gateways.push(gateway)
  return gateway
}

async function wsOrigin(...args: Parameters<typeof startWsOrigin>): Promise<WsOrigin> {
  const origin = await startWsOrigin(...args)
  origins.push(origin)
  return origin
}

async function rawOrigin(...args: Parameters<typeof startRawOrigin>): Promise<RawOrigin> {
  const origin = await startRawOrigin(...args)
  origins.push(origin)
  return origin
}

/** Opens a ws client and waits for the handshake. */
async function open(url: string): Promise<WebSocket> {
  const client = new WebSocket(url)
  client.on('error', () => {})
  await once(client, 'open')
  return client
}

/** Runs a fixture script with this Node and resolves with the process and the first line it prints. */
async function runFixture(script: string, args: string[] = []): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const firstLine = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const newline = stdout.indexOf('\n')
      if (newline >= 0) resolve(stdout.slice(0, newline))
    })
    child.once('exit', (code, signal) => reject(new Error(`${script} exited (${code ?? signal}) before printing a line: ${stderr}`)))
  })
  return { child, firstLine }
}

/** The single 'connection closed' line, once the pipe has ended. */
async function closedLine(gateway: TestGateway): Promise<LogLine> {
  await waitFor(() => logsWith(gateway, 'connection closed').length > 0, 5_000, "the 'connection closed' log line")
  const lines = logsWith(gateway, 'connection closed')
  expect(lines).toHaveLength(1)
  return lines[0]!
}

/** True when a log line blames the given side: `closedBy: side`, or an error on that side. */
function blames(line: LogLine, side: 'client' | 'origin'): boolean {
  return line.closedBy === side || (line.closedBy === 'error' && typeof line.error === 'string' && line.error.startsWith(`${side} `))
}

// --- WebSocket framing for raw peers (RFC 6455 §5.2) ---

/** One frame; masked when `mask` is given (client → server frames must be, §5.3). */
function frame(payload: Buffer | string, opcode: number, mask?: Buffer): Buffer {
  const data = Buffer.from(payload)
  const length = data.length
  const maskBit = mask ? 0x80 : 0
  let header: Buffer
  if (length < 126) {
    header = Buffer.from([0x80 | opcode, maskBit | length])
  } else if (length < 65_536) {
    header = Buffer.alloc(4)
    header.writeUInt16BE(length, 2)
    header[1] = maskBit | 126
  } else {
    header = Buffer.alloc(10)
    header.writeBigUInt64BE(BigInt(length), 2)
    header[1] = maskBit | 127
  }
  header[0] = 0x80 | opcode
  if (!mask) return Buffer.concat([header, data])
  const masked = Buffer.alloc(length)
  for (let i = 0; i < length; i++) masked[i] = data[i]! ^ mask[i % 4]!
  return Buffer.concat([header, mask, masked])
}

const BINARY = 0x2
const TEXT = 0x1

/** A binary frame as a client sends it: masked with a fixed key. */
function clientFrame(payload: Buffer): Buffer {
  return frame(payload, BINARY, Buffer.from([0x37, 0xfa, 0x21, 0x3d]))
}

/** Splits unmasked (server → client) frames off the front of `bytes`; an incomplete tail is left. */
function parseFrames(bytes: Buffer): { frames: { opcode: number; payload: Buffer }[]; rest: Buffer } {
  const frames: { opcode: number; payload: Buffer }[] = []
  let offset = 0
  for (;;) {
    if (bytes.length - offset < 2) break
    const opcode = bytes[offset]! & 0x0f
    let length = bytes[offset + 1]! & 0x7f
    let start = offset + 2
    if (length === 126) {
      if (bytes.length - offset < 4) break
      length = bytes.readUInt16BE(offset + 2)
      start = offset + 4
    } else if (length === 127) {
      if (bytes.length - offset < 10) break
      length = Number(bytes.readBigUInt64BE(offset + 2))
      start = offset + 10
    }
    if (bytes.length < start + length) break
    frames.push({ opcode, payload: bytes.subarray(start, start + length) })
    offset = start + length
  }
  return { frames, rest: bytes.subarray(offset) }
}

/** Deterministic bytes that change at every position, so a shifted or dropped byte shows. */
function pattern(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8) + seed) & 0xff
  return bytes
}

/**
 * A raw TCP client of the gateway that keeps every byte it receives and can
 * wait for the 101 head and for frames after it.
 */
class RawClient {
  readonly socket: net.Socket
  #received = Buffer.alloc(0)
  #waiters = new Set<() => void>()

  constructor(port: number, options: { allowHalfOpen?: boolean } = {}) {
    this.socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false })
    this.socket.on('error', () => {})
    this.socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk])
      for (const waiter of this.#waiters) waiter()
    })
    this.socket.on('close', () => {
      for (const waiter of this.#waiters) waiter()
    })
    peers.push(this.socket)
  }

  /** Resolves with `take()`'s first defined result, re-checked on every chunk; rejects if the socket closes first. */
  #until<T>(take: (received: Buffer) => T | undefined, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const result = take(this.#received)
        if (result !== undefined) {
          this.#waiters.delete(check)
          resolve(result)
        } else if (this.socket.closed) {
          this.#waiters.delete(check)
          reject(new Error(`connection closed before ${what}; got ${JSON.stringify(this.#received.toString('latin1').slice(0, 200))}`))
        }
      }
      this.#waiters.add(check)
      check()
    })
  }

  /** The response head once complete, parsed. */
  head(): Promise<ReturnType<typeof parseResponse>> {
    return this.#until((received) => {
      const end = received.indexOf('\r\n\r\n')
      return end < 0 ? undefined : parseResponse(received.subarray(0, end + 4))
    }, 'the response head')
  }

  /** The first `count` frames after the response head. */
  frames(count: number): Promise<{ opcode: number; payload: Buffer }[]> {
    return this.#until((received) => {
      const end = received.indexOf('\r\n\r\n')
      if (end < 0) return undefined
      const { frames } = parseFrames(received.subarray(end + 4))
      return frames.length >= count ? frames.slice(0, count) : undefined
    }, `${count} frames`)
  }
}

describe('a dead peer process ends the other side', () => {
  it('ends the client connection within 1 s when the origin process is killed, and logs closedBy origin', async () => {
    const { child, firstLine } = await runFixture(ORIGIN_SCRIPT)
    const port = Number(firstLine)
    expect(Number.isInteger(port) && port > 0, `origin port line ${JSON.stringify(firstLine)}`).toBe(true)
    const gateway = await gatewayTo(`ws://127.0.0.1:${port}`, NO_FALLBACK)
    const client = await open(`${gateway.wsUrl}/echo`)
    // An echo proves the whole pipe is live before the origin dies.
    const echoed = once(client, 'message')
    client.send('ping')
    expect(String((await echoed)[0])).toBe('ping')

    const closed = once(client, 'close') as Promise<[number, Buffer]>
    const exited = once(child, 'exit')
    const killedAt = performance.now()
    expect(child.kill('SIGKILL')).toBe(true)
    const [code] = await closed
    const latency = performance.now() - killedAt
    console.info(`origin killed → client close: ${latency.toFixed(1)} ms`)
    await exited

    expect(latency).toBeLessThan(TEARDOWN_BOUND_MS)
    // No close frame came: the client saw an abnormal closure.
    expect(code).toBe(1006)
    const line = await closedLine(gateway)
    expect(blames(line, 'origin'), `closedBy ${String(line.closedBy)} ${String(line.error ?? '')}`).toBe(true)
  })

  it('ends the origin connection within 1 s when the client process is killed, and logs closedBy client', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const { child, firstLine } = await runFixture(CLIENT_SCRIPT, [`${gateway.wsUrl}/echo`])
    expect(firstLine).toBe('ready')
    expect(origin.sockets).toHaveLength(1)
    const originSide = origin.sockets[0]!
    expect(originSide.readyState).toBe(WebSocket.OPEN)

    const closed = once(originSide, 'close') as Promise<[number, Buffer]>
    const exited = once(child, 'exit')
    const killedAt = performance.now()
    expect(child.kill('SIGKILL')).toBe(true)
    const [code] = await closed
    const latency = performance.now() - killedAt
    console.info(`client killed → origin close: ${latency.toFixed(1)} ms`)
    await exited

    expect(latency).toBeLessThan(TEARDOWN_BOUND_MS)
    expect(code).toBe(1006)
    const line = await closedLine(gateway)
    expect(blames(line, 'client'), `closedBy ${String(line.closedBy)} ${String(line.error ?? '')}`).toBe(true)
  })
})

describe('bytes that arrive together with a handshake', () => {
  // 10 bytes fits one TCP segment with the handshake; 200 KiB spans many, so part
  // of the frame is in the upgrade's head and the rest follows on the socket.
  for (const size of [10, 200 * 1024]) {
    it(`forwards a ${size}-byte frame sent in the same write as the client handshake to the origin first and intact`, async () => {
      const received: Buffer[] = []
      const origin = await wsOrigin(
        (socket) => {
          socket.on('message', (data: Buffer, isBinary) => {
            received.push(data)
            socket.send(data, { binary: isBinary })
          })
        },
        { maxPayload: 1024 * 1024 },
      )
      const gateway = await gatewayTo(origin.url)
      const first = pattern(size, 1)
      const second = pattern(20, 2)

      const client = new RawClient(gateway.port)
      await once(client.socket, 'connect')
      // One write: the request head and a whole masked frame right behind it.
      client.socket.write(Buffer.concat([Buffer.from(handshakeRequest('/echo'), 'latin1'), clientFrame(first)]))
      const head = await client.head()
      expect(head.status).toBe(101)
      client.socket.write(clientFrame(second))

      const echoes = await client.frames(2)
      expect(received).toHaveLength(2)
      expect(received[0]!.equals(first), 'the early frame reached the origin first and intact').toBe(true)
      expect(received[1]!.equals(second)).toBe(true)
      expect(echoes.map((echo) => echo.opcode)).toEqual([BINARY, BINARY])
      expect(echoes[0]!.payload.equals(first)).toBe(true)
      expect(echoes[1]!.payload.equals(second)).toBe(true)

      client.socket.end()
      await once(client.socket, 'close')
      const line = await closedLine(gateway)
      expect(line.closedBy).toBe('client')
      // Both frames were relayed as sent: header + 4-byte mask + payload each.
      expect(line.bytesFromClient).toBe(clientFrame(first).length + clientFrame(second).length)
    })
  }

  it('forwards frames the origin sent in the same write as its 101, and those after, to the client in order', async () => {
    const big = pattern(100 * 1024, 3)
    const origin = await rawOrigin((connection) => {
      // One write: the 101 and a first unmasked frame right behind it.
      connection.socket.write(Buffer.concat([Buffer.from(switchingProtocols(connection), 'latin1'), frame('one', TEXT)]))
      connection.socket.write(frame('two', TEXT))
      setImmediate(() => {
        connection.socket.write(frame(big, BINARY))
        connection.socket.write(frame('four', TEXT))
      })
    })
    const gateway = await gatewayTo(origin.url)
    const client = new WebSocket(`${gateway.wsUrl}/echo`)
    client.on('error', () => {})
    const messages: string[] = []
    let bigMessage: Buffer | undefined
    const allArrived = new Promise<void>((resolve) => {
      client.on('message', (data: Buffer, isBinary) => {
        if (isBinary) {
          bigMessage = data
          messages.push('<binary>')
        } else {
          messages.push(data.toString())
        }
        if (messages.length === 4) resolve()
      })
    })
    await allArrived
    expect(messages).toEqual(['one', 'two', '<binary>', 'four'])
    expect(bigMessage?.equals(big)).toBe(true)

    const closed = once(client, 'close')
    client.terminate()
    await closed
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the origin socket to close')
    expect((await closedLine(gateway)).closedBy).toBe('client')
  })
})

describe('an error or close on one side tears down the other', () => {
  /** A raw origin that accepts every upgrade; the test drives its socket. */
  async function acceptingOrigin(): Promise<RawOrigin> {
    return rawOrigin((connection) => connection.socket.write(switchingProtocols(connection)))
  }

  it('closes the client when the origin resets its TCP connection, and logs the origin error', async () => {
    const origin = await acceptingOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const client = await open(`${gateway.wsUrl}/echo`)
    const closed = once(client, 'close') as Promise<[number, Buffer]>
    origin.connections[0]!.socket.resetAndDestroy()
    const [code] = await closed
    expect(code).toBe(1006)
    const line = await closedLine(gateway)
    expect(line).toMatchObject({ closedBy: 'error', error: 'origin ECONNRESET' })
  })

  it('closes the client when the origin drops its TCP connection without a close frame, and logs closedBy origin', async () => {
    const origin = await acceptingOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const client = await open(`${gateway.wsUrl}/echo`)
    const closed = once(client, 'close') as Promise<[number, Buffer]>
    origin.connections[0]!.socket.destroy()
    const [code] = await closed
    expect(code).toBe(1006)
    expect((await closedLine(gateway)).closedBy).toBe('origin')
  })

  it('closes the origin when the client resets its TCP connection, and logs the client error', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const client = new RawClient(gateway.port)
    await once(client.socket, 'connect')
    client.socket.write(handshakeRequest('/echo'))
    expect((await client.head()).status).toBe(101)
    const originSide = origin.sockets[0]!
    const closed = once(originSide, 'close') as Promise<[number, Buffer]>
    client.socket.resetAndDestroy()
    const [code] = await closed
    expect(code).toBe(1006)
    const line = await closedLine(gateway)
    expect(line).toMatchObject({ closedBy: 'error', error: 'client ECONNRESET' })
  })

  it('closes the origin when the client drops its TCP connection without a close frame, and logs closedBy client', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const client = await open(`${gateway.wsUrl}/echo`)
    const originSide = origin.sockets[0]!
    const closed = once(originSide, 'close') as Promise<[number, Buffer]>
    // terminate() destroys the TCP socket without a close frame.
    client.terminate()
    const [code] = await closed
    expect(code).toBe(1006)
    expect((await closedLine(gateway)).closedBy).toBe('client')
  })

  it('destroys a client that keeps its half open after the origin ended, once halfCloseTimeout has passed', async () => {
    const origin = await acceptingOrigin()
    const gateway = await gatewayTo(origin.url, { halfCloseTimeout: 300 })
    // allowHalfOpen: the client reads the gateway's FIN but never sends its own.
    const client = new RawClient(gateway.port, { allowHalfOpen: true })
    await once(client.socket, 'connect')
    client.socket.write(handshakeRequest('/echo'))
    expect((await client.head()).status).toBe(101)
    const ended = once(client.socket, 'end')
    origin.connections[0]!.socket.end()
    await ended
    expect(client.socket.writable, 'the client still holds its half').toBe(true)
    // The gateway gives up on the half-open client: the pipe ends and no socket is left.
    const line = await closedLine(gateway)
    expect(line.closedBy).toBe('origin')
    expect(gateway.connections).toBe(0)
    await waitFor(() => gateway.openSockets === 0, 5_000, 'the gateway to release the half-open client')
  })

  it('destroys an origin that keeps its half open after the client ended, once halfCloseTimeout has passed', async () => {
    // allowHalfOpen on the origin: it reads the gateway's FIN but never sends its own.
    const held: net.Socket[] = []
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      held.push(socket)
      socket.on('error', () => {})
      socket.once('data', (chunk: Buffer) => {
        const key = /sec-websocket-key:\s*(\S+)/i.exec(chunk.toString('latin1'))?.[1] ?? ''
        socket.write(switchingProtocols({ socket, requestHead: '', headers: { 'sec-websocket-key': key } }))
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    origins.push({
      close: async () => {
        for (const socket of held) socket.destroy()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      },
    })
    const gateway = await gatewayTo(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { halfCloseTimeout: 300 })
    const client = new RawClient(gateway.port)
    await once(client.socket, 'connect')
    client.socket.write(handshakeRequest('/echo'))
    expect((await client.head()).status).toBe(101)
    const originSide = held[0]!
    const originEnded = once(originSide, 'end')
    client.socket.end()
    await originEnded
    expect(originSide.writable, 'the origin still holds its half').toBe(true)
    // The gateway gives up on the half-open origin: the pipe ends and no socket is left.
    const line = await closedLine(gateway)
    expect(line.closedBy).toBe('client')
    await waitFor(() => gateway.openSockets === 0, 5_000, 'the gateway to release the half-open origin')
  })
})
