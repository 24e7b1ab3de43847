import { once } from 'node:events'
import net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { expectNoOpenSockets, type GatewayOptions, type TestGateway } from '../helpers/gateway.ts'
import { handshakeRequest, parseResponse, readHead } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'
import { frame } from '../helpers/wire.ts'

/**
 * A connection's first head is read by the gateway itself when it is a
 * clean WebSocket upgrade (src/node/first-head.ts), and given back to Node's
 * server, every byte of it, when it is anything else. Heads that come a few
 * bytes at a time, requests after it on the same connection, and a client
 * that stops mid-head get what they always got.
 */

const resources = useResources()

/** `/plain` answered by the app itself, `/echo` a WebSocket route to an echo origin. */
async function gateway(options: GatewayOptions = {}): Promise<TestGateway> {
  const origin = await resources.wsOrigin()
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.get('/plain', (c) => c.text('plain ok'))
  app.get('/echo', websocket(origin.url))
  return resources.gateway(app, options)
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  socket.on('error', () => {})
  await once(socket, 'connect')
  return socket
}

/** Writes `text` in pieces of `size` bytes, each after the last has gone out and a moment has passed. */
async function trickle(socket: net.Socket, text: string, size: number): Promise<void> {
  for (let at = 0; at < text.length; at += size) {
    await new Promise<void>((resolve) => socket.write(text.slice(at, at + size), 'latin1', () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** Everything the gateway sends until it closes the connection. */
async function untilClosed(socket: net.Socket): Promise<string> {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  if (!socket.destroyed) await once(socket, 'close')
  return Buffer.concat(chunks).toString('latin1')
}

describe("a connection's first head", () => {
  it('opens a WebSocket whose handshake arrives a few bytes at a time, and relays a frame sent right after it', async () => {
    const gw = await gateway()
    const socket = await connect(gw.port)
    await trickle(socket, handshakeRequest('/echo'), 7)
    const { head } = await readHead(socket)
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    socket.resume()
    const echoed = new Promise<Buffer>((resolve) => socket.once('data', resolve))
    socket.write(frame(0x1, 'hello', { mask: Buffer.from([1, 2, 3, 4]) }))
    expect((await echoed).equals(frame(0x1, 'hello'))).toBe(true)
    socket.destroy()
  })

  it('opens a WebSocket whose handshake arrives one byte at a time (the blank line across four reads)', async () => {
    const gw = await gateway()
    const socket = await connect(gw.port)
    await trickle(socket, handshakeRequest('/echo'), 1)
    const { head } = await readHead(socket)
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    socket.destroy()
  })

  it('gives a plain request that arrives a few bytes at a time to Node, which answers it and a WebSocket upgrade after it on the same connection', async () => {
    const gw = await gateway()
    const socket = await connect(gw.port)
    await trickle(socket, 'GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 5)
    const first = await readHead(socket)
    expect(first.head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
    const length = Number(parseResponse(Buffer.from(`${first.head}\r\n\r\n`, 'latin1')).headers['content-length'])
    let body = first.rest
    socket.resume()
    while (body.length < length) body = Buffer.concat([body, (await once(socket, 'data'))[0] as Buffer])
    expect(body.toString()).toBe('plain ok')
    // Now Node's connection: its parser's 'upgrade' serves the second request.
    const second = readHead(socket)
    socket.write(handshakeRequest('/echo'))
    expect((await second).head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    socket.destroy()
  })

  it('answers a head a FIN cuts short with 400 ERR_HANDSHAKE_MALFORMED, as Node\'s parser does', async () => {
    const gw = await gateway()
    const socket = await connect(gw.port)
    socket.end('GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n')
    const answer = parseResponse(Buffer.from(await untilClosed(socket), 'latin1'))
    expect(answer.status).toBe(400)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_MALFORMED')
  })

  // Node's parser refuses these at their first bad byte; the gateway must not hold them for its header deadline (a
  // deadline's 408 comes 10 s later here, and fails the test).
  it.each([
    ['ended by bare LFs (it never holds a CRLF CRLF)', 'GET /echo HTTP/1.1\nHost: 127.0.0.1\nUpgrade: websocket\nConnection: Upgrade\n\n'],
    ['with a bare LF in its field lines, sent in two reads', ['GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r', '\nUpgrade: websocket\nConnection: Upgrade\n\n']],
    ['with a bare CR ending each line', 'GET /echo HTTP/1.1\rHost: 127.0.0.1\rUpgrade: websocket\r\r'],
    ['with a NUL in a field value, its blank line not yet sent', 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\0\r\n'],
  ])('answers a head %s with 400 ERR_HANDSHAKE_MALFORMED at once, as Node\'s parser does, and holds no socket', async (_what, parts) => {
    const gw = await gateway({ handshakeTimeout: 10_000 })
    const socket = await connect(gw.port)
    for (const part of typeof parts === 'string' ? [parts] : parts) {
      await new Promise<void>((resolve) => socket.write(part, 'latin1', () => resolve()))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const answer = parseResponse(Buffer.from(await untilClosed(socket), 'latin1'))
    expect(answer.status).toBe(400)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_MALFORMED')
    await expectNoOpenSockets(gw)
  })

  it('closes without an answer a connection that ends before sending a byte', async () => {
    const gw = await gateway()
    const socket = await connect(gw.port)
    socket.end()
    expect(await untilClosed(socket)).toBe('')
  })

  it('gives a head it does not take (a byte above 0x7e in a field) to Node, which runs the same handshake', async () => {
    const gw = await gateway()
    const socket = await connect(gw.port)
    socket.write(Buffer.from(handshakeRequest('/echo', { 'X-Name': 'caf\xe9' }), 'latin1'))
    const { head } = await readHead(socket)
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    socket.destroy()
  })
})
