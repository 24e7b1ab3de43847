/**
 * How the CLI stops, started the ways an operator starts it: `npm start`
 * (npm runs the script through `sh -c`; the script `exec`s node, so npm's
 * child is the gateway itself and npm forwards SIGTERM to it), `node
 * bin/wsgate.js start` (a Docker entrypoint, systemd's ExecStart), and a
 * shell between npm and node (npx, or a script without `exec`), where the
 * shell dies of the forwarded signal and the gateway must notice that its
 * parent is gone. Every process here is one this suite spawned, ended by
 * its own PID; each runs in its own process group.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { pino } from 'pino'
import { serveOptions } from '../../src/node/cli.ts'
import { waitFor, type LogLine } from '../helpers/gateway.ts'
import { useResources } from '../helpers/resources.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const resources = useResources()

/** PIDs of gateway processes this suite started (not spawned directly: under npm or a shell); killed after each test if still alive. */
const started: number[] = []
afterEach(() => {
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL')
})

/** Whether a process with this PID exists (a zombie counts until its parent reaps it). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/** Every descendant of `pid`, from `ps` (children, grandchildren, …). */
function descendants(pid: number): number[] {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'latin1' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number])
  const found: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    const parent = queue.shift()!
    for (const [child, ppid] of table) {
      if (ppid === parent) {
        found.push(child)
        queue.push(child)
      }
    }
  }
  return found
}

/** Resolves when `port` can be bound again on 127.0.0.1 (nothing holds it). */
async function expectPortFree(port: number): Promise<void> {
  const server = net.createServer()
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  await new Promise((resolve) => server.close(resolve))
}

/** A CLI process started by the test: its JSON log lines as they come, and whether its stdout has ended. */
interface Started {
  child: ChildProcess
  lines: LogLine[]
  /** Resolves when stdout has ended (every process holding it has exited). */
  stdoutEnded: Promise<void>
  /** The 'gateway listening' line: the port, and the gateway's own PID. */
  listening: () => Promise<{ port: number; pid: number }>
  stderr: () => string
}

/** Spawns `command` in its own process group with the demo routes' environment, and reads its log lines. */
function start(command: string, args: string[], env: Record<string, string | undefined>): Started {
  const child = resources.track(
    spawn(command, args, {
      cwd: root,
      env: { ...process.env, ECHO_PORT: '0', LOG_LEVEL: 'info', LOG_PRETTY: '', ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  const lines: LogLine[] = []
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  // npm prints its own banner ("> wsgate@0.1.0 start"): only the gateway's JSON lines are kept.
  createInterface({ input: child.stdout! }).on('line', (text) => {
    if (text.startsWith('{')) lines.push(JSON.parse(text) as LogLine)
  })
  const stdoutEnded = once(child.stdout!, 'end').then(() => undefined)
  return {
    child,
    lines,
    stdoutEnded,
    stderr: () => stderr,
    async listening() {
      await waitFor(() => lines.some((line) => line.msg === 'gateway listening'), 15_000, `'gateway listening' (stderr: ${stderr})`)
      const line = lines.find((entry) => entry.msg === 'gateway listening')!
      started.push(line.pid as number)
      return { port: line.port as number, pid: line.pid as number }
    },
  }
}

/** What one client saw: the texts it received and how its connection ended, in ms from the signal. */
interface ClientRecord {
  client: WebSocket
  received: string[]
  /** The number of messages received when the close event came. */
  receivedAtClose?: number
  closed: Promise<{ code: number; reason: string; at: number }>
}

/** Opens `count` clients to `url`, `batch` handshakes at a time; `since()` is the origin of their close times. */
async function openClients(url: string, count: number, batch: number, since: () => number): Promise<ClientRecord[]> {
  const records: ClientRecord[] = []
  for (let first = 0; first < count; first += batch) {
    const opened = Array.from({ length: Math.min(batch, count - first) }, () => {
      const client = resources.track(new WebSocket(url))
      client.on('error', () => {})
      const record: ClientRecord = {
        client,
        received: [],
        closed: new Promise((resolve) => {
          client.once('close', (code, reason) => {
            record.receivedAtClose = record.received.length
            resolve({ code, reason: String(reason), at: performance.now() - since() })
          })
        }),
      }
      client.on('message', (data) => record.received.push(String(data)))
      records.push(record)
      return once(client, 'open')
    })
    await Promise.all(opened)
  }
  return records
}

/** Sends one message on each client and resolves when every one has come back. */
async function roundTrip(records: ClientRecord[], prefix: string): Promise<void> {
  records.forEach((record, index) => record.client.send(`${prefix}-${index}`))
  await waitFor(() => records.every((record, index) => record.received.includes(`${prefix}-${index}`)), 15_000, `every '${prefix}' echo`)
}

describe('wsgate start: drain flags', () => {
  it('passes --drain-timeout and --close-grace to serve() as drainTimeout and closeGrace, and names a bad value', () => {
    const logger = pino({ enabled: false })
    expect(serveOptions({ 'drain-timeout': '10000', 'close-grace': '2000' }, logger)).toMatchObject({ drainTimeout: 10_000, closeGrace: 2_000 })
    expect(serveOptions({}, logger)).not.toHaveProperty('drainTimeout')
    expect(() => serveOptions({ 'drain-timeout': '30s' }, logger)).toThrow('--drain-timeout expects a number, got "30s"')
    expect(() => serveOptions({ 'close-grace': 'soon' }, logger)).toThrow('--close-grace expects a number, got "soon"')
  })
})

describe('wsgate start: signals', () => {
  it('SIGTERM to the `npm start` process drains 1,000 connections over the window, and the whole process tree exits 0 with the port free', async () => {
    const drainTimeout = 3_000
    const closeGrace = 3_000
    const gateway = start(
      'npm',
      [
        'start',
        '--',
        '--port',
        '0',
        '--drain-timeout',
        String(drainTimeout),
        '--close-grace',
        String(closeGrace),
        '--max-connections-per-client',
        '1000',
        '--max-handshakes-per-client',
        '100',
      ],
      // npm's child is the script's shell; npm sets npm_lifecycle_event itself.
      { PATH: `${root}node_modules/.bin:${process.env.PATH}` },
    )
    const { port, pid } = await gateway.listening()
    const npmPid = gateway.child.pid!
    // With `exec` in the script, the shell has become the gateway: npm → node, nothing else.
    const tree = descendants(npmPid)
    expect(tree).toEqual([pid])

    let signalledAt = 0
    const records = await openClients(`ws://127.0.0.1:${port}/echo`, 1_000, 100, () => signalledAt)
    await roundTrip(records, 'ready')
    // A message from every client right before the signal, still in flight when the drain begins.
    records.forEach((record, index) => record.client.send(`before-${index}`))
    signalledAt = performance.now()
    gateway.child.kill('SIGTERM')

    const [code, signal] = (await once(gateway.child, 'exit')) as [number | null, NodeJS.Signals | null]
    const ends = await Promise.all(records.map((record) => record.closed))
    expect({ code, signal, stderr: gateway.stderr() }).toMatchObject({ code: 0, signal: null })

    for (const [index, end] of ends.entries()) {
      expect(end.code, `client ${index}'s close code`).toBe(1001)
      expect(end.reason).toBe('gateway draining')
      expect(end.at).toBeLessThan(drainTimeout + closeGrace)
      const received = records[index]!.received
      // Nothing cut, reordered or mixed up: what came back is what was sent, in order.
      expect([`ready-${index}`, `before-${index}`].slice(0, received.length)).toEqual(received)
      // The echo of the message sent right before the signal came back before the close: the gateway tells the
      // origin first and relays its replies until the origin's own close frame. Only a connection closed in the
      // first moments of the drain may miss it: its message reached the gateway (still reading 1,000 of them)
      // after the close frame had gone to the origin, and what follows a close frame is dropped.
      if (end.at >= drainTimeout / 10) expect(received, `client ${index}, closed ${Math.round(end.at)} ms in`).toContain(`before-${index}`)
    }
    // Spread over the window, not all at once.
    const times = ends.map((end) => end.at)
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(drainTimeout / 2)

    // Every process of the tree is gone, the port is free, and the last lines were written before the exit.
    await waitFor(() => ![npmPid, ...tree].some(alive), 5_000, 'every process of the tree to exit')
    await gateway.stdoutEnded
    await expectPortFree(port)
    const closedLines = gateway.lines.filter((line) => line.msg === 'connection closed')
    expect(closedLines).toHaveLength(1_000)
    expect(closedLines.every((line) => line.closeCause === 'drain')).toBe(true)
    expect(gateway.lines.find((line) => line.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM', connections: 1_000, drainTimeout, closeGrace })
    expect(gateway.lines.at(-1)!.msg).toBe('gateway closed')
  }, 40_000)

  it('Ctrl-C on `npm start` (SIGINT to the whole process group, then npm forwards its own) drains and exits 0', async () => {
    const gateway = start('npm', ['start', '--', '--port', '0', '--drain-timeout', '1000'], { PATH: `${root}node_modules/.bin:${process.env.PATH}` })
    const { port, pid } = await gateway.listening()
    const npmPid = gateway.child.pid!
    const records = await openClients(`ws://127.0.0.1:${port}/echo`, 2, 2, () => 0)
    // The group was made for this test (detached): npm and the gateway, nothing else.
    expect(descendants(npmPid)).toEqual([pid])
    process.kill(-npmPid, 'SIGINT')
    const [code] = (await once(gateway.child, 'exit')) as [number | null]
    expect(code).toBe(0)
    const ends = await Promise.all(records.map((record) => record.closed))
    expect(ends.map((end) => end.code)).toEqual([1001, 1001])
    await gateway.stdoutEnded
    await waitFor(() => !alive(pid), 5_000, 'the gateway to exit')
    await expectPortFree(port)
    // The gateway got SIGINT from the group and again from npm (unless the two merged into one delivery):
    // either way it drained, and no copy counted as a second signal.
    expect(gateway.lines.some((line) => line.msg === 'second signal: exiting now')).toBe(false)
    expect(gateway.lines.at(-1)!.msg).toBe('gateway closed')
  }, 30_000)

  it('a second SIGTERM during the drain exits at once with 143, dropping the connections left; a copy within a second of the first is ignored (node bin/wsgate.js, as a Docker entrypoint runs it)', async () => {
    const drainTimeout = 6_000
    const gateway = start(process.execPath, ['bin/wsgate.js', 'start', 'routes/index.ts', '--port', '0', '--drain-timeout', String(drainTimeout)], {
      npm_lifecycle_event: undefined,
    })
    const { port, pid } = await gateway.listening()
    expect(gateway.child.pid).toBe(pid)
    const records = await openClients(`ws://127.0.0.1:${port}/echo`, 3, 3, () => 0)
    // A copy right after the first, as under `npm start` (the terminal's or systemd's, then npm's forwarded one).
    // Two of the same signal sent back to back may merge into one delivery; two different ones never do.
    gateway.child.kill('SIGTERM')
    gateway.child.kill('SIGINT')
    await waitFor(() => gateway.lines.some((line) => line.msg.startsWith('signal repeated')), 10_000, 'the repeated signal to be logged')
    // Pending signals are delivered lowest number first: whichever came first drains, the other is the copy.
    const signals = [gateway.lines.find((line) => line.msg === 'shutting down')!.signal, gateway.lines.find((line) => line.msg.startsWith('signal repeated'))!.signal]
    expect(signals.sort()).toEqual(['SIGINT', 'SIGTERM'])
    // The connections are due at 0, 2 and 4 s: the second closing shows the drain went on past the copy.
    await records[1]!.closed
    const second = performance.now()
    gateway.child.kill('SIGTERM')
    const [code] = (await once(gateway.child, 'exit')) as [number | null]
    expect(code).toBe(143)
    expect(performance.now() - second).toBeLessThan(drainTimeout / 3)
    const ends = await Promise.all(records.map((record) => record.closed))
    // Dropped with the process: no close frame.
    expect(ends.map((end) => end.code)).toEqual([1001, 1001, 1006])
    await gateway.stdoutEnded
    await expectPortFree(port)
    const forced = gateway.lines.find((line) => line.msg === 'second signal: exiting now')!
    expect(forced).toMatchObject({ signal: 'SIGTERM' })
    // The third, and the second if its close handshake had not finished on the gateway's side yet.
    expect(forced.connections).toBeGreaterThanOrEqual(1)
  }, 30_000)

  it('drains and exits when the shell npm ran it through dies of the forwarded SIGTERM (npx, a script without exec)', async () => {
    // What `npx wsgate start` runs: npm → sh -c '<command>' → node. npm forwards SIGTERM to the shell only.
    const gateway = start('/bin/sh', ['-c', `${process.execPath} bin/wsgate.js start routes/index.ts --port 0 --drain-timeout 1000`], {
      npm_lifecycle_event: 'npx',
    })
    const { port, pid } = await gateway.listening()
    const shellPid = gateway.child.pid!
    expect(descendants(shellPid)).toEqual([pid])
    const records = await openClients(`ws://127.0.0.1:${port}/echo`, 2, 2, () => 0)
    await roundTrip(records, 'before')
    gateway.child.kill('SIGTERM')
    await once(gateway.child, 'exit')
    // The gateway notices within a second that its parent is gone, and stops as on SIGTERM.
    const ends = await Promise.all(records.map((record) => record.closed))
    expect(ends.map((end) => end.code)).toEqual([1001, 1001])
    await gateway.stdoutEnded
    await waitFor(() => !alive(pid), 5_000, 'the gateway to exit')
    await expectPortFree(port)
    expect(gateway.lines.find((line) => line.msg === 'shutting down')).toMatchObject({ parentExited: shellPid })
    expect(gateway.lines.filter((line) => line.msg === 'connection closed')).toHaveLength(2)
    expect(gateway.lines.at(-1)!.msg).toBe('gateway closed')
  }, 30_000)

  it('with --workers, the primary stops its workers and exits when that shell dies, and the port is free', async () => {
    const gateway = start('/bin/sh', ['-c', `${process.execPath} bin/wsgate.js start routes/index.ts --port 0 --drain-timeout 1000 --workers 2`], {
      npm_lifecycle_event: 'npx',
    })
    const { port } = await gateway.listening()
    await waitFor(() => gateway.lines.filter((line) => line.msg === 'gateway listening').length === 2, 15_000, 'both workers listening')
    const shellPid = gateway.child.pid!
    const [primaryPid] = descendants(shellPid)
    started.push(primaryPid!, ...descendants(primaryPid!))
    const records = await openClients(`ws://127.0.0.1:${port}/echo`, 2, 2, () => 0)
    await roundTrip(records, 'before')
    gateway.child.kill('SIGTERM')
    await once(gateway.child, 'exit')
    // The primary notices within a second that its parent is gone and stops its workers as on SIGTERM; they drain.
    const ends = await Promise.all(records.map((record) => record.closed))
    expect(ends.map((end) => end.code)).toEqual([1001, 1001])
    await gateway.stdoutEnded
    await waitFor(() => !alive(primaryPid!), 5_000, 'the primary to exit')
    await expectPortFree(port)
    expect(gateway.lines.find((line) => line.msg === 'stopping workers')).toMatchObject({ signal: 'SIGTERM', parentExited: shellPid, workers: 2 })
    expect(gateway.lines.at(-1)).toMatchObject({ msg: 'all workers exited', code: 0 })
  }, 30_000)
})
