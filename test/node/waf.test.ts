import { once } from 'node:events'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { waf, type WafOptions } from '../../middleware/waf/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { readCrs } from '../../src/node/index.ts'
import { expectNoOpenSockets, logsWith, startGateway, type LogLine, type TestGateway } from '../helpers/gateway.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'

const CRS = readCrs('/usr/share/modsecurity-crs')
const BLOCKED_BODY = 'request blocked by the web application firewall\n'
/** `1' OR '1'='1` in a query argument: plain SQL injection. */
const SQLI_TARGET = "/chat?room=lobby&id=1'%20OR%20'1'='1"

interface WafLog {
  action: string
  score?: number
  rules?: { id: number; msg: string; var: string }[]
  us?: number
  reason?: string
  blockedBy?: number
}

/** Opens a client and resolves once it is open, with the request id the gateway answered with. */
async function openClient(url: string, headers: Record<string, string> = {}): Promise<{ client: WebSocket; requestId: string }> {
  const client = new WebSocket(url, { headers })
  const upgraded = once(client, 'upgrade') as Promise<[{ headers: Record<string, string> }]>
  const opened = once(client, 'open')
  const [[response]] = await Promise.all([upgraded, opened])
  return { client, requestId: response.headers['x-request-id']! }
}

/** Closes a client and waits for the close. */
async function closeClient(client: WebSocket): Promise<void> {
  const closed = once(client, 'close')
  client.close()
  await closed
}

describe('waf() on a real gateway', () => {
  let origin: WsOrigin | undefined
  let gateway: TestGateway | undefined

  afterEach(async () => {
    if (gateway) {
      await expectNoOpenSockets(gateway)
      await gateway.close()
    }
    await origin?.close()
    gateway = undefined
    origin = undefined
  })

  async function start(options: WafOptions): Promise<{ gateway: TestGateway; origin: WsOrigin }> {
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/chat', waf(options), websocket(origin.url))
    gateway = await startGateway(app)
    return { gateway, origin }
  }

  /** The one handshake log line with the given request id. */
  function handshakeLine(msg: string, requestId: string): LogLine & { waf: WafLog } {
    const lines = logsWith(gateway!, msg).filter((line) => line.reqId === requestId)
    expect(lines).toHaveLength(1)
    return lines[0] as LogLine & { waf: WafLog }
  }

  it('refuses an attack with 403, ERR_WAF_BLOCKED, a short reason and the request id; the log line has every matched rule', async () => {
    const { gateway, origin } = await start({})
    const response = await rawExchange(gateway.port, handshakeRequest(SQLI_TARGET, { 'User-Agent': 'Mozilla/5.0' }))
    expect(response.status).toBe(403)
    expect(response.headers['x-wsgate-error']).toBe('ERR_WAF_BLOCKED')
    expect(response.body).toBe(BLOCKED_BODY)
    const requestId = response.headers['x-request-id']
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
    expect(origin.sockets).toHaveLength(0)

    const line = handshakeLine('handshake rejected', requestId!)
    expect(line).toMatchObject({ status: 403, code: 'ERR_WAF_BLOCKED' })
    expect(line.waf).toMatchObject({ action: 'blocked', score: 5, blockedBy: 9009990 })
    expect(line.waf.rules).toEqual([
      { id: 9001001, msg: 'SQL injection: boolean tautology after a quote', var: 'ARGS:id' },
      { id: 9009990, msg: 'Inbound anomaly score exceeded (total score: 5)', var: 'TX:anomaly_score' },
    ])
  })

  it('lets a benign client upgrade and exchange messages; the log line records the pass and the time spent', async () => {
    const { gateway } = await start({})
    const { client, requestId } = await openClient(`${gateway.wsUrl}/chat?room=lobby&token=eyJhbGciOiJIUzI1NiJ9.e30.sig`, {
      'User-Agent': 'Mozilla/5.0',
      Cookie: 'theme=dark; sid=4f2a9c',
    })
    const reply = once(client, 'message')
    client.send('hello')
    expect(String((await reply)[0])).toBe('hello')
    await closeClient(client)
    const line = handshakeLine('handshake accepted', requestId)
    expect(line.waf).toMatchObject({ action: 'passed', score: 0, rules: [] })
    expect(line.waf.us).toBeGreaterThan(0)
  })

  it('in detection-only mode lets the attack through and logs what it would have blocked', async () => {
    const { gateway } = await start({ detectionOnly: true })
    const { client, requestId } = await openClient(`${gateway.wsUrl}${SQLI_TARGET}`)
    await closeClient(client)
    const line = handshakeLine('handshake accepted', requestId)
    expect(line.waf).toMatchObject({ action: 'detected', score: 5, blockedBy: 9009990 })
    expect(line.waf.rules!.map((rule) => rule.id)).toEqual([9001001, 9009990])
  })

  it('refuses a client on the deny list before any rule runs, and lets a client on the allow list through uninspected', async () => {
    const denied = await start({ deny: ['127.0.0.0/8'] })
    const response = await rawExchange(denied.gateway.port, handshakeRequest('/chat'))
    expect(response.status).toBe(403)
    expect(response.headers['x-wsgate-error']).toBe('ERR_WAF_BLOCKED')
    expect(handshakeLine('handshake rejected', response.headers['x-request-id']!).waf).toEqual({ action: 'blocked', reason: 'deny list' })
    await expectNoOpenSockets(denied.gateway)
    await denied.gateway.close()
    await denied.origin.close()

    const allowed = await start({ allow: ['::1', '127.0.0.1'] })
    const { client, requestId } = await openClient(`${allowed.gateway.wsUrl}${SQLI_TARGET}`)
    await closeClient(client)
    expect(handshakeLine('handshake accepted', requestId).waf).toEqual({ action: 'allowed', reason: 'allow list' })
  })

  it('runs custom rules written as SecLang, as objects and as functions', async () => {
    const { gateway } = await start({
      baseline: false,
      rules: [
        `SecRule REQUEST_HEADERS:X-Tenant "@streq blocked" "id:10001,phase:1,deny,msg:'tenant blocked'"`,
        { id: 10002, variables: 'REQUEST_HEADERS:User-Agent', operator: '@contains evilbot', transformations: ['lowercase'], message: 'evil bot' },
        (facts) => (facts.rawTarget.includes('debug=1') ? { id: 10003, message: 'debug switch', variable: 'ARGS:debug', value: '1' } : null),
      ],
    })
    const expectations: [Record<string, string>, string, number][] = [
      [{ 'X-Tenant': 'blocked' }, '/chat', 10001],
      [{ 'User-Agent': 'EvilBot/1.0' }, '/chat', 10002],
      [{}, '/chat?debug=1', 10003],
    ]
    for (const [headers, target, id] of expectations) {
      const response = await rawExchange(gateway.port, handshakeRequest(target, headers))
      expect(response.status).toBe(403)
      expect(handshakeLine('handshake rejected', response.headers['x-request-id']!).waf.rules!.map((rule) => rule.id)).toEqual([id])
    }
    const { client } = await openClient(`${gateway.wsUrl}/chat`, { 'X-Tenant': 'acme' })
    await closeClient(client)
  })

  it('blocks with the CRS at paranoia 1 and logs the CRS rule ids; serve() logs the load report at start', async () => {
    const { gateway } = await start({ crs: CRS })
    const report = gateway.logs.find((line) => line.middleware === 'waf')
    expect(report?.msg).toMatch(/^CRS OWASP_CRS\/3\.3\.4: \d+ rules loaded/)
    expect(report?.report).toMatchObject({ ruleSet: 'crs', version: 'OWASP_CRS/3.3.4', paranoia: 1, threshold: 5 })

    const response = await rawExchange(gateway.port, handshakeRequest('/chat?q=%3Cscript%3Ealert(1)%3C/script%3E', { 'User-Agent': 'Mozilla/5.0', Accept: '*/*' }))
    expect(response.status).toBe(403)
    const line = handshakeLine('handshake rejected', response.headers['x-request-id']!)
    expect(line.waf.action).toBe('blocked')
    expect(line.waf.blockedBy).toBe(949110)
    const ids = line.waf.rules!.map((rule) => rule.id)
    expect(ids).toContain(941110)
    expect(ids.at(-1)).toBe(949110)
    expect(line.waf.rules!.find((rule) => rule.id === 941110)?.msg).toBe('XSS Filter - Category 1: Script Tag Vector')
  })
})
