/**
 * The Workers host's log lines, one per request as the Node host writes
 * them (README, "Logs" and "The access log"): run in workerd, read from
 * the Worker's console.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/gateway.ts'
import { TEST_KEY } from '../helpers/raw-client.ts'
import { startWorkerd, type Workerd } from './workerd.ts'

let worker: Workerd

beforeAll(async () => {
  // No origin is reached: the cases end at the head parse, at websocket()'s handshake check or at a plain route.
  worker = await startWorkerd(join(import.meta.dirname, 'routes-worker.ts'), { ECHO_ORIGIN: 'ws://127.0.0.1:9', RAW_ORIGIN: 'ws://127.0.0.1:9' })
}, 60_000)

afterAll(async () => {
  await worker?.close()
})

/** The line of the request `response` answered (by its x-request-id), once the Worker's console has delivered it. */
async function lineOf(response: Response): Promise<Record<string, unknown>> {
  await response.arrayBuffer()
  const id = response.headers.get('x-request-id')
  await waitFor(() => worker.lines.some((line) => line.reqId === id), 5_000, `the log line of ${id}`)
  return worker.lines.find((line) => line.reqId === id)!
}

describe('log lines on Workers', () => {
  it('writes the access line for a plain request: method, path without the query, status, and http for HTTP/2', async () => {
    const line = await lineOf(await worker.dispatch('/?token=secret', { cf: { httpProtocol: 'HTTP/2' } }))
    expect(line).toMatchObject({ level: 30, name: 'wsgate', msg: 'request', method: 'GET', path: '/', status: 200, http: '2' })
    expect(line.ms).toEqual(expect.any(Number))
    expect(JSON.stringify(line)).not.toContain('secret')
  })

  it('writes a handshake line for a plain request websocket() refused, as Node does: a failed handshake', async () => {
    const line = await lineOf(await worker.dispatch('/echo'))
    expect(line).toMatchObject({ msg: 'handshake rejected', path: '/echo', route: '/echo', status: 400, code: 'ERR_HANDSHAKE_UPGRADE' })
    expect(line).not.toHaveProperty('method')
  })

  it('writes "request rejected" without the target for a plain request the head parse refused', async () => {
    const response = await worker.dispatch('/a/..%2F..%2Fsecret-path')
    expect(response.status).toBe(400)
    await response.arrayBuffer()
    const id = response.headers.get('x-request-id')
    await waitFor(() => worker.lines.some((line) => line.msg === 'request rejected'), 5_000, 'the request rejected line')
    const line = worker.lines.find((line) => line.msg === 'request rejected')!
    expect(line).toMatchObject({ level: 30, method: 'GET', status: 400, code: 'ERR_HANDSHAKE_TARGET' })
    expect(line).not.toHaveProperty('path')
    expect(JSON.stringify(line)).not.toContain('secret-path')
    expect(worker.lines.some((other) => other.reqId === id)).toBe(false)
  })

  it("names why the origin failed in a 502's handshake line: cause and originCause, as on Node", async () => {
    // Nothing listens on the discard port: the origin cannot be reached.
    const response = await worker.dispatch('/echo', { headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': TEST_KEY, 'sec-websocket-version': '13' } })
    expect(response.status).toBe(502)
    const line = await lineOf(response)
    expect(line).toMatchObject({ msg: 'handshake rejected', route: '/echo', status: 502, code: 'ERR_ORIGIN_UNAVAILABLE', cause: 'error', originCause: expect.any(String) })
  })
})
