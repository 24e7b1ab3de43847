/**
 * Per-handshake cost of `waf()`: p50 and p99 of one evaluation, in
 * microseconds, with the CRS at paranoia 1 and 2 and with the embedded
 * baseline, over the benign corpus (what a gateway mostly sees) and the
 * attack corpus (which stops early when blocking). In-process and
 * single-threaded: it measures the engine, not the network.
 *
 * The corpus is cycled, so every value text recurs once per corpus length
 * and the rule set's text cache answers most of them; two more columns show
 * what a cycled corpus hides or adds: "fresh keys" is the benign corpus
 * with a new `Sec-WebSocket-Key` in every handshake, as real clients send
 * (RFC 6455 §4.1: a random nonce, never cached), and "bench handshake" is
 * the one handshake `npm run bench` sends through `waf()` (bench/wire.ts),
 * every text of it cached after the first; "bench hs, fresh key" is that
 * handshake with a new key each time, which is what `npm run bench`'s
 * load client sends (the figure the gateway pays). "ops/hs" is how many operators
 * (regexes, phrase matches, comparisons) ran on a value per benign
 * handshake, after the prefilter. "realtime" is the realtime benign corpus
 * (test/fixtures/waf/realtime.ts, 657 handshakes of realtime apps), with its
 * blocked count. The "profile off" rows are the CRS with
 * `handshakeProfile: false`, the rule set as written: the handshake
 * profile's cost (or saving) is the difference to the row above.
 *
 * Run alone: `node bench/waf.ts [--rounds N] [--only pl1,pl1-off,pl2,pl2-off,baseline]`;
 * `npm run bench` includes it. A/B against another checkout (e.g.
 * `git archive HEAD | tar -x -C /tmp/waf-base`, with its node_modules
 * linked): `node bench/waf.ts --base /tmp/waf-base --only pl1 --rounds 15`
 * builds both trees' `waf()` side by side and times one pass over each
 * corpus per round for each, in alternating order, and prints per-round
 * p50s as median [min–max] and the paired difference. A base tree from
 * before the handshake profile knows no `handshakeProfile` option: compare
 * it with `--only pl1,pl2` (this tree with its profile, the base as it was).
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { waf, type WafOptions } from '../middleware/waf/index.ts'
import { readCrs } from '../src/node/crs-directory.ts'
import { guardRegExpBacktracking } from '../src/node/regexp-guard.ts'
import type { HandshakeFacts } from '../middleware/waf/types.ts'
import { ATTACKS } from '../test/fixtures/waf/attacks.ts'
import { BENIGN } from '../test/fixtures/waf/benign.ts'
import { REALTIME } from '../test/fixtures/waf/realtime.ts'
import { handshakeRequest } from './wire.ts'

/** One configuration's cost, µs per handshake. */
export interface WafCost {
  config: string
  rulesLoaded: number
  benign: { p50: number; p99: number; mean: number; blocked: number; total: number; textHitRate: number }
  attacks: { p50: number; p99: number; mean: number; blocked: number; total: number; textHitRate: number }
  /** The realtime benign corpus. */
  realtime: { p50: number; p99: number; mean: number; blocked: number; total: number; textHitRate: number }
  /** The benign corpus with a fresh `Sec-WebSocket-Key` in each handshake. */
  freshKeys: { p50: number; p99: number }
  /** The handshake `npm run bench` sends, again and again. */
  benchHandshake: { p50: number; p99: number }
  /** That handshake with a fresh `Sec-WebSocket-Key` each time, as `npm run bench` sends it. */
  benchFreshKeys: { p50: number; p99: number }
  /** Operators run on a value per benign handshake (undefined when the engine does not count them). */
  operatorsPerHandshake: number | undefined
}

const CRS = readCrs('/usr/share/modsecurity-crs')

const CONFIGS: [label: string, options: WafOptions, short: string][] = [
  ['CRS 3.3.4, paranoia 1', { crs: CRS, paranoia: 1 }, 'pl1'],
  ['  profile off', { crs: CRS, paranoia: 1, handshakeProfile: false }, 'pl1-off'],
  ['CRS 3.3.4, paranoia 2', { crs: CRS, paranoia: 2 }, 'pl2'],
  ['  profile off', { crs: CRS, paranoia: 2, handshakeProfile: false }, 'pl2-off'],
  ['baseline (no CRS)', {}, 'baseline'],
]

/** The handshake `npm run bench` sends to its `waf()` target (port and path as there), as facts. */
function benchFacts(): HandshakeFacts {
  const [requestLine, ...lines] = handshakeRequest('/bench', 8080).toString('latin1').split('\r\n').filter((line) => line !== '')
  const [method, rawTarget, protocol] = requestLine!.split(' ') as [string, string, string]
  const headers = lines.map((line): [string, string] => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()])
  return { method, rawTarget, protocol, headers, remoteAddress: '127.0.0.1' }
}

/** A new `Sec-WebSocket-Key` per call: base64 of 16 bytes from a fixed-seed generator (the same run to run). */
function keyMaker(): () => string {
  let seed = 0x2545f491
  return () => {
    const bytes = new Uint8Array(16)
    for (let i = 0; i < 16; i++) {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
      bytes[i] = seed >>> 24
    }
    return btoa(String.fromCharCode(...bytes))
  }
}

/** `facts` with its `Sec-WebSocket-Key` replaced by `key`. */
function withKey(facts: HandshakeFacts, key: string): HandshakeFacts {
  return { ...facts, headers: facts.headers.map(([name, value]): [string, string] => [name, name.toLowerCase() === 'sec-websocket-key' ? key : value]) }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

function summarise(samples: number[], blocked: number, total: number, textHitRate: number): WafCost['benign'] {
  const sorted = [...samples].sort((a, b) => a - b)
  const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length
  const round = (value: number): number => Math.round(value * 10) / 10
  return { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), mean: round(mean), blocked, total, textHitRate: Math.round(textHitRate * 1000) / 10 }
}

/** Measures every configuration; `rounds` passes over each corpus after one warm-up pass. */
export function measureWafCost(rounds = 5, only?: readonly string[]): WafCost[] {
  // The same guard the gateway runs with: without it some CRS patterns can take seconds on crafted input.
  guardRegExpBacktracking()
  const results: WafCost[] = []
  for (const [config, options, short] of CONFIGS) {
    if (only && !only.includes(short)) continue
    const middleware = waf(options)
    /** p50 and p99 of `rounds` passes over `make(i)` for i < count, after one warm-up pass. */
    const timed = (count: number, make: (i: number) => HandshakeFacts): { p50: number; p99: number } => {
      const samples: number[] = []
      for (let round = -1; round < rounds; round++) {
        for (let i = 0; i < count; i++) {
          const facts = make(i)
          const started = process.hrtime.bigint()
          middleware.inspect(facts)
          if (round >= 0) samples.push(Number(process.hrtime.bigint() - started) / 1_000)
        }
      }
      const { p50, p99 } = summarise(samples, 0, 0, 0)
      return { p50, p99 }
    }
    let operatorsPerHandshake: number | undefined
    const run = (facts: (typeof BENIGN)[number]['facts'][]) => {
      const samples: number[] = []
      let blocked = 0
      let hits = 0
      let lookups = 0
      for (let round = -1; round < rounds; round++) {
        for (const handshake of facts) {
          const before = middleware.textCacheStats()
          const started = process.hrtime.bigint()
          const verdict = middleware.inspect(handshake)
          const micros = Number(process.hrtime.bigint() - started) / 1_000
          if (round < 0) continue // warm-up: V8 compiles each regex on first use
          const after = middleware.textCacheStats()!
          hits += after.hits - (before?.hits ?? 0)
          lookups += after.hits + after.misses - (before ? before.hits + before.misses : 0)
          samples.push(micros)
          if (verdict.blocked && round === 0) blocked++
        }
      }
      return summarise(samples, blocked, facts.length, lookups ? hits / lookups : 0)
    }
    const before = middleware.textCacheStats()?.operatorRuns
    const benign = run(BENIGN.map((item) => item.facts))
    const after = middleware.textCacheStats()?.operatorRuns
    if (before !== undefined && after !== undefined) operatorsPerHandshake = Math.round(((after - before) / ((rounds + 1) * BENIGN.length)) * 10) / 10
    const attacks = run(ATTACKS.map((item) => item.facts))
    const realtime = run(REALTIME.map((item) => item.facts))
    const key = keyMaker()
    const freshKeys = timed(BENIGN.length, (i) => withKey(BENIGN[i]!.facts, key()))
    const bench = benchFacts()
    const benchHandshake = timed(BENIGN.length, () => bench)
    const benchFreshKeys = timed(BENIGN.length, () => withKey(bench, key()))
    results.push({ config, rulesLoaded: middleware.report.rulesLoaded, benign, attacks, realtime, freshKeys, benchHandshake, benchFreshKeys, operatorsPerHandshake })
  }
  return results
}

/** The table `npm run bench` prints. */
export function formatWafCost(results: WafCost[]): string {
  const lines = [
    'WAF cost per handshake (µs, in-process, after warm-up; the corpus is cycled, so every text recurs every corpus length:',
    ' "text hits" is the share of value-text lookups the cross-handshake text cache answered)',
    ' "fresh keys": the benign corpus with a new Sec-WebSocket-Key per handshake; "bench hs": the handshake npm run bench sends',
    ' (one key throughout; "+key": a new key each time, as npm run bench sends it);',
    ' "ops/hs": operators run on a value per benign handshake)',
    ' "realtime": the realtime benign corpus; "profile off": the CRS as written, handshakeProfile: false)',
    `${'configuration'.padEnd(24)} ${'rules'.padStart(5)}  ${'benign p50'.padStart(10)} ${'p99'.padStart(7)}  ${'attack p50'.padStart(10)} ${'p99'.padStart(7)}  ${'realtime p50'.padStart(12)} ${'p99'.padStart(7)}  ${'fresh keys p50'.padStart(14)} ${'p99'.padStart(7)}  ${'bench hs p50'.padStart(12)} ${'+key p50'.padStart(8)} ${'ops/hs'.padStart(6)}  blocked (benign / attacks / realtime)  text hits (benign / attacks)`,
  ]
  for (const r of results) {
    lines.push(
      `${r.config.padEnd(24)} ${String(r.rulesLoaded).padStart(5)}  ${String(r.benign.p50).padStart(10)} ${String(r.benign.p99).padStart(7)}  ${String(r.attacks.p50).padStart(10)} ${String(r.attacks.p99).padStart(7)}  ${String(r.realtime.p50).padStart(12)} ${String(r.realtime.p99).padStart(7)}  ${String(r.freshKeys.p50).padStart(14)} ${String(r.freshKeys.p99).padStart(7)}  ${String(r.benchHandshake.p50).padStart(12)} ${String(r.benchFreshKeys.p50).padStart(8)} ${String(r.operatorsPerHandshake ?? '-').padStart(6)}  ${r.benign.blocked}/${r.benign.total} / ${r.attacks.blocked}/${r.attacks.total} / ${r.realtime.blocked}/${r.realtime.total}  ${r.benign.textHitRate} % / ${r.attacks.textHitRate} %`,
    )
  }
  return lines.join('\n')
}

/** The columns an A/B run compares, each one pass over its corpus per round. */
const AB_COLUMNS = ['benign', 'fresh keys', 'attacks', 'realtime', 'bench hs', 'bench hs +key'] as const

/**
 * A/B: this tree's `waf()` against `baseWaf` (another checkout's), per
 * configuration, the two timed in alternating order round by round; each
 * column is the p50 of one pass over its corpus.
 */
export function compareWafCost(baseWaf: typeof waf, rounds: number, only?: readonly string[]): string {
  guardRegExpBacktracking()
  const lines: string[] = []
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b)
    return sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2
  }
  const fmt = (values: number[]): string => `${median(values).toFixed(1)} [${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}]`
  for (const [config, options, short] of CONFIGS) {
    if (only && !only.includes(short)) continue
    const variants = [
      { name: 'A (this tree)', middleware: waf(options), key: keyMaker(), samples: AB_COLUMNS.map((): number[] => []) },
      { name: 'B (base)', middleware: baseWaf(options), key: keyMaker(), samples: AB_COLUMNS.map((): number[] => []) },
    ]
    const bench = benchFacts()
    const corpora = (variant: (typeof variants)[number]): HandshakeFacts[][] => [
      BENIGN.map((item) => item.facts),
      BENIGN.map((item) => withKey(item.facts, variant.key())),
      ATTACKS.map((item) => item.facts),
      REALTIME.map((item) => item.facts),
      BENIGN.map(() => bench),
      BENIGN.map(() => withKey(bench, variant.key())),
    ]
    const pass = (variant: (typeof variants)[number], record: boolean): void => {
      corpora(variant).forEach((corpus, column) => {
        const samples: number[] = []
        for (const facts of corpus) {
          const started = process.hrtime.bigint()
          variant.middleware.inspect(facts)
          samples.push(Number(process.hrtime.bigint() - started) / 1_000)
        }
        if (record) variant.samples[column]!.push(percentile(samples.sort((a, b) => a - b), 50))
      })
    }
    for (const variant of variants) pass(variant, false)
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse()
      for (const variant of order) pass(variant, true)
    }
    lines.push(`${config}: p50 µs per handshake, median [range] of ${rounds} alternated rounds`)
    lines.push(`${''.padEnd(16)}${AB_COLUMNS.map((column) => column.padStart(22)).join('')}`)
    for (const variant of variants) lines.push(`${variant.name.padEnd(16)}${variant.samples.map((values) => fmt(values).padStart(22)).join('')}`)
    const paired = AB_COLUMNS.map((_, column) => variants[0]!.samples[column]!.map((value, round) => value - variants[1]!.samples[column]![round]!))
    lines.push(`${'A − B paired'.padEnd(16)}${paired.map((values) => fmt(values).padStart(22)).join('')}`)
  }
  return lines.join('\n')
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, only: { type: 'string' }, base: { type: 'string' } } })
  const only = values.only?.split(',')
  if (values.base) {
    const { waf: baseWaf } = (await import(pathToFileURL(resolve(values.base, 'middleware/waf/index.ts')).href)) as { waf: typeof waf }
    console.log(compareWafCost(baseWaf, Number(values.rounds ?? 15), only))
  } else console.log(formatWafCost(measureWafCost(Number(values.rounds ?? 5), only)))
}
