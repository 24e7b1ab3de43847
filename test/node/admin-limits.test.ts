import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { adminJson, adminRequest } from '../helpers/admin.ts'
import { logsWith } from '../helpers/gateway.ts'
import { useResources } from '../helpers/resources.ts'

// The admin listener's own limits: what one client of the admin port can
// make the gateway hold (a request body, open connections) is bounded, so
// the admin port cannot take memory or file descriptors from the traffic.

const { gateway: gatewayServing, track } = useResources()

/** The cap on open admin connections (src/node/admin/index.ts). */
const MAX_ADMIN_CONNECTIONS = 64
/** The cap on unanswered requests of one admin connection (src/node/admin/index.ts). */
const MAX_UNANSWERED_PER_CONNECTION = 8

/** A gateway with no route and an admin listener on a free port. */
function adminGateway() {
  return gatewayServing(new Hono(), { admin: { port: 0 } })
}

/** `PUT /log-level` with `body` sent chunked (no Content-Length), in pieces of 256 bytes. */
function putChunked(adminUrl: string, body: string): Promise<{ status: number; connection: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(new URL('/log-level', adminUrl), { method: 'PUT', agent: false }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, text }))
    })
    // The server may close while pieces are still going out: the answer is what counts.
    request.on('error', reject)
    for (let at = 0; at < body.length; at += 256) request.write(body.slice(at, at + 256))
    request.end()
  })
}

/** Connects a raw socket to the admin listener; resolves once connected. */
async function connectRaw(adminUrl: string): Promise<net.Socket> {
  const socket = track(net.connect(Number(new URL(adminUrl).port), '127.0.0.1'))
  socket.on('error', () => {})
  await once(socket, 'connect')
  return socket
}

describe('admin listener: PUT /log-level body', () => {
  it('refuses with 413 and closes the connection a body past 1 KiB, sent with Content-Length or chunked, and keeps the level', async () => {
    const gateway = await adminGateway()
    // Valid JSON naming a valid level: only its size is wrong.
    const padded = `{"level":"warn"${' '.repeat(2_000)}}`
    const sized = await adminRequest(gateway.adminUrl!, '/log-level', { method: 'PUT', body: padded })
    expect([sized.status, sized.headers.connection, JSON.parse(sized.body)]).toEqual([413, 'close', { error: 'the body must be at most 1024 bytes' }])
    const chunked = await putChunked(gateway.adminUrl!, padded)
    expect([chunked.status, chunked.connection, JSON.parse(chunked.text)]).toEqual([413, 'close', { error: 'the body must be at most 1024 bytes' }])
    expect(await adminJson<{ level: string }>(gateway.adminUrl!, '/log-level')).toEqual({ level: 'debug' })
    expect(logsWith(gateway, 'log level changed')).toEqual([])

    // Within the cap, chunked or not, the level changes.
    const fits = `{"level":"info"${' '.repeat(900)}}`
    expect((await putChunked(gateway.adminUrl!, fits)).status).toBe(200)
    expect(await adminJson<{ level: string }>(gateway.adminUrl!, '/log-level')).toEqual({ level: 'info' })
  })
})

describe('admin listener: open connections', () => {
  it(`holds at most ${MAX_ADMIN_CONNECTIONS} connections: one past them is closed unanswered, and the listener answers again once they go`, async () => {
    const gateway = await adminGateway()
    const held: net.Socket[] = []
    for (let i = 0; i < MAX_ADMIN_CONNECTIONS; i++) held.push(await connectRaw(gateway.adminUrl!))
    // Accepted after the others (the listen queue is first in, first out), so past the cap.
    const extra = await connectRaw(gateway.adminUrl!)
    let answer = ''
    extra.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')))
    const closed = once(extra, 'close')
    extra.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    await closed
    expect(answer).toBe('')

    // One held connection still gets its answer: the cap refuses new ones, it does not cut those it holds.
    const first = held[0]!
    let firstAnswer = ''
    first.on('data', (chunk: Buffer) => (firstAnswer += chunk.toString('latin1')))
    first.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    await once(first, 'close')
    expect(firstAnswer).toMatch(/^HTTP\/1\.1 200 /)

    for (const socket of held) socket.destroy()
    // The listener counts a connection gone when its close reaches it: ask until a fresh one is answered (bounded).
    let status = 0
    for (let attempt = 0; attempt < 100 && status !== 200; attempt++) {
      status = await adminRequest(gateway.adminUrl!, '/healthz').then(
        (response) => response.status,
        () => 0,
      )
    }
    expect(status).toBe(200)
  })
})

describe('admin listener: pipelined requests', () => {
  it(`closes a connection that sends more than ${MAX_UNANSWERED_PER_CONNECTION} requests before reading their answers`, async () => {
    const gateway = await adminGateway()
    const socket = await connectRaw(gateway.adminUrl!)
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    const closed = once(socket, 'close')
    // 50 requests in one write, the last asking to close: all 50 answered would mean 50 /metrics texts held for a client that reads none.
    socket.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(49) + 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    await closed
    expect(received.split('HTTP/1.1 200 ').length - 1).toBeLessThanOrEqual(MAX_UNANSWERED_PER_CONNECTION)
    // The listener serves the next connection as ever.
    expect((await adminRequest(gateway.adminUrl!, '/healthz')).status).toBe(200)
  })

  it(`answers ${MAX_UNANSWERED_PER_CONNECTION} pipelined requests, and any number sent one after another on one connection`, async () => {
    const gateway = await adminGateway()
    const socket = await connectRaw(gateway.adminUrl!)
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    const closed = once(socket, 'close')
    const request = (close: boolean): string => `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${close ? 'Connection: close\r\n' : ''}\r\n`
    socket.write(request(false).repeat(MAX_UNANSWERED_PER_CONNECTION - 1) + request(true))
    await closed
    expect(received.split('HTTP/1.1 200 ').length - 1).toBe(MAX_UNANSWERED_PER_CONNECTION)

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const reused: boolean[] = []
    try {
      for (let i = 0; i < MAX_UNANSWERED_PER_CONNECTION * 3; i++) {
        const status = await new Promise<number>((resolve, reject) => {
          const sent = http.get(new URL('/healthz', gateway.adminUrl!), { agent }, (response) => {
            response.resume()
            response.on('end', () => resolve(response.statusCode ?? 0))
          })
          sent.on('error', reject)
          sent.on('socket', () => reused.push(sent.reusedSocket))
        })
        expect(status).toBe(200)
      }
    } finally {
      agent.destroy()
    }
    // One connection carried them all.
    expect(reused.filter((wasReused) => !wasReused)).toHaveLength(1)
  })
})
