import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { expectNoOpenSockets, logsWith } from '../helpers/gateway.ts'
import { useResources } from '../helpers/resources.ts'

const CONNECTIONS = 1_000
const MESSAGES = 100
const MESSAGE_SIZE = 64
/** Connections opened at once; keeps the accept backlog and handshake burst modest. */
const OPEN_BATCH = 100

/**
 * Message `m` of connection `c`: 64 bytes that no other message shares.
 * Even messages are binary (index stamps plus a pattern), odd ones are text
 * (the hex of 32 such bytes), so both opcodes are exercised.
 */
function message(c: number, m: number): { data: Buffer; binary: boolean } {
  const binary = m % 2 === 0
  const raw = Buffer.alloc(binary ? MESSAGE_SIZE : MESSAGE_SIZE / 2)
  raw.writeUInt32BE(c, 0)
  raw.writeUInt32BE(m, 4)
  for (let i = 8; i < raw.length; i++) raw[i] = (c * 131 + m * 7 + i * 13) & 0xff
  return { data: binary ? raw : Buffer.from(raw.toString('hex')), binary }
}

/** Rejects with `what` if `promise` has not settled within `ms`, so a lost message fails the test instead of hanging it. */
async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms: ${what()}`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

describe('many concurrent connections', () => {
  // Clients are terminated, then the gateway is checked for leaks and closed with the origin, after the test.
  const { gatewayWith, wsOrigin, track, clients } = useResources()

  it(`relays ${MESSAGES} distinct messages each way on ${CONNECTIONS} concurrent connections byte-exact, losing none`, async () => {
    const origin = await wsOrigin()
    // Every connection comes from 127.0.0.1: that one client may hold them all and open a whole batch at once.
    const gateway = await gatewayWith({ '/echo': origin.url }, { maxConnectionsPerClient: CONNECTIONS, maxHandshakesPerClient: OPEN_BATCH })
    const started = performance.now()

    // Open every connection (in batches) before any message is sent, so all are concurrent.
    for (let first = 0; first < CONNECTIONS; first += OPEN_BATCH) {
      const batch = Array.from({ length: Math.min(OPEN_BATCH, CONNECTIONS - first) }, () => {
        const client = track(new WebSocket(`${gateway.wsUrl}/echo`, { perMessageDeflate: false }))
        return once(client, 'open')
      })
      await within(Promise.all(batch), 20_000, () => `opening connections ${first}…${first + OPEN_BATCH - 1}`)
    }
    const opened = performance.now()
    expect(gateway.connections).toBe(CONNECTIONS)
    expect(origin.server.clients.size).toBe(CONNECTIONS)

    // Each client sends all its messages at once and checks every echo against what it sent, in order.
    const received = new Array<number>(CONNECTIONS).fill(0)
    const mismatches: string[] = []
    const exchanges = clients.map(
      (client, c) =>
        new Promise<void>((resolve) => {
          client.on('message', (data: Buffer, isBinary: boolean) => {
            const m = received[c]!++
            const expected = message(c, m)
            if (isBinary !== expected.binary || !data.equals(expected.data)) {
              mismatches.push(`connection ${c} message ${m}: got ${isBinary ? 'binary' : 'text'} ${data.toString('hex')}`)
            }
            if (received[c] === MESSAGES) resolve()
          })
          for (let m = 0; m < MESSAGES; m++) {
            const { data, binary } = message(c, m)
            client.send(data, { binary })
          }
        }),
    )
    await within(Promise.all(exchanges), 30_000, () => {
      const total = received.reduce((sum, n) => sum + n, 0)
      return `${total} of ${CONNECTIONS * MESSAGES} echoes arrived; ${received.filter((n) => n < MESSAGES).length} connections incomplete`
    })
    const exchanged = performance.now()
    expect(mismatches.slice(0, 5)).toEqual([])
    expect(received.every((n) => n === MESSAGES)).toBe(true)

    // Close all; each pipe must finish and account for every byte.
    const closes = clients.map((client) => once(client, 'close'))
    for (const client of clients) client.close(1000)
    await within(Promise.all(closes), 20_000, () => `${clients.filter((client) => client.readyState !== WebSocket.CLOSED).length} clients still open`)
    await expectNoOpenSockets(gateway)
    const finished = performance.now()

    const ends = logsWith(gateway, 'connection closed')
    expect(ends).toHaveLength(CONNECTIONS)
    // Per connection: 100 masked client frames of 2 + 4 + 64 bytes, then a masked close frame with a code (8 bytes);
    // 100 origin frames of 2 + 64 bytes, then the close echo (4 bytes).
    const fromClient = MESSAGES * (2 + 4 + MESSAGE_SIZE) + 8
    const fromOrigin = MESSAGES * (2 + MESSAGE_SIZE) + 4
    expect(ends.filter((line) => line.bytesFromClient !== fromClient || line.bytesFromOrigin !== fromOrigin)).toEqual([])

    console.info(
      `scale: opened ${CONNECTIONS} in ${Math.round(opened - started)} ms, ` +
        `exchanged ${2 * CONNECTIONS * MESSAGES} messages in ${Math.round(exchanged - opened)} ms, ` +
        `closed in ${Math.round(finished - exchanged)} ms`,
    )
  })
})
