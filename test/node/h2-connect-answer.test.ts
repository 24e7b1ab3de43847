import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, websocket, type GatewayBindings } from '../../src/index.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { logsWith, startGateway, waitFor } from '../helpers/gateway.ts'
import { h2SessionTo, openH2WebSocket, readBody } from '../helpers/h2-websocket.ts'
import { startHttpOrigin } from '../helpers/http.ts'
import { startRawOrigin } from '../helpers/origins.ts'

/**
 * Any 2xx answer to a CONNECT opens the tunnel (RFC 9110 §9.3.6, RFC 8441
 * §5): an HTTP/2 client takes its WebSocket for open on a 200 and reads
 * what follows as frames. So a WebSocket's extended CONNECT gets a 2xx only
 * when the gateway opened it; a route's own 2xx (a page, an `http()` route,
 * a `websocket()` origin that answered 200 instead of 101) becomes 502
 * `ERR_HANDSHAKE_NOT_UPGRADED`. Other answers pass as on HTTP/1.1.
 */

const NAME = 'h2-connect-answer.gateway.test'

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

describe('HTTP/2: the answer to a WebSocket\'s extended CONNECT that did not open it', () => {
  it('is never a 2xx: a route\'s 200 or 204 becomes 502 ERR_HANDSHAKE_NOT_UPGRADED (line and metrics say so), other statuses pass as they are', async () => {
    const api = await startHttpOrigin((_request, response) => response.end('a page from the origin'))
    cleanups.push(() => api.close())
    // An origin that answers the upgrade with a plain 200.
    const plainOrigin = await startRawOrigin((connection) => connection.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'))
    cleanups.push(() => plainOrigin.close())
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/page', (c) => c.text('not a websocket'))
    app.get('/empty', (c) => c.body(null, 204))
    app.get('/gone', (c) => c.text('gone', 410))
    app.all('/api/*', httpRoute(api.url))
    app.all('/ws-answers-200', websocket(plainOrigin.url))
    const gateway = await startGateway(app, { metrics: true, tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0 } })
    cleanups.push(() => gateway.close())
    const client = await h2SessionTo(gateway, certificates, NAME, cleanups)

    const answers: [path: string, status: unknown, code: unknown, body: string][] = []
    for (const path of ['/page', '/empty', '/api/x', '/ws-answers-200', '/gone', '/nowhere']) {
      const ws = await openH2WebSocket(client, path, {}, { read: false })
      answers.push([path, ws.headers[':status'], ws.headers['x-wsgate-error'], await readBody(ws.stream)])
    }
    expect(answers).toEqual([
      ['/page', 502, 'ERR_HANDSHAKE_NOT_UPGRADED', 'the route answered 200 without opening the WebSocket\n'],
      ['/empty', 502, 'ERR_HANDSHAKE_NOT_UPGRADED', 'the route answered 204 without opening the WebSocket\n'],
      ['/api/x', 502, 'ERR_HANDSHAKE_NOT_UPGRADED', 'the route answered 200 without opening the WebSocket\n'],
      ['/ws-answers-200', 502, 'ERR_HANDSHAKE_NOT_UPGRADED', 'the route answered 200 without opening the WebSocket\n'],
      ['/gone', 410, undefined, 'gone'],
      ['/nowhere', 404, undefined, '404 Not Found'],
    ])
    await waitFor(() => logsWith(gateway, 'handshake rejected').length === 6, 5_000, 'six handshake lines')
    expect(logsWith(gateway, 'handshake rejected').map((line) => [line.path, line.status, line.code, line.http])).toEqual([
      ['/page', 502, 'ERR_HANDSHAKE_NOT_UPGRADED', '2'],
      ['/empty', 502, 'ERR_HANDSHAKE_NOT_UPGRADED', '2'],
      ['/api/x', 502, 'ERR_HANDSHAKE_NOT_UPGRADED', '2'],
      ['/ws-answers-200', 502, 'ERR_HANDSHAKE_NOT_UPGRADED', '2'],
      ['/gone', 410, undefined, '2'],
      ['/nowhere', 404, undefined, '2'],
    ])
    expect(await gateway.metrics!.metrics()).toMatch(/wsgate_handshakes_total\{[^}]*route="\/ws-answers-200"[^}]*status="502"[^}]*code="ERR_HANDSHAKE_NOT_UPGRADED"[^}]*\} 1/)
    // The session serves on.
    expect(client.destroyed).toBe(false)
  })
})
