/**
 * RSS per idle connection: for each target (the bare Node pipe, wsgate with
 * the empty chain, wsgate with the full chain), start it, warm it up with
 * short connections, read its RSS, open N verified idle connections through
 * it, let them settle, read its RSS again. Targets alternate their order
 * each repetition; the summary gives medians and ranges. Run under the
 * shared measurement lock:
 *
 *   flock /tmp/wsgate-bench.lock node bench/memory/idle.ts --connections 2000 --reps 3
 *   … --snapshot            heap snapshots before/after, then a diff by constructor (bench/memory/heap-diff.ts)
 *   … --targets empty,full  a subset
 *   … --gc                  also the live heap per connection (heapUsed after a full GC): what each one keeps alive
 */
import { readFileSync, mkdtempSync, readdirSync, statSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { closeConnection, openMany } from './client.ts'
import { cpuSeconds } from '../proc.ts'
import { census, diff } from './heap-diff.ts'
import { headersFor, parseTarget, pinProcesses, startShared, startTarget, type Running, type Shared, type TargetSpec } from './targets.ts'

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '2000' },
    reps: { type: 'string', default: '3' },
    targets: { type: 'string', default: 'bare,empty,full' },
    settle: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '300' },
    snapshot: { type: 'boolean', default: false },
    /** wsgate targets: a full GC (`--expose-gc`, GET /__bench?gc=1) before each reading, and the heap's figures printed with it. */
    gc: { type: 'boolean', default: false },
    /** wsgate targets: the heap's figures at each reading, without a GC (with --gc, after one). */
    verbose: { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
    /** The target alone on the last core, the origin and the load on core 0 (as `npm run bench` does). */
    pin: { type: 'boolean', default: false },
  },
})
/** Cumulative connection counts to read RSS at, e.g. `2000,8000`: the last step's growth per connection is the marginal cost, without the fixed costs of the first (the heap's young generation growing to its full size). */
const steps = values.connections.split(',').map(Number)
const connections = steps.at(-1)!
const reps = Number(values.reps)
const targets = values.targets.split(',').map(parseTarget)
const settleMs = Number(values.settle)
const nodeArgs = values['node-args'].split(' ').filter(Boolean)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** VmRSS and RssAnon of a process, bytes. */
function rss(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1')
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0) * 1024
  return { rss: field('VmRSS'), anon: field('RssAnon') }
}

/** Sends SIGUSR2 and waits for the heap snapshot it writes to `dir` to be complete. */
async function snapshot(running: Running, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir))
  process.kill(running.pid, 'SIGUSR2')
  for (;;) {
    await sleep(500)
    const fresh = readdirSync(dir).find((name) => !before.has(name) && name.endsWith('.heapsnapshot'))
    if (!fresh) continue
    const path = join(dir, fresh)
    const size = statSync(path).size
    await sleep(1000)
    if (statSync(path).size === size && size > 0) return path
  }
}

interface Sample {
  target: string
  rssBefore: number
  rssAfter: number
  perConnection: number
  anonPerConnection: number
  /** Growth per connection between the last two steps (when there are two or more). */
  marginal: number | undefined
  /** The target's CPU µs per connection opened (handshake and one echoed frame), over all steps. */
  cpuMicrosPerOpen: number
  /** With --gc: growth of the heap's live bytes (heapUsed after a full GC) per connection: what each one keeps alive. */
  liveHeapPerConnection: number | undefined
}

async function measure(target: TargetSpec, shared: Shared): Promise<Sample> {
  const dir = values.snapshot ? mkdtempSync(join(os.tmpdir(), `wsgate-heap-${target.name}-`)) : undefined
  const gc = values.gc && target.name !== 'bare'
  const verbose = (values.verbose || values.gc) && target.name !== 'bare'
  const args = [...nodeArgs, ...(dir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] : []), ...(gc ? ['--expose-gc'] : [])]
  const running = await startTarget(target, shared, args)
  /** With --gc: collects, then prints the heap's figures next to the RSS; the heap's used bytes (undefined without --verbose or --gc). */
  const collect = async (what: string): Promise<number | undefined> => {
    if (!verbose) return undefined
    const { memory } = (await (await fetch(`http://127.0.0.1:${running.port}/__bench${gc ? '?gc=1' : ''}`)).json()) as { memory: Record<string, number> }
    if (gc) await sleep(200)
    const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)
    // With bench/memory/heap-spaces-hook.ts preloaded, the spaces' figures too (printed by the target).
    process.kill(running.pid, 'SIGWINCH')
    console.log(`  ${target.label} ${what}: VmRSS ${mib(rss(running.pid).rss)}, ${Object.entries(memory).map(([name, value]) => `${name} ${mib(value)}`).join(', ')} MiB`)
    return memory.heapUsed
  }
  const headers = headersFor(target.name, shared)
  try {
    // Warm-up: JIT, the JWKS fetch, the first pools; then closed again, as the bench's handshake warm-up leaves it.
    const warm = await openMany(Number(values.warmup), 50, running.port, '/bench', headers)
    await Promise.all(warm.map(closeConnection))
    await sleep(settleMs)
    const beforeSnapshot = dir ? await snapshot(running, dir) : undefined
    const heapBefore = await collect('before')
    const before = rss(running.pid)
    let heapAfter: number | undefined
    const held = []
    const atStep: number[] = []
    let openCpu = 0
    for (const step of steps) {
      const cpuBefore = cpuSeconds([running.pid])
      held.push(...(await openMany(step - held.length, 200, running.port, '/bench', headers)))
      openCpu += cpuSeconds([running.pid]) - cpuBefore
      await sleep(settleMs)
      heapAfter = await collect(`at ${step}`)
      atStep.push(rss(running.pid).rss)
    }
    const after = rss(running.pid)
    const afterSnapshot = dir ? await snapshot(running, dir) : undefined
    await Promise.all(held.map(closeConnection))
    if (beforeSnapshot && afterSnapshot) {
      const rows = diff(census(beforeSnapshot), census(afterSnapshot), connections)
      const total = rows.reduce((sum, row) => sum + row.bytes, 0)
      console.log(`${target.label}: heap self size ${total.toFixed(0)} B per connection (${beforeSnapshot} → ${afterSnapshot})`)
      for (const row of rows.slice(0, 30)) if (Math.abs(row.bytes) >= 4) console.log(`  ${row.bytes.toFixed(1).padStart(8)} B ${row.count.toFixed(2).padStart(6)} × ${row.kind}`)
    }
    return {
      target: target.label,
      rssBefore: before.rss,
      rssAfter: after.rss,
      perConnection: (after.rss - before.rss) / connections,
      anonPerConnection: (after.anon - before.anon) / connections,
      cpuMicrosPerOpen: (openCpu * 1e6) / connections,
      marginal: steps.length > 1 ? (atStep.at(-1)! - atStep.at(-2)!) / (steps.at(-1)! - steps.at(-2)!) : undefined,
      liveHeapPerConnection: gc && heapBefore !== undefined && heapAfter !== undefined ? (heapAfter - heapBefore) / connections : undefined,
    }
  } finally {
    await running.stop()
  }
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

if (values.pin) pinProcesses()
const shared = await startShared()
const samples: Sample[] = []
try {
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? targets : [...targets].reverse()
    for (const target of order) {
      const sample = await measure(target, shared)
      samples.push(sample)
      console.log(JSON.stringify({ rep, ...sample }))
    }
  }
} finally {
  await shared.stop()
}
const kib = (bytes: number): string => (bytes / 1024).toFixed(2)
console.log(`\nRSS per idle connection, ${connections} connections, ${reps} repetitions (KiB: median [min–max]; RssAnon median; marginal: growth per connection from ${steps.at(-2)} to ${connections})`)
for (const { label } of targets) {
  const mine = samples.filter((sample) => sample.target === label)
  const per = mine.map((sample) => sample.perConnection)
  const anon = mine.map((sample) => sample.anonPerConnection)
  const idleRss = mine.map((sample) => sample.rssBefore)
  const marginal = mine.map((sample) => sample.marginal).filter((value) => value !== undefined)
  const cpu = mine.map((sample) => sample.cpuMicrosPerOpen)
  const live = mine.map((sample) => sample.liveHeapPerConnection).filter((value) => value !== undefined)
  const marginalText = `  CPU ${median(cpu).toFixed(0)} [${Math.min(...cpu).toFixed(0)}–${Math.max(...cpu).toFixed(0)}] µs per connection opened` + (marginal.length > 0 ? `  marginal ${kib(median(marginal))} [${kib(Math.min(...marginal))}–${kib(Math.max(...marginal))}]` : '')
  const liveText = live.length > 0 ? `  live heap ${kib(median(live))} [${kib(Math.min(...live))}–${kib(Math.max(...live))}]` : ''
  console.log(`${label.padEnd(6)} ${kib(median(per))} [${kib(Math.min(...per))}–${kib(Math.max(...per))}]  anon ${kib(median(anon))}${marginalText}${liveText}  idle RSS ${(median(idleRss) / 2 ** 20).toFixed(1)} MiB`)
}
