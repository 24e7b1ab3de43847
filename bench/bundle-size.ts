/**
 * What wsgate adds to a Workers bundle: the minified and gzipped size of a
 * route module (a Hono app with one WebSocket route) bundled by esbuild as
 * wrangler bundles a Worker, from `websocket()` alone up to the full chain
 * with `waf()`, then the full chain as a Worker's entry without and with
 * `waf()`. The gap between a chain and the same chain with `waf()` is the
 * WAF; a chain without it leaves it out, though every name comes from the
 * root `wsgate`.
 *
 * `wsgate` and `wsgate/<subpath>` resolve through package.json "exports",
 * each dist path mapped back to its TypeScript source (no build needed), so
 * the sizes are those of the sources' minified JavaScript, Hono included.
 * esbuild is the one wrangler installs.
 *
 *   node_modules/.bin/node bench/bundle-size.ts
 */
import { build, type Plugin } from 'esbuild'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const repo = fileURLToPath(new URL('..', import.meta.url))

/** One bundled entry: its minified code, sizes in bytes, and the modules it kept (paths relative to the repository). */
export interface Bundle {
  code: string
  minified: number
  gzipped: number
  inputs: readonly string[]
}

/** A call on the route of a bundle's entry: the name imported from wsgate and how the route calls it. */
interface RouteStep {
  name: string
  call: string
}

const WEBSOCKET: RouteStep = { name: 'websocket', call: "websocket('wss://origin.example/chat')" }
const JWT_AUTH: RouteStep = { name: 'jwtAuth', call: "jwtAuth({ jwksUrl: 'https://idp.example/.well-known/jwks.json' })" }
const NORMALIZE_HEADERS: RouteStep = { name: 'normalizeHeaders', call: 'normalizeHeaders()' }
const ORIGIN_CHECK: RouteStep = { name: 'originCheck', call: "originCheck({ allowedOrigins: ['https://app.example'] })" }
const CACHE_BYPASS: RouteStep = { name: 'cacheBypass', call: 'cacheBypass()' }
const RATE_LIMIT: RouteStep = { name: 'rateLimit', call: 'rateLimit()' }
const WAF: RouteStep = { name: 'waf', call: 'waf()' }

/**
 * The source of a route module whose one route runs `steps` in order,
 * every name imported from wsgate; `worker` makes it a Worker's entry
 * (`export default workersGateway(app)`) instead of exporting the app.
 * @example
 * routeModule([JWT_AUTH, WEBSOCKET]) // app.all('/chat', jwtAuth({ … }), websocket('wss://…'))
 */
function routeModule(steps: readonly RouteStep[], worker = false): string {
  return [
    "import { Hono } from 'hono'",
    `import { ${steps.map((step) => step.name).join(', ')} } from 'wsgate'`,
    ...(worker ? ["import { workersGateway } from 'wsgate/workers'"] : []),
    'const app = new Hono()',
    `app.all('/chat', ${steps.map((step) => step.call).join(', ')})`,
    worker ? 'export default workersGateway(app)' : 'export default app',
    '',
  ].join('\n')
}

/** One measured route module: the label the table prints, its source, and whether its chain has `waf()`. */
export interface RouteModule {
  label: string
  source: string
  waf: boolean
}

const FULL_CHAIN = [NORMALIZE_HEADERS, ORIGIN_CHECK, CACHE_BYPASS, RATE_LIMIT, JWT_AUTH, WEBSOCKET]
const FULL_CHAIN_WITH_WAF = [NORMALIZE_HEADERS, ORIGIN_CHECK, CACHE_BYPASS, RATE_LIMIT, WAF, JWT_AUTH, WEBSOCKET]

/** The measured route modules: the chain growing from `websocket()` to `waf()`, then the Workers entry without and with the WAF. */
export const ROUTE_MODULES: readonly RouteModule[] = [
  { label: '(a) websocket()', source: routeModule([WEBSOCKET]), waf: false },
  { label: '(b) + jwtAuth()', source: routeModule([JWT_AUTH, WEBSOCKET]), waf: false },
  { label: '(c) + normalizeHeaders(), originCheck(), cacheBypass(), rateLimit()', source: routeModule(FULL_CHAIN), waf: false },
  { label: '(d) + waf() with the embedded baseline', source: routeModule(FULL_CHAIN_WITH_WAF), waf: true },
  { label: '(e) (c) as a Worker: + workersGateway(app)', source: routeModule(FULL_CHAIN, true), waf: false },
  { label: '(f) (d) as a Worker: + workersGateway(app)', source: routeModule(FULL_CHAIN_WITH_WAF, true), waf: true },
]

/** Whether `bundle` kept any module of the WAF (middleware/waf/). */
export function keepsWaf(bundle: Bundle): boolean {
  return bundle.inputs.some((input) => input.startsWith('middleware/waf/'))
}

/**
 * Resolves `wsgate` and `wsgate/<subpath>` as a consumer's bundler does,
 * through package.json "exports", but to the TypeScript source of each
 * dist file; esbuild's own resolver then finishes the job, so
 * package.json's "sideEffects" applies as it does to the installed package.
 */
async function wsgateSources(): Promise<Plugin> {
  const manifest = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { exports: Record<string, { default: string }> }
  return {
    name: 'wsgate-sources',
    setup(plugin) {
      plugin.onResolve({ filter: /^wsgate(\/|$)/ }, async (args) => {
        const subpath = `.${args.path.slice('wsgate'.length)}`
        const target = manifest.exports[subpath]?.default
        if (target === undefined) return { errors: [{ text: `package.json "exports" has no "${subpath}"` }] }
        const source = target.replace(/^\.\/dist\//, './').replace(/\.js$/, '.ts')
        const resolved = await plugin.resolve(source, { kind: args.kind, resolveDir: repo })
        return resolved.errors.length > 0 ? { errors: resolved.errors } : { path: resolved.path, sideEffects: resolved.sideEffects }
      })
    },
  }
}

/**
 * Bundles each module text of `entries` (file name → source) as wrangler
 * bundles a Worker: ESM, minified, the `workerd`/`worker`/`browser`
 * export conditions, nothing external, so a `node:` import anywhere in
 * the graph fails the build.
 */
export async function bundleEntries(entries: Readonly<Record<string, string>>): Promise<Record<string, Bundle>> {
  const dir = await mkdtemp(join(tmpdir(), 'wsgate-bundle-'))
  try {
    const plugin = await wsgateSources()
    const bundles = await Promise.all(
      Object.entries(entries).map(async ([label, source], index): Promise<[string, Bundle]> => {
        const entry = join(dir, `entry-${index}.ts`)
        await writeFile(entry, source)
        const result = await build({
          entryPoints: [entry],
          absWorkingDir: repo,
          nodePaths: [join(repo, 'node_modules')],
          bundle: true,
          minify: true,
          format: 'esm',
          platform: 'neutral',
          mainFields: ['module', 'main'],
          conditions: ['workerd', 'worker', 'browser'],
          plugins: [plugin],
          metafile: true,
          write: false,
          logLevel: 'silent',
        })
        const code = result.outputFiles[0]!.text
        const output = Object.values(result.metafile.outputs)[0]!
        const inputs = Object.entries(output.inputs).filter(([, use]) => use.bytesInOutput > 0).map(([input]) => input)
        return [label, { code, minified: Buffer.byteLength(code), gzipped: gzipSync(code).length, inputs }]
      }),
    )
    return Object.fromEntries(bundles)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Bytes as KiB with one decimal. */
function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`
}

/** The bundles as a Markdown table (the README's). */
export function formatBundleSizes(bundles: Readonly<Record<string, Bundle>>): string {
  const lines = ['| Route module imports | Minified | Gzipped | WAF code |', '| --- | ---: | ---: | --- |']
  for (const [label, bundle] of Object.entries(bundles)) {
    lines.push(`| ${label} | ${kib(bundle.minified)} | ${kib(bundle.gzipped)} | ${keepsWaf(bundle) ? 'yes' : 'no'} |`)
  }
  return lines.join('\n')
}

if (import.meta.main) {
  console.log(formatBundleSizes(await bundleEntries(Object.fromEntries(ROUTE_MODULES.map((route) => [route.label, route.source])))))
}
