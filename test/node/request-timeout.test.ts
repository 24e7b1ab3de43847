import { once } from 'node:events'
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { resolveServeSettings } from '../../src/node/settings.ts'
import { serveOptions } from '../../src/node/cli.ts'
import { DEFAULT_REQUEST_TIMEOUT } from '../../src/defaults.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { logsWith, startGateway, waitFor, type GatewayOptions, type TestGateway } from '../helpers/gateway.ts'
import { h2SessionTo, readBody } from '../helpers/h2-websocket.ts'
import { openWire, startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'
import { pino } from 'pino'

/**
 * `requestTimeout`: how long a plain request has to arrive in full, head
 * and body. A client that sends its head and then withholds the body gets
 * 408 ERR_REQUEST_TIMEOUT, on HTTP/1.1 (Node's requestTimeout, answered in
 * the gateway's shape) and on HTTP/2 (a deadline per plain request
 * stream); a request whose response has begun is cut off instead. Each
 * test waits for the event itself with a short option value, never for a
 * fixed time.
 */

const NAME = 'request-timeout.gateway.test'
/** Short, so the tests wait little; the waits themselves are generous. */
const REQUEST_TIMEOUT = 400

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

/** An origin that echoes the method and the body it read in full. */
async function bodyOrigin(): Promise<HttpOrigin> {
  const origin = await startHttpOrigin((request, response, seen) => response.end(`${request.method} ${seen.body.length}`))
  cleanups.push(() => origin.close())
  return origin
}

/**
 * `/upload` to the origin through http(); `/early` answers at once without
 * reading the body; `/stream` answers with a body that never ends.
 */
function uploadApp(origin: HttpOrigin): Hono<{ Bindings: GatewayBindings }> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  // The origin's answer may take as long as the upload: http()'s own timeout (the handshake timeout by default) is not what is tested.
  app.all('/upload', httpRoute(origin.url, { timeout: 30_000 }))
  app.post('/early', (c) => c.text('early'))
  app.post('/stream', () => new Response(new ReadableStream({ start: (controller) => controller.enqueue(new TextEncoder().encode('partial')) })))
  return app
}

async function gatewayWith(app: Hono<{ Bindings: GatewayBindings }>, options: GatewayOptions = {}): Promise<TestGateway> {
  const gateway = await startGateway(app, {
    handshakeTimeout: REQUEST_TIMEOUT / 2,
    requestTimeout: REQUEST_TIMEOUT,
    tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0, http2: true },
    ...options,
  })
  cleanups.push(() => gateway.close())
  return gateway
}

const h2Session = (gateway: TestGateway): Promise<ClientHttp2Session> => h2SessionTo(gateway, certificates, NAME, cleanups)

/** A POST whose body starts and never ends. */
function withheldPost(client: ClientHttp2Session, path: string): ClientHttp2Stream {
  const stream = client.request({ ':method': 'POST', ':path': path, 'content-type': 'text/plain' }, { endStream: false })
  stream.on('error', () => {})
  stream.write('the first bytes of a body that never ends')
  return stream
}

describe('requestTimeout: the option and its flag', () => {
  it('defaults to 5 min, or the handshake timeout when that is longer; refuses one shorter than the handshake timeout', () => {
    expect(resolveServeSettings({}).requestTimeout).toBe(DEFAULT_REQUEST_TIMEOUT)
    expect(DEFAULT_REQUEST_TIMEOUT).toBe(300_000)
    expect(resolveServeSettings({ handshakeTimeout: 600_000 }).requestTimeout).toBe(600_000)
    expect(resolveServeSettings({ requestTimeout: 20_000 }).requestTimeout).toBe(20_000)
    expect(() => resolveServeSettings({ requestTimeout: 5_000 })).toThrow(/requestTimeout \(5000 ms\) is shorter than handshakeTimeout \(10000 ms\)/)
    expect(() => resolveServeSettings({ requestTimeout: 0 })).toThrow(/requestTimeout must be a positive number of ms/)
    expect(() => resolveServeSettings({ requestTimeout: Number.NaN })).toThrow(TypeError)
  })

  it('is set by --request-timeout <ms>, which refuses what is not a number', () => {
    const logger = pino({ level: 'silent' })
    expect(serveOptions({ 'request-timeout': '60000' }, logger)).toMatchObject({ requestTimeout: 60_000 })
    expect(serveOptions({}, logger)).not.toHaveProperty('requestTimeout')
    expect(() => serveOptions({ 'request-timeout': '1m' }, logger)).toThrow('--request-timeout expects a number, got "1m"')
  })
})

describe('requestTimeout over HTTP/1.1', () => {
  it('answers a request whose body is withheld with 408 ERR_REQUEST_TIMEOUT in the gateway\'s shape, closes the connection, and logs the request line', async () => {
    const origin = await bodyOrigin()
    const gateway = await gatewayWith(uploadApp(origin))
    const wire = await openWire(gateway.port)
    cleanups.push(() => wire.socket.destroy())
    wire.send(`POST /upload HTTP/1.1\r\nHost: ${NAME}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly the start`)
    const response = await wire.response()
    expect(response.status).toBe(408)
    expect(response.headers['x-wsgate-error']).toBe('ERR_REQUEST_TIMEOUT')
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(response.headers.connection).toBe('close')
    expect(response.body).toBe(`request not received in full within ${REQUEST_TIMEOUT} ms\n`)
    await wire.closed
    await waitFor(() => logsWith(gateway, 'request').length === 1, 5_000, 'the request line')
    expect(logsWith(gateway, 'request')[0]).toMatchObject({ reqId: response.headers['x-request-id'], method: 'POST', path: '/upload', status: 408, code: 'ERR_REQUEST_TIMEOUT' })
    // Not the header deadline's answer, and nothing else was logged for it.
    expect(gateway.logs.filter((line) => line.code === 'ERR_HANDSHAKE_TIMEOUT')).toEqual([])
  })

  it('still answers a head that never completes with the header deadline\'s 408 ERR_HANDSHAKE_TIMEOUT', async () => {
    const origin = await bodyOrigin()
    const gateway = await gatewayWith(uploadApp(origin))
    const wire = await openWire(gateway.port)
    cleanups.push(() => wire.socket.destroy())
    wire.send(`POST /upload HTTP/1.1\r\nHost: ${NAME}\r\n`)
    const response = await wire.response()
    expect([response.status, response.headers['x-wsgate-error']]).toEqual([408, 'ERR_HANDSHAKE_TIMEOUT'])
  })

  it('lets a body that arrives in time through, and the connection lives on past the deadline', async () => {
    const origin = await bodyOrigin()
    const gateway = await gatewayWith(uploadApp(origin), { handshakeTimeout: 2_000, requestTimeout: 2_000 })
    const wire = await openWire(gateway.port)
    cleanups.push(() => wire.socket.destroy())
    wire.send(`POST /upload HTTP/1.1\r\nHost: ${NAME}\r\nContent-Length: 10\r\n\r\n01234`)
    wire.send('56789')
    const first = await wire.response()
    expect([first.status, first.body]).toEqual([200, 'POST 10'])
    // A second request, withheld, on the same connection: its own deadline, counted from its first byte.
    wire.send(`POST /upload HTTP/1.1\r\nHost: ${NAME}\r\nContent-Length: 10\r\n\r\n0`)
    const second = await wire.response()
    expect([second.status, second.headers['x-wsgate-error']]).toEqual([408, 'ERR_REQUEST_TIMEOUT'])
  })
})

describe('requestTimeout over HTTP/2 (plain requests on the TLS listener)', () => {
  it('answers a stream whose body is withheld with 408 ERR_REQUEST_TIMEOUT, ends only that stream, and logs the request line', async () => {
    const origin = await bodyOrigin()
    const gateway = await gatewayWith(uploadApp(origin))
    const client = await h2Session(gateway)
    const stream = withheldPost(client, '/upload')
    const [head] = (await once(stream, 'response')) as [IncomingHttpHeaders]
    expect(head[':status']).toBe(408)
    expect(head['x-wsgate-error']).toBe('ERR_REQUEST_TIMEOUT')
    expect(head['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(await readBody(stream)).toBe(`request not received in full within ${REQUEST_TIMEOUT} ms\n`)
    if (!stream.closed) await once(stream, 'close')
    // The rest of the request is not wanted: RST_STREAM NO_ERROR after the complete 408 (RFC 9113 §8.1).
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR)
    await waitFor(() => logsWith(gateway, 'request').length === 1, 5_000, 'the request line')
    expect(logsWith(gateway, 'request')[0]).toMatchObject({ reqId: head['x-request-id'], method: 'POST', path: '/upload', status: 408, code: 'ERR_REQUEST_TIMEOUT', http: '2' })

    // The session serves on: a request whose body comes in time gets its answer.
    const post = client.request({ ':method': 'POST', ':path': '/upload' })
    post.end('0123456789')
    const [postHead] = (await once(post, 'response')) as [IncomingHttpHeaders]
    expect(postHead[':status']).toBe(200)
    expect(await readBody(post)).toBe('POST 10')
    expect(client.destroyed).toBe(false)
  })

  it('resets a stream whose complete response went out while its body is withheld with NO_ERROR, and one mid-response with CANCEL', async () => {
    const origin = await bodyOrigin()
    const gateway = await gatewayWith(uploadApp(origin))
    const client = await h2Session(gateway)
    const early = withheldPost(client, '/early')
    const streaming = withheldPost(client, '/stream')
    const [earlyHead] = (await once(early, 'response')) as [IncomingHttpHeaders]
    const [streamingHead] = (await once(streaming, 'response')) as [IncomingHttpHeaders]
    expect([earlyHead[':status'], streamingHead[':status']]).toEqual([200, 200])
    let earlyBody = ''
    early.on('data', (chunk: Buffer) => (earlyBody += chunk.toString()))
    streaming.resume()
    await Promise.all([early.closed ? undefined : once(early, 'close'), streaming.closed ? undefined : once(streaming, 'close')])
    expect(earlyBody).toBe('early')
    expect(early.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR)
    expect(streaming.rstCode).toBe(http2.constants.NGHTTP2_CANCEL)
    await waitFor(() => logsWith(gateway, 'request').length === 2, 5_000, 'both request lines')
    expect(logsWith(gateway, 'request').find((line) => line.path === '/stream')).toMatchObject({ status: 200, code: 'ERR_REQUEST_TIMEOUT', incomplete: true, http: '2' })
    expect(client.destroyed).toBe(false)
  })

  it('clears the deadline of a request that arrived in full: no late 408 or reset, and no timer left behind', async () => {
    const origin = await bodyOrigin()
    const gateway = await gatewayWith(uploadApp(origin), { handshakeTimeout: 1_000, requestTimeout: 60_000 })
    const client = await h2Session(gateway)
    const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
    // Warm-up: the session's and the origin pool's own timers exist from the first request on.
    const warm = client.request({ ':method': 'POST', ':path': '/upload' })
    warm.end('x')
    await readBody(warm)
    const before = timers()
    const streams = Array.from({ length: 50 }, (_, index) => {
      const stream = client.request({ ':method': 'POST', ':path': '/upload' })
      // Half the bodies come in a second DATA frame, after the head: the deadline is armed for those.
      if (index % 2) stream.write('01234')
      stream.end(index % 2 ? '56789' : '0123456789')
      return stream
    })
    const bodies = await Promise.all(streams.map((stream) => readBody(stream)))
    expect(bodies).toEqual(streams.map(() => 'POST 10'))
    await waitFor(() => streams.every((stream) => stream.closed), 5_000, 'every stream to close')
    expect(streams.map((stream) => stream.rstCode)).toEqual(streams.map(() => http2.constants.NGHTTP2_NO_ERROR))
    // 50 deadlines of 60 s would still be pending; none is.
    await waitFor(() => timers() <= before + 5, 5_000, 'the deadlines to be cleared')
  })
})
