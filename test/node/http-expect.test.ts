import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import type { TestGateway } from '../helpers/gateway.ts'
import { exchangeOnce, plainRequest } from '../helpers/hostile-client.ts'
import { startHttpOrigin, type HttpOrigin } from '../helpers/http.ts'
import { useResources } from '../helpers/resources.ts'

/**
 * `Expect` (RFC 9110 §10.1.1) on a plain HTTP/1.1 request is the gateway's
 * to answer, after the edge's own checks: Node's server answers it itself
 * before any of them otherwise (100 Continue to a request the head parse
 * then refuses; 417 to any other expectation, keeping the connection and
 * reading on, without the head parse ever seeing the request).
 */

const resources = useResources()

async function gatewayTo(): Promise<{ gateway: TestGateway; origin: HttpOrigin }> {
  const origin = resources.track(await startHttpOrigin((request, response) => response.end(`answer to ${request.url}`)))
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('*', httpRoute(origin.url))
  return { gateway: await resources.gateway(app), origin }
}

describe('Expect on a plain request', () => {
  it('invites the body of an accepted request with 100 Continue, and forwards it', async () => {
    const { gateway, origin } = await gatewayTo()
    const exchange = await exchangeOnce(gateway.port, plainRequest('/a', { method: 'POST', connection: 'close', extra: ['Expect: 100-continue', 'Content-Length: 4'], body: 'abcd' }))
    expect(exchange.interim.map((line) => line.split('\r\n')[0])).toEqual(['HTTP/1.1 100 Continue'])
    expect(exchange.response?.status).toBe(200)
    expect(origin.requests.map((seen) => seen.body.toString())).toEqual(['abcd'])
  })

  it.each([
    ['an invalid Host', { host: 'a/b' }, 'ERR_HANDSHAKE_HOST'],
    ['a backslash in its target', { target: '/a\\b' }, 'ERR_HANDSHAKE_TARGET'],
  ])('refuses a request with 100-continue and %s without inviting its body first', async (_what, parts, code) => {
    const { gateway, origin } = await gatewayTo()
    const { target = '/a', ...rest } = parts as { target?: string; host?: string }
    const exchange = await exchangeOnce(gateway.port, plainRequest(target, { method: 'POST', ...rest, extra: ['Expect: 100-continue', 'Content-Length: 4'] }))
    expect(exchange.interim).toEqual([])
    expect(exchange.response?.status).toBe(400)
    expect(exchange.response?.headers['x-wsgate-error']).toBe(code)
    expect(origin.requests).toEqual([])
  })

  it('answers another expectation with 417 ERR_EXPECTATION_FAILED, closes, and runs nothing pipelined behind it', async () => {
    const { gateway, origin } = await gatewayTo()
    const request = plainRequest('/a', { method: 'POST', extra: ['Expect: x-anything', 'Content-Length: 4'], body: 'abcd' }) + plainRequest('/behind', { connection: 'close' })
    const exchange = await exchangeOnce(gateway.port, request)
    expect(exchange.response?.status).toBe(417)
    expect(exchange.response?.headers['x-wsgate-error']).toBe('ERR_EXPECTATION_FAILED')
    expect(exchange.response?.headers.connection).toBe('close')
    expect(exchange.extra.toString('latin1')).toBe('')
    expect(origin.requests).toEqual([])
    expect(gateway.logs.filter((line) => line.msg === 'request rejected')).toMatchObject([{ status: 417, code: 'ERR_EXPECTATION_FAILED' }])
  })

  it.each([
    ['a transfer coding besides chunked', ['Transfer-Encoding: gzip, chunked'], '0\r\n\r\n', 'ERR_HANDSHAKE_FRAMING'],
    ['an invalid Host', ['Content-Length: 0'], '', 'ERR_HANDSHAKE_HOST'],
  ])('refuses a head with another expectation and %s as without it, and runs nothing pipelined behind it', async (_what, extra, body, code) => {
    const { gateway, origin } = await gatewayTo()
    const host = code === 'ERR_HANDSHAKE_HOST' ? 'a/b' : '127.0.0.1'
    const request = plainRequest('/a', { method: 'POST', host, extra: ['Expect: x-anything', ...extra], body }) + plainRequest('/behind', { connection: 'close' })
    const exchange = await exchangeOnce(gateway.port, request)
    expect(exchange.response?.status).toBe(400)
    expect(exchange.response?.headers['x-wsgate-error']).toBe(code)
    expect(exchange.extra.toString('latin1')).toBe('')
    expect(origin.requests).toEqual([])
  })
})
