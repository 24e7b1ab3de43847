/**
 * An origin's answer to the upgrade, relayed by the Workers host as the
 * Node host relays it (test/node/raw-origin.test.ts): run in workerd, the
 * runtime Cloudflare runs, against a raw origin whose bytes each case writes.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exchangeOnce, upgradeRequest } from '../helpers/hostile-client.ts'
import { TEST_KEY } from '../helpers/raw-client.ts'
import { acceptKey, startRawOrigin, switchingProtocols, type RawOrigin, type RawOriginConnection } from '../helpers/origins.ts'
import { startWorkerd, type Workerd } from './workerd.ts'

/** What the raw origin writes for the next upgrade. */
let answer: (connection: RawOriginConnection) => void = () => {}

let origin: RawOrigin
let worker: Workerd

beforeAll(async () => {
  origin = await startRawOrigin((connection) => answer(connection))
  worker = await startWorkerd(join(import.meta.dirname, 'routes-worker.ts'), { ECHO_ORIGIN: origin.url, RAW_ORIGIN: origin.url })
}, 60_000)

afterAll(async () => {
  await worker?.close()
  await origin?.close()
})

describe("an origin's answer to the upgrade on Workers", () => {
  it('relays a refusal without the headers its Connection names, the hop-by-hop ones or an x-wsgate-error of its own', async () => {
    answer = ({ socket }) =>
      socket.end(
        [
          'HTTP/1.1 403 Forbidden',
          'Connection: close, X-Internal-Token',
          'X-Internal-Token: s3cr3t',
          'Keep-Alive: timeout=5',
          'Proxy-Authenticate: Basic realm="origin"',
          'x-wsgate-error: ERR_WAF_BLOCKED',
          'X-Room: lobby',
          'Content-Length: 7',
          '',
          'go away',
        ].join('\r\n'),
      )
    const { response, body } = await exchangeOnce(worker.port, upgradeRequest('/raw'))
    expect(response?.status).toBe(403)
    expect(body).toBe('go away')
    expect(response?.headers['x-room']).toBe('lobby')
    for (const name of ['x-internal-token', 'keep-alive', 'proxy-authenticate', 'x-wsgate-error']) expect(response?.headers[name], name).toBeUndefined()
    expect(worker.lines.at(-1)).toMatchObject({ msg: 'handshake rejected', status: 403 })
    expect(worker.lines.at(-1)).not.toHaveProperty('code')
  })

  it("relays a 101 without the headers its Connection names or the hop-by-hop ones, and with the origin's own headers", async () => {
    answer = (connection) =>
      connection.socket.write(
        switchingProtocols(connection, ['Connection: Upgrade, X-Internal-Token', 'X-Internal-Token: s3cr3t', 'Keep-Alive: timeout=5', 'Proxy-Authenticate: Basic', 'X-Room: lobby', 'Set-Cookie: a=1', 'Set-Cookie: b=2']),
      )
    const { response } = await exchangeOnce(worker.port, upgradeRequest('/raw'))
    expect(response?.status).toBe(101)
    expect(response?.headers['x-room']).toBe('lobby')
    for (const name of ['x-internal-token', 'keep-alive', 'proxy-authenticate']) expect(response?.headers[name], name).toBeUndefined()
    expect(response?.raw.toString('latin1')).toMatch(/set-cookie: a=1\r\nset-cookie: b=2\r\n/i)
    // The origin's accept value (for workerd's own key) stays in the chain's 101; the client gets one, its own.
    expect(response?.raw.toString('latin1').match(/^sec-websocket-accept: .*$/gim)).toEqual([`Sec-WebSocket-Accept: ${acceptKey(TEST_KEY)}`])
  })

  it('answers a status no client can be given with 502 ERR_ORIGIN_BAD_HANDSHAKE, as on Node, where the Worker threw', async () => {
    // workerd hands a 100 over as the answer itself (the 101 after it is lost), and a 999 as it came.
    const answers = {
      999: 'HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n',
      100: 'HTTP/1.1 100 Continue\r\n\r\n',
    }
    for (const [status, bytes] of Object.entries(answers)) {
      // Ended: a connection left open after its answer is one workerd may send the next request on.
      answer = ({ socket }) => socket.end(bytes)
      const { response, body } = await exchangeOnce(worker.port, upgradeRequest('/raw'))
      expect(response?.status, status).toBe(502)
      expect(response?.headers['x-wsgate-error'], status).toBe('ERR_ORIGIN_BAD_HANDSHAKE')
      expect(body).toBe(`origin answered the upgrade with status ${status}\n`)
    }
  })

  it('refuses, before any origin is asked, an upgrade the platform cannot switch (Upgrade other than "websocket" alone), where workerd answered 500 after the origin had opened', async () => {
    answer = (connection) => connection.socket.write(switchingProtocols(connection))
    const asked = origin.connections.length
    for (const value of ['foo, websocket', 'websocket, foo']) {
      const { response } = await exchangeOnce(worker.port, upgradeRequest('/raw').replace('Upgrade: websocket', `Upgrade: ${value}`))
      expect(response?.status, value).toBe(400)
      expect(response?.headers['x-wsgate-error'], value).toBe('ERR_HANDSHAKE_UPGRADE')
    }
    expect(origin.connections.length).toBe(asked)
    expect(worker.lines.at(-1)).toMatchObject({ msg: 'handshake rejected', route: '/raw', status: 400, code: 'ERR_HANDSHAKE_UPGRADE' })
    // Any case of the one token still switches.
    const { response } = await exchangeOnce(worker.port, upgradeRequest('/raw').replace('Upgrade: websocket', 'Upgrade: WebSocket'))
    expect(response?.status).toBe(101)
  })
})
