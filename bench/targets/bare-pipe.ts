/**
 * The floor for any Node proxy: on upgrade, connect to the origin, forward
 * the request head and the early bytes, pipe both ways. No validation, no
 * limits, no logs. Run as its own process:
 *
 *   node bench/targets/bare-pipe.ts --port 0 --origin 9001   → prints {"port": N}
 */
import http from 'node:http'
import net from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, origin: { type: 'string' } } })
const originPort = Number(values.origin)

const server = http.createServer((_request, response) => response.writeHead(404).end())
server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
  const upstream = net.connect({ port: originPort, host: '127.0.0.1', noDelay: true }, () => {
    let lines = `${request.method} ${request.url} HTTP/1.1\r\n`
    for (let i = 0; i < request.rawHeaders.length; i += 2) lines += `${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}\r\n`
    upstream.write(`${lines}\r\n`, 'latin1')
    if (head.length > 0) upstream.write(head)
    upstream.pipe(socket)
    socket.pipe(upstream)
  })
  upstream.on('error', () => socket.destroy())
  socket.on('error', () => upstream.destroy())
})
server.listen({ port: Number(values.port), host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`)
})
process.on('SIGTERM', () => process.exit(0))