import { once } from 'node:events'
import http2 from 'node:http2'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { GatewayBindings } from '../../src/index.ts'
import { useCleanups, useServerCertificate } from '../helpers/certificates.ts'
import { logsWith, startGateway, waitFor } from '../helpers/gateway.ts'
import { h2SessionTo, readBody } from '../helpers/h2-websocket.ts'

/**
 * The access line of a plain HTTP/2 request says `incomplete: true` only
 * for an answer that did not go out whole (the client reset it, its body
 * broke off), as on HTTP/1.1: a stream whose halves both ended is closed
 * by Node at once, often before the `'finish'` of the gateway's END_STREAM.
 */

const NAME = 'h2-access-log.gateway.test'

const certificates = useServerCertificate(NAME)
const cleanups = useCleanups()

describe('HTTP/2: the access line of a plain request', () => {
  it('has no incomplete for answers sent whole (text, streamed, 404, a thrown 500, after a body), and incomplete: true for one the client reset mid-body', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/text', (c) => c.text('hello'))
    app.get('/throw', () => {
      throw new Error('handler broke')
    })
    app.get('/streamed', () => new Response(new ReadableStream({ start: (controller) => (controller.enqueue(new TextEncoder().encode('abc')), controller.close()) })))
    // A body that never ends: the client leaves after its first chunk.
    app.get('/endless', () => new Response(new ReadableStream({ start: (controller) => controller.enqueue(new TextEncoder().encode('first;')) })))
    app.post('/post', async (c) => c.text(`got ${(await c.req.text()).length}`))
    const gateway = await startGateway(app, { tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0 } })
    cleanups.push(() => gateway.close())
    const client = await h2SessionTo(gateway, certificates, NAME, cleanups)

    for (const path of ['/text', '/throw', '/streamed', '/nothing']) await readBody(client.request({ ':path': path }))
    const post = client.request({ ':method': 'POST', ':path': '/post' })
    post.end('abc')
    expect(await readBody(post)).toBe('got 3')
    const endless = client.request({ ':path': '/endless' })
    endless.on('error', () => {})
    await once(endless, 'data')
    endless.close(http2.constants.NGHTTP2_CANCEL)

    await waitFor(() => logsWith(gateway, 'request').length === 6, 5_000, 'six request lines')
    const lines = new Map(logsWith(gateway, 'request').map((line) => [line.path, line]))
    for (const [path, status] of [['/text', 200], ['/throw', 500], ['/streamed', 200], ['/nothing', 404], ['/post', 200]] as const) {
      expect(lines.get(path), path).toMatchObject({ status, http: '2' })
      expect(lines.get(path)!.incomplete, path).toBeUndefined()
    }
    expect(lines.get('/endless')).toMatchObject({ status: 200, incomplete: true, http: '2' })
  })
})
