import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { Hono } from 'hono'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { http as httpRoute, websocket, type GatewayBindings } from '../../src/index.ts'
import { serve, type FetchApp, type Gateway, type ServeOptions } from '../../src/node/index.ts'
import { resolveServeSettings } from '../../src/node/settings.ts'
import { serveOptions, tlsOptions } from '../../src/node/cli.ts'
import { normalizeHeaders } from '../../middleware/normalize-headers.ts'
import { issue, makeCa, type CertificatePair } from '../helpers/certificates.ts'
import { expectNoOpenSockets, waitFor, type LogLine } from '../helpers/gateway.ts'
import { startHttpOrigin } from '../helpers/http.ts'
import { closeClient, openClient, useResources } from '../helpers/resources.ts'

/**
 * The TLS listener: wss:// and https:// on their own port beside ws://,
 * certificates picked by SNI, reloaded without a restart, and TLS failures
 * (untrusted certificate, plain HTTP, a client that never handshakes)
 * closed cleanly while the gateway serves on. Real sockets; certificates
 * from a private CA made with the openssl CLI.
 */

const resources = useResources()
const root = fileURLToPath(new URL('../..', import.meta.url))

const NAME_A = 'a.gateway.test'
const NAME_B = 'b.gateway.test'
/** Short, so the never-handshaking client is closed soon; the test waits for the close, never for a timer. */
const HANDSHAKE_TIMEOUT = 300

let ca: CertificatePair
let leafA: CertificatePair
let leafB: CertificatePair
let dir: string

beforeAll(() => {
  ca = makeCa()
  leafA = issue(ca, [NAME_A])
  // A wildcard: x.b.gateway.test is served by it, a deeper name is not (RFC 6125: one label).
  leafB = issue(ca, [NAME_B, `*.${NAME_B}`])
  dir = mkdtempSync(join(tmpdir(), 'wsgate-tls-test-'))
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface TlsGateway extends Gateway {
  readonly wssUrl: string
  readonly logs: LogLine[]
}

/** serve() on 127.0.0.1 with free ports (plain and TLS) and a capturing logger; closed after the test. */
async function startTls(app: FetchApp, options: Omit<ServeOptions, 'logger' | 'host'>): Promise<TlsGateway> {
  const logs: LogLine[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as LogLine)
      done()
    },
  })
  const gateway = await serve(app, { port: 0, ...options, tls: { port: 0, ...options.tls }, host: '127.0.0.1', logger: pino({ level: 'debug' }, sink) })
  resources.track(gateway)
  return Object.assign(Object.create(gateway) as Gateway, {
    wssUrl: gateway.tlsUrl!.replace(/^https/, 'wss'),
    logs,
    close: () => gateway.close(),
  }) as TlsGateway
}

/** An app with an echo route /echo (normalizeHeaders in front) to a ws origin that records each upgrade's headers. */
async function echoApp(): Promise<{ app: Hono<{ Bindings: GatewayBindings }>; seen: Record<string, string | string[] | undefined>[] }> {
  const origin = await resources.wsOrigin()
  const seen: Record<string, string | string[] | undefined>[] = []
  origin.server.on('connection', (_socket, request) => seen.push(request.headers))
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.all('/echo', normalizeHeaders(), websocket(origin.url))
  return { app, seen }
}

/**
 * ws client options for TLS: the CA to trust (`false`: the system's) and the
 * SNI name. ws hands them to tls.connect(); its types leave `servername` out.
 */
function wssOptions(servername: string, trusted: string | false = ca.cert): WebSocket.ClientOptions {
  const options: { ca?: string; servername: string } = trusted ? { ca: trusted, servername } : { servername }
  return options as WebSocket.ClientOptions
}

/** A wss client trusting the private CA, asking for `servername`. */
function openWss(gateway: TlsGateway, servername = NAME_A, path = '/echo'): Promise<WebSocket> {
  return openClient(`${gateway.wssUrl}${path}`, { ...wssOptions(servername), ignoreErrors: true }).then((client) => resources.track(client))
}

/** Sends `message` and expects it back. */
async function roundTrip(client: WebSocket, message: string): Promise<void> {
  const reply = once(client, 'message') as Promise<[Buffer, boolean]>
  client.send(message)
  expect(String((await reply)[0])).toBe(message)
}

/** The certificate the TLS listener presents to a client asking for `servername` (none: no SNI), by serial. */
async function servedSerial(port: number, servername?: string): Promise<string> {
  const socket = tls.connect({
    port,
    host: '127.0.0.1',
    ca: ca.cert,
    // No SNI when there is no name (Node never sends an IP address as SNI); the name check is this test's own.
    ...(servername ? { servername } : {}),
    checkServerIdentity: () => undefined,
  })
  try {
    await once(socket, 'secureConnect')
    expect(socket.alpnProtocol).toBe(false)
    return socket.getPeerCertificate().serialNumber
  } finally {
    socket.destroy()
  }
}

/** The protocol the TLS listener on `port` agrees by ALPN with a client offering `offer` (none: no ALPN extension). */
async function negotiated(port: number, offer?: string[]): Promise<string | false> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: NAME_A, ca: ca.cert, ...(offer ? { ALPNProtocols: offer } : {}) })
  try {
    await once(socket, 'secureConnect')
    return socket.alpnProtocol ?? false
  } finally {
    socket.destroy()
  }
}

/** Writes a certificate pair to files (new names each time, then renamed into place, as renewal tools do). */
function writePair(pair: Pick<CertificatePair, 'cert' | 'key'>, certPath: string, keyPath: string): void {
  writeFileSync(certPath, pair.cert)
  writeFileSync(keyPath, pair.key)
}

/** Waits for the socket's close and resolves with the bytes it received. */
async function closedWith(socket: net.Socket): Promise<string> {
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
  socket.on('error', () => {})
  await once(socket, 'close')
  return received
}

function tlsFailures(gateway: TlsGateway): LogLine[] {
  return gateway.logs.filter((line) => line.msg === 'tls handshake failed')
}

describe('serve() with tls: wss:// and https:// beside ws://', () => {
  it('relays a wss:// client to a plain ws:// origin, and tells the origin the client came over https', async () => {
    const { app, seen } = await echoApp()
    const gateway = await startTls(app, { tls: { cert: leafA.cert, key: leafA.key } })
    expect(gateway.tlsUrl).toBe(`https://127.0.0.1:${gateway.tlsPort}`)
    expect(gateway.url).toBe(`http://127.0.0.1:${gateway.port}`)
    expect(gateway.tlsPort).not.toBe(gateway.port)

    const client = await openWss(gateway)
    await roundTrip(client, 'over tls')
    await closeClient(client, 1000)
    expect(seen[0]?.['x-forwarded-proto']).toBe('https')
    // ws sends the URL's authority as Host.
    expect(seen[0]?.forwarded).toBe(`for=127.0.0.1;host="127.0.0.1:${gateway.tlsPort}";proto=https`)

    // The plain listener still serves ws://, and says http there.
    const plain = resources.track(await openClient(`${gateway.url.replace(/^http/, 'ws')}/echo`, { ignoreErrors: true }))
    await roundTrip(plain, 'in the clear')
    await closeClient(plain, 1000)
    expect(seen[1]?.['x-forwarded-proto']).toBe('http')

    const listening = gateway.logs.find((line) => line.msg === 'gateway listening')
    expect(listening).toMatchObject({ port: gateway.port, tlsPort: gateway.tlsPort, names: [NAME_A] })
    await expectNoOpenSockets(gateway)
  })

  it('serves a plain https:// request through http(), with X-Forwarded-Proto: https, over ALPN http/1.1', async () => {
    const origin = resources.track(await startHttpOrigin((request, response) => response.end(`proto ${request.headers['x-forwarded-proto']}`)))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/api/*', normalizeHeaders(), httpRoute(origin.url))
    const gateway = await startTls(app, { tls: { cert: leafA.cert, key: leafA.key } })

    const { status, body, alpn } = await new Promise<{ status: number; body: string; alpn: string | false }>((resolve, reject) => {
      const options: https.RequestOptions & tls.ConnectionOptions = {
        host: '127.0.0.1',
        port: gateway.tlsPort!,
        path: '/api/hello',
        servername: NAME_A,
        ca: ca.cert,
        // What Node's https client offers when asked for ALPN at all: HTTP/1.1 only (h2 is on by default, and would win an offer of both).
        ALPNProtocols: ['http/1.1'],
        agent: false,
        headers: { host: NAME_A },
      }
      const request = https.request(
        options,
        (response) => {
          let text = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => (text += chunk))
          response.on('end', () => resolve({ status: response.statusCode!, body: text, alpn: (response.socket as tls.TLSSocket).alpnProtocol ?? false }))
        },
      )
      request.on('error', reject)
      request.end()
    })
    expect(status).toBe(200)
    expect(body).toBe('proto https')
    expect(alpn).toBe('http/1.1')
    expect(origin.requests[0]?.headers.forwarded).toBe(`for=127.0.0.1;host=${NAME_A};proto=https`)
    await expectNoOpenSockets(gateway)
  })

  it('offers h2 by default, and http/1.1 to a client that offers only it or no ALPN; tls.http2: false offers http/1.1 only', async () => {
    const { app } = await echoApp()
    expect(resolveServeSettings({ tls: { cert: leafA.cert, key: leafA.key } }).tls?.http2).toBe(true)
    const gateway = await startTls(app, { tls: { cert: leafA.cert, key: leafA.key } })
    expect(await negotiated(gateway.tlsPort!, ['h2', 'http/1.1'])).toBe('h2')
    expect(await negotiated(gateway.tlsPort!, ['http/1.1'])).toBe('http/1.1')
    expect(await negotiated(gateway.tlsPort!)).toBe(false)
    // A client without ALPN (ws) is served HTTP/1.1 as ever.
    const client = await openWss(gateway)
    await roundTrip(client, 'no alpn')
    await closeClient(client, 1000)
    const off = await startTls(app, { tls: { cert: leafA.cert, key: leafA.key, http2: false } })
    expect(await negotiated(off.tlsPort!, ['h2', 'http/1.1'])).toBe('http/1.1')
    await expectNoOpenSockets(gateway)
    await expectNoOpenSockets(off)
  })

  it('serves TLS only with port off: url and port are the TLS listener\'s', async () => {
    const { app } = await echoApp()
    const gateway = await startTls(app, { port: 'off', tls: { cert: leafA.cert, key: leafA.key } })
    expect(gateway.url).toBe(gateway.tlsUrl)
    expect(gateway.port).toBe(gateway.tlsPort)
    const client = await openWss(gateway)
    await roundTrip(client, 'tls only')
    await closeClient(client, 1000)
    await expectNoOpenSockets(gateway)
  })
})

describe('serve() with tls: certificates by SNI', () => {
  it('gives each client the certificate that holds the name it asked for, a wildcard one label deep, and the first to others', async () => {
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { certificates: [leafA, leafB] } })
    const port = gateway.tlsPort!
    expect(await servedSerial(port, NAME_A)).toBe(leafA.serial)
    expect(await servedSerial(port, NAME_B)).toBe(leafB.serial)
    expect(await servedSerial(port, `chat.${NAME_B}`.toUpperCase())).toBe(leafB.serial)
    // A wildcard stands for exactly one label (RFC 6125 §6.4.3): a deeper name gets the default.
    expect(await servedSerial(port, `deep.chat.${NAME_B}`)).toBe(leafA.serial)
    expect(await servedSerial(port, 'unknown.example')).toBe(leafA.serial)
    expect(await servedSerial(port)).toBe(leafA.serial)

    // A wss client verifying the name gets through under either name.
    for (const name of [NAME_A, `chat.${NAME_B}`]) {
      const client = await openWss(gateway, name)
      await roundTrip(client, name)
      await closeClient(client, 1000)
    }
    await expectNoOpenSockets(gateway)
  })

  it('picks a certificate without subjectAltName by its CN', async () => {
    const cnOnly = issue(ca, ['cn-only.gateway.test'], { subjectAltNames: false })
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { certificates: [leafA, cnOnly] } })
    expect(await servedSerial(gateway.tlsPort!, 'cn-only.gateway.test')).toBe(cnOnly.serial)
    expect(gateway.logs.find((line) => line.msg === 'gateway listening')?.names).toEqual([NAME_A, 'cn-only.gateway.test'])
  })
})

describe('serve() with tls: failed TLS handshakes are closed cleanly', () => {
  it('closes plain HTTP sent to the TLS port, logs it at info with the client and code, and serves on', async () => {
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { cert: leafA.cert, key: leafA.key } })
    const open = await openWss(gateway)

    const socket = resources.track(net.connect(gateway.tlsPort!, '127.0.0.1'))
    socket.write(`GET /echo HTTP/1.1\r\nHost: ${NAME_A}\r\n\r\n`)
    const received = await closedWith(socket)
    // No HTTP answer in the clear: the port speaks TLS only.
    expect(received).not.toMatch(/^HTTP\//)
    await waitFor(() => tlsFailures(gateway).length > 0, 2_000, "the 'tls handshake failed' line")
    expect(tlsFailures(gateway)[0]).toMatchObject({ level: 30, client: '127.0.0.1', code: 'ERR_SSL_HTTP_REQUEST' })

    await roundTrip(open, 'still here')
    await closeClient(open, 1000)
    const fresh = await openWss(gateway)
    await roundTrip(fresh, 'new client')
    await closeClient(fresh, 1000)
    await expectNoOpenSockets(gateway)
  })

  it('closes a client that opens TCP and never starts TLS at the handshake timeout', async () => {
    const { app } = await echoApp()
    const gateway = await startTls(app, { handshakeTimeout: HANDSHAKE_TIMEOUT, tls: { cert: leafA.cert, key: leafA.key } })
    const started = performance.now()
    const socket = resources.track(net.connect(gateway.tlsPort!, '127.0.0.1'))
    await closedWith(socket)
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 20)
    expect(elapsed).toBeLessThan(HANDSHAKE_TIMEOUT + 2_000)
    await waitFor(() => tlsFailures(gateway).length > 0, 2_000, "the 'tls handshake failed' line")
    expect(tlsFailures(gateway)[0]).toMatchObject({ level: 30, client: '127.0.0.1', code: 'ERR_TLS_HANDSHAKE_TIMEOUT' })
    await expectNoOpenSockets(gateway)
    expect(tlsFailures(gateway)).toHaveLength(1)
  })

  it('closes a client that dribbles its ClientHello at the handshake timeout, though bytes keep coming', async () => {
    const { app } = await echoApp()
    const gateway = await startTls(app, { handshakeTimeout: HANDSHAKE_TIMEOUT, tls: { cert: leafA.cert, key: leafA.key } })
    const started = performance.now()
    const socket = resources.track(net.connect(gateway.tlsPort!, '127.0.0.1'))
    // A TLS handshake record announcing 512 bytes, then one byte every tenth of the timeout: never silent for
    // long, so a deadline that counted only silence (as socket timeouts do) would let it go on for a minute.
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]))
    const dribble = setInterval(() => socket.writable && socket.write(Buffer.from([0x01])), HANDSHAKE_TIMEOUT / 10)
    try {
      await closedWith(socket)
    } finally {
      clearInterval(dribble)
    }
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 20)
    expect(elapsed).toBeLessThan(HANDSHAKE_TIMEOUT + 2_000)
    await waitFor(() => tlsFailures(gateway).length > 0, 2_000, "the 'tls handshake failed' line")
    expect(tlsFailures(gateway)).toHaveLength(1)
    expect(tlsFailures(gateway)[0]).toMatchObject({ level: 30, client: '127.0.0.1', code: 'ERR_TLS_HANDSHAKE_TIMEOUT' })
    await expectNoOpenSockets(gateway)
  })

  it('answers a TLS client that never sends its headers with 408 at the handshake timeout, as on the plain port', async () => {
    const { app } = await echoApp()
    const gateway = await startTls(app, { handshakeTimeout: HANDSHAKE_TIMEOUT, tls: { cert: leafA.cert, key: leafA.key } })
    const socket = resources.track(tls.connect({ port: gateway.tlsPort!, host: '127.0.0.1', servername: NAME_A, ca: ca.cert }) as net.Socket)
    await once(socket, 'secureConnect')
    socket.write(`GET /echo HTTP/1.1\r\nHost: ${NAME_A}\r\n`)
    const received = await closedWith(socket)
    expect(received).toMatch(/^HTTP\/1\.1 408 /)
    expect(received).toContain('ERR_HANDSHAKE_TIMEOUT')
    await expectNoOpenSockets(gateway)
  })

  it('closes a client that does not trust the certificate without disturbing an open connection', async () => {
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { cert: leafA.cert, key: leafA.key } })
    const open = await openWss(gateway)

    const stranger = new WebSocket(`${gateway.wssUrl}/echo`, wssOptions(NAME_A, false))
    resources.track(stranger)
    // An 'open' would mean the certificate was trusted after all.
    const error = (await Promise.race([
      once(stranger, 'error').then(([caught]: unknown[]) => caught),
      once(stranger, 'open').then(() => new Error('the untrusting client connected')),
    ])) as NodeJS.ErrnoException
    expect(error.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    await waitFor(() => tlsFailures(gateway).length > 0, 2_000, "the 'tls handshake failed' line")
    expect(tlsFailures(gateway)[0]).toMatchObject({ level: 30, client: '127.0.0.1' })
    expect(tlsFailures(gateway)[0]?.code).toEqual(expect.any(String))

    await roundTrip(open, 'undisturbed')
    await closeClient(open, 1000)
    await expectNoOpenSockets(gateway)
  })
})

describe('serve() with tls: certificates reload without a restart', () => {
  it('serves a new certificate to new clients after reloadCertificates(), while an open connection keeps exchanging', async () => {
    const certPath = join(dir, 'reload-cert.pem')
    const keyPath = join(dir, 'reload-key.pem')
    writePair(leafA, certPath, keyPath)
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { cert: certPath, key: keyPath, watch: false } })
    const old = await openWss(gateway)
    expect(await servedSerial(gateway.tlsPort!, NAME_A)).toBe(leafA.serial)

    const renewed = issue(ca, [NAME_A])
    writePair(renewed, certPath, keyPath)
    expect(await gateway.reloadCertificates()).toBe(true)

    expect(await servedSerial(gateway.tlsPort!, NAME_A)).toBe(renewed.serial)
    expect(await servedSerial(gateway.tlsPort!)).toBe(renewed.serial)
    const fresh = await openWss(gateway)
    await roundTrip(fresh, 'new certificate')
    // The old connection keeps the session it made with the old certificate.
    await roundTrip(old, 'old session lives on')
    expect((old as unknown as { _socket: tls.TLSSocket })._socket.getPeerCertificate().serialNumber).toBe(leafA.serial)
    const reloaded = gateway.logs.filter((line) => line.msg === 'certificates reloaded')
    expect(reloaded).toHaveLength(1)
    expect(reloaded[0]).toMatchObject({ level: 30, names: [NAME_A], serials: [renewed.serial] })
    await closeClient(fresh, 1000)
    await closeClient(old, 1000)
    await expectNoOpenSockets(gateway)
  })

  it('reloads every SNI certificate', async () => {
    const paths = [0, 1].map((index) => ({ cert: join(dir, `sni-${index}.pem`), key: join(dir, `sni-${index}.key`) }))
    writePair(leafA, paths[0]!.cert, paths[0]!.key)
    writePair(leafB, paths[1]!.cert, paths[1]!.key)
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { certificates: paths, watch: false } })
    const [renewedA, renewedB] = [issue(ca, [NAME_A]), issue(ca, [NAME_B, `*.${NAME_B}`])]
    writePair(renewedA, paths[0]!.cert, paths[0]!.key)
    writePair(renewedB, paths[1]!.cert, paths[1]!.key)
    expect(await gateway.reloadCertificates()).toBe(true)
    expect(await servedSerial(gateway.tlsPort!, NAME_A)).toBe(renewedA.serial)
    expect(await servedSerial(gateway.tlsPort!, `x.${NAME_B}`)).toBe(renewedB.serial)
    expect(await servedSerial(gateway.tlsPort!)).toBe(renewedA.serial)
  })

  it('keeps the current certificate and logs one warning when the reloaded files are bad', async () => {
    const certPath = join(dir, 'bad-cert.pem')
    const keyPath = join(dir, 'bad-key.pem')
    writePair(leafA, certPath, keyPath)
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { cert: certPath, key: keyPath, watch: false } })

    writeFileSync(certPath, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n')
    expect(await gateway.reloadCertificates()).toBe(false)
    // A certificate with someone else's key is refused the same way.
    writePair({ cert: issue(ca, [NAME_A]).cert, key: leafB.key }, certPath, keyPath)
    expect(await gateway.reloadCertificates()).toBe(false)

    const warnings = gateway.logs.filter((line) => line.level === 40)
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toMatchObject({ msg: 'certificate reload failed; serving the current certificates' })
    expect(warnings[0]?.reason).toMatch(/tls\.cert is not a PEM certificate/)
    expect(warnings[1]?.reason).toMatch(/tls\.key does not belong to tls\.cert/)
    expect(gateway.logs.filter((line) => line.msg === 'certificates reloaded')).toHaveLength(0)
    expect(await servedSerial(gateway.tlsPort!, NAME_A)).toBe(leafA.serial)
    const client = await openWss(gateway)
    await roundTrip(client, 'old certificate still served')
    await closeClient(client, 1000)
  })

  it('reloads by itself when the certificate files change', async () => {
    const watched = mkdtempSync(join(dir, 'watched-'))
    const certPath = join(watched, 'cert.pem')
    const keyPath = join(watched, 'key.pem')
    writePair(leafA, certPath, keyPath)
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { cert: certPath, key: keyPath } })

    const renewed = issue(ca, [NAME_A])
    writePair(renewed, certPath, keyPath)
    // Waits for the reload's own log line (an event), not for the debounce timer.
    await waitFor(() => gateway.logs.some((line) => line.msg === 'certificates reloaded'), 5_000, "the 'certificates reloaded' line")
    expect(await servedSerial(gateway.tlsPort!, NAME_A)).toBe(renewed.serial)
  })
})

describe('serve() with tls: certificates behind symlinks', () => {
  it("reloads by itself when a Kubernetes secret volume swaps its ..data link (no event names the files), and not for another file's change", async () => {
    // The layout of a secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/, renewed by renaming a new ..data link in.
    const volume = mkdtempSync(join(dir, 'secret-'))
    const publish = (version: string, pair: Pick<CertificatePair, 'cert' | 'key'>): void => {
      mkdirSync(join(volume, version))
      writePair(pair, join(volume, version, 'tls.crt'), join(volume, version, 'tls.key'))
      symlinkSync(version, join(volume, '..data_tmp'))
      renameSync(join(volume, '..data_tmp'), join(volume, '..data'))
    }
    publish('..2026_12_07_v1', leafA)
    symlinkSync('..data/tls.crt', join(volume, 'tls.crt'))
    symlinkSync('..data/tls.key', join(volume, 'tls.key'))
    const { app } = await echoApp()
    const gateway = await startTls(app, { tls: { cert: join(volume, 'tls.crt'), key: join(volume, 'tls.key') } })

    // Another file changing beside them is looked at and left alone; the swap after it reloads, once.
    writeFileSync(join(volume, 'unrelated.log'), 'x')
    const renewed = issue(ca, [NAME_A])
    publish('..2026_12_07_v2', renewed)
    // Waits for the reload's own log line (an event), not for the debounce timer.
    await waitFor(() => gateway.logs.some((line) => line.msg === 'certificates reloaded'), 5_000, "the 'certificates reloaded' line")
    expect(await servedSerial(gateway.tlsPort!, NAME_A)).toBe(renewed.serial)
    expect(gateway.logs.filter((line) => line.msg === 'certificates reloaded')).toHaveLength(1)
  })
})

describe('serve() with tls: certificates out of date', () => {
  it('warns at start, once per certificate, when certificates have expired, and still serves them', async () => {
    const { app } = await echoApp()
    // The leaf is valid for 2 days: a clock 3 days ahead sees it expired (only Date is faked; timers run).
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3 * 24 * 3_600_000 })
    let gateway: TlsGateway
    try {
      gateway = await startTls(app, { tls: { certificates: [leafA, leafB] } })
    } finally {
      vi.useRealTimers()
    }
    const warnings = gateway.logs.filter((line) => line.level === 40)
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toMatchObject({ option: 'tls.certificates[0]', names: [NAME_A] })
    expect(warnings[0]?.msg).toMatch(/^serve\(\): tls\.certificates\[0\]\.cert expired at .*; clients will refuse it$/)
    expect(await servedSerial(gateway.tlsPort!, NAME_A)).toBe(leafA.serial)
  })
})

describe('serve() with tls: bad options fail at start with a TypeError naming the option', () => {
  const app = new Hono()

  it.each([
    ['a missing key', () => ({ cert: leafA.cert }), /serve\(\): tls\.key is missing/],
    ['cert and certificates together', () => ({ cert: leafA.cert, key: leafA.key, certificates: [leafB] }), /not both/],
    ['an empty certificates list', () => ({ certificates: [] }), /non-empty array/],
    ['a certificate without key in the list', () => ({ certificates: [leafA, { cert: leafB.cert }] }), /tls\.certificates\[1\]\.key is missing/],
    ['a bad TLS port', () => ({ cert: leafA.cert, key: leafA.key, port: 70_000 }), /tls\.port must be an integer/],
  ])('refuses %s', (_what, tlsOption, message) => {
    expect(() => resolveServeSettings({ tls: tlsOption() as never })).toThrow(TypeError)
    expect(() => resolveServeSettings({ tls: tlsOption() as never })).toThrow(message)
  })

  it("refuses port 'off' without a TLS listener, and both listeners on one port", () => {
    expect(() => resolveServeSettings({ port: 'off' })).toThrow(/at least one must listen/)
    expect(() => resolveServeSettings({ port: 8443, tls: { cert: leafA.cert, key: leafA.key } })).toThrow(/tls\.port and port are both 8443/)
    expect(resolveServeSettings({ tls: { cert: leafA.cert, key: leafA.key } }).tls).toMatchObject({ port: 8443, watch: true, options: ['tls'] })
  })

  it.each([
    ['a key that is not its certificate\'s', () => ({ certificates: [leafA, { cert: leafB.cert, key: leafA.key }] }), /tls\.certificates\[1\]\.key does not belong to tls\.certificates\[1\]\.cert/],
    ['an unreadable certificate file', () => ({ cert: join(dir, 'missing.pem'), key: leafA.key }), /tls\.cert: cannot read .*missing\.pem \(ENOENT\)/],
    ['a key that is not PEM', () => ({ cert: leafA.cert, key: '-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n' }), /tls\.key is not a PEM private key/],
  ])('rejects serve() for %s, before anything listens', async (_what, tlsOption, message) => {
    const failed = serve(app, { port: 0, host: '127.0.0.1', tls: tlsOption() as never, logger: pino({ level: 'silent' }) })
    await expect(failed).rejects.toThrow(TypeError)
    await expect(failed).rejects.toThrow(message)
  })
})

describe('wsgate start with TLS flags', () => {
  it('turns h2 off with --no-h2 (and on with --h2, the default), and refuses both at once or either without TLS', () => {
    const logger = pino({ level: 'silent' })
    const certs = { 'tls-cert': ['a.pem'], 'tls-key': ['a.key'] }
    expect(serveOptions(certs, logger).tls).toEqual({ cert: 'a.pem', key: 'a.key' })
    expect(serveOptions({ ...certs, 'no-h2': true }, logger).tls).toMatchObject({ http2: false })
    expect(serveOptions({ ...certs, h2: true }, logger).tls).toMatchObject({ http2: true })
    expect(resolveServeSettings(serveOptions({ ...certs, 'no-h2': true }, logger)).tls?.http2).toBe(false)
    expect(resolveServeSettings(serveOptions(certs, logger)).tls?.http2).toBe(true)
    expect(() => serveOptions({ ...certs, h2: true, 'no-h2': true }, logger)).toThrow('give --h2 or --no-h2, not both')
    expect(() => serveOptions({ 'no-h2': true }, logger)).toThrow('--no-h2 needs --tls-cert and --tls-key')
  })

  it('pairs --tls-cert and --tls-key in order, and refuses unpaired ones', () => {
    expect(tlsOptions(['a.pem'], ['a.key'], '8443')).toEqual({ cert: 'a.pem', key: 'a.key', port: 8443 })
    expect(tlsOptions(['a.pem', 'b.pem'], ['a.key', 'b.key'], undefined)).toEqual({ certificates: [{ cert: 'a.pem', key: 'a.key' }, { cert: 'b.pem', key: 'b.key' }] })
    expect(tlsOptions([], [], undefined)).toBeUndefined()
    expect(() => tlsOptions(['a.pem'], [], undefined)).toThrow(/pairs/)
    expect(() => tlsOptions([], [], '8443')).toThrow(/--tls-port needs/)
  })

  it('serves wss:// only with --port off, and reloads the certificate on SIGHUP while an open connection lives on', async () => {
    const certPath = join(dir, 'cli-cert.pem')
    const keyPath = join(dir, 'cli-key.pem')
    writePair(leafA, certPath, keyPath)
    const child = resources.track(
      spawn(process.execPath, ['bin/wsgate.js', 'start', 'routes/index.ts', '--port', 'off', '--tls-cert', certPath, '--tls-key', keyPath, '--tls-port', '0'], {
        cwd: root,
        env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: '' },
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    )
    const lines: Record<string, unknown>[] = []
    const reader = createInterface({ input: child.stdout! })
    reader.on('line', (text) => lines.push(JSON.parse(text) as Record<string, unknown>))
    await waitFor(() => lines.some((line) => line.msg === 'gateway listening'), 10_000, "the CLI's 'gateway listening' line")
    const listening = lines.find((line) => line.msg === 'gateway listening')!
    expect(listening.port).toBeUndefined()
    const port = listening.tlsPort as number

    // h2 is on by default from the command line too.
    expect(await negotiated(port, ['h2', 'http/1.1'])).toBe('h2')
    const old = resources.track(await openClient(`wss://127.0.0.1:${port}/echo`, { ...wssOptions(NAME_A), ignoreErrors: true }))
    await roundTrip(old, 'before SIGHUP')
    const reloads = (): Record<string, unknown>[] => lines.filter((line) => line.msg === 'certificates reloaded')
    // Files unchanged, so the file watch has nothing to do: this reload is SIGHUP's alone.
    child.kill('SIGHUP')
    await waitFor(() => reloads().length === 1, 10_000, "the 'certificates reloaded' line after SIGHUP")
    expect(lines.find((line) => line.msg === 'reloading certificates')).toMatchObject({ signal: 'SIGHUP' })
    expect(reloads()[0]).toMatchObject({ names: [NAME_A], serials: [leafA.serial] })

    const renewed = issue(ca, [NAME_A])
    writePair(renewed, certPath, keyPath)
    // The file watch may reload too; whichever runs last reads the new files.
    child.kill('SIGHUP')
    await waitFor(() => reloads().some((line) => (line.serials as string[])[0] === renewed.serial), 10_000, 'a reload serving the new certificate')
    expect(await servedSerial(port, NAME_A)).toBe(renewed.serial)
    await roundTrip(old, 'after SIGHUP')
    await closeClient(old, 1000)
    child.kill('SIGTERM')
    await once(child, 'exit')
  })
})
