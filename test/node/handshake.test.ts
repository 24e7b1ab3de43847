import { once } from 'node:events'
import net from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { expectNoOpenSockets, logsWith, routesApp, startGateway, waitFor, type TestGateway } from '../helpers/gateway.ts'
import {
  acceptKey,
  startRawOrigin,
  startWsOrigin,
  switchingProtocols,
  type RawOrigin,
  type RawOriginConnection,
  type WsOrigin,
} from '../helpers/origins.ts'
import { handshakeRequest, parseResponse, rawExchange, TEST_KEY, type RawResponse } from '../helpers/raw-client.ts'
import { echoOnce } from '../helpers/resources.ts'

/** Largest request header section the gateway accepts by default (DEFAULT_MAX_HEADER_SIZE). */
const MAX_HEADER_SIZE = 16 * 1024

/**
 * Sends raw bytes and reads one response without waiting for the gateway to
 * close: a 101 (the head is the whole answer), or a keep-alive answer framed
 * by Content-Length or chunked encoding (the body is returned decoded).
 * Responses framed by the close are read until the close. The socket is
 * destroyed once the response is complete.
 */
function readOneResponse(port: number, request: string, timeoutMs = 5_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = Buffer.alloc(0)
    let done = false
    const finish = (response: RawResponse): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(response)
    }
    const timer = setTimeout(() => {
      done = true
      socket.destroy()
      reject(new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(received.toString('latin1').slice(0, 200))}`))
    }, timeoutMs)
    socket.on('connect', () => socket.write(request))
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const response = parseResponse(received)
      if (!received.includes('\r\n\r\n')) return
      if (response.status === 101 || response.status === 204 || response.status === 304) return finish(response)
      const length = response.headers['content-length']
      if (length !== undefined && Buffer.byteLength(response.body, 'latin1') >= Number(length)) return finish(response)
      if (/chunked/i.test(response.headers['transfer-encoding'] ?? '')) {
        const body = decodeChunked(response.body)
        if (body !== undefined) finish({ ...response, body })
      }
    })
    socket.on('close', () => finish(parseResponse(received)))
  })
}

/** Decodes a complete chunked body; undefined while the last chunk has not arrived. */
function decodeChunked(encoded: string): string | undefined {
  let body = ''
  let at = 0
  for (;;) {
    const lineEnd = encoded.indexOf('\r\n', at)
    if (lineEnd < 0) return undefined
    const size = Number.parseInt(encoded.slice(at, lineEnd), 16)
    if (size === 0) return body
    if (encoded.length < lineEnd + 2 + size + 2) return undefined
    body += encoded.slice(lineEnd + 2, lineEnd + 2 + size)
    at = lineEnd + 2 + size + 2
  }
}

/** Every value of the header `name` (lower-cased) in a head, in order: the parsed maps keep only the last. */
function headerLines(head: string, name: string): string[] {
  return head
    .split('\r\n')
    .slice(1)
    .filter((line) => line.slice(0, line.indexOf(':')).trim().toLowerCase() === name)
    .map((line) => line.slice(line.indexOf(':') + 1).trim())
}

/** Every value of a response header, in order (the parsed map keeps only the last). */
function headerValues(response: RawResponse, name: string): string[] {
  const text = response.raw.toString('latin1')
  return headerLines(text.slice(0, text.indexOf('\r\n\r\n')), name)
}

/** Header lines of a request head with the given name (lower-cased), to see repeats and exact values. */
function requestHeaderLines(connection: RawOriginConnection, name: string): string[] {
  return headerLines(connection.requestHead, name)
}

/** Asserts a gateway rejection: status, code header, and a one-line plain-text reason. */
function expectRejection(response: RawResponse, status: number, code: string, reason: RegExp): void {
  expect(response.status, response.statusLine).toBe(status)
  expect(response.headers['x-wsgate-error']).toBe(code)
  expect(response.headers['content-type']).toMatch(/^text\/plain/)
  expect(response.body).toMatch(reason)
  expect(response.body.trimEnd().split('\n')).toHaveLength(1)
}

/** Waits for the gateway's 'handshake rejected' log line with this status and code. */
async function expectRejectionLogged(gateway: TestGateway, status: number, code: string): Promise<void> {
  const matches = (): boolean => logsWith(gateway, 'handshake rejected').some((line) => line.status === status && line.code === code)
  await waitFor(matches, 2_000, `a 'handshake rejected' log line with ${status} ${code}`).catch(() => {})
  expect(logsWith(gateway, 'handshake rejected')).toContainEqual(expect.objectContaining({ status, code, client: '127.0.0.1' }))
}

/**
 * After a case: the gateway still serves a normal client and holds no
 * socket; then it and the origins are closed, whatever the checks found.
 */
async function expectStillServingThenClose(gateway: TestGateway, origins: { close(): Promise<void> }[]): Promise<void> {
  try {
    await expectEchoRoundTrip(gateway)
    await expectNoOpenSockets(gateway)
  } finally {
    await gateway.close()
    await Promise.all(origins.map((origin) => origin.close()))
  }
}

/** Opens a ws client through the gateway, echoes one message and closes: the gateway still serves normal clients. */
function expectEchoRoundTrip(gateway: TestGateway): Promise<void> {
  return echoOnce(`${gateway.wsUrl}/echo`, 'still serving')
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Writes a complete HTTP response from a raw origin and ends its side. */
function answerWith(lines: string[], body = ''): (connection: RawOriginConnection) => void {
  return ({ socket }) => {
    socket.end([...lines, '', ''].join('\r\n') + body)
  }
}

describe('handshake through a real gateway', () => {
  let echoOrigin: WsOrigin
  let rawOrigin: RawOrigin
  let silentOrigin: RawOrigin
  let gateway: TestGateway
  /** How the raw origin behind /raw answers; each test sets it. Defaults to a correct 101. */
  let answer: (connection: RawOriginConnection) => void

  beforeEach(async () => {
    answer = (connection) => connection.socket.write(switchingProtocols(connection))
    // The echo origin picks chat.v1 when offered, so a real ws client can negotiate through the gateway.
    echoOrigin = await startWsOrigin(undefined, { handleProtocols: (offered) => (offered.has('chat.v1') ? 'chat.v1' : false) })
    rawOrigin = await startRawOrigin((connection) => answer(connection))
    silentOrigin = await startRawOrigin(() => {})
    const app = routesApp({
      '/echo': echoOrigin.url,
      '/raw': rawOrigin.url,
      '/refused': `ws://127.0.0.1:${await closedPort()}`,
      '/silent': [silentOrigin.url, { handshakeTimeout: 200 }],
    })
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    // After every case, rejected or not, the same gateway serves a normal client and holds no socket.
    await expectStillServingThenClose(gateway, [echoOrigin, rawOrigin, silentOrigin])
  })

  describe('client handshake checks', () => {
    it('rejects a POST upgrade with 405, ERR_HANDSHAKE_METHOD and Allow: GET', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/echo', {}, 'POST /echo HTTP/1.1'))
      expectRejection(response, 405, 'ERR_HANDSHAKE_METHOD', /must use GET, not POST/)
      expect(response.headers.allow).toBe('GET')
      await expectRejectionLogged(gateway, 405, 'ERR_HANDSHAKE_METHOD')
      expect(echoOrigin.sockets).toHaveLength(0)
    })

    it('rejects an HTTP/1.0 upgrade with 400 and ERR_HANDSHAKE_HTTP_VERSION', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/echo', {}, 'GET /echo HTTP/1.0'))
      expectRejection(response, 400, 'ERR_HANDSHAKE_HTTP_VERSION', /needs HTTP\/1\.1, got HTTP\/1\.0/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_HTTP_VERSION')
    })

    it('rejects a handshake without Host with 400 and ERR_HANDSHAKE_HOST', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/echo', { Host: null }))
      expectRejection(response, 400, 'ERR_HANDSHAKE_HOST', /missing Host header/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_HOST')
    })

    it('rejects a handshake without Upgrade with 400 and ERR_HANDSHAKE_UPGRADE', async () => {
      // Without Upgrade, Node hands the request to the plain HTTP path; the route still rejects it.
      const response = await readOneResponse(gateway.port, handshakeRequest('/echo', { Upgrade: null }))
      expectRejection(response, 400, 'ERR_HANDSHAKE_UPGRADE', /missing or invalid Upgrade header/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_UPGRADE')
      // The plain HTTP path carries the request id too, and it is the one in the log line.
      const [line] = logsWith(gateway, 'handshake rejected')
      expect(response.headers['x-request-id']).toBe(line!.reqId)
    })

    it('rejects Upgrade: h2c with 400 and ERR_HANDSHAKE_UPGRADE', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/echo', { Upgrade: 'h2c' }))
      expectRejection(response, 400, 'ERR_HANDSHAKE_UPGRADE', /missing or invalid Upgrade header: expected "websocket"/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_UPGRADE')
      expect(echoOrigin.sockets).toHaveLength(0)
    })

    it('rejects a handshake without Connection with 400 and ERR_HANDSHAKE_CONNECTION', async () => {
      const response = await readOneResponse(gateway.port, handshakeRequest('/echo', { Connection: null }))
      expectRejection(response, 400, 'ERR_HANDSHAKE_CONNECTION', /missing or invalid Connection header/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_CONNECTION')
    })

    it('rejects Connection: keep-alive (no upgrade token) with 400 and ERR_HANDSHAKE_CONNECTION', async () => {
      const response = await readOneResponse(gateway.port, handshakeRequest('/echo', { Connection: 'keep-alive' }))
      expectRejection(response, 400, 'ERR_HANDSHAKE_CONNECTION', /missing or invalid Connection header: expected "upgrade"/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_CONNECTION')
    })

    it('rejects a handshake without Sec-WebSocket-Key with 400 and ERR_HANDSHAKE_INVALID_KEY', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/echo', { 'Sec-WebSocket-Key': null }))
      expectRejection(response, 400, 'ERR_HANDSHAKE_INVALID_KEY', /Sec-WebSocket-Key header: expected base64 of 16 bytes/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_INVALID_KEY')
    })

    it('rejects a Sec-WebSocket-Key that is not base64 with 400 and ERR_HANDSHAKE_INVALID_KEY', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/echo', { 'Sec-WebSocket-Key': 'not-base64-at-all!!!!!==' }))
      expectRejection(response, 400, 'ERR_HANDSHAKE_INVALID_KEY', /Sec-WebSocket-Key/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_INVALID_KEY')
    })

    for (const bytes of [15, 17, 32]) {
      it(`rejects a Sec-WebSocket-Key of ${bytes} bytes with 400 and ERR_HANDSHAKE_INVALID_KEY`, async () => {
        const key = Buffer.alloc(bytes, 0x5a).toString('base64')
        const response = await rawExchange(gateway.port, handshakeRequest('/echo', { 'Sec-WebSocket-Key': key }))
        expectRejection(response, 400, 'ERR_HANDSHAKE_INVALID_KEY', /base64 of 16 bytes/)
        await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_INVALID_KEY')
      })
    }

    for (const [label, version] of [
      ['Sec-WebSocket-Version: 8', '8'],
      ['no Sec-WebSocket-Version', null],
    ] as const) {
      it(`rejects ${label} with 426, ERR_HANDSHAKE_VERSION and Sec-WebSocket-Version: 13`, async () => {
        const response = await rawExchange(gateway.port, handshakeRequest('/echo', { 'Sec-WebSocket-Version': version }))
        expectRejection(response, 426, 'ERR_HANDSHAKE_VERSION', /unsupported Sec-WebSocket-Version: expected 13/)
        expect(response.headers['sec-websocket-version']).toBe('13')
        await expectRejectionLogged(gateway, 426, 'ERR_HANDSHAKE_VERSION')
      })
    }

    it('rejects a request header section over 16 KiB with 431 and ERR_HANDSHAKE_HEADERS_TOO_LARGE', async () => {
      const request = handshakeRequest('/raw', { 'X-Pad': 'a'.repeat(MAX_HEADER_SIZE + 256) })
      const response = await rawExchange(gateway.port, request)
      expectRejection(response, 431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE', /request header section exceeds 16384 bytes/)
      await expectRejectionLogged(gateway, 431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE')
      expect(rawOrigin.connections).toHaveLength(0)
    })

    it('accepts a request header section just under 16 KiB and forwards it whole', async () => {
      const base = handshakeRequest('/raw', { 'X-Pad': '' })
      const pad = 'a'.repeat(MAX_HEADER_SIZE - 256 - base.length)
      const request = handshakeRequest('/raw', { 'X-Pad': pad })
      expect(request.length).toBe(MAX_HEADER_SIZE - 256)
      const response = await readOneResponse(gateway.port, request)
      expect(response.status, response.statusLine).toBe(101)
      expect(rawOrigin.connections[0]?.headers['x-pad']).toBe(pad)
    })

    it('rejects a malformed request line with 400 and ERR_HANDSHAKE_MALFORMED', async () => {
      const response = await rawExchange(gateway.port, 'GET /echo HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n')
      expectRejection(response, 400, 'ERR_HANDSHAKE_MALFORMED', /malformed HTTP request/)
      await expectRejectionLogged(gateway, 400, 'ERR_HANDSHAKE_MALFORMED')
    })
  })

  describe('accepted handshakes', () => {
    for (const [label, overrides] of [
      ['Connection: keep-alive, Upgrade', { Connection: 'keep-alive, Upgrade' }],
      ['Connection: UPGRADE', { Connection: 'UPGRADE' }],
      ['Upgrade: WebSocket', { Upgrade: 'WebSocket' }],
      ['Upgrade: WEBSOCKET with Connection: Upgrade, keep-alive', { Upgrade: 'WEBSOCKET', Connection: 'Upgrade, keep-alive' }],
    ] as const) {
      it(`upgrades a client sending ${label} (tokens are case-insensitive and may be listed)`, async () => {
        const response = await readOneResponse(gateway.port, handshakeRequest('/echo', overrides))
        expect(response.status, response.statusLine).toBe(101)
        expect(response.headers['sec-websocket-accept']).toBe(acceptKey(TEST_KEY))
        expect(response.headers.upgrade?.toLowerCase()).toBe('websocket')
        expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
      })

      it(`sends the origin canonical Upgrade: websocket and Connection: upgrade when the client sent ${label}`, async () => {
        const response = await readOneResponse(gateway.port, handshakeRequest('/raw', overrides))
        expect(response.status, response.statusLine).toBe(101)
        const [connection] = rawOrigin.connections
        expect(connection).toBeDefined()
        expect(requestHeaderLines(connection!, 'upgrade')).toEqual(['websocket'])
        expect(requestHeaderLines(connection!, 'connection')).toEqual(['upgrade'])
      })
    }

    it('does not forward Keep-Alive, Proxy-Connection or headers named in Connection, and keeps end-to-end headers', async () => {
      const request = handshakeRequest('/raw', {
        Connection: 'keep-alive, Upgrade, X-Hop-Secret',
        'Keep-Alive': 'timeout=5',
        'Proxy-Connection': 'keep-alive',
        'X-Hop-Secret': 'for the gateway only',
        'X-End-To-End': 'for the origin',
        'Sec-WebSocket-Protocol': 'chat.v1',
      })
      const response = await readOneResponse(gateway.port, request)
      expect(response.status, response.statusLine).toBe(101)
      const connection = rawOrigin.connections[0]!
      expect(connection.headers).not.toHaveProperty('keep-alive')
      expect(connection.headers).not.toHaveProperty('proxy-connection')
      expect(connection.headers).not.toHaveProperty('x-hop-secret')
      expect(connection.headers['x-end-to-end']).toBe('for the origin')
      expect(connection.headers['sec-websocket-key']).toBe(TEST_KEY)
      expect(connection.headers['sec-websocket-version']).toBe('13')
      expect(connection.headers['sec-websocket-protocol']).toBe('chat.v1')
    })

    it("sends the origin's own host as Host and the client's path in the request line", async () => {
      const response = await readOneResponse(gateway.port, handshakeRequest('/raw?room=1', { Host: 'public.example' }))
      expect(response.status, response.statusLine).toBe(101)
      const connection = rawOrigin.connections[0]!
      expect(requestHeaderLines(connection, 'host')).toEqual([`127.0.0.1:${rawOrigin.port}`])
      expect(connection.requestHead.split('\r\n')[0]).toBe('GET /raw?room=1 HTTP/1.1')
    })

    it('answers 101 with the subprotocol the origin chose from those offered', async () => {
      answer = (connection) => connection.socket.write(switchingProtocols(connection, ['Sec-WebSocket-Protocol: chat.v1']))
      const response = await readOneResponse(gateway.port, handshakeRequest('/raw', { 'Sec-WebSocket-Protocol': 'chat.v2, chat.v1' }))
      expect(response.status, response.statusLine).toBe(101)
      expect(response.headers['sec-websocket-protocol']).toBe('chat.v1')
      expect(response.headers['sec-websocket-accept']).toBe(acceptKey(TEST_KEY))
      expect(logsWith(gateway, 'handshake accepted')).toContainEqual(expect.objectContaining({ route: '/raw', status: 101 }))
    })

    it('opens a ws client with the subprotocol a ws origin chose', async () => {
      const client = new WebSocket(`${gateway.wsUrl}/echo`, ['chat.v2', 'chat.v1'])
      await once(client, 'open')
      expect(client.protocol).toBe('chat.v1')
      expect(echoOrigin.sockets[0]?.protocol).toBe('chat.v1')
      client.close(1000)
      await once(client, 'close')
    })
  })

  describe("checks of the origin's 101", () => {
    it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE when the origin sends a wrong Sec-WebSocket-Accept, and drops the origin', async () => {
      answer = ({ socket }) =>
        socket.write(
          ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey('wrong')}`, '', ''].join('\r\n'),
        )
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /Sec-WebSocket-Accept does not match the key/)
      await expectRejectionLogged(gateway, 502, 'ERR_ORIGIN_BAD_HANDSHAKE')
      await waitFor(() => rawOrigin.sockets.size === 0, 5_000, 'the gateway to drop the origin connection')
    })

    it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE when the origin picks a subprotocol the client did not offer', async () => {
      answer = (connection) => connection.socket.write(switchingProtocols(connection, ['Sec-WebSocket-Protocol: chat.v3']))
      const response = await rawExchange(gateway.port, handshakeRequest('/raw', { 'Sec-WebSocket-Protocol': 'chat.v2, chat.v1' }))
      expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /subprotocol "chat.v3" was not offered/)
      await expectRejectionLogged(gateway, 502, 'ERR_ORIGIN_BAD_HANDSHAKE')
      await waitFor(() => rawOrigin.sockets.size === 0, 5_000, 'the gateway to drop the origin connection')
    })

    it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE when the origin picks a subprotocol although none was offered', async () => {
      answer = (connection) => connection.socket.write(switchingProtocols(connection, ['Sec-WebSocket-Protocol: chat.v1']))
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /subprotocol "chat.v1" was not offered/)
      await expectRejectionLogged(gateway, 502, 'ERR_ORIGIN_BAD_HANDSHAKE')
    })

    it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE when the origin enables an extension the client did not offer', async () => {
      answer = (connection) => connection.socket.write(switchingProtocols(connection, ['Sec-WebSocket-Extensions: permessage-deflate']))
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /extension "permessage-deflate" was not offered/)
      await expectRejectionLogged(gateway, 502, 'ERR_ORIGIN_BAD_HANDSHAKE')
    })

    it('relays an extension the client offered and the origin accepted', async () => {
      answer = (connection) =>
        connection.socket.write(switchingProtocols(connection, ['Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover']))
      const response = await readOneResponse(gateway.port, handshakeRequest('/raw', { 'Sec-WebSocket-Extensions': 'permessage-deflate' }))
      expect(response.status, response.statusLine).toBe(101)
      expect(response.headers['sec-websocket-extensions']).toBe('permessage-deflate; server_no_context_takeover')
    })
  })

  describe('non-101 origin answers', () => {
    it('relays a 403 with its body and custom header and closes, even when the origin keeps its connection open', async () => {
      const body = 'tenant suspended\n'
      // No end(): the origin keeps its side open after a complete Content-Length response.
      answer = ({ socket }) =>
        socket.write(
          ['HTTP/1.1 403 Forbidden', 'Content-Type: text/plain', `Content-Length: ${body.length}`, 'X-Origin-Reason: suspended', '', ''].join('\r\n') + body,
        )
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expect(response.statusLine).toBe('HTTP/1.1 403 Forbidden')
      expect(response.headers['x-origin-reason']).toBe('suspended')
      expect(response.headers['content-type']).toBe('text/plain')
      expect(response.headers.connection).toBe('close')
      expect(response.body).toBe(body)
      expect(logsWith(gateway, 'handshake rejected')).toContainEqual(expect.objectContaining({ route: '/raw', status: 403 }))
    })

    it('relays a 302 with its Location', async () => {
      answer = answerWith(['HTTP/1.1 302 Found', 'Location: https://login.example/?next=%2Fraw', 'Content-Length: 0'])
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expect(response.status).toBe(302)
      expect(response.headers.location).toBe('https://login.example/?next=%2Fraw')
      expect(response.body).toBe('')
    })

    it('relays a 200 with its body instead of upgrading', async () => {
      answer = answerWith(['HTTP/1.1 200 OK', 'Content-Type: application/json', 'Content-Length: 11'], '{"ok":true}')
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expect(response.status).toBe(200)
      expect(response.headers['content-type']).toBe('application/json')
      expect(response.headers).not.toHaveProperty('upgrade')
      expect(response.body).toBe('{"ok":true}')
    })

    it('relays a chunked body whole, delimited by the close', async () => {
      const chunks = ['first part, ', 'second part, ', 'last part']
      const encoded = chunks.map((chunk) => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('') + '0\r\n\r\n'
      answer = answerWith(['HTTP/1.1 503 Service Unavailable', 'Transfer-Encoding: chunked', 'Retry-After: 30'], encoded)
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expect(response.status).toBe(503)
      expect(response.headers['retry-after']).toBe('30')
      // The gateway relays the decoded body and ends it with the close, so no chunked framing reaches the client.
      expect(response.headers).not.toHaveProperty('transfer-encoding')
      expect(response.headers.connection).toBe('close')
      expect(response.body).toBe(chunks.join(''))
    })

    it('relays a 204 without a body', async () => {
      answer = answerWith(['HTTP/1.1 204 No Content', 'X-Origin: yes'])
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expect(response.status).toBe(204)
      expect(response.headers['x-origin']).toBe('yes')
      expect(response.body).toBe('')
    })

    it('relays every Set-Cookie of a response, in order', async () => {
      answer = answerWith([
        'HTTP/1.1 401 Unauthorized',
        'Set-Cookie: session=; Max-Age=0; Path=/',
        'Set-Cookie: csrf=abc; Path=/; HttpOnly',
        'Set-Cookie: theme=dark',
        'Content-Length: 0',
      ])
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expect(response.status).toBe(401)
      expect(headerValues(response, 'set-cookie')).toEqual(['session=; Max-Age=0; Path=/', 'csrf=abc; Path=/; HttpOnly', 'theme=dark'])
    })

    it('answers 502 ERR_ORIGIN_UNAVAILABLE when the origin refuses the connection', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/refused'))
      expectRejection(response, 502, 'ERR_ORIGIN_UNAVAILABLE', /origin unavailable \(ECONNREFUSED\)/)
      await expectRejectionLogged(gateway, 502, 'ERR_ORIGIN_UNAVAILABLE')
    })

    it('answers 502 ERR_ORIGIN_UNAVAILABLE when the origin closes without answering', async () => {
      answer = ({ socket }) => socket.destroy()
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expectRejection(response, 502, 'ERR_ORIGIN_UNAVAILABLE', /origin unavailable/)
      await expectRejectionLogged(gateway, 502, 'ERR_ORIGIN_UNAVAILABLE')
    })

    it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE when the origin answers with something that is not HTTP', async () => {
      answer = ({ socket }) => socket.end('SSH-2.0-OpenSSH_9.6\r\n')
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /not an HTTP response/)
    })

    it('answers 504 ERR_ORIGIN_TIMEOUT when the origin accepts the connection but never answers, and drops it', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/silent'))
      expectRejection(response, 504, 'ERR_ORIGIN_TIMEOUT', /origin did not answer the upgrade within 200 ms/)
      await expectRejectionLogged(gateway, 504, 'ERR_ORIGIN_TIMEOUT')
      expect(silentOrigin.connections).toHaveLength(1)
      await waitFor(() => silentOrigin.sockets.size === 0, 5_000, 'the gateway to drop the silent origin connection')
    })
  })

  it('logs each rejection with its route, status, code and request id', async () => {
    const response = await rawExchange(gateway.port, handshakeRequest('/echo', { 'Sec-WebSocket-Version': '8' }))
    expect(response.status).toBe(426)
    await expectRejectionLogged(gateway, 426, 'ERR_HANDSHAKE_VERSION')
    const [line] = logsWith(gateway, 'handshake rejected')
    expect(line).toMatchObject({ route: '/echo', origin: echoOrigin.url, status: 426, code: 'ERR_HANDSHAKE_VERSION', reqId: response.headers['x-request-id'] })
    expect(logsWith(gateway, 'handshake accepted')).toHaveLength(0)
  })
})

describe('client handshake timeout', () => {
  let echoOrigin: WsOrigin
  let gateway: TestGateway

  beforeEach(async () => {
    echoOrigin = await startWsOrigin()
    gateway = await startGateway(routesApp({ '/echo': echoOrigin.url }), { handshakeTimeout: 300 })
  })

  afterEach(async () => {
    await expectStillServingThenClose(gateway, [echoOrigin])
  })

  it('closes a client that does not finish its headers in time, with 408 and ERR_HANDSHAKE_TIMEOUT', async () => {
    const partial = handshakeRequest('/echo').replace(/\r\n\r\n$/, '\r\n')
    // rawExchange resolves only when the gateway closes the connection.
    const response = await rawExchange(gateway.port, partial)
    expectRejection(response, 408, 'ERR_HANDSHAKE_TIMEOUT', /request headers not received within 300 ms/)
    expect(response.headers.connection).toBe('close')
    await expectRejectionLogged(gateway, 408, 'ERR_HANDSHAKE_TIMEOUT')
    expect(echoOrigin.sockets).toHaveLength(0)
  })

  it('closes a client that connects and sends nothing, with 408 and ERR_HANDSHAKE_TIMEOUT', async () => {
    const response = await rawExchange(gateway.port, '')
    expectRejection(response, 408, 'ERR_HANDSHAKE_TIMEOUT', /request headers not received/)
    await expectRejectionLogged(gateway, 408, 'ERR_HANDSHAKE_TIMEOUT')
  })
})
