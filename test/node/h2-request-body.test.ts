import { once } from 'node:events'
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { logsWith, startGateway, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { h2SessionTo, readBody } from '../helpers/h2-websocket.ts'
import { startHttpOrigin } from '../helpers/http.ts'
import { startRawOrigin, type RawOrigin } from '../helpers/origins.ts'

/**
 * The body of a plain HTTP/2 request: what becomes of the part no one
 * reads once the answer has gone out, and of an upload the origin stops
 * taking. Real TLS, real streams.
 */

const NAME = 'h2-request-body.gateway.test'

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

async function gatewayWith(app: Hono<{ Bindings: GatewayBindings }>): Promise<TestGateway> {
  const gateway = await startGateway(app, { tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0 } })
  cleanups.push(() => gateway.close())
  return gateway
}

/** A POST whose body has begun (`bytes` of it) and is never ended. */
function unfinishedPost(client: http2.ClientHttp2Session, path: string, bytes: number): ClientHttp2Stream {
  const stream = client.request({ ':method': 'POST', ':path': path }, { endStream: false })
  stream.on('error', () => {})
  stream.write(Buffer.alloc(bytes, 0x61))
  return stream
}

/** Resolves once `stream` has closed, or with `'still open'` after `ms`. */
function closedWithin(stream: ClientHttp2Stream, ms: number): Promise<number | 'still open'> {
  if (stream.closed) return Promise.resolve(stream.rstCode ?? -1)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still open'), ms)
    stream.once('close', () => {
      clearTimeout(timer)
      resolve(stream.rstCode ?? -1)
    })
  })
}

describe('HTTP/2: a request body left unread', () => {
  it('closes the request half once the answer is complete (RST_STREAM NO_ERROR), so no stream holds its unread body until requestTimeout', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.post('/ignored', (c) => c.text('answered without reading'))
    const gateway = await gatewayWith(app)
    const client = await h2SessionTo(gateway, certificates, NAME, cleanups)
    // A 404 and an answer of the app's own, each while the client's upload is still going: a window's worth sent, no END_STREAM.
    const streams = [...Array.from({ length: 10 }, () => unfinishedPost(client, '/nowhere', 60_000)), ...Array.from({ length: 10 }, () => unfinishedPost(client, '/ignored', 60_000))]
    const statuses = await Promise.all(
      streams.map(async (stream) => {
        const [head] = (await once(stream, 'response')) as [IncomingHttpHeaders]
        // The client reads its answers: a stream whose response is unread never closes on its side.
        stream.resume()
        return head[':status']
      }),
    )
    expect(statuses).toEqual([...streams.slice(0, 10).map(() => 404), ...streams.slice(10).map(() => 200)])
    // requestTimeout (5 min) is far off: each stream is ended by the gateway right after its answer.
    const closed = await Promise.all(streams.map((stream) => closedWithin(stream, 5_000)))
    expect(closed).toEqual(streams.map(() => http2.constants.NGHTTP2_NO_ERROR))
    // The answers themselves arrived whole before the reset.
    const body = unfinishedPost(client, '/ignored', 10)
    expect(await readBody(body)).toBe('answered without reading')
    expect(client.destroyed).toBe(false)
  })
})

describe('HTTP/2: a stream whose body was left unread, once closed', () => {
  it('leaves its session: the session, with no stream left, goes idle (GOAWAY after the keep-alive time), body ended or not', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.post('/ignored', (c) => c.text('answered without reading'))
    // The keep-alive time of an HTTP/2 session is the handshake timeout when that is shorter.
    const gateway = await startGateway(app, { handshakeTimeout: 300, tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0 } })
    cleanups.push(() => gateway.close())
    for (const ended of [true, false]) {
      const client = await h2SessionTo(gateway, certificates, NAME, cleanups)
      const goaway = once(client, 'goaway')
      // More than the body's buffer holds (16 KiB), so DATA waits in the stream when the answer goes out.
      const stream = unfinishedPost(client, '/ignored', 60_000)
      if (ended) stream.end()
      await once(stream, 'response')
      stream.resume()
      expect(await closedWithin(stream, 5_000), `ended ${ended}`).toBe(http2.constants.NGHTTP2_NO_ERROR)
      // A stream Node never destroyed would hold the session open for good.
      const idle = await Promise.race([goaway.then(() => 'goaway'), new Promise((resolve) => setTimeout(resolve, 5_000, 'no goaway'))])
      expect(idle, `ended ${ended}`).toBe('goaway')
    }
  })
})

describe('HTTP/2: request bodies read whole', () => {
  it('reads an empty body (END_STREAM with the header block, or in an empty DATA frame) and bodies of any size to their end', async () => {
    const api = await startHttpOrigin((request, response, seen) => response.end(`${request.method} ${seen.body.length}`))
    cleanups.push(() => api.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/api/*', httpRoute(api.url))
    app.post('/local', async (c) => c.text(`local ${(await c.req.arrayBuffer()).byteLength}`))
    const gateway = await gatewayWith(app)
    const client = await h2SessionTo(gateway, certificates, NAME, cleanups)
    const cases: [method: string, path: string, body: Buffer | undefined, expected: string][] = [
      ['POST', '/local', undefined, 'local 0'],
      ['POST', '/local', Buffer.alloc(0), 'local 0'],
      ['POST', '/local', Buffer.alloc(200_000, 0x63), 'local 200000'],
      ['PUT', '/api/a', undefined, 'PUT 0'],
      ['POST', '/api/b', Buffer.alloc(0), 'POST 0'],
      ['POST', '/api/c', Buffer.alloc(300_000, 0x64), 'POST 300000'],
    ]
    for (const [method, path, body, expected] of cases) {
      const stream = client.request({ ':method': method, ':path': path }, { endStream: body === undefined })
      stream.on('error', () => {})
      if (body !== undefined) stream.end(body)
      expect(await readBody(stream), `${method} ${path}`).toBe(expected)
    }
  })
})

describe('HTTP/2: an upload the origin stops taking', () => {
  /** An origin that reads the head and the first bytes of the body, then answers 413 and closes the connection. */
  async function refusingOrigin(): Promise<RawOrigin> {
    const origin = await startRawOrigin((connection) => {
      connection.socket.once('data', () => {
        connection.socket.end('HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n')
        connection.socket.destroy()
      })
    })
    cleanups.push(() => origin.close())
    return origin
  }

  it('gives the client the gateway\'s answer (the 413, or 502 as HTTP/1.1 gets) instead of resetting the stream, and logs that status', async () => {
    const origin = await refusingOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/upload', httpRoute(`http://127.0.0.1:${origin.port}`))
    const gateway = await gatewayWith(app)
    const client = await h2SessionTo(gateway, certificates, NAME, cleanups)
    const stream = unfinishedPost(client, '/upload', 1024 * 1024)
    const answer = await new Promise<IncomingHttpHeaders | number>((resolve) => {
      stream.once('response', resolve)
      stream.once('close', () => resolve(stream.rstCode ?? -1))
    })
    expect(answer, 'a response, not RST_STREAM').toBeTypeOf('object')
    const status = (answer as IncomingHttpHeaders)[':status']
    expect([413, 502]).toContain(status)
    await readBody(stream).catch(() => {})
    await waitFor(() => logsWith(gateway, 'request').length === 1, 5_000, 'the request line')
    expect(logsWith(gateway, 'request')[0]).toMatchObject({ method: 'POST', path: '/upload', status, http: '2' })
    expect(client.destroyed).toBe(false)
  })

  it('cuts the upload at the origin when the client resets its stream mid-body: never passed on as complete', async () => {
    let requestEnded = false
    let requestAborted = false
    const origin = await startHttpOrigin(
      (request) => {
        request.on('end', () => (requestEnded = true))
        request.on('aborted', () => (requestAborted = true))
        request.on('error', () => (requestAborted = true))
        request.resume()
      },
      { streamRequest: true },
    )
    cleanups.push(() => origin.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/upload', httpRoute(origin.url))
    const gateway = await gatewayWith(app)
    const client = await h2SessionTo(gateway, certificates, NAME, cleanups)
    const stream = client.request({ ':method': 'POST', ':path': '/upload', 'content-length': '100000' }, { endStream: false })
    stream.on('error', () => {})
    stream.write(Buffer.alloc(50_000, 0x62))
    await waitFor(() => origin.requests.length === 1, 5_000, 'the upload to reach the origin')
    stream.close(http2.constants.NGHTTP2_CANCEL)
    await waitFor(() => requestAborted, 5_000, 'the origin to see the upload cut')
    expect(requestEnded).toBe(false)
  })
})
