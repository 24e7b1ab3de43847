import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { build } from 'esbuild'
import { Miniflare } from 'miniflare'

/**
 * A Worker run by workerd (Miniflare), the runtime Cloudflare runs: an
 * entry module of the tests' own, bundled as wrangler bundles one
 * (esbuild, ES module, the `workerd` export condition, nothing of Node's),
 * with its log lines kept for the test to read.
 */
export interface Workerd {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The Worker's `console.log` lines, parsed where they are JSON (the gateway's log lines). */
  readonly lines: Record<string, unknown>[]
  /** A request made inside Miniflare, with a `cf` object of the test's (e.g. `{ httpProtocol: 'HTTP/2' }`). */
  dispatch(path: string, init?: RequestInit & { cf?: Record<string, unknown> }): Promise<Response>
  close(): Promise<void>
}

/** The compatibility date of wrangler.toml: the same runtime behaviour the deployed Worker gets. */
const COMPATIBILITY_DATE = '2025-11-01'

/**
 * Bundles `entry` (a module that default-exports `workersGateway(...)`) and
 * serves it on 127.0.0.1 in workerd, with `bindings` as the Worker's
 * variables.
 */
export async function startWorkerd(entry: string, bindings: Record<string, string>): Promise<Workerd> {
  const outdir = await mkdtemp(join(tmpdir(), 'wsgate-workerd-'))
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    outfile: join(outdir, 'worker.js'),
    logLevel: 'error',
  })
  const lines: Record<string, unknown>[] = []
  const miniflare = new Miniflare({
    modules: true,
    scriptPath: join(outdir, 'worker.js'),
    modulesRoot: outdir,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { LOG_LEVEL: 'info', ...bindings },
    host: '127.0.0.1',
    port: 0,
    handleRuntimeStdio(stdout: Readable) {
      createInterface({ input: stdout }).on('line', (line) => {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>)
        } catch {
          // Not one of the gateway's lines (workerd's own output).
        }
      })
    },
  })
  const url = await miniflare.ready
  return {
    url: url.origin,
    port: Number(url.port),
    lines,
    dispatch: (path, init) => miniflare.dispatchFetch(`${url.origin}${path}`, init as never) as unknown as Promise<Response>,
    close: async () => {
      await miniflare.dispose()
      await rm(outdir, { recursive: true, force: true })
    },
  }
}
