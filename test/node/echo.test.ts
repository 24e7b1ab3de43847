import { once } from 'node:events'
import { beforeEach, describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { expectNoOpenSockets, logsWith, type TestGateway } from '../helpers/gateway.ts'
import type { WsOrigin } from '../helpers/origins.ts'
import { openClient, useResources } from '../helpers/resources.ts'
import { pattern } from '../helpers/wire.ts'

// The gateway and origin of each test are stopped after it (the gateway is checked for leaks first).
const { gatewayWith, wsOrigin } = useResources()

/** Sends one message and resolves with the next message received. */
async function roundTrip(client: WebSocket, data: Buffer | string, binary: boolean): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = once(client, 'message') as Promise<[Buffer, boolean]>
  client.send(data, { binary })
  const [received, isBinary] = await reply
  return { data: received, isBinary }
}

describe('echo through the gateway', () => {
  let origin: WsOrigin
  let gateway: TestGateway

  beforeEach(async () => {
    origin = await wsOrigin(undefined, { maxPayload: 32 * 1024 * 1024 })
    gateway = await gatewayWith({ '/echo': origin.url })
  })

  // 0, 1, 125 (largest 7-bit length), 126 (first 16-bit), 65,535 (largest 16-bit), 65,536 (first 64-bit), 16 MiB.
  const sizes = [0, 1, 125, 126, 65_535, 65_536, 16 * 1024 * 1024]

  for (const size of sizes) {
    it(`relays a ${size}-byte binary message byte-exact both ways`, async () => {
      const client = await openClient(`${gateway.wsUrl}/echo`, { maxPayload: 32 * 1024 * 1024 })
      const sent = pattern(size)
      const { data, isBinary } = await roundTrip(client, sent, true)
      expect(isBinary).toBe(true)
      expect(data.length).toBe(size)
      expect(data.equals(sent)).toBe(true)
      client.close()
      await once(client, 'close')
    })

    it(`relays a ${size}-byte text message byte-exact both ways`, async () => {
      const client = await openClient(`${gateway.wsUrl}/echo`, { maxPayload: 32 * 1024 * 1024 })
      // Half the bytes are two-byte UTF-8 characters, so the check covers encoding too; exactly `size` bytes.
      const pairs = Math.floor(size / 4)
      const text = 'é'.repeat(pairs) + 'x'.repeat(size - 2 * pairs)
      const sent = Buffer.from(text)
      expect(sent.length).toBe(size)
      const { data, isBinary } = await roundTrip(client, text, false)
      expect(isBinary).toBe(false)
      expect(data.equals(sent)).toBe(true)
      client.close()
      await once(client, 'close')
    })
  }

  it('logs the accepted handshake and the connection end with route, origin, bytes and who closed', async () => {
    const client = await openClient(`${gateway.wsUrl}/echo`)
    await roundTrip(client, Buffer.alloc(10), true)
    client.close(1000)
    await once(client, 'close')
    await expectNoOpenSockets(gateway)
    const [accepted] = logsWith(gateway, 'handshake accepted')
    expect(accepted).toMatchObject({ route: '/echo', origin: origin.url, client: '127.0.0.1', status: 101 })
    const [closed] = logsWith(gateway, 'connection closed')
    expect(closed).toMatchObject({ route: '/echo', origin: origin.url, client: '127.0.0.1' })
    expect(['client', 'origin']).toContain(closed!.closedBy)
    // 10 payload bytes + 6 bytes of masked header, then a close frame with a 2-byte code: 16 + 8.
    expect(closed!.bytesFromClient).toBe(24)
    expect(closed!.bytesFromOrigin).toBe(12 + 4)
    expect(typeof closed!.durationMs).toBe('number')
  })
})
