import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../helpers/ports.ts'
import { contractSuite, type ContractBackends, type ContractHost } from './contract.ts'

const root = join(import.meta.dirname, '..', '..')
const wranglerBin = join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
/** wrangler without its telemetry (no network here) and without colours in what the test reads. */
const wranglerEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' }

/** Runs wrangler with `args` to its end; resolves with its exit code and output. */
async function wrangler(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [wranglerBin, ...args], { cwd: root, env: wranglerEnv })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, output }
}

/** The Worker bundled as `wrangler deploy` would upload it, into a temporary directory. */
let bundleDir: string
let bundle: { code: number | null; output: string }

beforeAll(async () => {
  bundleDir = await mkdtemp(join(tmpdir(), 'wsgate-worker-'))
  bundle = await wrangler(['deploy', '--dry-run', '--outdir', bundleDir])
}, 120_000)

afterAll(async () => {
  await rm(bundleDir, { recursive: true, force: true })
})

describe('the Workers bundle', () => {
  it('builds with `wrangler deploy --dry-run` from wrangler.toml, with no compatibility flag', async () => {
    expect(bundle.code, bundle.output).toBe(0)
    expect(bundle.output).toMatch(/Total Upload: [\d.]+ KiB \/ gzip: [\d.]+ KiB/)
    const toml = await readFile(join(root, 'wrangler.toml'), 'utf8')
    expect(toml).toMatch(/^main = "src\/workers\/main\.ts"$/m)
    expect(toml).not.toMatch(/^compatibility_flags/m)
    // The log lines are kept in Workers Logs, not only shown live by `wrangler tail`.
    expect(toml).toMatch(/^\[observability\]\nenabled = true$/m)
    // Nothing of Node's reaches the bundle: no node: import for workerd to refuse.
    expect(await readFile(join(bundleDir, 'main.js'), 'utf8')).not.toMatch(/from\s*["']node:/)
  })
})

// The bundle, run by workerd through Miniflare (what `wrangler dev` runs inside): requests reach the Worker as
// the client sent them. (`wrangler dev`'s own local proxy answers a WebSocket handshake itself before the Worker
// sees it — a new key, version 13 — so the strict handshake cases are checked here, and `wrangler dev` below.)
contractSuite('Cloudflare Workers (workerd, the bundle wrangler builds)', async ({ echoOrigin, jwksUrl, httpOrigin }: ContractBackends): Promise<ContractHost> => {
  expect(bundle.code, bundle.output).toBe(0)
  const miniflare = new Miniflare({
    modules: true,
    scriptPath: join(bundleDir, 'main.js'),
    // Module names are paths relative to this root; the bundle lives outside the working directory.
    modulesRoot: bundleDir,
    compatibilityDate: '2025-11-01',
    bindings: { ECHO_ORIGIN: echoOrigin, JWKS_URL: jwksUrl, HTTP_ORIGIN: httpOrigin, LOG_LEVEL: 'warn' },
    host: '127.0.0.1',
    port: 0,
    cf: false,
  })
  const url = await miniflare.ready
  return { url: url.origin, close: () => miniflare.dispose() }
})

contractSuite('`wrangler dev` (the example routes from wrangler.toml, locally in workerd)', async ({ echoOrigin, jwksUrl, httpOrigin }) => {
  const port = await freePort()
  const child: ChildProcess = spawn(
    process.execPath,
    [wranglerBin, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--var', `ECHO_ORIGIN:${echoOrigin}`, '--var', `JWKS_URL:${jwksUrl}`, '--var', `HTTP_ORIGIN:${httpOrigin}`, '--var', 'LOG_LEVEL:warn'],
    { cwd: root, env: wranglerEnv, detached: true },
  )
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start: ${output}`)), 60_000)
    const check = (): void => {
      if (!output.includes(`Ready on http://127.0.0.1:${port}`)) return
      clearTimeout(timer)
      resolve()
    }
    child.stdout!.on('data', check)
    child.once('exit', (code) => reject(new Error(`wrangler dev exited with ${code}: ${output}`)))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      if (child.exitCode !== null) return
      const exited = once(child, 'exit')
      // wrangler and the workerd it started: the process group this test spawned.
      process.kill(-child.pid!, 'SIGTERM')
      await exited
    },
  }
}, { devProxy: true })
