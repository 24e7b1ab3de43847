/**
 * The client's HTTP version as Cloudflare reports it (`request.cf.httpProtocol`),
 * read the way the Node host reads its own listeners': run in workerd.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_KEY } from '../helpers/raw-client.ts'
import { startWorkerd, type Workerd } from './workerd.ts'

let worker: Workerd

beforeAll(async () => {
  // No origin is reached: the cases end at the head parse or at a plain route.
  worker = await startWorkerd(join(import.meta.dirname, 'routes-worker.ts'), { ECHO_ORIGIN: 'ws://127.0.0.1:9', RAW_ORIGIN: 'ws://127.0.0.1:9' })
}, 60_000)

afterAll(async () => {
  await worker?.close()
})

describe('the HTTP version on Workers', () => {
  it('serves a plain request that came over HTTP/2 or HTTP/3 (Cloudflare terminated them), as the Node host serves HTTP/2', async () => {
    for (const httpProtocol of ['HTTP/2', 'HTTP/3', 'HTTP/1.1', 'HTTP/1.0']) {
      const response = await worker.dispatch('/', { cf: { httpProtocol } })
      expect(response.status, httpProtocol).toBe(200)
      expect(await response.text()).toBe('plain answer')
    }
  })

  it('refuses an upgrade over HTTP/1.0 with 400 ERR_HANDSHAKE_HTTP_VERSION, as on Node', async () => {
    const response = await worker.dispatch('/echo', {
      headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': TEST_KEY, 'sec-websocket-version': '13' },
      cf: { httpProtocol: 'HTTP/1.0' },
    })
    expect(response.status).toBe(400)
    expect(response.headers.get('x-wsgate-error')).toBe('ERR_HANDSHAKE_HTTP_VERSION')
    await response.arrayBuffer()
  })
})
