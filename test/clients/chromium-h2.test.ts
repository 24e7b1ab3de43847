import { readFileSync } from 'node:fs'
import { Hono } from 'hono'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GatewayBindings } from '../../src/index.ts'
import { adminJson, adminRequest } from '../helpers/admin.ts'
import { issue, makeCa, type CertificatePair } from '../helpers/certificates.ts'
import { ECHO_ROUTE, startClientGateway, type ClientGateway } from '../helpers/client-gateway.ts'
import { APP_PROTOCOL, expectEchoed, PORTABLE_MESSAGES, type PortableMessage } from '../helpers/client-traffic.ts'
import { closedLines, logsWith, waitFor } from '../helpers/gateway.ts'

/**
 * Chromium over HTTP/2: the gateway serves the page on its TLS listener
 * with `http2: true`, so the page loads over h2 and Chromium opens the
 * page's WebSocket on that same connection as an RFC 8441 extended
 * CONNECT. The gateway's handshake and connection lines must say
 * `http: '2'`. Trust and name resolution as in chromium.test.ts.
 */

const HOST = 'gateway.test'
const ADMIN_TOKEN = 'chromium-h2-admin-token'
const PAGE = readFileSync(new URL('../fixtures/clients/browser-client.html', import.meta.url), 'utf8')

let ca: CertificatePair
let leaf: CertificatePair
let browser: Browser | undefined
let started: ClientGateway | undefined
let page: Page | undefined
let pageProtocol: string | undefined

beforeAll(async () => {
  ca = makeCa()
  leaf = issue(ca, [HOST])
  const app = new Hono<{ Bindings: GatewayBindings }>()
  app.get('/', (c) => c.html(PAGE))
  started = await startClientGateway({ tls: { cert: leaf.cert, key: leaf.key, port: 0, http2: true }, admin: { port: 0, token: ADMIN_TOKEN } }, app)
  browser = await launchChromium(leaf.cert, HOST)
  page = await browser.newPage()
  const response = await page.goto(`https://${HOST}:${started.gateway.tlsPort}/`)
  pageProtocol = (await response?.request().response())?.status() === 200 ? await page.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol') : undefined
})

afterAll(async () => {
  await browser?.close()
  await started?.close()
})

async function call<T>(name: string, ...args: unknown[]): Promise<T> {
  return (await page!.evaluate(`${name}(...${JSON.stringify(args)})`)) as T
}

describe('Chromium through wsgate over HTTP/2 (RFC 8441)', () => {
  it('loads the page over h2 and runs its WebSocket over h2: echoes byte-exact, closes cleanly, and the log says http 2', async () => {
    const { gateway } = started!
    expect(pageProtocol).toBe('h2')
    // The page itself came through the app's route over h2: its access line says so.
    expect(logsWith(gateway, 'request').some((line) => line.path === '/' && line.http === '2' && line.status === 200)).toBe(true)

    const token = await started!.token('browser-h2')
    const opened = await call<{ protocol: string; extensions: string }>('openSocket', 'h2', ECHO_ROUTE, [APP_PROTOCOL, `bearer.${token}`])
    expect(opened.protocol).toBe(APP_PROTOCOL)
    expect(opened.extensions).toMatch(/^permessage-deflate\b/)
    expectEchoed(await call<PortableMessage[]>('exchange', 'h2', PORTABLE_MESSAGES))

    const { connections } = await adminJson<{ connections: { id: string; subject?: string }[] }>(gateway.adminUrl!, '/connections', ADMIN_TOKEN)
    const connection = connections.find((open) => open.subject === 'browser-h2')!
    expect(logsWith(gateway, 'handshake accepted').find((line) => line.reqId === connection.id)).toMatchObject({ http: '2', status: 101 })

    const deleted = await adminRequest(gateway.adminUrl!, `/connections/${connection.id}`, { method: 'DELETE', token: ADMIN_TOKEN })
    expect(deleted.status).toBe(204)
    await page!.waitForFunction(`closeOf('h2') !== null`, undefined, { timeout: 10_000 })
    expect(await call('closeOf', 'h2')).toEqual({ code: 1001, reason: 'closed by the gateway', wasClean: true })
    await waitFor(() => closedLines(gateway).some((line) => line.reqId === connection.id), 5_000)
    expect(closedLines(gateway).find((line) => line.reqId === connection.id)).toMatchObject({ http: '2', closedBy: 'gateway', closeCode: 1001 })
  })
})
