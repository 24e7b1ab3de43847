import { once } from 'node:events'
import type { IncomingHttpHeaders } from 'node:http'
import net from 'node:net'
import { Hono } from 'hono'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { normalizeHeaders } from '../../middleware/normalize-headers.ts'
import { websocket, type ForwardingVariables, type GatewayBindings } from '../../src/index.ts'
import { expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startRawOrigin, startWsOrigin, switchingProtocols, type RawOrigin, type RawOriginConnection, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, parseResponse, rawExchange, readHead, type RawResponse } from '../helpers/raw-client.ts'
import { echoOnce } from '../helpers/resources.ts'

/**
 * Sends a raw request and resolves with the response head (a 101 keeps the
 * connection open, so this does not wait for a close), then drops the connection.
 */
async function headOf(port: number, request: string): Promise<RawResponse> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  try {
    await once(socket, 'connect')
    socket.write(request)
    const { head } = await readHead(socket)
    return parseResponse(Buffer.from(`${head}\r\n\r\n`, 'latin1'))
  } finally {
    socket.destroy()
  }
}

/** Every value of a request header as it arrived at the origin, in order (one per line). */
function headerLines(connection: RawOriginConnection, name: string): string[] {
  return connection.requestHead
    .split('\r\n')
    .slice(1)
    .filter((line) => line.slice(0, line.indexOf(':')).trim().toLowerCase() === name)
    .map((line) => line.slice(line.indexOf(':') + 1).trim())
}

/** A plain HTTP/1.1 request that asks the gateway to close afterwards, so `rawExchange` ends. */
function plainRequest(path: string, headers: Record<string, string | null> = {}): string {
  const merged: Record<string, string | null> = { Host: '127.0.0.1', Connection: 'close', ...headers }
  const lines = [`GET ${path} HTTP/1.1`]
  for (const [name, value] of Object.entries(merged)) if (value !== null) lines.push(`${name}: ${value}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** The body of a response read to the close, with chunked framing (plain HTTP answers) removed. */
function bodyOf(response: RawResponse): string {
  if (!/chunked/i.test(response.headers['transfer-encoding'] ?? '')) return response.body
  let body = ''
  let at = 0
  for (;;) {
    const lineEnd = response.body.indexOf('\r\n', at)
    const size = Number.parseInt(response.body.slice(at, lineEnd), 16)
    if (lineEnd < 0 || !(size > 0)) return body
    body += response.body.slice(lineEnd + 2, lineEnd + 2 + size)
    at = lineEnd + 2 + size + 2
  }
}

/** Asserts a rejection: status, code header, and a one-line plain-text reason. */
function expectRejection(response: RawResponse, status: number, code: string, reason: RegExp): void {
  expect(response.status, response.statusLine).toBe(status)
  expect(response.headers['x-wsgate-error']).toBe(code)
  expect(response.headers['content-type']).toMatch(/^text\/plain/)
  const body = bodyOf(response)
  expect(body).toMatch(reason)
  expect(body.trimEnd().split('\n')).toHaveLength(1)
}

describe('normalizeHeaders() in a real gateway', () => {
  let rawOrigin: RawOrigin
  let echoOrigin: WsOrigin
  let gateway: TestGateway
  /** Headers of every upgrade request the ws echo origin received. */
  let echoSeen: IncomingHttpHeaders[]

  beforeEach(async () => {
    rawOrigin = await startRawOrigin((connection) => connection.socket.write(switchingProtocols(connection)))
    echoOrigin = await startWsOrigin()
    echoSeen = []
    echoOrigin.server.on('connection', (_socket, request) => echoSeen.push(request.headers))
    const app = new Hono<{ Bindings: GatewayBindings; Variables: ForwardingVariables }>()
    app.all('/raw', normalizeHeaders(), websocket(rawOrigin.url))
    // The gateway sees every test client as 127.0.0.1: in the first list, not in the second.
    app.all('/raw-trusted', normalizeHeaders({ trustedProxies: ['127.0.0.0/8'] }), websocket(rawOrigin.url))
    app.all('/raw-untrusted', normalizeHeaders({ trustedProxies: ['10.0.0.0/8', '::1'] }), websocket(rawOrigin.url))
    app.all('/raw-preserve', normalizeHeaders({ preserveHost: true }), websocket(rawOrigin.url))
    app.all('/echo', normalizeHeaders(), websocket(echoOrigin.url))
    app.all('/plain', normalizeHeaders(), (c) => c.json(Object.fromEntries(c.req.raw.headers)))
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    // After every case, rejected or not, the same gateway still serves a ws client through normalizeHeaders().
    try {
      await echoOnce(`${gateway.wsUrl}/echo`, 'still serving')
      await expectNoOpenSockets(gateway)
    } finally {
      await gateway.close()
      await Promise.all([rawOrigin.close(), echoOrigin.close()])
    }
  })

  describe('forwarding headers', () => {
    it('sends the origin X-Forwarded-For, -Proto, -Host and Forwarded from the real connection', async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw', { Host: 'public.example:8080' }))
      expect(response.status, response.statusLine).toBe(101)
      const connection = rawOrigin.connections[0]!
      expect(headerLines(connection, 'x-forwarded-for')).toEqual(['127.0.0.1'])
      expect(headerLines(connection, 'x-forwarded-proto')).toEqual(['http'])
      expect(headerLines(connection, 'x-forwarded-host')).toEqual(['public.example:8080'])
      expect(headerLines(connection, 'forwarded')).toEqual(['for=127.0.0.1;host="public.example:8080";proto=http'])
    })

    it('takes X-Forwarded-Proto from the connection even when an absolute-form target claims https', async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw', {}, 'GET https://127.0.0.1/raw HTTP/1.1'))
      expect(response.status, response.statusLine).toBe(101)
      const connection = rawOrigin.connections[0]!
      expect(headerLines(connection, 'x-forwarded-proto')).toEqual(['http'])
      expect(headerLines(connection, 'forwarded')).toEqual(['for=127.0.0.1;host=127.0.0.1;proto=http'])
    })

    const spoofed = {
      'X-Forwarded-For': '6.6.6.6',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Host': 'admin.internal',
      Forwarded: 'for=6.6.6.6;proto=https',
    }

    it('drops a client-sent X-Forwarded-For, -Proto, -Host and Forwarded when the client is not a trusted proxy', async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw-untrusted', { Host: 'public.example', ...spoofed }))
      expect(response.status, response.statusLine).toBe(101)
      const connection = rawOrigin.connections[0]!
      expect(headerLines(connection, 'x-forwarded-for')).toEqual(['127.0.0.1'])
      expect(headerLines(connection, 'x-forwarded-proto')).toEqual(['http'])
      expect(headerLines(connection, 'x-forwarded-host')).toEqual(['public.example'])
      expect(headerLines(connection, 'forwarded')).toEqual(['for=127.0.0.1;host=public.example;proto=http'])
    })

    it('appends to the forwarding headers of a client whose address is in trustedProxies', async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw-trusted', { Host: 'public.example', ...spoofed }))
      expect(response.status, response.statusLine).toBe(101)
      const connection = rawOrigin.connections[0]!
      expect(headerLines(connection, 'x-forwarded-for')).toEqual(['6.6.6.6, 127.0.0.1'])
      expect(headerLines(connection, 'x-forwarded-proto')).toEqual(['https, http'])
      expect(headerLines(connection, 'x-forwarded-host')).toEqual(['admin.internal, public.example'])
      expect(headerLines(connection, 'forwarded')).toEqual(['for=6.6.6.6;proto=https, for=127.0.0.1;host=public.example;proto=http'])
    })

    // CGI, WSGI and Rack hand an origin its headers as HTTP_X_FORWARDED_FOR: an underscore spelling lands in the
    // same variable as the gateway's own header (joined with it, or in its place), so it is as forged as the original.
    const underscored = {
      X_Forwarded_For: '6.6.6.6',
      'X-Forwarded_Proto': 'https',
      'x_forwarded-host': 'admin.internal',
      'X-Real_IP': '6.6.6.6',
    }

    for (const path of ['/raw-untrusted', '/raw-trusted']) {
      it(`drops client-sent underscore spellings of the forwarding headers (${path}), which a CGI-style origin reads as the gateway's own`, async () => {
        const response = await headOf(gateway.port, handshakeRequest(path, { Host: 'public.example', ...underscored }))
        expect(response.status, response.statusLine).toBe(101)
        const connection = rawOrigin.connections[0]!
        const names = connection.requestHead.split('\r\n').slice(1).map((line) => line.slice(0, line.indexOf(':')).toLowerCase())
        expect(names.filter((name) => name.includes('_'))).toEqual([])
        expect(headerLines(connection, 'x-forwarded-for')).toEqual(['127.0.0.1'])
        expect(headerLines(connection, 'x-real-ip')).toEqual(['127.0.0.1'])
      })
    }

    it("does not pass on a client's X-Client-IP, CF-Connecting-IP, X-Forwarded-Ssl, -Port, -Prefix or X-Original-URL, which origins read as a proxy's word", async () => {
      const claims = {
        'X-Client-IP': '6.6.6.6',
        'True-Client-IP': '6.6.6.6',
        'CF-Connecting-IP': '6.6.6.6',
        'X-Forwarded-Ssl': 'on',
        'X-Forwarded-Scheme': 'https',
        'X-Forwarded-Port': '443',
        'X-Forwarded-Prefix': '/evil',
        'X-Original-URL': '/admin',
        'X-Rewrite-URL': '/admin',
      }
      const response = await headOf(gateway.port, handshakeRequest('/raw-untrusted', { Host: 'public.example', ...claims }))
      expect(response.status, response.statusLine).toBe(101)
      const connection = rawOrigin.connections[0]!
      for (const name of Object.keys(claims)) expect(headerLines(connection, name.toLowerCase()), name).toEqual([])
      expect(headerLines(connection, 'x-forwarded-for')).toEqual(['127.0.0.1'])
    })

    it('passes them on from a trusted proxy', async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw-trusted', { 'X-Client-IP': '198.51.100.9', 'X-Forwarded-Port': '443' }))
      expect(response.status, response.statusLine).toBe(101)
      expect(headerLines(rawOrigin.connections[0]!, 'x-client-ip')).toEqual(['198.51.100.9'])
      expect(headerLines(rawOrigin.connections[0]!, 'x-forwarded-port')).toEqual(['443'])
    })

    it('keeps other client headers whose names hold an underscore', async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw', { X_Trace_Id: 'abc', 'X-Forwarded_Forx': 'kept' }))
      expect(response.status, response.statusLine).toBe(101)
      expect(headerLines(rawOrigin.connections[0]!, 'x_trace_id')).toEqual(['abc'])
      expect(headerLines(rawOrigin.connections[0]!, 'x-forwarded_forx')).toEqual(['kept'])
    })

    it('appends to every X-Forwarded-For line a trusted proxy sent, in order', async () => {
      const request = handshakeRequest('/raw-trusted').replace('\r\n\r\n', '\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n')
      const response = await headOf(gateway.port, request)
      expect(response.status, response.statusLine).toBe(101)
      expect(headerLines(rawOrigin.connections[0]!, 'x-forwarded-for')).toEqual(['1.1.1.1, 2.2.2.2, 127.0.0.1'])
    })

    it('tells a ws origin the client address of a real ws client', async () => {
      const client = new WebSocket(`${gateway.wsUrl}/echo`, { headers: { 'X-Forwarded-For': '6.6.6.6' } })
      await once(client, 'open')
      const closed = once(client, 'close')
      client.close(1000)
      await closed
      expect(echoSeen[0]?.['x-forwarded-for']).toBe('127.0.0.1')
      expect(echoSeen[0]?.forwarded).toBe(`for=127.0.0.1;host="127.0.0.1:${gateway.port}";proto=http`)
    })
  })

  describe('the upgrade pair and hop-by-hop headers', () => {
    for (const [label, overrides] of [
      ['Upgrade: WebSocket, Connection: keep-alive, Upgrade', { Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' }],
      ['Upgrade: WEBSOCKET, Connection: UPGRADE', { Upgrade: 'WEBSOCKET', Connection: 'UPGRADE' }],
    ] as const) {
      it(`sends the origin exactly one Upgrade: websocket and Connection: upgrade when the client sent ${label}`, async () => {
        const response = await headOf(gateway.port, handshakeRequest('/raw', overrides))
        expect(response.status, response.statusLine).toBe(101)
        const connection = rawOrigin.connections[0]!
        expect(headerLines(connection, 'upgrade')).toEqual(['websocket'])
        expect(headerLines(connection, 'connection')).toEqual(['upgrade'])
      })
    }

    it('does not forward Keep-Alive, Proxy-*, Proxy, TE, Trailer or the headers Connection names, and keeps end-to-end headers', async () => {
      const request = handshakeRequest('/raw', {
        Connection: 'keep-alive, Upgrade, X-Hop-Secret',
        'Keep-Alive': 'timeout=5',
        'Proxy-Connection': 'keep-alive',
        'Proxy-Authorization': 'Basic Z2F0ZXdheTpzZWNyZXQ=',
        Proxy: 'http://evil.example:3128',
        TE: 'trailers',
        Trailer: 'X-Checksum',
        'X-Hop-Secret': 'for the gateway only',
        'X-End-To-End': 'for the origin',
        Authorization: 'Bearer abc',
      })
      const response = await headOf(gateway.port, request)
      expect(response.status, response.statusLine).toBe(101)
      const { headers } = rawOrigin.connections[0]!
      for (const name of ['keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy', 'te', 'trailer', 'x-hop-secret']) {
        expect(headers, name).not.toHaveProperty(name)
      }
      expect(headers['x-end-to-end']).toBe('for the origin')
      expect(headers.authorization).toBe('Bearer abc')
    })

    it('hands a plain HTTP handler a plain request: no Upgrade, Connection or Keep-Alive, and the forwarding headers set', async () => {
      const response = await rawExchange(gateway.port, plainRequest('/plain', { 'Keep-Alive': 'timeout=5', 'X-Forwarded-For': '6.6.6.6' }))
      expect(response.status, response.statusLine).toBe(200)
      const seen = JSON.parse(bodyOf(response)) as Record<string, string>
      expect(seen).not.toHaveProperty('connection')
      expect(seen).not.toHaveProperty('keep-alive')
      expect(seen['x-forwarded-for']).toBe('127.0.0.1')
      expect(seen.forwarded).toBe('for=127.0.0.1;host=127.0.0.1;proto=http')
    })

    it('hands a plain HTTP handler a plain request when the client asked to upgrade to h2c', async () => {
      const response = await rawExchange(gateway.port, plainRequest('/plain', { Connection: 'Upgrade, HTTP2-Settings, close', Upgrade: 'h2c', 'HTTP2-Settings': 'AAMAAABkAAQAAP__' }))
      expect(response.status, response.statusLine).toBe(200)
      const seen = JSON.parse(bodyOf(response)) as Record<string, string>
      expect(seen).not.toHaveProperty('upgrade')
      expect(seen).not.toHaveProperty('connection')
      expect(seen).not.toHaveProperty('http2-settings')
    })

    it('leaves a WebSocket route to reject Upgrade: websocket without the Connection token with 400 ERR_HANDSHAKE_UPGRADE', async () => {
      const response = await rawExchange(gateway.port, handshakeRequest('/raw', { Connection: 'close' }))
      expectRejection(response, 400, 'ERR_HANDSHAKE_UPGRADE', /missing or invalid Upgrade header/)
      expect(rawOrigin.connections).toHaveLength(0)
    })
  })

  describe('Host toward the origin', () => {
    it("sends the origin its own host by default", async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw', { Host: 'public.example' }))
      expect(response.status, response.statusLine).toBe(101)
      const connection = rawOrigin.connections[0]!
      expect(headerLines(connection, 'host')).toEqual([`127.0.0.1:${rawOrigin.port}`])
      expect(headerLines(connection, 'x-forwarded-host')).toEqual(['public.example'])
    })

    it("sends the origin the client's Host with preserveHost: true", async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw-preserve', { Host: 'public.example' }))
      expect(response.status, response.statusLine).toBe(101)
      expect(headerLines(rawOrigin.connections[0]!, 'host')).toEqual(['public.example'])
    })

    it('keeps Host when the client names it in Connection', async () => {
      const response = await headOf(gateway.port, handshakeRequest('/raw-preserve', { Host: 'public.example', Connection: 'Upgrade, Host' }))
      expect(response.status, response.statusLine).toBe(101)
      expect(headerLines(rawOrigin.connections[0]!, 'host')).toEqual(['public.example'])
    })
  })

  describe('requests refused with 400', () => {
    it('rejects a duplicate Host on a plain HTTP route with 400 and ERR_HANDSHAKE_HOST before the chain runs', async () => {
      // Node's parser lets a repeated Host through; the gateway's head parse answers, whatever the route's middleware.
      const request = plainRequest('/plain').replace('\r\n\r\n', '\r\nHost: internal.example\r\n\r\n')
      const response = await rawExchange(gateway.port, request)
      expectRejection(response, 400, 'ERR_HANDSHAKE_HOST', /more than one Host header/)
    })

    it('rejects a duplicate Host on a WebSocket route with 400 and never contacts the origin', async () => {
      const request = handshakeRequest('/raw').replace('\r\n\r\n', '\r\nHost: internal.example\r\n\r\n')
      const response = await rawExchange(gateway.port, request)
      expectRejection(response, 400, 'ERR_HANDSHAKE_HOST', /more than one Host header/)
      expect(rawOrigin.connections).toHaveLength(0)
    })

    for (const [label, header] of [
      ['a control character in a header value', 'X-Note: a\x01b'],
      ['DEL in a header value', 'X-Note: a\x7f'],
      ['a control character in a header name', 'X\x01Note: value'],
      ['a header name with a separator', 'X(Note): value'],
    ] as const) {
      for (const path of ['/raw', '/plain'] as const) {
        it(`rejects ${label} on ${path} with 400 (Node's parser answers first with ERR_HANDSHAKE_MALFORMED)`, async () => {
          const base = path === '/raw' ? handshakeRequest(path) : plainRequest(path)
          const response = await rawExchange(gateway.port, base.replace('\r\n\r\n', `\r\n${header}\r\n\r\n`))
          expectRejection(response, 400, 'ERR_HANDSHAKE_MALFORMED', /malformed HTTP request/)
          expect(rawOrigin.connections).toHaveLength(0)
        })
      }
    }

    it("rejects Content-Length together with Transfer-Encoding with 400 ERR_HANDSHAKE_FRAMING (Node's parser answers first)", async () => {
      const request = 'POST /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
      const response = await rawExchange(gateway.port, request)
      expectRejection(response, 400, 'ERR_HANDSHAKE_FRAMING', /invalid message framing/)
    })

  })
})
