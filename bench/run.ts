/**
 * `npm run bench`: wsgate against direct, a bare Node pipe, nginx, HAProxy,
 * nginx + ModSecurity and node-http-proxy, on this machine, in one run, as
 * ratios. Method and the committed results: bench/RESULTS.md.
 *
 *   npm run bench                          full run: 3 repetitions, ~15 min on a quiet 2-core machine (each window other work disturbs adds up to a minute)
 *   npm run bench -- --quick               smoke run: 1 repetition, 1 s windows, 500 idle connections (~2 min)
 *   npm run bench -- --profile             also node --cpu-prof the bare pipe and wsgate; self time per function
 *   npm run bench -- --only bare,wsgate-empty --modes pingpong,stream --reps 5
 *   npm run bench -- --idle 3000           idle connections to hold (default: what the open-file limit allows, ≤ 9,900)
 *   npm run bench -- --report <file.json>  print a saved run's report again
 *   npm run bench -- --no-pin              let the scheduler place the processes (see PINNING)
 *
 * Targets: direct, bare, nginx, haproxy (Debian's, one thread: the memory
 * anchor), http-proxy, wsgate-empty, wsgate-full, wsgate-full-cached (the
 * full chain with jwtAuth's verified-token cache on, handshakes only; the
 * client sends one token throughout: a reconnecting client), wsgate-empty-info,
 * wsgate-log-levels (handshakes only: windows at warn and at info in one
 * process, the level switched through the admin API's PUT /log-level: what
 * the info level costs without two processes' spread), wsgate-empty-notracker (the empty chain with the frame-boundary tracker
 * off: `closeFrames: false`), wsgate-empty-metrics (the empty chain with the
 * Prometheus metrics on and the admin listener open: `--admin-port`), and
 * (handshakes only) nginx-modsec (nginx + ModSecurity + the CRS at PL1, the
 * anchor for the price of a handshake WAF), wsgate-waf, wsgate-jwt,
 * wsgate-normalize: one middleware of the full chain each. The WAF targets
 * must refuse a hostile handshake with 403 before they are measured. Every
 * handshake carries a fresh Sec-WebSocket-Key (16 random bytes, base64) and
 * the client checks the 101's Sec-WebSocket-Accept against it. Modes:
 * idle, pingpong, stream, stream4 (four 64 KiB streams on a fresh proxy
 * process: MiB/s and RSS above its idle RSS), handshake. nginx, HAProxy and
 * ModSecurity are installed with apt-get when missing (as root; skipped
 * otherwise). Environment:
 * BENCH_KEEP_LOGS=1 keeps the children's logs, BENCH_TARGET_NODE_ARGS adds
 * flags to the Node targets (e.g. --trace-gc), BENCH_HS_CONCURRENCY sets the
 * handshake loops (32), BENCH_HS_RATE=<n> the paced handshake window's rate
 * (600/s: open loop, at most BENCH_HS_CONCURRENCY in flight).
 *
 * Every process (echo origin, load client, each target) is a child of this
 * one on 127.0.0.1, started and stopped here; all are killed on exit, on
 * failure too. Prints a table; writes JSON to bench/results/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, closeSync } from 'node:fs'
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
import { HOSTILE_QUERY, HOSTILE_STATUS, hostileHandshakeStatus } from './hostile.ts'
import { ensureHaproxy, HAPROXY_BINARY, haproxyConfig, haproxyVersion } from './targets/haproxy.ts'
import { ensureModsecurity, modsecurityRules, modsecurityVersion } from './targets/modsecurity.ts'
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
  /**
   * The four-stream scenario (issue 14): as fast as backpressure allows, on a
   * proxy process of its own, started for it (what earlier modes left in its
   * heap would hide the growth); RSS read before the connections open, at the
   * window's end and every 100 ms for the peak.
   */
  multiStream: { connections: 4, size: 64 * 1024 },
  pacedMiBps: 150,
  /**
   * Handshake loops in flight. Each handshake sends a key of its own
   * (`freshKeys`): a WAF keeps what it made of a value seen before, so one
   * key for all measured its cached path only (runs saved before lack the flag).
   */
  handshake: {
    concurrency: Number(process.env.BENCH_HS_CONCURRENCY ?? 32),
    freshKeys: true,
  },
  /**
   * Handshakes started per second in the paced handshake window (open loop,
   * below what the slowest target, nginx + ModSecurity, manages): CPU per
   * handshake at the same load everywhere, as for messages and MiB. The
   * closed loop's figure (handshakes back to back) gives handshakes/s, and
   * its CPU per handshake charges a slower proxy for waking its idler peers
   * more often (bench/RESULTS.md, round five).
   */
  pacedHandshakes: Number(process.env.BENCH_HS_RATE ?? 600),
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

type Mode = 'idle' | 'pingpong' | 'stream' | 'stream4' | 'handshake'
const ALL_MODES: Mode[] = ['idle', 'pingpong', 'stream', 'stream4', 'handshake']

interface TargetSpec {
  name: string
  label: string
  kind: 'direct' | 'bare' | 'nginx' | 'nginx-modsec' | 'haproxy' | 'http-proxy' | 'wsgate'
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
  /** wsgate: jwtAuth's verified-token cache, `cache: { max }` (BENCH_JWT_CACHE); off unless set. */
  jwtCache?: number
  /**
   * wsgate with `admin`: its handshake mode measures the log levels in one
   * process: LEVEL_PAIRS pairs of windows per repetition, one at warn and one
   * at info (set through the admin API's `PUT /log-level`), their order
   * alternating. Two processes differ by ±10 % in CPU per handshake from
   * placement and JIT alone, far more than two log lines cost; one process
   * switching levels leaves only the lines' cost between its windows.
   */
  levelPairs?: boolean
  /**
   * A WAF target: must refuse a hostile handshake (bench/hostile.ts) with 403
   * at start, or it is not measured. wsgate: when its chain holds the WAF.
   */
  waf?: boolean
}

const TARGETS: TargetSpec[] = [
  { name: 'direct', label: 'direct (no proxy)', kind: 'direct', modes: ['pingpong', 'stream', 'stream4', 'handshake'] },
  { name: 'bare', label: 'bare Node pipe', kind: 'bare', modes: ALL_MODES },
  { name: 'nginx', label: 'nginx', kind: 'nginx', modes: ALL_MODES },
  // The memory anchor: RSS per idle connection, and under four streams.
  { name: 'haproxy', label: 'HAProxy', kind: 'haproxy', modes: ALL_MODES },
  { name: 'http-proxy', label: 'node-http-proxy', kind: 'http-proxy', modes: ALL_MODES },
  { name: 'wsgate-empty', label: 'wsgate, empty chain', kind: 'wsgate', chain: 'empty', modes: ALL_MODES },
  { name: 'wsgate-full', label: 'wsgate, full chain', kind: 'wsgate', chain: 'full', token: true, waf: true, modes: ALL_MODES },
  // The same with jwtAuth's verified-token cache: every handshake sends the same token, so after the first each is a
  // reconnecting client's, served from the cache.
  {
    name: 'wsgate-full-cached',
    label: 'wsgate, full chain, jwtAuth cache on (one token: reconnects)',
    kind: 'wsgate',
    chain: 'full',
    jwtCache: 10_000,
    token: true,
    waf: true,
    modes: ['handshake'],
  },
  { name: 'wsgate-empty-info', label: 'wsgate, empty chain, LOG_LEVEL=info', kind: 'wsgate', chain: 'empty', logLevel: 'info', modes: ['handshake'] },
  // The cost of the info level in one process: warn and info windows alternating (the metrics are on in both: the admin API sets the level).
  { name: 'wsgate-log-levels', label: 'wsgate, empty chain, metrics on, info vs warn in one process', kind: 'wsgate', chain: 'empty', admin: true, levelPairs: true, modes: ['handshake'] },
  // The same relay without the frame-boundary tracker: what reading the frame headers costs.
  { name: 'wsgate-empty-notracker', label: 'wsgate, empty chain, no frame tracker', kind: 'wsgate', chain: 'empty', closeFrames: false, modes: ['pingpong', 'stream', 'stream4'] },
  // The same with the Prometheus metrics on (counted per handshake and per connection end): what they cost.
  { name: 'wsgate-empty-metrics', label: 'wsgate, empty chain, metrics on', kind: 'wsgate', chain: 'empty', admin: true, modes: ['pingpong', 'stream', 'stream4', 'handshake'] },
  // The price of a handshake WAF elsewhere: the same CRS at the same paranoia, beside waf() alone.
  { name: 'nginx-modsec', label: 'nginx + ModSecurity, CRS PL1', kind: 'nginx-modsec', waf: true, modes: ['handshake'] },
  // Each middleware of the full chain alone: its cost under the same load, less the empty chain's.
  { name: 'wsgate-waf', label: 'wsgate, waf() only', kind: 'wsgate', chain: 'waf', waf: true, modes: ['handshake'] },
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

/** PUT of a JSON body that must answer 200. */
function putJson(port: number, path: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path, method: 'PUT', agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume()
      response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`PUT ${path}: ${response.statusCode}`))))
    })
    request.on('error', reject)
    request.end(JSON.stringify(body))
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
  /** wsgate with `admin`: the admin listener's port. */
  adminPort?: number
  /** The proxy's processes (empty for direct). */
  pids: number[]
  /** wsgate's GET /__bench answer. */
  info?: { chain: string[]; waf: boolean; wafNote?: string; jwtCache?: { max: number } | false; timings: Record<string, { count: number; ms: number; cpuMs: number }> }
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
    case 'nginx':
    case 'nginx-modsec': {
      const dir = mkdtempSync(join(os.tmpdir(), 'wsgate-bench-nginx-'))
      tempDirs.add(dir)
      const port = await freePort()
      const conf = join(dir, 'nginx.conf')
      const errorLog = join(runDir, `${spec.name}-error.log`)
      let modsecurity: { modsecurityRules: string } | undefined
      if (spec.kind === 'nginx-modsec') {
        modsecurity = { modsecurityRules: join(dir, 'modsecurity.conf') }
        writeFileSync(modsecurity.modsecurityRules, modsecurityRules({ paranoia: 1 }))
      }
      writeFileSync(conf, nginxConfig({ dir, port, originPort, maxFiles: limits.hard, errorLog, ...modsecurity }))
      const child = spawnChild(spec.name, NGINX_BINARY, ['-p', dir, '-c', conf, '-e', errorLog], { cpu: PROXY_CPU })
      await whenReady(child, spec.name, () => connectable(port))
      // The master forks its worker before it listens; both count.
      const pids = processTree(child.pid!)
      return { port, path: '/bench', pids, stop: () => stopInDir(child, dir) }
    }
    case 'haproxy': {
      const dir = mkdtempSync(join(os.tmpdir(), 'wsgate-bench-haproxy-'))
      tempDirs.add(dir)
      const port = await freePort()
      const conf = join(dir, 'haproxy.cfg')
      writeFileSync(conf, haproxyConfig({ port, originPort, maxFiles: limits.hard }))
      // -db: foreground, one process (no master): its pid is the proxy's, and SIGTERM stops it.
      const child = spawnChild(spec.name, HAPROXY_BINARY, ['-db', '-f', conf], { cpu: PROXY_CPU })
      await whenReady(child, spec.name, () => connectable(port))
      return { port, path: '/bench', pids: processTree(child.pid!), stop: () => stopInDir(child, dir) }
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
        BENCH_JWT_CACHE: spec.jwtCache === undefined ? '' : String(spec.jwtCache),
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
      return { port, path: '/bench', pids: processTree(child.pid!), info, ...(adminPort !== undefined ? { adminPort } : {}), stop: () => stopChild(child) }
    }
  }
}

/** Stops a child that runs with its configuration in `dir`, then removes the directory. */
async function stopInDir(child: ChildProcess, dir: string): Promise<void> {
  await stopChild(child)
  rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
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
  /** config.multiStream as fast as it goes, on a fresh process: MiB/s and RSS above idle. */
  stream4?: StreamResult
  /** A WAF target: the status its hostile handshake got (HOSTILE_STATUS, or it was not measured). */
  hostileStatus?: number
  handshake?: HandshakeResult
  /** Open loop at config.pacedHandshakes: CPU per handshake at the same load everywhere. */
  handshakePaced?: HandshakeResult
  /** A `levelPairs` target: its windows at warn and at info, pair by pair. */
  logLevels?: { warn: HandshakeResult; info: HandshakeResult }[]
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

/** A WAF in front of the target: the check of {@link checkHostile} applies. */
function hasWaf(spec: TargetSpec, running: Running): boolean {
  // wsgate-full runs without the WAF when middleware/waf/ cannot load (the report says so): nothing to check then.
  return spec.waf === true && (spec.kind !== 'wsgate' || spec.chain !== 'full' || running.info?.waf === true)
}

/**
 * A WAF target's hostile handshake: refused with HOSTILE_STATUS, or an error
 * saying what came back instead (the target is then not measured: a WAF that
 * lets `?id=1' OR 1=1--` through is not the CRS at PL1, and its cost means nothing).
 */
async function checkHostile(spec: TargetSpec, running: Running, shared: Shared, result: RepResult): Promise<boolean> {
  if (!hasWaf(spec, running)) return true
  const what = `a hostile handshake (GET ${running.path}${decodeURIComponent(HOSTILE_QUERY)})`
  if (spec.kind === 'wsgate' && running.info?.waf !== true) {
    result.errors.push(`waf check: the chain holds no waf (${running.info?.wafNote ?? 'unknown'}); not measured`)
    return false
  }
  try {
    result.hostileStatus = await hostileHandshakeStatus(running.port, running.path, loadTarget(spec, running, shared).headers)
  } catch (error) {
    result.errors.push(`waf check: ${what}: ${(error as Error).message}; not measured`)
    return false
  }
  if (result.hostileStatus === HOSTILE_STATUS) return true
  result.errors.push(`waf check: ${what} got ${result.hostileStatus}, not ${HOSTILE_STATUS}: the WAF does not block; not measured`)
  return false
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
    const cache = running.info.jwtCache ? `, jwtAuth cache max ${running.info.jwtCache.max.toLocaleString('en-US')}` : ''
    log(`  ${spec.name}: chain [${running.info.chain.join(', ') || 'websocket() only'}]${cache}${running.info.wafNote ? ` (${running.info.wafNote})` : ''}`)
  }
  if (!(await checkHostile(spec, running, shared, result))) {
    await running.stop()
    return result
  }
  const base = { target: loadTarget(spec, running, shared), localAddresses: config.localAddresses, cpuPids: running.pids, originPids: shared.originPids }
  // A window that other work on the machine disturbed is measured again (see undisturbed()).
  const measure = <T extends { cpu: WindowCpu; seconds: number }>(what: string, request: LoadRequest): Promise<T> => undisturbed(what, () => client.run<T>(request), result)
  const window = { warmupMs: config.warmupMs, durationMs: config.durationMs }
  try {
    // Warm-up: JIT, the JWKS fetch, first allocations; not measured.
    await warmUp(client, base)
    for (const mode of spec.modes) {
      try {
        if (mode === 'stream4') continue
        if (mode === 'idle') result.idle = await measureIdle(client, base, running)
        else if (mode === 'pingpong') {
          result.pingpong = await measure<PingPongResult>(`${spec.name} pingpong`, { ...base, mode, ...config.pingpong, ...window })
          result.pingpongPaced = await measure<PingPongResult>(`${spec.name} paced pingpong`, { ...base, mode, ...config.pingpong, rate: config.pacedRoundTrips, ...window })
        } else if (mode === 'stream') {
          result.stream = await measure<StreamResult>(`${spec.name} stream`, { ...base, mode, ...config.stream, ...window })
          result.streamPaced = await measure<StreamResult>(`${spec.name} paced stream`, { ...base, mode, ...config.stream, rateMiBps: config.pacedMiBps, ...window })
        } else if (spec.levelPairs && running.adminPort !== undefined) {
          result.logLevels = await measureLogLevels(running.adminPort, (level) => measure<HandshakeResult>(`${spec.name} handshake at ${level}`, { ...base, mode, ...config.handshake, ...window }))
        } else {
          result.handshake = await measure<HandshakeResult>(`${spec.name} handshake`, { ...base, mode, ...config.handshake, ...window })
          result.handshakePaced = await measure<HandshakeResult>(`${spec.name} paced handshake`, { ...base, mode, ...config.handshake, rate: config.pacedHandshakes, ...window })
        }
      } catch (error) {
        result.errors.push(`${mode}: ${(error as Error).message}`)
      }
    }
  } catch (error) {
    result.errors.push(`warm-up: ${(error as Error).message}`)
  } finally {
    await running.stop()
  }
  if (spec.modes.includes('stream4')) {
    // On a process of its own, every attempt: the streams' growth above what the proxy holds idle, not above what
    // earlier modes (or a disturbed attempt) left in its heap.
    const onFreshProcess = async (): Promise<StreamResult> => {
      const fresh = await startTarget(spec, shared)
      try {
        const freshBase = { ...base, cpuPids: fresh.pids, target: loadTarget(spec, fresh, shared) }
        await warmUp(client, freshBase)
        const rssPids = fresh.pids.length > 0 ? { rssPids: fresh.pids } : {}
        return await client.run<StreamResult>({ ...freshBase, mode: 'stream', ...config.multiStream, ...rssPids, ...window })
      } finally {
        await fresh.stop()
      }
    }
    try {
      result.stream4 = await undisturbed(`${spec.name} 4 streams`, onFreshProcess, result)
    } catch (error) {
      result.errors.push(`stream4: ${(error as Error).message}`)
    }
  }
  return result
}

/** Handshakes for a moment before anything is measured: JIT, the JWKS fetch, first allocations. */
async function warmUp(client: LoadClient, base: Omit<LoadCommand, 'id' | 'mode'>): Promise<void> {
  await client.run<HandshakeResult>({ ...base, mode: 'handshake', concurrency: 8, warmupMs: 0, durationMs: quick ? 200 : 500 })
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

/** The proxy's CPU per handshake in a handshake window, µs. */
function handshakeCpuMicros(result: HandshakeResult): number {
  return (result.cpu.proxy / result.handshakes) * 1e6
}

/** Every pair of warn and info windows of a `levelPairs` target's repetitions: the info window's extra CPU per handshake, µs and as a ratio. */
function logLevelCosts(reps: RepResult[]): { micros: number[]; ratios: number[] } {
  const pairs = reps.flatMap((rep) => rep.logLevels ?? [])
  return {
    micros: pairs.map((pair) => handshakeCpuMicros(pair.info) - handshakeCpuMicros(pair.warn)),
    ratios: pairs.map((pair) => handshakeCpuMicros(pair.info) / handshakeCpuMicros(pair.warn)),
  }
}

/** Pairs of windows per repetition of a `levelPairs` target: even, so that each level comes first in as many pairs as the other. */
const LEVEL_PAIRS = 4

/**
 * LEVEL_PAIRS pairs of handshake windows, at warn and at info, switched
 * through `PUT /log-level`; the order alternates. One window at warn goes
 * first, not kept: a process's first window costs more than its later ones
 * (10–20 % in trial runs: the JIT is still settling), which would charge
 * whichever level came first.
 */
async function measureLogLevels(adminPort: number, window: (level: 'warn' | 'info') => Promise<HandshakeResult>): Promise<NonNullable<RepResult['logLevels']>> {
  await putJson(adminPort, '/log-level', { level: 'warn' })
  await window('warn')
  const pairs: NonNullable<RepResult['logLevels']> = []
  for (let pair = 0; pair < LEVEL_PAIRS; pair++) {
    const results: Partial<Record<'warn' | 'info', HandshakeResult>> = {}
    for (const level of pair % 2 === 0 ? (['warn', 'info'] as const) : (['info', 'warn'] as const)) {
      await putJson(adminPort, '/log-level', { level })
      results[level] = await window(level)
    }
    pairs.push({ warn: results.warn!, info: results.info! })
  }
  return pairs
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
      const result = await client.run<HandshakeResult>({ ...base, mode, ...config.handshake, rate: config.pacedHandshakes, ...window })
      work = `${result.handshakes.toLocaleString('en-US')} handshakes at ${config.pacedHandshakes}/s`
    }
  } finally {
    await running.stop()
  }
  // The largest profile: a process that only started and handed over (e.g. a re-exec) writes a small one too.
  const written = readdirSync(profileDir)
    .filter((file) => file.endsWith('.cpuprofile'))
    .sort((a, b) => statSync(join(profileDir, b)).size - statSync(join(profileDir, a)).size)[0]
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
  /** Four streams (config.multiStream) as fast as they go: MiB/s echoed in all. */
  multiMiBPerSec: number
  /** Four streams: the proxy's RSS at the window's end less its RSS before they opened, bytes. */
  multiRssAboveIdle: number
  /** Four streams: the highest RSS sampled (every 100 ms) less the idle RSS, bytes. */
  multiRssPeakAboveIdle: number
  handshakesPerSec: number
  handshakeP50Ms: number
  /** Proxy CPU per handshake (connect, upgrade, one echo, close), µs. */
  cpuMicrosPerHandshake: number
  /** The same at config.pacedHandshakes (open loop), µs. */
  cpuMicrosPerHandshakePaced: number
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
    multiMiBPerSec: pick((rep) => rep.stream4?.mibPerSec),
    multiRssAboveIdle: pick((rep) => (rep.stream4?.rss ? rep.stream4.rss.end - rep.stream4.rss.idle : undefined)),
    multiRssPeakAboveIdle: pick((rep) => (rep.stream4?.rss ? rep.stream4.rss.peak - rep.stream4.rss.idle : undefined)),
    handshakesPerSec: pick((rep) => rep.handshake?.rate),
    handshakeP50Ms: pick((rep) => rep.handshake?.p50Ms),
    cpuMicrosPerHandshake: pick((rep) => (rep.handshake ? handshakeCpuMicros(rep.handshake) : undefined)),
    cpuMicrosPerHandshakePaced: pick((rep) => (rep.handshakePaced ? handshakeCpuMicros(rep.handshakePaced) : undefined)),
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

/** How a run loaded the handshake windows (runs saved before the paced window had one window, closed or paced). */
function handshakeLoad(runConfig: typeof config): string {
  const { concurrency, rate } = runConfig.handshake as { concurrency: number; rate?: number }
  if (rate !== undefined) return `paced at ${rate}/s, at most ${concurrency} in flight`
  const closed = `${concurrency} concurrent (handshakes/s and CPU)`
  return runConfig.pacedHandshakes ? `${closed}, then open loop at ${runConfig.pacedHandshakes}/s (CPU at the same load)` : closed
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
  // Runs saved before the paced handshake window lack the rate.
  const pacedHandshakes = run.config.pacedHandshakes ? [[`CPU µs/handshake @${run.config.pacedHandshakes}/s`, (s: TargetSummary) => s.cpuMicrosPerHandshakePaced] as [string, (summary: TargetSummary) => number]] : []
  return [
    ['round trips/s', (s) => s.roundTripsPerSec],
    [`p50 µs ${paced}`, (s) => s.p50Micros],
    [`p99 µs ${paced}`, (s) => s.p99Micros],
    [`CPU µs/round trip ${paced}`, (s) => s.cpuMicrosPerRoundTrip],
    ['MiB/s (64 KiB)', (s) => s.mibPerSec],
    [`CPU ms/MiB ${pacedMiB}`, (s) => s.cpuMsPerMiB],
    ...MULTI_STREAM_COLUMNS,
    ...OTHER_COLUMNS,
    ...pacedHandshakes,
  ]
}

/** The four-stream scenario's columns (issue 14); RSS in MiB (2^20 bytes). */
const MULTI_STREAM_COLUMNS: [header: string, get: (summary: TargetSummary) => number][] = [
  ['MiB/s (4 × 64 KiB)', (s) => s.multiMiBPerSec],
  ['RSS MiB above idle (4 streams)', (s) => s.multiRssAboveIdle / 2 ** 20],
  ['peak RSS MiB above idle (4 streams)', (s) => s.multiRssPeakAboveIdle / 2 ** 20],
]

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
  return {
    node: process.version,
    nginx: nginxVersion(),
    haproxy: haproxyVersion(),
    modsecurity: modsecurityVersion(),
    httpProxy: httpProxyVersion,
    wsgate: commit ? `${commit}${dirty ? '+uncommitted' : ''}` : undefined,
  }
}

/** The versions a run measured, in one line (a saved run from before HAProxy and ModSecurity joined lacks them). */
function versionLine(versions: Record<string, string | undefined>): string {
  const anchors = 'haproxy' in versions ? `, HAProxy ${versions.haproxy ?? 'absent'}, ModSecurity ${versions.modsecurity ?? 'absent'}` : ''
  return `node ${versions.node}, nginx ${versions.nginx ?? 'absent'}${anchors}, http-proxy ${versions.httpProxy}, wsgate ${versions.wsgate}`
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
  // The Debian anchors: installed when missing (as root), left out with a line saying why otherwise.
  const anchors: [kind: TargetSpec['kind'], ensure: (log: (line: string) => void) => boolean][] = [
    ['nginx', ensureNginx],
    ['haproxy', ensureHaproxy],
    ['nginx-modsec', ensureModsecurity],
  ]
  for (const [kind, ensure] of anchors) if (targets.some((spec) => spec.kind === kind) && !ensure(log)) targets = targets.filter((spec) => spec.kind !== kind)
  const info = { date: new Date().toISOString(), quick, config, versions: versions(), machine: machine() }
  log(`wsgate bench${quick ? ' (quick)' : ''}: ${config.reps} repetition(s), ${targets.map((spec) => spec.name).join(', ')}`)
  log(`  ${versionLine(info.versions)}`)
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
        if (result.logLevels) {
          const pairs = result.logLevels.map((pair) => `${fmt(handshakeCpuMicros(pair.warn))} → ${fmt(handshakeCpuMicros(pair.info))}`)
          log(`  ${spec.name.padEnd(18)} µs CPU/hs at warn → at info, pair by pair: ${pairs.join(', ')}${result.errors.length ? `\n    errors: ${result.errors.join('; ')}` : ''}`)
          continue
        }
        log(
          `  ${spec.name.padEnd(18)} ${fmt(s.roundTripsPerSec)} rt/s, ${fmt(s.cpuMicrosPerRoundTrip)} µs CPU/rt (${fmt(s.pacedRoundTripsPerSec)}/s), ${fmt(s.mibPerSec)} MiB/s, ${fmt(s.cpuMsPerMiB)} ms CPU/MiB (${fmt(s.pacedMiBPerSec)} MiB/s), ${fmt(s.handshakesPerSec)} hs/s (${fmt(s.cpuMicrosPerHandshake)} µs CPU/hs, ${fmt(s.systemShareHandshake * 100, 2)} % sys), ` +
            `${fmt(s.rssPerIdleConnection / 1024)} KiB/idle conn, 4 streams ${fmt(s.multiMiBPerSec)} MiB/s +${fmt(s.multiRssPeakAboveIdle / 2 ** 20)} MiB peak (${((Date.now() - t0) / 1000).toFixed(1)} s)${result.errors.length ? `\n    errors: ${result.errors.join('; ')}` : ''}`,
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

/** One target of an issue, as the report states it. */
interface Check {
  target: string
  value: number
  limit: number
  met: boolean
  text: string
  /** The issue that set it (the earlier rounds' targets have none). */
  issue?: number
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
  checks: Check[]
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
  out.push(versionLine(run.versions))
  out.push(
    `medians of ${runConfig.reps} repetition(s); ping-pong ${runConfig.pingpong.connections} connections × ${runConfig.pingpong.size} B (round trips/s: closed loop; latency and CPU: ` +
      `open loop at ${runConfig.pacedRoundTrips.toLocaleString('en-US')} round trips/s), stream ${runConfig.stream.connections} connection × 64 KiB frames (MiB/s: as fast as it goes; CPU: at ${runConfig.pacedMiBps} MiB/s), ` +
      (runConfig.multiStream
        ? `4 streams: ${runConfig.multiStream.connections} connections × 64 KiB frames as fast as they go on a fresh proxy process, its RSS at the window's end and at its peak (sampled every 100 ms) less its RSS before they opened, ` +
          `idle: ${runConfig.idle.connections.toLocaleString('en-US')} connections held, RSS growth per connection, `
        : '') +
      `handshake ${handshakeLoad(runConfig)} (${runConfig.handshake.freshKeys ? 'a fresh Sec-WebSocket-Key each' : 'one Sec-WebSocket-Key for all'}), windows ${runConfig.durationMs / 1000} s after ${runConfig.warmupMs / 1000} s warm-up`,
  )
  if (run.background) {
    const worst = Math.max(...run.background)
    out.push(`other work on the machine before each repetition: ${run.background.map((busy) => `${(busy * 100).toFixed(0)} %`).join(', ')} of its CPU${worst > 0.1 ? ' — NOISY: rerun on a quiet machine' : ''}`)
  }
  // What the full chain held, when it ran (a run without it has nothing to say about its WAF).
  if (run.targets.includes('wsgate-full')) {
    out.push(`full chain: ${wafInChain.full ? 'waf (CRS, paranoia 1), ' : `NO waf (${wafInChain.note ?? 'unknown'}), `}normalizeHeaders, cacheBypass, jwtAuth (ES256, local JWKS)`)
  }
  out.push('')
  out.push(...markdownTable(['target', ...COLUMNS.map(([header]) => header)], run.targets.map((name) => [labels.get(name) ?? name, ...COLUMNS.map(([, get]) => fmt(get(summaries[name]!)))])))

  const ratioColumns = COLUMNS.filter(([header]) => header !== 'idle conns')
  const ratioTable: Record<string, Record<string, Record<string, number>>> = {}
  const ratioRows: string[][] = []
  for (const gateway of ['wsgate-empty', 'wsgate-full']) {
    if (!summaries[gateway]) continue
    ratioTable[gateway] = {}
    for (const against of ['bare', 'nginx', 'haproxy', 'http-proxy', 'direct', ...(gateway === 'wsgate-empty' ? ['wsgate-empty-notracker'] : [])]) {
      if (!summaries[against]) continue
      const r: Record<string, number> = {}
      for (const [header, get] of ratioColumns) r[header] = pairedRatio(run.reps[gateway]!, run.reps[against]!, get)
      ratioTable[gateway]![against] = r
      ratioRows.push([`${gateway} / ${against}`, ...ratioColumns.map(([header]) => (Number.isFinite(r[header]!) ? `${r[header]!.toFixed(2)}×` : '—'))])
    }
  }
  out.push('', '### Ratios', '', 'wsgate ÷ other, the median of the ratios within each repetition. CPU, latency and RSS: lower is better; rates: higher is better.', '')
  out.push(...markdownTable(['ratio', ...ratioColumns.map(([header]) => header)], ratioRows))

  // ---- targets of the issues
  const checks: Check[] = []
  const hsCost = (name: string): number => summaries[name]?.cpuMicrosPerHandshake ?? Number.NaN
  const paired = (of: string, to: string, get: (summary: TargetSummary) => number): number =>
    run.reps[of] && run.reps[to] ? pairedRatio(run.reps[of], run.reps[to], get) : Number.NaN
  let metricsLine: string | undefined
  /** A target: MET when `value` is within `limit` (at most, or at least); a ratio unless `unit` says otherwise. */
  const check = (target: string, value: number, limit: number, atMost: boolean, options: { unit?: string; issue?: number } = {}): void => {
    const unit = options.unit ?? '×'
    const met = atMost ? value <= limit : value >= limit
    const shown = (n: number): string => (unit === '×' ? n.toFixed(2) : fmt(n))
    // By how much, as a share of the limit: what a missed target's note has to say.
    const by = Number.isFinite(value) && !met ? `, missed by ${fmt(Math.abs(value / limit - 1) * 100, 2)} %` : ''
    const status = !Number.isFinite(value) ? 'NOT MEASURED' : met ? 'MET   ' : 'MISSED'
    const text = `${status} ${target}: ${Number.isFinite(value) ? shown(value) : '—'}${unit === '×' ? '×' : ` ${unit}`} (target ${atMost ? '≤' : '≥'} ${limit}${unit === '×' ? '×' : ` ${unit}`}${by})`
    checks.push({ target, value, limit, met, text, ...(options.issue !== undefined ? { issue: options.issue } : {}) })
  }
  for (const gateway of ['wsgate-empty', 'wsgate-full']) {
    const r = ratioTable[gateway]
    if (!r) continue
    if (r.bare) {
      // The empty chain's relay ratios are issue 14's, checked below at its 1.05× (one line per ratio).
      if (gateway !== 'wsgate-empty') {
        check(`${gateway} relay CPU per message vs bare pipe`, r.bare[COLUMNS[3]![0]]!, 1.1, true)
        check(`${gateway} relay CPU per MiB vs bare pipe`, r.bare[COLUMNS[5]![0]]!, 1.1, true)
      }
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
  // Issue 14 (performance round two): ratios paired within each repetition; sizes in KiB and MiB (2^10, 2^20 bytes), as the table has them.
  const cpuPerHandshake = (summary: TargetSummary): number => summary.cpuMicrosPerHandshake
  const issue14 = { issue: 14 }
  if (summaries['wsgate-empty'] && summaries.bare) check('CPU per handshake, wsgate-empty ÷ bare pipe', paired('wsgate-empty', 'bare', cpuPerHandshake), 1.25, true, issue14)
  if (summaries['wsgate-full'] && summaries['wsgate-empty']) check('CPU per handshake, wsgate-full ÷ wsgate-empty', paired('wsgate-full', 'wsgate-empty', cpuPerHandshake), 2, true, issue14)
  // The same two at the same offered load for every target (the paced window), beside node-http-proxy's.
  const pacedPerHandshake = (summary: TargetSummary): number => summary.cpuMicrosPerHandshakePaced
  const atRate = `at ${run.config.pacedHandshakes}/s`
  if (summaries['wsgate-empty'] && summaries.bare && run.config.pacedHandshakes) {
    check(`CPU per handshake ${atRate}, wsgate-empty ÷ bare pipe`, paired('wsgate-empty', 'bare', pacedPerHandshake), 1.25, true, issue14)
    if (summaries['http-proxy']) check(`CPU per handshake ${atRate}, wsgate-empty ÷ node-http-proxy`, paired('wsgate-empty', 'http-proxy', pacedPerHandshake), 1, true, issue14)
  }
  if (summaries['wsgate-full'] && summaries['wsgate-empty'] && run.config.pacedHandshakes) {
    check(`CPU per handshake ${atRate}, wsgate-full ÷ wsgate-empty`, paired('wsgate-full', 'wsgate-empty', pacedPerHandshake), 2, true, issue14)
  }
  const levelCosts = logLevelCosts(run.reps['wsgate-log-levels'] ?? [])
  if (levelCosts.ratios.length > 0) {
    // One process switching levels: only the lines' cost between the windows (the two-process pair below carries ±10 % of placement).
    check('CPU per handshake, logging at info ÷ at warn, one process (wsgate-log-levels)', median(levelCosts.ratios), 1.05, true, issue14)
  } else if (summaries['wsgate-empty-info'] && summaries['wsgate-empty']) {
    check('CPU per handshake, logging at info: wsgate-empty-info ÷ wsgate-empty', paired('wsgate-empty-info', 'wsgate-empty', cpuPerHandshake), 1.05, true, issue14)
  }
  if (ratioTable['wsgate-empty']?.bare) {
    check('relay CPU per message, wsgate-empty ÷ bare pipe', ratioTable['wsgate-empty'].bare[COLUMNS[3]![0]]!, 1.05, true, issue14)
    check('relay CPU per MiB, wsgate-empty ÷ bare pipe', ratioTable['wsgate-empty'].bare[COLUMNS[5]![0]]!, 1.05, true, issue14)
  }
  if (summaries['wsgate-full'] && summaries['wsgate-empty']) {
    check('RSS per idle connection, wsgate-full ÷ wsgate-empty', paired('wsgate-full', 'wsgate-empty', (summary) => summary.rssPerIdleConnection), 1, true, issue14)
  }
  for (const gateway of ['wsgate-empty', 'wsgate-full']) {
    const summary = summaries[gateway]
    if (!summary) continue
    check(`RSS per idle connection, ${gateway}`, summary.rssPerIdleConnection / 1024, 10, true, { ...issue14, unit: 'KiB' })
    if (!run.config.multiStream) continue
    // The peak, not the end of the window: the growth while relaying is what a host has to provide for.
    check(`peak RSS above idle, 4 × 64 KiB streams, ${gateway}`, summary.multiRssPeakAboveIdle / 2 ** 20, 64, true, { ...issue14, unit: 'MiB' })
    if (summaries.bare) check(`MiB/s, 4 × 64 KiB streams, ${gateway} ÷ bare pipe (no loss of throughput)`, paired(gateway, 'bare', (s) => s.multiMiBPerSec), 0.95, false, issue14)
  }
  // The WAF alone against nginx + ModSecurity with the same CRS at the same paranoia: keep the lead.
  if (summaries['wsgate-waf'] && summaries['nginx-modsec']) {
    check('CPU per handshake, waf() alone ÷ nginx + ModSecurity (CRS PL1)', paired('wsgate-waf', 'nginx-modsec', cpuPerHandshake), 1, true, issue14)
  }
  const earlier = checks.filter((c) => c.issue === undefined)
  const later = checks.filter((c) => c.issue === 14)
  out.push('', '### Targets')
  if (earlier.length > 0) out.push('', 'Earlier rounds:', '', ...earlier.map((c) => `- ${c.text}`))
  if (later.length > 0) out.push('', 'Issue 14 (performance round two):', '', ...later.map((c) => `- ${c.text}`))

  // ---- idle connections and what 100,000 would take
  const idleLines = (['wsgate-empty', 'wsgate-full', 'haproxy'] as const)
    .filter((name) => Number.isFinite(summaries[name]?.rssPerIdleConnection))
    .map((name) => {
      const perConnection = summaries[name]!.rssPerIdleConnection
      return `${labels.get(name)} ${(perConnection / 1024).toFixed(1)} KiB each → ${((perConnection * 100_000) / 2 ** 30).toFixed(2)} GiB`
    })
  const idleGateway = summaries['wsgate-full'] ?? summaries['wsgate-empty']
  if (idleGateway && idleLines.length > 0 && Number.isFinite(idleGateway.rssPerIdleConnection)) {
    // wsgate's own ceiling (`connection ceiling` at start): two descriptors per connection, 100 kept back.
    const ceiling = Math.floor((run.openFileLimit - 100) / 2)
    out.push(
      '',
      `Idle: ${fmt(idleGateway.idleConnections)} connections held through one process (the gateway's ceiling is ${ceiling.toLocaleString('en-US')} at ${run.openFileLimit.toLocaleString('en-US')} open files). ` +
        `RSS growth per connection and what 100,000 idle connections would take: ${idleLines.join('; ')}; ` +
        `plus kernel socket buffers, and for wsgate 200,000 descriptors (LimitNOFILE ≥ 200,100), or ${Math.ceil(100_000 / ceiling)} processes at this machine's limit.`,
    )
  }
  // The four streams in absolute terms too: what each proxy holds idle, and where the streams take it.
  const mib = (bytes: number): string => fmt(bytes / 2 ** 20)
  const streamRss = run.targets
    .map((name) => {
      const rss = (run.reps[name] ?? []).map((rep) => rep.stream4?.rss).filter((value): value is NonNullable<typeof value> => value !== undefined)
      if (rss.length === 0) return undefined
      return `${name} ${mib(median(rss.map((r) => r.idle)))} → ${mib(median(rss.map((r) => r.end)))} (peak ${mib(median(rss.map((r) => r.peak)))})`
    })
    .filter((line) => line !== undefined)
  if (streamRss.length > 0) out.push(`4 streams, the proxy's RSS in MiB, idle → at the window's end (peak), medians: ${streamRss.join(', ')}.`)
  const hostile = run.targets.filter((name) => (run.reps[name] ?? []).some((rep) => rep.hostileStatus !== undefined))
  if (hostile.length > 0) {
    out.push(
      `WAF check at each start, a hostile handshake (GET /bench${decodeURIComponent(HOSTILE_QUERY)}): ` +
        hostile.map((name) => `${name} ${[...new Set(run.reps[name]!.map((rep) => rep.hostileStatus ?? '—'))].join('/')}`).join(', ') +
        ` (${HOSTILE_STATUS} expected; a target that let it through is not measured).`,
    )
  }

  // ---- chain cost by middleware
  if (summaries['wsgate-full'] && summaries['wsgate-empty']) {
    out.push('', `Chain cost per handshake (proxy CPU): full ${fmt(hsCost('wsgate-full'))} µs − empty ${fmt(hsCost('wsgate-empty'))} µs = ${fmt(hsCost('wsgate-full') - hsCost('wsgate-empty'))} µs`)
  }
  if (summaries['wsgate-full-cached'] && summaries['wsgate-full']) {
    // One token for every handshake: after the first, each is a reconnect the cache serves; a population of new tokens pays the uncached price.
    out.push(
      `jwtAuth's verified-token cache, the same token at every handshake (a client reconnecting): full chain with the cache ÷ without, CPU per handshake ` +
        `${paired('wsgate-full-cached', 'wsgate-full', cpuPerHandshake).toFixed(2)}× (paired; ${fmt(hsCost('wsgate-full-cached'))} vs ${fmt(hsCost('wsgate-full'))} µs, ` +
        `${fmt(summaries['wsgate-full-cached'].handshakesPerSec)} vs ${fmt(summaries['wsgate-full'].handshakesPerSec)} handshakes/s)`,
    )
  }
  const alone = ALONE.filter(([target]) => summaries[target])
  if (alone.length > 0 && summaries['wsgate-empty']) {
    out.push(
      `By middleware under the same load (each alone in front of websocket(), proxy CPU less the empty chain's): ` +
        alone.map(([target, middleware]) => `${middleware} ${fmt(hsCost(target) - hsCost('wsgate-empty'))} µs`).join(', '),
    )
  }
  if (summaries['wsgate-waf'] && summaries['nginx-modsec']) {
    // The same CRS at the same paranoia in both; each less its proxy without a WAF, where both were measured.
    const own =
      summaries['wsgate-empty'] && summaries.nginx
        ? `; the WAF's own part: waf() − empty chain ${fmt(hsCost('wsgate-waf') - hsCost('wsgate-empty'))} µs, ModSecurity − nginx ${fmt(hsCost('nginx-modsec') - hsCost('nginx'))} µs`
        : ''
    out.push(
      `The price of a handshake WAF (the CRS at PL1): waf() alone ${fmt(hsCost('wsgate-waf'))} µs of CPU per handshake, nginx + ModSecurity ${fmt(hsCost('nginx-modsec'))} µs; ` +
        `waf() alone ÷ nginx+ModSecurity ${paired('wsgate-waf', 'nginx-modsec', cpuPerHandshake).toFixed(2)}× (paired)${own}`,
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
  if (levelCosts.micros.length > 0) {
    out.push(
      `Logging at info, one process (wsgate-log-levels: windows at warn and at info alternating, the level set through PUT /log-level): ` +
        `+${fmt(median(levelCosts.micros))} µs CPU per handshake, ${fmt((median(levelCosts.ratios) - 1) * 100, 2)} % ` +
        `(median of ${levelCosts.micros.length} pairs; range ${fmt(Math.min(...levelCosts.micros))} to ${fmt(Math.max(...levelCosts.micros))} µs)`,
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
