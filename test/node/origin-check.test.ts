import { once } from 'node:events'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { Hono } from 'hono'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { originCheck } from '../../middleware/origin-check.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { expectNoOpenSockets, logsWith, startGateway, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { echoOnce } from '../helpers/resources.ts'

const ALLOWED = ['https://app.example.com', 'https://*.example.com']

/** What a refused ws client got back instead of a 101. */
interface Refusal {
  status: number
  code: string | undefined
  body: string
}

/** Opens a real ws client that must be refused, and returns the gateway's answer. */
async function refusedClient(url: string, origin?: string): Promise<Refusal> {
  const client = new WebSocket(url, origin === undefined ? {} : { origin })
  client.on('error', () => {})
  const [request, response] = (await once(client, 'unexpected-response')) as [ClientRequest, IncomingMessage]
  let body = ''
  response.setEncoding('utf8')
  for await (const chunk of response) body += chunk as string
  request.destroy()
  return { status: response.statusCode ?? 0, code: response.headers['x-wsgate-error'] as string | undefined, body }
}

/** Opens a real ws client that must be admitted, echoes one message and closes it. */
function echoThrough(url: string, origin?: string): Promise<void> {
  return echoOnce(url, 'hello', origin === undefined ? {} : { origin })
}

describe('originCheck() in a real gateway', () => {
  let echoOrigin: WsOrigin
  let gateway: TestGateway

  beforeEach(async () => {
    echoOrigin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', originCheck({ allowedOrigins: ALLOWED }), websocket(echoOrigin.url))
    app.all('/open', originCheck({ allowedOrigins: ALLOWED, allowMissing: true }), websocket(echoOrigin.url))
    app.all('/plain', originCheck({ allowedOrigins: ALLOWED }), (c) => c.text('plain ok'))
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    // After every case, the same gateway still admits an allowed browser origin and holds no socket.
    try {
      await echoThrough(`${gateway.wsUrl}/chat`, 'https://app.example.com')
      await expectNoOpenSockets(gateway)
    } finally {
      await gateway.close()
      await echoOrigin.close()
    }
  })

  for (const origin of ['https://app.example.com', 'https://chat.example.com', 'HTTPS://Chat.Example.COM:443']) {
    it(`admits a ws client with Origin ${origin} and pipes its messages`, async () => {
      await echoThrough(`${gateway.wsUrl}/chat`, origin)
      expect(echoOrigin.sockets).toHaveLength(1)
    })
  }

  for (const origin of ['https://evil.example', 'https://example.com.evil.com', 'https://evilexample.com', 'http://app.example.com']) {
    it(`refuses a ws client with Origin ${origin} with 403 and ERR_ORIGIN_HEADER_FORBIDDEN, without contacting the origin`, async () => {
      const refusal = await refusedClient(`${gateway.wsUrl}/chat`, origin)
      expect(refusal.status).toBe(403)
      expect(refusal.code).toBe('ERR_ORIGIN_HEADER_FORBIDDEN')
      expect(refusal.body).toMatch(/^Origin .* is not allowed\n$/)
      expect(echoOrigin.sockets).toHaveLength(0)
    })
  }

  it('refuses a ws client without Origin with 403 and ERR_ORIGIN_HEADER_MISSING by default', async () => {
    const refusal = await refusedClient(`${gateway.wsUrl}/chat`)
    expect(refusal).toEqual({ status: 403, code: 'ERR_ORIGIN_HEADER_MISSING', body: 'missing Origin header\n' })
    expect(echoOrigin.sockets).toHaveLength(0)
  })

  it('admits a ws client without Origin on a route with allowMissing: true', async () => {
    await echoThrough(`${gateway.wsUrl}/open`)
    expect(echoOrigin.sockets).toHaveLength(1)
  })

  it('still refuses a forbidden Origin on a route with allowMissing: true', async () => {
    const refusal = await refusedClient(`${gateway.wsUrl}/open`, 'https://evil.example')
    expect(refusal.status).toBe(403)
    expect(refusal.code).toBe('ERR_ORIGIN_HEADER_FORBIDDEN')
  })

  it('refuses Origin: null with 403 and ERR_ORIGIN_HEADER_FORBIDDEN', async () => {
    const response = await rawExchange(gateway.port, handshakeRequest('/chat', { Origin: 'null' }))
    expect(response.status, response.statusLine).toBe(403)
    expect(response.headers['x-wsgate-error']).toBe('ERR_ORIGIN_HEADER_FORBIDDEN')
    expect(response.body).toBe('Origin header is not an allowed origin\n')
  })

  it('refuses two Origin headers, one of them allowed, with 403 and ERR_ORIGIN_HEADER_FORBIDDEN', async () => {
    const request = handshakeRequest('/chat', { Origin: 'https://app.example.com' }).replace('\r\n\r\n', '\r\nOrigin: https://evil.example\r\n\r\n')
    const response = await rawExchange(gateway.port, request)
    expect(response.status, response.statusLine).toBe(403)
    expect(response.headers['x-wsgate-error']).toBe('ERR_ORIGIN_HEADER_FORBIDDEN')
    expect(echoOrigin.sockets).toHaveLength(0)
  })

  it('logs the refusal with its code for the operator', async () => {
    const refusal = await refusedClient(`${gateway.wsUrl}/chat`, 'https://evil.example')
    expect(refusal.status).toBe(403)
    const refused = (): boolean => logsWith(gateway, 'handshake rejected').some((line) => line.code === 'ERR_ORIGIN_HEADER_FORBIDDEN')
    await waitFor(refused, 2_000, "a 'handshake rejected' line with ERR_ORIGIN_HEADER_FORBIDDEN")
    expect(logsWith(gateway, 'handshake rejected')).toContainEqual(expect.objectContaining({ status: 403, code: 'ERR_ORIGIN_HEADER_FORBIDDEN', client: '127.0.0.1' }))
  })

  it('refuses a plain HTTP request from a forbidden Origin and admits one from an allowed Origin', async () => {
    const plain = (origin: string): string => `GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${origin}\r\nConnection: close\r\n\r\n`
    const refused = await rawExchange(gateway.port, plain('https://evil.example'))
    expect(refused.status, refused.statusLine).toBe(403)
    expect(refused.headers['x-wsgate-error']).toBe('ERR_ORIGIN_HEADER_FORBIDDEN')
    expect(refused.body).toMatch(/Origin https:\/\/evil\.example is not allowed\n/)
    const admitted = await rawExchange(gateway.port, plain('https://app.example.com'))
    expect(admitted.status, admitted.statusLine).toBe(200)
    expect(admitted.body).toMatch(/plain ok/)
  })
})
