import { once } from 'node:events'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { NodeOriginTunnel } from '../../src/node/origin/tunnel.ts'
import { Pipe, type PipeSummary } from '../../src/node/pipe.ts'
import { ignoreHandshakeError } from '../../src/node/pipe/handshake-guard.ts'
import { readInto } from '../../src/node/pipe/shared-read.ts'
import { connectedPair } from '../helpers/socket-pair.ts'
import { pattern } from '../helpers/wire.ts'

/** Everything a test opened, closed after it. */
const opened: { close(): void }[] = []
afterEach(() => {
  for (const thing of opened.splice(0)) thing.close()
})

/** Two connected TCP sockets on 127.0.0.1: the gateway's end (accepted half-open, as http.Server accepts) and the peer's. */
async function socketPair(): Promise<{ gatewaySide: net.Socket; peer: net.Socket }> {
  const { accepted, peer } = await connectedPair((closable) => opened.push(closable), { allowHalfOpen: true })
  return { gatewaySide: accepted, peer }
}

/** A pipe between two accepted sockets, each carrying the handshake's error guard, as the gateway hands them over. */
async function startPipe(): Promise<{ pipe: Pipe; client: net.Socket; origin: net.Socket; ended: Promise<PipeSummary> }> {
  const clientPair = await socketPair()
  const originPair = await socketPair()
  for (const socket of [clientPair.gatewaySide, originPair.gatewaySide]) socket.on('error', ignoreHandshakeError)
  let reportEnd!: (summary: PipeSummary) => void
  const ended = new Promise<PipeSummary>((resolve) => (reportEnd = resolve))
  const pipe = new Pipe(clientPair.gatewaySide, new NodeOriginTunnel(originPair.gatewaySide, Buffer.alloc(0)), Buffer.alloc(0), {
    idleTimeout: 60_000,
    lifetime: 60_000,
    halfCloseTimeout: 1_000,
    closeGrace: 1_000,
    onEnd: reportEnd,
  })
  return { pipe, client: clientPair.peer, origin: originPair.peer, ended }
}

describe('what an idle pipe holds', () => {
  it("keeps a single 'error' listener per socket, its own: the handshake's guard is taken off", async () => {
    const { pipe } = await startPipe()
    for (const socket of [pipe.client, pipe.origin]) {
      expect(socket.listeners('error')).toHaveLength(1)
      expect(socket.listeners('error')).not.toContain(ignoreHandshakeError)
    }
  })

  it('reads the client socket into the shared relay buffer, and still relays a 2 MiB upload and a 2 MiB download byte-exact', async () => {
    const { pipe, client, origin, ended } = await startPipe()
    // A socket that already reads into a buffer refuses a second one: the pipe has switched the client's reads.
    expect(readInto(pipe.client, Buffer.alloc(16), () => true)).toBe(false)
    const upload = pattern(2 * 1024 * 1024, 1)
    const download = pattern(2 * 1024 * 1024, 2)
    const atOrigin: Buffer[] = []
    const atClient: Buffer[] = []
    origin.on('data', (chunk: Buffer) => atOrigin.push(chunk))
    client.on('data', (chunk: Buffer) => atClient.push(chunk))
    const originDone = once(origin, 'end')
    const clientDone = once(client, 'end')
    client.end(upload)
    origin.end(download)
    await Promise.all([originDone, clientDone])
    expect(Buffer.concat(atOrigin).equals(upload)).toBe(true)
    expect(Buffer.concat(atClient).equals(download)).toBe(true)
    const summary = await ended
    expect(summary.bytesFromClient).toBe(upload.length)
    expect(summary.bytesFromOrigin).toBe(download.length)
  })
})
