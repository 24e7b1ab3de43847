import { once } from 'node:events'
import http from 'node:http'
import type net from 'node:net'
import { Hono } from 'hono'
import { chromium, type Browser } from 'playwright-core'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { jwtAuth } from '../../middleware/jwt-auth/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import type { ConnectionPage } from '../../src/node/index.ts'
import { adminJson } from '../helpers/admin.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { mint } from '../helpers/jwks.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'

// The admin dashboard and API against a hostile browser session: values a
// client chooses (a JWT subject) are shown as text, never as markup, and a
// page of another origin cannot change anything through the API without a
// token (no CORS: its DELETE and PUT never pass the preflight).

const SECRET = new TextEncoder().encode('a-shared-secret-of-32-bytes-ok!!')
/** A subject that, parsed as HTML, would add an image whose error handler marks the page. */
const HOSTILE_SUBJECT = '<img src=x onerror="document.body.dataset.pwned=1"><b>bold</b>'
const WITHIN_MS = 20_000

describe('the admin dashboard and API against hostile input', () => {
  let origin: WsOrigin | undefined
  let gateway: TestGateway | undefined
  let browser: Browser | undefined
  let other: http.Server | undefined
  const clients: WebSocket[] = []

  afterEach(async () => {
    await browser?.close()
    for (const client of clients.splice(0)) client.terminate()
    other?.closeAllConnections()
    if (other) await new Promise((resolve) => other!.close(resolve))
    await gateway?.close()
    await origin?.close()
    browser = gateway = origin = other = undefined
  })

  /** A gateway without an admin token, one route behind jwtAuth(), and one client on it whose JWT `sub` is `subject`. */
  async function start(subject: string): Promise<{ adminUrl: string; id: string; client: WebSocket }> {
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/secure', jwtAuth({ secret: SECRET, algorithms: ['HS256'] }), websocket(origin.url))
    gateway = await startGateway(app, { admin: { port: 0 } })
    const now = Math.floor(Date.now() / 1000)
    const token = await mint({ alg: 'HS256', secret: SECRET }, { sub: subject, iat: now, exp: now + 600 })
    const client = new WebSocket(`${gateway.wsUrl}/secure`, { headers: { authorization: `Bearer ${token}` } })
    client.on('error', () => {})
    clients.push(client)
    const [[response]] = (await Promise.all([once(client, 'upgrade'), once(client, 'open')])) as [[{ headers: Record<string, string> }], unknown]
    return { adminUrl: gateway.adminUrl!, id: response.headers['x-request-id']!, client }
  }

  async function launch(): Promise<Browser> {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] })
    return browser
  }

  it('shows a JWT subject made of HTML as that text: no element is made from it, nothing runs', async () => {
    const { adminUrl, id } = await start(HOSTILE_SUBJECT)
    const page = await (await launch()).newPage()
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    await page.goto(`${adminUrl}/`)
    const cell = page.locator(`#connections tr[data-key="${id}"] [data-column="subject"]`)
    await expect.poll(() => cell.textContent(), { timeout: WITHIN_MS }).toBe(HOSTILE_SUBJECT)
    expect(await cell.locator('*').count()).toBe(0)
    expect(await page.locator('main img, main b').count()).toBe(0)
    expect(await page.evaluate('document.body.dataset.pwned ?? null')).toBeNull()
    expect(problems).toEqual([])
  })

  it('a page of another origin cannot close a connection or set the log level of a listener without a token', async () => {
    const { adminUrl, id, client } = await start('alice')
    // The attacker's page: any other origin the browser reaches (here another port of 127.0.0.1).
    other = http.createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'))
    other.listen(0, '127.0.0.1')
    await once(other, 'listening')
    const page = await (await launch()).newPage()
    await page.goto(`http://127.0.0.1:${(other.address() as net.AddressInfo).port}/`)
    const outcomes = (await page.evaluate(`(async () => {
      const attempt = (url, init) => fetch(url, init).then((response) => 'answered ' + response.status + ' (' + response.type + ')', (error) => 'failed: ' + error.name)
      return [
        await attempt(${JSON.stringify(`${adminUrl}/connections/${id}`)}, { method: 'DELETE' }),
        await attempt(${JSON.stringify(`${adminUrl}/log-level`)}, { method: 'PUT', body: '{"level":"silent"}', headers: { 'content-type': 'application/json' } }),
        await attempt(${JSON.stringify(`${adminUrl}/log-level`)}, { method: 'POST', mode: 'no-cors', body: '{"level":"silent"}', headers: { 'content-type': 'text/plain' } }),
        await attempt(${JSON.stringify(`${adminUrl}/connections`)}, {}),
      ]
    })()`)) as string[]
    // DELETE and PUT need a preflight the listener never grants; the no-cors POST has no route; the GET cannot be read.
    expect(outcomes).toEqual(['failed: TypeError', 'failed: TypeError', 'answered 0 (opaque)', 'failed: TypeError'])
    expect(client.readyState).toBe(WebSocket.OPEN)
    expect((await adminJson<ConnectionPage>(adminUrl, '/connections')).connections.map((connection) => connection.id)).toEqual([id])
    expect(await adminJson<{ level: string }>(adminUrl, '/log-level')).toEqual({ level: 'debug' })
  })
})
