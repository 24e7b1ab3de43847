/**
 * The routes module wsgate runs under the benchmark, through its own CLI
 * (`node bin/wsgate.js start bench/targets/wsgate-routes.ts`). The harness
 * configures it through the environment:
 *
 * - `BENCH_ORIGIN`: the echo origin, `ws://127.0.0.1:<port>`
 * - `BENCH_CHAIN`: `empty` (`websocket(origin)` only), `full` (waf with the
 *   CRS at paranoia 1 when `middleware/waf/` exports a working `waf`, then
 *   normalizeHeaders, cacheBypass, jwtAuth with ES256), or one middleware
 *   name alone in front of `websocket(origin)`
 * - `BENCH_JWKS_URL`: the harness's JWKS endpoint, for jwtAuth
 * - `BENCH_JWT_CACHE=<max>`: jwtAuth with its verified-token cache on,
 *   `cache: { max }` (e.g. 10000); off when unset or empty
 * - `BENCH_CLOSE_FRAMES=0`: the route without its frame-boundary tracker
 *   (`websocket(origin, { closeFrames: false })`), to measure what the
 *   tracker costs
 * - `BENCH_TIMINGS=1`: wrap each middleware to time its own part of every
 *   handshake (performance.now() around it, minus what runs after `next()`)
 *
 * `GET /__bench` answers what the chain holds, whether the WAF is in it (and
 * why not), jwtAuth's token cache (`{ max }` or false), the timings and
 * `process.memoryUsage()` (after a full GC with `?gc=1` when the target runs
 * with `--expose-gc`).
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { cacheBypass, jwtAuth, normalizeHeaders, websocket, type GatewayBindings } from '../../src/index.ts'
import { readCrs } from '../../src/node/index.ts'

/** The Core Rule Set as Debian's `modsecurity-crs` installs it. */
const CRS = readCrs('/usr/share/modsecurity-crs')

/** Route the load client connects to. */
export const BENCH_PATH = '/bench'

const origin = process.env.BENCH_ORIGIN
if (!origin) throw new TypeError('wsgate-routes: set BENCH_ORIGIN to the echo origin, e.g. ws://127.0.0.1:9001')
const chain = process.env.BENCH_CHAIN ?? 'empty'
const timed = process.env.BENCH_TIMINGS === '1'

/** The WAF when middleware/waf/ exports a working one; otherwise why it is left out. */
async function loadWaf(): Promise<{ middleware?: MiddlewareHandler; reason?: string }> {
  try {
    // A variable specifier: the WAF is being written alongside, and the chain must run without it.
    const specifier = '../../middleware/waf/index.ts'
    const module = (await import(specifier)) as { waf?: (options: Record<string, unknown>) => MiddlewareHandler }
    if (typeof module.waf !== 'function') return { reason: 'middleware/waf/index.ts exports no waf()' }
    return { middleware: module.waf({ crs: CRS, paranoia: 1 }) }
  } catch (error) {
    return { reason: `waf() unavailable: ${error instanceof Error ? error.message : String(error)}` }
  }
}

/** jwtAuth's verified-token cache bound from BENCH_JWT_CACHE, or undefined for no cache. */
function jwtCache(): { max: number } | undefined {
  const text = process.env.BENCH_JWT_CACHE
  if (!text) return undefined
  const max = Number(text)
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError(`wsgate-routes: BENCH_JWT_CACHE must be a positive integer of tokens (e.g. 10000), got ${JSON.stringify(text)}`)
  return { max }
}
const tokenCache = jwtCache()

function jwt(): MiddlewareHandler {
  const jwksUrl = process.env.BENCH_JWKS_URL
  if (!jwksUrl) throw new TypeError('wsgate-routes: set BENCH_JWKS_URL for a chain with jwtAuth')
  return jwtAuth({ jwksUrl, algorithms: ['ES256'], issuer: 'https://idp.bench.local', audience: 'wsgate-bench', ...(tokenCache ? { cache: tokenCache } : {}) }) as MiddlewareHandler
}

const steps: [name: string, middleware: MiddlewareHandler][] = []
let wafNote: string | undefined
const wanted = chain === 'full' ? ['waf', 'normalizeHeaders', 'cacheBypass', 'jwtAuth'] : chain === 'empty' ? [] : [chain]
for (const name of wanted) {
  if (name === 'waf') {
    const loaded = await loadWaf()
    if (loaded.middleware) steps.push(['waf', loaded.middleware])
    else wafNote = loaded.reason
  } else if (name === 'normalizeHeaders') steps.push([name, normalizeHeaders() as MiddlewareHandler])
  else if (name === 'cacheBypass') steps.push([name, cacheBypass() as MiddlewareHandler])
  else if (name === 'jwtAuth') steps.push([name, jwt()])
  else throw new TypeError(`wsgate-routes: unknown BENCH_CHAIN "${chain}"`)
}

/** Per middleware: handshakes seen, and wall and CPU ms spent in its own part (not in what runs after `next()`). */
const timings: Record<string, { count: number; ms: number; cpuMs: number }> = {}

/** CPU ms of this process so far (every thread: the thread pool's crypto jobs count). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/**
 * `middleware` with its own time added to `timings[name]`: wall time and
 * process CPU time, less what the rest of the chain took inside `next()`.
 * With one handshake at a time, the CPU time is the middleware's cost; the
 * wall time adds its waits (a thread-pool crypto job, a JWKS fetch).
 */
function withTiming(name: string, middleware: MiddlewareHandler): MiddlewareHandler {
  const entry = (timings[name] = { count: 0, ms: 0, cpuMs: 0 })
  return async function timedMiddleware(c, next) {
    const started = performance.now()
    const startedCpu = cpuMs()
    let downstream = 0
    let downstreamCpu = 0
    await middleware(c, async () => {
      const entered = performance.now()
      const enteredCpu = cpuMs()
      await next()
      downstream += performance.now() - entered
      downstreamCpu += cpuMs() - enteredCpu
    })
    entry.ms += performance.now() - started - downstream
    entry.cpuMs += cpuMs() - startedCpu - downstreamCpu
    entry.count++
  }
}

const handlers = steps.map(([name, middleware]) => (timed ? withTiming(name, middleware) : middleware))
const app = new Hono<{ Bindings: GatewayBindings }>()
app.get('/__bench', (c) => {
  // `?gc=1` under `--expose-gc`: the live heap, not what garbage the last handshakes left.
  const gc = (globalThis as { gc?: () => void }).gc
  if (c.req.query('gc') === '1' && gc) gc()
  return c.json({ chain: steps.map(([name]) => name), closeFrames, jwtCache: tokenCache ?? false, waf: steps.some(([name]) => name === 'waf'), wafNote, timings, memory: process.memoryUsage() })
})
const closeFrames = process.env.BENCH_CLOSE_FRAMES !== '0'
const [first, ...rest] = [...handlers, websocket(origin, { closeFrames }) as MiddlewareHandler]
app.all(BENCH_PATH, first!, ...rest)

export default app
