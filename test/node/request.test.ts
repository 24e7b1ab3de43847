import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.ts'
import { toRequest } from '../../src/node/request.ts'

/** The parts of an IncomingMessage toRequest() reads. */
function incoming(url: string, rawHeaders: string[], encrypted = false): IncomingMessage {
  return { url, method: 'GET', rawHeaders, socket: encrypted ? { encrypted: true } : {} } as unknown as IncomingMessage
}

describe('toRequest()', () => {
  it('keeps every header value, repeats joined per the Fetch standard, and takes the URL from Host', () => {
    const request = toRequest(
      incoming('/chat?room=1', ['Host', 'gateway.test:8080', 'X-Tag', 'a', 'Cookie', 'c=1', 'x-tag', 'b', 'Upgrade', 'websocket']),
    )
    expect(request.method).toBe('GET')
    expect(request.url).toBe('http://gateway.test:8080/chat?room=1')
    expect([...request.headers]).toEqual([
      ['cookie', 'c=1'],
      ['host', 'gateway.test:8080'],
      ['upgrade', 'websocket'],
      ['x-tag', 'a, b'],
    ])
  })

  it('uses the connection scheme, never the absolute-form target one', () => {
    expect(toRequest(incoming('/x', ['Host', 'gateway.test'], true)).url).toBe('https://gateway.test/x')
    expect(toRequest(incoming('https://other.test/y', ['Host', 'gateway.test'])).url).toBe('http://other.test/y')
  })

  it('falls back to localhost without Host, and trims Host as Headers would', () => {
    expect(toRequest(incoming('/x', [])).url).toBe('http://localhost/x')
    expect(toRequest(incoming('/x', ['Host', ' gateway.test\t'])).url).toBe('http://gateway.test/x')
  })

  it('rejects with 400 ERR_HANDSHAKE_MALFORMED when repeated Host headers make no URL', () => {
    let error: unknown
    try {
      toRequest(incoming('/x', ['Host', 'a.test', 'Host', 'b.test']))
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(GatewayError)
    expect(error).toMatchObject({ status: 400, code: 'ERR_HANDSHAKE_MALFORMED', message: 'malformed request target or Host header' })
  })
})
