import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { gunzipSync, gzipSync } from 'node:zlib'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, proxy, type GatewayBindings, type HttpOptions } from '../../src/index.ts'
import { waitFor, type TestGateway } from '../helpers/gateway.ts'
import { useResources } from '../helpers/resources.ts'
import { plainRuntime, send, startHttpOrigin, type HttpOrigin, type OriginHandler } from '../helpers/http.ts'
import { startRawOrigin, type RawOrigin } from '../helpers/origins.ts'
import { rawExchange } from '../helpers/raw-client.ts'
import { pattern } from '../helpers/wire.ts'

const resources = useResources()
let gateway: TestGateway

/** A node:http origin, closed after the test. */
async function origin(handler: OriginHandler, options: { streamRequest?: boolean } = {}): Promise<HttpOrigin> {
  const started = await startHttpOrigin(handler, options)
  resources.track(started)
  return started
}

/** A gateway whose every path goes through `http(target, options)`. */
async function gatewayTo(target: string, options: HttpOptions = {}): Promise<TestGateway> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('*', httpRoute(target, options))
  gateway = await resources.gateway(app)
  return gateway
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('http(): relaying requests and responses', () => {
  it("relays the origin's status, headers (repeated Set-Cookie included) and body, with the client's path and query appended", async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(201, 'Made It', { 'content-type': 'text/plain', 'x-origin': 'yes', 'set-cookie': ['a=1', 'b=2'] })
      response.end('created')
    })
    const gw = await gatewayTo(`${upstream.url}/base?fixed=1`)
    const answer = await send(`${gw.url}/items/7?q=x`)
    expect(answer.status).toBe(201)
    expect(answer.headers['x-origin']).toBe('yes')
    expect(answer.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(answer.body.toString()).toBe('created')
    expect(upstream.requests).toHaveLength(1)
    expect(upstream.requests[0]!.url).toBe('/base/items/7?fixed=1&q=x')
    expect(upstream.requests[0]!.headers.host).toBe(`127.0.0.1:${upstream.port}`)
  })

  it("sends the client's Host with preserveHost", async () => {
    const upstream = await origin((_request, response) => response.end('ok'))
    const gw = await gatewayTo(upstream.url, { preserveHost: true })
    await send(`${gw.url}/`, { headers: { host: 'public.example' } })
    expect(upstream.requests[0]!.headers.host).toBe('public.example')
  })

  it('relays a 4 MiB POST body to the origin and a 4 MiB response back byte-exact', async () => {
    const upstream = await origin((_request, response, seen) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' })
      // Answer with the body reversed, so the check covers the response path, not an echo of the request.
      response.end(Buffer.from(seen.body).reverse())
    })
    const gw = await gatewayTo(upstream.url)
    const sent = pattern(4 * 1024 * 1024)
    const answer = await send(`${gw.url}/upload`, { method: 'POST', body: sent, headers: { 'content-type': 'application/octet-stream' } })
    expect(answer.status).toBe(200)
    expect(upstream.requests[0]!.method).toBe('POST')
    expect(upstream.requests[0]!.headers['content-length']).toBe(String(sent.length))
    expect(upstream.requests[0]!.body.equals(sent)).toBe(true)
    expect(answer.body.length).toBe(sent.length)
    expect(answer.body.equals(Buffer.from(sent).reverse())).toBe(true)
  })

  it('streams a request body: the origin receives the first chunk before the client has sent the rest', async () => {
    let received = 0
    const upstream = await origin(
      (request, response) => {
        request.on('data', (chunk: Buffer) => (received += chunk.length))
        request.on('end', () => response.end(String(received)))
      },
      { streamRequest: true },
    )
    const gw = await gatewayTo(upstream.url)
    const first = pattern(64 * 1024, 1)
    const rest = pattern(64 * 1024, 2)
    const client = http.request(`${gw.url}/stream`, { method: 'PUT', agent: false })
    const answered = new Promise<string>((resolve) => {
      client.on('response', (response) => {
        let text = ''
        response.on('data', (chunk: Buffer) => (text += chunk.toString()))
        response.on('end', () => resolve(text))
      })
    })
    client.write(first)
    // The client holds the rest back until the origin has seen the whole first chunk.
    await waitFor(() => received >= first.length, 5_000, 'the first chunk at the origin')
    client.end(rest)
    expect(await answered).toBe(String(first.length + rest.length))
    expect(upstream.requests[0]!.headers['transfer-encoding']).toBe('chunked')
  })

  it('streams a response body: the client reads the first chunk before the origin has sent the rest', async () => {
    let finish: (() => void) | undefined
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.write('first;')
      finish = () => response.end('rest')
    })
    const gw = await gatewayTo(upstream.url)
    const text = await new Promise<string>((resolve, reject) => {
      http
        .get(`${gw.url}/events`, { agent: false }, (response) => {
          let body = ''
          response.on('data', (chunk: Buffer) => {
            body += chunk.toString()
            // The origin finishes only once the first chunk has crossed the gateway.
            if (body === 'first;') finish!()
          })
          response.on('end', () => resolve(body))
        })
        .on('error', reject)
    })
    expect(text).toBe('first;rest')
  })

  it('relays a 204 and a HEAD answer without a body', async () => {
    const upstream = await origin((request, response) => {
      if (request.url === '/none') {
        response.writeHead(204, { 'x-kind': 'none' })
        response.end()
        return
      }
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' })
      response.end(request.method === 'HEAD' ? undefined : 'hello world')
    })
    const gw = await gatewayTo(upstream.url)
    const none = await send(`${gw.url}/none`)
    expect(none.status).toBe(204)
    expect(none.headers['x-kind']).toBe('none')
    expect(none.body.length).toBe(0)
    const head = await send(`${gw.url}/doc`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe('11')
    expect(upstream.requests.map((request) => request.method)).toEqual(['GET', 'HEAD'])
  })
})

describe('http(): hop-by-hop headers', () => {
  it('strips hop-by-hop headers and those named in Connection from the request', async () => {
    const upstream = await origin((_request, response) => response.end('ok'))
    const gw = await gatewayTo(upstream.url)
    await send(`${gw.url}/`, {
      headers: {
        connection: 'x-secret, keep-alive',
        'x-secret': 'for the gateway only',
        'keep-alive': 'timeout=99',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        'x-kept': 'end-to-end',
      },
    })
    const seen = upstream.requests[0]!.headers
    for (const name of ['x-secret', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te']) expect(seen[name], name).toBeUndefined()
    expect(seen.connection).not.toMatch(/x-secret/)
    expect(seen['x-kept']).toBe('end-to-end')
  })

  it('refuses an answer whose body is also coded with a transfer coding other than chunked: 502, not gzip bytes under no coding', async () => {
    const coded = gzipSync('hello')
    const raw: RawOrigin = await startRawOrigin(({ socket }) => {
      socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${coded.length.toString(16)}\r\n`), coded, Buffer.from('\r\n0\r\n\r\n')]))
    })
    resources.track(raw)
    const gw = await gatewayTo(raw.url)
    const answer = await send(`${gw.url}/`)
    expect(answer.status).toBe(502)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_UNAVAILABLE')
    expect(answer.body.toString()).toContain('transfer coding gzip')
  })

  it("strips hop-by-hop headers and those named in Connection from the origin's response", async () => {
    const raw: RawOrigin = await startRawOrigin(({ socket }) => {
      socket.end(
        [
          'HTTP/1.1 200 OK',
          'Connection: close, X-Internal',
          'X-Internal: origin secret',
          'Keep-Alive: timeout=99, max=7',
          'Proxy-Authenticate: Basic realm="origin"',
          'Upgrade: h2c',
          'X-Kept: end-to-end',
          'Content-Length: 2',
          '',
          'ok',
        ].join('\r\n'),
      )
    })
    resources.track(raw)
    const gw = await gatewayTo(raw.url)
    const answer = await send(`${gw.url}/`)
    expect(answer.status).toBe(200)
    expect(answer.body.toString()).toBe('ok')
    expect(answer.headers['x-internal']).toBeUndefined()
    expect(answer.headers['proxy-authenticate']).toBeUndefined()
    expect(answer.headers.upgrade).toBeUndefined()
    expect(answer.headers['keep-alive']).not.toBe('timeout=99, max=7')
    expect(answer.headers['x-kept']).toBe('end-to-end')
  })
})

describe('http(): bodies pass as sent', () => {
  it('passes a gzip body through undecoded, with its Content-Encoding', async () => {
    const plain = pattern(256 * 1024)
    const compressed = gzipSync(plain)
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip', 'content-length': String(compressed.length) })
      response.end(compressed)
    })
    const gw = await gatewayTo(upstream.url)
    const answer = await send(`${gw.url}/data`, { headers: { 'accept-encoding': 'gzip' } })
    expect(upstream.requests[0]!.headers['accept-encoding']).toBe('gzip')
    expect(answer.headers['content-encoding']).toBe('gzip')
    expect(answer.body.equals(compressed)).toBe(true)
    expect(gunzipSync(answer.body).equals(plain)).toBe(true)
  })

  it('relays a redirect as it came and does not follow it', async () => {
    const upstream = await origin((request, response) => {
      if (request.url === '/old') {
        response.writeHead(302, { location: '/new' })
        response.end()
        return
      }
      response.end('new place')
    })
    const gw = await gatewayTo(upstream.url)
    const answer = await send(`${gw.url}/old`)
    expect(answer.status).toBe(302)
    expect(answer.headers.location).toBe('/new')
    expect(upstream.requests.map((request) => request.url)).toEqual(['/old'])
  })
})

describe('http(): origin failures', () => {
  it('answers 502 ERR_ORIGIN_UNAVAILABLE when the origin refuses the connection', async () => {
    const gw = await gatewayTo(`http://127.0.0.1:${await closedPort()}`)
    const answer = await send(`${gw.url}/`)
    expect(answer.status).toBe(502)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_UNAVAILABLE')
    expect(answer.body.toString()).toMatch(/^origin unavailable \(ECONNREFUSED\)\n$/)
  })

  it('answers 504 ERR_ORIGIN_TIMEOUT when the origin sends no response head within the timeout', async () => {
    // Accepts the connection and reads the request, then says nothing.
    const silent = await startRawOrigin(() => {})
    resources.track(silent)
    const gw = await gatewayTo(silent.url, { timeout: 100 })
    const answer = await send(`${gw.url}/slow`)
    expect(answer.status).toBe(504)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_TIMEOUT')
    expect(answer.body.toString()).toBe('origin did not answer within 100 ms\n')
    expect(silent.connections).toHaveLength(1)
    // The gateway dropped its origin connection.
    await waitFor(() => silent.sockets.size === 0, 5_000, 'the origin connection to close')
  })
})

describe('http(): client and runtime', () => {
  it('drops the origin connection when the client leaves in the middle of the body', async () => {
    const upstream = await origin((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.write('first;')
      // …and never ends.
    })
    const gw = await gatewayTo(upstream.url)
    await new Promise<void>((resolve, reject) => {
      const client = http.get(`${gw.url}/endless`, { agent: false }, (response) => {
        response.once('data', () => {
          client.destroy()
          resolve()
        })
      })
      client.on('error', () => {})
      client.on('close', () => reject(new Error('closed before the first chunk')))
    })
    await waitFor(() => upstream.sockets.size === 0, 5_000, 'the origin connection to close')
    expect(upstream.requests).toHaveLength(1)
  })

  it('sends the body a middleware has already read (Hono keeps a copy)', async () => {
    const upstream = await origin((_request, response, seen) => response.end(`got ${seen.body.toString()}`))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', async (c, next) => {
      if ((await c.req.json<{ name: string }>()).name !== 'wsgate') return c.text('refused', 403)
      await next()
    }, httpRoute(upstream.url))
    gateway = await resources.gateway(app)
    const answer = await send(`${gateway.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{ "name": "wsgate" }' })
    // @hono/node-server keeps the bytes as received.
    expect(answer.body.toString()).toBe('got { "name": "wsgate" }')
    expect(upstream.requests[0]!.headers['content-length']).toBe('20')
  })

  it("sends the body a middleware has already read, from Hono's copy, when the Request's own stream is used up", async () => {
    const upstream = await origin((_request, response, seen) => response.end(`got ${seen.body.toString()}`))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', async (c, next) => {
      if ((await c.req.json<{ name: string }>()).name !== 'wsgate') return c.text('refused', 403)
      expect(c.req.raw.bodyUsed).toBe(true)
      await next()
    }, httpRoute(upstream.url))
    const answer = await app.request(
      'http://gw.test/',
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '20' }, body: '{ "name": "wsgate" }' },
      { wsgate: plainRuntime() },
    )
    expect(await answer.text()).toBe('got { "name": "wsgate" }')
    expect(upstream.requests[0]!.headers['content-length']).toBe('20')
  })

  it('drops Content-Encoding and Content-Length when the global fetch fallback has decoded the body, and keeps them when it has not', async () => {
    const plain = 'hello, decoded world'
    const upstream = await origin((request, response) => {
      const coded = request.url === '/gzip' ? gzipSync(plain) : Buffer.from(plain)
      response.writeHead(200, { 'content-encoding': request.url === '/gzip' ? 'gzip' : 'x-custom', 'content-length': String(coded.length) })
      response.end(coded)
    })
    const app = new Hono()
    app.all('*', httpRoute(upstream.url))
    const decoded = await app.request('http://gateway.test/gzip')
    expect(decoded.headers.get('content-encoding')).toBeNull()
    expect(decoded.headers.get('content-length')).toBeNull()
    expect(await decoded.text()).toBe(plain)
    // A coding fetch does not know passes as it came, with its header.
    const kept = await app.request('http://gateway.test/custom')
    expect(kept.headers.get('content-encoding')).toBe('x-custom')
    expect(kept.headers.get('content-length')).toBe(String(plain.length))
    expect(await kept.text()).toBe(plain)
  })

  it('falls back to the global fetch, redirects not followed, when the runtime has no fetchOrigin', async () => {
    const upstream = await origin((request, response) => {
      response.writeHead(request.url === '/old' ? 301 : 200, { location: '/new', 'x-origin': 'yes' })
      response.end()
    })
    const app = new Hono()
    app.all('*', httpRoute(upstream.url))
    const answer = await app.request('http://gateway.test/old')
    expect(answer.status).toBe(301)
    expect(answer.headers.get('location')).toBe('/new')
    expect(answer.headers.get('x-origin')).toBe('yes')
    expect(upstream.requests.map((request) => request.url)).toEqual(['/old'])
  })
})

describe('proxy(): one route, WebSocket and plain HTTP', () => {
  it('answers a non-WebSocket upgrade (Upgrade: h2c) as plain HTTP', async () => {
    const upstream = await origin((_request, response) => response.end('plain answer'))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/live', proxy(upstream.url.replace(/^http/, 'ws')))
    gateway = await resources.gateway(app)
    const answer = await rawExchange(
      gateway.port,
      'GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    )
    expect(answer.status).toBe(200)
    expect(answer.body).toBe('plain answer')
    expect(upstream.requests).toHaveLength(1)
    expect(upstream.requests[0]!.headers.upgrade).toBeUndefined()
    expect(upstream.requests[0]!.headers['http2-settings']).toBeUndefined()
  })

  it('checks the rest of the handshake when Upgrade names websocket: 400 naming Connection', async () => {
    const upstream = await origin((_request, response) => response.end('plain answer'))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/live', proxy(upstream.url))
    gateway = await resources.gateway(app)
    const answer = await send(`${gateway.url}/live`, {
      headers: { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
    })
    expect(answer.status).toBe(400)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_CONNECTION')
    expect(upstream.requests).toHaveLength(0)
  })
})
