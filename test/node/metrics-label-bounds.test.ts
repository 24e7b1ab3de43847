import { once } from 'node:events'
import net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { samples } from '../helpers/admin.ts'
import { closedLines, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { plainRequest, pool, upgradeRequest } from '../helpers/hostile-client.ts'
import { handshakeRequest, rawExchange, readHead } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'
import { frame } from '../helpers/wire.ts'

// Labels a client can choose must not let it make series without end: each
// series is memory in the gateway and in every Prometheus that scrapes it.

const { gateway: gatewayServing, gatewayWith, wsOrigin, track } = useResources()

const CLOSE = 0x8
const MASK = Buffer.from([1, 2, 3, 4])

/** Opens a raw WebSocket connection to `path` and sends one masked close frame with `payload` (a code, maybe a reason). */
async function closeWith(gateway: TestGateway, path: string, payload: Buffer): Promise<void> {
  const socket = track(net.connect(gateway.port, '127.0.0.1'))
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(handshakeRequest(path))
  const { head } = await readHead(socket)
  expect(head).toMatch(/^HTTP\/1\.1 101 /)
  socket.resume()
  socket.write(frame(CLOSE, payload, { mask: MASK }))
  await once(socket, 'close')
}

/** A close frame's payload: the code, big-endian. */
function code(value: number): Buffer {
  const bytes = Buffer.alloc(2)
  bytes.writeUInt16BE(value)
  return bytes
}

describe('wsgate_closes_total', () => {
  it('counts a close code no endpoint may send as code="other", one series whatever the code; defined and application codes keep their own', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': origin.url }, { metrics: true })
    const invalid = [0, 999, 1016, 2999, 5000, 5001, 65_535]
    const kept = [1000, 1005, 1015, 3000, 4999]
    for (const value of invalid) await closeWith(gateway, '/echo', code(value))
    for (const value of kept) await closeWith(gateway, '/echo', code(value))
    // An empty close frame: no code, counted as 1005 (no status received).
    await closeWith(gateway, '/echo', Buffer.alloc(0))
    await waitFor(() => closedLines(gateway).length === invalid.length + kept.length + 1, 5_000, 'every connection-end line')

    const closes = samples(await gateway.metrics!.metrics(), 'wsgate_closes_total').filter((entry) => entry.labels.cause === 'client')
    const byCode = Object.fromEntries(closes.map((entry) => [entry.labels.code, entry.value]))
    expect(byCode).toEqual({ other: invalid.length, '1000': 1, '1005': 2, '1015': 1, '3000': 1, '4999': 1 })
    // The log line keeps the code as it came.
    expect(closedLines(gateway).map((line) => line.closeCode)).toContain(65_535)
  })
})

/** Methods the plain requests take in turn. */
const METHODS = ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS', 'PATCH']

/** Every `wsgate_*` sample of a scrape, as `name{labels}` (the series, not their values). */
function wsgateSeries(text: string): Set<string> {
  return new Set(text.split('\n').filter((line) => line.startsWith('wsgate_')).map((line) => line.slice(0, line.lastIndexOf(' '))))
}

describe('labels a client chooses', () => {
  it('paths, queries, methods, Host values and bad handshakes of every sort add no series once each kind has been seen', async () => {
    const origin = await wsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/room/:id', websocket(origin.url))
    app.get('/page/*', (c) => c.text('page'))
    const gateway = await gatewayServing(app, { metrics: true })
    /** One round of hostile requests, each detail varied by `n`. */
    const round = (n: number): string[] => [
      upgradeRequest(`/room/${n}?q=${n}`, { extra: ['Sec-WebSocket-Version: 8'] }),
      upgradeRequest(`/room/${n}%2F..%2F${n}`, { host: `h${n}.example` }),
      upgradeRequest(`/nowhere/${n}`),
      plainRequest(`/page/${n}?${'x'.repeat(n)}`, { method: METHODS[n % METHODS.length]!, connection: 'close' }),
      plainRequest(`/missing/${n}`, { connection: 'close', host: `[::${n.toString(16)}]` }),
      `GET /room/${n} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad${n}\r\n\r\n`,
    ]
    const send = (requests: string[]): Promise<unknown> => pool(requests, 8, (request) => rawExchange(gateway.port, request))
    await send([0, 1, 2].flatMap(round))
    const seen = wsgateSeries(await gateway.metrics!.metrics())
    await send(Array.from({ length: 40 }, (_, i) => round(i + 3)).flat())
    const after = wsgateSeries(await gateway.metrics!.metrics())
    expect([...after].filter((series) => !seen.has(series))).toEqual([])
    // Nothing a client sent shows as a label: only route patterns, statuses and codes.
    for (const series of after) expect(series).not.toMatch(/nowhere|missing|example|\?q=|%2F|X-Bad/)
  })
})
