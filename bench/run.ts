/**
 * `npm run bench`: wsgate against direct, a bare Node pipe, nginx and
 * node-http-proxy, on this machine, in one run, as ratios. Method and the
 * committed results: bench/RESULTS.md.
 *
 *   npm run bench                          full run: 3 repetitions, ~9 min
 *   npm run bench -- --quick               smoke run: 1 repetition, 1 s windows, 500 idle connections (~1 min)
 *   npm run bench -- --profile             also node --cpu-prof the bare pipe and wsgate; self time per function
 *   npm run bench -- --only bare,wsgate-empty --modes pingpong,stream --reps 5
 *   npm run bench -- --idle 3000           idle connections to hold (default: what the open-file limit allows, ≤ 9,900)
 *   npm run bench -- --report <file.json>  print a saved run's report again
 *   npm run bench -- --no-pin              let the scheduler place the processes (see PINNING)
 *
 * Targets: direct, bare, nginx, http-proxy, wsgate-empty, wsgate-full,
 * wsgate-empty-info, wsgate-empty-notracker (the empty chain with the
 * frame-boundary tracker off: `closeFrames: false`), wsgate-empty-metrics (the
 * empty chain with the Prometheus metrics on and the admin listener open:
 * `--admin-port`), and (handshakes only) wsgate-waf, wsgate-jwt,
 * wsgate-normalize: one middleware of the full chain each. Modes: idle, pingpong, stream, handshake. Environment:
 * BENCH_KEEP_LOGS=1 keeps the children's logs, BENCH_TARGET_NODE_ARGS adds
 * flags to the Node targets (e.g. --trace-gc), BENCH_HS_CONCURRENCY sets the
 * handshake loops (32).
 *
 * Every process (echo origin, load client, each target) is a child of this
 * one on 127.0.0.1, started and stopped here; all are killed on exit, on
 * failure too. Prints a table; writes JSON to bench/results/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { mint, startJwksServer, testKey, type JwksServer } from '../test/helpers/jwks.ts'
import { freePort } from '../test/helpers/ports.ts'
import type { HandshakeResult, IdleResult, LoadCommand, LoadRequest, LoadTarget, PingPongResult, StreamResult, WindowCpu } from './load.ts'
import { machineBusy, openFileLimits, processTree, rssBytes } from './proc.ts'
import { formatProfile, summariseProfile, type ProfileSummary } from './profile.ts'
import { ensureNginx, NGINX_BINARY, nginxConfig, nginxVersion } from './targets/nginx.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BENCH = join(ROOT, 'bench')

// ---------------------------------------------------------------- options

const { values: flags } = parseArgs({
  allowNegative: true,
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    pin: { type: 'boolean', default: true },
    idle: { type: 'string' },
    modes: { type: 'string' },
    report: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (flags.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, ''))
  process.exit(0)
}

const quick = flags.quick
/** Descriptors a proxy keeps for itself besides two per connection (listener, stdio, epoll, logs). */
const PROXY_RESERVE = 200
const limits = openFileLimits()
const config = {
  reps: flags.reps ? Number(flags.reps) : quick ? 1 : 3,
  warmupMs: quick ? 300 : 700,
  durationMs: quick ? 1_000 : 3_000,
  pingpong: { connections: 50, size: 32 },
  /**
   * Offered loads every target carries (the slowest manages about twice
   * that): CPU per message and per MiB are compared at the same load, since
   * a busier proxy batches more work per wake-up and spends less per unit.
   */
  pacedRoundTrips: 15_000,
  stream: { connections: 1, size: 64 * 1024 },
  pacedMiBps: 150,
  handshake: { concurrency: Number(process.env.BENCH_HS_CONCURRENCY ?? 32) },
  idle: {
    // As many as one proxy process's open-file limit allows (two descriptors per connection).
    connections: flags.idle ? Number(flags.idle) : quick ? 500 : Math.min(9_900, Math.floor((limits.hard - PROXY_RESERVE) / 2)),
    concurrency: 200,
    settleMs: quick ? 500 : 2_000,
  },
  /** Spread client connections over these source addresses: past ~28k ephemeral ports per address pair. */
  localAddresses: ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'],
}
if (!Number.isInteger(config.reps) || config.reps < 1) throw new TypeError(`--reps must be a positive integer, got ${flags.reps}`)

/**
 * PINNING. With two or more cores, the proxy under test runs alone on the
 * last core and the origin and the load client share core 0, for every
 * target alike (direct included): the proxy has a core of its own, the
 * endpoints' budget is the same in every run, and results do not swing with
 * where the scheduler happens to put three busy processes on two cores.
 */
const CORES = os.cpus().length
const pinned = flags.pin && CORES >= 2 && existsSync('/usr/bin/taskset')
const PROXY_CPU = CORES - 1
const ENDPOINT_CPU = 0

type Mode = 'idle' | 'pingpong' | 'stream' | 'handshake'
const ALL_MODES: Mode[] = ['idle', 'pingpong', 'stream', 'handshake']

interface TargetSpec {
  name: string
  label: string
  kind: 'direct' | 'bare' | 'nginx' | 'http-proxy' | 'wsgate'
  modes: Mode[]
  /** wsgate: BENCH_CHAIN */
  chain?: string
  logLevel?: string
  /** Sends the JWT with the handshake. */
  token?: boolean
  /** wsgate: the route's frame-boundary tracker (`closeFrames`); on unless false. */
  closeFrames?: boolean
  /** wsgate: metrics on, with the admin listener on a port of its own (`--admin-port`); off unless true. */
  admin?: boolean
}

const TARGETS: TargetSpec[] = [
  { name: 'direct', label: 'direct (no proxy)', kind: 'direct', modes: ['pingpong', 'stream', 'handshake'] },
  { name: 'bare', label: 'bare Node pipe', kind: 'bare', modes: ALL_MODES },
  { name: 'nginx', label: 'nginx', kind: 'nginx', modes: ALL_MODES },
  { name: 'http-proxy', label: 'node-http-proxy', kind: 'http-proxy', modes: ALL_MODES },
  { name: 'wsgate-empty', label: 'wsgate, empty chain', kind: 'wsgate', chain: 'empty', modes: ALL_MODES },
  { name: 'wsgate-full', label: 'wsgate, full chain', kind: 'wsgate', chain: 'full', token: true, modes: ALL_MODES },
  { name: 'wsgate-empty-info', label: 'wsgate, empty chain, LOG_LEVEL=info', kind: 'wsgate', chain: 'empty', logLevel: 'info', modes: ['handshake'] },
  // The same relay without the frame-boundary tracker: what reading the frame headers costs.
  { name: 'wsgate-empty-notracker', label: 'wsgate, empty chain, no frame tracker', kind: 'wsgate', chain: 'empty', closeFrames: false, modes: ['pingpong', 'stream'] },
  // The same with the Prometheus metrics on (counted per handshake and per connection end): what they cost.
  { name: 'wsgate-empty-metrics', label: 'wsgate, empty chain, metrics on', kind: 'wsgate', chain: 'empty', admin: true, modes: ['pingpong', 'stream', 'handshake'] },
  // Each middleware of the full chain alone: its cost under the same load, less the empty chain's.
  { name: 'wsgate-waf', label: 'wsgate, waf() only', kind: 'wsgate', chain: 'waf', modes: ['handshake'] },
  { name: 'wsgate-jwt', label: 'wsgate, jwtAuth() only', kind: 'wsgate', chain: 'jwtAuth', token: true, modes: ['handshake'] },
  { name: 'wsgate-normalize', label: 'wsgate, normalizeHeaders() only', kind: 'wsgate', chain: 'normalizeHeaders', modes: ['handshake'] },
]

/** The single-middleware targets, by the middleware they measure. */
const ALONE: [target: string, middleware: string][] = [
  ['wsgate-waf', 'waf'],
  ['wsgate-jwt', 'jwtAuth'],
  ['wsgate-normalize', 'normalizeHeaders'],
]

// ---------------------------------------------------------------- children

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()

/** Kills a child's whole process group (each child leads its own: nginx's workers, a re-executed gateway). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // Already gone.
  }
}

function cleanup(): void {
  for (const child of children) killGroup(child, 'SIGKILL')
  children.clear()
  // BENCH_KEEP_LOGS=1 keeps the children's logs (the run directory) for a look after the run.
  if (process.env.BENCH_KEEP_LOGS === '1') tempDirs.delete(runDir)
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}
process.on('exit', cleanup)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}, stopping every child`)
    cleanup()
    process.exit(130)
  })
}

const runDir = mkdtempSync(join(os.tmpdir(), 'wsgate-bench-'))
tempDirs.add(runDir)

/** Spawns a child in its own process group, stderr (and stdout unless piped) to a log file in the run directory. */
function spawnChild(
  name: string,
  command: string,
  args: string[],
  options: { env?: Record<string, string>; pipeStdout?: boolean; pipeStdin?: boolean; cpu?: number } = {},
): ChildProcess {
  const logFile = join(runDir, `${name}.log`)
  const fd = openSync(logFile, 'a')
  // taskset execs the command: the child's pid is the command's.
  const [file, argv] = pinned && options.cpu !== undefined ? ['/usr/bin/taskset', ['-c', String(options.cpu), command, ...args]] : [command, args]
  const child = spawn(file, argv, {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, ...options.env },
    stdio: [options.pipeStdin ? 'pipe' : 'ignore', options.pipeStdout ? 'pipe' : fd, fd],
  })
  closeSync(fd)
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** The last lines a child logged, for an error message. */
function logTail(name: string): string {
  try {
    return readFileSync(join(runDir, `${name}.log`), 'utf8').trim().split('\n').slice(-5).join('\n')
  } catch {
    return ''
  }
}

/** Stops a child: SIGTERM, then SIGKILL to its group after 5 s; resolves once it has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM')
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000)
    await once(child, 'exit')
    clearTimeout(timer)
  }
  // Anything it left behind in its group (nginx workers) goes too.
  killGroup(child, 'SIGKILL')
}

/** The first stdout line of a child, parsed; fails when it exits first or after 30 s. */
async function firstLine<T>(child: ChildProcess, name: string): Promise<T> {
  const lines = createInterface({ input: child.stdout! })
  const exited = once(child, 'exit').then(() => {
    throw new Error(`${name} exited before it was ready:\n${logTail(name)}`)
  })
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${name} not ready within 30 s`)), 30_000).unref())
  // The first line that is JSON: V8 tracing flags (BENCH_TARGET_NODE_ARGS) print to stdout too.
  const line = (async (): Promise<T> => {
    for await (const text of lines) if (text.startsWith('{')) return JSON.parse(text) as T
    return new Promise<T>(() => {})
  })()
  try {
    return await Promise.race([line, exited, timeout])
  } finally {
    exited.catch(() => {})
  }
}

/** Resolves once `check` succeeds, trying every 50 ms; fails when `child` exits or after 30 s. */
async function whenReady<T>(child: ChildProcess, name: string, check: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before it was ready:\n${logTail(name)}`)
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${name} not ready within 30 s: ${(error as Error).message}\n${logTail(name)}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

function connectable(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy()
      resolve()
    })
    socket.on('error', reject)
  })
}

function getJson<T>(port: number, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (body += chunk))
        response.on('end', () => {
          if (response.statusCode !== 200) reject(new Error(`GET ${path}: ${response.statusCode}`))
          else resolve(JSON.parse(body) as T)
        })
      })
      .on('error', reject)
  })
}

// ---------------------------------------------------------------- the load client

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  onEvent?: (event: Record<string, unknown>) => void
}

class LoadClient {
  readonly #child: ChildProcess
  readonly #pending = new Map<number, Pending>()
  #nextId = 1

  constructor() {
    this.#child = spawnChild('load', process.execPath, [join(BENCH, 'load.ts')], { pipeStdout: true, pipeStdin: true, cpu: ENDPOINT_CPU })
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { id: number; result?: unknown; error?: string; event?: string }
      const pending = this.#pending.get(message.id)
      if (!pending) return
      if (message.event) return pending.onEvent?.(message as Record<string, unknown>)
      this.#pending.delete(message.id)
      if (message.error !== undefined) pending.reject(new Error(message.error))
      else pending.resolve(message.result)
    })
    this.#child.once('exit', () => {
      for (const pending of this.#pending.values()) pending.reject(new Error(`the load client exited:\n${logTail('load')}`))
      this.#pending.clear()
    })
  }

  run<T>(command: LoadRequest, onEvent?: (event: Record<string, unknown>, id: number) => void): Promise<T> {
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, ...(onEvent ? { onEvent: (event) => onEvent(event, id) } : {}) })
      this.#child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`)
    })
  }

  release(id: number): void {
    this.#child.stdin!.write(`${JSON.stringify({ id, release: true })}\n`)
  }

  async close(): Promise<void> {
    this.#child.stdin!.end()
    await stopChild(this.#child)
  }
}

// ---------------------------------------------------------------- targets

interface Running {
  port: number
  path: string
  /** The proxy's processes (empty for direct). */
  pids: number[]
  /** wsgate's GET /__bench answer. */
  info?: { chain: string[]; waf: boolean; wafNote?: string; timings: Record<string, { count: number; ms: number; cpuMs: number }> }
  stop(): Promise<void>
}

interface Shared {
  originPort: number
  originPids: number[]
  jwks: JwksServer
  token: string
}

async function startTarget(spec: TargetSpec, shared: Shared, extra: { env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<Running> {
  const { originPort } = shared
  // BENCH_TARGET_NODE_ARGS adds V8/Node flags to every Node target, e.g. '--trace-gc' (their logs: BENCH_KEEP_LOGS=1).
  const nodeArgs = [...(process.env.BENCH_TARGET_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...(extra.nodeArgs ?? [])]
  switch (spec.kind) {
    case 'direct':
      return { port: originPort, path: '/bench', pids: [], stop: async () => {} }
    case 'bare':
    case 'http-proxy': {
      const script = join(BENCH, 'targets', spec.kind === 'bare' ? 'bare-pipe.ts' : 'http-proxy.ts')
      const child = spawnChild(spec.name, process.execPath, [...nodeArgs, script, '--port', '0', '--origin', String(originPort)], { pipeStdout: true, cpu: PROXY_CPU })
      const { port } = await firstLine<{ port: number }>(child, spec.name)
      return { port, path: '/bench', pids: [child.pid!], stop: () => stopChild(child) }
    }
    case 'nginx': {
      const dir = mkdtempSync(join(os.tmpdir(), 'wsgate-bench-nginx-'))
      tempDirs.add(dir)
      const port = await freePort()
      const conf = join(dir, 'nginx.conf')
      const errorLog = join(runDir, `${spec.name}-error.log`)
      writeFileSync(conf, nginxConfig({ dir, port, originPort, maxFiles: limits.hard, errorLog }))
      const child = spawnChild(spec.name, NGINX_BINARY, ['-p', dir, '-c', conf, '-e', errorLog], { cpu: PROXY_CPU })
      await whenReady(child, spec.name, () => connectable(port))
      // The master forks its worker before it listens; both count.
      const pids = processTree(child.pid!)
      return {
        port,
        path: '/bench',
        pids,
        stop: async () => {
          await stopChild(child)
          rmSync(dir, { recursive: true, force: true })
          tempDirs.delete(dir)
        },
      }
    }
    case 'wsgate': {
      const port = await freePort()
      const env = {
        LOG_LEVEL: spec.logLevel ?? 'warn',
        LOG_PRETTY: '',
        BENCH_ORIGIN: `ws://127.0.0.1:${originPort}`,
        BENCH_CHAIN: spec.chain ?? 'empty',
        BENCH_JWKS_URL: shared.jwks.url,
        BENCH_CLOSE_FRAMES: spec.closeFrames === false ? '0' : '1',
        ...extra.env,
      }
      // The load comes from a few loopback addresses: each may hold (and handshake) as much as the whole gateway,
      // with the fair-share caps still on, so their cost per handshake is measured.
      const fairShare = ['--max-connections-per-client', '100000', '--max-handshakes-per-client', '100000', '--max-handshakes-per-route', '100000']
      const adminPort = spec.admin ? await freePort() : undefined
      const admin = adminPort === undefined ? [] : ['--admin-port', String(adminPort)]
      const args = [...nodeArgs, join(ROOT, 'bin', 'wsgate.js'), 'start', join(BENCH, 'targets', 'wsgate-routes.ts'), '--port', String(port), '--host', '127.0.0.1', '--max-connections', '100000', ...fairShare, ...admin]
      const child = spawnChild(spec.name, process.execPath, args, { env, cpu: PROXY_CPU })
      const info = await whenReady(child, spec.name, () => getJson<NonNullable<Running['info']>>(port, '/__bench'))
      // The metrics are on when the admin listener answers (it is up once the gateway listens).
      if (adminPort !== undefined) await whenReady(child, spec.name, () => getJson(adminPort, '/healthz'))
      return { port, path: '/bench', pids: processTree(child.pid!), info, stop: () => stopChild(child) }
    }
  }
}

// ---------------------------------------------------------------- measurements

interface RepResult {
  /** Closed loop: the most round trips/s. */
  pingpong?: PingPongResult
  /** Open loop at config.pacedRoundTrips: CPU per round trip and latency at the same load everywhere. */
  pingpongPaced?: PingPongResult
  /** As fast as backpressure allows: MiB/s. */
  stream?: StreamResult
  /** Paced at config.pacedMiBps: CPU per MiB at the same load everywhere. */
  streamPaced?: StreamResult
  handshake?: HandshakeResult
  idle?: IdleResult & { rssBefore: number; rssAfter: number; rssPerConnection: number }
  /** wsgate: what its chain held. */
  chain?: { chain: string[]; waf: boolean; wafNote?: string }
  /** Windows kept although other work took more than FOREIGN_LIMIT of the machine. */
  disturbed: string[]
  errors: string[]
}

function loadTarget(spec: TargetSpec, running: Running, shared: Shared): LoadTarget {
  return { port: running.port, path: running.path, ...(spec.token ? { headers: { Authorization: `Bearer ${shared.token}` } } : {}) }
}

async function measureTarget(spec: TargetSpec, client: LoadClient, shared: Shared, rep: number): Promise<RepResult> {
  const result: RepResult = { disturbed: [], errors: [] }
  let running: Running
  try {
    running = await startTarget(spec, shared)
  } catch (error) {
    result.errors.push(`start: ${(error as Error).message}`)
    return result
  }
  if (running.info) result.chain = { chain: running.info.chain, waf: running.info.waf, ...(running.info.wafNote ? { wafNote: running.info.wafNote } : {}) }
  if (rep === 0 && running.info) {
    log(`  ${spec.name}: chain [${running.info.chain.join(', ') || 'websocket() only'}]${running.info.wafNote ? ` (${running.info.wafNote})` : ''}`)
  }
  const base = { target: loadTarget(spec, running, shared), localAddresses: config.localAddresses, cpuPids: running.pids, originPids: shared.originPids }
  try {
    // Warm-up: JIT, the JWKS fetch, first allocations; not measured.
    await client.run<HandshakeResult>({ ...base, mode: 'handshake', concurrency: 8, warmupMs: 0, durationMs: quick ? 200 : 500 })
    const window = { warmupMs: config.warmupMs, durationMs: config.durationMs }
    // A window that other work on the machine disturbed is measured again (see undisturbed()).
    const measure = <T extends { cpu: WindowCpu; seconds: number }>(what: string, request: LoadRequest): Promise<T> => undisturbed(what, () => client.run<T>(request), result)
    for (const mode of spec.modes) {
      try {
        if (mode === 'idle') result.idle = await measureIdle(client, base, running)
        else if (mode === 'pingpong') {
          result.pingpong = await measure<PingPongResult>(`${spec.name} pingpong`, { ...base, mode, ...config.pingpong, ...window })
          result.pingpongPaced = await measure<PingPongResult>(`${spec.name} paced pingpong`, { ...base, mode, ...config.pingpong, rate: config.pacedRoundTrips, ...window })
        } else if (mode === 'stream') {
          result.stream = await measure<StreamResult>(`${spec.name} stream`, { ...base, mode, ...config.stream, ...window })
          result.streamPaced = await measure<StreamResult>(`${spec.name} paced stream`, { ...base, mode, ...config.stream, rateMiBps: config.pacedMiBps, ...window })
        } else result.handshake = await measure<HandshakeResult>(`${spec.name} handshake`, { ...base, mode, ...config.handshake, ...window })
      } catch (error) {
        result.errors.push(`${mode}: ${(error as Error).message}`)
      }
    }
  } catch (error) {
    result.errors.push(`warm-up: ${(error as Error).message}`)
  } finally {
    await running.stop()
  }
  return result
}

/**
 * RSS (VmRSS of the proxy's processes) before opening the idle connections
 * and while holding them, after a short settle. It counts what the proxy
 * holds per connection plus what opening them left behind (V8 keeps the pages
 * of collected garbage: a full GC does not lower RSS).
 */
/** Share of the machine's CPU that other work may take during a window before the window is measured again. */
const FOREIGN_LIMIT = 0.05
/** Attempts per window before a disturbed one is kept (and flagged). */
const ATTEMPTS = 3

/** CPU share of the machine (all cores) that neither the proxy, the origin nor the load client used during a window. */
function foreignShare(cpu: WindowCpu, seconds: number): number {
  return Math.max(0, cpu.machine - cpu.proxy - cpu.origin - cpu.client) / (seconds * CORES)
}

/**
 * Runs a measurement until other work on the machine (a shared development
 * machine runs test suites and benchmarks of its own) took at most
 * FOREIGN_LIMIT of it during the window: after a disturbed attempt, waits up
 * to a minute for the machine to be quiet and tries again, ATTEMPTS times in
 * all; the last attempt is kept either way, and the disturbance recorded.
 */
async function undisturbed<T extends { cpu: WindowCpu; seconds: number }>(what: string, run: () => Promise<T>, record: RepResult): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await run()
    const foreign = foreignShare(outcome.cpu, outcome.seconds)
    if (foreign <= FOREIGN_LIMIT || attempt === ATTEMPTS) {
      if (foreign > FOREIGN_LIMIT) record.disturbed.push(`${what}: ${(foreign * 100).toFixed(0)} % of the machine was other work`)
      return outcome
    }
    log(`    ${what}: ${(foreign * 100).toFixed(0)} % of the machine was other work during the window; measuring again (attempt ${attempt + 1}/${ATTEMPTS})`)
    await waitForQuiet()
  }
}

/** Waits until the machine is at most 10 % busy over a second, for a minute at most. */
async function waitForQuiet(): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline && (await machineBusy()) > 0.1);
}

async function measureIdle(client: LoadClient, base: Omit<LoadCommand, 'id' | 'mode'>, running: Running): Promise<NonNullable<RepResult['idle']>> {
  const rssBefore = rssBytes(running.pids)
  let rssAfter = 0
  const idle = await client.run<IdleResult>({ ...base, mode: 'idle', connections: config.idle.connections, concurrency: config.idle.concurrency }, (_event, id) => {
    setTimeout(() => {
      rssAfter = rssBytes(running.pids)
      client.release(id)
    }, config.idle.settleMs)
  })
  return { ...idle, rssBefore, rssAfter, rssPerConnection: (rssAfter - rssBefore) / idle.opened }
}

/** Per-middleware time of the full chain, in one process: sequential handshakes, performance.now() around each middleware. */
async function measureChainTimings(
  client: LoadClient,
  shared: Shared,
): Promise<{ perHandshakeMicros: Record<string, number>; cpuPerHandshakeMicros: Record<string, number>; handshakes: number } | { error: string }> {
  const spec: TargetSpec = { name: 'wsgate-full-timed', label: 'wsgate, full chain, timed', kind: 'wsgate', chain: 'full', token: true, modes: ['handshake'] }
  let running: Running | undefined
  try {
    running = await startTarget(spec, shared, { env: { BENCH_TIMINGS: '1' } })
    const base = { target: loadTarget(spec, running, shared), localAddresses: config.localAddresses, cpuPids: running.pids, originPids: shared.originPids }
    await client.run({ ...base, mode: 'handshake', concurrency: 1, warmupMs: 0, durationMs: quick ? 300 : 1_000 })
    const before = (await getJson<NonNullable<Running['info']>>(running.port, '/__bench')).timings
    await client.run({ ...base, mode: 'handshake', concurrency: 1, warmupMs: 0, durationMs: config.durationMs })
    const after = (await getJson<NonNullable<Running['info']>>(running.port, '/__bench')).timings
    const perHandshakeMicros: Record<string, number> = {}
    const cpuPerHandshakeMicros: Record<string, number> = {}
    let handshakes = 0
    for (const [name, entry] of Object.entries(after)) {
      const count = entry.count - (before[name]?.count ?? 0)
      handshakes = Math.max(handshakes, count)
      perHandshakeMicros[name] = ((entry.ms - (before[name]?.ms ?? 0)) / count) * 1000
      cpuPerHandshakeMicros[name] = ((entry.cpuMs - (before[name]?.cpuMs ?? 0)) / count) * 1000
    }
    return { perHandshakeMicros, cpuPerHandshakeMicros, handshakes }
  } catch (error) {
    return { error: (error as Error).message }
  } finally {
    await running?.stop()
  }
}

/** An in-process cost table from a script of bench/, or why there is none. */
type CostTable = { table: string } | { error: string }

/**
 * Runs one in-process cost script of bench/ (`waf.ts`: the WAF engine over
 * the CRS at paranoia 1 and 2 and the baseline, benign and attack corpora;
 * `head.ts`: the request-head parse every request goes through) in a child
 * pinned where the proxies run, and returns the table it prints.
 */
async function measureInProcess(name: string, file: string): Promise<CostTable> {
  const script = join(BENCH, file)
  if (!existsSync(script)) return { error: `bench/${file} is not there` }
  const child = spawnChild(name, process.execPath, [script, '--rounds', quick ? '1' : '5'], { pipeStdout: true, cpu: PROXY_CPU })
  let table = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (table += chunk))
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 120_000)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(timer)
  return code === 0 ? { table: table.trim() } : { error: `bench/${file} exited with ${code}: ${logTail(name)}` }
}

/** --profile: `node --cpu-prof` on a target during one window of a mode; the summary covers that window. */
async function profileTarget(spec: TargetSpec, mode: 'pingpong' | 'stream' | 'handshake', client: LoadClient, shared: Shared): Promise<ProfileSummary & { file: string; work: string }> {
  const dir = join(BENCH, 'results', 'profiles')
  mkdirSync(dir, { recursive: true })
  const name = `${spec.name}-${mode}`
  const profileDir = mkdtempSync(join(runDir, 'prof-'))
  const running = await startTarget(spec, shared, { nodeArgs: ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${profileDir}`] })
  let work: string
  try {
    const base = { target: loadTarget(spec, running, shared), localAddresses: config.localAddresses, cpuPids: running.pids, originPids: shared.originPids }
    const window = { warmupMs: config.warmupMs, durationMs: config.durationMs }
    // The paced loads: the profiles compare where the time goes at the same load.
    if (mode === 'pingpong') {
      const result = await client.run<PingPongResult>({ ...base, mode, ...config.pingpong, rate: config.pacedRoundTrips, ...window })
      work = `${result.roundTrips.toLocaleString('en-US')} round trips at ${config.pacedRoundTrips.toLocaleString('en-US')}/s`
    } else if (mode === 'stream') {
      const result = await client.run<StreamResult>({ ...base, mode, ...config.stream, rateMiBps: config.pacedMiBps, ...window })
      work = `${(result.bytes / 2 ** 20).toFixed(0)} MiB at ${config.pacedMiBps} MiB/s`
    } else {
      const result = await client.run<HandshakeResult>({ ...base, mode, ...config.handshake, ...window })
      work = `${result.handshakes.toLocaleString('en-US')} handshakes`
    }
  } finally {
    await running.stop()
  }
  const written = readdirSync(profileDir).find((file) => file.endsWith('.cpuprofile'))
  if (!written) throw new Error(`${spec.name} wrote no CPU profile`)
  const file = join(dir, `${name}.cpuprofile`)
  writeFileSync(file, readFileSync(join(profileDir, written)))
  // The measured window (and the connections' close), not start-up and module compilation.
  return { ...summariseProfile(file, 15, config.durationMs + 200), file: `bench/results/profiles/${name}.cpuprofile`, work }
}

// ---------------------------------------------------------------- summary

function median(values: number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Medians over the repetitions of one target. */
interface TargetSummary {
  /** Closed loop. */
  roundTripsPerSec: number
  /** Closed loop: latency with 50 messages always in flight (queueing included). */
  loadedP50Micros: number
  loadedP99Micros: number
  /** Proxy CPU per round trip in the closed loop, µs. */
  loadedCpuMicrosPerRoundTrip: number
  /** Open loop at the paced rate: latency without queueing. */
  p50Micros: number
  p99Micros: number
  /** Proxy CPU per round trip (one 32-byte message each way) at the paced rate, µs. */
  cpuMicrosPerRoundTrip: number
  /** Round trips/s the paced run achieved (offered: config.pacedRoundTrips). */
  pacedRoundTripsPerSec: number
  mibPerSec: number
  /** Proxy CPU per MiB echoed at full speed, ms. */
  loadedCpuMsPerMiB: number
  /** Proxy CPU per MiB echoed (each byte relayed once each way) at the paced rate, ms. */
  cpuMsPerMiB: number
  /** MiB/s the paced stream achieved (offered: config.pacedMiBps). */
  pacedMiBPerSec: number
  handshakesPerSec: number
  handshakeP50Ms: number
  /** Proxy CPU per handshake (connect, upgrade, one echo, close), µs. */
  cpuMicrosPerHandshake: number
  /** Share of the proxy's CPU spent in the kernel, per mode. */
  systemShareHandshake: number
  systemSharePingPong: number
  systemShareStream: number
  idleConnections: number
  /** RSS growth per held idle connection, bytes. */
  rssPerIdleConnection: number
  /** CPU of the origin and the client per round trip, µs: who else was busy. */
  originCpuMicrosPerRoundTrip: number
  clientCpuMicrosPerRoundTrip: number
  errors: string[]
}

function summarise(reps: RepResult[]): TargetSummary {
  const pick = (get: (rep: RepResult) => number | undefined): number => median(reps.map(get).filter((value): value is number => value !== undefined))
  return {
    roundTripsPerSec: pick((rep) => rep.pingpong?.rate),
    loadedP50Micros: pick((rep) => rep.pingpong?.p50Micros),
    loadedP99Micros: pick((rep) => rep.pingpong?.p99Micros),
    loadedCpuMicrosPerRoundTrip: pick((rep) => (rep.pingpong ? (rep.pingpong.cpu.proxy / rep.pingpong.roundTrips) * 1e6 : undefined)),
    p50Micros: pick((rep) => rep.pingpongPaced?.p50Micros),
    p99Micros: pick((rep) => rep.pingpongPaced?.p99Micros),
    cpuMicrosPerRoundTrip: pick((rep) => (rep.pingpongPaced ? (rep.pingpongPaced.cpu.proxy / rep.pingpongPaced.roundTrips) * 1e6 : undefined)),
    pacedRoundTripsPerSec: pick((rep) => rep.pingpongPaced?.rate),
    mibPerSec: pick((rep) => rep.stream?.mibPerSec),
    loadedCpuMsPerMiB: pick((rep) => (rep.stream ? (rep.stream.cpu.proxy / (rep.stream.bytes / 1024 / 1024)) * 1e3 : undefined)),
    cpuMsPerMiB: pick((rep) => (rep.streamPaced ? (rep.streamPaced.cpu.proxy / (rep.streamPaced.bytes / 1024 / 1024)) * 1e3 : undefined)),
    pacedMiBPerSec: pick((rep) => rep.streamPaced?.mibPerSec),
    handshakesPerSec: pick((rep) => rep.handshake?.rate),
    handshakeP50Ms: pick((rep) => rep.handshake?.p50Ms),
    cpuMicrosPerHandshake: pick((rep) => (rep.handshake ? (rep.handshake.cpu.proxy / rep.handshake.handshakes) * 1e6 : undefined)),
    systemShareHandshake: pick((rep) => (rep.handshake ? rep.handshake.cpu.proxySystem / rep.handshake.cpu.proxy : undefined)),
    systemSharePingPong: pick((rep) => (rep.pingpong ? rep.pingpong.cpu.proxySystem / rep.pingpong.cpu.proxy : undefined)),
    systemShareStream: pick((rep) => (rep.stream ? rep.stream.cpu.proxySystem / rep.stream.cpu.proxy : undefined)),
    idleConnections: pick((rep) => rep.idle?.opened),
    rssPerIdleConnection: pick((rep) => rep.idle?.rssPerConnection),
    originCpuMicrosPerRoundTrip: pick((rep) => (rep.pingpong ? (rep.pingpong.cpu.origin / rep.pingpong.roundTrips) * 1e6 : undefined)),
    clientCpuMicrosPerRoundTrip: pick((rep) => (rep.pingpong ? (rep.pingpong.cpu.client / rep.pingpong.roundTrips) * 1e6 : undefined)),
    errors: reps.flatMap((rep) => rep.errors),
  }
}

/** A number for the table: 3 significant digits, '—' when not measured (0 CPU means the proxy is absent). */
function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return '—'
  if (Math.abs(value) >= 10 ** digits) return Math.round(value).toLocaleString('en-US')
  return Number(value.toPrecision(digits)).toLocaleString('en-US', { maximumFractionDigits: 3 })
}

/** Paced columns carry the offered load in their header (config of the run being reported). */
function columns(run: { config: typeof config }): [header: string, get: (summary: TargetSummary) => number][] {
  const paced = `@${(run.config.pacedRoundTrips / 1000).toFixed(0)}k/s`
  const pacedMiB = `@${run.config.pacedMiBps} MiB/s`
  return [
    ['round trips/s', (s) => s.roundTripsPerSec],
    [`p50 µs ${paced}`, (s) => s.p50Micros],
    [`p99 µs ${paced}`, (s) => s.p99Micros],
    [`CPU µs/round trip ${paced}`, (s) => s.cpuMicrosPerRoundTrip],
    ['MiB/s (64 KiB)', (s) => s.mibPerSec],
    [`CPU ms/MiB ${pacedMiB}`, (s) => s.cpuMsPerMiB],
    ...OTHER_COLUMNS,
  ]
}

const OTHER_COLUMNS: [header: string, get: (summary: TargetSummary) => number][] = [
  ['handshakes/s', (s) => s.handshakesPerSec],
  ['CPU µs/handshake', (s) => s.cpuMicrosPerHandshake],
  ['idle conns', (s) => s.idleConnections],
  ['RSS KiB/idle conn', (s) => s.rssPerIdleConnection / 1024],
]

function markdownTable(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)]
}

// ---------------------------------------------------------------- main

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

function versions(): Record<string, string | undefined> {
  const git = (args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return undefined
    }
  }
  const commit = git(['rev-parse', '--short', 'HEAD'])
  const dirty = git(['status', '--porcelain', '--untracked-files=no'])
  const httpProxyVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'http-proxy', 'package.json'), 'utf8')) as { version: string }).version
  return { node: process.version, nginx: nginxVersion(), httpProxy: httpProxyVersion, wsgate: commit ? `${commit}${dirty ? '+uncommitted' : ''}` : undefined }
}

function machine(): Record<string, string | number> {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    kernel: `${os.type()} ${os.release()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    openFileLimit: `${limits.soft}/${limits.hard}`,
    placement: pinned ? `proxy on CPU ${PROXY_CPU}, origin and load client on CPU ${ENDPOINT_CPU}` : 'unpinned',
  }
}

async function startOrigin(): Promise<{ port: number; pids: number[]; stop(): Promise<void> }> {
  const child = spawnChild('origin', process.execPath, [join(BENCH, 'origin.ts'), '--port', '0'], { pipeStdout: true, cpu: ENDPOINT_CPU })
  const { port } = await firstLine<{ port: number }>(child, 'origin')
  return { port, pids: [child.pid!], stop: () => stopChild(child) }
}

/**
 * Runs `measure` against an echo origin of its own, on a new port. Every
 * handshake leaves a TIME_WAIT socket on the origin's port for 60 s, and a
 * new connection whose 4-tuple meets one costs the connecting side's kernel
 * more (in the proxy's own system time, on loopback): with one origin for
 * the whole run, a target measured right after another handshake window paid
 * for its predecessor's ~20,000 TIME_WAITs (up to +150 µs per handshake).
 */
async function withFreshOrigin<T>(shared: Shared, measure: (fresh: Shared) => Promise<T>): Promise<T> {
  const origin = await startOrigin()
  try {
    return await measure({ ...shared, originPort: origin.port, originPids: origin.pids })
  } finally {
    await origin.stop()
  }
}

async function main(): Promise<void> {
  const started = Date.now()
  const selected = flags.only ? new Set(flags.only.split(',').map((name) => name.trim())) : undefined
  const modes = flags.modes ? new Set(flags.modes.split(',').map((mode) => mode.trim())) : undefined
  let targets = TARGETS.filter((spec) => !selected || selected.has(spec.name))
    .map((spec) => ({ ...spec, modes: spec.modes.filter((mode) => !modes || modes.has(mode)) }))
    .filter((spec) => spec.modes.length > 0)
  if (targets.some((spec) => spec.kind === 'nginx') && !ensureNginx(log)) targets = targets.filter((spec) => spec.kind !== 'nginx')
  const info = { date: new Date().toISOString(), quick, config, versions: versions(), machine: machine() }
  log(`wsgate bench${quick ? ' (quick)' : ''}: ${config.reps} repetition(s), ${targets.map((spec) => spec.name).join(', ')}`)
  log(`  node ${info.versions.node}, nginx ${info.versions.nginx ?? 'absent'}, http-proxy ${info.versions.httpProxy}, wsgate ${info.versions.wsgate}`)
  log(`  ${info.machine.cpu}, ${info.machine.cores} cores, ${info.machine.kernel}, open files ${info.machine.openFileLimit}`)

  // Other work on the machine skews every number: measure it while nothing of ours runs, before each repetition too.
  const background: number[] = [await machineBusy()]
  const warnIfBusy = (busy: number): void => {
    if (busy > 0.1) log(`  warning: the machine is ${(busy * 100).toFixed(0)} % busy with other work; results will be noisy`)
  }
  warnIfBusy(background[0]!)

  const key = await testKey('ES256', 'bench')
  const jwks = await startJwksServer([key.publicJwk])
  const origin = await startOrigin()
  const client = new LoadClient()
  const token = await mint(key, { sub: 'bench-user', iss: 'https://idp.bench.local', aud: 'wsgate-bench', exp: Math.floor(Date.now() / 1000) + 4 * 3600 })
  const shared: Shared = { originPort: origin.port, originPids: origin.pids, jwks, token }
  const reps = new Map<string, RepResult[]>(targets.map((spec) => [spec.name, []]))
  const wafInChain: { full?: boolean; note?: string } = {}
  let chainTimings: Awaited<ReturnType<typeof measureChainTimings>> | undefined
  let wafCost: CostTable | undefined
  let headCost: CostTable | undefined
  const profiles: Record<string, (ProfileSummary & { file: string; work: string }) | { error: string }> = {}

  try {
    for (let rep = 0; rep < config.reps; rep++) {
      log(`repetition ${rep + 1}/${config.reps}`)
      if (rep > 0) {
        background.push(await machineBusy())
        warnIfBusy(background.at(-1)!)
      }
      // Every other repetition runs the targets in reverse: a handshake run leaves thousands of TIME_WAIT sockets
      // that make the next target's connects dearer, so a fixed order charged the later targets for the earlier.
      for (const spec of rep % 2 === 0 ? targets : [...targets].reverse()) {
        const t0 = Date.now()
        const result = await withFreshOrigin(shared, (fresh) => measureTarget(spec, client, fresh, rep))
        reps.get(spec.name)!.push(result)
        const s = summarise([result])
        log(
          `  ${spec.name.padEnd(18)} ${fmt(s.roundTripsPerSec)} rt/s, ${fmt(s.cpuMicrosPerRoundTrip)} µs CPU/rt (${fmt(s.pacedRoundTripsPerSec)}/s), ${fmt(s.mibPerSec)} MiB/s, ${fmt(s.cpuMsPerMiB)} ms CPU/MiB (${fmt(s.pacedMiBPerSec)} MiB/s), ${fmt(s.handshakesPerSec)} hs/s (${fmt(s.cpuMicrosPerHandshake)} µs CPU/hs, ${fmt(s.systemShareHandshake * 100, 2)} % sys), ` +
            `${fmt(s.rssPerIdleConnection / 1024)} KiB/idle conn (${((Date.now() - t0) / 1000).toFixed(1)} s)${result.errors.length ? `\n    errors: ${result.errors.join('; ')}` : ''}`,
        )
      }
    }
    if (targets.some((spec) => spec.name === 'wsgate-full')) {
      log('per-middleware handshake time (full chain, sequential handshakes)')
      chainTimings = await withFreshOrigin(shared, (fresh) => measureChainTimings(client, fresh))
    }
    if (targets.some((spec) => spec.name === 'wsgate-full')) {
      log('WAF engine cost per handshake (bench/waf.ts)')
      wafCost = await measureInProcess('waf-cost', 'waf.ts')
    }
    if (targets.some((spec) => spec.name.startsWith('wsgate'))) {
      log('request head parse per handshake (bench/head.ts)')
      headCost = await measureInProcess('head-cost', 'head.ts')
    }
    if (flags.profile) {
      const find = (name: string): TargetSpec | undefined => TARGETS.find((spec) => spec.name === name)
      const plan: [TargetSpec | undefined, 'pingpong' | 'stream' | 'handshake'][] = [
        [find('bare'), 'pingpong'],
        [find('wsgate-empty'), 'pingpong'],
        [find('bare'), 'stream'],
        [find('wsgate-empty'), 'stream'],
        [find('bare'), 'handshake'],
        [find('wsgate-empty'), 'handshake'],
        [find('wsgate-full'), 'handshake'],
      ]
      for (const [spec, mode] of plan) {
        if (!spec) continue
        log(`profiling ${spec.name} (${mode})`)
        try {
          profiles[`${spec.name}-${mode}`] = await withFreshOrigin(shared, (fresh) => profileTarget(spec, mode, client, fresh))
        } catch (error) {
          profiles[`${spec.name}-${mode}`] = { error: (error as Error).message }
        }
      }
    }
  } finally {
    await client.close()
    await origin.stop()
    await jwks.close()
  }

  // The WAF's presence, as the full-chain gateway reported it.
  const fullChain = reps.get('wsgate-full')?.find((rep) => rep.chain)?.chain
  if (fullChain) {
    wafInChain.full = fullChain.waf
    if (fullChain.wafNote !== undefined) wafInChain.note = fullChain.wafNote
  }
  const record: RunRecord = {
    ...info,
    openFileLimit: limits.hard,
    background,
    seconds: Math.round((Date.now() - started) / 1000),
    targets: targets.map((spec) => spec.name),
    wafInChain,
    ...(chainTimings ? { chainTimings } : {}),
    ...(wafCost ? { wafCost } : {}),
    ...(headCost ? { headCost } : {}),
    profiles,
    reps: Object.fromEntries(reps),
  }
  const rendered = report(record)
  console.log(rendered.text)

  const resultsDir = join(BENCH, 'results')
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `${info.date.replace(/[:.]/g, '-').slice(0, 19)}${quick ? '-quick' : ''}.json`)
  const { text: _text, ...computed } = rendered
  writeFileSync(file, `${JSON.stringify({ ...record, ...computed }, null, 2)}\n`)
  log(`results: ${file}`)
  if (process.env.BENCH_KEEP_LOGS === '1') log(`children's logs: ${runDir}`)
  if (rendered.errors.length > 0) process.exitCode = 1
}

/** Everything a run measured: what the JSON under bench/results/ holds, and what `--report` renders again. */
interface RunRecord {
  date: string
  quick: boolean
  config: typeof config
  versions: Record<string, string | undefined>
  machine: Record<string, string | number>
  /** Hard open-file limit of the run. */
  openFileLimit: number
  /** Share of the machine busy with other work, before the run and before each further repetition (idle origin and client included). */
  background?: number[]
  seconds: number
  /** Target names, in run order. */
  targets: string[]
  wafInChain: { full?: boolean; note?: string }
  chainTimings?: Awaited<ReturnType<typeof measureChainTimings>>
  wafCost?: CostTable
  headCost?: CostTable
  profiles: Record<string, (ProfileSummary & { file: string; work: string }) | { error: string }>
  reps: Record<string, RepResult[]>
}

/** The median over repetitions of wsgate's value ÷ the other target's in the same repetition: drift between repetitions cancels out. */
function pairedRatio(of: RepResult[], to: RepResult[], get: (summary: TargetSummary) => number): number {
  const values: number[] = []
  for (let i = 0; i < Math.min(of.length, to.length); i++) values.push(get(summarise([of[i]!])) / get(summarise([to[i]!])))
  return median(values)
}

/** The table, ratios, targets and notes of a run, as text, plus what they computed. */
function report(run: RunRecord): {
  text: string
  summaries: Record<string, TargetSummary>
  ratios: Record<string, Record<string, Record<string, number>>>
  checks: { target: string; value: number; limit: number; met: boolean; text: string }[]
  errors: string[]
} {
  const { config: runConfig, wafInChain, chainTimings, profiles } = run
  const labels = new Map(TARGETS.map((spec) => [spec.name, spec.label]))
  const COLUMNS = columns(run)
  const summaries: Record<string, TargetSummary> = {}
  for (const name of run.targets) summaries[name] = summarise(run.reps[name] ?? [])

  // ---- the table
  const out: string[] = []
  out.push(`## wsgate bench, ${run.date.slice(0, 10)}${run.quick ? ' (quick)' : ''}`, '')
  if (run.quick) out.push('A smoke run (one repetition, 1-s windows, 500 idle connections): it shows that every part works, not numbers to quote.', '')
  out.push(`${run.machine.cpu}, ${run.machine.cores} cores, ${run.machine.memoryGiB} GiB, ${run.machine.kernel}; open files ${run.machine.openFileLimit}; ${run.machine.placement}`)
  out.push(`node ${run.versions.node}, nginx ${run.versions.nginx ?? 'absent'}, http-proxy ${run.versions.httpProxy}, wsgate ${run.versions.wsgate}`)
  out.push(
    `medians of ${runConfig.reps} repetition(s); ping-pong ${runConfig.pingpong.connections} connections × ${runConfig.pingpong.size} B (round trips/s: closed loop; latency and CPU: ` +
      `open loop at ${runConfig.pacedRoundTrips.toLocaleString('en-US')} round trips/s), stream ${runConfig.stream.connections} connection × 64 KiB frames (MiB/s: as fast as it goes; CPU: at ${runConfig.pacedMiBps} MiB/s), ` +
      `handshake ${runConfig.handshake.concurrency} concurrent, windows ${runConfig.durationMs / 1000} s after ${runConfig.warmupMs / 1000} s warm-up`,
  )
  if (run.background) {
    const worst = Math.max(...run.background)
    out.push(`other work on the machine before each repetition: ${run.background.map((busy) => `${(busy * 100).toFixed(0)} %`).join(', ')} of its CPU${worst > 0.1 ? ' — NOISY: rerun on a quiet machine' : ''}`)
  }
  out.push(`full chain: ${wafInChain.full ? 'waf (CRS, paranoia 1), ' : `NO waf (${wafInChain.note ?? 'unknown'}), `}normalizeHeaders, cacheBypass, jwtAuth (ES256, local JWKS)`, '')
  out.push(...markdownTable(['target', ...COLUMNS.map(([header]) => header)], run.targets.map((name) => [labels.get(name) ?? name, ...COLUMNS.map(([, get]) => fmt(get(summaries[name]!)))])))

  const ratioColumns = COLUMNS.filter(([header]) => header !== 'idle conns')
  const ratioTable: Record<string, Record<string, Record<string, number>>> = {}
  const ratioRows: string[][] = []
  for (const gateway of ['wsgate-empty', 'wsgate-full']) {
    if (!summaries[gateway]) continue
    ratioTable[gateway] = {}
    for (const against of ['bare', 'nginx', 'http-proxy', 'direct', ...(gateway === 'wsgate-empty' ? ['wsgate-empty-notracker'] : [])]) {
      if (!summaries[against]) continue
      const r: Record<string, number> = {}
      for (const [header, get] of ratioColumns) r[header] = pairedRatio(run.reps[gateway]!, run.reps[against]!, get)
      ratioTable[gateway]![against] = r
      ratioRows.push([`${gateway} / ${against}`, ...ratioColumns.map(([header]) => (Number.isFinite(r[header]!) ? `${r[header]!.toFixed(2)}×` : '—'))])
    }
  }
  out.push('', '### Ratios', '', 'wsgate ÷ other, the median of the ratios within each repetition. CPU, latency and RSS: lower is better; rates: higher is better.', '')
  out.push(...markdownTable(['ratio', ...ratioColumns.map(([header]) => header)], ratioRows))

  // ---- targets of the issue
  const checks: { target: string; value: number; limit: number; met: boolean; text: string }[] = []
  const hsCost = (name: string): number => summaries[name]?.cpuMicrosPerHandshake ?? Number.NaN
  let metricsLine: string | undefined
  const check = (target: string, value: number, limit: number, atMost: boolean): void => {
    const met = atMost ? value <= limit : value >= limit
    checks.push({ target, value, limit, met, text: `${met ? 'MET   ' : 'MISSED'} ${target}: ${Number.isFinite(value) ? value.toFixed(2) : '—'}× (target ${atMost ? '≤' : '≥'} ${limit}×)` })
  }
  for (const gateway of ['wsgate-empty', 'wsgate-full']) {
    const r = ratioTable[gateway]
    if (!r) continue
    if (r.bare) {
      check(`${gateway} relay CPU per message vs bare pipe`, r.bare[COLUMNS[3]![0]]!, 1.1, true)
      check(`${gateway} relay CPU per MiB vs bare pipe`, r.bare[COLUMNS[5]![0]]!, 1.1, true)
      check(`${gateway} RSS per idle connection vs bare pipe`, r.bare['RSS KiB/idle conn']!, 1.2, true)
    }
    if (r.direct) check(`${gateway} throughput, 64 KiB frames, vs direct`, r.direct['MiB/s (64 KiB)']!, 0.9, false)
  }
  if (ratioTable['wsgate-full']?.bare) check('wsgate-full handshakes/s vs bare pipe', ratioTable['wsgate-full'].bare['handshakes/s']!, 0.5, false)
  // The frame-boundary tracker: the empty chain with it (the default) against the same chain without it.
  if (summaries['wsgate-empty'] && summaries['wsgate-empty-notracker']) {
    const on = run.reps['wsgate-empty']!
    const off = run.reps['wsgate-empty-notracker']!
    const tracker = (header: string, limit: number, atMost: boolean): void => {
      const get = COLUMNS.find(([name]) => name === header)?.[1]
      if (get) check(`frame tracker on/off, ${header}`, pairedRatio(on, off, get), limit, atMost)
    }
    tracker(COLUMNS[3]![0], 1.1, true)
    tracker('round trips/s', 0.9, false)
    tracker(COLUMNS[5]![0], 1.05, true)
    tracker('MiB/s (64 KiB)', 0.95, false)
  }
  // The metrics: counted per handshake and per connection end, nothing per message (the admin listener is not scraped during the windows).
  if (summaries['wsgate-empty'] && summaries['wsgate-empty-metrics']) {
    const on = run.reps['wsgate-empty-metrics']!
    const off = run.reps['wsgate-empty']!
    const ratio = (header: string): number => {
      const get = COLUMNS.find(([name]) => name === header)?.[1]
      return get ? pairedRatio(on, off, get) : Number.NaN
    }
    check(`metrics on/off, ${COLUMNS[3]![0]}`, ratio(COLUMNS[3]![0]), 1.1, true)
    metricsLine =
      `Metrics on ÷ off (empty chain): handshakes/s ${fmt(ratio('handshakes/s'))}×, CPU µs/handshake ${fmt(ratio('CPU µs/handshake'))}× ` +
      `(${fmt(hsCost('wsgate-empty-metrics') - hsCost('wsgate-empty'))} µs), round trips/s ${fmt(ratio('round trips/s'))}×, ${COLUMNS[3]![0]} ${fmt(ratio(COLUMNS[3]![0]))}×, ` +
      `MiB/s ${fmt(ratio('MiB/s (64 KiB)'))}×, ${COLUMNS[5]![0]} ${fmt(ratio(COLUMNS[5]![0]))}×`
  }
  out.push('', '### Targets', '', ...checks.map((c) => `- ${c.text}`))

  // ---- idle connections and what 100,000 would take
  const idleGateway = summaries['wsgate-full'] ?? summaries['wsgate-empty']
  if (idleGateway && Number.isFinite(idleGateway.rssPerIdleConnection)) {
    const perConnection = idleGateway.rssPerIdleConnection
    const ceiling = Math.floor((run.openFileLimit - 100) / 2)
    out.push(
      '',
      `Idle: ${fmt(idleGateway.idleConnections)} connections held through one gateway process (${summaries['wsgate-full'] ? 'full chain' : 'empty chain'}; its ceiling is ${ceiling.toLocaleString('en-US')} at ${run.openFileLimit.toLocaleString('en-US')} open files), ` +
        `${(perConnection / 1024).toFixed(1)} KiB RSS each → 100,000 connections ≈ ${((perConnection * 100_000) / 2 ** 30).toFixed(2)} GiB of gateway RSS, ` +
        `plus kernel socket buffers, and 200,000 descriptors (LimitNOFILE ≥ 200,100), or ${Math.ceil(100_000 / ceiling)} processes at this machine's limit.`,
    )
  }

  // ---- chain cost by middleware
  if (summaries['wsgate-full'] && summaries['wsgate-empty']) {
    out.push('', `Chain cost per handshake (proxy CPU): full ${fmt(hsCost('wsgate-full'))} µs − empty ${fmt(hsCost('wsgate-empty'))} µs = ${fmt(hsCost('wsgate-full') - hsCost('wsgate-empty'))} µs`)
  }
  const alone = ALONE.filter(([target]) => summaries[target])
  if (alone.length > 0 && summaries['wsgate-empty']) {
    out.push(
      `By middleware under the same load (each alone in front of websocket(), proxy CPU less the empty chain's): ` +
        alone.map(([target, middleware]) => `${middleware} ${fmt(hsCost(target) - hsCost('wsgate-empty'))} µs`).join(', '),
    )
  }
  if (chainTimings && 'perHandshakeMicros' in chainTimings) {
    const cpu = chainTimings.cpuPerHandshakeMicros ?? {}
    out.push(
      `By middleware, per handshake, CPU (wall) in its own part, ${chainTimings.handshakes.toLocaleString('en-US')} handshakes one at a time: ` +
        Object.entries(chainTimings.perHandshakeMicros)
          .map(([name, micros]) => `${name} ${fmt(cpu[name] ?? Number.NaN)} µs (${fmt(micros)} µs)`)
          .join(', '),
    )
  } else if (chainTimings) out.push(`By middleware: not measured (${chainTimings.error})`)
  if (metricsLine) out.push(metricsLine)
  if (summaries['wsgate-empty-info'] && summaries['wsgate-empty']) {
    // Within each repetition (the two ran back to back, their order alternating): a difference of a few µs
    // is far inside the spread of one target's repetitions (±10 %), so the pairs' median and range are shown.
    const cost = (rep: RepResult): number => summarise([rep]).cpuMicrosPerHandshake
    const info = run.reps['wsgate-empty-info']!
    const off = run.reps['wsgate-empty']!
    const differences = info.slice(0, off.length).map((rep, i) => cost(rep) - cost(off[i]!))
    const share = pairedRatio(info, off, (summary) => summary.cpuMicrosPerHandshake)
    out.push(
      `Logging at info (2 lines per connection): +${fmt(median(differences))} µs CPU per handshake, ${fmt((share - 1) * 100, 2)} % ` +
        `(median of ${differences.length} paired repetitions; range ${fmt(Math.min(...differences))} to ${fmt(Math.max(...differences))} µs; ` +
        `${fmt(summaries['wsgate-empty-info'].handshakesPerSec)} vs ${fmt(summaries['wsgate-empty'].handshakesPerSec)} handshakes/s)`,
    )
  }
  for (const [title, cost] of [['Request head parse', run.headCost], ['WAF engine', run.wafCost]] as const) {
    if (!cost) continue
    out.push('', `### ${title}`, '')
    if ('table' in cost) out.push('```', cost.table, '```')
    else out.push(`not measured: ${cost.error}`)
  }
  for (const [name, profile] of Object.entries(profiles)) {
    out.push('', `### Profile: ${name}`, '')
    if ('error' in profile) out.push(`not profiled: ${profile.error}`)
    else out.push(`${profile.work} in the window; ${profile.file}`, '', '```', ...formatProfile(profile), '```')
  }
  const disturbed = run.targets.flatMap((name) => (run.reps[name] ?? []).flatMap((rep, i) => (rep.disturbed ?? []).map((note) => `repetition ${i + 1}, ${note}`)))
  if (disturbed.length > 0) out.push('', '### Disturbed windows (kept after 3 attempts)', '', ...disturbed.map((note) => `- ${note}`))
  const errors = Object.entries(summaries).flatMap(([name, summary]) => summary.errors.map((error) => `${name}: ${error}`))
  if (errors.length > 0) out.push('', '### Errors', '', ...errors.map((error) => `- ${error}`))
  out.push('', `(${run.seconds} s)`)
  return { text: out.join('\n'), summaries, ratios: ratioTable, checks, errors }
}

const run = flags.report ? async (): Promise<void> => console.log(report(JSON.parse(readFileSync(flags.report!, 'utf8')) as RunRecord).text) : main
run().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exitCode = 1
})
