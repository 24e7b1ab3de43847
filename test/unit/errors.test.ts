import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_HEADER, GatewayError, withoutErrorHeader } from '../../src/errors.ts'

/** An origin whose every answer is a 403 carrying an x-wsgate-error of its own. */
let origin: http.Server
let originUrl: string

beforeAll(async () => {
  origin = http.createServer((_request, response) => {
    response.writeHead(403, { [ERROR_HEADER]: 'ERR_WAF_BLOCKED', 'x-kept': 'yes', 'content-type': 'text/plain' })
    response.end('from the origin')
  })
  origin.listen(0, '127.0.0.1')
  await once(origin, 'listening')
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`
})

afterAll(() => new Promise<void>((resolve) => origin.close(() => resolve())))

describe('withoutErrorHeader()', () => {
  it("drops an origin's x-wsgate-error from a response whose headers can change, in place", () => {
    const response = new Response('no', { status: 403, headers: { [ERROR_HEADER]: 'ERR_JWT_EXPIRED', 'x-kept': 'yes' } })
    const relayed = withoutErrorHeader(response)
    expect(relayed).toBe(response)
    expect(relayed.headers.has(ERROR_HEADER)).toBe(false)
    expect(relayed.headers.get('x-kept')).toBe('yes')
  })

  it("drops it from a fetch() answer, whose headers cannot change, through a copy with the same status, headers and body", async () => {
    const answer = await fetch(originUrl)
    expect(() => answer.headers.delete('x-kept')).toThrow(TypeError)
    const relayed = withoutErrorHeader(answer)
    expect(relayed.status).toBe(403)
    expect(relayed.headers.has(ERROR_HEADER)).toBe(false)
    expect(relayed.headers.get('x-kept')).toBe('yes')
    expect(await relayed.text()).toBe('from the origin')
  })

  it('returns a response without one as it is', () => {
    const response = new Response('ok')
    expect(withoutErrorHeader(response)).toBe(response)
  })

  it("leaves the gateway's own refusals their code", () => {
    const refusal = new GatewayError(429, 'ERR_RATE_LIMITED', 'slow down').getResponse()
    expect(refusal.headers.get(ERROR_HEADER)).toBe('ERR_RATE_LIMITED')
  })
})
