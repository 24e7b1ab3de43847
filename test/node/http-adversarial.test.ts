import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { cache } from '../../middleware/cache.ts'
import { http as httpRoute, websocket, type GatewayBindings } from '../../src/index.ts'
import type { TestGateway } from '../helpers/gateway.ts'
import { openWire, type WireConnection } from '../helpers/http.ts'
import { startRawOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

/**
 * http() against an origin whose answers carry framing that does not fit
 * them: the client must read exactly one response per request on its
 * keep-alive connection, whatever the origin wrote. Real gateway, a
 * byte-scripted origin, raw keep-alive clients.
 */

const resources = useResources()

/** A gateway whose http() route reaches an origin that answers each request with `answers[path]`, then closes. */
async function gatewayTo(answers: Record<string, string>, withCache = false): Promise<TestGateway> {
  const origin = resources.track(
    await startRawOrigin((connection) => {
      const path = connection.requestHead.split(' ')[1]!
      connection.socket.end(answers[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
    }),
  )
  const app = new Hono<{ Bindings: GatewayBindings }>()
  const target = `http://127.0.0.1:${origin.port}`
  if (withCache) app.all('*', cache(), httpRoute(target))
  else app.all('*', httpRoute(target))
  return resources.gateway(app)
}

async function connect(gateway: TestGateway): Promise<WireConnection> {
  const wire = await openWire(gateway.port)
  resources.track(wire.socket)
  return wire
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\n\r\n`
const NEXT = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnext'

describe('http(): a bodiless status never carries a Content-Length its body does not have (RFC 9110 §8.6, §15.3.6)', () => {
  for (const withCache of [false, true]) {
    const label = withCache ? ' (through cache())' : ''
    it(`answers a 205 whose origin sent Content-Length: 5 and a body with Content-Length: 0, and the next answer arrives intact${label}`, async () => {
      const gateway = await gatewayTo({ '/reset': 'HTTP/1.1 205 Reset Content\r\nContent-Length: 5\r\n\r\nhello', '/next': NEXT }, withCache)
      const client = await connect(gateway)
      client.send(get('/reset') + get('/next'))
      const reset = await client.response()
      expect(reset.status).toBe(205)
      expect(reset.headers['content-length']).toBe('0')
      expect(reset.body).toBe('')
      const next = await client.response()
      expect(next.status).toBe(200)
      expect(next.body).toBe('next')
    })

    it(`answers a 204 whose origin sent Content-Length: 5 without a Content-Length${label}`, async () => {
      const gateway = await gatewayTo({ '/none': 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', '/next': NEXT }, withCache)
      const client = await connect(gateway)
      client.send(get('/none') + get('/next'))
      const none = await client.response()
      expect(none.status).toBe(204)
      expect(none.headers['content-length']).toBeUndefined()
      expect(none.headers['transfer-encoding']).toBeUndefined()
      const next = await client.response()
      expect(next.status).toBe(200)
      expect(next.body).toBe('next')
    })
  }
})

describe("http(): every field line of an origin's answer within the head limit reaches the client", () => {
  it('relays an answer of 1,500 field lines with its last ones (Cache-Control: private among them) intact', async () => {
    const many = Array.from({ length: 1_500 }, (_, index) => `X-${index}: v`)
    const answer = ['HTTP/1.1 200 OK', ...many, 'Cache-Control: private', 'X-Last: yes', 'Content-Length: 2', '', 'ok'].join('\r\n')
    const gateway = await gatewayTo({ '/many': answer })
    const client = await connect(gateway)
    client.send(get('/many'))
    const response = await client.response()
    expect(response.status).toBe(200)
    expect(response.headers['x-1499']).toBe('v')
    expect(response.headers['cache-control']).toBe('private')
    expect(response.headers['x-last']).toBe('yes')
    expect(response.body).toBe('ok')
  })
})

describe("websocket(): an origin's refusal of an upgrade is relayed without its hop-by-hop headers (RFC 9110 §7.6.1)", () => {
  it('drops the headers the origin named in Connection, and Proxy-Authenticate and Trailer, as http() does', async () => {
    const origin = resources.track(
      await startRawOrigin((connection) => {
        connection.socket.end(
          [
            'HTTP/1.1 403 Forbidden',
            'Connection: x-internal-token, close',
            'X-Internal-Token: secret-for-the-gateway',
            'Proxy-Authenticate: Basic realm="origin"',
            'Trailer: x-checksum',
            'X-Kept: yes',
            'Content-Length: 2',
            '',
            'no',
          ].join('\r\n'),
        )
      }),
    )
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', websocket(origin.url))
    const gateway = await resources.gateway(app)
    const answer = await rawExchange(gateway.port, handshakeRequest('/live'))
    expect(answer.status).toBe(403)
    expect(answer.body).toBe('no')
    expect(answer.headers['x-kept']).toBe('yes')
    expect(answer.headers['x-internal-token']).toBeUndefined()
    expect(answer.headers['proxy-authenticate']).toBeUndefined()
    expect(answer.headers.trailer).toBeUndefined()
    expect(answer.headers.connection).toBe('close')
  })

  it("keeps the Upgrade header of an origin's 426, which must name the protocols it accepts (RFC 9110 §15.5.22)", async () => {
    const origin = resources.track(
      await startRawOrigin((connection) => {
        connection.socket.end('HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n')
      }),
    )
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', websocket(origin.url))
    const gateway = await resources.gateway(app)
    const answer = await rawExchange(gateway.port, handshakeRequest('/live'))
    expect(answer.status).toBe(426)
    expect(answer.headers.upgrade).toBe('websocket')
  })
})
