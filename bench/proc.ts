/**
 * The proxy's own cost, read from /proc (Linux): CPU seconds (user + system)
 * and resident memory of a process and its descendants (nginx's master and
 * worker, a gateway re-executed through `sh`), and the open-file limits.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of utime/stime in /proc/<pid>/stat and of /proc/stat (`getconf CLK_TCK`; 100 on every Linux port that matters). */
export const CLOCK_TICKS = readClockTicks()

function readClockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isInteger(value) && value > 0 ? value : 100
  } catch {
    return 100
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // Field 3 (state) starts after the last ')': everything before is "pid (comm)".
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

/** `pid` and every live descendant, found through the parent pid of every process in /proc. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry)
    if (!Number.isInteger(child)) continue
    const fields = statFields(child)
    if (!fields) continue
    // stat field 4, ppid; fields[] starts at field 3.
    const parent = Number(fields[1])
    const list = children.get(parent)
    if (list) list.push(child)
    else children.set(parent, [child])
  }
  const tree: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    const next = queue.shift()!
    tree.push(next)
    queue.push(...(children.get(next) ?? []))
  }
  return tree
}

/** CPU seconds (utime + stime, every thread) a set of processes has used so far; gone processes count 0. */
export function cpuSeconds(pids: readonly number[]): number {
  const { user, system } = cpuTimes(pids)
  return user + system
}

/** User and system CPU seconds (every thread) a set of processes has used so far. */
export function cpuTimes(pids: readonly number[]): { user: number; system: number } {
  let user = 0
  let system = 0
  for (const pid of pids) {
    const fields = statFields(pid)
    // utime and stime are stat fields 14 and 15.
    if (fields) {
      user += Number(fields[11])
      system += Number(fields[12])
    }
  }
  return { user: user / CLOCK_TICKS, system: system / CLOCK_TICKS }
}

/**
 * CPU seconds (user + system) per thread name (/proc/<pid>/task/<tid>/comm:
 * the main thread carries the process's name, V8's GC helpers `V8Worker`,
 * libuv's pool `libuv-worker`), summed over a set of processes.
 */
export function threadCpuSeconds(pids: readonly number[]): Record<string, number> {
  const byName: Record<string, number> = {}
  for (const pid of pids) {
    let tasks: string[]
    try {
      tasks = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const tid of tasks) {
      try {
        const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim()
        const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1')
        const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
        const label = Number(tid) === pid ? 'main' : name
        byName[label] = (byName[label] ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
      } catch {
        // The thread ended.
      }
    }
  }
  return byName
}

/** Resident set size, bytes, summed over a set of processes (VmRSS). */
export function rssBytes(pids: readonly number[]): number {
  let total = 0
  for (const pid of pids) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
      if (match) total += Number(match[1]) * 1024
    } catch {
      // The process is gone.
    }
  }
  return total
}

/** Soft and hard open-file limits of a process (this one by default). */
export function openFileLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'latin1'))
  if (!match) throw new Error(`no open-file limits in /proc/${pid}/limits`)
  const parse = (value: string): number => (value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value))
  return { soft: parse(match[1]!), hard: parse(match[2]!) }
}

/** Busy and total jiffies of all CPUs, from the first line of /proc/stat. */
export function cpuJiffies(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = fields.reduce((sum, value) => sum + value, 0)
  // idle and iowait are fields 4 and 5 of the cpu line.
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return { busy: total - idle, total }
}

/**
 * Share of the machine's CPU time that was busy over `ms`, 0 to 1. Measured
 * while the bench runs nothing, it is other work on the machine: a benchmark
 * on a shared machine is only as good as this is low.
 */
export async function machineBusy(ms = 1_000): Promise<number> {
  const start = cpuJiffies()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const end = cpuJiffies()
  return end.total > start.total ? (end.busy - start.busy) / (end.total - start.total) : 0
}
