/**
 * The demo echo origin (`startEchoOrigin()`, what `npm start` embeds in the
 * gateway's own process) holds a bounded amount for one client: it stops
 * reading a client that does not read its echoes, reads it again once they
 * are out, and closes a message above its `maxPayload` with 1009.
 */
import { once } from 'node:events'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { ECHO_HIGH_WATER, ECHO_MAX_PAYLOAD, startEchoOrigin, type EchoOrigin } from '../../src/node/echo-origin.ts'
import { frame, parseFrames, pattern, whenHead } from '../helpers/wire.ts'

const MESSAGE = 256 * 1024
/** 32 MiB: well past what the loopback socket buffers take before the echo's own buffer grows. */
const COUNT = 128

let echo: EchoOrigin | undefined
afterEach(async () => {
  vi.restoreAllMocks()
  await echo?.close()
  echo = undefined
})

/** Opens a raw WebSocket client to `port` and resolves once the 101 has come, with what followed it. */
async function rawClient(port: number): Promise<{ socket: net.Socket; rest: Buffer }> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  const head = new Promise<Buffer>((resolve) => whenHead(socket, (text, rest) => (text.startsWith('HTTP/1.1 101') ? resolve(rest) : socket.destroy())))
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  return { socket, rest: await head }
}

describe('startEchoOrigin()', () => {
  it('stops reading a client that does not read its echoes once ECHO_HIGH_WATER of them wait, and reads it again once they are out', async () => {
    echo = await startEchoOrigin()
    // The echo's server-side sockets are ws WebSockets: watch when it pauses one and how much it has queued then.
    const pause = WebSocket.prototype.pause
    const send = WebSocket.prototype.send
    let sends = 0
    let atPause: { backlog: number; sends: number } | undefined
    let settle: () => void = () => {}
    const settled = new Promise<void>((resolve) => (settle = resolve))
    vi.spyOn(WebSocket.prototype, 'pause').mockImplementation(function (this: WebSocket) {
      atPause ??= { backlog: this.bufferedAmount, sends }
      settle()
      return pause.call(this)
    })
    vi.spyOn(WebSocket.prototype, 'send').mockImplementation(function (this: WebSocket, ...args: Parameters<WebSocket['send']>) {
      send.apply(this, args)
      // Every message read and echoed without a pause: nothing held the echo back.
      if (++sends === COUNT) settle()
    })

    const { socket, rest } = await rawClient(echo.port)
    socket.pause()
    const mask = Buffer.from([1, 2, 3, 4])
    for (let index = 0; index < COUNT; index++) socket.write(frame(0x2, pattern(MESSAGE, index), { mask }))
    await settled
    expect(atPause, 'the echo paused its reading of the client').toBeDefined()
    expect(atPause!.sends).toBeLessThan(COUNT)
    expect(atPause!.backlog).toBeGreaterThanOrEqual(ECHO_HIGH_WATER)
    expect(atPause!.backlog).toBeLessThan(ECHO_HIGH_WATER + MESSAGE + 16)

    // The client reads now: every message comes back, in order, once.
    let bytes = rest
    const echoed: Buffer[] = []
    const all = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        const parsed = parseFrames(Buffer.concat([bytes, chunk]))
        bytes = Buffer.from(parsed.rest)
        echoed.push(...parsed.frames.map((received) => received.payload))
        if (echoed.length >= COUNT) resolve()
      })
    })
    socket.resume()
    await all
    expect(echoed.length).toBe(COUNT)
    echoed.forEach((payload, index) => expect(payload.equals(pattern(MESSAGE, index)), `message ${index}`).toBe(true))
    socket.destroy()
  })

  it('echoes a message of maxPayload and closes one byte more with 1009', async () => {
    echo = await startEchoOrigin()
    expect(ECHO_MAX_PAYLOAD).toBe(1024 * 1024)
    const client = new WebSocket(echo.url)
    await once(client, 'open')
    client.send(pattern(ECHO_MAX_PAYLOAD))
    const [echoed] = (await once(client, 'message')) as [Buffer]
    expect(echoed.equals(pattern(ECHO_MAX_PAYLOAD))).toBe(true)
    client.send(Buffer.alloc(ECHO_MAX_PAYLOAD + 1))
    const [code] = (await once(client, 'close')) as [number]
    expect(code).toBe(1009)
  })
})
