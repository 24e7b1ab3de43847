import { once } from 'node:events'
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { closedLine, waitFor } from '../helpers/gateway.ts'
import { switchingProtocols } from '../helpers/origins.ts'
import { handshakeRequest } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'
import { frame, whenHead } from '../helpers/wire.ts'

/**
 * A peer that stops reading while the other streams: backpressure pauses
 * the streaming side, and the gateway's own timers still end the
 * connection (the idle timeout once nothing moves, the lifetime even while
 * the stalled peer keeps sending), its close frame waiting behind the full
 * buffer until closeGrace; both sockets are released (useResources checks
 * that the gateway holds none after each test).
 */

const { gatewayWith, rawOrigin, track } = useResources()
const KEY = Buffer.from([5, 6, 7, 8])
const MIB = frame(0x2, Buffer.alloc(1 << 20))

/** Writes `bytes` again and again (with backpressure) until `socket` is gone. */
function stream(socket: net.Socket, bytes: Buffer): void {
  const more = (): void => {
    while (!socket.destroyed && socket.writable && socket.write(bytes)) {
      /* the buffer took it: write on */
    }
    if (!socket.destroyed && socket.writable) socket.once('drain', more)
  }
  more()
}

/** A raw client past its 101, paused: it reads nothing more. */
async function stalledClient(port: number, path: string): Promise<net.Socket> {
  const socket = track(net.connect(port, '127.0.0.1'))
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(handshakeRequest(path))
  await new Promise<void>((resolve, reject) => whenHead(socket, (head) => (head.startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(head)))))
  socket.pause()
  return socket
}

describe('a peer that stops reading', () => {
  it('a client that never reads a stream is ended by the idle timeout (its close frame stuck behind the full buffer until closeGrace)', async () => {
    const origin = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection))
      stream(connection.socket, MIB)
    })
    const gateway = await gatewayWith({ '/feed': [origin.url, { idleTimeout: 300 }] }, { closeGrace: 400 })
    await stalledClient(gateway.port, '/feed')
    expect(await closedLine(gateway)).toMatchObject({ closedBy: 'gateway', closeCause: 'idle' })
    await waitFor(() => gateway.openSockets === 0 && origin.sockets.size === 0, 5_000, 'both sockets released')
  })

  it('an origin that never reads an upload is ended by the idle timeout', async () => {
    const origin = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection))
      connection.socket.pause()
    })
    const gateway = await gatewayWith({ '/upload': [origin.url, { idleTimeout: 300 }] }, { closeGrace: 400 })
    const client = await stalledClient(gateway.port, '/upload')
    stream(client, frame(0x2, Buffer.alloc(1 << 20), { mask: KEY }))
    expect(await closedLine(gateway)).toMatchObject({ closedBy: 'gateway', closeCause: 'idle' })
    // The origin reads again, and so sees that the gateway has closed its connection.
    for (const socket of origin.sockets) socket.resume()
    await waitFor(() => gateway.openSockets === 0 && origin.sockets.size === 0, 5_000, 'both sockets released')
  })

  it('a client that never reads but keeps sending (so is never idle) is ended at its lifetime', async () => {
    const origin = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection))
      connection.socket.resume()
      stream(connection.socket, MIB)
    })
    const gateway = await gatewayWith({ '/feed': [origin.url, { idleTimeout: 60_000, maxLifetime: 500, lifetimeJitter: 0 }] }, { closeGrace: 400 })
    const client = await stalledClient(gateway.port, '/feed')
    // A small message every 50 ms: the connection is never idle, and never reads what it is sent.
    const ping = frame(0x9, 'still here', { mask: KEY })
    const pinging = setInterval(() => client.writable && client.write(ping), 50)
    try {
      expect(await closedLine(gateway)).toMatchObject({ closedBy: 'gateway', closeCause: 'lifetime' })
    } finally {
      clearInterval(pinging)
    }
    await waitFor(() => gateway.openSockets === 0 && origin.sockets.size === 0, 5_000, 'both sockets released')
  })
})
