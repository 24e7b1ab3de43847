import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { waf } from '../../middleware/waf/index.ts'
import { cacheBypass, http as httpRoute, jwtAuth, normalizeHeaders, proxy, replaceRequest, websocket, type GatewayBindings } from '../../src/index.ts'
import { rawValues, startDualOrigin, type DualOrigin } from '../helpers/dual-origin.ts'
import { expectNoOpenSockets, startGateway, type LogLine, type TestGateway } from '../helpers/gateway.ts'
import { exchangeOnce, plainRequest, upgradeRequest, type Exchange } from '../helpers/hostile-client.ts'
import { TEST_KEY } from '../helpers/raw-client.ts'
import { mint } from '../helpers/jwks.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { echoOnce } from '../helpers/resources.ts'

/**
 * Issue 9, hostile requests over raw sockets: one parse of the request head
 * decides Host, request-target, framing, request line and Connection before
 * any route's chain runs; each refusal is a 4xx (or 414/431/501/505) with a
 * stable code, a one-line reason and a closed connection, and the gateway
 * keeps serving afterwards without leaking a socket.
 */

const SECRET = new TextEncoder().encode('hostile-suite-hmac-secret-32-bytes!!')
/** Strings that must never reach a log line. */
const PASSWORD = 'hunter2-in-host'
const TARGET_PASSWORD = 'hunter2-in-target'
const QUERY_SECRET = 'query-secret-never-logged'

/** Asserts a refusal: the status, one of the codes, a one-line text/plain reason, a closing connection, no second answer. */
function expectRefused(exchange: Exchange, status: number, codes: readonly string[]): void {
  const { response } = exchange
  expect(response, 'the gateway closed without an answer').toBeDefined()
  expect(response!.status, response!.statusLine).toBe(status)
  expect(codes, `x-wsgate-error of ${response!.statusLine}`).toContain(response!.headers['x-wsgate-error'])
  expect(response!.headers['content-type']).toMatch(/^text\/plain/)
  expect(exchange.body.trimEnd().split('\n'), 'a one-line reason').toHaveLength(1)
  expect(exchange.body.trim()).not.toBe('')
  expect(response!.headers.connection, 'the refusal closes the connection').toBe('close')
  expect(exchange.extra.toString('latin1'), 'nothing after the answer').toBe('')
}

/** Asserts a 101 from the gateway. */
function expectUpgraded(exchange: Exchange): void {
  expect(exchange.response?.statusLine, exchange.response?.raw.toString('latin1').slice(0, 300)).toMatch(/^HTTP\/1\.1 101 /)
}

const HOST = 'ERR_HANDSHAKE_HOST'
const TARGET = 'ERR_HANDSHAKE_TARGET'
const FRAMING = ['ERR_HANDSHAKE_FRAMING', 'ERR_HANDSHAKE_MALFORMED'] as const
const MALFORMED = 'ERR_HANDSHAKE_MALFORMED'
const VERSION = 'ERR_HANDSHAKE_HTTP_VERSION'
const NOT_IMPLEMENTED = 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED'

describe('hostile requests against a gateway with WebSocket, full-chain and plain HTTP routes', () => {
  let echo: WsOrigin
  /** Request targets the echo origin received, in order. */
  const echoUrls: string[] = []
  let dual: DualOrigin
  let gateway: TestGateway
  let token: string
  /** Log lines before the current test, so a test can look at its own. */
  let logMark = 0

  beforeAll(async () => {
    // Room for what the gateway forwards at its own limits (8 KiB target, 16 KiB of fields); Node's default is 16 KiB in all.
    echo = await startWsOrigin(undefined, { server: http.createServer({ maxHeaderSize: 64 * 1024 }) })
    echo.server.on('connection', (_socket, request) => echoUrls.push(request.url ?? ''))
    dual = await startDualOrigin()
    token = await mint({ alg: 'HS256', secret: SECRET }, { sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })

    /** A user middleware that authenticates by fiat and hands the origin an identity header. */
    const identity = createMiddleware(async function identity(c, next) {
      const headers = new Headers(c.req.raw.headers)
      headers.set('x-user', 'alice')
      replaceRequest(c, { headers })
      await next()
    })

    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/echo', websocket(echo.url))
    app.all('/files/*', websocket(echo.url))
    app.all(
      '/chain',
      waf(),
      normalizeHeaders(),
      cacheBypass(),
      jwtAuth({ secret: SECRET, algorithms: ['HS256'] }),
      proxy(dual.url),
    )
    app.all('/normalized', normalizeHeaders(), websocket(echo.url))
    app.all('/identity', identity, websocket(dual.url))
    app.all('/identity-http', identity, httpRoute(dual.url))
    app.all('/plain', httpRoute(dual.url))
    app.all('/proxied', proxy(dual.url))
    gateway = await startGateway(app)
  })

  afterEach(async () => {
    // After every case the same gateway still upgrades a normal client, holds no socket and logged no error.
    await echoOnce(`${gateway.wsUrl}/echo`, 'still serving')
    await expectNoOpenSockets(gateway)
    const errors = gateway.logs.slice(logMark).filter((line) => Number(line.level) >= 50)
    logMark = gateway.logs.length
    expect(errors, 'error log lines (an exception escaped the request path)').toEqual([])
  })

  afterAll(async () => {
    try {
      const text = gateway.logs.map((line) => JSON.stringify(line)).join('\n')
      for (const secret of [PASSWORD, TARGET_PASSWORD, QUERY_SECRET, token]) expect(text, 'a credential reached the log').not.toContain(secret)
    } finally {
      await gateway.close()
      await Promise.all([echo.close(), dual.close()])
    }
  })

  /** Origin traffic so far, to show a refused request reached neither origin. */
  function originCounts(): { echo: number; dual: number } {
    return { echo: echoUrls.length, dual: dual.seen.length }
  }

  /** Sends `request` and asserts a refusal that reached no origin. */
  async function refused(request: string, status: number, codes: string | readonly string[]): Promise<Exchange> {
    const before = originCounts()
    const exchange = await exchangeOnce(gateway.port, request)
    expectRefused(exchange, status, typeof codes === 'string' ? [codes] : codes)
    expect(originCounts(), 'no origin was contacted').toEqual(before)
    return exchange
  }

  /** The log lines written since the test started. */
  function ownLogs(): LogLine[] {
    return gateway.logs.slice(logMark)
  }

  describe('Host: exactly one valid host[:port], on every route, before routing', () => {
    const invalidHosts: [label: string, value: string][] = [
      ['empty', ''],
      ['a path in it', 'evil/echo?'],
      ['a slash', '127.0.0.1/echo'],
      ['userinfo', 'a@b'],
      ['user:password@', `user:${PASSWORD}@127.0.0.1`],
      ['a question mark', 'a?b'],
      ['a hash', 'a#b'],
      ['a backslash', 'a\\b'],
      ['a space', 'a b'],
      ['a tab', 'a\tb'],
      ['non-ASCII bytes', 'ex\u00e4mple.com'],
      ['a percent-escape', '%65vil.example'],
      ['an unclosed bracket', '[::1'],
      ['a stray closing bracket', '::1]'],
      ['an extra closing bracket', '[::1]]'],
      ['an unbracketed IPv6 address', '::1'],
      ['a zone id', '[fe80::1%25eth0]'],
      ['an IPvFuture literal', '[v1.fe]'],
      ['an invalid IPv6 address', '[1:2:3:4:5:6:7:8:9]'],
      ['a port over 65535', '127.0.0.1:65536'],
      ['a port with letters', '127.0.0.1:8o'],
      ['a signed port', '127.0.0.1:+80'],
      ['two ports', 'a:1:2'],
      ['octet 256', '256.0.0.1'],
      ['a short IPv4 form', '127.1'],
      ['a hex octet', '0x7f.0.0.1'],
      ['a single number', '2130706433'],
      ['an octet with a leading zero', '127.0.0.01'],
      ['five numeric labels', '1.2.3.4.5'],
      ['a numeric last label', 'example.123'],
    ]
    const routes: [label: string, build: (host: string | readonly string[] | null) => string][] = [
      ['a WebSocket route', (host) => upgradeRequest('/echo', { host })],
      ['the full-chain route', (host) => upgradeRequest(`/chain?access_token=${token}`, { host })],
      ['a plain HTTP route', (host) => plainRequest('/plain', { host })],
      ['an unknown path (plain)', (host) => plainRequest('/nothing', { host })],
      ['an unknown path (upgrade)', (host) => upgradeRequest('/nothing', { host })],
    ]

    for (const [routeLabel, build] of routes) {
      for (const [label, value] of invalidHosts) {
        it(`refuses a Host with ${label} on ${routeLabel} with 400 ${HOST}, never 404 or 500`, async () => {
          await refused(build(value), 400, HOST)
        })
      }
      it(`refuses a request without Host on ${routeLabel} with 400 ${HOST}`, async () => {
        await refused(build(null), 400, HOST)
      })
      it(`refuses two identical Host headers on ${routeLabel} with 400 ${HOST}`, async () => {
        await refused(build(['127.0.0.1', '127.0.0.1']), 400, HOST)
      })
      it(`refuses two differing Host headers on ${routeLabel} with 400 ${HOST}`, async () => {
        await refused(build(['127.0.0.1', 'admin.internal']), 400, HOST)
      })
      for (const control of ['\x01', '\x7f']) {
        it(`refuses a Host with control byte 0x${control.charCodeAt(0).toString(16)} on ${routeLabel} with 400 (${HOST}, or ${MALFORMED} from Node's parser)`, async () => {
          await refused(build(`a${control}b`), 400, [HOST, MALFORMED])
        })
      }
    }

    const validHosts = ['example.com', 'EXAMPLE.com:8080', 'localhost', '127.0.0.1:65535', '0.0.0.0', '[::1]', '[::1]:8080', '[2001:db8::7]', '[::ffff:127.0.0.1]', 'a-b_c~d.example', "sub!$&'()*+,;=.example", 'example.com.']
    for (const value of validHosts) {
      it(`upgrades a handshake with the valid Host ${JSON.stringify(value)}`, async () => {
        expectUpgraded(await exchangeOnce(gateway.port, upgradeRequest('/echo', { host: value })))
      })
      it(`serves a plain request with the valid Host ${JSON.stringify(value)}`, async () => {
        const exchange = await exchangeOnce(gateway.port, plainRequest('/plain', { host: value }))
        expect(exchange.response?.status, exchange.response?.statusLine).toBe(200)
        expect(exchange.body).toBe('origin page\n')
      })
    }

    it('never routes on Host: GET /nothing with a valid Host named like a route is 404, and the origin is not contacted', async () => {
      const before = originCounts()
      const exchange = await exchangeOnce(gateway.port, upgradeRequest('/nothing', { host: 'echo' }))
      expect(exchange.response?.status).toBe(404)
      expect(originCounts()).toEqual(before)
    })

    it('does not write the password of a Host with user:password@ into any log line', async () => {
      await refused(upgradeRequest('/echo', { host: `user:${PASSWORD}@127.0.0.1` }), 400, HOST)
      await refused(plainRequest('/plain', { host: `user:${PASSWORD}@127.0.0.1` }), 400, HOST)
      expect(ownLogs().length, 'the refusals are logged').toBeGreaterThan(0)
      expect(JSON.stringify(ownLogs())).not.toContain(PASSWORD)
    })
  })

  describe('request-target: origin-form or absolute-form only, routed on the target alone', () => {
    const refusedTargets: [label: string, target: string][] = [
      ['asterisk-form', '*'],
      ['authority-form', '127.0.0.1:80'],
      ['a ws:// absolute target', 'ws://127.0.0.1/echo'],
      ['a wss:// absolute target', 'wss://127.0.0.1/echo'],
      ['an ftp:// absolute target', 'ftp://127.0.0.1/echo'],
      ['userinfo in an absolute target', `http://u:${TARGET_PASSWORD}@127.0.0.1/echo`],
      ['an empty authority in an absolute target', 'http:///echo'],
      ['an invalid authority in an absolute target', 'http://256.0.0.1/echo'],
      ['a fragment', '/echo#frag'],
      ['a fragment after the query', '/echo?a=1#frag'],
      ['a raw backslash in the path', '/ec\\ho'],
      ['a raw backslash dot-segment', '/a\\..\\echo'],
      ['a malformed escape %zz', '/echo%zz'],
      ['a truncated escape %4', '/echo%4'],
      ['a lone %', '/%'],
      ['a dot-segment behind %2F', '/a/..%2Fadmin'],
      ['a dot-segment behind lower-case %2f', '/a/..%2fecho'],
      ['a dot-segment behind %5c', '/a/..%5cadmin'],
      ['a dot-segment behind %5C', '/a/..%5Cecho'],
      ['encoded dots behind %2f', '/a/%2e%2e%2fecho'],
      ['a dot-segment behind a ; parameter', '/..;/admin'],
      ['a dot-segment behind a ; parameter mid-path', '/x/..;/echo'],
    ]
    for (const [label, target] of refusedTargets) {
      it(`refuses ${label} on an upgrade with 400 ${TARGET}`, async () => {
        await refused(upgradeRequest(target), 400, TARGET)
      })
      it(`refuses ${label} on a plain request with 400 ${TARGET}`, async () => {
        await refused(plainRequest(target), 400, TARGET)
      })
    }

    it('does not write the password of an absolute target with userinfo into any log line', async () => {
      await refused(upgradeRequest(`http://u:${TARGET_PASSWORD}@127.0.0.1/echo`), 400, TARGET)
      expect(JSON.stringify(ownLogs())).not.toContain(TARGET_PASSWORD)
    })

    it('routes an absolute-form target by its own path, not by a different valid Host, and forwards that path', async () => {
      const exchange = await exchangeOnce(gateway.port, upgradeRequest(`http://127.0.0.1:${gateway.port}/echo?x=1`, { host: 'other.example' }))
      expectUpgraded(exchange)
      expect(echoUrls.at(-1)).toBe('/echo?x=1')
    })

    it('routes an absolute-form target whose authority names another host by its path', async () => {
      expectUpgraded(await exchangeOnce(gateway.port, upgradeRequest('https://other.example/echo', { host: '127.0.0.1' })))
      expect(echoUrls.at(-1)).toBe('/echo')
    })

    it('does not let Host with a path route an absolute-form target for an unknown path', async () => {
      await refused(upgradeRequest('http://127.0.0.1/nothing', { host: 'x/echo?' }), 400, HOST)
    })

    it('still requires a Host header with an absolute-form target', async () => {
      await refused(upgradeRequest('http://127.0.0.1/echo', { host: null }), 400, HOST)
    })

    it('still requires a valid Host header with an absolute-form target', async () => {
      await refused(upgradeRequest('http://127.0.0.1/echo', { host: '256.0.0.1' }), 400, HOST)
    })

    it('routes an absolute-form plain request by its target', async () => {
      const exchange = await exchangeOnce(gateway.port, plainRequest(`http://127.0.0.1:${gateway.port}/plain?y=2`, { host: 'other.example' }))
      expect(exchange.response?.status).toBe(200)
      expect(dual.seen.at(-1)?.url).toBe('/plain?y=2')
    })

    /** `/echo?` and padding to exactly `length` bytes. */
    const targetOf = (length: number): string => `/echo?${'a'.repeat(length - '/echo?'.length)}`

    it('accepts a request-target of exactly 8 KiB (the default maxUriLength)', async () => {
      expectUpgraded(await exchangeOnce(gateway.port, upgradeRequest(targetOf(8192))))
      expect(echoUrls.at(-1)).toHaveLength(8192)
    })

    it('refuses a request-target of 8 KiB + 1 with 414 ERR_HANDSHAKE_URI_TOO_LONG on an upgrade', async () => {
      await refused(upgradeRequest(targetOf(8193)), 414, 'ERR_HANDSHAKE_URI_TOO_LONG')
    })

    it('refuses a request-target of 8 KiB + 1 with 414 ERR_HANDSHAKE_URI_TOO_LONG on a plain request', async () => {
      await refused(plainRequest(targetOf(8193).replace('/echo', '/plain')), 414, 'ERR_HANDSHAKE_URI_TOO_LONG')
    })

    /** An upgrade whose target is `targetLength` bytes and whose field lines (with their CRLFs) add up to `sectionSize`. */
    const atLimits = (targetLength: number, sectionSize: number): string => {
      const bare = upgradeRequest(targetOf(targetLength))
      const fieldLines = bare.slice(bare.indexOf('\r\n') + 2, bare.indexOf('\r\n\r\n') + 2)
      const padLine = 'X-Pad: \r\n'.length
      return upgradeRequest(targetOf(targetLength), { extra: [`X-Pad: ${'p'.repeat(sectionSize - fieldLines.length - padLine)}`] })
    }

    it('upgrades a handshake with both an 8 KiB target and a 16 KiB header section, each at its limit', async () => {
      expectUpgraded(await exchangeOnce(gateway.port, atLimits(8192, 16 * 1024)))
    })

    it('refuses an 8 KiB target with a header section of 16 KiB + 1 with 431 and its code', async () => {
      await refused(atLimits(8192, 16 * 1024 + 1), 431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE')
    })

    it('refuses a short target with a header section of 16 KiB + 1 with 431 and its code', async () => {
      await refused(atLimits(16, 16 * 1024 + 1), 431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE')
    })

    it('upgrades a short target with a header section of exactly 16 KiB', async () => {
      expectUpgraded(await exchangeOnce(gateway.port, atLimits(16, 16 * 1024)))
    })

    it('refuses a header section over 16 KiB with 431 ERR_HANDSHAKE_HEADERS_TOO_LARGE', async () => {
      await refused(upgradeRequest('/echo', { extra: [`X-Pad: ${'p'.repeat(16 * 1024)}`] }), 431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE')
    })

    it('refuses a plain request whose header section is over 16 KiB with 431 ERR_HANDSHAKE_HEADERS_TOO_LARGE', async () => {
      await refused(plainRequest('/plain', { extra: [`X-Pad: ${'p'.repeat(16 * 1024)}`] }), 431, 'ERR_HANDSHAKE_HEADERS_TOO_LARGE')
    })
  })

  describe('path normalisation: router, WAF and origin see the same path', () => {
    const normalised: [target: string, origin: string][] = [
      ['/%65cho', '/echo'],
      ['/%65%63%68%6F', '/echo'],
      ['/x/../echo', '/echo'],
      ['/%2e%2e/echo', '/echo'],
      ['/.%2e/echo', '/echo'],
      ['/%2E/echo', '/echo'],
      ['/./echo', '/echo'],
      ['/../echo', '/echo'],
      ['/x/y/../../echo', '/echo'],
      ['//echo', '/echo'],
      ['///echo', '/echo'],
      ['/echo?q=..%2f&x=%7e&y=%zz', '/echo?q=..%2f&x=%7e&y=%zz'],
      ['/x/../echo?next=/../admin', '/echo?next=/../admin'],
      ['/files/%c3%a9', '/files/%C3%A9'],
      ['/files/%7euser', '/files/~user'],
      ['/files/a%2fb', '/files/a%2Fb'],
      ['/files/a%2Fb', '/files/a%2Fb'],
      ['/files//a', '/files/a'],
      ['/files/a/./b/../c', '/files/a/c'],
    ]
    for (const [target, expected] of normalised) {
      it(`routes ${target} as ${expected.split('?')[0]} and the origin receives ${expected}`, async () => {
        const exchange = await exchangeOnce(gateway.port, upgradeRequest(target))
        expectUpgraded(exchange)
        expect(echoUrls.at(-1)).toBe(expected)
      })
    }

    for (const target of ['/%2Fecho', '/echo%2F', '/ECHO', '/%45cho', '/echo;', '/echo/']) {
      it(`does not route ${target} to /echo: its normalised path is another`, async () => {
        const before = originCounts()
        const exchange = await exchangeOnce(gateway.port, upgradeRequest(target))
        expect(exchange.response?.status, exchange.response?.statusLine).not.toBe(101)
        expect(originCounts()).toEqual(before)
      })
    }

    it('runs the full chain on the normalised path: /x/../chain reaches the origin as /chain, or the WAF refuses the raw traversal', async () => {
      // The baseline's path-traversal rule reads REQUEST_URI_RAW, by definition the target as sent: refusing it is
      // the safe direction. What must never happen is the origin receiving a path the router did not route.
      const before = dual.seen.length
      const exchange = await exchangeOnce(gateway.port, upgradeRequest(`/x/../chain?access_token=${token}`))
      if (exchange.response?.status === 403) {
        expectRefused(exchange, 403, ['ERR_WAF_BLOCKED'])
        expect(dual.seen.length).toBe(before)
      } else {
        expectUpgraded(exchange)
        expect(dual.seen.at(-1)).toMatchObject({ kind: 'websocket', url: '/chain' })
      }
    })

    it('runs the full chain on the normalised path: /%63hain reaches the origin as /chain', async () => {
      expectUpgraded(await exchangeOnce(gateway.port, upgradeRequest(`/%63hain?access_token=${token}`)))
      expect(dual.seen.at(-1)).toMatchObject({ kind: 'websocket', url: '/chain' })
    })

    it('forwards the normalised path on a plain route', async () => {
      const exchange = await exchangeOnce(gateway.port, plainRequest('/x/..//%70lain?q=%7e'))
      expect(exchange.response?.status).toBe(200)
      expect(dual.seen.at(-1)?.url).toBe('/plain?q=%7e')
    })
  })

  describe('framing: no body on an upgrade, one unambiguous length on any request', () => {
    const upgrades: [label: string, extra: string[], body: string][] = [
      ['Transfer-Encoding: chunked', ['Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'],
      ['Transfer-Encoding: identity', ['Transfer-Encoding: identity'], ''],
      ['Content-Length: 5', ['Content-Length: 5'], 'hello'],
      ['Content-Length: 5 with no body sent', ['Content-Length: 5'], ''],
      ['two Content-Length: 0', ['Content-Length: 0', 'Content-Length: 0'], ''],
      ['Content-Length: 0, 0', ['Content-Length: 0, 0'], ''],
      ['Content-Length: -0', ['Content-Length: -0'], ''],
    ]
    for (const [label, extra, body] of upgrades) {
      it(`refuses an upgrade with ${label} with 400 and never upgrades`, async () => {
        await refused(upgradeRequest('/echo', { extra, body }), 400, FRAMING)
      })
      it(`refuses an upgrade with ${label} on the full-chain route with 400`, async () => {
        await refused(upgradeRequest(`/chain?access_token=${token}`, { extra, body }), 400, FRAMING)
      })
    }

    it('upgrades a handshake with Content-Length: 0', async () => {
      expectUpgraded(await exchangeOnce(gateway.port, upgradeRequest('/echo', { extra: ['Content-Length: 0'] })))
    })

    const plain: [label: string, extra: string[], body: string][] = [
      ['Transfer-Encoding: gzip', ['Transfer-Encoding: gzip'], 'hello'],
      ['Transfer-Encoding: chunked, gzip', ['Transfer-Encoding: chunked, gzip'], '5\r\nhello\r\n0\r\n\r\n'],
      ['Transfer-Encoding: chunked then identity', ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], '5\r\nhello\r\n0\r\n\r\n'],
      ['Transfer-Encoding: xchunked', ['Transfer-Encoding: xchunked'], '5\r\nhello\r\n0\r\n\r\n'],
      ['Transfer-Encoding with Content-Length', ['Transfer-Encoding: chunked', 'Content-Length: 5'], '5\r\nhello\r\n0\r\n\r\n'],
      ['Content-Length with Transfer-Encoding', ['Content-Length: 5', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'],
      ['two equal Content-Length', ['Content-Length: 5', 'Content-Length: 5'], 'hello'],
      ['two differing Content-Length', ['Content-Length: 5', 'Content-Length: 6'], 'hello!'],
      ['Content-Length: 5, 6', ['Content-Length: 5, 6'], 'hello!'],
      ['Content-Length: -1', ['Content-Length: -1'], ''],
      ['Content-Length: +5', ['Content-Length: +5'], 'hello'],
      ['Content-Length: 0x5', ['Content-Length: 0x5'], 'hello'],
      ['Content-Length: 5 5', ['Content-Length: 5 5'], 'hello'],
      ['an empty Content-Length', ['Content-Length: '], ''],
    ]
    for (const route of ['/plain', '/proxied', '/nothing']) {
      for (const [label, extra, body] of plain) {
        it(`refuses a POST to ${route} with ${label} with 400 and forwards nothing`, async () => {
          await refused(plainRequest(route, { method: 'POST', extra, body }), 400, FRAMING)
        })
      }
    }

    it('forwards a POST body exactly as framed by Content-Length', async () => {
      const exchange = await exchangeOnce(gateway.port, plainRequest('/plain', { method: 'POST', extra: ['Content-Length: 5'], body: 'hello' }))
      expect(exchange.response?.status).toBe(200)
      expect(dual.seen.at(-1)?.body.toString()).toBe('hello')
    })

    it('forwards a chunked POST body whose final coding is chunked', async () => {
      const exchange = await exchangeOnce(gateway.port, plainRequest('/plain', { method: 'POST', extra: ['Transfer-Encoding: chunked'], body: '5\r\nhello\r\n0\r\n\r\n' }))
      expect(exchange.response?.status).toBe(200)
      expect(dual.seen.at(-1)?.body.toString()).toBe('hello')
    })

    it('forwards a GET body with its Content-Length, or neither: the origin never waits for bytes that do not come', async () => {
      const exchange = await exchangeOnce(gateway.port, plainRequest('/plain', { extra: ['Content-Length: 5'], body: 'hello' }))
      expect(exchange.response?.status, exchange.response?.statusLine).toBe(200)
      const seen = dual.seen.at(-1)!
      const length = rawValues(seen.rawHeaders, 'content-length')
      expect(length.length === 0 ? 0 : Number(length[0])).toBe(seen.body.length)
    })
  })

  describe('request line: HTTP/1.1 on upgrades, 1.0 or 1.1 on plain HTTP, no TRACE, TRACK or CONNECT', () => {
    for (const version of ['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/3.0']) {
      it(`refuses an upgrade over ${version} with 400 ${VERSION}`, async () => {
        await refused(upgradeRequest('/echo', { version }), 400, VERSION)
      })
    }

    for (const version of ['HTTP/2.0', 'HTTP/1.2', 'HTTP/3.0']) {
      for (const route of ['/plain', '/nothing']) {
        it(`answers a plain ${version} request to ${route} with 505 ${VERSION}`, async () => {
          await refused(plainRequest(route, { version }), 505, VERSION)
        })
      }
    }

    it('serves a plain HTTP/1.0 request', async () => {
      const exchange = await exchangeOnce(gateway.port, plainRequest('/plain', { version: 'HTTP/1.0' }))
      expect(exchange.response?.status).toBe(200)
    })

    for (const method of ['TRACE', 'TRACK', 'CONNECT']) {
      for (const route of ['/echo', '/plain', '/proxied', '/chain', '/nothing']) {
        it(`answers a plain ${method} ${route} with 501 ${NOT_IMPLEMENTED}, never 500`, async () => {
          await refused(plainRequest(route, { method }), 501, NOT_IMPLEMENTED)
        })
        it(`answers ${method} ${route} with upgrade headers with 501 ${NOT_IMPLEMENTED}, never 500`, async () => {
          await refused(upgradeRequest(route, { method }), 501, NOT_IMPLEMENTED)
        })
      }
    }

    it(`answers CONNECT in authority-form with 501 ${NOT_IMPLEMENTED}`, async () => {
      await refused(plainRequest('127.0.0.1:80', { method: 'CONNECT', host: '127.0.0.1:80' }), 501, NOT_IMPLEMENTED)
    })
  })

  describe('Connection: only header names, and hop-by-hop removal applies to what the client sent', () => {
    for (const value of ['upgrade, x y', 'upgrade, @', 'upgrade, x:y', 'upgrade, "x"', 'upgrade, x/y']) {
      for (const route of ['/echo', '/normalized', '/chain', '/identity']) {
        it(`refuses Connection: ${value} on ${route} with 400 ERR_HANDSHAKE_CONNECTION, never 500`, async () => {
          await refused(upgradeRequest(route === '/chain' ? `/chain?access_token=${token}` : route, { connection: value }), 400, 'ERR_HANDSHAKE_CONNECTION')
        })
      }
      it(`refuses Connection: ${value.replace('upgrade', 'close')} on a plain route with 400 ERR_HANDSHAKE_CONNECTION`, async () => {
        await refused(plainRequest('/plain', { connection: value.replace('upgrade', 'close') }), 400, 'ERR_HANDSHAKE_CONNECTION')
      })
    }

    it('still upgrades with empty list elements in Connection (RFC 9110 §5.6.1)', async () => {
      expectUpgraded(await exchangeOnce(gateway.port, upgradeRequest('/echo', { connection: ' , upgrade,, keep-alive' })))
    })

    it('sends the origin the identity header the chain set, though the client named it in Connection and sent its own', async () => {
      const exchange = await exchangeOnce(gateway.port, upgradeRequest('/identity', { connection: 'upgrade, x-user', extra: ['X-User: mallory'] }))
      expectUpgraded(exchange)
      const seen = dual.seen.at(-1)!
      expect(seen.kind).toBe('websocket')
      expect(rawValues(seen.rawHeaders, 'x-user')).toEqual(['alice'])
    })

    it('sends a plain origin the identity header the chain set, though the client named it in Connection', async () => {
      const exchange = await exchangeOnce(gateway.port, plainRequest('/identity-http', { connection: 'x-user', extra: ['X-User: mallory'] }))
      expect(exchange.response?.status).toBe(200)
      expect(rawValues(dual.seen.at(-1)!.rawHeaders, 'x-user')).toEqual(['alice'])
    })

    it('removes a header the client named in Connection before it reaches the origin', async () => {
      const exchange = await exchangeOnce(gateway.port, upgradeRequest('/identity', { connection: 'upgrade, x-drop', extra: ['X-Drop: 1'] }))
      expectUpgraded(exchange)
      expect(rawValues(dual.seen.at(-1)!.rawHeaders, 'x-drop')).toEqual([])
    })
  })

  describe('header values: only SP and HTAB are optional whitespace (RFC 9110 §5.6.3)', () => {
    // JavaScript's trim() and Number() also strip U+00A0 (0xA0, an obs-text byte) and friends: a value the gateway
    // reads as valid after such trimming reaches the origin as sent, and the two disagree.
    for (const [label, extra, status, code] of [
      ['a no-break space before the Sec-WebSocket-Key', `Sec-WebSocket-Key:\u00a0${TEST_KEY}`, 400, 'ERR_HANDSHAKE_INVALID_KEY'],
      ['a no-break space after the Sec-WebSocket-Key', `Sec-WebSocket-Key: ${TEST_KEY}\u00a0`, 400, 'ERR_HANDSHAKE_INVALID_KEY'],
      ['a no-break space before the Sec-WebSocket-Version', 'Sec-WebSocket-Version:\u00a013', 426, 'ERR_HANDSHAKE_VERSION'],
      ['a vertical tab after the Sec-WebSocket-Version', 'Sec-WebSocket-Version: 13\u000b', 426, 'ERR_HANDSHAKE_VERSION'],
    ] as const) {
      it(`refuses ${label} with ${status} ${code}, as the origin would`, async () => {
        const name = extra.slice(0, extra.indexOf(':'))
        const request = upgradeRequest('/echo').replace(new RegExp(`${name}: [^\r]*\r\n`), `${extra}\r\n`)
        // A vertical tab is a control byte Node's parser may refuse first.
        await refused(request, extra.includes('\u000b') ? 400 : status, extra.includes('\u000b') ? [MALFORMED, code] : code)
      })
    }
  })

  describe('bytes pipelined after a handshake are never read as a second request', () => {
    const second = plainRequest('/plain', { extra: ['X-Pipelined: yes'] })

    it('hands a request pipelined after an accepted handshake to the origin as WebSocket bytes after the 101: no route runs it, no second answer', async () => {
      const before = originCounts()
      const socket = net.connect(gateway.port, '127.0.0.1')
      socket.on('error', () => {})
      let received = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])))
      try {
        await once(socket, 'connect')
        socket.write(upgradeRequest('/echo') + second, 'latin1')
        // The origin reads the pipelined bytes as a frame, finds it is none (unmasked, reserved opcode) and closes
        // with 1002: the close frame is the first thing after the 101, and it is WebSocket, not HTTP.
        const headEnd = (): number => received.indexOf('\r\n\r\n')
        while (headEnd() < 0 || received.length < headEnd() + 4 + 4) await once(socket, 'data')
        const head = received.subarray(0, headEnd()).toString('latin1')
        const after = received.subarray(headEnd() + 4)
        expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
        expect(after[0], 'a close frame from the origin').toBe(0x88)
        expect(after.readUInt16BE(2), 'close code 1002 (protocol error)').toBe(1002)
        expect(after.toString('latin1')).not.toContain('HTTP/1.1')
      } finally {
        socket.destroy()
      }
      // One WebSocket connection at the echo origin; /plain's origin never heard of the request behind it.
      expect(originCounts()).toEqual({ echo: before.echo + 1, dual: before.dual })
      expect(echoUrls.at(-1)).toBe('/echo')
    })

    it('refuses a handshake with a pipelined request behind it once, closes, and runs nothing of the request behind', async () => {
      const exchange = await refused(upgradeRequest('/echo', { extra: ['Sec-WebSocket-Version: 8'] }).replace('Sec-WebSocket-Version: 13\r\n', '') + second, 426, 'ERR_HANDSHAKE_VERSION')
      expect(exchange.extra.length).toBe(0)
    })

    it('refuses a handshake jwtAuth turns away with a pipelined request behind it once, and nothing reaches the origin', async () => {
      await refused(upgradeRequest('/chain') + second, 401, 'ERR_JWT_MISSING')
    })
  })

  describe('credentials never reach a log line', () => {
    it('does not log an access_token from the query of a refused request', async () => {
      await refused(upgradeRequest(`/chain?access_token=${QUERY_SECRET}`, { host: 'evil/x' }), 400, HOST)
      expect(JSON.stringify(ownLogs())).not.toContain(QUERY_SECRET)
    })

    it('does not log an access_token from the query of a request jwtAuth refuses', async () => {
      const exchange = await exchangeOnce(gateway.port, upgradeRequest(`/chain?access_token=${QUERY_SECRET}`))
      expect(exchange.response?.status).toBe(401)
      expect(ownLogs().length).toBeGreaterThan(0)
      expect(JSON.stringify(ownLogs())).not.toContain(QUERY_SECRET)
    })

    it('does not log a valid access_token from the query of an accepted handshake', async () => {
      expectUpgraded(await exchangeOnce(gateway.port, upgradeRequest(`/chain?access_token=${token}`)))
      expect(JSON.stringify(ownLogs())).not.toContain(token)
    })

    it('does not log an access_token from the query of a request with a malformed target', async () => {
      await refused(upgradeRequest(`/echo%zz?access_token=${QUERY_SECRET}`), 400, TARGET)
      expect(JSON.stringify(ownLogs())).not.toContain(QUERY_SECRET)
    })
  })

  describe("parser-level garbage gets 400 ERR_HANDSHAKE_MALFORMED from Node's parser", () => {
    const valid = upgradeRequest('/echo')
    const garbage: [label: string, request: string][] = [
      ['an obs-folded header', upgradeRequest('/echo', { extra: ['X-Folded: a', ' b'] })],
      ['an obs-folded Host', valid.replace('Host: 127.0.0.1\r\n', 'Host: 127.0.0.1\r\n\tevil\r\n')],
      ['a NUL in a header value', upgradeRequest('/echo', { extra: ['X-A: a\0b'] })],
      ['a NUL in a header name', upgradeRequest('/echo', { extra: ['X-\0A: b'] })],
      ['a bare CR in a header value', upgradeRequest('/echo', { extra: ['X-A: a\rb'] })],
      ['a bare LF between header lines', valid.replace('Host: 127.0.0.1\r\n', 'Host: 127.0.0.1\n')],
      ['a bare CR ending the request line', valid.replace(' HTTP/1.1\r\n', ' HTTP/1.1\r')],
      ['whitespace before a header colon', valid.replace('Host: ', 'Host : ')],
      ['a space in a header name', upgradeRequest('/echo', { extra: ['Bad Name: x'] })],
      ['a non-ASCII header name', upgradeRequest('/echo', { extra: ['X-\u00e9: x'] })],
      ['a lower-case method', valid.replace('GET /echo', 'get /echo')],
      ['a malformed version', valid.replace(' HTTP/1.1\r\n', ' HTTP/1.1x\r\n')],
      ['a header line without a colon', upgradeRequest('/echo', { extra: ['NoColonHere'] })],
      ['a line of binary noise', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n'],
    ]
    for (const [label, request] of garbage) {
      it(`refuses ${label} with 400 ${MALFORMED}`, async () => {
        await refused(request, 400, MALFORMED)
      })
      it(`refuses ${label} on a plain request with 400 ${MALFORMED}`, async () => {
        await refused(request.replace(/Upgrade: websocket\r\n/i, ''), 400, MALFORMED)
      })
    }
  })

  // A NUL in the target is both parser-level garbage and a bad target: either code names it.
  it(`refuses a NUL in the target with 400 (${MALFORMED} or ${TARGET})`, async () => {
    await refused(upgradeRequest('/ec\0ho'), 400, [MALFORMED, TARGET])
    await refused(plainRequest('/ec\0ho'), 400, [MALFORMED, TARGET])
  })

  // RFC 9112 §3 lets a recipient split the request-line on any run of whitespace, so `GET  /echo` is not listed
  // above; a request-line without a version reads as HTTP/0.9, which the version rule answers.
  it(`refuses an upgrade whose request-line has no version with 400 (${MALFORMED} or ${VERSION})`, async () => {
    await refused(upgradeRequest('/echo').replace(' HTTP/1.1\r\n', '\r\n'), 400, [MALFORMED, VERSION])
  })

  it(`refuses a plain request whose request-line has no version with 400 ${MALFORMED} or 505 ${VERSION}`, async () => {
    const exchange = await exchangeOnce(gateway.port, plainRequest('/plain').replace(' HTTP/1.1\r\n', '\r\n'))
    const status = exchange.response?.status
    expect([400, 505]).toContain(status)
    expectRefused(exchange, status!, status === 400 ? [MALFORMED] : [VERSION])
  })

  describe('sockets', () => {
    it('holds no socket after a burst of refusals and upgrades from clients that then leave', async () => {
      const requests = [
        upgradeRequest('/echo', { host: 'evil/echo?' }),
        upgradeRequest('*'),
        plainRequest('/plain', { method: 'TRACE' }),
        upgradeRequest('/echo'),
        upgradeRequest('/echo', { extra: ['Content-Length: 5'], body: 'hello' }),
        plainRequest('/plain', { host: '256.0.0.1' }),
      ]
      const exchanges = await Promise.all(Array.from({ length: 50 }, (_, i) => exchangeOnce(gateway.port, requests[i % requests.length]!)))
      for (const [i, exchange] of exchanges.entries()) {
        expect(exchange.response?.status === 101, `request ${i % requests.length}`).toBe(i % requests.length === 3)
      }
      await expectNoOpenSockets(gateway)
    })
  })
})
