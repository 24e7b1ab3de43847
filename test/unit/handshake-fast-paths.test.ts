import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { forwardHeaders } from '../../src/forward.ts'
import { acceptFor, acceptValue, checkOriginUpgrade, type ClientHandshake } from '../../src/handshake.ts'
import { hasToken, headerTokens } from '../../src/headers.ts'

/**
 * The shortcuts the handshake path takes for speed must answer exactly what
 * the general code answers: these compare them with it, or with node:crypto.
 */

/** RFC 6455 §4.2.2 item 5.4, computed with node:crypto. */
function referenceAccept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
}

describe('acceptValue()', () => {
  it('matches node:crypto for valid keys, one after another (the input buffer is reused)', () => {
    for (let i = 0; i < 50; i++) {
      const key = randomBytes(16).toString('base64')
      expect(acceptValue(key), key).toBe(referenceAccept(key))
    }
  })

  it('matches node:crypto for keys that are not 16-byte nonces (any length, non-ASCII)', () => {
    for (const key of ['', 'short', ' dGhlIHNhbXBsZSBub25jZQ== ', 'x'.repeat(100), 'clé-ünïcode']) {
      expect(acceptValue(key), key).toBe(createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`, 'utf8').digest('base64'))
    }
  })

  it('gives what the asynchronous acceptFor() gives', async () => {
    const key = randomBytes(16).toString('base64')
    expect(acceptValue(key)).toBe(await acceptFor(key))
  })
})

describe('checkOriginUpgrade()', () => {
  const client: ClientHandshake = { key: 'dGhlIHNhbXBsZSBub25jZQ==', protocols: [], extensions: [] }

  it('accepts a correct 101 synchronously and throws ERR_ORIGIN_BAD_HANDSHAKE for a wrong accept', () => {
    const headers = new Headers({ upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' })
    expect(checkOriginUpgrade(client, headers)).toBeUndefined()
    headers.set('sec-websocket-accept', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=')
    expect(() => checkOriginUpgrade(client, headers)).toThrow(expect.objectContaining({ status: 502, code: 'ERR_ORIGIN_BAD_HANDSHAKE' }))
  })
})

describe('hasToken()', () => {
  it('answers as the token list does, with or without the single-token shortcut', () => {
    const values = [null, '', 'websocket', 'WebSocket', 'WEBSOCKET', ' websocket', 'websocke', 'websockets', 'websocket, h2c', 'h2c,WebSocket', 'h2c', 'Upgrade', 'keep-alive, Upgrade', 'upgradE']
    for (const value of values) {
      for (const token of ['websocket', 'upgrade']) {
        expect(hasToken(value, token), `${String(value)} / ${token}`).toBe(headerTokens(value).includes(token))
      }
    }
  })
})

describe('forwardHeaders()', () => {
  function request(headers: [string, string][]): Request {
    return new Request('http://gateway.test/chat', { headers })
  }

  it('keeps end-to-end headers (repeats joined as Headers joins them) and drops hop-by-hop ones; Connection-named ones are left to the head parse', () => {
    const forwarded = forwardHeaders(
      request([
        ['Host', 'gateway.test'],
        ['Connection', 'Upgrade, X-Hop'],
        ['Upgrade', 'websocket'],
        ['Keep-Alive', 'timeout=5'],
        ['Proxy-Authorization', 'Basic x'],
        ['TE', 'trailers'],
        ['X-Hop', 'named by Connection'],
        ['Cookie', 'a=1'],
        ['X-Repeated', 'one'],
        ['X-Repeated', 'two'],
        ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      ]),
      new URL('http://origin.test:9001/chat'),
      false,
    )
    expect([...forwarded]).toEqual([
      ['cookie', 'a=1'],
      ['host', 'origin.test:9001'],
      ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      // The head parse removed what the client named before the chain ran; what is left here was set by the chain.
      ['x-hop', 'named by Connection'],
      ['x-repeated', 'one, two'],
    ])
  })

  it("keeps the client's Host when asked to, else sends the origin's", () => {
    const target = new URL('http://origin.test/')
    expect(forwardHeaders(request([['Host', 'gateway.test']]), target, true).get('host')).toBe('gateway.test')
    expect(forwardHeaders(request([['Host', 'gateway.test'], ['Connection', 'host']]), target, true).get('host')).toBe('gateway.test')
    expect(forwardHeaders(request([['Host', 'gateway.test'], ['Connection', 'host']]), target, false).get('host')).toBe('origin.test')
  })
})
