/**
 * A redis-server of the test's own: Debian's binary (`apt-get install
 * redis-server`; `.ci/run` installs it), started as a child on a free port of
 * 127.0.0.1 with no persistence, and stopped by its PID. Tests that need
 * Redis fail when the binary is missing, with the line that installs it.
 * REDIS_SERVER names another binary.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { Redis } from 'ioredis'
import { freePort } from './ports.ts'

/** Where the tests look for the server. */
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'

/** A running redis-server child. */
export interface TestRedis {
  readonly url: string
  readonly port: number
  /** The server's PID, for stopping it (and nothing else). */
  readonly pid: number
  /** Kills the server (SIGKILL: no shutdown save) and waits until it has exited. */
  stop(): Promise<void>
  /** Starts a new, empty server on the same port (after {@link stop}), as a restarted Redis without persistence. */
  restart(): Promise<void>
  /** Empties the server between tests: leases and counts of processes a test killed would otherwise count on until they lapse. */
  flush(): Promise<void>
}

/** Starts redis-server on a free port and resolves once it accepts connections. */
export async function startRedis(): Promise<TestRedis> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} not found: these tests need a Redis server; install it with: apt-get install -y --no-install-recommends redis-server (or set REDIS_SERVER)`)
  }
  const port = await freePort()
  let child = await launch(port)
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid!
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      process.kill(child.pid!, 'SIGKILL')
      await exited
    },
    async restart() {
      child = await launch(port)
    },
    async flush() {
      const admin = new Redis(`redis://127.0.0.1:${port}`)
      try {
        await admin.flushall()
      } finally {
        admin.disconnect()
      }
    },
  }
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server on ${port} not ready within 10 s:\n${output}`)), 10_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server on ${port} exited with ${code}:\n${output}`))
    })
  })
  child.stderr!.resume()
  try {
    await ready
  } catch (error) {
    if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL')
    throw error
  }
  // Later output is not needed; keep the pipe drained.
  child.stdout!.resume()
  return child
}
