import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.ts'
import { isValidHost, normalizePath, parseRequestHead, type RequestHeadInput } from '../../src/request-head.ts'

/** A valid upgrade head; `changes` override its parts. */
function head(changes: Partial<RequestHeadInput> = {}): RequestHeadInput {
  return {
    method: 'GET',
    target: '/chat',
    httpVersion: '1.1',
    rawHeaders: ['Host', 'gw.example', 'Upgrade', 'websocket', 'Connection', 'Upgrade'],
    scheme: 'http',
    upgrade: true,
    maxUriLength: 8192,
    maxHeaderSize: 16384,
    ...changes,
  }
}

function refusal(input: RequestHeadInput): GatewayError {
  try {
    parseRequestHead(input)
  } catch (error) {
    if (error instanceof GatewayError) return error
    throw error
  }
  throw new Error(`expected ${JSON.stringify(input.target)} to be refused`)
}

describe('isValidHost()', () => {
  const valid = ['gw.example', 'GW.Example:8080', 'a', 'localhost:1', '127.0.0.1', '10.0.0.1:65535', '[::1]', '[::1]:80', '[2001:db8::7]', '[::ffff:127.0.0.1]:8080', 'xn--bcher-kva.example', 'host:', 'a-b_c~d.example', 'example.com.']
  for (const host of valid) {
    it(`accepts ${JSON.stringify(host)}`, () => expect(isValidHost(host)).toBe(true))
  }
  const invalid = [
    '', ' ', 'evil/echo?', 'a@b', 'user:pass@gw.example', 'a?b', 'a#b', 'a b', 'a\tb', 'a\u0000b', 'gw.exämple', 'a\\b', '[::1', '::1]', '[::1]x', '[::1]:x',
    'a:b', 'a:80:80', 'a:65536', 'a:-1', 'a:+80', 'a%2fb', '256.0.0.1', '127.1', '0x7f.0.0.1', '2130706433', '1.2.3.04', '[fe80::1%25eth0]', '[v1.x]', '[1:2:3:4:5:6:7:8:9]', '[1::2::3]', '[:::]',
  ]
  for (const host of invalid) {
    it(`refuses ${JSON.stringify(host)}`, () => expect(isValidHost(host)).toBe(false))
  }
})

describe('normalizePath()', () => {
  const cases: [sent: string, normalised: string][] = [
    ['/', '/'],
    ['/chat', '/chat'],
    ['/chat/', '/chat/'],
    ['/a/../chat', '/chat'],
    ['/a/./chat', '/a/chat'],
    ['/../../chat', '/chat'],
    ['/a/..', '/'],
    ['/a/.', '/a/'],
    ['//chat', '/chat'],
    ['/a//b///', '/a/b/'],
    ['/%2e%2e/chat', '/chat'],
    ['/%2E/chat', '/chat'],
    ['/%63hat', '/chat'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%5cb', '/a%5Cb'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a b'.replace(' ', '"'), '/a%22b'],
    ['/a|b^c', '/a%7Cb%5Ec'],
    ['/x;v=1/chat', '/x;v=1/chat'],
    ['/file.tar.gz', '/file.tar.gz'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a..b/c', '/a..b/c'],
  ]
  for (const [sent, normalised] of cases) {
    it(`reads ${JSON.stringify(sent)} as ${JSON.stringify(normalised)}`, () => expect(normalizePath(sent)).toBe(normalised))
  }

  for (const path of ['/a/..%2Fadmin', '/a/..%2fadmin', '/a/..%5cadmin', '/a/%2e%2e%2fadmin', '/..;/admin', '/a/.;x/b', '/a/..%3B/admin', '/a/..%3bx/admin', '/a/.%3B/b', '/a/..%00/admin', '/a/.%00/b', '/a/%2e%2e%3B/admin', '/a/..%2Fx%3B/b', '/a\\..\\admin', '/a%zz', '/a%4', '/a%']) {
    it(`refuses ${JSON.stringify(path)} with ERR_HANDSHAKE_TARGET`, () => {
      expect(() => normalizePath(path)).toThrow(expect.objectContaining({ status: 400, code: 'ERR_HANDSHAKE_TARGET' }))
    })
  }
})

describe('parseRequestHead()', () => {
  it('builds the URL from the connection scheme, Host and the normalised target', () => {
    const parsed = parseRequestHead(head({ target: '/a/../%63hat?room=1', scheme: 'https' }))
    expect(parsed).toMatchObject({ url: 'https://gw.example/chat?room=1', target: '/chat?room=1' })
  })

  it('takes an absolute-form target’s authority over Host, and tells the chain that authority as Host (RFC 9112 §3.2.2)', () => {
    const parsed = parseRequestHead(head({ target: 'HTTP://Other.Example:8080/x?y', rawHeaders: ['Host', 'gw.example', 'X-A', '1'] }))
    expect(parsed.url).toBe('http://other.example:8080/x?y')
    expect(parsed.headers).toEqual(['Host', 'other.example:8080', 'X-A', '1'])
  })

  it('never lets Host contribute to the path', () => {
    expect(refusal(head({ target: '/nothing', rawHeaders: ['Host', 'evil/echo?'] }))).toMatchObject({ status: 400, code: 'ERR_HANDSHAKE_HOST' })
  })

  it('hands the chain the client’s own header list untouched when nothing is to remove', () => {
    const input = head()
    expect(parseRequestHead(input).headers).toBe(input.rawHeaders)
  })

  it('removes the headers Connection names, keeping Upgrade, Host and the framing headers', () => {
    const parsed = parseRequestHead(head({ rawHeaders: ['Host', 'gw', 'Connection', 'Upgrade, X-Hop, Host, keep-alive', 'X-Hop', 'secret', 'x-hop', 'again', 'Upgrade', 'websocket'] }))
    expect(parsed.headers).toEqual(['Host', 'gw', 'Connection', 'Upgrade, X-Hop, Host, keep-alive', 'Upgrade', 'websocket'])
  })

  const refusals: [label: string, changes: Partial<RequestHeadInput>, status: number, code: string][] = [
    ['no Host', { rawHeaders: ['Upgrade', 'websocket'] }, 400, 'ERR_HANDSHAKE_HOST'],
    ['two Host lines', { rawHeaders: ['Host', 'a', 'host', 'a'] }, 400, 'ERR_HANDSHAKE_HOST'],
    ['Host with credentials', { rawHeaders: ['Host', 'user:secret@gw'] }, 400, 'ERR_HANDSHAKE_HOST'],
    ['asterisk-form', { target: '*' }, 400, 'ERR_HANDSHAKE_TARGET'],
    ['authority-form', { target: 'gw.example:443' }, 400, 'ERR_HANDSHAKE_TARGET'],
    ['a ws: absolute target', { target: 'ws://gw.example/chat' }, 400, 'ERR_HANDSHAKE_TARGET'],
    ['userinfo in an absolute target', { target: 'http://u:p@gw.example/chat' }, 400, 'ERR_HANDSHAKE_TARGET'],
    ['an absolute target with a bad authority', { target: 'http://256.1.1.1/chat' }, 400, 'ERR_HANDSHAKE_TARGET'],
    ['a fragment', { target: '/chat#x' }, 400, 'ERR_HANDSHAKE_TARGET'],
    ['a target over maxUriLength', { target: `/${'a'.repeat(100)}`, maxUriLength: 100 }, 414, 'ERR_HANDSHAKE_URI_TOO_LONG'],
    ['a header section over maxHeaderSize', { rawHeaders: ['Host', 'gw', 'X-Big', 'x'.repeat(200)], maxHeaderSize: 100 }, 431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE'],
    ['Transfer-Encoding on an upgrade', { rawHeaders: ['Host', 'gw', 'Transfer-Encoding', 'chunked'] }, 400, 'ERR_HANDSHAKE_FRAMING'],
    ['Content-Length: 5 on an upgrade', { rawHeaders: ['Host', 'gw', 'Content-Length', '5'] }, 400, 'ERR_HANDSHAKE_FRAMING'],
    ['Transfer-Encoding: gzip on a POST', { method: 'POST', upgrade: false, rawHeaders: ['Host', 'gw', 'Transfer-Encoding', 'gzip'] }, 400, 'ERR_HANDSHAKE_FRAMING'],
    ['Transfer-Encoding: chunked, gzip on a POST', { method: 'POST', upgrade: false, rawHeaders: ['Host', 'gw', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'gzip'] }, 400, 'ERR_HANDSHAKE_FRAMING'],
    ['Transfer-Encoding with Content-Length', { method: 'POST', upgrade: false, rawHeaders: ['Host', 'gw', 'Transfer-Encoding', 'chunked', 'Content-Length', '3'] }, 400, 'ERR_HANDSHAKE_FRAMING'],
    ['Transfer-Encoding on HTTP/1.0', { method: 'POST', upgrade: false, httpVersion: '1.0', rawHeaders: ['Host', 'gw', 'Transfer-Encoding', 'chunked'] }, 400, 'ERR_HANDSHAKE_FRAMING'],
    ['two different Content-Length values', { method: 'POST', upgrade: false, rawHeaders: ['Host', 'gw', 'Content-Length', '3', 'Content-Length', '4'] }, 400, 'ERR_HANDSHAKE_FRAMING'],
    ['a Content-Length list', { method: 'POST', upgrade: false, rawHeaders: ['Host', 'gw', 'Content-Length', '3, 3'] }, 400, 'ERR_HANDSHAKE_FRAMING'],
    ['HTTP/1.0 on an upgrade', { httpVersion: '1.0' }, 400, 'ERR_HANDSHAKE_HTTP_VERSION'],
    ['HTTP/2.0 on an upgrade', { httpVersion: '2.0' }, 400, 'ERR_HANDSHAKE_HTTP_VERSION'],
    ['HTTP/2.0 on a plain request', { httpVersion: '2.0', upgrade: false }, 505, 'ERR_HANDSHAKE_HTTP_VERSION'],
    ['TRACE', { method: 'TRACE', upgrade: false }, 501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED'],
    ['TRACK', { method: 'TRACK' }, 501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED'],
    ['CONNECT', { method: 'CONNECT', upgrade: false, target: 'gw.example:443' }, 501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED'],
    ['a Connection token that is no header name', { rawHeaders: ['Host', 'gw', 'Connection', 'upgrade, x y'] }, 400, 'ERR_HANDSHAKE_CONNECTION'],
  ]
  for (const [label, changes, status, code] of refusals) {
    it(`refuses ${label} with ${status} ${code}`, () => {
      const error = refusal(head(changes))
      expect({ status: error.status, code: error.code }).toEqual({ status, code })
      expect(error.message).not.toMatch(/secret|u:p/)
    })
  }

  it('accepts Content-Length: 0 on an upgrade and a chunked POST', () => {
    expect(() => parseRequestHead(head({ rawHeaders: ['Host', 'gw', 'Content-Length', '0'] }))).not.toThrow()
    expect(() => parseRequestHead(head({ method: 'POST', upgrade: false, rawHeaders: ['Host', 'gw', 'Transfer-Encoding', 'Chunked'] }))).not.toThrow()
  })

  it('serialises the query as WHATWG URL does, so the target the WAF reads is the one the origin gets', () => {
    const parsed = parseRequestHead(head({ target: "/q?a='1'&b=%zz&c=\"" }))
    expect(parsed.target).toBe('/q?a=%271%27&b=%zz&c=%22')
    expect(new URL(parsed.url).search).toBe('?a=%271%27&b=%zz&c=%22')
  })
})
