/**
 * Per-handshake cost of `waf()`: p50 and p99 of one evaluation, in
 * microseconds, with the CRS at paranoia 1 and 2 and with the embedded
 * baseline, over the benign corpus (what a gateway mostly sees) and the
 * attack corpus (which stops early when blocking). In-process and
 * single-threaded: it measures the engine, not the network.
 *
 * Run alone: `node bench/waf.ts [--rounds N]`; `npm run bench` includes it.
 */
import { waf, type WafOptions } from '../middleware/waf/index.ts'
import { crsDirectory } from '../src/node/crs-directory.ts'
import { guardRegExpBacktracking } from '../src/node/regexp-guard.ts'
import { ATTACKS } from '../test/fixtures/waf/attacks.ts'
import { BENIGN } from '../test/fixtures/waf/benign.ts'

/** One configuration's cost, µs per handshake. */
export interface WafCost {
  config: string
  rulesLoaded: number
  benign: { p50: number; p99: number; mean: number; blocked: number; total: number; textHitRate: number }
  attacks: { p50: number; p99: number; mean: number; blocked: number; total: number; textHitRate: number }
}

const CRS = crsDirectory('/usr/share/modsecurity-crs')

const CONFIGS: [label: string, options: WafOptions][] = [
  ['CRS 3.3.4, paranoia 1', { crs: CRS, paranoia: 1 }],
  ['CRS 3.3.4, paranoia 2', { crs: CRS, paranoia: 2 }],
  ['baseline (no CRS)', {}],
]

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
export function measureWafCost(rounds = 5): WafCost[] {
  // The same guard the gateway runs with: without it some CRS patterns can take seconds on crafted input.
  guardRegExpBacktracking()
  const results: WafCost[] = []
  for (const [config, options] of CONFIGS) {
    const middleware = waf(options)
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
    results.push({
      config,
      rulesLoaded: middleware.report.rulesLoaded,
      benign: run(BENIGN.map((item) => item.facts)),
      attacks: run(ATTACKS.map((item) => item.facts)),
    })
  }
  return results
}

/** The table `npm run bench` prints. */
export function formatWafCost(results: WafCost[]): string {
  const lines = [
    'WAF cost per handshake (µs, in-process, after warm-up; the corpus is cycled, so every text recurs every corpus length:',
    ' "text hits" is the share of value-text lookups the cross-handshake text cache answered)',
    `${'configuration'.padEnd(24)} ${'rules'.padStart(5)}  ${'benign p50'.padStart(10)} ${'p99'.padStart(7)}  ${'attack p50'.padStart(10)} ${'p99'.padStart(7)}  blocked (benign / attacks)  text hits (benign / attacks)`,
  ]
  for (const r of results) {
    lines.push(
      `${r.config.padEnd(24)} ${String(r.rulesLoaded).padStart(5)}  ${String(r.benign.p50).padStart(10)} ${String(r.benign.p99).padStart(7)}  ${String(r.attacks.p50).padStart(10)} ${String(r.attacks.p99).padStart(7)}  ${r.benign.blocked}/${r.benign.total} / ${r.attacks.blocked}/${r.attacks.total}  ${r.benign.textHitRate} % / ${r.attacks.textHitRate} %`,
    )
  }
  return lines.join('\n')
}

if (import.meta.main) {
  const at = process.argv.indexOf('--rounds')
  const rounds = at > 0 ? Number(process.argv[at + 1]) : 5
  console.log(formatWafCost(measureWafCost(rounds)))
}
