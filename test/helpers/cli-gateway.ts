/**
 * A gateway started the way an operator starts it: `node bin/wsgate.js
 * start <routes> …` as a child process, its JSON log lines read from
 * stdout. Stopped by its PID only.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { LogLine } from './gateway.ts'

/** The repository's root, where `bin/wsgate.js` is. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A running `wsgate start` child. */
export interface CliGateway {
  readonly child: ChildProcess
  readonly pid: number
  /** Every JSON line it has written so far. */
  readonly lines: LogLine[]
  /** What it wrote to stderr (a failed start's reason). */
  readonly stderr: () => string
  /** The port its first 'gateway listening' line named. */
  readonly port: number
  /** Resolves with the first line (from the start) matching `predicate`; rejects after `timeoutMs`. */
  waitForLine(predicate: (line: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>
  /** Sends `signal` to the process (by its PID) unless it has exited; resolves with its exit code once it has. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Options of {@link startCliGateway}. */
export interface CliGatewayOptions {
  /** Environment added to the test's. */
  env?: Record<string, string>
  /** 'gateway listening' lines to wait for before resolving (one per worker). @default 1 */
  listening?: number
}

/** Starts `wsgate start routes args…` and resolves once it logged `listening` 'gateway listening' lines. */
export async function startCliGateway(routes: string, args: string[], options: CliGatewayOptions = {}): Promise<CliGateway> {
  const child = spawn(process.execPath, ['bin/wsgate.js', 'start', routes, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: LogLine[] = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as LogLine)
    } catch {
      lines.push({ msg: text })
    }
    for (const waiter of waiters) waiter()
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>

  function waitForLine(predicate: (line: LogLine) => boolean, timeoutMs = 10_000, what = 'a log line'): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.find(predicate)
        if (!found) return
        cleanup()
        resolve(found)
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`no ${what} within ${timeoutMs} ms; stderr: ${stderr}\nlines: ${lines.map((line) => line.msg).join(' | ')}`))
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  }

  const wanted = options.listening ?? 1
  try {
    await waitForLine(() => lines.filter((line) => line.msg === 'gateway listening').length >= wanted, 20_000, `${wanted} 'gateway listening' line(s)`)
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL')
    throw error
  }
  const port = lines.find((line) => line.msg === 'gateway listening')!.port as number
  return {
    child,
    pid: child.pid!,
    lines,
    stderr: () => stderr,
    port,
    waitForLine,
    async stop(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal)
      const [code] = await exited
      return code
    },
  }
}

/**
 * Runs `wsgate args…` (`node bin/wsgate.js`, from the repository's root) to
 * its end, SIGKILLed by its PID after 20 s: exit code, stdout and stderr.
 * `LOG_LEVEL` is `warn` unless `env` says otherwise.
 */
export async function runWsgate(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/wsgate.js', ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 20_000)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}
