/**
 * node-http-proxy (`http-proxy` from npm) with `ws: true`, as its README
 * sets it up for WebSocket. Run as its own process:
 *
 *   node bench/targets/http-proxy.ts --port 0 --origin 9001   → prints {"port": N}
 */
import http from 'node:http'
import type net from 'node:net'
import { parseArgs } from 'node:util'
import httpProxy from 'http-proxy'

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, origin: { type: 'string' } } })

const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${Number(values.origin)}`, ws: true })
// A client or origin that goes away mid-connection must not end the process.
proxy.on('error', (_error, _request, socket) => {
  if (socket && 'destroy' in socket) socket.destroy()
})
// What proxy.listen() does, on a server whose address we can read back.
const server = http.createServer((request, response) => proxy.web(request, response))
server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => proxy.ws(request, socket, head))
server.listen({ port: Number(values.port), host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`)
})
process.on('SIGTERM', () => process.exit(0))