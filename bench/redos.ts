/**
 * Worst-case cost of the CRS's `@rx` rules on adversarial values: every
 * compiled `@rx` link of the CRS at paranoia level 4 (and wsgate's stand-in
 * rules), with its real transformation chain, against values of the size a
 * handshake allows (the gateway caps the header section at 16 KiB): a run of
 * every byte, a run of every two-char pattern of punctuation, whitespace,
 * a letter and a digit, runs of tokens attacks are made of, and runs of the
 * words of each rule's own pattern and of each two words that follow each
 * other in it. Then whole evaluations (`waf.inspect`)
 * of handshakes carrying the slowest values in a header, the query and a
 * cookie.
 *
 * V8 cannot interrupt a running regex, so each evaluation runs in a worker
 * thread watched from here: one that takes longer than `--cap` ms is
 * terminated and reported as `>cap`.
 *
 *   node bench/redos.ts [--size 16000] [--cap 2000] [--no-guard] [--quick]
 *                       [--rules 932110,942130] [--top 25] [--remeasure 100]
 *                       [--fallback-after N] [--threads N] [--json file]
 *
 * `--no-guard` leaves V8's linear-time fallback off (as a process without
 * `guardRegExpBacktracking()` runs); `--fallback-after` sets V8's
 * `--regexp-backtracks-before-fallback` over the guard's; `--quick` skips
 * the two-char runs. The slowest `--remeasure` pairs are timed again, alone
 * and three times each (the fastest kept), and so are the whole evaluations.
 */
import { writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import v8 from 'node:v8'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { compileRules, type Primitives } from '../middleware/waf/rules/compile.ts'
import { waf } from '../middleware/waf/index.ts'
import { PRIMITIVES } from '../middleware/waf/primitives.ts'
import type { CompiledLink } from '../middleware/waf/rules/rule.ts'
import { crsUnits } from '../middleware/waf/rules/crs-units.ts'
import type { HandshakeFacts } from '../middleware/waf/types.ts'
import { readCrs } from '../src/node/crs-directory.ts'
import { guardRegExpBacktracking } from '../src/node/regexp-guard.ts'
import { fill, paddedHandshake, type PadPlace } from '../test/fixtures/waf/padded-handshake.ts'

const CRS = readCrs('/usr/share/modsecurity-crs')
const PARANOIA = 4

/** One `@rx` link of a compiled rule: where it is, its pattern, and what runs it. */
export interface RxLink {
  /** The rule's id; a chained link is `id#n`. */
  rule: string
  pattern: string
  link: CompiledLink
}

/**
 * Every `@rx` link of the CRS at paranoia level 4, compiled as `waf({ crs })`
 * compiles it (stand-ins for the libinjection rules included), with the
 * pattern each operator was built from.
 */
export function crsRxLinks(crs = CRS): RxLink[] {
  const patterns = new Map<unknown, string>()
  const primitives: Primitives = {
    ...PRIMITIVES,
    operators: {
      ...PRIMITIVES.operators,
      rx: (param, context) => {
        const operator = PRIMITIVES.operators.rx!(param, context)
        patterns.set(operator, param)
        return operator
      },
    },
  }
  const { ruleSet } = compileRules(crsUnits(crs, PARANOIA, 5).units, primitives)
  const links: RxLink[] = []
  for (const phase of ruleSet.phases) {
    for (const rule of phase) {
      rule.links.forEach((link, index) => {
        const pattern = patterns.get(link.operator)
        if (pattern !== undefined) links.push({ rule: index === 0 ? String(rule.id) : `${rule.id}#${index}`, pattern, link })
      })
    }
  }
  return links
}

/** An adversarial value: a name to report it by, and the text, repeated to `size`. */
export interface Probe {
  label: string
  /** The unit repeated; the value is `unit.repeat(…)` cut to the size. */
  unit: string
}

/** ASCII punctuation, whitespace, a letter and a digit: the alphabet of the two-char runs. */
const PAIR_ALPHABET = `!"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}~ \t\na0`

/** Pieces attacks are made of, each run on its own. */
const TOKENS = [
  'a;', '/*', '*/', '<a', '${', '$(', '`', "'", '"', '\\', 'a ', 'a\n', ' a', '%0a', '%u0041', '&#x41;', '\\x41', '\\u0041',
  '/**/', '../', '..\\', '${a}', '$(a)', 'a=a&', '0x41', "' or 1=1 ", 'select ', 'union select ', '<script>', 'javascript:',
  'on', 'onx=', '<!--', '-->', '<?', '?>', '[', ']', '{{', '}}', '\\\\', '..;', 'a/', '/a', 'a.', 'a:', 'a,', 'a(', 'a)',
  '(a', ')a', '|a', 'a|', ';a', '&a', 'a=', '=a', '@a', 'a@', '#a', '!a', 'a!', '+a', '-a', 'a-', '--', '\t\n', '\r\n',
  // Word pairs the CRS's word tries hide from patternProbes: 942480's select…dump and group…by.
  'select dump ', 'select length ', 'group by ', 'union select from ',
]

/** The probes every rule runs: every byte, every two-char run of {@link PAIR_ALPHABET} (unless `quick`), the {@link TOKENS}. */
export function commonProbes(quick: boolean): Probe[] {
  const probes: Probe[] = []
  for (let byte = 0; byte < 256; byte++) probes.push({ label: `byte ${hex(byte)}`, unit: String.fromCharCode(byte) })
  if (!quick) {
    for (const a of PAIR_ALPHABET) for (const b of PAIR_ALPHABET) if (a !== b) probes.push({ label: `run ${JSON.stringify(a + b)}`, unit: a + b })
  }
  for (const token of TOKENS) probes.push({ label: `run ${JSON.stringify(token)}`, unit: token })
  return probes
}

/**
 * Probes made of a rule's own words (`select`, `onerror`, `/etc/`…), each
 * followed by a few separators, and of each two words that follow each
 * other in it (`group by `: 942480's `group\b.*?\bby\b.{1,100}?\bhaving`).
 */
export function patternProbes(pattern: string): Probe[] {
  // Words of 2+ letters of the pattern, in order, with its escapes and classes taken out.
  const text = pattern.replace(/\\[xX][0-9a-fA-F]{2}|\\[a-zA-Z]|\[[^\]]*\]|\{\d+(?:,\d*)?\}/g, ' ')
  const ordered = (text.match(/[A-Za-z_][A-Za-z0-9_]+/g) ?? []).map((word) => word.toLowerCase())
  const words = [...new Set(ordered)].slice(0, 120)
  const probes: Probe[] = []
  for (const word of words) {
    for (const separator of ['', ' ', '(', '\n', '/', ';', '=']) probes.push({ label: `run ${JSON.stringify(word + separator)}`, unit: word + separator })
  }
  const pairs = new Set<string>()
  for (let i = 0; i + 1 < ordered.length && pairs.size < 120; i++) {
    for (const j of [i + 1, i + 2]) if (j < ordered.length && ordered[i] !== ordered[j]) pairs.add(`${ordered[i]} ${ordered[j]} `)
  }
  for (const pair of pairs) probes.push({ label: `run ${JSON.stringify(pair)}`, unit: pair })
  return probes
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`
}

/** Runs a link on a value as the engine does: its transformations, then its operator. Returns ms spent in the operator and whether it matched. */
export function runLink(link: CompiledLink, value: string): { ms: number; matched: boolean } {
  let current = value
  for (const transformation of link.transformations) current = transformation(current)
  const started = performance.now()
  const matched = link.operator!(current, (text) => text) !== null
  return { ms: performance.now() - started, matched }
}

interface Job {
  /** Index into the links. */
  link: number
  /** Indexes into the link's probes, run in this order. */
  probes: number[]
  /** Runs of each; the fastest is kept (a collection or a busy core can only add time). */
  repeat: number
}

interface Result {
  /** Index into the links, and into its probes. */
  link: number
  index: number
  rule: string
  probe: string
  /** ms, or Infinity when the worker was stopped at the cap. */
  ms: number
  matched?: boolean
}

type WorkerMessage = { kind: 'result'; index: number; ms: number; matched: boolean } | { kind: 'done' } | { kind: 'ready' }

interface WorkerData {
  size: number
  quick: boolean
  guard: boolean
  /** `--regexp-backtracks-before-fallback`, when set. */
  fallbackAfter: number | undefined
}

/** Turns on the guard as the Node host does, optionally with another backtrack threshold. */
function setGuard({ guard, fallbackAfter }: WorkerData): void {
  if (!guard) return
  guardRegExpBacktracking()
  if (fallbackAfter !== undefined) v8.setFlagsFromString(`--regexp-backtracks-before-fallback=${fallbackAfter}`)
}

/** The probes of link `index`: the common ones, then the pattern's own words. */
function probesOf(links: readonly RxLink[], common: readonly Probe[], index: number): Probe[] {
  return [...common, ...patternProbes(links[index]!.pattern)]
}

/** Worker side: compiles the rules and runs whatever jobs arrive, one message per evaluation. */
function worker(): void {
  const data = workerData as WorkerData
  const { size, quick } = data
  setGuard(data)
  const links = crsRxLinks()
  const common = commonProbes(quick)
  const port = parentPort!
  port.on('message', (job: Job) => {
    const { link } = links[job.link]!
    const probes = probesOf(links, common, job.link)
    // First runs compile the regex and tier it up; keep them out of the timings.
    runLink(link, 'warm up')
    runLink(link, 'warm up again')
    for (const index of job.probes) {
      const value = fill(probes[index]!.unit, size)
      let best = Number.POSITIVE_INFINITY
      let matched = false
      for (let run = 0; run < job.repeat; run++) {
        const result = runLink(link, value)
        best = Math.min(best, result.ms)
        matched = result.matched
      }
      port.postMessage({ kind: 'result', index, ms: best, matched } satisfies WorkerMessage)
    }
    port.postMessage({ kind: 'done' } satisfies WorkerMessage)
  })
  port.postMessage({ kind: 'ready' } satisfies WorkerMessage)
}

/** Runs the jobs over a pool of workers, stopping any evaluation past `capMs` (recorded as Infinity) and going on after it. */
async function measure(links: readonly RxLink[], jobs: Job[], data: WorkerData, capMs: number, threads: number): Promise<Result[]> {
  const common = commonProbes(data.quick)
  const results: Result[] = []
  const queue = [...jobs]
  let done = 0
  const total = queue.length
  const runOne = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const thread = new Worker(new URL(import.meta.url), { workerData: data })
      let job: Job | undefined
      let probes: Probe[] = []
      // How many of the job's probes have reported.
      let reported = 0
      let last = performance.now()
      let ready = false
      const take = (): void => {
        job = queue.shift()
        if (job === undefined) {
          clearInterval(watchdog)
          void thread.terminate().then(() => resolve())
          return
        }
        probes = probesOf(links, common, job.link)
        reported = 0
        last = performance.now()
        thread.postMessage(job)
      }
      const watchdog = setInterval(() => {
        if (!ready || job === undefined || performance.now() - last < capMs * job.repeat) return
        // The evaluation of the next probe runs away: record it, replace the worker, go on after it.
        const index = job.probes[reported]!
        results.push({ link: job.link, index, rule: links[job.link]!.rule, probe: probes[index]!.label, ms: Number.POSITIVE_INFINITY })
        process.stderr.write(`  ${links[job.link]!.rule} ${probes[index]!.label}: stopped after ${capMs} ms\n`)
        const rest = job.probes.slice(reported + 1)
        if (rest.length > 0) queue.unshift({ ...job, probes: rest })
        else done++
        job = undefined
        clearInterval(watchdog)
        void thread.terminate().then(() => runOne().then(resolve, reject))
      }, Math.min(100, capMs / 4))
      thread.on('message', (message: WorkerMessage) => {
        if (message.kind === 'ready') {
          ready = true
          take()
        } else if (message.kind === 'result' && job !== undefined) {
          results.push({ link: job.link, index: message.index, rule: links[job.link]!.rule, probe: probes[message.index]!.label, ms: message.ms, matched: message.matched })
          reported++
          last = performance.now()
        } else if (message.kind === 'done') {
          done++
          if (total > 20 && done % 20 === 0) process.stderr.write(`  ${done}/${total} links\n`)
          take()
        }
      })
      thread.on('error', reject)
    })
  await Promise.all(Array.from({ length: Math.min(threads, queue.length) }, runOne))
  return results
}

/** A handshake carrying `value` in a header, the query or a cookie, within the gateway's 16 KiB header limit. */
export function handshakeWith(where: PadPlace, value: string): HandshakeFacts {
  return paddedHandshake(where, value, { extra: [['User-Agent', 'Mozilla/5.0']], headerNames: ['X-Pad'], encode: queryEncode })
}

/** Percent-encodes what a request target cannot carry (and `&`, `=`, `+`, `%`, `#`), keeping the rest as is. */
function queryEncode(value: string): string {
  let out = ''
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    out += code <= 0x20 || code >= 0x7f || '&=+%#"<>\\^`{|}'.includes(value[i]!) ? `%${code.toString(16).padStart(2, '0').toUpperCase()}` : value[i]
  }
  return out
}

/** Whether a header can carry `value` as it is (no CR, LF, NUL or other control but tab). */
function headerSafe(value: string): boolean {
  return !/[\x00-\x08\x0a-\x1f\x7f]/.test(value)
}

/** The value of `unit` that fits `where` in `size` bytes on the wire. */
export function sizedFor(where: PadPlace, unit: string, size: number): string | undefined {
  if (where !== 'query') return headerSafe(unit) ? fill(unit, size) : undefined
  const perUnit = queryEncode(unit).length
  return fill(unit, Math.floor((size * unit.length) / perUnit))
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '16000' },
      cap: { type: 'string', default: '2000' },
      'no-guard': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      rules: { type: 'string' },
      top: { type: 'string', default: '25' },
      remeasure: { type: 'string', default: '100' },
      threads: { type: 'string', default: String(availableParallelism()) },
      'fallback-after': { type: 'string' },
      json: { type: 'string' },
    },
  })
  const size = Number(values.size)
  const capMs = Number(values.cap)
  const guard = !values['no-guard']
  const top = Number(values.top)
  const remeasure = Number(values.remeasure)
  const data: WorkerData = { size, quick: values.quick, guard, fallbackAfter: values['fallback-after'] === undefined ? undefined : Number(values['fallback-after']) }
  setGuard(data)
  const links = crsRxLinks()
  const wanted = values.rules?.split(',').map((id) => id.trim())
  const selected = links.flatMap((link, index) => (wanted === undefined || wanted.includes(link.rule) || wanted.includes(link.rule.split('#')[0]!) ? [index] : []))
  process.stderr.write(`${selected.length} @rx links (CRS PL${PARANOIA}), values of ${size} bytes, linear fallback ${guard ? 'on' : 'off'}, cap ${capMs} ms\n`)
  const started = performance.now()
  const common = commonProbes(values.quick)
  const jobs = selected.map((link): Job => ({ link, probes: probesOf(links, common, link).map((_, index) => index), repeat: 1 }))
  const results = await measure(links, jobs, data, capMs, Number(values.threads))
  // The slowest pairs again, alone on one thread and three times each: the first pass shares the cores.
  results.sort((a, b) => b.ms - a.ms)
  const again = new Map<number, number[]>()
  for (const result of results.slice(0, remeasure)) if (Number.isFinite(result.ms)) again.set(result.link, [...(again.get(result.link) ?? []), result.index])
  const retimed = await measure(links, [...again].map(([link, probes]) => ({ link, probes, repeat: 3 })), data, capMs, 1)
  const byPair = new Map(retimed.map((result) => [`${result.link} ${result.index}`, result]))
  for (let i = 0; i < results.length; i++) results[i] = byPair.get(`${results[i]!.link} ${results[i]!.index}`) ?? results[i]!
  results.sort((a, b) => b.ms - a.ms)
  const seconds = (performance.now() - started) / 1000

  // The slowest value of each of the slowest rules.
  const worstByRule = new Map<string, Result>()
  for (const result of results) if (!worstByRule.has(result.rule)) worstByRule.set(result.rule, result)
  const worst = [...worstByRule.values()].slice(0, top)
  console.log(`\n${results.length} evaluations in ${seconds.toFixed(0)} s; slowest per rule (values of ${size} bytes, linear fallback ${guard ? 'on' : 'off'}):`)
  for (const result of worst) console.log(`  ${result.rule.padEnd(10)} ${(Number.isFinite(result.ms) ? result.ms.toFixed(1) : `>${capMs}`).padStart(8)} ms  ${result.probe}`)
  const over = (limit: number): number => results.filter((result) => result.ms > limit).length
  console.log(`evaluations over 10 ms: ${over(10)}, over 50 ms: ${over(50)}, over 200 ms: ${over(200)}, stopped at the cap: ${over(capMs)}`)

  // Whole evaluations of handshakes carrying the slowest values (only with the guard: without it they may not end).
  const inspections: { where: string; probe: string; ms: number; blocked: boolean }[] = []
  if (guard && !results.some((result) => !Number.isFinite(result.ms))) {
    const firewall = waf({ crs: CRS, paranoia: PARANOIA, budgetMs: 3_600_000 })
    const units = new Map<string, string>()
    for (const result of results.slice(0, 200)) {
      if (units.size >= 12) break
      const probe = probesOf(links, common, result.link)[result.index]!
      units.set(probe.label, probe.unit)
    }
    for (const [label, unit] of units) {
      for (const where of ['header', 'query', 'cookie'] as const) {
        const value = sizedFor(where, unit, size)
        if (value === undefined) continue
        const facts = handshakeWith(where, value)
        let best = Number.POSITIVE_INFINITY
        let blocked = false
        for (let run = 0; run < 3; run++) {
          const begun = performance.now()
          blocked = firewall.inspect(facts).blocked
          best = Math.min(best, performance.now() - begun)
        }
        inspections.push({ where, probe: label, ms: best, blocked })
      }
    }
    inspections.sort((a, b) => b.ms - a.ms)
    console.log('\nwhole evaluations (waf.inspect, PL4) of handshakes carrying those values:')
    for (const inspection of inspections) console.log(`  ${inspection.where.padEnd(6)} ${inspection.ms.toFixed(1).padStart(8)} ms  ${inspection.probe}${inspection.blocked ? ' (blocked)' : ''}`)
  }
  if (values.json) {
    const rounded = (ms: number): number | string => (Number.isFinite(ms) ? Math.round(ms * 100) / 100 : `>${capMs}`)
    writeFileSync(values.json, JSON.stringify({ size, guard, capMs, seconds, worst: worst.map((result) => ({ ...result, ms: rounded(result.ms) })), inspections }, null, 2) + '\n')
  }
}

if (!isMainThread) worker()
else if (import.meta.main) await main()
