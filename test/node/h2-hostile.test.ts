import { once } from 'node:events'
import http2, { type IncomingHttpHeaders } from 'node:http2'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, websocket, type GatewayBindings } from '../../src/index.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { startGateway, waitFor, type GatewayOptions, type TestGateway } from '../helpers/gateway.ts'
import { connectH2, readBody } from '../helpers/h2-websocket.ts'
import { connectRawH2, FLAG, FRAME, h2Frame, hpackLiteral, rstStream, type RawH2Connection } from '../helpers/h2-frames.ts'
import { startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'
import { startRawOrigin, switchingProtocols, type RawOrigin } from '../helpers/origins.ts'

/**
 * HTTP/2 on the TLS listener as an attacker uses it (RFC 9113, RFC 8441):
 * streams reset as soon as opened (rapid reset), requests HTTP/2 calls
 * malformed (connection-specific fields, a `:path` that is not
 * origin-form, CR LF in a value), `:authority` and `host` that disagree,
 * header lists past the limits. Hand-made frames where Node's client
 * refuses to send them; every case checks that nothing reached the app's
 * chain or an origin, and that the session serves on.
 */

const NAME = 'h2-hostile.gateway.test'

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

/** A gateway with a WebSocket route to a raw origin and an http() route, and a count of the requests its chain saw. */
interface Setup {
  gateway: TestGateway
  ws: RawOrigin
  api: HttpOrigin
  /** Requests that reached the app's chain (its first middleware). */
  chained: () => number
}

async function setup(options: GatewayOptions = {}): Promise<Setup> {
  const ws = await startRawOrigin((connection) => connection.socket.write(switchingProtocols(connection)))
  cleanups.push(() => ws.close())
  const api = await startHttpOrigin((request, response) => response.end(`${request.method} ${request.url} host=${request.headers.host}`))
  cleanups.push(() => api.close())
  let chained = 0
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.use('*', async (_c, next) => {
    chained++
    await next()
  })
  app.all('/echo', websocket(ws.url))
  app.all('/api/*', httpRoute(api.url))
  app.get('/seen', (c) => c.text(`url host ${new URL(c.req.url).host}, host ${c.req.header('host')}`))
  const gateway = await startGateway(app, { ...options, tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0 } })
  cleanups.push(() => gateway.close())
  return { gateway, ws, api, chained: () => chained }
}

async function raw(gateway: TestGateway): Promise<RawH2Connection> {
  const connection = await connectRawH2(gateway.tlsPort!, certificates.ca.cert, NAME)
  cleanups.push(() => connection.socket.destroy())
  return connection
}

/** A header block of literal fields, in order. */
function block(fields: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(fields.map(([name, value]) => hpackLiteral(name, value)))
}

const get = (path: string, extra: [string, string][] = []): [string, string][] => [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':authority', NAME],
  [':path', path],
  ...extra,
]

const connect = (path: string): [string, string][] => [
  [':method', 'CONNECT'],
  [':protocol', 'websocket'],
  [':scheme', 'https'],
  [':authority', NAME],
  [':path', path],
  ['sec-websocket-version', '13'],
]

/** The first HEADERS or RST_STREAM frame on `streamId`. */
async function answerOn(connection: RawH2Connection, streamId: number): Promise<{ type: number; errorCode?: number }> {
  const find = (): { type: number; errorCode?: number } | undefined =>
    connection.frames.find((frame) => frame.streamId === streamId && (frame.type === FRAME.HEADERS || frame.type === FRAME.RST_STREAM))
  await waitFor(() => find() !== undefined, 5_000, `an answer on stream ${streamId}`)
  return find()!
}

describe('HTTP/2: rapid reset (CVE-2023-44487)', () => {
  it('runs no chain for streams reset in the same breath as their header block: no origin touched, no line, and the session serves on', async () => {
    const { gateway, ws, api, chained } = await setup({ maxHandshakesPerClient: 1_000 })
    const connection = await raw(gateway)
    const frames: Buffer[] = []
    // 100 WebSocket CONNECTs and 100 plain GETs, each reset (CANCEL) right after its HEADERS: under nghttp2's reset rate limit.
    for (let i = 0; i < 200; i++) {
      const id = 2 * i + 1
      const fields = i % 2 ? connect('/echo') : get(`/api/${i}`)
      frames.push(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS | (i % 2 ? 0 : FLAG.END_STREAM), id, block(fields)), rstStream(id, http2.constants.NGHTTP2_CANCEL))
    }
    connection.send(Buffer.concat(frames))
    await connection.ping()
    // One request after them, whole: it is served.
    connection.send(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 401, block(get('/api/after'))))
    expect((await answerOn(connection, 401)).type).toBe(FRAME.HEADERS)
    expect(chained()).toBe(1)
    expect(ws.connections).toHaveLength(0)
    expect(api.requests.map((request) => request.url)).toEqual(['/api/after'])
    expect(gateway.logs.filter((line) => line.msg.startsWith('handshake'))).toEqual([])
    expect(connection.frames.filter((frame) => frame.type === FRAME.GOAWAY)).toEqual([])
  })
})

describe('HTTP/2: malformed requests (RFC 9113 §8.1.1, §8.2, §8.3; RFC 8441 §4)', () => {
  it('resets each with PROTOCOL_ERROR before the chain runs, passes nothing to an origin, and keeps the session', async () => {
    const { gateway, ws, api, chained } = await setup()
    const connection = await raw(gateway)
    const cases: [what: string, fields: [string, string][]][] = [
      // Connection-specific fields (§8.2.2): an HTTP/1.1 origin would read them as framing or an upgrade.
      ['connection', get('/api/a', [['connection', 'close']])],
      ['transfer-encoding', get('/api/a', [['transfer-encoding', 'chunked']])],
      ['upgrade', get('/api/a', [['upgrade', 'websocket']])],
      ['keep-alive', get('/api/a', [['keep-alive', 'timeout=5']])],
      ['proxy-connection', get('/api/a', [['proxy-connection', 'keep-alive']])],
      ['te other than trailers', get('/api/a', [['te', 'gzip']])],
      // Field names are lower-case on HTTP/2 (§8.2).
      ['an upper-case name', get('/api/a', [['X-Upper', '1']])],
      // :path is origin-form (or * for OPTIONS), never absolute-form or a bare word (§8.3.1).
      ['an absolute-form :path', get('https://elsewhere.example/api/a')],
      ['a :path without its slash', get('api/a')],
      ['a :path with a space', get('/api/a b')],
      // :authority never carries userinfo (§8.3.1).
      ['userinfo in :authority', [[':method', 'GET'], [':scheme', 'https'], [':authority', `user@${NAME}`], [':path', '/api/a']]],
      // A CONNECT with :path but no :protocol is neither a tunnel nor an extended CONNECT (RFC 8441 §4).
      ['CONNECT with :path and no :protocol', [[':method', 'CONNECT'], [':scheme', 'https'], [':authority', NAME], [':path', '/echo']]],
      [':protocol on a GET', [...get('/echo'), [':protocol', 'websocket']]],
      // A content-length the DATA does not match (§8.1.1): here none at all.
      ['a content-length with no body', get('/api/a', [['content-length', '5']])],
    ]
    let id = 1
    for (const [what, fields] of cases) {
      connection.send(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, block(fields)))
      expect(await answerOn(connection, id), what).toEqual({ type: FRAME.RST_STREAM, streamId: id, errorCode: http2.constants.NGHTTP2_PROTOCOL_ERROR })
      id += 2
    }
    await connection.ping()
    expect(chained()).toBe(0)
    expect(ws.connections).toHaveLength(0)
    expect(api.requests).toHaveLength(0)
    expect(connection.frames.filter((frame) => frame.type === FRAME.GOAWAY)).toEqual([])
    expect(connection.socket.destroyed).toBe(false)
  })

  it('drops a field whose value holds CR LF: nothing is injected into the origin\'s HTTP/1.1 request', async () => {
    const { gateway, api } = await setup()
    const connection = await raw(gateway)
    connection.send(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, block(get('/api/a', [['x-note', 'a\r\nx-injected: 1'], ['x-kept', 'b']]))))
    await answerOn(connection, 1)
    await waitFor(() => api.requests.length === 1, 5_000, 'the request at the origin')
    expect(api.wire.join('')).not.toMatch(/x-injected/i)
    expect(api.requests[0]!.headers['x-note']).toBeUndefined()
  })
})

describe('HTTP/2: :authority, host and the route', () => {
  it('chooses the route by :path alone, takes Host from :authority, and refuses a host field that disagrees with 400 ERR_HANDSHAKE_HOST, as two Hosts on HTTP/1.1', async () => {
    const { gateway, api } = await setup()
    const client = await connectH2(`https://127.0.0.1:${gateway.tlsPort}`, certificates.ca.cert, NAME)
    cleanups.push(() => client.destroy())
    const elsewhere = client.request({ ':path': '/api/route', ':authority': 'elsewhere.example' })
    elsewhere.end()
    const [elsewhereHead] = (await once(elsewhere, 'response')) as [IncomingHttpHeaders]
    expect(elsewhereHead[':status']).toBe(200)
    expect(await readBody(elsewhere)).toMatch(/^GET \/api\/route /)
    const seen = client.request({ ':path': '/seen', ':authority': 'elsewhere.example' })
    seen.end()
    expect(await readBody(seen)).toBe('url host elsewhere.example, host elsewhere.example')

    const same = client.request({ ':path': '/api/same', host: NAME })
    same.end()
    const [sameHead] = (await once(same, 'response')) as [IncomingHttpHeaders]
    expect(sameHead[':status']).toBe(200)
    await readBody(same)

    // Node's client makes a host field its :authority: hand-made frames carry both.
    const connection = await raw(gateway)
    connection.send(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, block(get('/api/other', [['host', 'other.example']]))))
    connection.send(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, 3, block([...connect('/echo'), ['host', 'other.example']])))
    await Promise.all([answerOn(connection, 1), answerOn(connection, 3)])
    await waitFor(() => gateway.logs.filter((line) => line.code === 'ERR_HANDSHAKE_HOST').length === 2, 5_000, 'both refusals')
    expect(gateway.logs.find((line) => line.msg === 'request rejected')).toMatchObject({ status: 400, code: 'ERR_HANDSHAKE_HOST', http: '2' })
    expect(gateway.logs.find((line) => line.msg === 'handshake rejected')).toMatchObject({ status: 400, code: 'ERR_HANDSHAKE_HOST', http: '2' })
    expect(api.requests.map((request) => request.url)).toEqual(['/api/route', '/api/same'])
  })
})

describe('HTTP/2: what an origin answers', () => {
  it('leaves out the connection-specific fields HTTP/2 cannot carry (te among them), from a 101 and from a plain answer, instead of losing the answer', async () => {
    const extra = ['TE: gzip', 'Keep-Alive: timeout=5', 'Proxy-Connection: keep-alive', 'X-Kept: yes']
    const ws = await startRawOrigin((connection) => connection.socket.write(switchingProtocols(connection, extra)))
    cleanups.push(() => ws.close())
    const api = await startHttpOrigin((_request, response) => {
      response.setHeader('te', 'gzip')
      response.setHeader('x-kept', 'yes')
      response.end('plain')
    })
    cleanups.push(() => api.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/echo', websocket(ws.url))
    app.all('/api/*', httpRoute(api.url))
    const gateway = await startGateway(app, { tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0 } })
    cleanups.push(() => gateway.close())
    const client = await connectH2(`https://127.0.0.1:${gateway.tlsPort}`, certificates.ca.cert, NAME)
    cleanups.push(() => client.destroy())
    const upgrade = client.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/echo', 'sec-websocket-version': '13' }, { endStream: false })
    upgrade.on('error', () => {})
    const [upgradeHead] = (await once(upgrade, 'response')) as [IncomingHttpHeaders]
    expect(upgradeHead[':status']).toBe(200)
    expect(upgradeHead['x-kept']).toBe('yes')
    expect(upgradeHead.te).toBeUndefined()
    expect(gateway.connections).toBe(1)
    const plain = client.request({ ':path': '/api/a' })
    plain.end()
    const [plainHead] = (await once(plain, 'response')) as [IncomingHttpHeaders]
    expect([plainHead[':status'], plainHead['x-kept'], plainHead.te]).toEqual([200, 'yes', undefined])
    expect(await readBody(plain)).toBe('plain')
  })
})
