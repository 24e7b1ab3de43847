import { once } from 'node:events'
import type net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { NodeOriginTunnel } from '../../src/node/origin/tunnel.ts'
import { Pipe, type PipeSummary } from '../../src/node/pipe.ts'
import { ignoreHandshakeError } from '../../src/node/pipe/handshake-guard.ts'
import { connectedPair } from '../helpers/socket-pair.ts'

/**
 * `jwtAuth({ closeOnTokenExpiry })`: the pipe closes the connection at the
 * token's `exp`, not up to a second after it (the origin trusts what the
 * gateway relays; a message relayed after `exp` rides on an expired token).
 * Timers and the clock are faked (the sockets are real), so "at `exp`" is
 * checked to the millisecond without measuring time.
 */

const opened: { close(): void }[] = []
afterEach(() => {
  vi.useRealTimers()
  for (const thing of opened.splice(0)) thing.close()
})

/** A pipe between two accepted sockets whose token expires at `expiresAt`; the peers are the client's and the origin's ends. */
async function pipeExpiringAt(expiresAt: number, lifetime: number): Promise<{ pipe: Pipe; origin: net.Socket; originSide: net.Socket; ended: Promise<PipeSummary> }> {
  const client = await connectedPair((closable) => opened.push(closable), { allowHalfOpen: true })
  const origin = await connectedPair((closable) => opened.push(closable), { allowHalfOpen: true })
  for (const socket of [client.accepted, origin.accepted]) socket.on('error', ignoreHandshakeError)
  let reportEnd!: (summary: PipeSummary) => void
  const ended = new Promise<PipeSummary>((resolve) => (reportEnd = resolve))
  const pipe = new Pipe(client.accepted, new NodeOriginTunnel(origin.accepted, Buffer.alloc(0)), Buffer.alloc(0), {
    idleTimeout: 600_000,
    lifetime,
    halfCloseTimeout: 1_000,
    closeGrace: 1_000,
    expiresAt,
    onEnd: reportEnd,
  })
  return { pipe, origin: origin.peer, originSide: origin.accepted, ended }
}

describe('the token-expiry close', () => {
  // A connection opened 0.3 s into a second, with a token whose exp is the next whole second (0.7 s away).
  const OPENED_AT = 1_800_000_000_300
  const EXP = 1_800_000_001_000

  it('comes at exp to the millisecond, not at the next whole second after the connection opened', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: OPENED_AT })
    const { originSide, origin } = await pipeExpiringAt(EXP, 4 * 3_600_000)
    const before = originSide.bytesWritten
    vi.advanceTimersByTime(EXP - OPENED_AT - 1)
    expect(originSide.bytesWritten, 'nothing written to the origin 1 ms before exp').toBe(before)
    vi.advanceTimersByTime(1)
    expect(originSide.bytesWritten, 'the close frame is on its way to the origin at exp').toBeGreaterThan(before)
    const [frame] = (await once(origin, 'data')) as [Buffer]
    // A masked close frame (the gateway is the origin's client), 1008 "token expired".
    expect(frame[0]).toBe(0x88)
    expect(frame[1]! & 0x80).toBe(0x80)
    const payload = Buffer.from(frame.subarray(6))
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ frame[2 + (i & 3)]!
    expect({ code: payload.readUInt16BE(0), reason: payload.toString('utf8', 2) }).toEqual({ code: 1008, reason: 'token expired' })
  })

  it('comes at exp when exp is minutes away too', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: OPENED_AT })
    const exp = EXP + 5 * 60_000
    const { originSide } = await pipeExpiringAt(exp, 4 * 3_600_000)
    const before = originSide.bytesWritten
    vi.advanceTimersByTime(exp - OPENED_AT - 1)
    expect(originSide.bytesWritten).toBe(before)
    vi.advanceTimersByTime(1)
    expect(originSide.bytesWritten).toBeGreaterThan(before)
  })

  it('leaves the lifetime to close a connection whose token outlives it, with its own cause', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: OPENED_AT })
    const { pipe, ended } = await pipeExpiringAt(EXP + 60_000, 30_000)
    vi.advanceTimersByTime(30_000)
    vi.useRealTimers()
    pipe.client.destroy()
    pipe.origin.destroy()
    expect(await ended).toMatchObject({ closedBy: 'gateway', closeCause: 'lifetime', closeCode: 1001 })
  })
})
