import { readFileSync } from 'node:fs'
import { Hono } from 'hono'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { adminJson, adminRequest } from '../helpers/admin.ts'
import { issue, makeCa, type CertificatePair } from '../helpers/certificates.ts'
import { ECHO_ROUTE, startClientGateway, type ClientGateway } from '../helpers/client-gateway.ts'
import { APP_PROTOCOL, expectCompressed, expectEchoed, headLine, PORTABLE_MESSAGES, type PortableMessage } from '../helpers/client-traffic.ts'
import { closedLines, logsWith, startGateway, waitFor, type LogLine } from '../helpers/gateway.ts'

/**
 * A real browser through wsgate: Debian's Chromium, headless, loads a page
 * the gateway serves over https:// and opens wss:// to the same gateway
 * with a JWT in Sec-WebSocket-Protocol, in both of jwtAuth()'s forms. The
 * origin is `ws` with permessage-deflate on.
 *
 * How Chromium trusts the test's certificate: `--ignore-certificate-errors-spki-list`
 * with the SHA-256 of the leaf's SubjectPublicKeyInfo, which Chromium honours
 * only with a `--user-data-dir` (Playwright always passes one). It pins that
 * one key, not every certificate: the last test shows a leaf of the same CA
 * with another key is still refused. (Trusting the CA itself would need an
 * NSS database written with certutil, a package more.) The page's host,
 * gateway.test, resolves to 127.0.0.1 by `--host-resolver-rules`, so the
 * browser asks for it by SNI as it would for a real name.
 */

const HOST = 'gateway.test'
const ADMIN_TOKEN = 'chromium-clients-admin-token'
/** maxLifetime of the /recycled route: long enough for the echoes first, and the test waits for the page's close event, never for the time itself. */
const RECYCLE_AFTER = 3_000
const PAGE = readFileSync(new URL('../fixtures/clients/browser-client.html', import.meta.url), 'utf8')

/** The admin API's view of one open connection (the fields used here). */
interface OpenConnection {
  id: string
  route: string
  subject?: string
}

/** What the page sees once a socket is open. */
interface Opened {
  url: string
  protocol: string
  extensions: string
}

/** What the page saw of a close. */
interface Closed {
  code: number
  reason: string
  wasClean: boolean
}

let ca: CertificatePair
let leaf: CertificatePair
let browser: Browser | undefined
let started: ClientGateway | undefined
let page: Page | undefined
/** The HTTP status of the page's own load. */
let pageStatus: number | undefined
/** Page errors and console errors; the page must have none. */
const problems: string[] = []

beforeAll(async () => {
  ca = makeCa()
  leaf = issue(ca, [HOST])
  // The page is served by the gateway itself, on the TLS listener beside the route.
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.get('/', (c) => c.html(PAGE))
  // The same origin with a short lifetime, no token: the gateway recycles its connections soon (the origin exists once started).
  app.all('/recycled', (c, next) => websocket(started!.origin.url, { maxLifetime: RECYCLE_AFTER })(c as never, next))
  // HTTP/1.1 on purpose (h2 is on by default, and Chromium would take it): chromium-h2.test.ts runs the same page over h2.
  started = await startClientGateway({ tls: { cert: leaf.cert, key: leaf.key, port: 0, http2: false }, admin: { port: 0, token: ADMIN_TOKEN }, drainTimeout: 1_000 }, app)
  browser = await launchChromium(leaf.cert, HOST)
  page = await browser.newPage()
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`)
  })
  // Loaded once for every test below, so each may run alone.
  pageStatus = (await page.goto(pageUrl()))?.status()
})

afterAll(async () => {
  await browser?.close()
  await started?.close()
})

/** The page's origin: the gateway's TLS port under the test's host name. */
function pageUrl(): string {
  return `https://${HOST}:${started!.gateway.tlsPort}/`
}

/** Calls one of the page's functions with JSON arguments (a string: vitest's transform may add helpers to a function's text that the page lacks). */
async function call<T>(name: string, ...args: unknown[]): Promise<T> {
  return (await page!.evaluate(`${name}(...${JSON.stringify(args)})`)) as T
}

/** The one connection of the route whose JWT subject is `subject`, from the admin API. */
async function connectionOf(subject: string): Promise<OpenConnection> {
  const { connections } = await adminJson<{ connections: OpenConnection[] }>(started!.gateway.adminUrl!, '/connections', ADMIN_TOKEN)
  const mine = connections.filter((connection) => connection.subject === subject)
  expect(mine, `open connections of ${subject}`).toHaveLength(1)
  return mine[0]!
}

/** Waits for the page to see the close of socket `name`. */
async function pageSeesClose(name: string): Promise<Closed> {
  await page!.waitForFunction(`closeOf(${JSON.stringify(name)}) !== null`, undefined, { timeout: 10_000 })
  return call<Closed>('closeOf', name)
}

/** The 'connection closed' line of the connection with request id `id`. */
async function closedLineOf(id: string): Promise<LogLine> {
  const gateway = started!.gateway
  await waitFor(() => closedLines(gateway).some((line) => line.reqId === id), 5_000, `the 'connection closed' line of ${id}`)
  return closedLines(gateway).find((line) => line.reqId === id)!
}

describe('Chromium through wsgate over wss://, with a JWT in Sec-WebSocket-Protocol', () => {
  it('loads the page over https:// from the gateway, with the test certificate trusted', async () => {
    expect(pageStatus).toBe(200)
    expect(page!.url()).toBe(pageUrl())
    expect(await page!.evaluate('location.protocol')).toBe('https:')
    // With http2: false the TLS listener offers http/1.1 only, so the page and its WebSockets run on HTTP/1.1.
    expect(await page!.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol')).toBe('http/1.1')
    expect(await page!.evaluate('typeof openSocket')).toBe('function')
  })

  it("with ['chat.v1', 'bearer.<jwt>']: the page sees the origin's chat.v1 and permessage-deflate, every message comes back byte-exact, and DELETE /connections/:id closes it with 1001", async () => {
    const { gateway, origin } = started!
    const token = await started!.token('browser-prefix')
    const upgradesBefore = origin.upgrades.length
    const opened = await call<Opened>('openSocket', 'prefix', ECHO_ROUTE, [APP_PROTOCOL, `bearer.${token}`])

    const upgrade = origin.upgrades[upgradesBefore]!
    expect(opened.url).toBe(`wss://${HOST}:${gateway.tlsPort}${ECHO_ROUTE}`)
    expect(opened.protocol).toBe(APP_PROTOCOL)
    // The origin chose among what was left once jwtAuth() took the token out.
    expect(upgrade.headers['sec-websocket-protocol']).toBe(APP_PROTOCOL)
    expect(upgrade.protocol).toBe(APP_PROTOCOL)
    // Chromium's offer reached the origin, and the origin's answer reached the page.
    expect(upgrade.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate\b/)
    expect(upgrade.extensions).toBe('permessage-deflate')
    expect(opened.extensions).toBe(headLine(upgrade.answer, 'sec-websocket-extensions'))
    expect(opened.extensions).toMatch(/^permessage-deflate\b/)

    expectEchoed(await call<PortableMessage[]>('exchange', 'prefix', PORTABLE_MESSAGES))

    const connection = await connectionOf('browser-prefix')
    const deleted = await adminRequest(gateway.adminUrl!, `/connections/${connection.id}`, { method: 'DELETE', token: ADMIN_TOKEN })
    expect(deleted.status).toBe(204)
    expect(await pageSeesClose('prefix')).toEqual({ code: 1001, reason: 'closed by the gateway', wasClean: true })

    const line = await closedLineOf(connection.id)
    expect(line).toMatchObject({ route: ECHO_ROUTE, closedBy: 'gateway', closeCause: 'operator', closeCode: 1001 })
    // Chromium compresses what it sends, the origin too: both directions crossed the pipe deflated.
    expectCompressed(line.bytesFromClient, 'page to origin')
    expectCompressed(line.bytesFromOrigin, 'origin to page')
    expect(logsWith(gateway, 'handshake accepted').find((accepted) => accepted.reqId === connection.id)).toMatchObject({
      jwt: { source: 'protocol', sub: 'browser-prefix' },
    })
  })

  it('sees 1001 with a clean close when the gateway recycles its connection at the route\'s maxLifetime', async () => {
    const { gateway } = started!
    await call<Opened>('openSocket', 'recycled', '/recycled', [])
    expectEchoed(await call<PortableMessage[]>('exchange', 'recycled', PORTABLE_MESSAGES))
    expect(await pageSeesClose('recycled')).toEqual({ code: 1001, reason: 'max lifetime', wasClean: true })
    await waitFor(() => closedLines(gateway, '/recycled').length === 1, 5_000, "the recycled connection's line")
    expect(closedLines(gateway, '/recycled')[0]).toMatchObject({ closedBy: 'gateway', closeCause: 'lifetime', closeCode: 1001 })
  })

  it("with ['access_token', <jwt>]: the page sees the marker selected (the origin chose none), permessage-deflate, byte-exact echoes, and 1001 when the gateway drains", async () => {
    const { gateway, origin } = started!
    const token = await started!.token('browser-pair')
    const upgradesBefore = origin.upgrades.length
    const opened = await call<Opened>('openSocket', 'pair', ECHO_ROUTE, ['access_token', token])

    const upgrade = origin.upgrades[upgradesBefore]!
    // Both entries were taken out, so the origin was offered no subprotocol and chose none; jwtAuth() answered the marker.
    expect(upgrade.headers['sec-websocket-protocol']).toBeUndefined()
    expect(upgrade.protocol).toBe('')
    expect(opened.protocol).toBe('access_token')
    expect(opened.extensions).toBe(headLine(upgrade.answer, 'sec-websocket-extensions'))
    expect(opened.extensions).toMatch(/^permessage-deflate\b/)

    expectEchoed(await call<PortableMessage[]>('exchange', 'pair', PORTABLE_MESSAGES))

    const connection = await connectionOf('browser-pair')
    const drained = gateway.close({ drain: true })
    expect(await pageSeesClose('pair')).toEqual({ code: 1001, reason: 'gateway draining', wasClean: true })
    await drained
    const line = await closedLineOf(connection.id)
    expect(line).toMatchObject({ closedBy: 'gateway', closeCause: 'drain', closeCode: 1001 })
    expectCompressed(line.bytesFromClient, 'page to origin')
    expectCompressed(line.bytesFromOrigin, 'origin to page')
    expect(problems, 'page errors and console errors').toEqual([])
  })

  it('refuses a certificate of the same CA with another key: the trust above is the pinned key, not every certificate', async () => {
    const other = issue(ca, [HOST])
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.get('/', (c) => c.html(PAGE))
    const untrusted = await startGateway(app, { tls: { cert: other.cert, key: other.key, port: 0 } })
    const otherPage = await browser!.newPage()
    try {
      await expect(otherPage.goto(`https://${HOST}:${untrusted.tlsPort}/`)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/)
    } finally {
      await otherPage.close()
      await untrusted.close()
    }
  })
})
