/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): self time per function,
 * the functions that cost the most first, with the idle time left out of the
 * shares (a proxy waiting on epoll is not spending).
 *
 *   node bench/profile.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/** One function's share of the busy time. */
export interface ProfileEntry {
  function: string
  /** `file:line` (1-based), or a V8 pseudo-frame such as `(garbage collector)`. */
  where: string
  selfMs: number
  /** Share of the busy (non-idle) time, %. */
  percent: number
}

export interface ProfileSummary {
  /** Wall time covered by the profile, ms. */
  totalMs: number
  /** Time the main thread had work, ms (total less `(idle)`). */
  busyMs: number
  top: ProfileEntry[]
}

/**
 * Self time per function of the profile in `path`, the `top` costliest
 * first; with `lastMs`, only the samples of the profile's last `lastMs`
 * (the measured load, not the process's start-up and module compilation).
 */
export function summariseProfile(path: string, top = 15, lastMs?: number): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  let clock = profile.startTime
  const times = profile.timeDeltas.map((delta) => (clock += delta))
  const from = lastMs === undefined ? Number.NEGATIVE_INFINITY : (times.at(-1) ?? 0) - lastMs * 1000
  const selfMicros = new Map<string, { function: string; where: string; micros: number }>()
  let idle = 0
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    if (times[i]! < from) continue
    // A sample's time is the delta to the next one.
    const micros = profile.timeDeltas[i + 1] ?? 0
    const node = byId.get(profile.samples[i]!)
    if (!node) continue
    total += micros
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') {
      idle += micros
      continue
    }
    const name = functionName || '(anonymous)'
    const where = url ? `${url.startsWith('node:') ? url : basename(url)}:${lineNumber + 1}` : name
    const key = `${name}@${where}`
    const entry = selfMicros.get(key) ?? { function: name, where, micros: 0 }
    entry.micros += micros
    selfMicros.set(key, entry)
  }
  const busy = total - idle
  const entries = [...selfMicros.values()]
    .sort((a, b) => b.micros - a.micros)
    .slice(0, top)
    .map((entry) => ({ function: entry.function, where: entry.where, selfMs: entry.micros / 1000, percent: busy > 0 ? (entry.micros / busy) * 100 : 0 }))
  return { totalMs: total / 1000, busyMs: busy / 1000, top: entries }
}

/** The summary as text lines. */
export function formatProfile(summary: ProfileSummary): string[] {
  const lines = [`busy ${summary.busyMs.toFixed(0)} ms of ${summary.totalMs.toFixed(0)} ms profiled; self time:`]
  for (const entry of summary.top) {
    lines.push(`  ${entry.percent.toFixed(1).padStart(5)}%  ${entry.selfMs.toFixed(0).padStart(6)} ms  ${entry.function}  ${entry.where}`)
  }
  return lines
}

if (import.meta.main) {
  const [path, top, lastMs] = process.argv.slice(2)
  if (!path) {
    console.error('usage: node bench/profile.ts <file.cpuprofile> [top] [last-ms]')
    process.exit(2)
  }
  console.log(formatProfile(summariseProfile(path, top ? Number(top) : 15, lastMs ? Number(lastMs) : undefined)).join('\n'))
}
