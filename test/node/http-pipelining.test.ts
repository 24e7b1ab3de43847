import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, websocket, type GatewayBindings } from '../../src/index.ts'
import { waitFor, type TestGateway } from '../helpers/gateway.ts'
import { openWire, send, startHttpOrigin, type HttpOrigin, type WireConnection } from '../helpers/http.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

/**
 * Pipelined requests on one HTTP/1.1 connection are answered in the order
 * they came (RFC 9112 §9.3.2): the refusal of bytes that fail to parse
 * follows the answers to the requests before them, and bytes after a
 * request with `Connection: close` get no answer at all (§9.6). The origin
 * here holds each answer until the test releases it, so the gateway has
 * read every pipelined byte before any answer exists.
 */

const resources = useResources()

/** An origin whose answers wait for `release()`; each answers `answer to <path>`. */
interface HeldOrigin {
  origin: HttpOrigin
  /** Sends every held answer, and answers at once from now on. */
  release(): void
}

async function heldOrigin(): Promise<HeldOrigin> {
  const held: (() => void)[] = []
  let released = false
  const origin = resources.track(
    await startHttpOrigin((request, response) => {
      const body = `answer to ${request.url}`
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) })
      // The head and the start of the body go out at once; the rest waits for release().
      response.write(body.slice(0, 10))
      const finish = (): void => void response.end(body.slice(10))
      if (released) finish()
      else held.push(finish)
    }),
  )
  return {
    origin,
    release() {
      released = true
      for (const finish of held.splice(0)) finish()
    },
  }
}

/** A gateway sending every path to `origin` through `http()`. */
async function gatewayTo(origin: HttpOrigin): Promise<TestGateway> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('*', httpRoute(origin.url))
  return resources.gateway(app)
}

async function connect(gateway: TestGateway): Promise<WireConnection> {
  const wire = await openWire(gateway.port)
  resources.track(wire.socket)
  return wire
}

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\n${extra}\r\n`
}

describe('serve(): pipelined requests are answered in order', () => {
  it('answers a request first, then refuses the malformed bytes pipelined behind it with 400 ERR_HANDSHAKE_MALFORMED, and closes', async () => {
    const { origin, release } = await heldOrigin()
    const gateway = await gatewayTo(origin)
    const client = await connect(gateway)
    client.send(get('/first') + '\x00\x01 not a request\r\n\r\n')
    // The gateway has parsed both (one read) once the origin has the request.
    await waitFor(() => origin.requests.length === 1, 5_000, 'the first request at the origin')
    release()

    const first = await client.response()
    expect(first.status).toBe(200)
    expect(first.body).toBe('answer to /first')
    const refusal = await client.response()
    expect(refusal.status).toBe(400)
    expect(refusal.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_MALFORMED')
    expect(refusal.headers.connection).toBe('close')
    await client.closed
    expect(origin.requests.map((request) => request.url)).toEqual(['/first'])
  })

  it('answers two pipelined requests in order before the refusal of the malformed bytes behind them', async () => {
    const { origin, release } = await heldOrigin()
    const gateway = await gatewayTo(origin)
    const client = await connect(gateway)
    client.send(get('/one') + get('/two') + 'BR0KEN\x7f\r\n\r\n')
    await waitFor(() => origin.requests.length === 2, 5_000, 'both requests at the origin')
    release()

    expect((await client.response()).body).toBe('answer to /one')
    expect((await client.response()).body).toBe('answer to /two')
    expect((await client.response()).status).toBe(400)
    await client.closed
  })

  it('answers a request first, then refuses a pipelined POST whose chunked body is malformed with 400 ERR_HANDSHAKE_FRAMING', async () => {
    const { origin, release } = await heldOrigin()
    const gateway = await gatewayTo(origin)
    const client = await connect(gateway)
    client.send(get('/first') + 'POST /second HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')
    await waitFor(() => origin.requests.length >= 1, 5_000, 'the first request at the origin')
    release()

    expect((await client.response()).body).toBe('answer to /first')
    const refusal = await client.response()
    expect(refusal.status).toBe(400)
    expect(refusal.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_FRAMING')
    await client.closed
  })

  it('lets the first answer finish past the header deadline of the malformed bytes pipelined behind it', async () => {
    const { origin, release } = await heldOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/own', (c) => c.text('own'))
    app.all('*', httpRoute(origin.url))
    const gateway = await resources.gateway(app, { handshakeTimeout: 300 })
    // A second keep-alive connection, whose next head Node's header deadline will time (as the bytes below).
    const witness = await connect(gateway)
    witness.send(get('/own'))
    expect((await witness.response()).body).toBe('own')

    const client = await connect(gateway)
    client.send(get('/first') + '\x00\x01 not a request')
    await waitFor(() => origin.requests.length === 1, 5_000, 'the first request at the origin')
    // A head begun later than those bytes: once it has its 408, Node's deadline check has passed over them too.
    witness.send('GET /late HTTP/1.1\r\n')
    expect((await witness.response()).status).toBe(408)
    release()

    expect((await client.response()).body).toBe('answer to /first')
    expect((await client.response()).status).toBe(400)
    await client.closed
  })

  it('answers a request with Connection: close and closes, giving the bytes pipelined behind it no answer', async () => {
    const { origin, release } = await heldOrigin()
    const gateway = await gatewayTo(origin)
    const client = await connect(gateway)
    client.send(get('/first', 'Connection: close\r\n') + get('/second'))
    await waitFor(() => origin.requests.length === 1, 5_000, 'the first request at the origin')
    release()

    const first = await client.response()
    expect(first.status).toBe(200)
    expect(first.body).toBe('answer to /first')
    await client.closed
    expect(client.received()).toBe(first.raw)
    expect(origin.requests.map((request) => request.url)).toEqual(['/first'])
  })

  it('answers an HTTP/1.0 request and closes, giving the malformed bytes pipelined behind it no answer', async () => {
    const { origin, release } = await heldOrigin()
    const gateway = await gatewayTo(origin)
    const client = await connect(gateway)
    client.send('GET /first HTTP/1.0\r\nHost: gateway.test\r\n\r\n\x00\x01 not a request\r\n\r\n')
    await waitFor(() => origin.requests.length === 1, 5_000, 'the first request at the origin')
    release()

    const first = await client.response()
    expect(first.body).toBe('answer to /first')
    await client.closed
    expect(client.received()).toBe(first.raw)
  })
})

describe('serve(): an upgrade or a CONNECT pipelined behind a request waits for its answer', () => {
  /** A gateway with a WebSocket route at /ws (to an echo origin) and every other path through `http()` to `origin`. */
  async function gatewayWithWebSocket(origin: HttpOrigin): Promise<{ gateway: TestGateway; wsOrigin: WsOrigin }> {
    const wsOrigin = resources.track(await startWsOrigin())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/ws', websocket(wsOrigin.url))
    app.all('*', httpRoute(origin.url))
    return { gateway: await resources.gateway(app), wsOrigin }
  }

  /** Until the client has the first answer's head and the start of its body (the rest is held by the origin). */
  async function firstAnswerBegun(client: WireConnection): Promise<void> {
    await waitFor(() => client.received().includes('answer to '), 5_000, 'the first answer under way')
    // The upgrade's origin answers at once: time for a 101 written out of turn to show (none is, with the fix).
    await new Promise((resolve) => setTimeout(resolve, 200))
  }

  it('answers the request first, then switches protocols for the upgrade pipelined behind it', async () => {
    const { origin, release } = await heldOrigin()
    const { gateway, wsOrigin } = await gatewayWithWebSocket(origin)
    const client = await connect(gateway)
    client.send(get('/first') + handshakeRequest('/ws'))
    await firstAnswerBegun(client)
    expect(wsOrigin.sockets).toHaveLength(0)
    release()

    const first = await client.response()
    expect(first.status).toBe(200)
    expect(first.body).toBe('answer to /first')
    const switched = await client.response()
    expect(switched.status).toBe(101)
    expect(switched.headers.upgrade?.toLowerCase()).toBe('websocket')
  })

  it('answers the request first, then refuses a CONNECT pipelined behind it with 501, and closes', async () => {
    const { origin, release } = await heldOrigin()
    const { gateway } = await gatewayWithWebSocket(origin)
    const client = await connect(gateway)
    client.send(get('/first') + 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')
    await firstAnswerBegun(client)
    release()

    expect((await client.response()).body).toBe('answer to /first')
    const refusal = await client.response()
    expect(refusal.status).toBe(501)
    expect(refusal.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED')
    await client.closed
  })

  it('never runs an upgrade pipelined behind a refused request: the refusal is the connection’s last answer', async () => {
    const { origin } = await heldOrigin()
    const { gateway, wsOrigin } = await gatewayWithWebSocket(origin)
    const client = await connect(gateway)
    client.send('GET /first HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n' + handshakeRequest('/ws'))

    const refusal = await client.response()
    expect(refusal.status).toBe(400)
    expect(refusal.headers.connection).toBe('close')
    await client.closed
    expect(client.received()).not.toContain('HTTP/1.1 101')
    expect(wsOrigin.sockets).toHaveLength(0)
    expect(origin.requests).toHaveLength(0)
    // Not run at all: no handshake line (run, it would have failed as 499 `client gone` once the connection closed).
    expect(gateway.logs.filter((line) => line.route === '/ws')).toEqual([])
  })
})

describe('http(): no media type the origin did not send', () => {
  /** A gateway in front of an origin answering 200 with `body` and the given headers, and no Content-Type. */
  async function untypedOrigin(headers: Record<string, string>, body: string): Promise<TestGateway> {
    const origin = resources.track(
      await startHttpOrigin((_request, response) => {
        response.writeHead(200, headers)
        response.end(body)
      }),
    )
    return gatewayTo(origin)
  }

  it('relays an origin’s 200 with a body and no Content-Type without one', async () => {
    const gateway = await untypedOrigin({ 'content-length': '5' }, 'hello')
    const answer = await send(`${gateway.url}/file`)
    expect(answer.status).toBe(200)
    expect(answer.body.toString()).toBe('hello')
    expect(answer.headers['content-type']).toBeUndefined()
    expect(answer.headers['content-length']).toBe('5')
  })

  it('relays a chunked body without Content-Type without one', async () => {
    const gateway = await untypedOrigin({ 'transfer-encoding': 'chunked' }, 'streamed bytes')
    const answer = await send(`${gateway.url}/stream`)
    expect(answer.body.toString()).toBe('streamed bytes')
    expect(answer.headers['content-type']).toBeUndefined()
  })

  it('answers untyped bytes on a keep-alive connection and then the next request', async () => {
    const gateway = await untypedOrigin({ 'content-length': '5' }, 'hello')
    const client = await connect(gateway)
    client.send(get('/a') + get('/b'))
    const a = await client.response()
    const b = await client.response()
    expect([a.body, b.body]).toEqual(['hello', 'hello'])
    expect(a.headers['content-type']).toBeUndefined()
    expect(b.headers['x-request-id']).toBeDefined()
  })

  it('keeps a Content-Type the origin sent, and the one c.text() sets', async () => {
    const gateway = await untypedOrigin({ 'content-type': 'application/octet-stream', 'content-length': '5' }, 'hello')
    expect((await send(`${gateway.url}/typed`)).headers['content-type']).toBe('application/octet-stream')

    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/text', (c) => c.text('hi'))
    app.get('/bytes', (c) => c.body(new TextEncoder().encode('raw'), 200, { 'x-kind': 'bytes' }))
    const own = await resources.gateway(app)
    const text = await send(`${own.url}/text`)
    expect(text.headers['content-type']).toBe('text/plain; charset=UTF-8')
    expect(text.body.toString()).toBe('hi')
    const bytes = await send(`${own.url}/bytes`)
    expect(bytes.headers['content-type']).toBeUndefined()
    expect(bytes.body.toString()).toBe('raw')
  })
})
