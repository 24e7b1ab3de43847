import { describe, expect, it } from 'vitest'
import { switchingProtocols } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

// An origin's 101 that every client would fail (RFC 6455 §4.1) is the
// gateway's to refuse with 502 ERR_ORIGIN_BAD_HANDSHAKE, not to relay: the
// client would drop the connection the gateway counted and logged as
// upgraded. Each answer below makes the `ws` client fail ("Invalid Upgrade
// header", "Invalid Sec-WebSocket-Extensions header"), and browsers too.

const { gatewayWith, rawOrigin } = useResources()

/** The answer the gateway gives a client to `101` with `Upgrade: websocket` replaced by `upgrade` lines and `extra` lines added. */
async function answerTo(upgrade: string[], extra: string[] = [], offer: Record<string, string> = {}) {
  const origin = await rawOrigin((connection) => {
    const head = switchingProtocols(connection, [...upgrade.map((value) => `Upgrade: ${value}`), ...extra]).replace('Upgrade: websocket\r\n', '')
    connection.socket.write(head)
  })
  const gateway = await gatewayWith({ '/raw': origin.url })
  return rawExchange(gateway.port, handshakeRequest('/raw', offer))
}

describe("an origin's 101 that the client must fail", () => {
  it.each([
    ['names a protocol stack in Upgrade', ['h2c, websocket']],
    ['sends Upgrade twice', ['websocket', 'websocket']],
  ])('is refused with 502 when it %s', async (_label, upgrade) => {
    const response = await answerTo(upgrade)
    expect(response.status, response.statusLine).toBe(502)
    expect(response.headers['x-wsgate-error']).toBe('ERR_ORIGIN_BAD_HANDSHAKE')
    expect(response.body).toMatch(/Upgrade is not "websocket"/)
  })

  it('is refused with 502 when its Sec-WebSocket-Extensions is empty', async () => {
    const response = await answerTo(['websocket'], ['Sec-WebSocket-Extensions: '], { 'Sec-WebSocket-Extensions': 'permessage-deflate' })
    expect(response.status, response.statusLine).toBe(502)
    expect(response.headers['x-wsgate-error']).toBe('ERR_ORIGIN_BAD_HANDSHAKE')
    expect(response.body).toMatch(/Sec-WebSocket-Extensions is empty/)
  })

  it('still upgrades with Upgrade in another case', async () => {
    const origin = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection).replace('Upgrade: websocket', 'Upgrade: WebSocket'))
      connection.socket.end()
    })
    const gateway = await gatewayWith({ '/raw': origin.url })
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.statusLine).toBe('HTTP/1.1 101 Switching Protocols')
  })
})
