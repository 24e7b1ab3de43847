import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { connectionCeiling, RESERVED_DESCRIPTORS } from '../../src/node/cli.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const hardLimit = execFileSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'latin1' }).trim()
/** The test lowers the soft limit to this; it needs a hard limit above it. */
const LOWERED = 512
const canLower = hardLimit === 'unlimited' || Number(hardLimit) > LOWERED

let child: ChildProcess | undefined

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
  child = undefined
})

/** Starts `wsgate start routes/index.ts` under `sh` with a lowered soft limit; resolves with the 'connection ceiling' log line. */
async function startWithLoweredLimit(flags: string[] = []): Promise<{ line: Record<string, unknown>; pid: number }> {
  child = spawn('/bin/sh', ['-c', `ulimit -Sn ${LOWERED}; exec "$0" "$@"`, process.execPath, 'bin/wsgate.js', 'start', 'routes/index.ts', '--port', '0', ...flags], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const pid = child.pid!
  for await (const text of createInterface({ input: child.stdout! })) {
    const line = JSON.parse(text) as Record<string, unknown>
    if (typeof line.msg === 'string' && line.msg.startsWith('connection ceiling')) return { line, pid }
  }
  throw new Error('the gateway exited without logging its connection ceiling')
}

describe('the open-file limit at start', () => {
  // Node raises its soft RLIMIT_NOFILE to the hard limit at start-up (PlatformInit in src/node.cc);
  // the gateway relies on that and logs the ceiling it leaves.
  it.skipIf(!canLower)('runs with its soft limit raised to the hard limit and logs the ceiling derived from it', async () => {
    const { line, pid } = await startWithLoweredLimit()
    const hard = hardLimit === 'unlimited' ? Number.POSITIVE_INFINITY : Number(hardLimit)
    expect(line.openFileLimit).toBe(hard)
    expect(line.hardLimit).toBe(hard)
    expect(line.connectionCeiling).toBe(Math.floor((hard - RESERVED_DESCRIPTORS) / 2))
    // The process started with a soft limit of 512 and now holds the hard limit.
    expect(readFileSync(`/proc/${pid}/limits`, 'latin1')).toMatch(new RegExp(`^Max open files\\s+${hardLimit}\\s+${hardLimit}`, 'm'))
  })

  it.skipIf(!canLower)('warns when maxConnections is more than the open-file limit allows', async () => {
    const { line } = await startWithLoweredLimit(['--max-connections', '1000000'])
    expect(line.level).toBe(40) // warn: past the ceiling connections would fail with EMFILE, not a clean 503
    expect(line.maxConnections).toBe(1_000_000)
    expect(line.connectionCeiling).toBe(connectionCeiling(line.openFileLimit as number))
    expect(line.msg).toMatch(/raise the hard limit/)
  })
})
