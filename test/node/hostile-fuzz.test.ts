import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { fuzzCase, type FuzzCase } from '../helpers/fuzz.ts'
import { expectNoOpenSockets, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { exchangeOnce, head, pool, type Exchange } from '../helpers/hostile-client.ts'
import { startWsOrigin, type WsOrigin } from '../helpers/origins.ts'
import { TEST_KEY } from '../helpers/raw-client.ts'
import { echoOnce } from '../helpers/resources.ts'
import { judgeHandshake, judgeHost, judgeTarget, type Verdict } from '../helpers/strict-request.ts'

/**
 * Issue 9, a seeded mutation fuzzer over valid handshakes: bytes flipped,
 * inserted and deleted; headers duplicated, reordered and replaced; CR, LF,
 * NUL and obs-fold injected; fields oversized. The gateway never answers
 * 5xx to client input, never upgrades what the strict oracle
 * (test/helpers/strict-request.ts) refuses, upgrades what it accepts,
 * answers once per connection with a code, keeps serving after each batch
 * and leaks no socket.
 *
 * Replay: WSGATE_FUZZ_SEED=<seed> (and WSGATE_FUZZ_CASES=<count>, or
 * WSGATE_FUZZ_ONLY=<index> for one case); every failure prints both.
 */

const SEED = Number(process.env.WSGATE_FUZZ_SEED ?? 0x5eed_0009)
const CASES = Number(process.env.WSGATE_FUZZ_CASES ?? 2_000)
const ONLY = process.env.WSGATE_FUZZ_ONLY === undefined ? undefined : Number(process.env.WSGATE_FUZZ_ONLY)
const BATCH = 250
const CONCURRENCY = 24
/** 5xx answers the specification gives to client input, with their codes; any other 5xx is a failure. */
const SPECIFIED_5XX: Record<number, string> = { 501: 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', 505: 'ERR_HANDSHAKE_HTTP_VERSION' }

describe(`seeded handshake fuzzer (seed ${SEED}, ${ONLY === undefined ? `${CASES} cases` : `case ${ONLY}`})`, () => {
  let origin: WsOrigin
  let gateway: TestGateway

  beforeAll(async () => {
    origin = await startWsOrigin()
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/echo', websocket(origin.url))
    // The app's own 404 carries a code too, so a codeless answer can only come from the gateway.
    app.notFound((c) => c.text('no route for this path\n', 404, { 'x-wsgate-error': 'ERR_TEST_NO_ROUTE' }))
    gateway = await startGateway(app, { maxConnections: 10_000 })
  })

  afterAll(async () => {
    try {
      await expectNoOpenSockets(gateway)
    } finally {
      await gateway?.close()
      await origin?.close()
    }
  })

  /** Valid handshakes the mutations start from. */
  function templates(): string[] {
    const base = ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${TEST_KEY}`, 'Sec-WebSocket-Version: 13']
    return [
      head('GET /echo HTTP/1.1', 'Host: 127.0.0.1', ...base),
      head(
        'GET /echo?room=1&x=%7e HTTP/1.1',
        'Host: chat.example.com:8080',
        'User-Agent: Mozilla/5.0 (X11; Linux x86_64)',
        'Origin: https://app.example.com',
        'Cookie: theme=dark; sid=4f2a9c',
        'Accept-Language: en-GB,en;q=0.8',
        ...base,
      ),
      head(`GET http://127.0.0.1:${gateway.port}/echo?x=1 HTTP/1.1`, 'Host: example.com', ...base),
      head(
        'GET /x/../echo HTTP/1.1',
        `sec-websocket-key: ${TEST_KEY}`,
        'connection: keep-alive, Upgrade',
        'upgrade: WebSocket',
        'host: [::1]:8080',
        'sec-websocket-version: 13',
      ),
      head('GET //%65cho HTTP/1.1', 'Host: localhost', ...base, 'Pragma: no-cache', 'Cache-Control: no-cache'),
    ]
  }

  /** Every way `exchange` breaks the rules for a case the oracle judged `verdict`. */
  function problemsOf(exchange: Exchange, verdict: Verdict): string[] {
    const problems: string[] = []
    const { response } = exchange
    if (response === undefined) return ['the gateway closed without an answer']
    const { status } = response
    if (status === 101) {
      if (verdict.kind === 'refuse') problems.push(`upgraded a request the oracle refuses (${verdict.reason})`)
      if (exchange.interim.length > 0) problems.push('sent an interim response before the 101')
      return problems
    }
    if (verdict.kind === 'accept') problems.push(`refused a valid handshake for ${verdict.path}: ${response.statusLine} ${response.headers['x-wsgate-error'] ?? ''} ${JSON.stringify(exchange.body)}`)
    if (status >= 500 && SPECIFIED_5XX[status] !== response.headers['x-wsgate-error']) problems.push(`answered ${response.statusLine} (${response.headers['x-wsgate-error'] ?? 'no code'})`)
    if (status < 400) problems.push(`answered ${response.statusLine} to a handshake`)
    if (!response.headers['x-wsgate-error']) problems.push(`${response.statusLine} without an x-wsgate-error code`)
    if (exchange.extra.length > 0) problems.push(`a second answer on the connection: ${JSON.stringify(exchange.extra.toString('latin1').slice(0, 120))}`)
    return problems
  }

  /** Runs cases, returns a failure message per broken case (with what replays it). */
  async function run(cases: FuzzCase[]): Promise<string[]> {
    const failures: string[] = []
    await pool(cases, CONCURRENCY, async (test) => {
      const verdict = judgeHandshake(test.bytes, (path) => path === '/echo')
      // A head with no blank line waits for more: the client half-closes rather than wait out the gateway's timer.
      const exchange = await exchangeOnce(gateway.port, test.bytes, { endAfterWrite: !test.bytes.includes('\r\n\r\n') })
      const problems = problemsOf(exchange, verdict)
      // Stalled after a valid head: the gateway may have taken the half-close for a client that left.
      if (exchange.stalled && verdict.kind === 'accept') problems.length = 0
      if (problems.length > 0) {
        failures.push(
          `WSGATE_FUZZ_SEED=${test.seed} WSGATE_FUZZ_ONLY=${test.index} (${test.mutations.join('; ')}; oracle: ${verdict.kind}${'reason' in verdict ? ` ${verdict.reason}` : ''})\n` +
            `  sent ${JSON.stringify(test.bytes.toString('latin1').slice(0, 400))}\n` +
            `  got ${JSON.stringify(exchange.response?.raw.toString('latin1').slice(0, 200) ?? '')}\n  ${problems.join('\n  ')}`,
        )
      }
    })
    return failures
  }

  it('answers every mutated handshake once, with a code, never 5xx, never a 101 the oracle refuses, and keeps serving after each batch', async () => {
    const all = templates()
    const indexes = ONLY === undefined ? Array.from({ length: CASES }, (_, i) => i) : [ONLY]
    const failures: string[] = []
    const verdicts = { refuse: 0, accept: 0, either: 0 }
    for (let start = 0; start < indexes.length; start += BATCH) {
      const cases = indexes.slice(start, start + BATCH).map((index) => fuzzCase(SEED, index, all))
      for (const test of cases) verdicts[judgeHandshake(test.bytes, (path) => path === '/echo').kind]++
      failures.push(...(await run(cases)))
      // After each batch a normal client still gets its 101 and an echo.
      await echoOnce(`${gateway.wsUrl}/echo`, `after batch ${start / BATCH}`).catch((error: unknown) => {
        failures.push(`WSGATE_FUZZ_SEED=${SEED}: a normal client failed after the batch starting at case ${start}: ${String(error)}`)
      })
    }
    // Not vacuous: the mutations produce both requests to refuse and requests to upgrade.
    if (ONLY === undefined) expect(verdicts.refuse > CASES / 4 && verdicts.accept > CASES / 50, `oracle verdicts ${JSON.stringify(verdicts)}`).toBe(true)
    expect(failures, `${failures.length} failing cases (seed ${SEED}):\n${failures.slice(0, 30).join('\n')}`).toEqual([])
    await expectNoOpenSockets(gateway)
  })
})

describe('the strict oracle the fuzzer judges by', () => {
  it('refuses the hosts issue 9 names and accepts ordinary ones', () => {
    for (const host of ['', 'evil/echo?', 'a@b', 'a?b', 'a#b', 'a\\b', 'a b', '%65vil', '[::1', '::1]', '[fe80::1%25eth0]', '[v1.fe]', '256.0.0.1', '127.1', '0x7f.0.0.1', '2130706433', '127.0.0.1:65536', '127.0.0.1:8o', 'h\u00e9']) {
      expect(judgeHost(host), host).toBe('invalid')
    }
    for (const host of ['example.com', 'example.com:8080', '127.0.0.1', '[::1]', '[::1]:443', '[2001:db8::7]', 'a-b_c~d', "sub!$&'()*+,;="]) {
      expect(judgeHost(host), host).toBe('valid')
    }
  })

  it('normalises paths as issue 9 specifies and refuses hidden dot-segments', () => {
    const path = (target: string): string | undefined => {
      const verdict = judgeTarget(target)
      return verdict.kind === 'ok' ? verdict.path : undefined
    }
    expect(path('/%65cho')).toBe('/echo')
    expect(path('/x/../echo')).toBe('/echo')
    expect(path('/%2e%2e/echo')).toBe('/echo')
    expect(path('//echo')).toBe('/echo')
    expect(path('/a%2fb')).toBe('/a%2Fb')
    expect(path('http://h:1/echo?x')).toBe('/echo')
    for (const target of ['*', 'h:80', 'ws://h/echo', 'http://u:p@h/', '/echo#f', '/ec\\ho', '/%zz', '/%4', '/a/..%2Fadmin', '/a/..%5cadmin', '/..;/admin']) {
      expect(judgeTarget(target).kind, target).toBe('refuse')
    }
  })

  it('accepts a plain valid handshake and refuses one with a bare LF, an obs-fold or a body', () => {
    const valid = head('GET /echo HTTP/1.1', 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${TEST_KEY}`, 'Sec-WebSocket-Version: 13')
    const routes = (path: string): boolean => path === '/echo'
    expect(judgeHandshake(Buffer.from(valid), routes)).toEqual({ kind: 'accept', path: '/echo' })
    expect(judgeHandshake(Buffer.from(valid.replace('Host: 127.0.0.1\r\n', 'Host: 127.0.0.1\n')), routes).kind).toBe('refuse')
    expect(judgeHandshake(Buffer.from(valid.replace('Host: 127.0.0.1\r\n', 'Host: 127.0.0.1\r\n x\r\n')), routes).kind).toBe('refuse')
    expect(judgeHandshake(Buffer.from(valid.replace('\r\n\r\n', '\r\nContent-Length: 2\r\n\r\nhi')), routes).kind).toBe('refuse')
  })
})
