import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, proxy, websocket, type GatewayBindings } from '../../src/index.ts'
import { logsWith, waitFor, type LogLine, type TestGateway } from '../helpers/gateway.ts'
import { send, startHttpOrigin, type OriginHandler } from '../helpers/http.ts'
import { selfSignedLeaf } from '../helpers/origin-certificates.ts'
import { freePort } from '../helpers/ports.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

const resources = useResources()

/** A node:http origin, closed after the test. */
async function origin(handler: OriginHandler): Promise<string> {
  const started = await startHttpOrigin(handler)
  resources.track(started)
  return started.url
}

/** The gateway's `request` lines, once `count` of them are written (a line follows its response's end). */
async function requestLines(gateway: TestGateway, count = 1): Promise<LogLine[]> {
  await waitFor(() => logsWith(gateway, 'request').length >= count, 5_000, `${count} access line(s)`)
  return logsWith(gateway, 'request')
}

describe('access log: one line per plain HTTP request', () => {
  it('logs an http() request with its method, path without the query, route, origin, client, status, bytes and time, and sends its request id', async () => {
    const upstream = await origin((_request, response) => response.end('hello, world'))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/api/*', httpRoute(upstream))
    const gateway = await resources.gateway(app)

    const answer = await send(`${gateway.url}/api/items?token=secret`)
    expect(answer.status).toBe(200)
    const [line] = await requestLines(gateway)
    expect(line).toMatchObject({
      level: 30,
      reqId: answer.headers['x-request-id'],
      method: 'GET',
      path: '/api/items',
      route: '/api/*',
      origin: upstream,
      client: '127.0.0.1',
      status: 200,
      bytes: Buffer.byteLength('hello, world'),
    })
    expect(line!.ms).toEqual(expect.any(Number))
    expect(line!.code).toBeUndefined()
    expect(JSON.stringify(line)).not.toContain('secret')
    expect(logsWith(gateway, 'handshake rejected')).toHaveLength(0)
  })

  it('logs a request served by a handler of the app, with the body bytes of a streamed response', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/health', (c) => c.text('ok'))
    app.get('/stream', () => {
      const chunks = ['one ', 'two ', 'three']
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift()
          if (next === undefined) controller.close()
          else controller.enqueue(new TextEncoder().encode(next))
        },
      })
      return new Response(body, { headers: { 'content-type': 'text/plain' } })
    })
    const gateway = await resources.gateway(app)

    expect((await send(`${gateway.url}/health`)).body.toString()).toBe('ok')
    expect((await send(`${gateway.url}/stream`)).body.toString()).toBe('one two three')
    const lines = await requestLines(gateway, 2)
    expect(lines.find((line) => line.path === '/health')).toMatchObject({ method: 'GET', status: 200, bytes: 2 })
    expect(lines.find((line) => line.path === '/stream')).toMatchObject({ method: 'GET', status: 200, bytes: 13 })
    // No route noted it: the line has none rather than a guess.
    expect(lines.every((line) => line.route === undefined)).toBe(true)
  })

  it('counts no body bytes for a HEAD request', async () => {
    const upstream = await origin((_request, response) => {
      response.setHeader('content-length', '5')
      response.end()
    })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', httpRoute(upstream))
    const gateway = await resources.gateway(app)
    expect((await send(`${gateway.url}/file`, { method: 'HEAD' })).status).toBe(200)
    const [line] = await requestLines(gateway)
    expect(line).toMatchObject({ method: 'HEAD', path: '/file', status: 200, bytes: 0 })
  })

  it('logs a 502 with cause ECONNREFUSED when the origin refuses the connection', async () => {
    const port = await freePort()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/api/*', httpRoute(`http://127.0.0.1:${port}`))
    const gateway = await resources.gateway(app)

    const answer = await send(`${gateway.url}/api/x`)
    expect(answer.status).toBe(502)
    const [line] = await requestLines(gateway)
    expect(line).toMatchObject({ route: '/api/*', status: 502, code: 'ERR_ORIGIN_UNAVAILABLE', cause: 'ECONNREFUSED', reqId: answer.headers['x-request-id'] })
    expect(line!.originCause).toContain('ECONNREFUSED')
    expect(line!.bytes).toBe(answer.body.length)
  })

  it('logs a 504 with cause timeout and the step that did not finish when the origin never answers', async () => {
    const silent = await resources.rawOrigin(() => {})
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', httpRoute(`http://127.0.0.1:${silent.port}`, { timeout: 200 }))
    const gateway = await resources.gateway(app)

    expect((await send(`${gateway.url}/slow`)).status).toBe(504)
    const [line] = await requestLines(gateway)
    expect(line).toMatchObject({ status: 504, code: 'ERR_ORIGIN_TIMEOUT', cause: 'timeout', originCause: 'no response head' })
  })

  it("logs a 502 with the certificate's error code as the cause when the origin's certificate is rejected", async () => {
    const pair = selfSignedLeaf(['DNS:localhost'])
    const server = https.createServer({ cert: pair.cert, key: pair.key }, (_request, response) => response.end('never'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    resources.track({ close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }) })
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('*', httpRoute(`https://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { tls: { servername: 'localhost' } }))
    const gateway = await resources.gateway(app)

    expect((await send(`${gateway.url}/`)).status).toBe(502)
    const [line] = await requestLines(gateway)
    expect(line).toMatchObject({ status: 502, code: 'ERR_ORIGIN_TLS', cause: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  })

  it('logs a plain request through proxy() with its route and origin', async () => {
    const upstream = await origin((_request, response) => response.end('polled'))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/live', proxy(upstream))
    const gateway = await resources.gateway(app)
    expect((await send(`${gateway.url}/live`)).body.toString()).toBe('polled')
    const [line] = await requestLines(gateway)
    expect(line).toMatchObject({ method: 'GET', path: '/live', route: '/live', origin: upstream, status: 200, bytes: 6 })
  })

  it('marks a response the client left in the middle of as incomplete, with the status it had begun', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    let cancelled = false
    app.get('/events', () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('data: first\n\n'))
        },
        cancel() {
          cancelled = true
        },
      })
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
    })
    const gateway = await resources.gateway(app)

    const request = http.get(`${gateway.url}/events`, { agent: false })
    const [response] = (await once(request, 'response')) as [http.IncomingMessage]
    await once(response, 'data')
    request.destroy()
    request.on('error', () => {})
    const [line] = await requestLines(gateway)
    expect(line).toMatchObject({ path: '/events', status: 200, incomplete: true })
    expect(line!.bytes).toBeGreaterThan(0)
    await waitFor(() => cancelled, 5_000, 'the body to be cancelled')
  })

  it('keeps the handshake line, not an access line, for a plain request that reached a WebSocket route', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/ws', websocket('ws://127.0.0.1:9'))
    app.get('/after', (c) => c.text('after'))
    const gateway = await resources.gateway(app)
    const answer = await send(`${gateway.url}/ws`)
    expect(answer.status).toBe(400)
    // A request that follows is logged: the one before it was written at once.
    await send(`${gateway.url}/after`)
    await requestLines(gateway)
    expect(logsWith(gateway, 'handshake rejected')).toMatchObject([{ route: '/ws', status: 400, code: 'ERR_HANDSHAKE_UPGRADE', reqId: answer.headers['x-request-id'] }])
    expect(logsWith(gateway, 'request').map((line) => line.path)).toEqual(['/after'])
  })
})

describe('the cause of an origin failure on the handshake line', () => {
  it('carries cause ECONNREFUSED on a 502 handshake', async () => {
    const port = await freePort()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/ws', websocket(`ws://127.0.0.1:${port}`))
    const gateway = await resources.gateway(app)
    const response = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(response.status).toBe(502)
    await waitFor(() => logsWith(gateway, 'handshake rejected').length === 1, 5_000, 'the handshake line')
    expect(logsWith(gateway, 'handshake rejected')[0]).toMatchObject({ status: 502, code: 'ERR_ORIGIN_UNAVAILABLE', cause: 'ECONNREFUSED' })
  })

  it('carries cause timeout on a 504 handshake', async () => {
    const silent = await resources.rawOrigin(() => {})
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/ws', websocket(silent.url, { handshakeTimeout: 200 }))
    const gateway = await resources.gateway(app)
    const response = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(response.status).toBe(504)
    await waitFor(() => logsWith(gateway, 'handshake rejected').length === 1, 5_000, 'the handshake line')
    expect(logsWith(gateway, 'handshake rejected')[0]).toMatchObject({ status: 504, code: 'ERR_ORIGIN_TIMEOUT', cause: 'timeout', originCause: 'no response head' })
  })
})
