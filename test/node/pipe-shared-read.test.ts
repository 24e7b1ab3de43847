import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import { readInto } from '../../src/node/pipe/shared-read.ts'
import { issue, makeCa } from '../helpers/certificates.ts'
import { connectedPair } from '../helpers/socket-pair.ts'
import { pattern } from '../helpers/wire.ts'

/** Everything a test opened, closed after it. */
const opened: { close(): void }[] = []
afterEach(() => {
  for (const thing of opened.splice(0)) thing.close()
})

/** A server on 127.0.0.1 and a client connected to it; resolves with both ends. */
async function connectedSockets(): Promise<{ accepted: net.Socket; client: net.Socket }> {
  const { accepted, peer } = await connectedPair((closable) => opened.push(closable))
  return { accepted, client: peer }
}

/** Reads `socket` through readInto() into `buffer`, copying each read out, until it ends. */
function collect(socket: net.Socket, buffer: Buffer, onRead: (reads: number) => boolean = () => true): { chunks: Buffer[]; ended: Promise<unknown>; reads: () => number } {
  const chunks: Buffer[] = []
  let reads = 0
  const switched = readInto(socket, buffer, function onSharedRead(this: net.Socket, length, bytes) {
    expect(this).toBe(socket)
    expect(bytes).toBe(buffer)
    chunks.push(Buffer.from(bytes.subarray(0, length)))
    return onRead(++reads)
  })
  expect(switched).toBe(true)
  const ended = once(socket, 'end')
  socket.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)))
  return { chunks, ended, reads: () => reads }
}

describe('readInto: an accepted socket reads into a shared buffer', () => {
  it('hands every byte of a 4 MiB stream to the callback in the given buffer, in order, then emits end', async () => {
    const { accepted, client } = await connectedSockets()
    const buffer = Buffer.alloc(64 * 1024)
    const { chunks, ended, reads } = collect(accepted, buffer)
    const sent = pattern(4 * 1024 * 1024)
    client.end(sent)
    await ended
    expect(reads()).toBeGreaterThan(0)
    expect(Buffer.concat(chunks).equals(sent)).toBe(true)
  })

  it('stops reading when the callback returns false and goes on, losing nothing, after resume()', async () => {
    const { accepted, client } = await connectedSockets()
    const { chunks, ended, reads } = collect(accepted, Buffer.alloc(16 * 1024), (count) => count !== 1)
    const sent = pattern(1024 * 1024)
    client.end(sent)
    const turn = (): Promise<unknown> => new Promise((resolve) => setImmediate(resolve))
    while (reads() === 0) await turn()
    // Paused after the first read: more turns of the event loop bring no second one.
    for (let i = 0; i < 20; i++) await turn()
    expect(reads()).toBe(1)
    accepted.resume()
    await ended
    expect(Buffer.concat(chunks).equals(sent)).toBe(true)
  })

  it("delivers what the socket had read before the switch as 'data' first, then the rest through the callback", async () => {
    const { accepted, client } = await connectedSockets()
    accepted.pause()
    const early = pattern(1000)
    client.write(early)
    // The bytes sit in the socket's own buffer before the switch.
    await new Promise<void>((resolve) => accepted.once('readable', resolve))
    expect(accepted.readableLength).toBe(early.length)
    // Neither paused nor flowing, as http.Server hands over an upgraded socket.
    ;(accepted as { readableFlowing: boolean | null }).readableFlowing = null
    const { chunks, ended, reads } = collect(accepted, Buffer.alloc(64 * 1024))
    const later = pattern(300_000).subarray(1000)
    client.end(later)
    await ended
    expect(reads()).toBeGreaterThan(0)
    expect(Buffer.concat(chunks).equals(Buffer.concat([early, later]))).toBe(true)
  })

  it('switches a socket an HTTP server upgraded, as the gateway gets it, on this Node', async () => {
    const server = http.createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    opened.push({ close: () => server.close() })
    const upgrading = once(server, 'upgrade') as Promise<[http.IncomingMessage, net.Socket, Buffer]>
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
    opened.push({ close: () => client.destroy() })
    const head = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
    client.write(`${head}early`)
    const [, socket, early] = await upgrading
    opened.push({ close: () => socket.destroy() })
    const { chunks, ended } = collect(socket, Buffer.alloc(64 * 1024))
    const sent = pattern(200_000)
    client.end(sent)
    await ended
    expect(Buffer.concat([early, ...chunks]).equals(Buffer.concat([Buffer.from('early'), sent]))).toBe(true)
  })

  it('switches a TLS socket a TLS server accepted, and hands it the decrypted bytes', async () => {
    const { cert, key } = issue(makeCa(), ['localhost'])
    const server = tls.createServer({ cert, key })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    opened.push({ close: () => server.close() })
    const accepting = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>
    const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false })
    opened.push({ close: () => client.destroy() })
    const [accepted] = await accepting
    opened.push({ close: () => accepted.destroy() })
    const { chunks, ended } = collect(accepted, Buffer.alloc(64 * 1024))
    const sent = pattern(500_000)
    client.end(sent)
    await ended
    expect(Buffer.concat(chunks).equals(sent)).toBe(true)
  })

  it('leaves a socket that already reads into a buffer of its own as it is, and says so', async () => {
    const { accepted } = await connectedSockets()
    expect(readInto(accepted, Buffer.alloc(1024), () => true)).toBe(true)
    expect(readInto(accepted, Buffer.alloc(1024), () => true)).toBe(false)
  })
})
