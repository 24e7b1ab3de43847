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
 * HTTP/2 carries any method token, lower-case ones included, where the
 * HTTP/1.1 listener takes the methods Node's parser knows (501 for another
 * well-formed one). A method's identity does not survive the way on: Fetch's
 * `Request` rewrites `get`, `post`, … to upper case and throws on `connect`,
 * `trace`, `track`; Node's client sends every method upper-cased, so a
 * `patch` would pass a route's PATCH guard by and reach the origin as PATCH.
 * Such a method is refused at the edge, as on HTTP/1.1.
 */

const NAME = 'h2-method-case.gateway.test'

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

describe('HTTP/2: a method the HTTP/1.1 listener would not take', () => {
  it('answers 501 ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED before the chain (no PATCH guard passed by with `patch`, no 500, no error line), as HTTP/1.1 does, and passes the known methods', async () => {
    const api = await startHttpOrigin((request, response) => response.end(`${request.method} ${request.url}`))
    cleanups.push(() => api.close())
    let chained = 0
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.use('*', async (_c, next) => {
      chained++
      await next()
    })
    // A guard on PATCH only, before a route for every method.
    app.on('PATCH', '/api/*', (c) => c.text('PATCH needs a token', 401))
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
    const refused = ['patch', 'get', 'Get', 'post', 'delete', 'connect', 'trace', 'Track', 'FOO']
    for (const method of refused) {
      expect(await ask(method, '/api/a'), method).toEqual([501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', 'method not recognised\n'])
    }
    expect(chained).toBe(0)
    expect(api.requests).toEqual([])
    expect(gateway.logs.filter((line) => (line.level as number) >= 50)).toEqual([])
    await waitFor(() => logsWith(gateway, 'request rejected').length === refused.length, 5_000, 'the refusals\' lines')
    expect(logsWith(gateway, 'request rejected')[0]).toMatchObject({ method: 'patch', status: 501, code: 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', http: '2' })

    // The methods HTTP/1.1 takes pass as sent: the guard holds PATCH, the others reach the origin.
    expect(await ask('PATCH', '/api/b')).toEqual([401, undefined, 'PATCH needs a token'])
    expect(await ask('GET', '/api/c')).toEqual([200, undefined, 'GET /api/c'])
    expect(await ask('PROPFIND', '/api/d')).toEqual([200, undefined, 'PROPFIND /api/d'])
    expect(api.requests.map((request) => request.method)).toEqual(['GET', 'PROPFIND'])
  })
})
