/**
 * What the memory probes run: the benchmark's echo origin, a JWKS server
 * and a token for the full chain, and the proxy under test — wsgate through
 * its own CLI with the benchmark's routes (`BENCH_CHAIN=empty|full`), started
 * with the arguments `bench/run.ts` gives it, or the bare Node pipe. Every
 * process listens on 127.0.0.1 and is stopped by its PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { mint, startJwksServer, testKey, type JwksServer } from '../../test/helpers/jwks.ts'

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..')
const ROOT = join(BENCH, '..')

/** The proxies a probe can measure. */
export type TargetName = 'bare' | 'empty' | 'full'

/**
 * A target as the command line names it: `empty`; `empty@/path/to/tree`
 * for the same target run from another checkout (an A/B of a change, both
 * measured in one run); `empty~--max-semi-space-size=8` with Node flags of
 * its own (several joined by `~`).
 */
export interface TargetSpec {
  readonly label: string
  readonly name: TargetName
  /** The repository the target runs from. */
  readonly root: string
  /** Node flags for this target alone. */
  readonly nodeArgs: readonly string[]
}

/** Parses `name[@root][~flag…]`. */
export function parseTarget(text: string): TargetSpec {
  const [where, ...nodeArgs] = text.split('~') as [string, ...string[]]
  const [name, root = ROOT] = where.split('@') as [string, string | undefined]
  if (name !== 'bare' && name !== 'empty' && name !== 'full') throw new TypeError(`unknown target "${name}": bare, empty or full`)
  return { label: text, name, root, nodeArgs }
}

/** A started process: its PID, the port it listens on, and how to stop it. */
export interface Running {
  readonly pid: number
  readonly port: number
  stop(): Promise<void>
}

/** The origin and the JWKS every target shares within one probe run. */
export interface Shared {
  readonly origin: Running
  readonly jwks: JwksServer
  /** A valid ES256 token for the full chain, as bench/run.ts mints it. */
  readonly token: string
  stop(): Promise<void>
}

/** The core the target runs on when pinned (the last); the origin and this client share core 0, as in `npm run bench`. */
const TARGET_CPU = os.availableParallelism() - 1
let pinned = false

/**
 * Pins from now on: this process (the load) to core 0, and each process
 * started here to its core — the target alone on the last one, the origin
 * on core 0 — so the target's throughput does not depend on where the
 * scheduler puts the other two. Needs two cores and `taskset`.
 */
export function pinProcesses(): void {
  if (TARGET_CPU < 1) throw new Error('--pin needs two cores or more')
  execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
  pinned = true
}

/** Spawns `node args` on `cpu` when pinned (taskset execs it: the child's pid is node's). */
function spawnNode(args: string[], cpu: number, options: Parameters<typeof spawn>[2]): ChildProcess {
  return pinned ? spawn('taskset', ['-c', String(cpu), process.execPath, ...args], options) : spawn(process.execPath, args, options)
}

/** Starts a child that prints `{"port": N}` on its first line. */
async function startPrinting(args: string[], cpu: number, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const child = spawnNode(args, cpu, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [undefined])])) as [string | undefined]
  if (line === undefined) throw new Error(`${args.join(' ')} exited before listening`)
  lines.on('line', () => {})
  return { pid: child.pid!, port: (JSON.parse(line) as { port: number }).port, stop: () => stop(child) }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

/** Starts the echo origin, the JWKS server, and mints the full chain's token. */
export async function startShared(): Promise<Shared> {
  const origin = await startPrinting([join(BENCH, 'origin.ts'), '--port', '0'], 0)
  const key = await testKey('ES256', 'bench')
  const jwks = await startJwksServer([key.publicJwk])
  const token = await mint(key, { sub: 'bench-user', iss: 'https://idp.bench.local', aud: 'wsgate-bench', exp: Math.floor(Date.now() / 1000) + 4 * 3600 })
  return {
    origin,
    jwks,
    token,
    async stop() {
      await origin.stop()
      await jwks.close()
    },
  }
}

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  const net = await import('node:net')
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as import('node:net').AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** Waits until `port` answers `GET /__bench`. */
async function untilReady(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}`)
    try {
      const response = await fetch(`http://127.0.0.1:${port}/__bench`)
      if (response.ok) return
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the gateway did not answer /__bench within 60 s')
}

/**
 * Starts `name` in front of the shared origin. `nodeArgs` go before the
 * script (e.g. `--heapsnapshot-signal=SIGUSR2`); the gateway gets the bench's
 * command line (caps raised to 100,000) and logs at `warn`, as in `npm run bench`.
 */
export async function startTarget(target: TargetSpec, shared: Shared, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const { name, root } = target
  nodeArgs = [...target.nodeArgs, ...nodeArgs]
  if (name === 'bare') return startPrinting([...nodeArgs, join(root, 'bench', 'targets', 'bare-pipe.ts'), '--port', '0', '--origin', String(shared.origin.port)], TARGET_CPU, env)
  const port = await freePort()
  const caps = ['--max-connections', '100000', '--max-connections-per-client', '100000', '--max-handshakes-per-client', '100000', '--max-handshakes-per-route', '100000']
  const args = [...nodeArgs, join(root, 'bin', 'wsgate.js'), 'start', join(root, 'bench', 'targets', 'wsgate-routes.ts'), '--port', String(port), '--host', '127.0.0.1', ...caps]
  const child = spawnNode(args, TARGET_CPU, {
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      LOG_PRETTY: '',
      BENCH_ORIGIN: `ws://127.0.0.1:${shared.origin.port}`,
      BENCH_CHAIN: name,
      BENCH_JWKS_URL: shared.jwks.url,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: root,
  })
  await untilReady(port, child)
  return { pid: child.pid!, port, stop: () => stop(child) }
}

/** Extra handshake headers `name` needs (the full chain's bearer token). */
export function headersFor(name: TargetName, shared: Shared): Record<string, string> {
  return name === 'full' ? { Authorization: `Bearer ${shared.token}` } : {}
}
