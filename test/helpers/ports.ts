import { once } from 'node:events'
import net from 'node:net'

/** A free TCP port on 127.0.0.1 (a listener on port 0, closed again), for servers that must be told their port. */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
