import { Writable } from 'node:stream'
import { Hono } from 'hono'
import { pino } from 'pino'
import { expect } from 'vitest'
import { websocket, type GatewayBindings, type WebSocketOptions } from '../../src/index.ts'
import { serve, type CloseOptions, type FetchApp, type Gateway, type ServeOptions } from '../../src/node/index.ts'

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { msg: string }

/** A gateway on 127.0.0.1:<free port> whose log lines are kept for assertions. */
export interface TestGateway extends Gateway {
  /** Base URL for WebSocket clients, `ws://127.0.0.1:<port>`. */
  readonly wsUrl: string
  /** Every log line written so far, parsed. */
  readonly logs: LogLine[]
}

/** Options of a test gateway: `serve()`'s, but for where it listens and how it logs. */
export type GatewayOptions = Omit<ServeOptions, 'logger' | 'port' | 'host'>

/** WebSocket routes: a path to its origin URL, or to the origin URL and the route's options. */
export type Routes = Record<string, string | [target: string, options?: WebSocketOptions]>

/** A Hono app with `app.all(path, websocket(target, options))` for every route. */
export function routesApp(routes: Routes): Hono<{ Bindings: GatewayBindings }> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  for (const [path, route] of Object.entries(routes)) {
    const [target, options] = typeof route === 'string' ? [route] : route
    app.all(path, websocket(target, options))
  }
  return app
}

/** Starts `app` on a free loopback port with a capturing logger. Close it in `finally`/`afterEach`. */
export async function startGateway(app: FetchApp, options: GatewayOptions = {}): Promise<TestGateway> {
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
    close: (options?: CloseOptions) => gateway.close(options),
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

/** 'connection closed' log lines, optionally of one route. */
export function closedLines(gateway: TestGateway, route?: string): LogLine[] {
  return logsWith(gateway, 'connection closed').filter((line) => route === undefined || line.route === route)
}

/** The single 'connection closed' line (of `route`, when given), once the pipe has ended. */
export async function closedLine(gateway: TestGateway, route?: string): Promise<LogLine> {
  const what = route === undefined ? "the 'connection closed' log line" : `the 'connection closed' line of ${route}`
  await waitFor(() => closedLines(gateway, route).length > 0, 5_000, what)
  const lines = closedLines(gateway, route)
  expect(lines).toHaveLength(1)
  return lines[0]!
}
