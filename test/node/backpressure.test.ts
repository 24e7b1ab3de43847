import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import net from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor, type LogLine } from '../helpers/gateway.ts'
import { startRawOrigin, switchingProtocols, type RawOrigin, type RawOriginConnection } from '../helpers/origins.ts'
import { handshakeRequest, readHead } from '../helpers/raw-client.ts'
import { frameHeader, pattern } from '../helpers/wire.ts'

// The gateway runs as its own process (the `wsgate` CLI), so its resident
// memory can be read from /proc and nothing else shares it. A raw origin and
// a raw client in this process stream 200 MiB one way while the receiving
// side does not read. The sender respects its own backpressure (it waits for
// 'drain'): were it to ignore it, the unsent bytes would pile up in *this*
// process, not in the gateway, so the gateway's bound would be tested all the
// same; waiting lets the test see the backpressure arrive at the sender (it
// stalls long before 200 MiB) and keeps this process lean.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const ROUTES = 'test/fixtures/backpressure-routes.ts'

const MiB = 1024 * 1024
const FRAME_PAYLOAD = MiB
const FRAMES = 200
/** The gateway may not grow by this much over its baseline while a peer does not read. */
const RSS_BOUND = 64 * MiB
/** No byte handed on for this long while waiting for 'drain': the sender is held back. */
const STALL_MS = 750

/** A gateway started through the CLI as a child process. */
interface CliGateway {
  readonly child: ChildProcess
  readonly pid: number
  readonly port: number
  /** Every JSON log line written to stdout so far. */
  readonly logs: LogLine[]
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>
}

let gateway: CliGateway | undefined
let origin: RawOrigin | undefined
const clients: net.Socket[] = []

afterEach(async () => {
  for (const client of clients) client.destroy()
  clients.length = 0
  if (gateway) {
    const code = await gateway.stop()
    gateway = undefined
    expect(code, 'gateway exit code after SIGTERM').toBe(0)
  }
  await origin?.close()
  origin = undefined
})

/** Starts `wsgate start <routes> --port 0` proxying to `originUrl` and waits for its 'gateway listening' line. */
async function startCliGateway(originUrl: string): Promise<CliGateway> {
  const child = spawn(process.execPath, ['bin/wsgate.js', 'start', ROUTES, '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, ORIGIN_URL: originUrl, LOG_LEVEL: 'info', LOG_PRETTY: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: LogLine[] = []
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine)
    } catch {
      stderr += `${line}\n`
    }
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const listening = waitFor(() => logs.some((line) => line.msg === 'gateway listening') || child.exitCode !== null, 15_000, 'the CLI to listen')
  await listening
  const ready = logs.find((line) => line.msg === 'gateway listening')
  if (!ready || child.pid === undefined) {
    child.kill('SIGKILL')
    throw new Error(`wsgate CLI did not start (exit ${String(child.exitCode)}): ${stderr}`)
  }
  const pid = child.pid
  let stopped: Promise<number | null> | undefined
  return {
    child,
    pid,
    port: ready.port as number,
    logs,
    stop: () =>
      (stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGTERM')
        // SIGTERM closes every connection first; a gateway that hangs on it is killed and the test fails.
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        const [code, signal] = await exited
        clearTimeout(timer)
        if (signal === 'SIGKILL') throw new Error(`gateway ${pid} did not exit within 10 s of SIGTERM`)
        return code
      })()),
  }
}

/** Resident set size of a process, bytes. */
function rss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match) throw new Error(`no VmRSS for ${pid}`)
  return Number(match[1]) * 1024
}

/** Open socket descriptors of a process (TCP and Unix, its stdio pipes included). */
function socketCount(pid: number): number {
  let count = 0
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) count++
    } catch {
      // closed between listing and reading
    }
  }
  return count
}

/** Samples a process's RSS every 20 ms and keeps the peak. */
function sampleRss(pid: number): { readonly peak: number; stop(): number } {
  let peak = rss(pid)
  const sample = (): void => {
    peak = Math.max(peak, rss(pid))
  }
  const timer = setInterval(sample, 20)
  return {
    get peak() {
      sample()
      return peak
    },
    stop() {
      clearInterval(timer)
      sample()
      return peak
    },
  }
}

/** The payload every frame starts from; each frame stamps its index over it, so frames differ. */
const BASE_PAYLOAD = pattern(FRAME_PAYLOAD)

/** The all-zero masking key: it leaves a payload as is. */
const ZERO_MASK = Buffer.alloc(4)

/**
 * Binary frame `index` with a 1 MiB payload. Client frames must be masked;
 * they use the all-zero masking key, which leaves the payload as is (the
 * gateway never unmasks, and the origin here does not parse).
 */
function binaryFrame(index: number, masked: boolean): Buffer {
  const header = frameHeader(0x2, FRAME_PAYLOAD, masked ? { mask: ZERO_MASK } : {})
  const frame = Buffer.concat([header, BASE_PAYLOAD])
  frame.writeUInt32BE(index, header.length)
  frame.writeUInt32BE(index, frame.length - 4)
  return frame
}

/** Total bytes of the stream. */
function streamLength(masked: boolean): number {
  return FRAMES * ((masked ? 14 : 10) + FRAME_PAYLOAD)
}

/** Resolves on 'drain'; rejects if the socket closes first. */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      socket.off('close', onClose)
      resolve()
    }
    const onClose = (): void => {
      socket.off('drain', onDrain)
      reject(new Error('socket closed while waiting for drain'))
    }
    socket.once('drain', onDrain)
    socket.once('close', onClose)
  })
}

/** A sender writing the 200 MiB stream as fast as its socket accepts, waiting for 'drain' whenever write() says so. */
interface Pump {
  /** Bytes handed to write() so far. */
  readonly written: number
  /** ms since the sender last made progress, while it waits for 'drain'; 0 when not waiting. */
  stalledFor(): number
  /** Resolves with the SHA-256 of everything written once all of it is handed on and drained. */
  readonly done: Promise<string>
}

function pump(socket: net.Socket, masked: boolean): Pump {
  const hash = createHash('sha256')
  let written = 0
  let waitingSince: number | undefined
  const done = (async () => {
    for (let i = 0; i < FRAMES; i++) {
      const frame = binaryFrame(i, masked)
      hash.update(frame)
      written += frame.length
      if (!socket.write(frame)) {
        waitingSince = performance.now()
        await drained(socket)
        waitingSince = undefined
      }
    }
    return hash.digest('hex')
  })()
  done.catch(() => {}) // a failed test destroys the socket; the test awaits `done` itself
  return {
    get written() {
      return written
    },
    stalledFor: () => (waitingSince === undefined ? 0 : performance.now() - waitingSince),
    done,
  }
}

/** Reads `length` bytes from a paused socket (after `initial`) and resolves with their count and SHA-256. */
function readAll(socket: net.Socket, length: number, initial: Buffer = Buffer.alloc(0)): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256').update(initial)
    let bytes = initial.length
    const finish = (): void => {
      socket.off('data', onData)
      socket.off('close', onClose)
      resolve({ bytes, sha256: hash.digest('hex') })
    }
    const onData = (chunk: Buffer): void => {
      hash.update(chunk)
      bytes += chunk.length
      if (bytes >= length) finish()
    }
    const onClose = (): void => reject(new Error(`socket closed after ${bytes} of ${length} bytes`))
    socket.on('data', onData)
    socket.once('close', onClose)
    socket.resume()
    if (bytes >= length) finish()
  })
}

/** A raw client that completes the handshake through the gateway and then stops reading (its socket paused). */
async function upgradedClient(port: number): Promise<{ socket: net.Socket; rest: Buffer }> {
  const socket = net.connect(port, '127.0.0.1')
  clients.push(socket)
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(handshakeRequest('/stream'))
  const { head, rest } = await readHead(socket)
  const statusLine = head.split('\r\n')[0]
  if (statusLine !== 'HTTP/1.1 101 Switching Protocols') throw new Error(`upgrade refused: ${statusLine}`)
  return { socket, rest }
}

/** A raw origin that answers every upgrade with a valid 101 and hands its connections to the test, paused. */
async function pausedOrigin(): Promise<{ origin: RawOrigin; next: () => Promise<RawOriginConnection> }> {
  const waiting: ((connection: RawOriginConnection) => void)[] = []
  const ready: RawOriginConnection[] = []
  const started = await startRawOrigin((connection) => {
    connection.socket.pause()
    connection.socket.write(switchingProtocols(connection))
    const taker = waiting.shift()
    if (taker) taker(connection)
    else ready.push(connection)
  })
  origin = started
  return {
    origin: started,
    next: () => {
      const connection = ready.shift()
      return connection ? Promise.resolve(connection) : new Promise((resolve) => waiting.push(resolve))
    },
  }
}

/** The gateway's 'connection closed' line, once logged. */
async function connectionClosed(gw: CliGateway): Promise<LogLine> {
  await waitFor(() => gw.logs.some((line) => line.msg === 'connection closed'), 10_000, "the gateway's connection-closed line")
  return gw.logs.find((line) => line.msg === 'connection closed')!
}

const mb = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`

/**
 * Streams 200 MiB from one peer to the other through the gateway process
 * while the receiving peer does not read: backpressure must hold the sender
 * back with the gateway's memory bounded; once the receiver reads, every
 * byte must arrive in order, be counted in the 'connection closed' line, and
 * leave no socket behind in the gateway.
 */
async function expectBoundedStream(sender: 'origin' | 'client'): Promise<void> {
  const { origin: rawOrigin, next } = await pausedOrigin()
  const gw = (gateway = await startCliGateway(rawOrigin.url))
  const socketsBefore = socketCount(gw.pid)
  const { socket: client, rest } = await upgradedClient(gw.port)
  const { socket: originSocket } = await next()
  const fromClient = sender === 'client'
  const receiver = fromClient ? 'origin' : 'client'
  // Client frames are masked (4 bytes more each).
  const total = streamLength(fromClient)

  const baseline = rss(gw.pid)
  const sampler = sampleRss(gw.pid)
  const sending = pump(fromClient ? client : originSocket, fromClient)
  await waitFor(() => sending.stalledFor() > STALL_MS || sending.written === total, 60_000, `the ${sender} to be held back`)
  const stalledPeak = sampler.peak
  const writtenWhenStalled = sending.written

  // Backpressure reached the sender: with the receiver not reading, it could hand on only a fraction.
  expect(writtenWhenStalled).toBeLessThan(total)
  expect(stalledPeak - baseline).toBeLessThan(RSS_BOUND)

  // The receiver reads now: every byte arrives, in order (a client reads on from what came with the 101).
  const received = await (fromClient ? readAll(originSocket, total) : readAll(client, total, rest))
  const sent = await sending.done
  const flowingPeak = sampler.stop()
  expect(received.bytes).toBe(total)
  expect(received.sha256).toBe(sent)

  client.destroy()
  const closed = await connectionClosed(gw)
  expect(fromClient ? closed.bytesFromClient : closed.bytesFromOrigin).toBe(total)
  expect(socketCount(gw.pid), 'gateway sockets after the connection closed').toBe(socketsBefore)
  console.info(
    `backpressure ${sender}→${receiver}: baseline ${mb(baseline)}, peak while ${receiver} paused ${mb(stalledPeak)} ` +
      `(${sender} held at ${mb(writtenWhenStalled)} of ${mb(total)}), peak while flowing ${mb(flowingPeak)}`,
  )
}

describe('backpressure through the gateway process', () => {
  it('keeps gateway memory bounded when a client stops reading a 200 MB stream, then delivers every byte', async () => {
    await expectBoundedStream('origin')
  })

  it('keeps gateway memory bounded when an origin stops reading a 200 MB upload, then delivers every byte', async () => {
    await expectBoundedStream('client')
  })
})
