/**
 * The memory probes' WebSocket client on raw sockets: the benchmark's
 * handshake request and masked frames (bench/wire.ts), one verified echo per
 * connection, then the socket is held or streamed on.
 */
import net from 'node:net'
import { CLOSE_FRAME, handshakeRequest, headEnd, maskedFrame } from '../wire.ts'

/** Payload of the frame each fresh connection is verified with. */
const PROBE = maskedFrame(16)

/** How long one step (a 101, an echo, a close) may take before the probe fails (ms). */
const STEP_TIMEOUT = 30_000

/** Connects, upgrades, checks one echoed frame; resolves with the paused socket. */
export function openVerified(port: number, path: string, headers: Record<string, string>): Promise<net.Socket> {
  const request = handshakeRequest(path, port, headers)
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
    let got: Buffer = Buffer.alloc(0)
    let upgraded = false
    const timer = setTimeout(() => fail('no 101 and echo in time'), STEP_TIMEOUT)
    function fail(reason: string): void {
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(reason))
    }
    socket.once('connect', () => socket.write(request))
    socket.on('error', (error: NodeJS.ErrnoException) => fail(`connection failed: ${error.code ?? error.message}`))
    socket.on('close', () => fail('closed early'))
    socket.on('data', (chunk: Buffer) => {
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk])
      if (!upgraded) {
        const end = headEnd(got)
        if (end < 0) return
        if (!got.toString('latin1', 0, 13).startsWith('HTTP/1.1 101 ')) return fail(`not upgraded: ${got.toString('latin1', 0, 40)}`)
        upgraded = true
        got = got.subarray(end)
        socket.write(PROBE)
      }
      if (got.length < PROBE.length) return
      if (got.length > PROBE.length || !got.equals(PROBE)) return fail('echo differs')
      clearTimeout(timer)
      socket.removeAllListeners('data')
      socket.removeAllListeners('close')
      socket.removeAllListeners('error')
      socket.on('error', () => {})
      socket.pause()
      resolve(socket)
    })
  })
}

/** Opens `count` verified connections, `concurrency` handshakes at a time. */
export async function openMany(count: number, concurrency: number, port: number, path: string, headers: Record<string, string>): Promise<net.Socket[]> {
  const sockets: net.Socket[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++
      sockets.push(await openVerified(port, path, headers))
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return sockets
}

/** Closes like a WebSocket client (a close frame; the origin closes first), or destroys after a step's timeout. */
export function closeConnection(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) return resolve()
    const timer = setTimeout(() => socket.destroy(), STEP_TIMEOUT)
    socket.removeAllListeners('data')
    socket.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    socket.on('data', () => {})
    socket.resume()
    socket.write(CLOSE_FRAME)
  })
}
