/**
 * Two connected TCP sockets on 127.0.0.1, for tests of what the gateway
 * does with a socket a server accepted (the pipe, its reads).
 */
import { once } from 'node:events'
import net from 'node:net'

/** Something a test opened and closes after it. */
export interface Closable {
  close(): void
}

/**
 * A server on 127.0.0.1 and a client connected to it: `accepted` is the
 * server's end (as `http.Server` hands it over), `peer` the client's. The
 * server and both sockets are handed to `track` to close after the test.
 *
 * @example
 * const { accepted, peer } = await connectedPair((closable) => opened.push(closable), { allowHalfOpen: true })
 */
export async function connectedPair(track: (closable: Closable) => void, options: net.ServerOpts = {}): Promise<{ accepted: net.Socket; peer: net.Socket }> {
  const server = net.createServer(options)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  track({ close: () => server.close() })
  const accepting = once(server, 'connection') as Promise<[net.Socket]>
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const [accepted] = await accepting
  track({ close: () => peer.destroy() })
  track({ close: () => accepted.destroy() })
  return { accepted, peer }
}
