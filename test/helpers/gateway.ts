import { Writable } from 'node:stream'
import { pino } from 'pino'
import { expect } from 'vitest'
import { serve, type FetchApp, type Gateway, type ServeOptions } from '../../src/node/index.ts'

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { msg: string }

/** A gateway on 127.0.0.1:<free port> whose log lines are kept for assertions. */
export interface TestGateway extends Gateway {
  /** Base URL for WebSocket clients, `ws://127.0.0.1:<port>`. */
  readonly wsUrl: string
  /** Every log line written so far, parsed. */
  readonly logs: LogLine[]
}

/** Starts `app` on a free loopback port with a capturing logger. Close it in `finally`/`afterEach`. */
export async function startGateway(app: FetchApp, options: Omit<ServeOptions, 'logger' | 'port' | 'host'> = {}): Promise<TestGateway> {
  const logs: LogLine[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as LogLine)
      done()
    },
  })
  const gateway = await serve(app, { ...options, port: 0, host: '127.0.0.1', logger: pino({ level: 'debug' }, sink) })
  return Object.assign(Object.create(gateway) as Gateway, {
    wsUrl: gateway.url.replace(/^http/, 'ws'),
    logs,
    close: () => gateway.close(),
  }) as TestGateway
}

/**
 * Waits until `predicate` holds, checking every 10 ms, and fails after
 * `timeoutMs`. For events with no callback of their own (a counter reaching 0);
 * never used to wait out a timer.
 */
export async function waitFor(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Asserts that the gateway holds no pipe and no socket once clients are gone (waits for closes in flight). */
export async function expectNoOpenSockets(gateway: Gateway): Promise<void> {
  await waitFor(() => gateway.connections === 0 && gateway.openSockets === 0, 5_000, 'the gateway to release every socket').catch(() => {})
  expect(gateway.connections, 'open pipes').toBe(0)
  expect(gateway.openSockets, 'open sockets').toBe(0)
}

/** Log lines with the given message. */
export function logsWith(gateway: TestGateway, msg: string): LogLine[] {
  return gateway.logs.filter((line) => line.msg === msg)
}
