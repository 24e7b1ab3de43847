import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { logsWith, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { openWire, startHttpOrigin, type HttpOrigin, type WireConnection } from '../helpers/http.ts'
import { rawExchange } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

/**
 * Every request on a connection gets its headers within the handshake
 * timeout, the first and each keep-alive one after it, and is answered 408
 * ERR_HANDSHAKE_TIMEOUT when they are late; an idle keep-alive connection
 * is closed. Node's own header check runs every 30 s and answered 400: the
 * deadlines here are a few hundred ms, so the assertions below tell the two
 * apart without waiting anywhere near that.
 */

const resources = useResources()

/** Short, so a test waits only this long for a deadline; far below Node's own 30 s check. */
const HANDSHAKE_TIMEOUT = 300

/** How late a deadline may be answered and still count as the gateway's own (Node's check would take 22–30 s). */
const DEADLINE_SLACK = 2_000

/** A gateway with the short handshake timeout in front of a node:http origin, every path through `http()`. */
async function gatewayAndOrigin(): Promise<{ gateway: TestGateway; origin: HttpOrigin }> {
  const origin = resources.track(await startHttpOrigin((request, response) => response.end(`answer to ${request.url}`)))
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('*', httpRoute(origin.url))
  return { gateway: await resources.gateway(app, { handshakeTimeout: HANDSHAKE_TIMEOUT }), origin }
}

/** A raw keep-alive connection to the gateway, destroyed after the test. */
async function connect(gateway: TestGateway): Promise<WireConnection> {
  const wire = await openWire(gateway.port)
  resources.track(wire.socket)
  return wire
}

/** A complete GET head. */
function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\n\r\n`
}

describe('serve(): keep-alive requests get their headers within the handshake timeout', () => {
  it('answers a keep-alive request whose headers are late with 408 ERR_HANDSHAKE_TIMEOUT and closes, at the handshake timeout', async () => {
    const { gateway, origin } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(get('/first'))
    expect((await client.response()).body).toBe('answer to /first')

    const started = performance.now()
    // The second request's head, without its blank line: it never completes.
    client.send('GET /second HTTP/1.1\r\nHost: gateway.test\r\n')
    const answer = await client.response()
    const elapsed = performance.now() - started
    await client.closed

    expect(answer.status).toBe(408)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_TIMEOUT')
    expect(answer.headers.connection).toBe('close')
    expect(answer.body).toBe(`request headers not received within ${HANDSHAKE_TIMEOUT} ms\n`)
    // Not before the deadline, and nowhere near Node's own 30 s check.
    expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 10)
    expect(elapsed).toBeLessThan(HANDSHAKE_TIMEOUT + DEADLINE_SLACK)
    expect(origin.requests.map((request) => request.url)).toEqual(['/first'])
  })

  it('answers a late keep-alive request with the same bytes as a late first request', async () => {
    const { gateway } = await gatewayAndOrigin()
    const first = await rawExchange(gateway.port, 'GET /first HTTP/1.1\r\nHost: gateway.test\r\n')

    const client = await connect(gateway)
    client.send(get('/first'))
    await client.response()
    client.send('GET /second HTTP/1.1\r\nHost: gateway.test\r\n')
    const later = await client.response()

    expect(first.status).toBe(408)
    expect(later.raw).toBe(first.raw.toString('latin1'))
  })

  it('answers a keep-alive request dribbled a byte at a time with 408 at the handshake timeout, though bytes keep coming', async () => {
    const { gateway } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(get('/first'))
    await client.response()

    const started = performance.now()
    const dribble = 'GET /second HTTP/1.1\r\nHost: gateway.test\r\nX-Slow: ' + 'a'.repeat(1_000)
    let sent = 0
    // A byte every 20 ms: each resets any idle timer, only a deadline on the headers stops it.
    const pump = setInterval(() => {
      if (client.socket.destroyed || sent >= dribble.length) return clearInterval(pump)
      client.send(dribble[sent++]!)
    }, 20)
    try {
      const answer = await client.response()
      expect(answer.status).toBe(408)
      expect(answer.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_TIMEOUT')
      expect(performance.now() - started).toBeLessThan(HANDSHAKE_TIMEOUT + DEADLINE_SLACK)
      await client.closed
    } finally {
      clearInterval(pump)
    }
  })

  it('logs the late keep-alive request as rejected with 408 and its code', async () => {
    const { gateway } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(get('/first'))
    await client.response()
    client.send('GET /second HTTP/1.1\r\n')
    await client.closed
    expect(gateway.logs).toContainEqual(expect.objectContaining({ status: 408, code: 'ERR_HANDSHAKE_TIMEOUT' }))
  })

  it('closes an idle keep-alive connection without an answer once the keep-alive timeout has passed', async () => {
    const { gateway } = await gatewayAndOrigin()
    const client = await connect(gateway)
    client.send(get('/first'))
    const first = await client.response()
    // Node advertises the idle timeout it applies (whole seconds, rounded down).
    expect(first.headers['keep-alive']).toMatch(/^timeout=\d+$/)
    const answered = client.received().length

    const started = performance.now()
    await client.closed
    // Closed, not answered: nothing was asked. Node closes one second after the advertised timeout.
    expect(client.received().length).toBe(answered)
    expect(performance.now() - started).toBeLessThan(HANDSHAKE_TIMEOUT + 1_000 + DEADLINE_SLACK)
  })
})

describe('serve(): an error on a keep-alive connection never lands inside a response', () => {
  it('finishes a response still streaming, then refuses the malformed request that followed it with 400, and closes', async () => {
    let finish: (() => void) | undefined
    const origin = resources.track(
      await startHttpOrigin((_request, response) => {
        response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' })
        response.write('first;')
        finish = () => response.end('rest')
      }),
    )
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', httpRoute(origin.url))
    const gateway = await resources.gateway(app, { handshakeTimeout: HANDSHAKE_TIMEOUT })
    const client = await connect(gateway)
    client.send(get('/stream'))
    // The response's head and first chunk have reached the client: the response is under way.
    await new Promise<void>((resolve) => client.socket.on('data', () => client.received().includes('first;') && resolve()))
    client.send('\x00\x01 not a request\r\n\r\n')
    // The gateway has refused the bytes (its line is written when it decides) while the answer is still open.
    await waitFor(() => logsWith(gateway, 'handshake rejected').length === 1, 5_000, 'the refusal decided')
    expect(client.received()).not.toContain('rest')
    finish?.()

    const first = await client.response()
    expect(first.status).toBe(200)
    expect(first.body).toBe('first;rest')
    const refusal = await client.response()
    expect(refusal.status).toBe(400)
    expect(refusal.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_MALFORMED')
    await client.closed
  })

  it('drops the connection when the body of the request being answered turns malformed: its answer has begun', async () => {
    // A route that answers at once, before the request's body has come: its answer is under way while the body streams.
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.post('/upload', () => new Response(new ReadableStream({ start: (controller) => controller.enqueue(new TextEncoder().encode('early;')) })))
    const gateway = await resources.gateway(app, { handshakeTimeout: HANDSHAKE_TIMEOUT })
    const client = await connect(gateway)
    client.send('POST /upload HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
    await new Promise<void>((resolve) => client.socket.on('data', () => client.received().includes('early;') && resolve()))
    client.send('zz not a chunk size\r\n')
    await client.closed
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 /)
    expect(client.received()).not.toContain('HTTP/1.1 400')
  })
})
