import { once } from 'node:events'
import http from 'node:http'
import http2, { type ClientHttp2Session } from 'node:http2'
import tls from 'node:tls'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { http as httpRoute, proxy, websocket, type GatewayBindings } from '../../src/index.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { expectNoOpenSockets, startGateway, waitFor, type GatewayOptions, type TestGateway } from '../helpers/gateway.ts'
import { h2SessionTo, openH2WebSocket, readBody } from '../helpers/h2-websocket.ts'
import { connectRawH2, FLAG, FRAME, h2Frame, hpackLiteral, type RawH2Connection } from '../helpers/h2-frames.ts'
import { startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'
import { startRawOrigin, startWsOrigin, switchingProtocols, type RawOrigin, type WsOrigin } from '../helpers/origins.ts'
import { frame, pattern } from '../helpers/wire.ts'

/**
 * WebSocket over HTTP/2 (RFC 8441) on the TLS listener: extended CONNECT
 * through the same handshake chain and pipe as an HTTP/1.1 upgrade, many
 * WebSockets on one connection, backpressure both ways, plain h2 requests,
 * the RFC's errors, and HTTP/1.1 beside it as before. Real sockets, real
 * TLS with a private CA.
 */

const NAME = 'h2.gateway.test'
const MiB = 1024 * 1024

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

async function startH2Gateway(app: Hono<{ Bindings: GatewayBindings }>, options: GatewayOptions = {}): Promise<TestGateway> {
  const gateway = await startGateway(app, { ...options, tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0, http2: true, ...options.tls } })
  cleanups.push(() => gateway.close())
  return gateway
}

const session = (gateway: TestGateway): Promise<ClientHttp2Session> => h2SessionTo(gateway, certificates, NAME, cleanups)

async function echoOrigin(): Promise<WsOrigin> {
  const origin = await startWsOrigin(undefined, { handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false) })
  cleanups.push(() => origin.close())
  return origin
}

function echoApp(origin: WsOrigin): Hono<{ Bindings: GatewayBindings }> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('/echo', websocket(origin.url))
  return app
}

describe('WebSocket over HTTP/2', () => {
  it('negotiates h2, advertises extended CONNECT, and echoes through the chain with a 200; the log says http 2', async () => {
    const origin = await echoOrigin()
    const gateway = await startH2Gateway(echoApp(origin))
    const client = await session(gateway)
    expect((client.socket as tls.TLSSocket).alpnProtocol).toBe('h2')
    expect(client.remoteSettings.enableConnectProtocol).toBe(true)

    const ws = await openH2WebSocket(client, '/echo?room=1', { 'sec-websocket-protocol': 'chat.v1, other' })
    expect(ws.headers[':status']).toBe(200)
    expect(ws.headers['sec-websocket-protocol']).toBe('chat.v1')
    expect(ws.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(ws.headers['sec-websocket-accept']).toBeUndefined()

    await ws.send(0x1, 'hello over h2')
    expect(await ws.next()).toMatchObject({ opcode: 0x1, payload: Buffer.from('hello over h2') })
    const binary = pattern(200_000, 7)
    await ws.send(0x2, binary)
    const echoed = await ws.next()
    expect(echoed.opcode).toBe(0x2)
    expect(echoed.payload.equals(binary)).toBe(true)

    // The origin saw an HTTP/1.1 upgrade with a key of the gateway's (checked against its accept value).
    const upgrade = origin.server.clients.size
    expect(upgrade).toBe(1)

    // A clean close: the client's close frame, the origin's answer, both halves ended.
    const close = Buffer.alloc(2)
    close.writeUInt16BE(1000)
    await ws.send(0x8, close)
    const answer = await ws.next()
    expect(answer.opcode).toBe(0x8)
    expect(answer.payload.readUInt16BE(0)).toBe(1000)
    ws.stream.end()
    await once(ws.stream, 'close')
    expect(ws.stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR)

    await waitFor(() => gateway.logs.some((line) => line.msg === 'connection closed'))
    const accepted = gateway.logs.find((line) => line.msg === 'handshake accepted')
    expect(accepted).toMatchObject({ route: '/echo', status: 101, http: '2', path: '/echo' })
    const closed = gateway.logs.find((line) => line.msg === 'connection closed')
    expect(closed).toMatchObject({ route: '/echo', http: '2', closedBy: 'client', closeCode: 1000 })
    expect(closed!.bytesFromClient).toBeGreaterThan(binary.length)
    expect(closed!.bytesFromOrigin).toBeGreaterThan(binary.length)
    expect(gateway.connections).toBe(0)
  })

  it('gives the origin an HTTP/1.1 upgrade with a key of its own and the client\'s fields, and checks the accept value', async () => {
    let answered = 0
    const origin: RawOrigin = await startRawOrigin((connection) => {
      answered++
      // The first answer has a wrong accept value: the gateway must refuse it (502), as on HTTP/1.1.
      if (answered === 1) connection.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n')
      else connection.socket.write(switchingProtocols(connection))
    })
    cleanups.push(() => origin.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/raw', websocket(origin.url))
    const gateway = await startH2Gateway(app)
    const client = await session(gateway)
    const refused = await openH2WebSocket(client, '/raw', { 'sec-websocket-extensions': 'permessage-deflate' })
    expect(refused.headers[':status']).toBe(502)
    expect(refused.headers['x-wsgate-error']).toBe('ERR_ORIGIN_BAD_HANDSHAKE')
    const ws = await openH2WebSocket(client, '/raw', { 'sec-websocket-key': 'AAAAAAAAAAAAAAAAAAAAAA==' })
    expect(ws.headers[':status']).toBe(200)
    const seen = origin.connections[1]!
    expect(seen.requestHead.startsWith('GET /raw HTTP/1.1\r\n')).toBe(true)
    expect(seen.headers.upgrade).toBe('websocket')
    expect(seen.headers.connection?.toLowerCase()).toBe('upgrade')
    expect(seen.headers['sec-websocket-version']).toBe('13')
    expect(seen.headers['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/)
    // The client's own key (none is due on h2) is not what the origin sees.
    expect(seen.headers['sec-websocket-key']).not.toBe('AAAAAAAAAAAAAAAAAAAAAA==')
    expect(origin.connections[0]!.headers['sec-websocket-extensions']).toBe('permessage-deflate')
  })

  it('refuses on h2 with the status, headers and body HTTP/1.1 gets', async () => {
    const origin = await echoOrigin()
    const gateway = await startH2Gateway(echoApp(origin))
    const client = await session(gateway)
    const cases: [headers: Record<string, string>, path: string][] = [
      [{ 'sec-websocket-version': '8' }, '/echo'],
      [{}, '/nowhere'],
      [{}, '/a/%2e%2e%2F..%2Fecho'],
    ]
    for (const [headers, path] of cases) {
      const ws = await openH2WebSocket(client, path, headers, { read: false })
      const body = await readBody(ws.stream)
      const h1 = await h1Refusal(gateway, path, headers)
      expect(ws.headers[':status'], path).toBe(h1.status)
      expect(ws.headers['x-wsgate-error'], path).toBe(h1.headers['x-wsgate-error'])
      expect(ws.headers['sec-websocket-version'], path).toBe(h1.headers['sec-websocket-version'])
      expect(body, path).toBe(h1.body)
    }
    // Each h2 refusal has its handshake line, marked http 2, beside the HTTP/1.1 one's.
    const lines = gateway.logs.filter((line) => line.msg === 'handshake rejected')
    expect(lines.filter((line) => line.http === '2').map((line) => line.status)).toEqual(lines.filter((line) => line.http === undefined).map((line) => line.status))
    expect(lines.some((line) => line.status === 426 && line.code === 'ERR_HANDSHAKE_VERSION' && line.http === '2')).toBe(true)
  })

  it('carries 100 WebSockets on one connection, each byte-exact; resetting one leaves the others running', async () => {
    const origin = await echoOrigin()
    // 100 handshakes at once from one address: above the default per-client cap of handshakes in flight (30), as on HTTP/1.1.
    const gateway = await startH2Gateway(echoApp(origin), { maxHandshakesPerClient: 100 })
    const client = await session(gateway)
    const sockets = await Promise.all(Array.from({ length: 100 }, () => openH2WebSocket(client, '/echo')))
    expect(sockets.map((ws) => Number(ws.headers[':status'])).filter((status) => status !== 200)).toEqual([])
    await waitFor(() => gateway.connections === 100)
    await Promise.all(
      sockets.map(async (ws, index) => {
        const payload = pattern(1000 + index * 97, index)
        await ws.send(0x2, payload)
        const echoed = await ws.next()
        expect(echoed.payload.equals(payload)).toBe(true)
      }),
    )
    const [reset, ...others] = sockets
    reset!.stream.close(http2.constants.NGHTTP2_CANCEL)
    await waitFor(() => gateway.connections === 99)
    await Promise.all(
      others.map(async (ws, index) => {
        const payload = pattern(5000 + index, index + 1)
        await ws.send(0x2, payload)
        const echoed = await ws.next()
        expect(echoed.payload.equals(payload)).toBe(true)
      }),
    )
    const closed = gateway.logs.filter((line) => line.msg === 'connection closed')
    expect(closed).toHaveLength(1)
    expect(closed[0]).toMatchObject({ http: '2', closedBy: 'client' })
    expect(client.destroyed).toBe(false)
  })

  it('pauses the origin while the client does not read (origin → client backpressure), and delivers everything once it does', async () => {
    const total = 32 * MiB
    const chunk = frame(0x2, pattern(64 * 1024, 3))
    let flushedWhenStalled = -1
    let writing: Promise<void> | undefined
    const origin = await startRawOrigin((connection) => {
      const { socket } = connection
      socket.write(switchingProtocols(connection))
      writing = (async () => {
        let sent = 0
        while (sent < total) {
          sent += chunk.length
          if (!socket.write(chunk)) {
            if (flushedWhenStalled < 0) flushedWhenStalled = -2
            await once(socket, 'drain')
          }
        }
      })()
    })
    cleanups.push(() => origin.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/flood', websocket(origin.url))
    const gateway = await startH2Gateway(app)
    const client = await session(gateway)
    const ws = await openH2WebSocket(client, '/flood', {}, { read: false })
    expect(ws.headers[':status']).toBe(200)
    // The origin's writes back up: its socket stops draining, far below what it has to send.
    const originSocket = (): import('node:net').Socket => origin.connections[0]!.socket
    await waitFor(() => origin.connections.length === 1 && originSocket().writableLength > 0 && flushedWhenStalled === -2, 10_000, 'the origin to see backpressure')
    let last = -1
    // The bytes the kernel has taken from the origin stop growing: the gateway stopped reading it.
    await waitFor(
      () => {
        const flushed = originSocket().bytesWritten - originSocket().writableLength
        const still = flushed === last
        last = flushed
        return still
      },
      10_000,
      'the origin socket to stall',
    )
    expect(last).toBeLessThan(total / 2)
    let received = 0
    ws.stream.on('data', (data: Buffer) => (received += data.length))
    await waitFor(() => received >= Math.ceil(total / chunk.length) * chunk.length, 30_000, 'every byte to arrive')
    await writing
  })

  it('pauses the client stream while the origin does not read (client → origin backpressure)', async () => {
    const origin = await startRawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection))
      connection.socket.pause()
    })
    cleanups.push(() => origin.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/sink', websocket(origin.url))
    const gateway = await startH2Gateway(app)
    const client = await session(gateway)
    const ws = await openH2WebSocket(client, '/sink')
    const total = 24 * MiB
    const big = frame(0x2, pattern(256 * 1024), { mask: Buffer.from([1, 2, 3, 4]) })
    let queued = 0
    while (queued < total) {
      ws.stream.write(big)
      queued += big.length
    }
    // The gateway stops taking DATA (no WINDOW_UPDATE) once the origin's socket is full: the client's queue stops shrinking.
    let previous = -1
    await waitFor(
      () => {
        const left = ws.stream.writableLength
        const still = left === previous
        previous = left
        return still
      },
      10_000,
      'the client stream to stall',
    )
    expect(ws.stream.writableLength).toBeGreaterThan(total / 2)
    // Once the origin reads, everything arrives.
    let received = 0
    const socket = origin.connections[0]!.socket
    socket.on('data', (chunk: Buffer) => (received += chunk.length))
    socket.resume()
    await waitFor(() => received === queued, 30_000, 'every byte at the origin')
  })

  it('answers a plain CONNECT and another :protocol with 501, as HTTP/1.1 answers CONNECT', async () => {
    const origin = await echoOrigin()
    const gateway = await startH2Gateway(echoApp(origin))
    const client = await session(gateway)
    const tunnel = client.request({ ':method': 'CONNECT', ':authority': 'example.com:443' }, { endStream: false })
    const [tunnelHead] = (await once(tunnel, 'response')) as [http2.IncomingHttpHeaders]
    expect(tunnelHead[':status']).toBe(501)
    expect(tunnelHead['x-wsgate-error']).toBe('ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED')
    expect(await readBody(tunnel)).toBe('method CONNECT is not served\n')
    const other = client.request({ ':method': 'CONNECT', ':protocol': 'connect-udp', ':scheme': 'https', ':path': '/echo', ':authority': NAME }, { endStream: false })
    const [otherHead] = (await once(other, 'response')) as [http2.IncomingHttpHeaders]
    expect(otherHead[':status']).toBe(501)
    expect(await readBody(other)).toBe('extended CONNECT for protocol connect-udp is not served\n')
    // A malformed request (:protocol without CONNECT) is nghttp2's: RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1).
    const malformed = client.request({ ':method': 'GET', ':protocol': 'websocket', ':path': '/echo' })
    malformed.on('error', () => {})
    await new Promise((resolve) => malformed.on('close', resolve))
    expect(malformed.rstCode).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR)
    expect(client.destroyed).toBe(false)
    const rejected = gateway.logs.filter((line) => line.msg === 'request rejected')
    expect(rejected).toHaveLength(2)
    expect(rejected[0]).toMatchObject({ method: 'CONNECT', status: 501, http: '2' })
  })

  it('serves plain h2 requests through http() with the access line', async () => {
    const originServer: HttpOrigin = await startHttpOrigin((request, response, seen) =>
      response.end(`${request.method} ${request.url} ${seen.body.toString()} ${request.headers.cookie ?? ''}`),
    )
    cleanups.push(() => originServer.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/api/*', httpRoute(originServer.url))
    const gateway = await startH2Gateway(app)
    const client = await session(gateway)
    const get = client.request({ ':path': '/api/hello?x=1', cookie: 'a=1' })
    get.end()
    const [getHead] = (await once(get, 'response')) as [http2.IncomingHttpHeaders]
    expect(getHead[':status']).toBe(200)
    expect(await readBody(get)).toBe('GET /api/hello?x=1  a=1')
    const post = client.request({ ':method': 'POST', ':path': '/api/items' })
    post.end('payload')
    const [postHead] = (await once(post, 'response')) as [http2.IncomingHttpHeaders]
    expect(postHead[':status']).toBe(200)
    expect(postHead['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(await readBody(post)).toBe('POST /api/items payload ')
    const missing = client.request({ ':path': '/none' })
    missing.end()
    const [missingHead] = (await once(missing, 'response')) as [http2.IncomingHttpHeaders]
    expect(missingHead[':status']).toBe(404)
    await readBody(missing)
    const refused = client.request({ ':path': '/a/%zz' })
    refused.end()
    const [refusedHead] = (await once(refused, 'response')) as [http2.IncomingHttpHeaders]
    expect(refusedHead[':status']).toBe(400)
    expect(refusedHead['x-wsgate-error']).toBe('ERR_HANDSHAKE_TARGET')
    await readBody(refused)
    await waitFor(() => gateway.logs.filter((line) => line.msg === 'request').length === 3)
    const lines = gateway.logs.filter((line) => line.msg === 'request')
    expect(lines[0]).toMatchObject({ method: 'GET', path: '/api/hello', status: 200, http: '2', bytes: 'GET /api/hello?x=1  a=1'.length })
    expect(lines[1]).toMatchObject({ method: 'POST', status: 200, http: '2' })
  })

  it('serves proxy() over h2, its plain requests and its WebSockets on one route, counted in the same metrics as over HTTP/1.1', async () => {
    const originServer = http.createServer((request, response) => response.end(`plain ${request.url}`))
    const origin = await startWsOrigin(undefined, { server: originServer })
    cleanups.push(() => origin.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/live/*', proxy(origin.url, { appendPath: true }))
    const gateway = await startH2Gateway(app, { metrics: true })
    const client = await session(gateway)
    const plain = client.request({ ':path': '/live/page?x=1' })
    plain.end()
    const [plainHead] = (await once(plain, 'response')) as [http2.IncomingHttpHeaders]
    expect(plainHead[':status']).toBe(200)
    expect(await readBody(plain)).toBe('plain /live/page?x=1')
    const ws = await openH2WebSocket(client, '/live/socket')
    expect(ws.headers[':status']).toBe(200)
    await ws.send(0x1, 'through proxy() over h2')
    expect(await ws.next()).toMatchObject({ opcode: 0x1, payload: Buffer.from('through proxy() over h2') })
    const refused = await openH2WebSocket(client, '/live/socket', { 'sec-websocket-version': '8' }, { read: false })
    expect(refused.headers[':status']).toBe(426)
    await readBody(refused.stream)

    // The same upgrade and refusal over HTTP/1.1, beside them.
    const h1 = new WebSocket(`wss://127.0.0.1:${gateway.tlsPort}/live/socket`, { ca: certificates.ca.cert, servername: NAME } as WebSocket.ClientOptions)
    await once(h1, 'open')
    await h1Refusal(gateway, '/live/socket', { 'sec-websocket-version': '8' })
    const text = await gateway.metrics!.metrics()
    // Both protocols in one series each: the protocol is no label (the log lines' http field tells them apart).
    expect(sample(text, 'wsgate_handshakes_total', { route: '/live/*', status: '101', code: '' })).toBe(2)
    expect(sample(text, 'wsgate_handshakes_total', { route: '/live/*', status: '426', code: 'ERR_HANDSHAKE_VERSION' })).toBe(2)
    expect(sample(text, 'wsgate_connections_open', { route: '/live/*' })).toBe(2)
    h1.close()
    ws.stream.close(http2.constants.NGHTTP2_CANCEL)
    await waitFor(() => gateway.connections === 0, 5_000, 'both connections to end')
    const after = await gateway.metrics!.metrics()
    expect(sample(after, 'wsgate_connections_open', { route: '/live/*' }) ?? 0).toBe(0)
    expect(sample(after, 'wsgate_bytes_total', { route: '/live/*', direction: 'client_to_origin' })).toBeGreaterThan(0)
    expect(gateway.logs.filter((line) => line.msg === 'connection closed').map((line) => line.http).sort()).toEqual(['2', undefined])
  })

  it('serves HTTP/1.1 WebSockets beside h2 on the same listener', async () => {
    const origin = await echoOrigin()
    const gateway = await startH2Gateway(echoApp(origin))
    const ws = new WebSocket(`wss://127.0.0.1:${gateway.tlsPort}/echo`, { ca: certificates.ca.cert, servername: NAME } as WebSocket.ClientOptions)
    await once(ws, 'open')
    const reply = once(ws, 'message')
    ws.send('over http/1.1')
    expect(String((await reply)[0])).toBe('over http/1.1')
    ws.close()
    await once(ws, 'close')
    await waitFor(() => gateway.logs.some((line) => line.msg === 'connection closed'))
    expect(gateway.logs.find((line) => line.msg === 'handshake accepted')?.http).toBeUndefined()
  })

  it('with http2: false offers http/1.1 only: an h2-only client is refused by ALPN', async () => {
    const origin = await echoOrigin()
    const gateway = await startH2Gateway(echoApp(origin), { tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0, http2: false } })
    const both = tls.connect({ port: gateway.tlsPort!, host: '127.0.0.1', servername: NAME, ca: certificates.ca.cert, ALPNProtocols: ['h2', 'http/1.1'] })
    await once(both, 'secureConnect')
    expect(both.alpnProtocol).toBe('http/1.1')
    both.destroy()
    const h2Only = tls.connect({ port: gateway.tlsPort!, host: '127.0.0.1', servername: NAME, ca: certificates.ca.cert, ALPNProtocols: ['h2'] })
    const [error] = (await once(h2Only, 'error')) as [NodeJS.ErrnoException]
    expect(error.code).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL')
    await expectNoOpenSockets(gateway)
  })
})

/** The same WebSocket handshake over HTTP/1.1 on the TLS listener: status, headers, body. */
describe('WebSocket over HTTP/2: the lifecycle shared with HTTP/1.1', () => {
  /** A close frame's code and reason. */
  const closeOf = (payload: Buffer): [number, string] => [payload.readUInt16BE(0), payload.subarray(2).toString()]

  it('closes an idle WebSocket with 1001 idle timeout, and the session\'s other WebSocket keeps running', async () => {
    const origin = await echoOrigin()
    const app = echoApp(origin)
    app.all('/quiet', websocket(origin.url, { idleTimeout: 300 }))
    const gateway = await startH2Gateway(app)
    const client = await session(gateway)
    const quiet = await openH2WebSocket(client, '/quiet')
    const busy = await openH2WebSocket(client, '/echo')
    expect([quiet.headers[':status'], busy.headers[':status']]).toEqual([200, 200])

    const closing = await quiet.next()
    expect(closing.opcode).toBe(0x8)
    expect(closeOf(closing.payload)).toEqual([1001, 'idle timeout'])
    // Answered as a browser answers a close: its close frame, then the end of its half of the stream.
    await quiet.send(0x8, closing.payload.subarray(0, 2))
    quiet.stream.end()
    await busy.send(0x1, 'still here')
    expect(await busy.next()).toMatchObject({ opcode: 0x1, payload: Buffer.from('still here') })
    await waitFor(() => gateway.logs.some((line) => line.msg === 'connection closed' && line.route === '/quiet'))
    expect(gateway.logs.find((line) => line.msg === 'connection closed' && line.route === '/quiet')).toMatchObject({ http: '2', closedBy: 'gateway', closeCause: 'idle', closeCode: 1001 })
    expect(gateway.connections).toBe(1)
  })

  it('holds the gateway\'s connection cap per WebSocket: a stream over it gets 503 ERR_CONNECTION_LIMIT, as an HTTP/1.1 upgrade does', async () => {
    const origin = await echoOrigin()
    const gateway = await startH2Gateway(echoApp(origin), { maxConnections: 1 })
    const client = await session(gateway)
    const first = await openH2WebSocket(client, '/echo')
    const second = await openH2WebSocket(client, '/echo')
    expect(first.headers[':status']).toBe(200)
    expect([second.headers[':status'], second.headers['x-wsgate-error']]).toEqual([503, 'ERR_CONNECTION_LIMIT'])
    await first.send(0x1, 'first still echoes')
    expect(await first.next()).toMatchObject({ opcode: 0x1, payload: Buffer.from('first still echoes') })
  })

  it('on a drain, closes its WebSockets with 1001 gateway draining and tells the session to go away', async () => {
    const origin = await echoOrigin()
    const gateway = await startH2Gateway(echoApp(origin), { drainTimeout: 200, closeGrace: 1_000 })
    const client = await session(gateway)
    const ws = await openH2WebSocket(client, '/echo')
    expect(ws.headers[':status']).toBe(200)
    const goaway = once(client, 'goaway')
    const closed = gateway.close({ drain: true })
    const closing = await ws.next()
    expect(closing.opcode).toBe(0x8)
    expect(closeOf(closing.payload)).toEqual([1001, 'gateway draining'])
    await goaway
    // The client answers as a WebSocket client does, and the drain completes.
    const answer = Buffer.alloc(2)
    answer.writeUInt16BE(1001)
    await ws.send(0x8, answer).catch(() => {})
    await closed
    expect(gateway.logs.find((line) => line.msg === 'connection closed')).toMatchObject({ http: '2', closedBy: 'gateway', closeCause: 'drain', closeCode: 1001 })
  })
})

describe('WebSocket over HTTP/2: a header block that trickles', () => {
  /** An extended CONNECT's header block for `path`, as HPACK literals. */
  const connectBlock = (path: string): Buffer =>
    Buffer.concat([
      hpackLiteral(':method', 'CONNECT'),
      hpackLiteral(':protocol', 'websocket'),
      hpackLiteral(':scheme', 'https'),
      hpackLiteral(':authority', NAME),
      hpackLiteral(':path', path),
      hpackLiteral('sec-websocket-version', '13'),
    ])

  /**
   * Sends HEADERS without END_HEADERS for `streamId`, then one CONTINUATION
   * every `everyMs` (each one more header field), until the connection
   * closes or `maxMs` passes; resolves with how long the connection lived
   * from the first frame.
   */
  async function trickle(connection: RawH2Connection, streamId: number, everyMs: number, maxMs: number): Promise<number> {
    const started = performance.now()
    connection.send(h2Frame(FRAME.HEADERS, 0, streamId, connectBlock('/echo')))
    let closed = false
    void connection.closed.then(() => (closed = true))
    for (let i = 0; !closed && performance.now() - started < maxMs; i++) {
      await new Promise((resolve) => setTimeout(resolve, everyMs))
      connection.send(h2Frame(FRAME.CONTINUATION, 0, streamId, hpackLiteral(`x-trickle-${i}`, 'a')))
    }
    await Promise.race([connection.closed, new Promise((resolve) => setTimeout(resolve, 1_000))])
    return performance.now() - started
  }

  /**
   * nghttp2 itself ends a header block of more than 8 CONTINUATION frames,
   * with a GOAWAY carrying an error code; a frame every 500 ms stays under
   * that for 4 s. A connection that ended with GOAWAYs of NO_ERROR only was
   * closed by the gateway's own timers (GOAWAY, then the drop after
   * DEFAULT_H2_GOAWAY_GRACE: a graceful close alone would wait for the
   * header block).
   */
  function expectClosedByTheGateway(connection: RawH2Connection): void {
    const goaways = connection.frames.filter((frame) => frame.type === FRAME.GOAWAY)
    expect(goaways.length).toBeGreaterThan(0)
    expect(goaways.map((frame) => frame.errorCode)).toEqual(goaways.map(() => http2.constants.NGHTTP2_NO_ERROR))
    expect(connection.socket.destroyed || connection.socket.readableEnded).toBe(true)
  }

  it('closes a connection whose first header block never ends, with GOAWAY, at the handshake timeout, and serves others meanwhile', async () => {
    const origin = await echoOrigin()
    const gateway = await startH2Gateway(echoApp(origin), { handshakeTimeout: 800 })
    const slow = await connectRawH2(gateway.tlsPort!, certificates.ca.cert, NAME)
    cleanups.push(() => slow.socket.destroy())
    const lived = trickle(slow, 1, 500, 10_000)
    // Another client is served while the first one trickles.
    const client = await session(gateway)
    const ws = await openH2WebSocket(client, '/echo')
    expect(ws.headers[':status']).toBe(200)
    expect(await lived).toBeLessThan(10_000)
    expectClosedByTheGateway(slow)
  })

  it('on a connection with an open WebSocket, a header block that never ends stalls only that connection, which closes once its WebSocket has gone idle', async () => {
    const origin = await echoOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/echo', websocket(origin.url, { idleTimeout: 300 }))
    const gateway = await startH2Gateway(app, { handshakeTimeout: 800, closeGrace: 400 })
    const slow = await connectRawH2(gateway.tlsPort!, certificates.ca.cert, NAME)
    cleanups.push(() => slow.socket.destroy())
    // Stream 1: a whole extended CONNECT, answered (a HEADERS frame on stream 1), so the WebSocket is open.
    slow.send(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, connectBlock('/echo')))
    await waitFor(() => slow.frames.some((frame) => frame.type === FRAME.HEADERS && frame.streamId === 1), 5_000, 'the answer on stream 1')
    expect(gateway.connections).toBe(1)
    // Stream 3: a header block that never ends. The WebSocket on stream 1 goes idle, is closed, then the session.
    const lived = await trickle(slow, 3, 500, 15_000)
    expect(lived).toBeLessThan(15_000)
    expectClosedByTheGateway(slow)
    await waitFor(() => gateway.connections === 0, 5_000, 'the idle WebSocket to end')
    expect(gateway.logs.find((line) => line.msg === 'connection closed')).toMatchObject({ http: '2', closedBy: 'gateway', closeCause: 'idle' })
  })
})

async function h1Refusal(gateway: TestGateway, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const socket = tls.connect({ port: gateway.tlsPort!, host: '127.0.0.1', servername: NAME, ca: certificates.ca.cert, ALPNProtocols: ['http/1.1'] })
  await once(socket, 'secureConnect')
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${NAME}`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13']
  const version = headers['sec-websocket-version']
  if (version) lines[5] = `Sec-WebSocket-Version: ${version}`
  socket.end(`${lines.join('\r\n')}\r\n\r\n`)
  const chunks: Buffer[] = []
  for await (const chunk of socket) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('latin1')
  const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)]
  const [statusLine, ...headerLines] = head.split('\r\n')
  const parsed: Record<string, string> = {}
  for (const line of headerLines) parsed[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
  return { status: Number(statusLine!.split(' ')[1]), headers: parsed, body }
}

/** The value of one Prometheus sample whose labels include `labels` (undefined when there is none). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const seen = Object.fromEntries([...match[2]!.matchAll(/([a-z_]+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]))
    if (Object.entries(labels).every(([key, value]) => seen[key] === value)) return Number(match[3])
  }
  return undefined
}
