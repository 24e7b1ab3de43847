import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.ts'
import { readRequestHead, toRequest } from '../../src/node/request.ts'

/** The parts of an IncomingMessage readRequestHead() reads. */
function incoming(url: string, rawHeaders: string[], encrypted = false): IncomingMessage {
  return { url, method: 'GET', httpVersion: '1.1', rawHeaders, socket: encrypted ? { encrypted: true } : {} } as unknown as IncomingMessage
}

const LIMITS = { maxUriLength: 8192, maxHeaderSize: 16384 }

function requestOf(message: IncomingMessage): Request {
  return toRequest('GET', readRequestHead(message, true, LIMITS))
}

describe('toRequest()', () => {
  it('keeps every header value, repeats joined per the Fetch standard, and takes the authority from Host', () => {
    const request = requestOf(incoming('/chat?room=1', ['Host', 'gateway.test:8080', 'X-Tag', 'a', 'Cookie', 'c=1', 'x-tag', 'b', 'Upgrade', 'websocket']))
    expect(request.method).toBe('GET')
    expect(request.url).toBe('http://gateway.test:8080/chat?room=1')
    expect([...request.headers]).toEqual([
      ['cookie', 'c=1'],
      ['host', 'gateway.test:8080'],
      ['upgrade', 'websocket'],
      ['x-tag', 'a, b'],
    ])
  })

  it('uses the connection scheme, never the absolute-form target one, and the target authority over Host', () => {
    expect(requestOf(incoming('/x', ['Host', 'gateway.test'], true)).url).toBe('https://gateway.test/x')
    const absolute = requestOf(incoming('https://other.test/y', ['Host', 'gateway.test']))
    expect(absolute.url).toBe('http://other.test/y')
    expect(absolute.headers.get('host')).toBe('other.test')
  })

  it('drops the header lines the client named in Connection before the chain sees them, but never Upgrade or Host', () => {
    const request = requestOf(incoming('/x', ['Host', 'gw.test', 'Connection', 'Upgrade, X-Secret, host', 'X-Secret', 's', 'Upgrade', 'websocket']))
    expect(request.headers.get('x-secret')).toBeNull()
    expect(request.headers.get('upgrade')).toBe('websocket')
    expect(request.headers.get('host')).toBe('gw.test')
  })

  it('rejects with 400 ERR_HANDSHAKE_HOST when Host is missing or repeated', () => {
    for (const headers of [[], ['Host', 'a.test', 'Host', 'b.test']]) {
      let error: unknown
      try {
        requestOf(incoming('/x', headers))
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(GatewayError)
      expect(error).toMatchObject({ status: 400, code: 'ERR_HANDSHAKE_HOST' })
    }
  })
})
