import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { expectNoOpenSockets, logsWith, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { echo, switchingProtocols, type RawOriginConnection, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, readHead } from '../helpers/raw-client.ts'
import { closeClient, openClient, useResources } from '../helpers/resources.ts'
import { frame, pattern, splitAt } from '../helpers/wire.ts'

// The gateway promises a raw byte pipe after the handshake: whatever
// WebSocket protocol features client and origin agree on (fragmentation,
// control frames, close codes, subprotocols, extensions) must work end to end
// without the gateway understanding them. These tests run real `ws` peers on
// both sides, and raw TCP peers where the exact bytes on the wire matter.

// Gateways and origins are stopped after each test (gateways are checked for leaks first).
const { gatewayWith, wsOrigin, rawOrigin } = useResources()

/** Starts a gateway whose `/ws` route proxies to `originUrl`. */
function gatewayTo(originUrl: string): Promise<TestGateway> {
  return gatewayWith({ '/ws': originUrl })
}

/** The origin's side of its `index`-th connection. */
function originSide(origin: WsOrigin, index = 0): WebSocket {
  const socket = origin.sockets[index]
  if (!socket) throw new Error(`origin has no connection #${index}`)
  return socket
}

/** A ws client connected through a fresh gateway to a silent ws origin, and the origin's side of it. */
async function silentPair(): Promise<{ client: WebSocket; originEnd: WebSocket }> {
  const origin = await wsOrigin(() => {})
  const { wsUrl } = await gatewayTo(origin.url)
  const client = await openClient(`${wsUrl}/ws`)
  return { client, originEnd: originSide(origin) }
}

/** Writes each piece separately, waiting until it is handed to the kernel, so frames straddle TCP segments. */
async function writePieces(socket: net.Socket, pieces: Buffer[]): Promise<void> {
  for (const piece of pieces) {
    await new Promise<void>((resolve, reject) => socket.write(piece, (error) => (error ? reject(error) : resolve())))
  }
}

/**
 * Resolves with the first `length` bytes read from `socket` after this call
 * (more bytes are an error). Fails after `timeoutMs` with the count so far, so
 * lost bytes fail the test instead of hanging it.
 */
function collect(socket: net.Socket, length: number, initial: Buffer = Buffer.alloc(0), timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [initial]
    let received = initial.length
    const timer = setTimeout(() => {
      socket.off('data', onData)
      socket.off('close', onClose)
      reject(new Error(`received ${received} of ${length} bytes within ${timeoutMs} ms`))
    }, timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      const all = Buffer.concat(chunks)
      if (all.length > length) reject(new Error(`expected ${length} bytes, got ${all.length}`))
      else resolve(all)
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      received += chunk.length
      if (received >= length) done()
    }
    const onClose = (): void => {
      clearTimeout(timer)
      reject(new Error(`socket closed after ${received} of ${length} bytes`))
    }
    socket.on('data', onData)
    socket.once('close', onClose)
    if (received >= length) done()
  })
}

/** A raw TCP client that sends `request` (a handshake, maybe with frames after it) and reads the 101 head. */
async function rawUpgrade(port: number, request: Buffer): Promise<{ socket: net.Socket; head: string; rest: Buffer }> {
  const socket = net.connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await once(socket, 'connect')
  socket.write(request)
  return { socket, ...(await readHead(socket)) }
}

/** Masks of client frames; any 4 bytes will do, distinct so a mixed-up frame shows. */
const MASKS = [Buffer.from([0x12, 0x34, 0x56, 0x78]), Buffer.from([0xa5, 0x0f, 0xf0, 0x5a]), Buffer.from([1, 2, 3, 4])]

/**
 * A client's byte stream: a fragmented text message with a ping between its
 * fragments (RFC 6455 §5.4 allows control frames there), an empty
 * continuation, and a binary message whose fragments use the 7-, 16- and
 * 64-bit length forms.
 */
function clientWire(): Buffer {
  const text = Buffer.from('fragmented grüße 😀 through the gateway')
  return Buffer.concat([
    frame(0x1, text.subarray(0, 13), { fin: false, mask: MASKS[0]! }),
    frame(0x9, Buffer.from('ping between fragments'), { mask: MASKS[1]! }),
    frame(0x0, Buffer.alloc(0), { fin: false, mask: MASKS[2]! }),
    frame(0x0, text.subarray(13), { mask: MASKS[0]! }),
    frame(0x2, pattern(100, 1), { fin: false, mask: MASKS[1]! }),
    frame(0x0, pattern(300, 2), { fin: false, mask: MASKS[2]! }),
    frame(0x0, pattern(70_000, 3), { mask: MASKS[0]! }),
  ])
}

/** An origin's byte stream: unmasked frames, fragmented, with a ping inside a fragmented message. */
function originWire(): Buffer {
  return Buffer.concat([
    frame(0x2, pattern(5, 4), { fin: false }),
    frame(0x9, Buffer.from('origin ping')),
    frame(0x0, pattern(65_536, 5)),
    frame(0x1, Buffer.from('one'), { fin: false }),
    frame(0x0, Buffer.from(' two'), { fin: false }),
    frame(0x0, Buffer.from(' three')),
  ])
}

describe('fragmented messages', () => {
  /**
   * Sends `message` from a ws client as a text or binary message fragmented
   * at `offsets`, and checks that the origin received it, and the client its
   * echo, as one message of that type, complete and byte-exact.
   */
  async function expectFragmentedRoundTrip(message: Buffer, offsets: number[], binary: boolean): Promise<void> {
    const received: { data: Buffer; isBinary: boolean }[] = []
    const origin = await wsOrigin((socket) => {
      socket.on('message', (data, isBinary) => {
        received.push({ data: data as Buffer, isBinary })
        socket.send(data, { binary: isBinary })
      })
    })
    const { wsUrl } = await gatewayTo(origin.url)
    const client = await openClient(`${wsUrl}/ws`)
    const fragments = splitAt(message, offsets)
    const reply = once(client, 'message') as Promise<[Buffer, boolean]>
    fragments.forEach((fragment, i) => client.send(fragment, { binary, fin: i === fragments.length - 1 }))
    const [echoed, isBinary] = await reply

    expect(received).toHaveLength(1)
    expect(received[0]!.isBinary).toBe(binary)
    expect(received[0]!.data.equals(message)).toBe(true)
    expect(isBinary).toBe(binary)
    expect(echoed.equals(message)).toBe(true)
    await closeClient(client)
  }

  it('delivers a fragmented text message from the client to the origin and back complete and byte-exact', async () => {
    const text = Buffer.from('Grüße aus dem Gateway — 😀 — fragments split inside characters')
    // Offsets 3 and 19 fall inside the two-byte 'ü' and the four-byte emoji; the empty fragment is legal too.
    await expectFragmentedRoundTrip(text, [3, 19, 19, 40], false)
  })

  it('delivers a fragmented binary message from the client to the origin and back complete and byte-exact', async () => {
    await expectFragmentedRoundTrip(pattern(300_000, 7), [1, 126, 65_662, 65_662, 200_000], true)
  })

  it('delivers fragmented text and binary messages from the origin to the client complete and byte-exact', async () => {
    const { client, originEnd: side } = await silentPair()
    const messages: [Buffer, boolean][] = []
    client.on('message', (data, isBinary) => messages.push([data as Buffer, isBinary]))

    const text = Buffer.from('origin → client, in pieces: ½ ⅓ ¼')
    const binary = pattern(100_000, 9)
    splitAt(text, [1, 17, 20]).forEach((piece, i, all) => side.send(piece, { binary: false, fin: i === all.length - 1 }))
    splitAt(binary, [50_000, 50_000, 99_999]).forEach((piece, i, all) => side.send(piece, { binary: true, fin: i === all.length - 1 }))
    await waitFor(() => messages.length >= 2, 5_000, 'two messages at the client')

    expect(messages).toHaveLength(2)
    expect(messages[0]![1]).toBe(false)
    expect(messages[0]![0].equals(text)).toBe(true)
    expect(messages[1]![1]).toBe(true)
    expect(messages[1]![0].equals(binary)).toBe(true)
    await closeClient(client)
  })
})

describe('raw frames', () => {
  it('relays the exact frame bytes both ways without re-framing, even when frames straddle TCP segments', async () => {
    let answered!: (connection: RawOriginConnection) => void
    const connected = new Promise<RawOriginConnection>((resolve) => (answered = resolve))
    const origin = await rawOrigin((connection) => {
      connection.socket.setNoDelay(true)
      connection.socket.write(switchingProtocols(connection))
      connection.socket.pause()
      answered(connection)
    })
    const { port } = await gatewayTo(origin.url)

    const { socket: client, head, rest } = await rawUpgrade(port, Buffer.from(handshakeRequest('/ws')))
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    expect(rest.length).toBe(0)
    const { socket: originSocket } = await connected

    // Client → origin, split inside headers, masks and payloads.
    const upstream = clientWire()
    const atOrigin = collect(originSocket, upstream.length)
    originSocket.resume()
    await writePieces(client, splitAt(upstream, [1, 2, 5, 9, 30, 31, 100, 1_000, 40_000]))
    expect((await atOrigin).equals(upstream)).toBe(true)

    // Origin → client.
    const downstream = originWire()
    const atClient = collect(client, downstream.length)
    client.resume()
    await writePieces(originSocket, splitAt(downstream, [1, 3, 8, 20, 21, 65_000]))
    expect((await atClient).equals(downstream)).toBe(true)

    client.destroy()
    await once(client, 'close')
  })

  it('relays frames that arrive in the same packet as the handshake on either side, in order', async () => {
    const upstream = clientWire()
    const downstream = originWire()
    let atOrigin!: Promise<Buffer>
    const origin = await rawOrigin((connection) => {
      // The 101 and the first frames leave in one write: the gateway receives them as the upgrade's head.
      connection.socket.write(Buffer.concat([Buffer.from(switchingProtocols(connection), 'latin1'), downstream]))
      atOrigin = collect(connection.socket, upstream.length)
    })
    const { port } = await gatewayTo(origin.url)

    // The handshake and every frame leave in one write too.
    const { socket: client, head, rest } = await rawUpgrade(port, Buffer.concat([Buffer.from(handshakeRequest('/ws'), 'latin1'), upstream]))
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    const atClient = collect(client, downstream.length, rest)
    client.resume()

    expect((await atClient).equals(downstream)).toBe(true)
    await waitFor(() => atOrigin !== undefined, 5_000, 'the origin to answer')
    expect((await atOrigin).equals(upstream)).toBe(true)

    client.destroy()
    await once(client, 'close')
  })
})

describe('ping and pong', () => {
  /** `from` pings with `payload`: the other peer sees the ping, and its automatic pong comes back, with that payload. */
  async function expectPingPong(from: 'client' | 'origin', payload: Buffer): Promise<void> {
    const { client, originEnd } = await silentPair()
    const [pinger, peer] = from === 'client' ? [client, originEnd] : [originEnd, client]

    const peerSaw = once(peer, 'ping') as Promise<[Buffer]>
    const pong = once(pinger, 'pong') as Promise<[Buffer]>
    pinger.ping(payload)
    const [[pinged], [ponged]] = await Promise.all([peerSaw, pong])

    expect(pinged.equals(payload)).toBe(true)
    expect(ponged.equals(payload)).toBe(true)
    await closeClient(client)
  }

  it("answers a client's ping with the origin's pong carrying the same payload", async () => {
    await expectPingPong('client', Buffer.from('client ping ✓ 0123456789'))
  })

  it("delivers an origin's ping to the client and the client's automatic pong back to the origin", async () => {
    await expectPingPong('origin', pattern(125, 11)) // the largest control-frame payload
  })
})

describe('close codes and reasons', () => {
  const cases: [code: number, reason: string][] = [
    [4001, 'client reason'],
    [4002, 'origin reason'],
    [1000, ''],
    [1001, ''],
    [4999, 'ünïcödé reason of some length: '.padEnd(100, '.')],
  ]

  /** `from` closes with `code` and `reason`: the other peer gets both unchanged, and the code comes back to `from`. */
  async function expectCloseCarried(from: 'client' | 'origin', code: number, reason: string): Promise<void> {
    const { client, originEnd } = await silentPair()
    const [closer, peer] = from === 'client' ? [client, originEnd] : [originEnd, client]
    const atPeer = once(peer, 'close') as Promise<[number, Buffer]>
    const atCloser = once(closer, 'close') as Promise<[number, Buffer]>
    closer.close(code, reason)

    const [peerCode, peerReason] = await atPeer
    expect(peerCode).toBe(code)
    expect(peerReason.toString()).toBe(reason)
    // ws echoes the code back, which travels the other way.
    const [closerCode] = await atCloser
    expect(closerCode).toBe(code)
  }

  for (const [code, reason] of cases) {
    it(`carries close code ${code} with reason ${JSON.stringify(reason.slice(0, 20))} from the client to the origin unchanged`, async () => {
      await expectCloseCarried('client', code, reason)
    })

    it(`carries close code ${code} with reason ${JSON.stringify(reason.slice(0, 20))} from the origin to the client unchanged`, async () => {
      await expectCloseCarried('origin', code, reason)
    })
  }

  it('delivers a close frame without a status code as 1005 (no status) at the origin', async () => {
    const { client, originEnd } = await silentPair()
    const atOrigin = once(originEnd, 'close') as Promise<[number, Buffer]>
    client.close()
    const [code, reason] = await atOrigin
    expect(code).toBe(1005)
    expect(reason.length).toBe(0)
    await once(client, 'close')
  })
})

describe('subprotocol negotiation', () => {
  it("offers the client's subprotocols to the origin and gives the client the one the origin picked", async () => {
    const offered: string[][] = []
    const origin = await wsOrigin(echo, {
      handleProtocols: (protocols) => {
        offered.push([...protocols])
        return protocols.has('superchat') ? 'superchat' : false
      },
    })
    const { wsUrl } = await gatewayTo(origin.url)
    const client = await openClient(`${wsUrl}/ws`, { protocols: ['chat', 'superchat'] })

    expect(offered).toEqual([['chat', 'superchat']])
    expect(client.protocol).toBe('superchat')
    expect(originSide(origin).protocol).toBe('superchat')
    const reply = once(client, 'message') as Promise<[Buffer, boolean]>
    client.send('hello in superchat')
    expect((await reply)[0].toString()).toBe('hello in superchat')
    await closeClient(client)
  })

  it('opens without a subprotocol when the client offers none', async () => {
    const origin = await wsOrigin(echo, { handleProtocols: () => 'unsolicited' })
    const { wsUrl } = await gatewayTo(origin.url)
    const client = await openClient(`${wsUrl}/ws`)
    expect(client.protocol).toBe('')
    expect(originSide(origin).protocol).toBe('')
    await closeClient(client)
  })
})

describe('permessage-deflate', () => {
  /** A text message that deflates to a small fraction of its size. */
  const compressible = 'wsgate passes compressed frames through untouched. '.repeat(2_000)
  /** Binary that deflates well too, yet differs at every position. */
  const binary = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i % 251) ^ ((i >> 12) & 0x0f)))

  /** The origin's view of each handshake: the extension offer it received. */
  async function deflateOrigin(perMessageDeflate: boolean): Promise<{ origin: WsOrigin; offers: (string | undefined)[] }> {
    const origin = await wsOrigin(echo, { perMessageDeflate })
    const offers: (string | undefined)[] = []
    origin.server.on('connection', (_socket: WebSocket, request: IncomingMessage) => offers.push(request.headers['sec-websocket-extensions']))
    return { origin, offers }
  }

  /** Echoes `data` and returns what came back. */
  async function roundTrip(client: WebSocket, data: string | Buffer): Promise<[Buffer, boolean]> {
    const reply = once(client, 'message') as Promise<[Buffer, boolean]>
    client.send(data, { binary: typeof data !== 'string' })
    return reply
  }

  it('negotiates permessage-deflate end to end and relays compressed messages byte-exact', async () => {
    const { origin, offers } = await deflateOrigin(true)
    const gw = await gatewayTo(origin.url)
    const client = await openClient(`${gw.wsUrl}/ws`, { perMessageDeflate: true })

    expect(offers).toHaveLength(1)
    expect(offers[0]).toContain('permessage-deflate')
    expect(client.extensions).toBe('permessage-deflate')
    expect(originSide(origin).extensions).toBe('permessage-deflate')
    const [text, textIsBinary] = await roundTrip(client, compressible)
    expect(textIsBinary).toBe(false)
    expect(text.toString()).toBe(compressible)
    const [bytes, bytesIsBinary] = await roundTrip(client, binary)
    expect(bytesIsBinary).toBe(true)
    expect(bytes.equals(binary)).toBe(true)

    await closeClient(client)
    await expectNoOpenSockets(gw)
    // The pipe carried the compressed frames: far fewer bytes than the payloads.
    const payload = Buffer.byteLength(compressible) + binary.length
    const [closed] = logsWith(gw, 'connection closed')
    expect(closed!.bytesFromClient).toBeLessThan(payload / 4)
    expect(closed!.bytesFromOrigin).toBeLessThan(payload / 4)
  })

  it('opens without the extension when the origin declines permessage-deflate, and relays uncompressed', async () => {
    const { origin, offers } = await deflateOrigin(false)
    const gw = await gatewayTo(origin.url)
    const client = await openClient(`${gw.wsUrl}/ws`, { perMessageDeflate: true })

    // The client's offer reached the origin; the origin's refusal reached the client.
    expect(offers[0]).toContain('permessage-deflate')
    expect(client.extensions).toBe('')
    expect(originSide(origin).extensions).toBe('')
    const [text] = await roundTrip(client, compressible)
    expect(text.toString()).toBe(compressible)
    const [bytes] = await roundTrip(client, binary)
    expect(bytes.equals(binary)).toBe(true)

    await closeClient(client)
    await expectNoOpenSockets(gw)
    const payload = Buffer.byteLength(compressible) + binary.length
    const [closed] = logsWith(gw, 'connection closed')
    expect(closed!.bytesFromClient).toBeGreaterThan(payload)
    expect(closed!.bytesFromOrigin).toBeGreaterThan(payload)
  })
})
