import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { mint, startJwksServer, testKey, type JwksServer, type TestKey } from '../helpers/jwks.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { whenHead } from '../helpers/wire.ts'

/**
 * The runtime contract: what a client sees through the example routes
 * (routes/app.ts), whichever host serves them. Each host's suite starts the
 * host in front of the origin and JWKS this suite starts, and gets the same
 * cases.
 */

/** Where the suite's origin and JWKS are, for the host to route to. */
export interface ContractBackends {
  /** A `ws` echo origin on 127.0.0.1. */
  readonly echoOrigin: string
  /** The JWKS of the suite's signing key. */
  readonly jwksUrl: string
  /** A plain HTTP origin that answers with the method, path and query it got, as JSON. */
  readonly httpOrigin: string
}

/** A running host serving the example routes. */
export interface ContractHost {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  close(): Promise<void>
}

/** What one raw handshake got back: the status line's code, the headers, the body. */
interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

/** Sends a raw handshake (exactly these header lines) and reads the answer's head, and a non-101's body. */
async function rawHandshake(url: string, path: string, headers: Record<string, string>): Promise<RawAnswer> {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  socket.on('error', () => {})
  await once(socket, 'connect')
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)]
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  try {
    return await new Promise<RawAnswer>((resolve, reject) => {
      socket.once('close', () => reject(new Error('closed before an answer')))
      whenHead(socket, (head, rest) => {
        const [statusLine, ...headerLines] = head.split('\r\n')
        const parsed: Record<string, string> = {}
        for (const line of headerLines) {
          const colon = line.indexOf(':')
          if (colon > 0) parsed[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
        }
        const status = Number(statusLine!.split(' ')[1])
        const length = Number(parsed['content-length'] ?? 0)
        let body = rest
        const done = (): void => resolve({ status, headers: parsed, body: body.toString() })
        if (status === 101 || body.length >= length) return done()
        socket.on('data', (chunk: Buffer) => {
          body = Buffer.concat([body, chunk])
          if (body.length >= length) done()
        })
      })
    })
  } finally {
    socket.destroy()
  }
}

/** Opens a ws client; resolves once open, or rejects with the refusal's status and code. */
async function connect(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<WebSocket> {
  const client = new WebSocket(url, protocols, { headers })
  return new Promise((resolve, reject) => {
    client.once('open', () => resolve(client))
    client.once('unexpected-response', (_request, response) => {
      reject(new Error(`${response.statusCode} ${String(response.headers['x-wsgate-error'])}`))
      response.resume()
    })
    client.once('error', reject)
  })
}

/** Sends `message` and resolves with the next message and whether it was binary. */
async function roundTrip(client: WebSocket, message: string | Buffer): Promise<{ data: Buffer; binary: boolean }> {
  const answer = once(client, 'message') as Promise<[Buffer, boolean]>
  client.send(message)
  const [data, binary] = await answer
  return { data: Buffer.from(data), binary }
}

/** Closes a ws client and waits for its close. */
async function close(client: WebSocket): Promise<void> {
  if (client.readyState === WebSocket.CLOSED) return
  const closed = once(client, 'close')
  client.close(1000)
  await closed
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

/** A client handshake's headers (RFC 6455 §4.1), with overrides. */
function handshake(overrides: Record<string, string> = {}): Record<string, string> {
  return { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': KEY, 'Sec-WebSocket-Version': '13', ...overrides }
}

/** How a host is reached. */
export interface ContractOptions {
  /**
   * The host sits behind `wrangler dev`'s local proxy, which answers the
   * client's WebSocket handshake itself and makes a new one (its own key,
   * version 13) toward the Worker: the cases about the client's own key and
   * version cannot reach the Worker there, and are left out.
   */
  devProxy?: boolean
}

/**
 * Defines the contract cases for one host: `start` serves the example
 * routes in front of `backends` and resolves once the host answers.
 */
export function contractSuite(hostName: string, start: (backends: ContractBackends) => Promise<ContractHost>, options: ContractOptions = {}): void {
  describe(`the runtime contract on ${hostName}`, () => {
    let origin: WsOrigin
    let jwks: JwksServer
    let httpOrigin: http.Server
    let key: TestKey
    let host: ContractHost
    let wsUrl: string

    beforeAll(async () => {
      key = await testKey('ES256', 'contract')
      jwks = await startJwksServer([key.publicJwk])
      origin = await startWsOrigin()
      httpOrigin = http.createServer((request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ method: request.method, url: request.url, forwardedFor: request.headers['x-forwarded-for'] ?? null }))
      })
      httpOrigin.listen(0, '127.0.0.1')
      await once(httpOrigin, 'listening')
      const { port } = httpOrigin.address() as net.AddressInfo
      host = await start({ echoOrigin: origin.url, jwksUrl: jwks.url, httpOrigin: `http://127.0.0.1:${port}` })
      wsUrl = host.url.replace(/^http/, 'ws')
    }, 120_000)

    afterAll(async () => {
      await host?.close()
      await origin?.close()
      await jwks?.close()
      httpOrigin?.closeAllConnections()
      await new Promise((resolve) => httpOrigin?.close(resolve))
    })

    it('relays text and binary messages through /echo, and the subprotocol the origin chose', async () => {
      const client = await connect(`${wsUrl}/echo`, ['chat.v2', 'chat.v1'])
      try {
        expect(client.protocol).toBe('chat.v2')
        expect(await roundTrip(client, 'hello through the gateway')).toEqual({ data: Buffer.from('hello through the gateway'), binary: false })
        const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251))
        const echoed = await roundTrip(client, bytes)
        expect(echoed.binary).toBe(true)
        expect(echoed.data.equals(bytes)).toBe(true)
      } finally {
        await close(client)
      }
    })

    it("relays a close from either side to the other with its code and reason (a 123-byte reason included), and the origin's drop as 1006", async () => {
      // The origin closes: the client sees its code and reason.
      const first = once(origin.server, 'connection') as Promise<[WebSocket]>
      const byOrigin = await connect(`${wsUrl}/echo`)
      const [originSide] = await first
      const closedByOrigin = once(byOrigin, 'close') as Promise<[number, Buffer]>
      originSide.close(4000, 'r'.repeat(123))
      const [code, reason] = await closedByOrigin
      expect([code, reason.toString()]).toEqual([4000, 'r'.repeat(123)])
      // The client closes: the origin sees its code and reason.
      const second = once(origin.server, 'connection') as Promise<[WebSocket]>
      const byClient = await connect(`${wsUrl}/echo`)
      const [originSide2] = await second
      const seenByOrigin = once(originSide2, 'close') as Promise<[number, Buffer]>
      byClient.close(4002, 'client leaves')
      const [code2, reason2] = await seenByOrigin
      expect([code2, reason2.toString()]).toEqual([4002, 'client leaves'])
      // The origin drops its connection without a close frame: the client's close is abnormal (1006), never a frame with it.
      const third = once(origin.server, 'connection') as Promise<[WebSocket]>
      const dropped = await connect(`${wsUrl}/echo`)
      const [originSide3] = await third
      const closedByDrop = once(dropped, 'close') as Promise<[number, Buffer]>
      originSide3.terminate()
      expect((await closedByDrop)[0]).toBe(1006)
    })

    it('answers a handshake with a JWT on /secure with 101, and one without with 401 ERR_JWT_MISSING and a Bearer challenge', async () => {
      const token = await mint(key, { sub: 'contract-user', exp: Math.floor(Date.now() / 1000) + 600 })
      const client = await connect(`${wsUrl}/secure`, [], { Authorization: `Bearer ${token}` })
      try {
        expect((await roundTrip(client, 'authorised')).data.toString()).toBe('authorised')
      } finally {
        await close(client)
      }
      const refused = await rawHandshake(host.url, '/secure', handshake())
      expect(refused.status).toBe(401)
      expect(refused.headers['x-wsgate-error']).toBe('ERR_JWT_MISSING')
      expect(refused.headers['www-authenticate']).toMatch(/^Bearer\b/)
      expect(refused.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    })

    it("takes a browser's token from the subprotocol pair ['access_token', jwt] on /secure, selects the marker, and keeps the token from the origin", async () => {
      const token = await mint(key, { sub: 'contract-user', exp: Math.floor(Date.now() / 1000) + 600 })
      const seen = once(origin.server, 'connection') as Promise<[WebSocket, http.IncomingMessage]>
      const client = await connect(`${wsUrl}/secure`, ['access_token', token])
      try {
        // A browser fails a connection whose 101 selects none of the subprotocols it offered.
        expect(client.protocol).toBe('access_token')
        const [, request] = await seen
        expect(JSON.stringify(request.headers)).not.toContain(token)
        expect((await roundTrip(client, 'through the marker')).data.toString()).toBe('through the marker')
      } finally {
        await close(client)
      }
    })

    it('routes by the request-target alone and keeps the token, hop-by-hop headers and those the Connection names from the origin', async () => {
      const token = await mint(key, { sub: 'contract-user', exp: Math.floor(Date.now() / 1000) + 600 })
      const seen = once(origin.server, 'connection') as Promise<[WebSocket, http.IncomingMessage]>
      // Raw lines: a ws client would write its own Connection over this one.
      const answer = await rawHandshake(
        host.url,
        '/secure?room=lobby',
        handshake({
          Authorization: `Bearer ${token}`,
          'X-Original-URL': '/echo',
          'X-Rewrite-URL': '/echo',
          Connection: 'Upgrade, X-Hop-Secret',
          'X-Hop-Secret': 'for this hop only',
          'Proxy-Authorization': 'Basic Z2F0ZXdheTpzZWNyZXQ=',
          'Keep-Alive': 'timeout=5',
          TE: 'trailers',
        }),
      )
      expect(answer.status).toBe(101)
      const [, request] = await seen
      expect(request.url).toBe('/secure?room=lobby')
      const forwarded = JSON.stringify(request.headers).toLowerCase()
      // wrangler dev's proxy makes its own handshake toward the Worker, with a Connection of its own: what the client's named is lost there.
      const named = options.devProxy ? [] : ['x-hop-secret']
      for (const sent of [token.toLowerCase(), ...named, 'proxy-authorization', 'keep-alive', '"te"']) expect(forwarded, sent).not.toContain(sent)
    })

    it('refuses a forged token on /secure with 401 ERR_JWT_SIGNATURE_INVALID', async () => {
      const other = await testKey('ES256', 'contract')
      const forged = await mint(other, { sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 600 })
      const refused = await rawHandshake(host.url, '/secure', handshake({ Authorization: `Bearer ${forged}` }))
      expect(refused.status).toBe(401)
      expect(refused.headers['x-wsgate-error']).toBe('ERR_JWT_SIGNATURE_INVALID')
    })

    it('blocks an SQL injection and a script tag in the query of /guarded with 403 ERR_WAF_BLOCKED, and lets a plain one through', async () => {
      for (const query of ["?room=1'%20OR%201=1--", '?room=%3Cscript%3Ealert(1)%3C/script%3E']) {
        const refused = await rawHandshake(host.url, `/guarded${query}`, handshake())
        expect(refused.status, query).toBe(403)
        expect(refused.headers['x-wsgate-error']).toBe('ERR_WAF_BLOCKED')
      }
      await close(await connect(`${wsUrl}/guarded?room=lobby`))
    })

    if (!options.devProxy) defineHandshakeCases(() => host.url)

    it('proxies plain HTTP on /api/* with http(): the path and query reach the origin, its answer the client', async () => {
      const response = await fetch(`${host.url}/api/rooms?limit=2`)
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({ method: 'GET', url: '/api/rooms?limit=2' })
    })

    it('answers a plain GET of a WebSocket route with 400 ERR_HANDSHAKE_UPGRADE, and an unknown path with 404', async () => {
      const plain = await fetch(`${host.url}/echo`)
      expect(plain.status).toBe(400)
      expect(plain.headers.get('x-wsgate-error')).toBe('ERR_HANDSHAKE_UPGRADE')
      await plain.arrayBuffer()
      const unknown = await fetch(`${host.url}/nowhere`)
      expect(unknown.status).toBe(404)
      await unknown.arrayBuffer()
    })
  })
}

/** The cases about the client's own handshake headers, checked by `websocket()` before any origin is asked. */
function defineHandshakeCases(hostUrl: () => string): void {
  it('answers a handshake of another WebSocket version with 426 and Sec-WebSocket-Version: 13', async () => {
    const refused = await rawHandshake(hostUrl(), '/echo', handshake({ 'Sec-WebSocket-Version': '8' }))
    expect(refused.status).toBe(426)
    expect(refused.headers['sec-websocket-version']).toBe('13')
    expect(refused.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_VERSION')
  })

  it('refuses a dot-segment hidden behind %2F (400), a target over 8 KiB (414) and a header section over 16 KiB (431), with the same codes', async () => {
    const hidden = await rawHandshake(hostUrl(), '/a/..%2F..%2Fecho', handshake())
    expect([hidden.status, hidden.headers['x-wsgate-error']]).toEqual([400, 'ERR_HANDSHAKE_TARGET'])
    const long = await rawHandshake(hostUrl(), `/echo?pad=${'a'.repeat(9_000)}`, handshake())
    expect([long.status, long.headers['x-wsgate-error']]).toEqual([414, 'ERR_HANDSHAKE_URI_TOO_LONG'])
    const large = await rawHandshake(hostUrl(), '/echo', handshake({ 'X-Pad': 'a'.repeat(17_000) }))
    expect([large.status, large.headers['x-wsgate-error']]).toEqual([431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE'])
  })

  it('answers a handshake without a valid key with 400 ERR_HANDSHAKE_INVALID_KEY', async () => {
    const refused = await rawHandshake(hostUrl(), '/echo', handshake({ 'Sec-WebSocket-Key': 'short' }))
    expect(refused.status).toBe(400)
    expect(refused.headers['x-wsgate-error']).toBe('ERR_HANDSHAKE_INVALID_KEY')
  })
}
