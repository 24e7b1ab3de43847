import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { waitFor, type TestGateway } from '../helpers/gateway.ts'
import { openWire, plainRuntime, splitWire, startHttpOrigin, type HttpOrigin, type WireConnection } from '../helpers/http.ts'
import { useResources } from '../helpers/resources.ts'

/**
 * Request framing on plain HTTP routes (RFC 9112 §6): what reaches the
 * origin is the client's body exactly as framed, or no body and no framing
 * headers; the bytes of a body the gateway drops are never read as a next
 * request. Real gateway, a node:http origin that records every byte it
 * receives, raw clients.
 */

const resources = useResources()

/** The route's origin timeout: an origin left waiting for a body would answer 504 after it, failing the test quickly. */
const ORIGIN_TIMEOUT = 2_000

/** A node:http origin answering each request with what it read of the body, and a gateway in front with `http()`. */
async function gatewayAndOrigin(app = new Hono<{ Bindings: GatewayBindings }>()): Promise<{ gateway: TestGateway; origin: HttpOrigin }> {
  const origin = resources.track(
    await startHttpOrigin((request, response, seen) => {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.end(`${request.method} ${request.url} read ${seen.body.length}: ${seen.body.toString('latin1')}`)
    }),
  )
  app.all('*', httpRoute(origin.url, { timeout: ORIGIN_TIMEOUT }))
  return { gateway: await resources.gateway(app), origin }
}

/** A raw keep-alive connection to the gateway, destroyed after the test. */
async function connect(gateway: TestGateway): Promise<WireConnection> {
  const wire = await openWire(gateway.port)
  resources.track(wire.socket)
  return wire
}

/** A request head on the wire, `Host` first, then `headers`, then the blank line. */
function head(requestLine: string, headers: string[] = []): string {
  return [requestLine, 'Host: gateway.test', ...headers, '', ''].join('\r\n')
}

/** `body` as chunked coding (RFC 9112 §7.1): one chunk per part, then the last chunk. */
function chunked(...parts: string[]): string {
  return parts.map((part) => `${Buffer.byteLength(part, 'latin1').toString(16)}\r\n${part}\r\n`).join('') + '0\r\n\r\n'
}

/** A complete request that must never reach the origin: if a dropped body were read as a request, this is what would arrive. */
const SMUGGLED = head('GET /smuggled HTTP/1.1')

describe('http(): GET and HEAD go to the origin without a body', () => {
  it.each(['GET', 'HEAD'])('drops the Content-Length body of a %s: the origin gets no Content-Length, no Transfer-Encoding and no body bytes', async (method) => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head(`${method} /doc HTTP/1.1`, ['Content-Length: 5']) + 'hello')
    const answer = await client.response({ bodiless: method === 'HEAD' })
    expect(answer.status).toBe(200)
    if (method === 'GET') expect(answer.body).toBe('GET /doc read 0: ')
    const seen = splitWire(origin.wire[0]!)
    expect(seen.head).toMatch(new RegExp(`^${method} /doc HTTP/1.1\r\n`))
    expect(seen.headers['content-length']).toBeUndefined()
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.rest).toBe('')
  })

  it('drops a chunked GET body the same way', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head('GET /doc HTTP/1.1', ['Transfer-Encoding: chunked']) + chunked('hello'))
    const answer = await client.response()
    expect(answer.status).toBe(200)
    expect(answer.body).toBe('GET /doc read 0: ')
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['content-length']).toBeUndefined()
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.rest).toBe('')
  })
})

describe('http(): a dropped body is never read as the next request', () => {
  it('reads a GET body that came with the head as that GET’s body, not as a request, on a keep-alive connection', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head('GET /first HTTP/1.1', [`Content-Length: ${SMUGGLED.length}`]) + SMUGGLED)
    expect((await client.response()).body).toBe('GET /first read 0: ')
    client.send(head('GET /second HTTP/1.1'))
    expect((await client.response()).body).toBe('GET /second read 0: ')
    expect(origin.requests.map((request) => request.url)).toEqual(['/first', '/second'])
    expect(origin.wire.join('')).not.toContain('/smuggled')
  })

  it('reads a GET body that arrives after its response as that GET’s body, not as a request', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head('GET /first HTTP/1.1', [`Content-Length: ${SMUGGLED.length}`]))
    // The origin answers without the body; the client sends it only after that answer.
    expect((await client.response()).body).toBe('GET /first read 0: ')
    client.send(SMUGGLED)
    client.send(head('GET /second HTTP/1.1'))
    expect((await client.response()).body).toBe('GET /second read 0: ')
    expect(origin.requests.map((request) => request.url)).toEqual(['/first', '/second'])
  })

  it('reads a chunked HEAD body as that HEAD’s body, not as a request', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head('HEAD /first HTTP/1.1', ['Transfer-Encoding: chunked']) + chunked(SMUGGLED))
    expect((await client.response({ bodiless: true })).status).toBe(200)
    client.send(head('GET /second HTTP/1.1'))
    expect((await client.response()).body).toBe('GET /second read 0: ')
    expect(origin.requests.map((request) => `${request.method} ${request.url}`)).toEqual(['HEAD /first', 'GET /second'])
  })
})

describe('http(): other methods forward the body exactly as framed', () => {
  it.each(['DELETE', 'OPTIONS', 'POST', 'PUT'])('forwards a %s body with its Content-Length, byte for byte', async (method) => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head(`${method} /item HTTP/1.1`, ['Content-Length: 11']) + 'hello world')
    const answer = await client.response()
    expect(answer.body).toBe(`${method} /item read 11: hello world`)
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['content-length']).toBe('11')
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.rest).toBe('hello world')
  })

  it.each(['DELETE', 'OPTIONS', 'POST', 'PATCH'])('forwards a chunked %s body chunked, so the origin never reads it as a request', async (method) => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head(`${method} /item HTTP/1.1`, ['Transfer-Encoding: chunked']) + chunked(SMUGGLED))
    const answer = await client.response()
    expect(answer.body).toBe(`${method} /item read ${SMUGGLED.length}: ${SMUGGLED}`)
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['transfer-encoding']).toBe('chunked')
    expect(seen.headers['content-length']).toBeUndefined()
    // Chunked on the wire (chunk sizes are the connector's), ending with the last chunk.
    expect(seen.rest).toMatch(/^[0-9a-f]+\r\n/)
    expect(seen.rest.endsWith('0\r\n\r\n')).toBe(true)
    expect(origin.requests.map((request) => request.url)).toEqual(['/item'])
  })

  it('sends a POST without a body with no Transfer-Encoding and no body bytes', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head('POST /ping HTTP/1.1'))
    expect((await client.response()).body).toBe('POST /ping read 0: ')
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.headers['content-length'] ?? '0').toBe('0')
    expect(seen.rest).toBe('')
  })

  it('sends a POST with Content-Length: 0 as Content-Length: 0 and no body bytes', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head('POST /ping HTTP/1.1', ['Content-Length: 0']))
    expect((await client.response()).body).toBe('POST /ping read 0: ')
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['content-length']).toBe('0')
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.rest).toBe('')
  })

  it('sends a DELETE without a body with neither Content-Length nor Transfer-Encoding', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head('DELETE /item HTTP/1.1'))
    expect((await client.response()).body).toBe('DELETE /item read 0: ')
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['content-length']).toBeUndefined()
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.rest).toBe('')
  })

  it('sends a chunked upload a middleware has read with its length, not chunked', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.use('*', async (c, next) => {
      if (!(await c.req.text()).startsWith('ok')) return c.text('refused', 403)
      await next()
    })
    const { gateway, origin } = await gatewayAndOrigin(app)
    const client = await connect(gateway)
    client.send(head('POST /form HTTP/1.1', ['Transfer-Encoding: chunked']) + chunked('ok ', 'then more'))
    expect((await client.response()).body).toBe('POST /form read 12: ok then more')
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['content-length']).toBe('12')
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.rest).toBe('ok then more')
  })

  it('keeps serving the connection after each framed body: three requests, three answers, in order', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(head('PUT /a HTTP/1.1', ['Content-Length: 3']) + 'abc')
    expect((await client.response()).body).toBe('PUT /a read 3: abc')
    client.send(head('DELETE /b HTTP/1.1', ['Transfer-Encoding: chunked']) + chunked('de'))
    expect((await client.response()).body).toBe('DELETE /b read 2: de')
    client.send(head('GET /c HTTP/1.1', ['Content-Length: 2']) + 'fg')
    expect((await client.response()).body).toBe('GET /c read 0: ')
    expect(origin.requests.map((request) => `${request.method} ${request.url}`)).toEqual(['PUT /a', 'DELETE /b', 'GET /c'])
  })
})

describe('http() through the global fetch (no wsgate runtime): the same framing', () => {
  /** An app whose only route is `http()` with no runtime bound, so the round trip is the global fetch's. */
  async function fetchApp(): Promise<{ app: Hono; origin: HttpOrigin }> {
    const origin = resources.track(await startHttpOrigin((_request, response, seen) => response.end(`read ${seen.body.length}`)))
    const app = new Hono()
    app.all('*', httpRoute(origin.url, { timeout: ORIGIN_TIMEOUT }))
    return { app, origin }
  }

  it('forwards a DELETE body with its Content-Length', async () => {
    const { app, origin } = await fetchApp()
    const answer = await app.request('http://gateway.test/item', { method: 'DELETE', body: 'hello', headers: { 'content-length': '5' } })
    expect(await answer.text()).toBe('read 5')
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['content-length']).toBe('5')
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.rest).toBe('hello')
  })

  it('forwards an OPTIONS body of unknown length chunked', async () => {
    const { app, origin } = await fetchApp()
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(SMUGGLED))
        controller.close()
      },
    })
    const answer = await app.request('http://gateway.test/item', { method: 'OPTIONS', body, duplex: 'half' } as RequestInit)
    expect(await answer.text()).toBe(`read ${SMUGGLED.length}`)
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['transfer-encoding']).toBe('chunked')
    expect(seen.headers['content-length']).toBeUndefined()
    expect(origin.requests.map((request) => request.url)).toEqual(['/item'])
  })

  it('sends a POST whose body is empty with no Transfer-Encoding and no body bytes', async () => {
    const { app, origin } = await fetchApp()
    const answer = await app.request('http://gateway.test/ping', { method: 'POST', body: '' })
    expect(await answer.text()).toBe('read 0')
    const seen = splitWire(origin.wire[0]!)
    expect(seen.headers['transfer-encoding']).toBeUndefined()
    expect(seen.headers['content-length'] ?? '0').toBe('0')
    expect(seen.rest).toBe('')
  })
})

describe('http() on the Node connector: a length that does not match its body', () => {
  it('drops the origin connection and answers 500 ERR_INTERNAL when a middleware sends a body shorter than its Content-Length', async () => {
    const origin = resources.track(await startHttpOrigin((_request, response, seen) => response.end(`read ${seen.body.length}`)))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.use('*', async (c, next) => {
      // A body replaced without fixing the length: the origin would wait for 7 bytes that never come.
      c.req.raw = new Request(c.req.raw.url, { method: 'PUT', headers: { 'content-length': '10' }, body: 'abc' })
      await next()
    })
    app.all('*', httpRoute(origin.url, { timeout: ORIGIN_TIMEOUT }))
    const answer = await app.request('http://gateway.test/item', { method: 'PUT', body: 'abc' }, { wsgate: plainRuntime() })
    expect(answer.status).toBe(500)
    expect(answer.headers.get('x-wsgate-error')).toBe('ERR_INTERNAL')
    expect(await answer.text()).toBe('request body of 3 bytes, shorter than its Content-Length of 10\n')
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the origin connection to close')
  })

  it('drops the origin connection before the excess when a middleware sends a body longer than its Content-Length', async () => {
    const origin = resources.track(await startHttpOrigin((_request, response, seen) => response.end(`read ${seen.body.length}`)))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.use('*', async (c, next) => {
      c.req.raw = new Request(c.req.raw.url, { method: 'PUT', headers: { 'content-length': '3' }, body: `abc${SMUGGLED}` })
      await next()
    })
    app.all('*', httpRoute(origin.url, { timeout: ORIGIN_TIMEOUT }))
    const answer = await app.request('http://gateway.test/item', { method: 'PUT', body: 'abc' }, { wsgate: plainRuntime() })
    // The origin may answer its 3 bytes first; the excess never follows on its connection.
    expect([200, 500]).toContain(answer.status)
    await answer.body?.cancel()
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the origin connection to close')
    expect(origin.wire.join('')).not.toContain('/smuggled')
    expect(origin.requests.map((request) => request.url)).not.toContain('/smuggled')
  })
})
