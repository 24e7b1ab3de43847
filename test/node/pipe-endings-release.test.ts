import { once } from 'node:events'
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { closedLines, waitFor } from '../helpers/gateway.ts'
import { switchingProtocols } from '../helpers/origins.ts'
import { handshakeRequest } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'
import { frame, whenHead } from '../helpers/wire.ts'

/**
 * Every way a piped connection can end leaves nothing behind in the
 * gateway's process: no socket handle and no timer more than before it
 * opened (Node's own list of what keeps the event loop alive,
 * `process.getActiveResourcesInfo()`), and one connection-end line each.
 */

const { gatewayWith, rawOrigin, wsOrigin } = useResources()
const KEY = Buffer.from([1, 2, 3, 4])
const CLOSE_1000 = Buffer.from([0x03, 0xe8])

/** The process's live handles and timers, by kind (sockets, servers, timeouts…). */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1
  return counts
}

/** Whether the process holds, of every kind, at most what `before` counted. */
function noMoreThan(before: Record<string, number>): boolean {
  return Object.entries(activeResources()).every(([kind, count]) => count <= (before[kind] ?? 0))
}

/** A raw client through the gateway, past its 101; it keeps what it is sent. */
async function rawClient(port: number, path: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(handshakeRequest(path))
  await new Promise<void>((resolve, reject) => whenHead(socket, (head) => (head.startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(head)))))
  return socket
}

describe('what an ended connection leaves in the gateway process', () => {
  it('no socket and no timer, whoever ended it and however', async () => {
    const originSockets: net.Socket[] = []
    const origin = await rawOrigin((connection) => {
      originSockets.push(connection.socket)
      connection.socket.write(switchingProtocols(connection))
      // A close frame is answered with one, then FIN (as a server does); anything else is read and dropped.
      connection.socket.on('data', (chunk: Buffer) => {
        if ((chunk[0]! & 0x0f) === 0x8 && connection.socket.writable) connection.socket.end(frame(0x8, CLOSE_1000))
      })
    })
    const echo = await wsOrigin((socket) => socket.on('message', (data) => socket.send(data)))
    const gateway = await gatewayWith(
      { '/raw': origin.url, '/echo': echo.url, '/short': [origin.url, { idleTimeout: 100 }], '/brief': [origin.url, { maxLifetime: 150, lifetimeJitter: 0 }] },
      { closeGrace: 300, halfCloseTimeout: 300 },
    )
    const lastOrigin = (): net.Socket => originSockets.at(-1)!
    const endings: [string, () => Promise<void>][] = [
      ['the client sends a close frame', async () => {
        const client = await rawClient(gateway.port, '/raw')
        client.write(frame(0x8, CLOSE_1000, { mask: KEY }))
        await once(client, 'close')
      }],
      ['a ws client closes an echo connection', async () => {
        const client = new WebSocket(`${gateway.wsUrl}/echo`)
        await once(client, 'open')
        client.close(1000)
        await once(client, 'close')
      }],
      ['the client resets', async () => {
        const client = await rawClient(gateway.port, '/raw')
        client.resetAndDestroy()
      }],
      ['the client sends FIN and reads on', async () => {
        const client = await rawClient(gateway.port, '/raw')
        client.resume()
        client.end()
        await once(client, 'close')
      }],
      ['the origin resets', async () => {
        const client = await rawClient(gateway.port, '/raw')
        client.resume()
        lastOrigin().resetAndDestroy()
        await once(client, 'close')
      }],
      ['the origin sends FIN', async () => {
        const client = await rawClient(gateway.port, '/raw')
        client.resume()
        lastOrigin().end()
        await once(client, 'close')
      }],
      ['the idle timeout, the client answering', async () => {
        const client = await rawClient(gateway.port, '/short')
        client.on('data', () => client.writable && client.end(frame(0x8, CLOSE_1000, { mask: KEY })))
        await once(client, 'close')
      }],
      ['the idle timeout, the client never answering (closeGrace)', async () => {
        const client = await rawClient(gateway.port, '/short')
        client.resume()
        await once(client, 'close')
      }],
      ['the lifetime, the client mid-frame and never finishing it', async () => {
        const client = await rawClient(gateway.port, '/brief')
        client.resume()
        client.write(frame(0x2, Buffer.alloc(1000), { mask: KEY }).subarray(0, 500))
        await once(client, 'close')
      }],
      ['the idle timeout after the client sent what is not WebSocket framing', async () => {
        const client = await rawClient(gateway.port, '/short')
        client.resume()
        client.write(frame(0x9, Buffer.alloc(200), { mask: KEY }))
        await once(client, 'close')
      }],
    ]
    await waitFor(() => gateway.openSockets === 0, 5_000, 'a quiet gateway')
    const before = activeResources()
    for (const [index, [name, end]] of endings.entries()) {
      await end()
      await waitFor(() => closedLines(gateway).length === index + 1 && gateway.connections === 0 && gateway.openSockets === 0, 5_000, `the end of: ${name}`)
      // Handles and timers go on the loop's next turns after a socket's close: poll, bounded. (A timer of the
      // test's own may have ended meanwhile: none more than before, of any kind.)
      await waitFor(() => noMoreThan(before), 5_000, `no more handles or timers than ${JSON.stringify(before)} after: ${name}`).catch((error: Error) => {
        throw new Error(`${error.message}; now ${JSON.stringify(activeResources())}`)
      })
    }
    expect(closedLines(gateway)).toHaveLength(endings.length)
  })
})
