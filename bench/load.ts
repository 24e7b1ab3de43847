/**
 * The benchmark's load client, on raw sockets: a hand-made handshake with a
 * fresh `Sec-WebSocket-Key` each (16 random bytes, as a browser sends; the
 * 101's `Sec-WebSocket-Accept` must answer that key), pre-built masked
 * frames, and no frame parsing on the hot path — it counts bytes. The origin
 * echoes every byte, so each mode checks that everything sent came back
 * (exact counts per connection, and each chunk's first and last byte where
 * the repeated frame puts them).
 *
 * Run as its own process by bench/run.ts; one JSON command per stdin line,
 * one JSON answer per stdout line:
 *   {"id":1,"mode":"pingpong","target":{...},"connections":50,"size":32,"warmupMs":1000,"durationMs":5000,"cpuPids":[..]}
 *   → {"id":1,"result":{...}} or {"id":1,"error":"..."}
 * The idle mode answers {"id":n,"event":"holding"} once its connections are
 * open and verified, and releases them on {"id":n,"release":true}.
 */
import net from 'node:net'
import { createInterface } from 'node:readline'
import { CLOCK_TICKS, cpuJiffies, cpuSeconds, cpuTimes, rssBytes, threadCpuSeconds } from './proc.ts'
import { acceptFor, acceptIn, CLOSE_FRAME, freshKey, handshakeTemplate, headEnd, maskedFrame } from './wire.ts'

/** Where the client connects. */
export interface LoadTarget {
  port: number
  path: string
  /** Extra handshake headers, e.g. `Authorization`. */
  headers?: Record<string, string>
}

interface CommonCommand {
  id: number
  target: LoadTarget
  /** Source addresses to spread connections over (past the ~28k ephemeral ports per address pair). */
  localAddresses: string[]
  /** The proxy's processes: CPU read at the window's edges. */
  cpuPids: number[]
  /** The origin's processes, for the same reading. */
  originPids: number[]
}

export type LoadCommand = CommonCommand &
  (
    | { mode: 'pingpong'; connections: number; size: number; warmupMs: number; durationMs: number; rate?: number }
    | { mode: 'stream'; connections: number; size: number; warmupMs: number; durationMs: number; rateMiBps?: number; rssPids?: number[] }
    | { mode: 'handshake'; concurrency: number; warmupMs: number; durationMs: number; rate?: number }
    | { mode: 'idle'; connections: number; concurrency: number }
  )

/** A command before the harness numbers it. */
export type LoadRequest = LoadCommand extends infer C ? (C extends LoadCommand ? Omit<C, 'id'> : never) : never

/** CPU seconds used during the measured window. */
export interface WindowCpu {
  proxy: number
  /** The part of `proxy` spent in the kernel (system time). */
  proxySystem: number
  /** `proxy` by thread: `main`, V8's GC helpers (`V8Worker`), libuv's pool (`libuv-worker`), … */
  proxyThreads: Record<string, number>
  origin: number
  client: number
  /**
   * CPU seconds the whole machine was busy (/proc/stat). Less proxy, origin
   * and client, it is other work that ran during the window: the harness
   * repeats a measurement that other work disturbed.
   */
  machine: number
}

export interface PingPongResult {
  roundTrips: number
  seconds: number
  /** Round trips per second. */
  rate: number
  /** Open loop: the round trips per second offered, and sends that found every connection busy. */
  offeredRate?: number
  missed?: number
  p50Micros: number
  p99Micros: number
  cpu: WindowCpu
  /** Bytes sent and echoed back over the whole run, warm-up included; equal, or the run failed. */
  bytesChecked: number
}

export interface StreamResult {
  /** Bytes echoed back during the window. */
  bytes: number
  seconds: number
  /** MiB/s echoed back (each byte crossed the proxy once each way). */
  mibPerSec: number
  /** Paced: the MiB/s offered. */
  offeredMiBps?: number
  cpu: WindowCpu
  bytesChecked: number
  /** With `rssPids`: the proxy's RSS, bytes. */
  rss?: StreamRss
}

/**
 * RSS (VmRSS) of the proxy's processes around a stream run: before its
 * connections open (the proxy idle), at the end of the measured window, and
 * the highest of the samples taken every RSS_SAMPLE_MS from the first
 * connection's open to the window's end (warm-up included).
 */
export interface StreamRss {
  idle: number
  end: number
  peak: number
  samples: number
}

/** How often a stream run reads the proxy's RSS for its peak, ms: /proc reads of a few µs, on the client's core. */
const RSS_SAMPLE_MS = 100

export interface HandshakeResult {
  handshakes: number
  seconds: number
  rate: number
  /** With a paced load: handshakes started per second, offered. */
  offeredRate?: number
  /** With a paced load: starts skipped because `concurrency` were in flight (the proxy fell behind). */
  missed?: number
  /** Connect to the end of the 101 head, ms. */
  p50Ms: number
  p99Ms: number
  cpu: WindowCpu
}

export interface IdleResult {
  opened: number
  /** Time to open and verify them all, s. */
  openSeconds: number
}

/** How long a connection may take to get its 101, or a run to drain, before the run fails (ms). */
const STEP_TIMEOUT = 30_000

/** Payload of the frame that verifies a fresh connection (handshake and idle modes). */
const PROBE = maskedFrame(16)

let sourceIndex = 0

/** Next source address, round robin. */
function nextSource(addresses: readonly string[]): string | undefined {
  if (addresses.length === 0) return undefined
  sourceIndex = (sourceIndex + 1) % addresses.length
  return addresses[sourceIndex]
}

/** An open, upgraded connection and the bytes that came right after its 101 head. */
interface Upgraded {
  socket: net.Socket
  early: Buffer
  /** ms from connect() to the end of the 101 head. */
  ms: number
}

/** The target's handshake request with the key given; built once per run (see handshakeTemplate). */
type RequestWithKey = (key: string) => Buffer

/**
 * Connects, sends the request with a fresh key and waits for a 101 head
 * whose `Sec-WebSocket-Accept` answers that key; anything else rejects.
 */
function upgrade(target: LoadTarget, requestWithKey: RequestWithKey, localAddress: string | undefined): Promise<Upgraded> {
  const key = freshKey()
  const request = requestWithKey(key)
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = net.connect({ port: target.port, host: '127.0.0.1', noDelay: true, ...(localAddress ? { localAddress } : {}) })
    let buffered: Buffer = Buffer.alloc(0)
    const fail = (reason: string): void => {
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(reason))
    }
    const timer = setTimeout(() => fail(`no 101 within ${STEP_TIMEOUT} ms`), STEP_TIMEOUT)
    socket.once('connect', () => socket.write(request))
    socket.on('error', (error) => fail(`connection failed: ${(error as NodeJS.ErrnoException).code ?? error.message}`))
    socket.once('close', () => fail(`closed before the 101: ${JSON.stringify(buffered.toString('latin1').slice(0, 120))}`))
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      const end = headEnd(buffered)
      if (end < 0) return
      socket.off('data', onData)
      socket.removeAllListeners('close')
      socket.removeAllListeners('error')
      clearTimeout(timer)
      const ms = performance.now() - started
      const head = buffered.toString('latin1', 0, end)
      if (!head.startsWith('HTTP/1.1 101 ')) {
        socket.destroy()
        reject(new Error(`not upgraded: ${JSON.stringify(head.split('\r\n')[0])}`))
        return
      }
      // The key was this handshake's own: an accept for another key (a proxy's cache, a mixed-up connection) fails the run.
      const accept = acceptIn(head)
      if (accept !== acceptFor(key)) {
        socket.destroy()
        reject(new Error(`101 with Sec-WebSocket-Accept ${JSON.stringify(accept ?? null)}, not ${acceptFor(key)} for the key sent (${key})`))
        return
      }
      socket.pause()
      resolve({ socket, early: buffered.subarray(end), ms })
    }
    socket.on('data', onData)
  })
}

/** Sends one probe frame and waits for exactly its bytes back (early bytes first); rejects on anything else. */
function probe(connection: Upgraded): Promise<void> {
  const { socket } = connection
  return new Promise((resolve, reject) => {
    let got: Buffer = connection.early.length > 0 ? Buffer.from(connection.early) : Buffer.alloc(0)
    const done = (error?: Error): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      socket.pause()
      if (error) {
        socket.destroy()
        reject(error)
      } else resolve()
    }
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk])
      if (got.length > PROBE.length) done(new Error(`probe: ${got.length} bytes back for ${PROBE.length} sent`))
      else if (got.length === PROBE.length) done(got.equals(PROBE) ? undefined : new Error('probe: the echoed bytes differ from those sent'))
    }
    const onClose = (): void => done(new Error('probe: connection closed before the echo'))
    const timer = setTimeout(() => done(new Error(`probe: no echo within ${STEP_TIMEOUT} ms`)), STEP_TIMEOUT)
    socket.on('data', onData)
    socket.on('close', onClose)
    socket.on('error', () => {})
    socket.resume()
    socket.write(PROBE)
  })
}

/**
 * Closes a quiet connection the way a WebSocket client does: a close frame,
 * which the origin echoes before it closes the TCP connection first; resolves
 * once the socket has fully closed (destroyed if that takes too long).
 */
function closeConnection(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) return resolve()
    const timer = setTimeout(() => socket.destroy(), STEP_TIMEOUT)
    socket.removeAllListeners('data')
    socket.removeAllListeners('close')
    socket.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    socket.on('error', () => {})
    socket.on('data', () => {})
    socket.resume()
    socket.write(CLOSE_FRAME)
  })
}

/** Opens `count` verified connections with at most `concurrency` handshakes in flight. */
async function openMany(command: CommonCommand, count: number, concurrency: number): Promise<net.Socket[]> {
  const request = handshakeTemplate(command.target.path, command.target.port, command.target.headers)
  const sockets: net.Socket[] = []
  let next = 0
  let failure: Error | undefined
  const worker = async (): Promise<void> => {
    while (next < count && !failure) {
      next++
      try {
        const connection = await upgrade(command.target, request, nextSource(command.localAddresses))
        sockets.push(connection.socket)
        await probe(connection)
      } catch (error) {
        failure ??= error as Error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  if (failure) {
    for (const socket of sockets) socket.destroy()
    throw failure
  }
  return sockets
}

/** A latency histogram: 0.1 µs buckets up to 50 ms, exact values beyond. */
class Histogram {
  readonly #buckets = new Uint32Array(500_000)
  readonly #overflow: number[] = []
  count = 0

  /** Records a latency in ms. */
  add(ms: number): void {
    const bucket = Math.floor(ms * 10_000)
    if (bucket < this.#buckets.length) this.#buckets[bucket]!++
    else this.#overflow.push(ms)
    this.count++
  }

  /** The `q` quantile, ms. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN
    const rank = Math.ceil(q * this.count)
    let seen = 0
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i]!
      if (seen >= rank) return (i + 0.5) / 10_000
    }
    this.#overflow.sort((a, b) => a - b)
    return this.#overflow[rank - seen - 1] ?? this.#overflow.at(-1)!
  }
}

/** CPU readings at the window's edges. */
function cpuNow(command: CommonCommand): WindowCpu {
  const own = process.cpuUsage()
  const proxy = cpuTimes(command.cpuPids)
  return {
    proxy: proxy.user + proxy.system,
    proxySystem: proxy.system,
    proxyThreads: threadCpuSeconds(command.cpuPids),
    origin: cpuSeconds(command.originPids),
    client: (own.user + own.system) / 1e6,
    machine: cpuJiffies().busy / CLOCK_TICKS,
  }
}

function cpuSince(command: CommonCommand, start: WindowCpu): WindowCpu {
  const end = cpuNow(command)
  const proxyThreads: Record<string, number> = {}
  for (const [name, seconds] of Object.entries(end.proxyThreads)) proxyThreads[name] = seconds - (start.proxyThreads[name] ?? 0)
  return {
    proxy: end.proxy - start.proxy,
    proxySystem: end.proxySystem - start.proxySystem,
    proxyThreads,
    origin: end.origin - start.origin,
    client: end.client - start.client,
    machine: end.machine - start.machine,
  }
}

/** What a measured window saw: how far the mode's counter moved, for how long, and the CPU used meanwhile. */
interface Window {
  count: number
  seconds: number
  cpu: WindowCpu
}

/**
 * After the warm-up, reads CPU, `counter()` and the clock, then calls
 * `onStart`; after the window, reads the clock and CPU, calls `onEnd`, reads
 * `counter()` again and resolves with the differences. The callbacks only
 * flip the mode's flags; the hot paths read them as before.
 */
function measureWindow(
  command: CommonCommand & { warmupMs: number; durationMs: number },
  counter: () => number,
  onStart: () => void,
  onEnd: () => void,
): Promise<Window> {
  return new Promise((resolve) => {
    setTimeout(() => {
      const startCpu = cpuNow(command)
      const startCount = counter()
      const startTime = performance.now()
      onStart()
      setTimeout(() => {
        const seconds = (performance.now() - startTime) / 1000
        const cpu = cpuSince(command, startCpu)
        onEnd()
        resolve({ count: counter() - startCount, seconds, cpu })
      }, command.durationMs)
    }, command.warmupMs)
  })
}

/** Waits for `predicate`, checking every 5 ms; rejects after STEP_TIMEOUT with `what`. */
async function until(predicate: () => boolean, what: string, failed: () => Error | undefined): Promise<void> {
  const deadline = performance.now() + STEP_TIMEOUT
  while (!predicate()) {
    const error = failed()
    if (error) throw error
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const error = failed()
  if (error) throw error
}

/**
 * Calls `send(count)` with the number of sends due at `perSecond` since the
 * start, every millisecond (an open-loop pacer: the offered load does not
 * depend on how fast answers come back). Returns a function that stops it.
 */
function pace(perSecond: number, send: (count: number) => void): () => void {
  const started = performance.now()
  let issued = 0
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * perSecond) - issued
    if (due > 0) {
      issued += due
      send(due)
    }
  }, 1)
  return () => clearInterval(timer)
}

/**
 * C connections with at most one S-byte message in flight each. Without
 * `rate`, each sends its next message as soon as the echo is back (closed
 * loop: the most round trips/s the path allows, latency under that load);
 * with `rate`, messages go out at that many per second in total to idle
 * connections (open loop: the proxy's CPU per message at the same load for
 * every target, and latency without queueing). A send that finds every
 * connection busy is counted as missed.
 */
async function pingPong(command: Extract<LoadCommand, { mode: 'pingpong' }>): Promise<PingPongResult> {
  const frame = maskedFrame(command.size)
  const frameLength = frame.length
  const sockets = await openMany(command, command.connections, 64)
  const histogram = new Histogram()
  const { rate } = command
  let running = true
  let measuring = false
  let roundTrips = 0
  let inFlight = 0
  let missed = 0
  let failure: Error | undefined
  let bytesChecked = 0
  const idle: (() => void)[] = []

  for (const socket of sockets) {
    let pending = 0
    let received = 0
    let sentAt = 0
    const send = (): void => {
      sentAt = performance.now()
      pending = frameLength
      inFlight++
      socket.write(frame)
    }
    socket.on('data', (chunk: Buffer) => {
      const offset = received % frameLength
      received += chunk.length
      pending -= chunk.length
      if (pending < 0 || chunk[0] !== frame[offset] || chunk[chunk.length - 1] !== frame[(received - 1) % frameLength]) {
        failure ??= new Error(pending < 0 ? 'pingpong: more bytes came back than were sent' : 'pingpong: echoed bytes out of place')
        return
      }
      if (pending > 0) return
      const now = performance.now()
      if (measuring) histogram.add(now - sentAt)
      roundTrips++
      inFlight--
      bytesChecked += frameLength
      if (rate !== undefined) idle.push(send)
      else if (running) send()
    })
    socket.on('close', () => void (failure ??= new Error('pingpong: a connection closed mid-run')))
    socket.resume()
    if (rate === undefined) send()
    else idle.push(send)
  }
  const stopPacer =
    rate === undefined
      ? () => {}
      : pace(rate, (count) => {
          for (let i = 0; i < count; i++) {
            const next = idle.shift()
            if (next) next()
            else if (measuring) missed++
          }
        })

  const { count, seconds, cpu } = await measureWindow(
    command,
    () => roundTrips,
    () => void (measuring = true),
    () => {
      measuring = false
      running = false
      stopPacer()
    },
  )
  const result: Omit<PingPongResult, 'bytesChecked'> = {
    roundTrips: count,
    seconds,
    rate: count / seconds,
    ...(rate !== undefined ? { offeredRate: rate, missed } : {}),
    p50Micros: histogram.quantile(0.5) * 1000,
    p99Micros: histogram.quantile(0.99) * 1000,
    cpu,
  }
  await until(() => inFlight === 0, 'the last round trips', () => failure)
  await Promise.all(sockets.map(closeConnection))
  return { ...result, bytesChecked }
}

/**
 * C connections writing S-byte frames and reading the echo. Without
 * `rateMiBps`, as fast as backpressure allows (MiB/s the path carries); with
 * it, at that offered rate in total (the proxy's CPU per MiB at the same load
 * for every target). With `rssPids`, the proxy's RSS idle, at the window's
 * end and at its peak ({@link StreamRss}).
 */
async function stream(command: Extract<LoadCommand, { mode: 'stream' }>): Promise<StreamResult> {
  const frame = maskedFrame(command.size)
  const frameLength = frame.length
  const { rssPids } = command
  const rss: StreamRss | undefined = rssPids ? { idle: rssBytes(rssPids), end: 0, peak: 0, samples: 0 } : undefined
  const sampleRss = (): void => {
    if (!rss || !rssPids) return
    const now = rssBytes(rssPids)
    rss.peak = Math.max(rss.peak, now)
    rss.samples++
  }
  const sockets = await openMany(command, command.connections, 16)
  const sampler = rss ? setInterval(sampleRss, RSS_SAMPLE_MS) : undefined
  const { rateMiBps } = command
  let running = true
  let received = 0
  let sent = 0
  let failure: Error | undefined
  const writers: { write: () => boolean; socket: net.Socket }[] = []
  const perSocket = sockets.map((socket) => {
    const counts = { sent: 0, received: 0 }
    const writer = {
      socket,
      /** Writes one frame; false when the socket asks to wait for 'drain'. */
      write: (): boolean => {
        counts.sent += frameLength
        sent += frameLength
        return socket.write(frame)
      },
    }
    writers.push(writer)
    socket.on('drain', () => {
      if (rateMiBps === undefined) while (running && writer.write());
    })
    socket.on('data', (chunk: Buffer) => {
      const offset = counts.received % frameLength
      counts.received += chunk.length
      received += chunk.length
      if (counts.received > counts.sent || chunk[0] !== frame[offset] || chunk[chunk.length - 1] !== frame[(counts.received - 1) % frameLength]) {
        failure ??= new Error(counts.received > counts.sent ? 'stream: more bytes came back than were sent' : 'stream: echoed bytes out of place')
      }
    })
    socket.on('close', () => void (failure ??= new Error('stream: a connection closed mid-run')))
    socket.resume()
    if (rateMiBps === undefined) while (running && writer.write());
    return counts
  })
  let next = 0
  const stopPacer =
    rateMiBps === undefined
      ? () => {}
      : pace((rateMiBps * 2 ** 20) / frameLength, (count) => {
          // A connection with more than a few frames still queued skips its turn: the offered rate is a
          // ceiling, the achieved one is reported.
          for (let i = 0; i < count && running; i++) {
            const writer = writers[next++ % writers.length]!
            if (writer.socket.writableLength < 4 * frameLength) writer.write()
          }
        })

  const { count: bytes, seconds, cpu } = await measureWindow(
    command,
    () => received,
    () => {},
    () => {
      running = false
      stopPacer()
      // The window's end, before the queued bytes drain and the connections close.
      clearInterval(sampler)
      sampleRss()
      if (rss && rssPids) rss.end = rssBytes(rssPids)
    },
  )
  const result: Omit<StreamResult, 'bytesChecked'> = {
    bytes,
    seconds,
    mibPerSec: bytes / seconds / 1024 / 1024,
    ...(rateMiBps !== undefined ? { offeredMiBps: rateMiBps } : {}),
    cpu,
    ...(rss ? { rss } : {}),
  }
  await until(() => perSocket.every((counts) => counts.received === counts.sent), 'every streamed byte to come back', () => failure)
  await Promise.all(sockets.map(closeConnection))
  return { ...result, bytesChecked: sent }
}

/**
 * Cycles of: connect, upgrade (a fresh key each), one echoed probe frame,
 * close. Without `rate`, `concurrency` loops run them back to back (closed
 * loop: the most handshakes/s the proxy gives); with it, a cycle starts
 * `rate` times a second in total, at most `concurrency` at once (open loop:
 * every target's CPU per handshake at the same load; a start that finds
 * `concurrency` in flight is counted as missed). Handshakes/s.
 */
async function handshakes(command: Extract<LoadCommand, { mode: 'handshake' }>): Promise<HandshakeResult> {
  const request = handshakeTemplate(command.target.path, command.target.port, command.target.headers)
  const histogram = new Histogram()
  const { rate } = command
  let running = true
  let measuring = false
  let completed = 0
  let inFlight = 0
  let missed = 0
  let failure: Error | undefined
  const cycle = async (): Promise<void> => {
    inFlight++
    try {
      const connection = await upgrade(command.target, request, nextSource(command.localAddresses))
      if (measuring) histogram.add(connection.ms)
      await probe(connection)
      await closeConnection(connection.socket)
      completed++
    } catch (error) {
      failure ??= error as Error
    } finally {
      inFlight--
    }
  }
  const loop = async (): Promise<void> => {
    while (running && !failure) await cycle()
  }
  const loops = rate === undefined ? Array.from({ length: command.concurrency }, loop) : []
  const stopPacer =
    rate === undefined
      ? () => {}
      : pace(rate, (count) => {
          for (let i = 0; i < count; i++) {
            if (!running || failure) return
            if (inFlight < command.concurrency) void cycle()
            else if (measuring) missed++
          }
        })
  const { count, seconds, cpu } = await measureWindow(
    command,
    () => completed,
    () => void (measuring = true),
    () => {
      running = false
      measuring = false
      stopPacer()
    },
  )
  const result: HandshakeResult = {
    handshakes: count,
    seconds,
    rate: count / seconds,
    ...(rate !== undefined ? { offeredRate: rate, missed } : {}),
    p50Ms: histogram.quantile(0.5),
    p99Ms: histogram.quantile(0.99),
    cpu,
  }
  await Promise.all(loops)
  await until(() => inFlight === 0, 'the last handshakes', () => failure)
  if (failure) throw failure
  return result
}

/** Opens `connections` verified connections and holds them until released. */
async function idle(command: Extract<LoadCommand, { mode: 'idle' }>, released: Promise<void>): Promise<IdleResult> {
  const started = performance.now()
  const sockets = await openMany(command, command.connections, command.concurrency)
  const openSeconds = (performance.now() - started) / 1000
  let dropped = 0
  for (const socket of sockets) socket.once('close', () => dropped++)
  send({ id: command.id, event: 'holding', opened: sockets.length, openSeconds })
  await released
  for (const socket of sockets) socket.removeAllListeners('close')
  if (dropped > 0) {
    for (const socket of sockets) socket.destroy()
    throw new Error(`idle: ${dropped} held connections were closed by the other side`)
  }
  await Promise.all(sockets.map(closeConnection))
  return { opened: sockets.length, openSeconds }
}

function send(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

const releases = new Map<number, () => void>()

async function run(command: LoadCommand): Promise<unknown> {
  switch (command.mode) {
    case 'pingpong':
      return pingPong(command)
    case 'stream':
      return stream(command)
    case 'handshake':
      return handshakes(command)
    case 'idle': {
      const released = new Promise<void>((resolve) => releases.set(command.id, resolve))
      return idle(command, released)
    }
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const message = JSON.parse(line) as LoadCommand | { id: number; release: true }
  if ('release' in message) {
    releases.get(message.id)?.()
    releases.delete(message.id)
    return
  }
  run(message).then(
    (result) => send({ id: message.id, result }),
    (error: Error) => send({ id: message.id, error: error.message }),
  )
})
// The harness closing stdin (it ended, or died) ends the client.
lines.on('close', () => process.exit(0))
