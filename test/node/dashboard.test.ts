import { once } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { isDeepStrictEqual } from 'node:util'
import { Hono } from 'hono'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { jwtAuth } from '../../middleware/jwt-auth/index.ts'
import { waf } from '../../middleware/waf/index.ts'
import { DASHBOARD_CONTENT_SECURITY_POLICY } from '../../src/node/admin/dashboard.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { adminRequest, samples, scrape } from '../helpers/admin.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { mint } from '../helpers/jwks.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'

const TOKEN = 'dashboard-test-token+/='
const SECRET = new TextEncoder().encode('a-shared-secret-of-32-bytes-ok!!')
/** `1' OR '1'='1` in a query argument: an SQL injection the WAF blocks. */
const SQLI_TARGET = "/guarded?id=1'%20OR%20'1'='1"
/** Where the screenshot goes: git-ignored, kept by CI as an artifact. */
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url)
/** Reading the page and /metrics until they agree: the page reads every second, so a few seconds at most. */
const AGREE_WITHIN_MS = 20_000

/** The figures the test compares, as the page writes them: route or "status · code" to the number as text. */
interface Figures {
  connections: Record<string, string>
  handshakes: Record<string, string>
  wafBlocks: string | undefined
  authFailures: string | undefined
}

/**
 * Reads the figures off the page's DOM. A string, not a function: vitest's
 * transform may add helpers to a function's text that the page lacks.
 */
const READ_PAGE = `(() => {
  const column = (panel, name) => Object.fromEntries(Array.from(document.querySelectorAll('#panel-' + panel + ' tbody tr[data-key]'))
    .map((row) => [row.dataset.key, row.querySelector('[data-column="' + name + '"]').textContent]))
  const figure = (id) => document.querySelector('[data-figure="' + id + '"] .value')?.textContent
  return { connections: column('connections', 'open'), handshakes: column('handshakes', 'total'), wafBlocks: figure('waf-total'), authFailures: figure('auth-total') }
})()`

/** The connection ids of the live table's rows. */
const READ_ROW_IDS = `Array.from(document.querySelectorAll('#connections tbody tr[data-key]'), (row) => row.dataset.key)`

/** The same figures from a /metrics text, summed independently of the page's code. */
function figuresOf(metrics: string): Figures {
  const sum = (name: string, key: (labels: Record<string, string>) => string): Record<string, number> => {
    const sums: Record<string, number> = {}
    for (const { labels, value } of samples(metrics, name)) sums[key(labels)] = (sums[key(labels)] ?? 0) + value
    return sums
  }
  const asText = (sums: Record<string, number>): Record<string, string> => Object.fromEntries(Object.entries(sums).map(([key, value]) => [key, value.toLocaleString('en-US')]))
  const total = (name: string): string => String(samples(metrics, name).reduce((all, sample) => all + sample.value, 0))
  return {
    connections: asText(sum('wsgate_connections_open', (labels) => labels.route!)),
    handshakes: asText(sum('wsgate_handshakes_total', (labels) => `${labels.status} · ${labels.code}`)),
    wafBlocks: total('wsgate_waf_blocks_total'),
    authFailures: total('wsgate_auth_failures_total'),
  }
}

/**
 * Reads the page and scrapes /metrics, again and again, until both say the
 * same; returns that agreement (or fails with the last pair).
 */
async function pageAgreesWithMetrics(page: Page, adminUrl: string): Promise<Figures> {
  const deadline = Date.now() + AGREE_WITHIN_MS
  for (;;) {
    const shown = (await page.evaluate(READ_PAGE)) as Figures
    const scraped = figuresOf(await scrape(adminUrl, TOKEN))
    if (isDeepStrictEqual(shown, scraped)) return shown
    if (Date.now() > deadline) {
      expect(shown, 'figures on the page').toEqual(scraped)
      throw new Error('the page and /metrics never agreed')
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Opens a WebSocket client; resolves once open, with the request id the gateway gave it (its connection id). */
async function openClient(url: string, headers: Record<string, string> = {}): Promise<{ client: WebSocket; id: string }> {
  const client = new WebSocket(url, { headers })
  client.on('error', () => {})
  const [[response]] = (await Promise.all([once(client, 'upgrade'), once(client, 'open')])) as [[{ headers: Record<string, string> }], unknown]
  return { client, id: response.headers['x-request-id']! }
}

/** Keys of `record` starting with `prefix`, with their values. */
function startingWith(record: Record<string, string>, prefix: string): string[] {
  return Object.entries(record)
    .filter(([key]) => key.startsWith(prefix))
    .map(([, value]) => value)
}

describe('the admin dashboard in Chromium', () => {
  let origin: WsOrigin | undefined
  let gateway: TestGateway | undefined
  let browser: Browser | undefined
  const clients: WebSocket[] = []
  let chatter: NodeJS.Timeout | undefined

  afterEach(async () => {
    clearInterval(chatter)
    await browser?.close()
    for (const client of clients.splice(0)) client.terminate()
    await gateway?.close()
    await origin?.close()
    browser = gateway = origin = undefined
  })

  /** A gateway with an admin listener (token asked), two open routes, one behind jwtAuth() and one behind waf(). */
  async function start(): Promise<{ gateway: TestGateway; adminUrl: string }> {
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', websocket(origin.url))
    app.all('/feed/*', websocket(origin.url))
    app.all('/secure', jwtAuth({ secret: SECRET, algorithms: ['HS256'] }), websocket(origin.url))
    app.all('/guarded', waf(), websocket(origin.url))
    gateway = await startGateway(app, { admin: { port: 0, token: TOKEN } })
    return { gateway, adminUrl: gateway.adminUrl! }
  }

  async function launch(): Promise<Browser> {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] })
    return browser
  }

  it('shows the connections per route and the refusals /metrics counts, and its Close button ends that client with 1001', async () => {
    const { gateway, adminUrl } = await start()
    const chat = [await openClient(`${gateway.wsUrl}/chat`), await openClient(`${gateway.wsUrl}/chat`)]
    const feed = await openClient(`${gateway.wsUrl}/feed/news`)
    const now = Math.floor(Date.now() / 1000)
    const token = await mint({ alg: 'HS256', secret: SECRET }, { sub: 'alice', iat: now, exp: now + 600 })
    const secure = await openClient(`${gateway.wsUrl}/secure`, { authorization: `Bearer ${token}` })
    clients.push(...chat.map(({ client }) => client), feed.client, secure.client)
    // Bytes both ways for the bytes panel: the origin echoes.
    chatter = setInterval(() => chat[0]!.client.send('x'.repeat(2048)), 50)
    const refusals = [
      await rawExchange(gateway.port, handshakeRequest('/secure')),
      await rawExchange(gateway.port, handshakeRequest('/secure')),
      await rawExchange(gateway.port, handshakeRequest(SQLI_TARGET, { 'User-Agent': 'Mozilla/5.0' })),
      await rawExchange(gateway.port, handshakeRequest('/chat', { 'Sec-WebSocket-Key': 'too-short' })),
    ]
    expect(refusals.map((response) => response.status)).toEqual([401, 401, 403, 400])

    // The page itself needs no token (a browser cannot send one yet), and comes with its CSP.
    const served = await adminRequest(adminUrl, '/')
    expect(served.status).toBe(200)
    expect(served.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(served.headers['content-security-policy']).toBe(DASHBOARD_CONTENT_SECURITY_POLICY)
    expect(served.headers['cache-control']).toBe('no-store')

    const page = await (await launch()).newPage({ viewport: { width: 1280, height: 900 } })
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`)
    })
    const requests: { url: string; authorization: string | undefined }[] = []
    page.on('request', (request) => requests.push({ url: request.url(), authorization: request.headers().authorization }))
    await page.goto(`${adminUrl}/#token=${encodeURIComponent(TOKEN)}`)

    const shown = await pageAgreesWithMetrics(page, adminUrl)
    expect(shown.connections).toEqual({ '/chat': '2', '/feed/*': '1', '/secure': '1' })
    expect(startingWith(shown.handshakes, '101 ').reduce((all, total) => all + Number(total), 0)).toBe(4)
    expect(startingWith(shown.handshakes, '401 ')).toEqual(['2'])
    expect(startingWith(shown.handshakes, '403 ')).toEqual(['1'])
    expect(startingWith(shown.handshakes, '400 ')).toEqual(['1'])
    expect(shown.wafBlocks).toBe('1')
    expect(shown.authFailures).toBe('2')

    // The live table lists exactly the open connections, jwtAuth()'s subject included.
    const rowIds = async (): Promise<string[]> => ((await page.evaluate(READ_ROW_IDS)) as string[]).sort()
    await expect.poll(rowIds, { timeout: AGREE_WITHIN_MS }).toEqual([chat[0]!.id, chat[1]!.id, feed.id, secure.id].sort())
    expect(await page.locator(`#connections tr[data-key="${secure.id}"] [data-column="subject"]`).textContent()).toBe('alice')

    // Close one connection from its row: that client gets a close frame, 1001 (going away).
    const closed = once(feed.client, 'close') as Promise<[number, Buffer]>
    await page.getByRole('button', { name: `Close connection ${feed.id}` }).click()
    const [code] = await closed
    expect(code).toBe(1001)
    await expect.poll(() => page.locator(`#connections tr[data-key="${feed.id}"]`).count(), { timeout: AGREE_WITHIN_MS }).toBe(0)
    const afterClose = await pageAgreesWithMetrics(page, adminUrl)
    expect(afterClose.connections['/chat']).toBe('2')
    expect(afterClose.connections['/feed/*'] ?? '0').toBe('0')

    // The token went out as a header only: never in a URL, and gone from the address bar.
    expect(page.url()).toBe(`${adminUrl}/`)
    expect(requests.filter((request) => request.url.includes(encodeURIComponent(TOKEN)) || request.url.includes(TOKEN))).toEqual([])
    const polls = requests.filter((request) => /\/(metrics|connections)\b/.test(request.url))
    expect(polls.length).toBeGreaterThan(2)
    for (const request of polls) expect(request.authorization, request.url).toBe(`Bearer ${TOKEN}`)
    expect(requests.every((request) => request.url.startsWith(`${adminUrl}/`)), 'every request goes to the admin listener').toBe(true)
    expect(problems, 'console errors, CSP violations, page errors').toEqual([])

    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: new URL('dashboard.png', ARTIFACTS).pathname, fullPage: true })
  })

  it('without the token, says the listener asks for one and takes it from its form', async () => {
    const { gateway, adminUrl } = await start()
    clients.push((await openClient(`${gateway.wsUrl}/chat`)).client)
    const page = await (await launch()).newPage()
    await page.goto(`${adminUrl}/`)
    await expect.poll(() => page.locator('#problem').textContent(), { timeout: AGREE_WITHIN_MS }).toMatch(/\/metrics: HTTP 401/)
    expect(await page.locator('#token-form').isVisible()).toBe(true)
    await page.getByLabel('Admin token').fill(TOKEN)
    await page.getByRole('button', { name: 'Use token' }).click()
    await expect.poll(() => page.locator('#panel-connections tr[data-key="/chat"] [data-column="open"]').textContent(), { timeout: AGREE_WITHIN_MS }).toBe('1')
    expect(await page.locator('#problem').textContent()).toBe('')
    expect(await page.locator('#token-form').isVisible()).toBe(false)
  })
})
