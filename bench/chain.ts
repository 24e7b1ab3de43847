/**
 * CPU per handshake of each handshake middleware alone, in-process: a Hono
 * app with the middleware in front of a stand-in for `websocket()` runs
 * `app.fetch(request, { wsgate: runtime })` on a browser-like handshake, as
 * the Node host does (the Request built the way `src/node/request.ts` builds
 * it, `node:crypto` injected into the runtime). No sockets, no origin, no
 * log: what is left is the chain's own work, which `npm run bench` measures
 * with the whole gateway around it.
 *
 *   node bench/chain.ts                              every variant, 15 rounds
 *   node bench/chain.ts --only empty,jwtAuth --rounds 30 --batch 2000
 *   node --cpu-prof bench/chain.ts --only jwtAuth --rounds 60   (then node bench/profile.ts <file>)
 *   node bench/chain.ts --base /tmp/wsgate-base --only empty,jwtAuth,jwtAuth@base
 *
 * `--base <dir>`: another checkout of wsgate (e.g. `git archive HEAD~1 |
 * tar -x -C <dir>`, with a `node_modules` link), whose middleware run as
 * the variants `<variant>@base` beside this tree's, in the same rounds:
 * a before/after in one process, one machine state.
 *
 * Variants: `empty` (the stand-in alone), `normalizeHeaders`, `cacheBypass`,
 * `jwtAuth` (ES256 against a JWKS served on 127.0.0.1, the token in
 * `Authorization: Bearer`, as `npm run bench` sends it), `jwtAuth-cached`
 * (the same with `cache: { max: 10_000 }`: a client reconnecting with the
 * token it holds), `full` (normalizeHeaders, cacheBypass, jwtAuth: the full
 * chain without the WAF), `full-cached`, and `verify` (the floor: one `node:crypto` ES256 verify of the token's
 * signature, nothing else).
 *
 * Method: every variant is warmed up, then each round runs one batch of each
 * variant, in an order rotated every round (so none always follows the
 * same one); a sample is the process CPU time (user + system) of a batch
 * divided by its size. Printed: per variant the median and range of its
 * samples, and the median of its per-round difference to `empty` (a paired
 * difference: both run within milliseconds of each other). Run it under the
 * shared lock: `flock /tmp/wsgate-bench.lock node bench/chain.ts`.
 */
import crypto from 'node:crypto'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Hono, type MiddlewareHandler } from 'hono'
import { cacheBypass } from '../middleware/cache-bypass.ts'
import { jwtAuth, type JwtAuthOptions } from '../middleware/jwt-auth/index.ts'
import { normalizeHeaders } from '../middleware/normalize-headers.ts'
import { forwardHeaders } from '../src/forward.ts'
import type { GatewayBindings, GatewayRuntime } from '../src/runtime.ts'
import { toHeadRequest } from '../src/node/head-request.ts'
import { nodeCrypto } from '../src/node/native-crypto.ts'
import { mint, startJwksServer, testKey } from '../test/helpers/jwks.ts'

const VARIANTS = ['empty', 'normalizeHeaders', 'cacheBypass', 'jwtAuth', 'jwtAuth-cached', 'full', 'full-cached', 'verify'] as const
type Variant = (typeof VARIANTS)[number]

/** The middleware factories a variant is built from: this tree's, or a `--base` checkout's. */
interface Factories {
  normalizeHeaders: typeof normalizeHeaders
  cacheBypass: typeof cacheBypass
  jwtAuth: typeof jwtAuth
}

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    batch: { type: 'string', default: '1000' },
    only: { type: 'string' },
    base: { type: 'string' },
  },
})
const rounds = Number(values.rounds)
const batch = Number(values.batch)
const base = values.base ? await loadFactories(resolve(values.base)) : undefined
const known: string[] = [...VARIANTS, ...(base ? VARIANTS.filter((name) => name !== 'verify' && !name.endsWith('-cached')).map((name) => `${name}@base`) : [])]
const only = values.only ? values.only.split(',') : known
for (const name of only) if (!known.includes(name)) throw new TypeError(`bench/chain.ts: unknown variant ${name}; expected ${known.join(', ')}`)

async function loadFactories(dir: string): Promise<Factories> {
  const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(dir, path)).href)) as T
  return {
    normalizeHeaders: (await load<Factories>('middleware/normalize-headers.ts')).normalizeHeaders,
    cacheBypass: (await load<Factories>('middleware/cache-bypass.ts')).cacheBypass,
    jwtAuth: (await load<Factories>('middleware/jwt-auth/index.ts')).jwtAuth,
  }
}

/** A browser's handshake (bench/head.ts's), as the head parse leaves it: name/value pairs in arrival order. */
const BROWSER_HEADERS: [string, string][] = [
  ['host', 'chat.example.com'],
  ['connection', 'Upgrade'],
  ['pragma', 'no-cache'],
  ['cache-control', 'no-cache'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36'],
  ['upgrade', 'websocket'],
  ['origin', 'https://chat.example.com'],
  ['sec-websocket-version', '13'],
  ['accept-encoding', 'gzip, deflate, br, zstd'],
  ['accept-language', 'en-US,en;q=0.9'],
  ['cookie', 'session=8c1f0e6a2b; theme=dark'],
  ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ['sec-websocket-extensions', 'permessage-deflate; client_max_window_bits'],
]
const URL_TEXT = 'http://chat.example.com/bench?room=lobby'
const ORIGIN = new URL('ws://127.0.0.1:9001/bench')

const key = await testKey('ES256', 'bench')
const jwks = await startJwksServer([key.publicJwk])
const token = await mint(key, { sub: 'bench-user', iss: 'https://idp.bench.local', aud: 'wsgate-bench', exp: Math.floor(Date.now() / 1000) + 4 * 3600 })
const headers: [string, string][] = [...BROWSER_HEADERS, ['authorization', `Bearer ${token}`]]
/** The same, flat, as a request head's lines. */
const HEAD_LINES: readonly string[] = headers.flat()

/** What the Node host's runtime offers the chain, minus the sockets: nothing here is called on the measured path but `note`. */
const runtime = {
  clientAddress: '127.0.0.1',
  httpVersion: '1.1',
  rawTarget: '/bench?room=lobby',
  target: '/bench?room=lobby',
  rawHeaders: headers,
  crypto: nodeCrypto,
  requestId: '00000000-0000-4000-8000-000000000000',
  handshakeTimeout: 5_000,
  // A handshake: the chain sees the upgrade path (never taken here: the stand-in answers itself).
  upgrade: {
    accept() {
      throw new Error('bench/chain.ts: no upgrade')
    },
  },
  note() {},
  onConnectionClose() {},
  connectOrigin() {
    throw new Error('bench/chain.ts: no origin')
  },
} satisfies GatewayRuntime
const env: GatewayBindings = { wsgate: runtime }

/**
 * The stand-in for `websocket()`: the origin's request headers built from
 * the chain's final request (what the real handler does first), then a 101
 * the way `UpgradeSlot.accept` returns it, so jwtAuth's subprotocol step
 * after `next()` runs as it does in the gateway.
 */
const terminal: MiddlewareHandler = async (c) => {
  forwardHeaders(c.req.raw, ORIGIN, false)
  return new Response(null, { status: 200, headers: { 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' } })
}

/** jwtAuth as bench/targets/wsgate-routes.ts configures it. */
function jwt(factories: Factories, cached = false): MiddlewareHandler {
  const options: JwtAuthOptions = { jwksUrl: jwks.url, algorithms: ['ES256'], issuer: 'https://idp.bench.local', audience: 'wsgate-bench' }
  if (cached) options.cache = { max: 10_000 }
  return factories.jwtAuth(options) as MiddlewareHandler
}

function app(steps: MiddlewareHandler[]): Hono<{ Bindings: GatewayBindings }> {
  const hono = new Hono<{ Bindings: GatewayBindings }>()
  const [first, ...rest] = [...steps, terminal]
  hono.all('/bench', first!, ...rest)
  return hono
}

/** One handshake's Request, as `toRequest()` builds it on the Node host: lazily, over the head's lines (src/node/head-request.ts). */
function handshake(): Request {
  return toHeadRequest(URL_TEXT, 'GET', HEAD_LINES)
}

/** The floor: the signature check alone, the way node-signature.ts does it (DER from R‖S, then one verify). */
function verifyFloor(): () => Promise<void> {
  const publicKey = crypto.createPublicKey({ key: key.publicJwk as crypto.JsonWebKey, format: 'jwk' })
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const data = Buffer.from(`${header}.${payload}`)
  const derSignature = toDer(Buffer.from(signature, 'base64url'))
  return async () => {
    if (!crypto.verify('sha256', data, publicKey, derSignature)) throw new Error('bench/chain.ts: the floor failed to verify')
  }
}

/** R‖S to DER (X.690), once, outside the timed loop. */
function toDer(raw: Buffer): Buffer {
  const integer = (bytes: Buffer): Buffer => {
    let start = 0
    while (start < bytes.length - 1 && bytes[start] === 0) start++
    const body = bytes.subarray(start)
    return Buffer.concat([Buffer.from([0x02, body.length + (body[0]! >= 0x80 ? 1 : 0)]), body[0]! >= 0x80 ? Buffer.from([0]) : Buffer.alloc(0), body])
  }
  const r = integer(raw.subarray(0, 32))
  const s = integer(raw.subarray(32))
  return Buffer.concat([Buffer.from([0x30, r.length + s.length]), r, s])
}

function runner(name: string): () => Promise<void> {
  const [variant, from] = name.split('@') as [Variant, string | undefined]
  if (variant === 'verify') return verifyFloor()
  const f: Factories = from === 'base' ? base! : { normalizeHeaders, cacheBypass, jwtAuth }
  const steps: Record<Exclude<Variant, 'verify'>, () => MiddlewareHandler[]> = {
    empty: () => [],
    normalizeHeaders: () => [f.normalizeHeaders() as MiddlewareHandler],
    cacheBypass: () => [f.cacheBypass() as MiddlewareHandler],
    jwtAuth: () => [jwt(f)],
    'jwtAuth-cached': () => [jwt(f, true)],
    full: () => [f.normalizeHeaders() as MiddlewareHandler, f.cacheBypass() as MiddlewareHandler, jwt(f)],
    'full-cached': () => [f.normalizeHeaders() as MiddlewareHandler, f.cacheBypass() as MiddlewareHandler, jwt(f, true)],
  }
  const hono = app(steps[variant]())
  return async () => {
    const response = await hono.fetch(handshake(), env)
    if (response.status !== 200) throw new Error(`bench/chain.ts: ${name} answered ${response.status} ${await response.text()}`)
  }
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

async function sample(run: () => Promise<void>, count: number): Promise<number> {
  const started = cpuMicros()
  for (let i = 0; i < count; i++) await run()
  return (cpuMicros() - started) / count
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

try {
  const runs = new Map(only.map((variant) => [variant, runner(variant)] as const))
  for (const run of runs.values()) await sample(run, Math.max(2_000, batch))
  const samples = new Map(only.map((variant) => [variant, [] as number[]]))
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round: no variant always runs right after the same one (GC debt, caches).
    const order = only.map((_, index) => only[(index + round) % only.length]!)
    for (const variant of order) samples.get(variant)!.push(await sample(runs.get(variant)!, batch))
  }
  const empty = samples.get('empty')
  console.log(`chain CPU per handshake, µs (in-process, ${rounds} rounds × ${batch} handshakes per variant, Node ${process.version})`)
  console.log('Δ: the median of per-round differences (paired: both batches of a round ran within milliseconds), and their range')
  console.log(`${'variant'.padEnd(22)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)} ${'Δ empty'.padStart(9)} ${'Δ base'.padStart(9)} ${'range'.padStart(16)}`)
  const paired = (a: readonly number[], b: readonly number[]): number[] => a.map((value, index) => value - b[index]!)
  for (const [variant, values] of samples) {
    const delta = empty && !variant.startsWith('empty') && variant !== 'verify' ? median(paired(values, empty)).toFixed(1) : ''
    const before = samples.get(`${variant}@base`)
    const change = before ? paired(values, before) : undefined
    const cells = [median(values), Math.min(...values), Math.max(...values)].map((value) => value.toFixed(1).padStart(8))
    const changeCells = change ? [median(change).toFixed(1), `${Math.min(...change).toFixed(1)} to ${Math.max(...change).toFixed(1)}`] : ['', '']
    console.log(`${variant.padEnd(22)} ${cells.join(' ')} ${delta.padStart(9)} ${changeCells[0]!.padStart(9)} ${changeCells[1]!.padStart(16)}`)
  }
} finally {
  await jwks.close()
}
