/**
 * The benchmark's origin: as cheap as a WebSocket origin can be, so the
 * proxy under test is the bottleneck. It reads the upgrade request, answers
 * a correct 101 (the `Sec-WebSocket-Accept` for the request's key, which a
 * gateway and the load client check), then echoes the socket's bytes back as
 * they come (`socket.pipe(socket)`, with backpressure), parsing no frame; a
 * chunk that is exactly the client's close frame is echoed, then the origin
 * closes first, as a WebSocket server does. Run as its own process:
 *
 *   node bench/origin.ts [--port 0]      → prints {"port": N} when listening
 */
import net from 'node:net'
import { parseArgs } from 'node:util'
import { acceptFor, CLOSE_FRAME, headEnd } from './wire.ts'

/** Largest request head accepted, bytes: what a gateway accepts (16 KiB) plus room for added forwarding headers. */
const MAX_HEAD = 32 * 1024

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } })

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy())
  let head: Buffer = Buffer.alloc(0)
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
    const end = headEnd(head)
    if (end < 0) {
      if (head.length > MAX_HEAD) socket.destroy()
      return
    }
    socket.off('data', onData)
    const text = head.toString('latin1', 0, end)
    const key = /^sec-websocket-key:[ \t]*(\S+)/im.exec(text)?.[1]
    if (!text.startsWith('GET ') || !key) {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
      return
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`, 'latin1')
    // Bytes that came with the request head are the first ones to echo.
    if (end < head.length) socket.write(head.subarray(end))
    socket.pipe(socket)
    // After pipe()'s own listener has echoed it: a client's close frame, alone in its chunk, ends the connection from this side.
    socket.on('data', (chunk: Buffer) => {
      if (chunk.length === CLOSE_FRAME.length && chunk.equals(CLOSE_FRAME)) socket.end()
    })
  }
  socket.on('data', onData)
})

server.listen({ port: Number(values.port), host: values.host, backlog: 4096 }, () => {
  const address = server.address() as net.AddressInfo
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`)
})
process.on('SIGTERM', () => process.exit(0))
