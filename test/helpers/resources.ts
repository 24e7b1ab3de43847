import { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { afterEach, expect } from 'vitest'
import WebSocket from 'ws'
import { expectNoOpenSockets, routesApp, startGateway, type GatewayOptions, type Routes, type TestGateway } from './gateway.ts'
import type { FetchApp } from '../../src/node/index.ts'
import { startRawOrigin, startWsOrigin, type RawOrigin, type WsOrigin } from './origins.ts'

/** What `track` stops after a test: servers and origins are closed, the rest destroyed. */
type Closable = { close(): Promise<void> }
type Trackable = Closable | WebSocket | ChildProcess | net.Socket

/** Options of `openClient`: the subprotocols to offer, and whether to ignore the client's later errors. */
type OpenOptions = WebSocket.ClientOptions & { protocols?: string | string[]; ignoreErrors?: boolean }

/**
 * Opens a ws client and waits for the handshake. With `ignoreErrors`, errors
 * after the handshake (a peer that dies, a reset) do not fail the test.
 */
export async function openClient(url: string, options: OpenOptions = {}): Promise<WebSocket> {
  const { protocols, ignoreErrors = false, ...clientOptions } = options
  const client = new WebSocket(url, protocols, clientOptions)
  if (ignoreErrors) client.on('error', () => {})
  await once(client, 'open')
  return client
}

/** Closes a ws client with a close handshake (with `code`, when given) and waits until it is closed. */
export async function closeClient(client: WebSocket, code?: number): Promise<void> {
  if (client.readyState === WebSocket.CLOSED) return
  const closed = once(client, 'close')
  client.close(code)
  await closed
}

/** Opens a ws client, sends `message`, expects the same text back, and closes it with 1000. */
export async function echoOnce(url: string, message: string, options: WebSocket.ClientOptions = {}): Promise<void> {
  const client = await openClient(url, options)
  const reply = once(client, 'message') as Promise<[Buffer, boolean]>
  client.send(message)
  expect(String((await reply)[0])).toBe(message)
  await closeClient(client, 1000)
}

/** Drops a client's TCP connection (no close frame) and waits until it is closed: the log then says closedBy client. */
export async function dropClient(client: WebSocket): Promise<void> {
  const closed = once(client, 'close')
  client.terminate()
  await closed
}

/** Everything a suite starts through `useResources()`, stopped after each test. */
export interface Resources {
  /** A gateway serving `routes` (see `routesApp`); after the test it must hold no socket, then it is closed. */
  gatewayWith(routes: Routes, options?: GatewayOptions): Promise<TestGateway>
  /** A gateway serving `app` as it is; checked for leaks and closed after the test like the others. */
  gateway(app: FetchApp, options?: GatewayOptions): Promise<TestGateway>
  /** A `ws` origin (see `startWsOrigin`), closed after the test. */
  wsOrigin(...args: Parameters<typeof startWsOrigin>): Promise<WsOrigin>
  /** A raw origin (see `startRawOrigin`), closed after the test. */
  rawOrigin(...args: Parameters<typeof startRawOrigin>): Promise<RawOrigin>
  /**
   * Stops `resource` after the test: a ws client is terminated, a child
   * process (only one the suite spawned, by its own PID) killed and a socket
   * destroyed before the gateways are checked; anything else with `close()`
   * is closed after them.
   */
  track<T extends Trackable>(resource: T): T
  /** Opens a tracked ws client whose errors are ignored, and waits for the handshake. */
  open(url: string): Promise<WebSocket>
  /** The ws clients tracked in the current test, in order. */
  readonly clients: readonly WebSocket[]
}

/**
 * Registers an `afterEach` that stops everything the returned functions
 * start or track: clients, child processes and raw sockets first, then every
 * gateway is checked for open pipes and sockets, then gateways and the rest
 * are closed (even when the check fails). Call once, at the top of a suite.
 */
export function useResources(): Resources {
  const gateways: TestGateway[] = []
  const closables: Closable[] = []
  const clients: WebSocket[] = []
  const children: ChildProcess[] = []
  const sockets: net.Socket[] = []

  afterEach(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    for (const socket of sockets) socket.destroy()
    for (const client of clients) client.terminate()
    try {
      for (const gateway of gateways) await expectNoOpenSockets(gateway)
    } finally {
      await Promise.all(gateways.map((gateway) => gateway.close()))
      await Promise.all(closables.map((closable) => closable.close()))
      for (const list of [gateways, closables, clients, children, sockets]) list.length = 0
    }
  })

  function track<T extends Trackable>(resource: T): T {
    if (resource instanceof WebSocket) clients.push(resource)
    else if (resource instanceof ChildProcess) children.push(resource)
    else if (resource instanceof net.Socket) sockets.push(resource)
    else closables.push(resource)
    return resource
  }

  async function gateway(app: FetchApp, options: GatewayOptions = {}): Promise<TestGateway> {
    const started = await startGateway(app, options)
    gateways.push(started)
    return started
  }

  return {
    gatewayWith: (routes, options = {}) => gateway(routesApp(routes), options),
    gateway,
    wsOrigin: async (...args) => track(await startWsOrigin(...args)),
    rawOrigin: async (...args) => track(await startRawOrigin(...args)),
    track,
    open: async (url) => {
      const client = track(new WebSocket(url))
      client.on('error', () => {})
      await once(client, 'open')
      return client
    },
    clients,
  }
}
