import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { closedLine, waitFor, type GatewayOptions, type LogLine, type TestGateway } from '../helpers/gateway.ts'
import { switchingProtocols, type RawOrigin } from '../helpers/origins.ts'
import { handshakeRequest, parseResponse } from '../helpers/raw-client.ts'
import { dropClient, openClient, useResources } from '../helpers/resources.ts'
import { frame, parseFrames, pattern } from '../helpers/wire.ts'

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
const { gatewayWith, wsOrigin, rawOrigin, track } = useResources()

/** A gateway with one route, `/echo`, to `target`. */
function gatewayTo(target: string, options?: GatewayOptions): Promise<TestGateway> {
  return gatewayWith({ '/echo': target }, options)
}

/** Opens a ws client (its errors after the handshake are expected: a peer dies) and waits for the handshake. */
function open(url: string): Promise<WebSocket> {
  return openClient(url, { ignoreErrors: true })
}

/** Runs a fixture script with this Node and resolves with the process and the first line it prints. */
async function runFixture(script: string, args: string[] = []): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  track(child)
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

/** True when a log line blames the given side: `closedBy: side` (with or without an error on that side). */
function blames(line: LogLine, side: 'client' | 'origin'): boolean {
  return line.closedBy === side
}

// --- WebSocket framing for raw peers (RFC 6455 §5.2) ---

const BINARY = 0x2
const TEXT = 0x1

/** A binary frame as a client sends it: masked with a fixed key. */
function clientFrame(payload: Buffer): Buffer {
  return frame(BINARY, payload, { mask: Buffer.from([0x37, 0xfa, 0x21, 0x3d]) })
}

/**
 * A raw TCP client of the gateway that keeps every byte it receives and can
 * wait for the 101 head and for frames after it.
 */
class RawClient {
  readonly socket: net.Socket
  #received = Buffer.alloc(0)
  #waiters = new Set<() => void>()

  /** Connects to the gateway on `port` and writes `request` (a handshake, maybe with frames right behind it). */
  static async connect(port: number, request: string | Buffer, options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    const client = new RawClient(port, options)
    await once(client.socket, 'connect')
    client.socket.write(request)
    return client
  }

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
    track(this.socket)
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
  /**
   * Kills `child` (the process of one peer) and checks that the other peer's
   * socket, `otherSide`, closes within the bound without a close frame and
   * that the gateway's 'connection closed' line blames the killed side.
   */
  async function expectKillTearsDown(
    child: ChildProcess,
    otherSide: WebSocket,
    gateway: TestGateway,
    killed: 'client' | 'origin',
  ): Promise<void> {
    const closed = once(otherSide, 'close') as Promise<[number, Buffer]>
    const exited = once(child, 'exit')
    const killedAt = performance.now()
    expect(child.kill('SIGKILL')).toBe(true)
    const [code] = await closed
    const latency = performance.now() - killedAt
    console.info(`${killed} killed → ${killed === 'origin' ? 'client' : 'origin'} close: ${latency.toFixed(1)} ms`)
    await exited

    expect(latency).toBeLessThan(TEARDOWN_BOUND_MS)
    // No close frame came: the other side saw an abnormal closure.
    expect(code).toBe(1006)
    const line = await closedLine(gateway)
    expect(blames(line, killed), `closedBy ${String(line.closedBy)} ${String(line.error ?? '')}`).toBe(true)
  }

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
    await expectKillTearsDown(child, client, gateway, 'origin')
  })

  it('ends the origin connection within 1 s when the client process is killed, and logs closedBy client', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const { child, firstLine } = await runFixture(CLIENT_SCRIPT, [`${gateway.wsUrl}/echo`])
    expect(firstLine).toBe('ready')
    expect(origin.sockets).toHaveLength(1)
    const originSide = origin.sockets[0]!
    expect(originSide.readyState).toBe(WebSocket.OPEN)
    await expectKillTearsDown(child, originSide, gateway, 'client')
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

      // One write: the request head and a whole masked frame right behind it.
      const client = await RawClient.connect(gateway.port, Buffer.concat([Buffer.from(handshakeRequest('/echo'), 'latin1'), clientFrame(first)]))
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
      connection.socket.write(Buffer.concat([Buffer.from(switchingProtocols(connection), 'latin1'), frame(TEXT, 'one')]))
      connection.socket.write(frame(TEXT, 'two'))
      setImmediate(() => {
        connection.socket.write(frame(BINARY, big))
        connection.socket.write(frame(TEXT, 'four'))
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

    await dropClient(client)
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the origin socket to close')
    expect((await closedLine(gateway)).closedBy).toBe('client')
  })
})

describe('an error or close on one side tears down the other', () => {
  /** A raw origin that accepts every upgrade; the test drives its socket. */
  async function acceptingOrigin(options: net.ServerOpts = {}): Promise<RawOrigin> {
    return rawOrigin((connection) => connection.socket.write(switchingProtocols(connection)), options)
  }

  /**
   * Runs `end` (one side ends its TCP connection) and checks that the other
   * side's socket, `otherSide`, closes without a close frame (1006); resolves
   * with the gateway's 'connection closed' line.
   */
  async function closedAbnormallyAfter(otherSide: WebSocket, gateway: TestGateway, end: () => void): Promise<LogLine> {
    const closed = once(otherSide, 'close') as Promise<[number, Buffer]>
    end()
    const [code] = await closed
    expect(code).toBe(1006)
    return closedLine(gateway)
  }

  it('closes the client when the origin resets its TCP connection, and logs the origin error', async () => {
    const origin = await acceptingOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const client = await open(`${gateway.wsUrl}/echo`)
    const line = await closedAbnormallyAfter(client, gateway, () => origin.connections[0]!.socket.resetAndDestroy())
    expect(line).toMatchObject({ closedBy: 'origin', error: 'origin ECONNRESET' })
  })

  it('closes the client when the origin drops its TCP connection without a close frame, and logs closedBy origin', async () => {
    const origin = await acceptingOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const client = await open(`${gateway.wsUrl}/echo`)
    const line = await closedAbnormallyAfter(client, gateway, () => origin.connections[0]!.socket.destroy())
    expect(line.closedBy).toBe('origin')
  })

  it('closes the origin when the client resets its TCP connection, and logs the client error', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const client = await RawClient.connect(gateway.port, handshakeRequest('/echo'))
    expect((await client.head()).status).toBe(101)
    const line = await closedAbnormallyAfter(origin.sockets[0]!, gateway, () => client.socket.resetAndDestroy())
    expect(line).toMatchObject({ closedBy: 'client', error: 'client ECONNRESET' })
  })

  it('closes the origin when the client drops its TCP connection without a close frame, and logs closedBy client', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayTo(origin.url, NO_FALLBACK)
    const client = await open(`${gateway.wsUrl}/echo`)
    // terminate() destroys the TCP socket without a close frame.
    const line = await closedAbnormallyAfter(origin.sockets[0]!, gateway, () => client.terminate())
    expect(line.closedBy).toBe('client')
  })

  it('destroys a client that keeps its half open after the origin ended, once halfCloseTimeout has passed', async () => {
    const origin = await acceptingOrigin()
    const gateway = await gatewayTo(origin.url, { halfCloseTimeout: 300 })
    // allowHalfOpen: the client reads the gateway's FIN but never sends its own.
    const client = await RawClient.connect(gateway.port, handshakeRequest('/echo'), { allowHalfOpen: true })
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
    const origin = await acceptingOrigin({ allowHalfOpen: true })
    const gateway = await gatewayTo(origin.url, { halfCloseTimeout: 300 })
    const client = await RawClient.connect(gateway.port, handshakeRequest('/echo'))
    expect((await client.head()).status).toBe(101)
    const originSide = origin.connections[0]!.socket
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
