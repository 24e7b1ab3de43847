import { once } from 'node:events'
import http from 'node:http'
import http2, { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import net from 'node:net'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { DEFAULT_MAX_REQUESTS_PER_CLIENT } from '../../src/defaults.ts'
import { FairShare } from '../../src/fair-share.ts'
import { GatewayError } from '../../src/errors.ts'
import { http as httpRoute, websocket, type GatewayBindings } from '../../src/index.ts'
import { serveOptions } from '../../src/node/cli.ts'
import { serve } from '../../src/node/index.ts'
import { createLogger } from '../../src/node/log.ts'
import { resolveServeSettings, serveWarnings } from '../../src/node/settings.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { startGateway, waitFor, type GatewayOptions, type TestGateway } from '../helpers/gateway.ts'
import { h2SessionTo, readBody } from '../helpers/h2-websocket.ts'
import { startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'
import { startWsOrigin } from '../helpers/origins.ts'

/**
 * `maxRequestsPerClient`: plain requests (not upgrades) one client address
 * may have in flight, HTTP/1.1 and HTTP/2 together. A real origin holds its
 * answers until the test lets them go; clients connect from 127.0.0.1 and
 * (the second address) 127.0.0.2. Every way a request can end gives its
 * slot back, read from `gateway.requestsInFlight` and checked again by
 * filling the cap to exactly its size.
 */

const NAME = 'request-cap.gateway.test'
const CAP = 3
const FIRST = '127.0.0.1'
const SECOND = '127.0.0.2'

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

/** A held origin answer: the test ends it (or breaks it) when it likes. */
interface Held {
  readonly url: string
  readonly response: http.ServerResponse
}

interface SlowOrigin extends HttpOrigin {
  readonly held: Held[]
  /** Ends every held answer with 200 `ok <url>`. */
  releaseAll(): void
}

/**
 * An origin that holds every answer: `/slow/*` until released; `/stream/*`
 * sends its head and a first chunk at once, then holds the rest; `/error/*`
 * destroys the connection without an answer.
 */
async function slowOrigin(): Promise<SlowOrigin> {
  const held: Held[] = []
  const origin = await startHttpOrigin((request, response) => {
    const url = request.url ?? ''
    if (url.startsWith('/error')) {
      response.socket?.destroy()
      return
    }
    if (url.startsWith('/stream')) {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.write('first chunk;')
    }
    held.push({ url, response })
  })
  cleanups.push(() => origin.close())
  return Object.assign(origin, {
    held,
    releaseAll() {
      for (const { url, response } of held.splice(0)) if (!response.writableEnded && !response.destroyed) response.end(`ok ${url}`)
    },
  })
}

function capApp(origin: HttpOrigin, wsOrigin?: string): Hono<{ Bindings: GatewayBindings }> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  for (const path of ['/slow/*', '/stream/*', '/error/*', '/upload/*']) app.all(path, httpRoute(origin.url, { timeout: 30_000 }))
  app.get('/throw', () => {
    throw new Error('handler broke')
  })
  app.get('/chain', (c) => c.text('chain ran'))
  if (wsOrigin) app.all('/ws', websocket(wsOrigin))
  return app
}

async function gatewayWith(app: Hono<{ Bindings: GatewayBindings }>, options: GatewayOptions = {}): Promise<TestGateway> {
  const gateway = await startGateway(app, {
    maxRequestsPerClient: CAP,
    tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0, http2: true },
    ...options,
  })
  cleanups.push(() => gateway.close())
  return gateway
}

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** Keep-alive HTTP/1.1 agents, one per client address: concurrent requests each get a connection of their own. */
function agentFrom(localAddress: string): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, localAddress })
  cleanups.push(() => agent.destroy())
  return agent
}

/** A GET over HTTP/1.1; resolves with the whole answer. */
function get(gateway: TestGateway, path: string, agent: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${gateway.url}${path}`, { agent }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }))
      response.on('error', reject)
    })
    request.on('error', reject)
  })
}

const h2Session = (gateway: TestGateway): Promise<ClientHttp2Session> => h2SessionTo(gateway, certificates, NAME, cleanups)

/** A GET on an HTTP/2 session; resolves with its head once it comes. */
async function h2Get(client: ClientHttp2Session, path: string): Promise<{ stream: ClientHttp2Stream; head: http2.IncomingHttpHeaders }> {
  const stream = client.request({ ':path': path })
  stream.on('error', () => {})
  const [head] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders]
  return { stream, head }
}

/** Waits until the origin holds `count` answers. */
function originHolds(origin: SlowOrigin, count: number): Promise<void> {
  return waitFor(() => origin.held.length === count, 5_000, `the origin to hold ${count} requests`)
}

function inFlight(gateway: TestGateway, count: number): Promise<void> {
  return waitFor(() => gateway.requestsInFlight === count, 5_000, `${count} requests in flight (have ${gateway.requestsInFlight})`)
}

/** Fills the cap of FIRST with held HTTP/1.1 requests, checks the next is refused, then lets them all go. */
async function expectCapOfExactly(gateway: TestGateway, origin: SlowOrigin): Promise<void> {
  const agent = agentFrom(FIRST)
  const before = origin.held.length
  const pending = Array.from({ length: CAP }, (_, index) => get(gateway, `/slow/refill-${index}`, agent))
  await originHolds(origin, before + CAP)
  expect(gateway.requestsInFlight).toBe(CAP)
  expect((await get(gateway, '/slow/refill-over', agent)).headers['x-wsgate-error']).toBe('ERR_CLIENT_REQUEST_LIMIT')
  origin.releaseAll()
  for (const answer of await Promise.all(pending)) expect(answer.status).toBe(200)
  await inFlight(gateway, 0)
}

describe('maxRequestsPerClient over HTTP/1.1', () => {
  it('refuses the request beyond the cap with 429 ERR_CLIENT_REQUEST_LIMIT before the chain or the origin, lets another address through, and admits again once one completes', async () => {
    const origin = await slowOrigin()
    const gateway = await gatewayWith(capApp(origin))
    const first = agentFrom(FIRST)
    const held = Array.from({ length: CAP }, (_, index) => get(gateway, `/slow/${index}`, first))
    await originHolds(origin, CAP)
    expect(gateway.requestsInFlight).toBe(CAP)

    const refused = await get(gateway, '/slow/over', first)
    expect(refused.status).toBe(429)
    expect(refused.headers['x-wsgate-error']).toBe('ERR_CLIENT_REQUEST_LIMIT')
    expect(refused.headers['retry-after']).toBe('5')
    expect(refused.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(refused.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(refused.body).toBe(`too many requests in progress from this address (at most ${CAP})\n`)
    // Refused before the chain: a route that answers by itself is refused too, and the origin saw nothing more.
    expect((await get(gateway, '/chain', first)).headers['x-wsgate-error']).toBe('ERR_CLIENT_REQUEST_LIMIT')
    expect(origin.requests).toHaveLength(CAP)

    // Another address has a share of its own.
    const second = agentFrom(SECOND)
    const other = get(gateway, '/slow/other', second)
    await originHolds(origin, CAP + 1)
    expect(gateway.requestsInFlight).toBe(CAP + 1)
    origin.held.pop()!.response.end('other done')
    expect(await other).toMatchObject({ status: 200, body: 'other done' })

    // One of the first address's completes: a new one passes.
    origin.held.shift()!.response.end('zero done')
    expect(await held[0]).toMatchObject({ status: 200, body: 'zero done' })
    await inFlight(gateway, CAP - 1)
    const next = get(gateway, '/slow/next', first)
    await originHolds(origin, CAP)
    origin.releaseAll()
    for (const answer of await Promise.all([...held.slice(1), next])) expect(answer.status).toBe(200)
    await inFlight(gateway, 0)

    // The refused requests have their access lines, with the code and the cap.
    await waitFor(() => gateway.logs.filter((line) => line.msg === 'request' && line.status === 429).length === 2)
    const lines = gateway.logs.filter((line) => line.msg === 'request' && line.status === 429)
    expect(lines[0]).toMatchObject({ method: 'GET', path: '/slow/over', client: FIRST, code: 'ERR_CLIENT_REQUEST_LIMIT', fairShare: { limited: 'requests', max: CAP } })
    expect(lines[0]!.reqId).toBe(refused.headers['x-request-id'])
  })

  it('does not count WebSocket upgrades: a client at its request cap still opens a WebSocket', async () => {
    const origin = await slowOrigin()
    const wsOrigin = await startWsOrigin()
    cleanups.push(() => wsOrigin.close())
    const gateway = await gatewayWith(capApp(origin, wsOrigin.url))
    const agent = agentFrom(FIRST)
    const pending = Array.from({ length: CAP }, (_, index) => get(gateway, `/slow/${index}`, agent))
    await originHolds(origin, CAP)
    const ws = new WebSocket(`${gateway.wsUrl}/ws`, { localAddress: FIRST })
    await once(ws, 'open')
    expect(gateway.requestsInFlight).toBe(CAP)
    ws.send('still here')
    const [echoed] = (await once(ws, 'message')) as [Buffer]
    expect(echoed.toString()).toBe('still here')
    ws.close()
    await once(ws, 'close')
    origin.releaseAll()
    await Promise.all(pending)
    await inFlight(gateway, 0)
  })

  it('gives the slot back when the client leaves mid-body, before any answer, when the origin fails, and when the handler throws', async () => {
    const origin = await slowOrigin()
    const gateway = await gatewayWith(capApp(origin))

    // The client leaves mid-body: the head and a first chunk came, the rest is held.
    const streaming = await new Promise<http.ClientRequest>((resolve, reject) => {
      const request = http.get(`${gateway.url}/stream/1`, { agent: false, localAddress: FIRST }, (response) => {
        response.once('data', () => resolve(request))
      })
      request.on('error', reject)
    })
    expect(gateway.requestsInFlight).toBe(1)
    streaming.on('error', () => {})
    streaming.destroy()
    await inFlight(gateway, 0)

    // The client leaves before any answer.
    const waiting = http.get(`${gateway.url}/slow/left`, { agent: false, localAddress: FIRST })
    waiting.on('error', () => {})
    await originHolds(origin, 2)
    expect(gateway.requestsInFlight).toBe(1)
    waiting.destroy()
    await inFlight(gateway, 0)
    origin.releaseAll()

    // The origin breaks the connection.
    const agent = agentFrom(FIRST)
    const failed = await get(gateway, '/error/1', agent)
    expect(failed.status).toBeGreaterThanOrEqual(500)
    await inFlight(gateway, 0)

    // The handler throws.
    expect((await get(gateway, '/throw', agent)).status).toBe(500)
    await inFlight(gateway, 0)

    await expectCapOfExactly(gateway, origin)
  })

  it('gives the slot back when requestTimeout answers 408 to a body that never ends', async () => {
    const origin = await slowOrigin()
    const gateway = await gatewayWith(capApp(origin), { handshakeTimeout: 200, requestTimeout: 400 })
    const socket = net.connect({ port: gateway.port, host: '127.0.0.1', localAddress: FIRST })
    cleanups.push(() => socket.destroy())
    await once(socket, 'connect')
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    socket.write('POST /upload/1 HTTP/1.1\r\nhost: gateway.test\r\ncontent-length: 1000\r\n\r\nonly a part of it')
    await waitFor(() => gateway.requestsInFlight === 1, 2_000, 'the request to hold its slot')
    await waitFor(() => received.includes('ERR_REQUEST_TIMEOUT'), 5_000, 'the 408')
    expect(received).toMatch(/^HTTP\/1\.1 408 /)
    await inFlight(gateway, 0)
  })
})

describe('maxRequestsPerClient over HTTP/2', () => {
  it('refuses the stream beyond the cap with a 429 h2 response, counts HTTP/1.1 and HTTP/2 together, and admits again once one completes', async () => {
    const origin = await slowOrigin()
    const gateway = await gatewayWith(capApp(origin))
    const client = await h2Session(gateway)
    const streams = Array.from({ length: CAP }, (_, index) => h2Get(client, `/slow/${index}`))
    await originHolds(origin, CAP)
    expect(gateway.requestsInFlight).toBe(CAP)

    const over = await h2Get(client, '/slow/over')
    expect(over.head[':status']).toBe(429)
    expect(over.head['x-wsgate-error']).toBe('ERR_CLIENT_REQUEST_LIMIT')
    expect(over.head['retry-after']).toBe('5')
    expect(over.head['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(await readBody(over.stream)).toBe(`too many requests in progress from this address (at most ${CAP})\n`)
    // The session itself lives on, and the same address over HTTP/1.1 is over the same cap.
    expect((await get(gateway, '/slow/h1', agentFrom(FIRST))).headers['x-wsgate-error']).toBe('ERR_CLIENT_REQUEST_LIMIT')
    expect(origin.requests).toHaveLength(CAP)

    origin.held.shift()!.response.end('zero done')
    const zero = await streams[0]!
    expect(zero.head[':status']).toBe(200)
    expect(await readBody(zero.stream)).toBe('zero done')
    await inFlight(gateway, CAP - 1)
    const next = h2Get(client, '/slow/next')
    await originHolds(origin, CAP)
    origin.releaseAll()
    for (const { head, stream } of await Promise.all([...streams.slice(1), next])) {
      expect(head[':status']).toBe(200)
      await readBody(stream)
    }
    await inFlight(gateway, 0)
    await waitFor(() => gateway.logs.some((line) => line.msg === 'request' && line.status === 429 && line.http === '2'))
    expect(gateway.logs.find((line) => line.msg === 'request' && line.status === 429 && line.http === '2')).toMatchObject({
      code: 'ERR_CLIENT_REQUEST_LIMIT',
      fairShare: { limited: 'requests', max: CAP },
    })
  })

  it('gives the slot back when a stream is closed mid-body or before its answer, the origin fails, the handler throws, or the session goes', async () => {
    const origin = await slowOrigin()
    const gateway = await gatewayWith(capApp(origin))
    const client = await h2Session(gateway)

    // Closed mid-body.
    const streaming = await h2Get(client, '/stream/1')
    await once(streaming.stream, 'data')
    expect(gateway.requestsInFlight).toBe(1)
    streaming.stream.close(constants.NGHTTP2_CANCEL)
    await inFlight(gateway, 0)

    // Closed before any answer.
    const waiting = client.request({ ':path': '/slow/left' })
    waiting.on('error', () => {})
    await originHolds(origin, 2)
    expect(gateway.requestsInFlight).toBe(1)
    waiting.close(constants.NGHTTP2_CANCEL)
    await inFlight(gateway, 0)

    // The origin breaks the connection; the handler throws.
    const failed = await h2Get(client, '/error/1')
    expect(failed.head[':status']).toBeGreaterThanOrEqual(500)
    await readBody(failed.stream)
    const thrown = await h2Get(client, '/throw')
    expect(thrown.head[':status']).toBe(500)
    await readBody(thrown.stream)
    await inFlight(gateway, 0)

    // The whole session goes with requests held.
    const other = await h2Session(gateway)
    for (let index = 0; index < CAP; index++) other.request({ ':path': `/slow/session-${index}` }).on('error', () => {})
    await waitFor(() => gateway.requestsInFlight === CAP)
    other.destroy()
    await inFlight(gateway, 0)

    origin.releaseAll()
    await expectCapOfExactly(gateway, origin)
  })

  it('gives the slot back when requestTimeout answers 408 to a body that never ends', async () => {
    const origin = await slowOrigin()
    const gateway = await gatewayWith(capApp(origin), { handshakeTimeout: 200, requestTimeout: 400 })
    const client = await h2Session(gateway)
    const upload = client.request({ ':method': 'POST', ':path': '/upload/1' }, { endStream: false })
    upload.on('error', () => {})
    upload.write('the first bytes of a body that never ends')
    const [head] = (await once(upload, 'response')) as [http2.IncomingHttpHeaders]
    expect(head[':status']).toBe(408)
    await inFlight(gateway, 0)
  })
})

describe('maxRequestsPerClient: the option', () => {
  it('defaults to DEFAULT_MAX_REQUESTS_PER_CLIENT, takes Infinity (with a warning) and refuses anything but a positive integer', async () => {
    expect(resolveServeSettings({}).maxRequestsPerClient).toBe(DEFAULT_MAX_REQUESTS_PER_CLIENT)
    expect(DEFAULT_MAX_REQUESTS_PER_CLIENT).toBe(100)
    expect(resolveServeSettings({ maxRequestsPerClient: 7 }).maxRequestsPerClient).toBe(7)
    const off = resolveServeSettings({ maxRequestsPerClient: Infinity })
    expect(serveWarnings(off)).toContainEqual(expect.stringMatching(/^serve\(\): maxRequestsPerClient is Infinity/))
    expect(serveWarnings(resolveServeSettings({}))).not.toContainEqual(expect.stringMatching(/maxRequestsPerClient/))
    for (const bad of [0, -1, 1.5, Number.NaN, '3' as unknown as number]) {
      expect(() => resolveServeSettings({ maxRequestsPerClient: bad })).toThrow(TypeError)
      await expect(serve(new Hono(), { port: 0, maxRequestsPerClient: bad })).rejects.toThrow(/maxRequestsPerClient must be a positive integer, or Infinity/)
    }
  })

  it('is set by --max-requests-per-client <n|off>', () => {
    const logger = createLogger({ level: 'silent' })
    expect(serveOptions({ 'max-requests-per-client': '7' }, logger, { store: false }).maxRequestsPerClient).toBe(7)
    expect(serveOptions({ 'max-requests-per-client': 'off' }, logger, { store: false }).maxRequestsPerClient).toBe(Number.POSITIVE_INFINITY)
    expect(serveOptions({}, logger, { store: false }).maxRequestsPerClient).toBeUndefined()
    expect(() => serveOptions({ 'max-requests-per-client': 'many' }, logger, { store: false })).toThrow(/--max-requests-per-client expects a number/)
    // A number the flag passes on is checked like the option: 0 is refused at start.
    expect(() => resolveServeSettings(serveOptions({ 'max-requests-per-client': '0' }, logger, { store: false }))).toThrow(TypeError)
  })

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as the IPv4 one, and turns off with Infinity', () => {
    const share = new FairShare({ ...resolveServeSettings({ maxRequestsPerClient: 2 }) })
    const owners = [{}, {}, {}]
    expect(share.admitRequest(owners[0]!, '2001:db8:1:2::1')).toBe(true)
    expect(share.admitRequest(owners[1]!, '2001:db8:1:2:ffff::9')).toBe(true)
    expect(share.admitRequest(owners[2]!, '2001:db8:1:2::3')).toBeInstanceOf(GatewayError)
    expect(share.admitRequest(owners[2]!, '2001:db8:1:3::1')).toBe(true)
    expect(share.requestClients).toBe(2)
    // Given back once, however often.
    share.releaseRequest.call(owners[0]!)
    share.releaseRequest.call(owners[0]!)
    expect(share.requests).toBe(2)
    expect(share.admitRequest({}, '2001:db8:1:2::7')).toBe(true)
    expect(share.admitRequest({}, '::ffff:10.0.0.1')).toBe(true)
    expect(share.admitRequest({}, '10.0.0.1')).toBe(true)
    expect(share.admitRequest({}, '10.0.0.1')).toBeInstanceOf(GatewayError)

    const unlimited = new FairShare(resolveServeSettings({ maxRequestsPerClient: Infinity }))
    for (let index = 0; index < 1_000; index++) expect(unlimited.admitRequest({}, FIRST)).toBe(false)
    expect(unlimited.requests).toBe(0)
  })
})
