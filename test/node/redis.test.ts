import net from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { startCliGateway, type CliGateway } from '../helpers/cli-gateway.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, parseResponse, type RawResponse } from '../helpers/raw-client.ts'
import { startRedis, type TestRedis } from '../helpers/redis.ts'
import { openClient } from '../helpers/resources.ts'

/**
 * Two gateway processes (`node bin/wsgate.js start … --redis`) against one
 * redis-server of the test's own: the caps and buckets they share, a crashed
 * one's slots coming back within the lease, and Redis going away.
 */

const ROUTES = 'test/fixtures/store-routes.ts'
/** Short, so that a killed process's slots come back quickly; long enough that its heartbeat (every third) is never late. */
const LEASE_TTL = 1_500

let redis: TestRedis
let origin: WsOrigin
const gateways: CliGateway[] = []
const clients: WebSocket[] = []

beforeAll(async () => {
  redis = await startRedis()
  origin = await startWsOrigin()
})
afterAll(async () => {
  await origin?.close()
  await redis?.stop()
})
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate()
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()))
  await redis.flush()
})

async function gateway(args: string[] = [], url = redis.url): Promise<CliGateway> {
  const started = await startCliGateway(ROUTES, ['--port', '0', '--redis', url, '--redis-lease-ttl', String(LEASE_TTL), ...args], { env: { ORIGIN_URL: origin.url } })
  gateways.push(started)
  return started
}

/** Opens a ws client from `localAddress` (each a client of its own on 127.0.0.0/8) and waits for its 101. */
async function open(gw: CliGateway, path: string, localAddress: string): Promise<WebSocket> {
  const client = await openClient(`ws://127.0.0.1:${gw.port}${path}`, { localAddress, ignoreErrors: true })
  clients.push(client)
  return client
}

/** A raw handshake from `localAddress`, answered by the gateway (a refusal, or a 101 it then closes). */
function exchange(gw: CliGateway, path: string, localAddress: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: gw.port, host: '127.0.0.1', localAddress })
    const chunks: Buffer[] = []
    socket.on('connect', () => socket.write(handshakeRequest(path)))
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      // A 101 stays open: the head is all the test needs.
      if (Buffer.concat(chunks).includes('\r\n\r\n') && Buffer.concat(chunks).toString('latin1').startsWith('HTTP/1.1 101')) socket.destroy()
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(parseResponse(Buffer.concat(chunks))))
  })
}

function expectRefusal(response: RawResponse, status: number, code: string): void {
  expect(response.status, response.statusLine).toBe(status)
  expect(response.headers['x-wsgate-error']).toBe(code)
  expect(response.headers['retry-after']).toBe('5')
}

describe('limits shared by two gateway processes through Redis', () => {
  it("holds maxConnections and maxConnectionsPerClient across both, and frees a killed process's slots within the lease", async () => {
    const caps = ['--max-connections', '4', '--max-connections-per-client', '2']
    const [a, b] = await Promise.all([gateway(caps), gateway(caps)])
    expect(a.pid).not.toBe(b.pid)

    // One client, one connection on each process: its share (2) is taken, whichever process it asks next.
    await open(a, '/echo', '127.0.0.2')
    await open(b, '/echo', '127.0.0.2')
    expectRefusal(await exchange(a, '/echo', '127.0.0.2'), 429, 'ERR_TOO_MANY_CONNECTIONS')
    expectRefusal(await exchange(b, '/echo', '127.0.0.2'), 429, 'ERR_TOO_MANY_CONNECTIONS')

    // Another client fills the gateway cap (4 in all, 2 on each process): a third is refused by both.
    await open(a, '/echo', '127.0.0.3')
    await open(b, '/echo', '127.0.0.3')
    expectRefusal(await exchange(a, '/echo', '127.0.0.4'), 503, 'ERR_CONNECTION_LIMIT')
    expectRefusal(await exchange(b, '/echo', '127.0.0.4'), 503, 'ERR_CONNECTION_LIMIT')
    expect(origin.sockets).toHaveLength(4)

    // B crashes: its two slots still count until its lease runs out, then a's clients get them.
    const killed = Date.now()
    await b.stop('SIGKILL')
    expectRefusal(await exchange(a, '/echo', '127.0.0.4'), 503, 'ERR_CONNECTION_LIMIT')
    let freedAfter: number | undefined
    while (freedAfter === undefined) {
      const response = await exchange(a, '/echo', '127.0.0.4')
      if (response.status === 101) freedAfter = Date.now() - killed
      else {
        expectRefusal(response, 503, 'ERR_CONNECTION_LIMIT')
        expect(Date.now() - killed, 'slots of the killed process still held').toBeLessThan(LEASE_TTL + 3_000)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    expect(freedAfter).toBeLessThanOrEqual(LEASE_TTL + 1_000)
    // The client that had a connection on the dead process has one slot back too.
    await open(a, '/echo', '127.0.0.2')
  })

  it("holds a route's maxConnections across both processes", async () => {
    const [a, b] = await Promise.all([gateway(), gateway()])
    await open(a, '/capped', '127.0.0.5')
    await open(b, '/capped', '127.0.0.6')
    expectRefusal(await exchange(a, '/capped', '127.0.0.7'), 503, 'ERR_CONNECTION_LIMIT')
    expectRefusal(await exchange(b, '/capped', '127.0.0.7'), 503, 'ERR_CONNECTION_LIMIT')
    expect((await exchange(b, '/echo', '127.0.0.7')).status).toBe(101)
  })

  it("shares rateLimit()'s bucket: a client's burst counts its handshakes on both processes", async () => {
    const [a, b] = await Promise.all([gateway(), gateway()])
    for (const gw of [a, b, a]) expect((await exchange(gw, '/limited', '127.0.0.8')).status).toBe(101)
    const refused = await exchange(b, '/limited', '127.0.0.8')
    expect(refused.status, refused.statusLine).toBe(429)
    expect(refused.headers['x-wsgate-error']).toBe('ERR_RATE_LIMITED')
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    // Another client has its own bucket.
    expect((await exchange(b, '/limited', '127.0.0.9')).status).toBe(101)
  })
})

describe('a gateway whose Redis is down', () => {
  let own: TestRedis
  beforeAll(async () => {
    own = await startRedis()
  })
  afterAll(async () => {
    await own?.stop()
  })

  it('admits handshakes and logs one warning by default (failOpen), and refuses them with 503 ERR_LIMIT_STORE_UNAVAILABLE with --redis-fail-closed', async () => {
    const open = await gateway(['--max-connections', '2'], own.url)
    const closed = await gateway(['--redis-fail-closed'], own.url)
    expect((await exchange(open, '/echo', '127.0.0.10')).status).toBe(101)
    await own.stop()

    for (let i = 0; i < 3; i++) expect((await exchange(open, '/limited', '127.0.0.11')).status).toBe(101)
    // Log lines reach stdout in batches: wait for the warning rather than count at once.
    const unavailable = (line: { msg: string }): boolean => line.msg.startsWith('limit store unavailable')
    expect(await open.waitForLine(unavailable)).toMatchObject({ level: 40, code: 'ERR_LIMIT_STORE_UNAVAILABLE', failOpen: true })

    const refused = await exchange(closed, '/echo', '127.0.0.12')
    expectRefusal(refused, 503, 'ERR_LIMIT_STORE_UNAVAILABLE')
    expect(refused.body).toBe('connection limits cannot be checked now, retry later\n')
    expect(await closed.waitForLine((line) => line.msg === 'handshake rejected')).toMatchObject({ status: 503, code: 'ERR_LIMIT_STORE_UNAVAILABLE' })
    expect(await closed.waitForLine(unavailable)).toMatchObject({ level: 40, failOpen: false })

    // Redis back (empty, as after a restart): both answer from it again.
    await own.restart()
    await open.waitForLine((line) => line.msg === 'limit store available again', 10_000)
    await closed.waitForLine((line) => line.msg === 'limit store available again', 10_000)
    expect((await exchange(closed, '/echo', '127.0.0.12')).status).toBe(101)
    // Lines come out in order: every warning of the outage is out by now, and there was one per gateway.
    expect(open.lines.filter(unavailable)).toHaveLength(1)
    expect(closed.lines.filter(unavailable)).toHaveLength(1)
  })
})
