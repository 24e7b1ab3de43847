import { createHash } from 'node:crypto'
import { once } from 'node:events'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { Hono } from 'hono'
import { beforeAll, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { http, origins, websocket, type GatewayBindings, type OriginRequest } from '../../src/index.ts'
import type { OriginTls } from '../../src/origin-tls.ts'
import { tlsWarnings } from '../../src/origin-tls.ts'
import { connectOrigin } from '../../src/node/origin/connect.ts'
import { fetchOrigin } from '../../src/node/origin/fetch.ts'
import { issue, makeCa, type CertificatePair } from '../helpers/certificates.ts'
import { closedLine, logsWith, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { send } from '../helpers/http.ts'
import { issueWithSans, selfSignedLeaf } from '../helpers/origin-certificates.ts'
import { acceptKey, echo, parseHeaders, type RawOriginConnection } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange, readHead } from '../helpers/raw-client.ts'
import { closeClient, openClient, useResources } from '../helpers/resources.ts'
import { frameHeader, pattern, whenHead } from '../helpers/wire.ts'

// TLS toward origins (issue 10): `wss://` and `https://` origins are verified
// against the system CAs or a route's `ca`, for the origin's host or the
// route's `servername`; a rejected certificate is 502 ERR_ORIGIN_TLS. The
// upgrade goes through the raw connector over `tls.connect`, so a TLS origin
// gets the same 101 checks and the same relay (the shared read buffer) as a
// plain one. Real sockets throughout; certificates are made per suite by a
// private CA (test/helpers/certificates.ts, openssl CLI).

const { gateway: gatewayServing, track } = useResources()

let ca: CertificatePair
/** For `localhost`, `origin.test` and IP 127.0.0.1. */
let leaf: Pick<CertificatePair, 'cert' | 'key'>
/** For `other.test` only. */
let otherName: CertificatePair
/** For `localhost` and `origin.test`, expired yesterday. */
let expired: CertificatePair
/** Self-signed for `localhost`, issued by nobody. */
let selfSigned: Pick<CertificatePair, 'cert' | 'key'>

beforeAll(() => {
  ca = makeCa()
  leaf = issueWithSans(ca, ['IP:127.0.0.1', 'DNS:localhost', 'DNS:origin.test'])
  otherName = issue(ca, ['other.test'])
  expired = issue(ca, ['localhost', 'origin.test'], { days: -1 })
  selfSigned = selfSignedLeaf(['DNS:localhost'])
})

/** A `ws` origin behind an https.Server: what it saw of each TLS session (SNI, ALPN). */
interface WssOrigin {
  /** `wss://<host>:<port>`. */
  readonly url: string
  readonly port: number
  /** The SNI each TLS session carried (`false`: none), in order. */
  readonly servernames: (string | false)[]
  /** The ALPN protocol each session agreed, in order. */
  readonly alpn: (string | false | null)[]
  close(): Promise<void>
}

/** Starts an echo `ws` origin on TLS with `pair`, listening on `host` (127.0.0.1 or `localhost`). Tracked: closed after the test. */
async function wssOrigin(pair: Pick<CertificatePair, 'cert' | 'key'>, host = '127.0.0.1', onConnection: (socket: WebSocket) => void = echo): Promise<WssOrigin> {
  const server = https.createServer({ cert: pair.cert, key: pair.key, ALPNProtocols: ['http/1.1'] })
  const servernames: (string | false)[] = []
  const alpn: (string | false | null)[] = []
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    servernames.push((socket as tls.TLSSocket & { servername: string | false }).servername)
    alpn.push(socket.alpnProtocol)
  })
  // A client that gives up on the certificate resets the connection: not a test failure.
  server.on('tlsClientError', () => {})
  const wss = new WebSocketServer({ server })
  wss.on('connection', (socket) => {
    socket.on('error', () => {})
    onConnection(socket)
  })
  server.listen(0, host)
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  return track({
    url: `wss://${host}:${port}`,
    port,
    servernames,
    alpn,
    close: async () => {
      for (const socket of wss.clients) socket.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
}

/** A TLS origin that reads one request head and lets `answer` write raw bytes (a bad 101, a 403, …). Tracked. */
async function rawTlsOrigin(pair: Pick<CertificatePair, 'cert' | 'key'>, answer: (connection: RawOriginConnection) => void): Promise<{ url: string }> {
  const sockets = new Set<net.Socket>()
  const server = tls.createServer({ cert: pair.cert, key: pair.key, ALPNProtocols: ['http/1.1'] }, (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    whenHead(socket, (requestHead) => answer({ socket, requestHead, headers: parseHeaders(requestHead) }))
  })
  return listenTracked(server, sockets)
}

/** Listens on 127.0.0.1, registers the server (and every socket in `sockets`) for closing after the test, and returns its wss:// URL. */
async function listenTracked(server: net.Server, sockets: Set<net.Socket>): Promise<{ url: string }> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  track({
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
  return { url: `wss://127.0.0.1:${(server.address() as net.AddressInfo).port}` }
}

/** A TCP server that accepts and never says a word (a TLS handshake that never completes), or says `greeting`. Tracked. */
async function silentOrigin(greeting?: string): Promise<{ url: string }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    if (greeting) socket.end(greeting)
  })
  return listenTracked(server, sockets)
}

/** A gateway with one WebSocket route `/ws` to `target`, verified as `originTls` says (`websocket(target, { tls })`). */
function gatewayTo(target: string, originTls: OriginTls | undefined, options: Parameters<typeof websocket>[1] = {}): Promise<TestGateway> {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('/ws', websocket(target, { appendPath: false, ...options, ...(originTls ? { tls: originTls } : {}) }))
  return gatewayServing(app)
}

/** Opens a client through the gateway, echoes one message, closes with 1000. */
async function echoThrough(gateway: TestGateway, message = 'over TLS'): Promise<void> {
  const client = track(await openClient(`${gateway.wsUrl}/ws`, { ignoreErrors: true }))
  const reply = once(client, 'message') as Promise<[Buffer, boolean]>
  client.send(message)
  expect(String((await reply)[0])).toBe(message)
  await closeClient(client, 1000)
}

/** The one 'handshake rejected' line. */
function rejectedLine(gateway: TestGateway): Record<string, unknown> {
  const lines = logsWith(gateway, 'handshake rejected')
  expect(lines).toHaveLength(1)
  return lines[0]!
}

describe('wss:// origins through websocket()', () => {
  it('relays an echo to an origin addressed by IP, verified with the route CA against its IP SAN, with no SNI and ALPN http/1.1', async () => {
    const origin = await wssOrigin(leaf)
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    await echoThrough(gateway)
    // RFC 6066 §3: no IP address in SNI.
    expect(origin.servernames).toEqual([false])
    expect(origin.alpn).toEqual(['http/1.1'])
    const line = await closedLine(gateway, '/ws')
    // Plaintext bytes: an 8-byte masked text frame and a masked 1000 close one way (14 + 8), the echo and the close back (10 + 4).
    expect(line).toMatchObject({ bytesFromClient: 22, bytesFromOrigin: 14 })
    await expect.poll(() => gateway.openSockets).toBe(0)
  })

  it("sends the origin's host name as SNI and verifies the certificate for it", async () => {
    const origin = await wssOrigin(leaf, 'localhost')
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    await echoThrough(gateway)
    expect(origin.servernames).toEqual(['localhost'])
  })

  it('sends and verifies servername instead of the host when the route names one', async () => {
    const origin = await wssOrigin(leaf)
    const gateway = await gatewayTo(origin.url, { ca: ca.cert, servername: 'origin.test' })
    await echoThrough(gateway)
    expect(origin.servernames).toEqual(['origin.test'])
  })

  it('accepts a CA list as well as one PEM string', async () => {
    const origin = await wssOrigin(leaf)
    const gateway = await gatewayTo(origin.url, { ca: [makeCa('unrelated').cert, ca.cert] })
    await echoThrough(gateway)
  })

  it('answers 502 ERR_ORIGIN_TLS naming UNABLE_TO_VERIFY_LEAF_SIGNATURE when the CA is not trusted (system CAs only), with the cause in the log line', async () => {
    const origin = await wssOrigin(leaf)
    const gateway = await gatewayTo(origin.url, undefined)
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.status).toBe(502)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_TLS')
    expect(answer.body).toBe('origin certificate rejected (UNABLE_TO_VERIFY_LEAF_SIGNATURE)\n')
    expect(rejectedLine(gateway)).toMatchObject({ status: 502, code: 'ERR_ORIGIN_TLS', originCause: expect.stringMatching(/^UNABLE_TO_VERIFY_LEAF_SIGNATURE: /) })
    await expect.poll(() => gateway.openSockets).toBe(0)
  })

  it('answers 502 ERR_ORIGIN_TLS naming ERR_TLS_CERT_ALTNAME_INVALID for a certificate of another name', async () => {
    const origin = await wssOrigin(otherName)
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.status).toBe(502)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_TLS')
    expect(answer.body).toBe('origin certificate rejected (ERR_TLS_CERT_ALTNAME_INVALID)\n')
    expect(rejectedLine(gateway)['originCause']).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/)
  })

  it('answers 502 ERR_ORIGIN_TLS when servername names a host the certificate is not for', async () => {
    const origin = await wssOrigin(leaf)
    const gateway = await gatewayTo(origin.url, { ca: ca.cert, servername: 'other.test' })
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.status).toBe(502)
    expect(answer.body).toBe('origin certificate rejected (ERR_TLS_CERT_ALTNAME_INVALID)\n')
  })

  it('answers 502 ERR_ORIGIN_TLS naming CERT_HAS_EXPIRED for an expired certificate', async () => {
    const origin = await wssOrigin(expired, 'localhost')
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.status).toBe(502)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_TLS')
    expect(answer.body).toBe('origin certificate rejected (CERT_HAS_EXPIRED)\n')
  })

  it('answers 502 ERR_ORIGIN_TLS naming DEPTH_ZERO_SELF_SIGNED_CERT for a self-signed certificate', async () => {
    const origin = await wssOrigin(selfSigned, 'localhost')
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.status).toBe(502)
    expect(answer.body).toBe('origin certificate rejected (DEPTH_ZERO_SELF_SIGNED_CERT)\n')
  })

  it('relays to a self-signed origin with rejectUnauthorized false, and warns about it once at start', async () => {
    const origin = await wssOrigin(selfSigned, 'localhost')
    const gateway = await gatewayTo(origin.url, { rejectUnauthorized: false })
    await echoThrough(gateway)
    const warnings = gateway.logs.filter((line) => line.level === 40 && line.msg.includes('tls.rejectUnauthorized is false'))
    expect(warnings).toEqual([expect.objectContaining({ msg: expect.stringMatching(/^websocket\(\): tls\.rejectUnauthorized is false: the origin's certificate is not verified/), path: '/ws' })])
    expect(tlsWarnings({ rejectUnauthorized: false })).toEqual([expect.stringContaining('tls.rejectUnauthorized is false')])
    expect(tlsWarnings({ ca: ca.cert })).toEqual([])
    expect(tlsWarnings(undefined)).toEqual([])
  })

  it('answers 502 ERR_ORIGIN_TLS "TLS handshake failed" when the origin does not speak TLS', async () => {
    const origin = await silentOrigin('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.status).toBe(502)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_TLS')
    expect(answer.body).toMatch(/^origin TLS handshake failed \(ERR_SSL_[A-Z_]+\)\n$/)
  })

  it('answers 504 ERR_ORIGIN_TIMEOUT when the TLS handshake does not finish within the handshake timeout, and logs which step', async () => {
    const origin = await silentOrigin()
    const gateway = await gatewayTo(origin.url, { ca: ca.cert }, { handshakeTimeout: 200 })
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.status).toBe(504)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_TIMEOUT')
    expect(rejectedLine(gateway)['originCause']).toBe('TLS handshake not finished')
  })

  it("applies the same 101 checks: a TLS origin's wrong Sec-WebSocket-Accept is 502 ERR_ORIGIN_BAD_HANDSHAKE", async () => {
    const origin = await rawTlsOrigin(leaf, ({ socket }) => {
      socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey('not the key')}`, '', ''].join('\r\n'))
    })
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.status).toBe(502)
    expect(answer.headers['x-wsgate-error']).toBe('ERR_ORIGIN_BAD_HANDSHAKE')
    expect(answer.body).toMatch(/Sec-WebSocket-Accept/)
  })

  it("relays a TLS origin's non-101 answer as it came: status, headers, chunked body decoded", async () => {
    const origin = await rawTlsOrigin(leaf, ({ socket }) => {
      socket.write(['HTTP/1.1 403 Forbidden', 'Content-Type: text/plain', 'X-Origin: tls', 'Transfer-Encoding: chunked', '', '7', 'go away', '0', '', ''].join('\r\n'))
    })
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    const answer = await rawExchange(gateway.port, handshakeRequest('/ws'))
    expect(answer.statusLine).toBe('HTTP/1.1 403 Forbidden')
    expect(answer.headers['x-origin']).toBe('tls')
    expect(answer.headers['x-wsgate-error']).toBeUndefined()
    expect(answer.body).toContain('go away')
  })

  it('relays a 5 MB binary message each way intact, and keeps concurrent TLS connections apart', async () => {
    const origin = await wssOrigin(leaf)
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    const clients = await Promise.all([0, 1, 2].map(() => openClient(`${gateway.wsUrl}/ws`, { ignoreErrors: true }).then(track)))
    const payloads = clients.map((_, i) => pattern(5 * 1024 * 1024, i + 1))
    const replies = clients.map((client) => once(client, 'message') as Promise<[Buffer, boolean]>)
    clients.forEach((client, i) => client.send(payloads[i]!, { binary: true }))
    const received = await Promise.all(replies)
    received.forEach(([data, isBinary], i) => {
      expect(isBinary).toBe(true)
      expect(data.length).toBe(payloads[i]!.length)
      expect(data.equals(payloads[i]!)).toBe(true)
    })
    await Promise.all(clients.map((client) => closeClient(client, 1000)))
    await expect.poll(() => gateway.openSockets).toBe(0)
  })

  it('holds a TLS origin back while the client does not read (backpressure through the shared-buffer relay), then delivers every byte', async () => {
    const MiB = 1024 * 1024
    const FRAMES = 64
    // No byte handed on for this long while the origin waits for 'drain': it is held back.
    const STALL_MS = 500
    const frame = Buffer.concat([frameHeader(0x2, MiB), pattern(MiB, 7)])
    const expected = createHash('sha256')
    for (let i = 0; i < FRAMES; i++) expected.update(frame)
    let handedOn = 0
    let waitingSince = 0
    const origin = await rawTlsOrigin(leaf, async (connection) => {
      const { socket } = connection
      socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey(connection.headers['sec-websocket-key']!)}`, '', ''].join('\r\n'))
      for (let i = 0; i < FRAMES && !socket.destroyed; i++) {
        const flowing = socket.write(frame)
        handedOn += frame.length
        if (!flowing) {
          waitingSince = Date.now()
          await once(socket, 'drain')
          waitingSince = 0
        }
      }
    })
    const gateway = await gatewayTo(origin.url, { ca: ca.cert })
    const client = track(net.connect(gateway.port, '127.0.0.1'))
    await once(client, 'connect')
    client.write(handshakeRequest('/ws'))
    // readHead() leaves the client paused: it reads nothing more until resumed.
    const { head, rest } = await readHead(client)
    expect(head).toMatch(/^HTTP\/1\.1 101 /)
    await waitFor(() => waitingSince > 0 && Date.now() - waitingSince > STALL_MS, 10_000, 'the origin to be held back')
    // What the origin got rid of sits in socket buffers (the kernel's, both connections') and the gateway's bounded queue: far from all of it.
    expect(handedOn).toBeLessThan((FRAMES * MiB) / 2)

    const received = createHash('sha256').update(rest)
    let length = rest.length
    client.on('data', (chunk: Buffer) => {
      received.update(chunk)
      length += chunk.length
    })
    client.resume()
    await waitFor(() => length >= FRAMES * frame.length, 20_000, 'every byte at the client')
    expect(length).toBe(FRAMES * frame.length)
    expect(received.digest('hex')).toBe(expected.digest('hex'))
  })
})

describe('wss:// origins in a pool', () => {
  it('fails over from an origin whose certificate is rejected to one that verifies, and logs the rejected attempt', async () => {
    const wrongName = await wssOrigin(otherName)
    const good = await wssOrigin(leaf)
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/ws', websocket(origins([wrongName.url, good.url], { tls: { ca: ca.cert } }), { appendPath: false }))
    const gateway = await gatewayServing(app)
    // Two handshakes: whichever origin the pool picks first, one of them tries the wrong-name origin first.
    await echoThrough(gateway, 'first')
    await echoThrough(gateway, 'second')
    const accepted = logsWith(gateway, 'handshake accepted')
    expect(accepted).toHaveLength(2)
    expect(accepted.every((line) => line.origin === good.url)).toBe(true)
    const failovers = accepted.flatMap((line) => (line['failover'] as { origin: string; code: string; reason: string }[] | undefined) ?? [])
    expect(failovers).toContainEqual(expect.objectContaining({ origin: wrongName.url, code: 'ERR_ORIGIN_TLS', reason: 'origin certificate rejected (ERR_TLS_CERT_ALTNAME_INVALID)' }))
  })
})

describe('https:// origins through fetchOrigin and http()', () => {
  /** An https origin answering `hello from <SNI>`. Tracked. */
  async function httpsOrigin(pair: Pick<CertificatePair, 'cert' | 'key'>, host = '127.0.0.1'): Promise<{ url: string }> {
    const server = https.createServer({ cert: pair.cert, key: pair.key }, (request, response) => {
      const sni = (request.socket as tls.TLSSocket & { servername: string | false }).servername
      response.setHeader('connection', 'close')
      response.end(`hello from ${sni || 'no SNI'} at ${request.url}`)
    })
    server.on('tlsClientError', () => {})
    server.listen(0, host)
    await once(server, 'listening')
    track({
      close: async () => {
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      },
    })
    return { url: `https://${host}:${(server.address() as net.AddressInfo).port}` }
  }

  it('fetchOrigin verifies an https origin with the given CA, against its IP SAN with no SNI', async () => {
    const origin = await httpsOrigin(leaf)
    const response = await fetchOrigin(new Request(`${origin.url}/status`), 5_000, { tls: { ca: ca.cert } })
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('hello from no SNI at /status')
  })

  it('fetchOrigin sends servername as SNI, never the Host header', async () => {
    const origin = await httpsOrigin(leaf)
    const request = new Request(`${origin.url}/`, { headers: { host: 'client.example' } })
    const response = await fetchOrigin(request, 5_000, { tls: { ca: ca.cert, servername: 'origin.test' } })
    expect(await response.text()).toBe('hello from origin.test at /')
  })

  it('fetchOrigin rejects with 502 ERR_ORIGIN_TLS for an untrusted certificate and for another name', async () => {
    const origin = await httpsOrigin(leaf)
    await expect(fetchOrigin(new Request(origin.url), 5_000)).rejects.toMatchObject({
      status: 502,
      code: 'ERR_ORIGIN_TLS',
      message: 'origin certificate rejected (UNABLE_TO_VERIFY_LEAF_SIGNATURE)',
    })
    const other = await httpsOrigin(otherName)
    await expect(fetchOrigin(new Request(other.url), 5_000, { tls: { ca: ca.cert } })).rejects.toMatchObject({
      status: 502,
      code: 'ERR_ORIGIN_TLS',
      message: 'origin certificate rejected (ERR_TLS_CERT_ALTNAME_INVALID)',
    })
  })

  it('http() relays through an https origin verified with the route CA, and answers 502 ERR_ORIGIN_TLS without it', async () => {
    const origin = await httpsOrigin(leaf, 'localhost')
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/trusted/*', http(origin.url, { tls: { ca: ca.cert } }))
    app.all('/untrusted/*', http(origin.url))
    const gateway = await gatewayServing(app)
    const trusted = await send(`${gateway.url}/trusted/a`)
    expect(trusted.status).toBe(200)
    expect(trusted.body.toString()).toBe('hello from localhost at /trusted/a')
    const untrusted = await send(`${gateway.url}/untrusted/b`)
    expect(untrusted.status).toBe(502)
    expect(untrusted.headers['x-wsgate-error']).toBe('ERR_ORIGIN_TLS')
    expect(untrusted.body.toString()).toBe('origin certificate rejected (UNABLE_TO_VERIFY_LEAF_SIGNATURE)\n')
  })
})

describe('connectOrigin with OriginRequest.tls', () => {
  /** An upgrade request to `url` as websocket() builds it. */
  function upgradeRequest(url: string, originTls?: OriginTls): OriginRequest {
    const target = new URL(url.replace(/^ws/, 'http'))
    const headers = new Headers({
      host: target.host,
      upgrade: 'websocket',
      connection: 'upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    })
    return { url: target, headers, timeout: 5_000, tls: originTls }
  }

  it('resolves with the TLS origin\'s 101 and a tunnel', async () => {
    const origin = await wssOrigin(leaf)
    const answer = await connectOrigin(upgradeRequest(origin.url, { ca: ca.cert }))
    expect(answer.upgraded).toBe(true)
    if (!answer.upgraded) return
    expect(answer.headers.get('sec-websocket-accept')).toBe(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='))
    answer.tunnel.close()
  })

  it('rejects with 502 ERR_ORIGIN_TLS, and records the cause in the note, when the CA PEM cannot be parsed', async () => {
    const origin = await wssOrigin(leaf)
    const note: Record<string, unknown> = {}
    // Node's own parse would skip it silently and trust nothing (or fewer CAs than configured).
    const broken = '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n'
    await expect(connectOrigin(upgradeRequest(origin.url, { ca: broken }), { note })).rejects.toMatchObject({
      status: 502,
      code: 'ERR_ORIGIN_TLS',
      message: 'origin TLS settings rejected (tls.ca is not a valid certificate)',
    })
    expect(note['originCause']).toEqual(expect.any(String))
  })

  it('still connects ws:// origins over plain TCP, ignoring tls', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await once(server, 'listening')
    track({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) })
    const answer = await connectOrigin(upgradeRequest(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { ca: ca.cert }))
    expect(answer.upgraded).toBe(true)
    if (answer.upgraded) answer.tunnel.close()
  })
})
