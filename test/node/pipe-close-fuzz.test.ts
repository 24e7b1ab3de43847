import { once } from 'node:events'
import type net from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { NodeOriginTunnel } from '../../src/node/origin/tunnel.ts'
import { Pipe, type GatewayCloseCause, type PipeSummary } from '../../src/node/pipe.ts'
import { ignoreHandshakeError } from '../../src/node/pipe/handshake-guard.ts'
import { mulberry32 } from '../helpers/random.ts'
import { connectedPair } from '../helpers/socket-pair.ts'
import { frame, parseFrames, pattern } from '../helpers/wire.ts'

/**
 * The gateway's close, at a random moment, on random frame streams both
 * ways sent in random pieces (seeded): whatever the moment, each peer gets
 * whole frames, in order, then exactly one close frame of the gateway's
 * (masked to the origin, unmasked to the client), then nothing; the origin,
 * told first, has every frame it sent before its close answer relayed to
 * the client; and the pipe ends with both sockets closed.
 */

const opened: { close(): void }[] = []
afterEach(() => {
  for (const thing of opened.splice(0)) thing.close()
})

const CLOSE = 0x8

/** A random stream of data frames and pings (masked for a client), a 64 KiB-plus frame now and then. */
function randomFrames(random: () => number, masked: boolean, seed: number): Buffer[] {
  const int = (below: number): number => Math.floor(random() * below)
  const frames: Buffer[] = []
  let inMessage = false
  for (let i = 0, count = 1 + int(10); i < count; i++) {
    const mask = masked ? Buffer.from([int(256), int(256), int(256), int(256)]) : undefined
    if (random() < 0.15) {
      frames.push(frame(0x9, pattern(int(126), seed + i), mask ? { mask } : {}))
      continue
    }
    const lengths = [0, int(126), 126 + int(3000), 65_536 + int(100_000)]
    const length = lengths[random() < 0.1 ? 3 : int(3)]!
    const fin = random() < 0.7
    frames.push(frame(inMessage ? 0x0 : 0x2, pattern(length, seed + i), { fin, ...(mask ? { mask } : {}) }))
    inMessage = !fin
  }
  return frames
}

/** `bytes` in random pieces of 1 byte to 4 KiB. */
function pieces(random: () => number, bytes: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(random() * (random() < 0.3 ? 16 : 4096))
    out.push(bytes.subarray(at, at + size))
    at += size
  }
  return out
}

/**
 * A peer: sends its pieces one per turn of the event loop; once the
 * gateway's close frame has come, it sends the rest of what it had, then
 * its own close frame, and ends its side when the gateway ends its own.
 */
function peer(socket: net.Socket, stream: Buffer[], answer: Buffer): { received: () => Buffer; sent: () => number; run: () => Promise<void> } {
  const chunks: Buffer[] = []
  let closeCame = false
  let sent = 0
  socket.on('error', () => {})
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    closeCame ||= parseFrames(Buffer.concat(chunks)).frames.some((f) => f.opcode === CLOSE)
  })
  socket.on('end', () => socket.end())
  return {
    received: () => Buffer.concat(chunks),
    sent: () => sent,
    async run() {
      for (const piece of stream) {
        if (socket.destroyed || socket.writableEnded) return
        socket.write(piece)
        sent++
        await nextTurn()
      }
      while (!closeCame && !socket.destroyed) await once(socket, 'data')
      if (!socket.destroyed && !socket.writableEnded) socket.write(answer)
    },
  }
}

const CAUSES: readonly GatewayCloseCause[] = ['drain', 'idle', 'lifetime', 'operator']

describe('a gateway close at a random moment of random traffic (seeded)', () => {
  it('gives each peer whole frames, then the one close frame of the gateway, and ends the pipe', async () => {
    const random = mulberry32(0xc105e)
    const clientKey = Buffer.from([9, 8, 7, 6])
    for (let round = 0; round < 40; round++) {
      const clientPair = await connectedPair((closable) => opened.push(closable), { allowHalfOpen: true })
      const originPair = await connectedPair((closable) => opened.push(closable), { allowHalfOpen: true })
      for (const socket of [clientPair.accepted, originPair.accepted]) socket.on('error', ignoreHandshakeError)
      let reportEnd!: (summary: PipeSummary) => void
      const ended = new Promise<PipeSummary>((resolve) => (reportEnd = resolve))
      const pipe = new Pipe(clientPair.accepted, new NodeOriginTunnel(originPair.accepted, Buffer.alloc(0)), Buffer.alloc(0), {
        idleTimeout: 600_000,
        lifetime: 600_000,
        halfCloseTimeout: 60_000,
        // Long enough that the origin's answer, not the grace, releases the client's close.
        closeGrace: 60_000,
        onEnd: reportEnd,
      })
      const fromClient = randomFrames(random, true, round)
      const fromOrigin = randomFrames(random, false, round + 1000)
      const clientPieces = pieces(random, Buffer.concat(fromClient))
      const originPieces = pieces(random, Buffer.concat(fromOrigin))
      const client = peer(clientPair.peer, clientPieces, frame(CLOSE, Buffer.from([0x03, 0xe9]), { mask: clientKey }))
      const origin = peer(originPair.peer, originPieces, frame(CLOSE, Buffer.from([0x03, 0xe9])))
      const cause = CAUSES[round % CAUSES.length]!
      const closeAfter = Math.floor(random() * Math.max(clientPieces.length, originPieces.length))
      const closing = (async () => {
        for (let turn = 0; turn < closeAfter; turn++) await nextTurn()
        pipe.close(cause)
      })()
      await Promise.all([client.run(), origin.run(), closing])
      const summary = await ended
      const context = `round ${round}, ${cause} after ${closeAfter} turns`

      expect(summary, context).toMatchObject({ closedBy: 'gateway', closeCause: cause })
      // To the origin: whole client frames, in order, then the gateway's masked close, and nothing after it.
      const toOrigin = parseFrames(origin.received())
      expect(toOrigin.rest.length, context).toBe(0)
      const originClose = toOrigin.frames.at(-1)!
      expect(originClose.opcode, context).toBe(CLOSE)
      expect(originClose.masked, context).toBe(true)
      expect(originClose.payload.readUInt16BE(0), context).toBe(summary.closeCode)
      const relayedUp = toOrigin.frames.slice(0, -1)
      expect(relayedUp.every((f) => f.opcode !== CLOSE), context).toBe(true)
      expect(relayedUp.map((f) => f.raw.toString('hex')), context).toEqual(fromClient.slice(0, relayedUp.length).map((f) => f.toString('hex')))
      // To the client: every origin frame (the origin sent them all before its close answer), then the gateway's unmasked close.
      const toClient = parseFrames(client.received())
      expect(toClient.rest.length, context).toBe(0)
      const clientClose = toClient.frames.at(-1)!
      expect(clientClose.opcode, context).toBe(CLOSE)
      expect(clientClose.masked, context).toBe(false)
      expect(clientClose.payload.equals(originClose.payload), context).toBe(true)
      expect(toClient.frames.slice(0, -1).map((f) => f.raw.toString('hex')), context).toEqual(fromOrigin.map((f) => f.toString('hex')))
      for (const thing of opened.splice(0)) thing.close()
    }
  }, 120_000)
})
