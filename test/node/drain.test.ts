import { once } from 'node:events'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type WebSocket from 'ws'
import { DEFAULT_CLOSE_GRACE, DEFAULT_DRAIN_TIMEOUT } from '../../src/defaults.ts'
import { spreadOver, WatchedSet } from '../../src/node/drain.ts'
import { resolveServeSettings } from '../../src/node/settings.ts'
import { closedLines, logsWith, waitFor } from '../helpers/gateway.ts'
import { switchingProtocols } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

const { gatewayWith, wsOrigin, rawOrigin, open } = useResources()

/** When and how a client's connection ended, in ms from `since`. */
interface ClientEnd {
  at: number
  code: number
  reason: string
}

/** Resolves with the client's close event, timed from `since` (performance.now()). */
function whenClosed(client: WebSocket, since: () => number): Promise<ClientEnd> {
  return new Promise((resolve) => {
    client.once('close', (code, reason) => resolve({ at: performance.now() - since(), code, reason: String(reason) }))
  })
}

/** Resolves when a TCP connect to `port` is refused (nothing listens), rejects when it connects. */
function refused(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      reject(new Error(`port ${port} still accepts connections`))
    })
    socket.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNREFUSED' ? resolve() : reject(error)))
  })
}


describe('gateway.close({ drain: true })', () => {
  it('closes the open connections one after another over drainTimeout, oldest first, and resolves once the last has closed', async () => {
    const origin = await wsOrigin()
    const drainTimeout = 1_000
    const closeGrace = 2_000
    const gateway = await gatewayWith({ '/echo': origin.url }, { drainTimeout, closeGrace })
    const clients: WebSocket[] = []
    // One at a time, so the gateway's order of pipes is the clients' order.
    for (let index = 0; index < 20; index++) clients.push(await open(`${gateway.wsUrl}/echo`))
    let started = 0
    const ends = clients.map((client) => whenClosed(client, () => started))
    started = performance.now()
    await gateway.close({ drain: true })
    const resolvedAfter = performance.now() - started

    // Every connection ended and logged its line before close() resolved.
    expect(gateway.connections).toBe(0)
    expect(gateway.openSockets).toBe(0)
    expect(closedLines(gateway)).toHaveLength(20)
    const results = await Promise.all(ends)
    for (const end of results) expect(end).toMatchObject({ code: 1001, reason: 'gateway draining' })
    expect(closedLines(gateway).every((line) => line.closeCause === 'drain' && line.closeCode === 1001)).toBe(true)
    // Spread: the i-th is due at i × 50 ms, so the first at once and the last at 950 ms. Generous bounds:
    // not all at once, none past the window plus the grace, oldest first.
    const times = results.map((end) => end.at)
    expect(times[0]).toBeLessThan(drainTimeout / 2)
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(drainTimeout / 2)
    expect(Math.max(...times)).toBeLessThan(drainTimeout + closeGrace)
    expect(times.at(-1)!).toBeGreaterThan(times[0]!)
    // No 100 ms slice holds more than a quarter of the closes.
    const slices = new Map<number, number>()
    for (const at of times) slices.set(Math.floor(at / 100), (slices.get(Math.floor(at / 100)) ?? 0) + 1)
    expect(Math.max(...slices.values())).toBeLessThanOrEqual(5)
    // close() waited for the last connection, and not for the grace.
    expect(resolvedAfter).toBeGreaterThan(drainTimeout / 2)
    expect(resolvedAfter).toBeLessThan(drainTimeout + closeGrace)
    expect(logsWith(gateway, 'gateway draining')[0]).toMatchObject({ connections: 20, drainTimeout, closeGrace })
    expect(logsWith(gateway, 'gateway drained')).toHaveLength(1)
  })

  it('resolves as soon as every socket has closed, long before the window ends', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url }, { drainTimeout: 60_000 })
    const client = await open(`${gateway.wsUrl}/echo`)
    let started = 0
    const end = whenClosed(client, () => started)
    started = performance.now()
    // The only connection is the first one due: closed at once, and then nothing is left to wait for.
    await gateway.close({ drain: true })
    expect(performance.now() - started).toBeLessThan(10_000)
    expect(await end).toMatchObject({ code: 1001, reason: 'gateway draining' })
    expect(closedLines(gateway)).toHaveLength(1)
  })

  it('answers new handshakes and plain requests during the drain with 503 ERR_GATEWAY_DRAINING, Retry-After and connection: close, then stops listening', async () => {
    const origin = await wsOrigin()
    // Two connections over 4 s: the second is closed 2 s in, so the drain is still on while the requests below are answered.
    const gateway = await gatewayWith({ '/echo': origin.url }, { drainTimeout: 4_000, retryAfter: 7 })
    await open(`${gateway.wsUrl}/echo`)
    await open(`${gateway.wsUrl}/echo`)
    const closing = gateway.close({ drain: true })

    const handshake = await rawExchange(gateway.port, handshakeRequest('/echo'))
    expect(handshake.status).toBe(503)
    expect(handshake.headers['x-wsgate-error']).toBe('ERR_GATEWAY_DRAINING')
    expect(handshake.headers['retry-after']).toBe('7')
    expect(handshake.headers.connection).toBe('close')
    expect(handshake.body).toBe('gateway is shutting down, retry later\n')

    const plain = await rawExchange(gateway.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    expect(plain.status).toBe(503)
    expect(plain.headers['x-wsgate-error']).toBe('ERR_GATEWAY_DRAINING')
    expect(plain.headers['retry-after']).toBe('7')
    expect(plain.headers.connection).toBe('close')
    expect(gateway.connections).toBeGreaterThan(0)

    await closing
    expect(logsWith(gateway, 'handshake rejected').some((line) => line.code === 'ERR_GATEWAY_DRAINING')).toBe(true)
    expect(logsWith(gateway, 'request rejected').some((line) => line.code === 'ERR_GATEWAY_DRAINING')).toBe(true)
    await refused(gateway.port)
  })

  it('answers a handshake that was waiting for its origin when the drain began with 503, and starts no pipe', async () => {
    let release: (() => void) | undefined
    const origin = await rawOrigin((connection) => {
      release = () => connection.socket.write(switchingProtocols(connection))
    })
    const gateway = await gatewayWith({ '/slow': origin.url }, { drainTimeout: 1_000 })
    const answer = rawExchange(gateway.port, handshakeRequest('/slow'))
    await waitFor(() => release !== undefined, 5_000, 'the handshake to reach the origin')
    const closing = gateway.close({ drain: true })
    release!()
    const response = await answer
    expect(response.status).toBe(503)
    expect(response.headers['x-wsgate-error']).toBe('ERR_GATEWAY_DRAINING')
    await closing
    expect(closedLines(gateway)).toHaveLength(0)
    // The origin's upgraded connection was closed, not left behind.
    await waitFor(() => origin.sockets.size === 0, 5_000, "the origin's connection to close")
  })

  it('drops what is left at once when close() without drain is called during a drain', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url }, { drainTimeout: 60_000 })
    const clients: WebSocket[] = []
    for (let index = 0; index < 3; index++) clients.push(await open(`${gateway.wsUrl}/echo`))
    const ends = clients.map((client) => once(client, 'close'))
    const started = performance.now()
    const draining = gateway.close({ drain: true })
    // The first is closed at once; the others would wait 20 and 40 s.
    await ends[0]
    await gateway.close()
    await draining
    expect(performance.now() - started).toBeLessThan(10_000)
    await Promise.all(ends)
    expect(closedLines(gateway)).toHaveLength(3)
    expect(logsWith(gateway, 'gateway drain cut short; dropping what is left')).toHaveLength(1)
  })
})

describe('gateway.close() without drain', () => {
  it('drops every connection at once and logs each connection-end line before it resolves', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url })
    const clients: WebSocket[] = []
    for (let index = 0; index < 3; index++) clients.push(await open(`${gateway.wsUrl}/echo`))
    await gateway.close()
    expect(closedLines(gateway)).toHaveLength(3)
    expect(logsWith(gateway, 'gateway draining')).toHaveLength(0)
    expect(gateway.openSockets).toBe(0)
  })
})

describe('spreadOver()', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('calls each item at an even step over the window, the first at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const calls: [item: number, at: number][] = []
    const started = performance.now()
    const done = spreadOver([0, 1, 2, 3, 4], 1_000, (item) => calls.push([item, performance.now() - started]))
    expect(calls).toEqual([[0, 0]])
    await vi.advanceTimersByTimeAsync(1_000)
    await done
    expect(calls).toEqual([
      [0, 0],
      [1, 200],
      [2, 400],
      [3, 600],
      [4, 800],
    ])
  })

  it('handles items due in the same millisecond in one go, and stops when aborted', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const items = Array.from({ length: 10_000 }, (_, index) => index)
    const calls: number[] = []
    const abort = new AbortController()
    const done = spreadOver(items, 1_000, (item) => calls.push(item), abort.signal)
    await vi.advanceTimersByTimeAsync(500)
    // Ten due per millisecond: half of them by half the window.
    expect(calls.length).toBeGreaterThanOrEqual(4_990)
    expect(calls.length).toBeLessThanOrEqual(5_010)
    expect(calls).toEqual(items.slice(0, calls.length))
    abort.abort()
    await done
    const after = calls.length
    await vi.advanceTimersByTimeAsync(1_000)
    expect(calls).toHaveLength(after)
  })

  it('resolves at once with nothing to spread', async () => {
    await spreadOver([], 1_000, () => {
      throw new Error('not called')
    })
  })
})

describe('WatchedSet', () => {
  it('resolves whenEmpty() at the delete that empties it', async () => {
    const set = new WatchedSet<number>()
    await set.whenEmpty()
    set.add(1)
    set.add(2)
    let empty = false
    const waiting = set.whenEmpty().then(() => (empty = true))
    set.delete(1)
    await Promise.resolve()
    expect(empty).toBe(false)
    set.delete(2)
    await waiting
    expect(empty).toBe(true)
  })
})

describe('drain settings', () => {
  it('defaults drainTimeout to 30 s and closeGrace to 5 s, and refuses a window that is not a positive duration', () => {
    const settings = resolveServeSettings({})
    expect(settings.drainTimeout).toBe(DEFAULT_DRAIN_TIMEOUT)
    expect(DEFAULT_DRAIN_TIMEOUT).toBe(30_000)
    expect(settings.closeGrace).toBe(DEFAULT_CLOSE_GRACE)
    expect(DEFAULT_CLOSE_GRACE).toBe(5_000)
    expect(() => resolveServeSettings({ drainTimeout: 0 })).toThrow(/drainTimeout must be a positive number of ms/)
    expect(() => resolveServeSettings({ closeGrace: -1 })).toThrow(/closeGrace must be a positive number of ms/)
  })
})
