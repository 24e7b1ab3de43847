import { once } from 'node:events'
import http from 'node:http'
import type net from 'node:net'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jwtAuth } from '../../middleware/jwt-auth/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { mint, testKey, type TestKey } from '../helpers/jwks.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { exchangeOnce } from '../helpers/hostile-client.ts'
import { handshakeRequest } from '../helpers/raw-client.ts'

/**
 * What the gateway does with a JWKS endpoint that answers something other
 * than a small key set: a body far larger than any key set (whole, with a
 * Content-Length, or chunked without one), or a redirect. Each is 503
 * ERR_JWKS_UNAVAILABLE, read no further than the bound, and the gateway
 * keeps serving; a key set under the bound still verifies.
 */

/** How the endpoint answers the next fetch. */
type Mode = 'keys' | 'padded' | 'huge-length' | 'huge-chunked' | 'redirect'

/**
 * Bytes of padding past the gateway's bound (1 MiB): a valid key set, but
 * too big to be one; far more than loopback socket buffers hold, so a
 * gateway that stops reading at the bound stops the endpoint's writes well
 * before the end.
 */
const HUGE = 64 * 1024 * 1024

describe('jwtAuth: what a JWKS fetch may bring back', () => {
  let key: TestKey
  let mode: Mode = 'keys'
  /** Body bytes the endpoint managed to write for the last fetch. */
  let written = 0
  let server: http.Server
  let origin: WsOrigin
  let gateway: TestGateway

  /** A JSON key set with `padding` bytes of an extra member. */
  function keySet(padding: number): string {
    return JSON.stringify({ keys: [key.publicJwk], pad: 'p'.repeat(padding) })
  }

  beforeAll(async () => {
    key = await testKey('ES256', 'ec-1')
    server = http.createServer((request, response) => {
      written = 0
      if (request.url === '/elsewhere') return void response.writeHead(200, { 'content-type': 'application/json' }).end(keySet(0))
      if (mode === 'redirect') return void response.writeHead(302, { location: '/elsewhere' }).end()
      if (mode === 'keys' || mode === 'padded') return void response.writeHead(200, { 'content-type': 'application/json' }).end(keySet(mode === 'padded' ? 512 * 1024 : 0))
      // A valid key set whose padding member is HUGE bytes long, written in 64 KiB pieces as the reader drains them.
      const [head, tail] = keySet(0).split('"pad":""')
      const opening = Buffer.from(`${head}"pad":"`)
      const closing = Buffer.from(`"${tail}`)
      const length = opening.length + HUGE + closing.length
      response.writeHead(200, mode === 'huge-length' ? { 'content-type': 'application/json', 'content-length': String(length) } : { 'content-type': 'application/json' })
      response.write(opening)
      const piece = Buffer.alloc(64 * 1024, 'p')
      let padded = 0
      const pump = (): void => {
        while (padded < HUGE) {
          padded += piece.length
          written += piece.length
          if (!response.write(piece)) return void response.once('drain', pump)
        }
        response.end(closing)
      }
      response.on('error', () => {})
      pump()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const jwksUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/jwks.json`
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    // No cooldown, no cache: every handshake fetches the set anew.
    app.all('/chat', jwtAuth({ jwksUrl, algorithms: ['ES256'], jwksCooldown: 0, jwksCacheMaxAge: 0 }), websocket(origin.url))
    gateway = await startGateway(app)
  })

  afterAll(async () => {
    try {
      await expectNoOpenSockets(gateway)
    } finally {
      await gateway.close()
      await origin.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  /** One handshake with a genuine token: its status (a refusal must be the JWKS's 503). */
  async function handshake(): Promise<number | undefined> {
    const token = await mint(key, { sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 })
    const { response } = await exchangeOnce(gateway.port, handshakeRequest('/chat', { Authorization: `Bearer ${token}` }))
    if (response?.status !== 101) expect(response?.headers['x-wsgate-error'], response?.statusLine).toBe('ERR_JWKS_UNAVAILABLE')
    return response?.status
  }

  for (const [label, which] of [
    ['a 64 MiB key set with its Content-Length', 'huge-length'],
    ['a 64 MiB key set, chunked without a length', 'huge-chunked'],
  ] as const) {
    it(`answers 503 ERR_JWKS_UNAVAILABLE to ${label}, stops reading it, and keeps serving`, async () => {
      mode = which
      expect(await handshake()).toBe(503)
      expect(written, 'bytes the endpoint wrote before the gateway stopped reading').toBeLessThan(HUGE)
      mode = 'keys'
      expect(await handshake()).toBe(101)
    })
  }

  it('answers 503 ERR_JWKS_UNAVAILABLE to a redirect, never following it to the key set it points at', async () => {
    mode = 'redirect'
    expect(await handshake()).toBe(503)
    mode = 'keys'
    expect(await handshake()).toBe(101)
  })

  it('verifies with a key set of 512 KiB, under the bound', async () => {
    mode = 'padded'
    expect(await handshake()).toBe(101)
  })
})
