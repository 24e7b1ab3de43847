import { once } from 'node:events'
import type { IncomingHttpHeaders } from 'node:http2'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { logsWith, startGateway, waitFor } from '../helpers/gateway.ts'
import { h2SessionTo, readBody } from '../helpers/h2-websocket.ts'
import { startHttpOrigin } from '../helpers/http.ts'

/**
 * HTTP/2 carries any method token, lower-case ones included, where
 * HTTP/1.1's parser takes upper-case methods only. Methods are
 * case-sensitive (RFC 9110 §9.1), but Fetch's `Request` rewrites `get`,
 * `post`, … to upper case and throws on `connect`, `trace`, `track`: such a
 * method is refused at the edge instead.
 */

const NAME = 'h2-method-case.gateway.test'

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

describe('HTTP/2: a method Fetch would rewrite or refuse for its case', () => {
  it('answers 501 ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED before the chain (no route sees `get` as GET, no 500, no error line), and passes other methods as sent', async () => {
    const api = await startHttpOrigin((request, response) => response.end(`${request.method} ${request.url}`))
    cleanups.push(() => api.close())
    let chained = 0
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.use('*', async (_c, next) => {
      chained++
      await next()
    })
    app.all('/api/*', httpRoute(api.url))
    const gateway = await startGateway(app, { tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0 } })
    cleanups.push(() => gateway.close())
    const client = await h2SessionTo(gateway, certificates, NAME, cleanups)

    const ask = async (method: string, path: string): Promise<[status: unknown, code: unknown, body: string]> => {
      const stream = client.request({ ':method': method, ':path': path })
      stream.on('error', () => {})
      stream.end()
      const [head] = (await once(stream, 'response')) as [IncomingHttpHeaders]
      return [head[':status'], head['x-wsgate-error'], await readBody(stream)]
    }
    for (const method of ['get', 'Get', 'post', 'delete', 'connect', 'trace', 'Track']) {
      expect(await ask(method, '/api/a'), method).toEqual([501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', `method ${method} is not served\n`])
    }
    expect(chained).toBe(0)
    expect(api.requests).toEqual([])
    expect(gateway.logs.filter((line) => (line.level as number) >= 50)).toEqual([])
    await waitFor(() => logsWith(gateway, 'request rejected').length === 7, 5_000, 'the refusals\' lines')
    expect(logsWith(gateway, 'request rejected')[0]).toMatchObject({ method: 'get', status: 501, code: 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', http: '2' })

    // The usual methods pass; so does a lower-case method Fetch keeps as it is (Node's client sends it upper-cased).
    expect(await ask('GET', '/api/b')).toEqual([200, undefined, 'GET /api/b'])
    expect((await ask('patch', '/api/c'))[0]).toBe(200)
    expect(api.requests.map((request) => request.url)).toEqual(['/api/b', '/api/c'])
    expect(chained).toBe(2)
  })
})
