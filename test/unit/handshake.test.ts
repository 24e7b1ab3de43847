import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.ts'
import { acceptFor, validateClientHandshake, validateOriginUpgrade, type ClientHandshake } from '../../src/handshake.ts'
import { MAX_TIMER } from '../../src/limits.ts'
import { originUrl, websocket, type WebSocketOptions } from '../../src/websocket.ts'
import type { GatewayBindings } from '../../src/runtime.ts'
import { expectRejection } from '../helpers/rejection.ts'

/** RFC 6455 §1.3's sample nonce and the accept value the RFC derives from it. */
const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='

/** The headers of a valid client handshake; `overrides` replace or (with null) remove one. */
function clientHeaders(overrides: Record<string, string | null> = {}): Headers {
  const merged: Record<string, string | null> = {
    host: 'gateway.test',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': SAMPLE_KEY,
    'sec-websocket-version': '13',
    ...overrides,
  }
  const headers = new Headers()
  for (const [name, value] of Object.entries(merged)) if (value !== null) headers.set(name, value)
  return headers
}

/** Runs `action` and returns the GatewayError it throws; fails the test if it throws nothing or something else. */
async function gatewayErrorOf(action: () => unknown): Promise<GatewayError> {
  let thrown: unknown
  try {
    await action()
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(GatewayError)
  return thrown as GatewayError
}

/** Asserts an error's status, code and reason, and that its response says the same in plain text. */
async function expectGatewayError(error: GatewayError, status: number, code: string, reason: RegExp): Promise<Response> {
  expect(error.status).toBe(status)
  expect(error.code).toBe(code)
  expect(error.message).toMatch(reason)
  const response = error.getResponse()
  await expectRejection(response.clone(), status, code, reason)
  return response
}

describe('validateClientHandshake', () => {
  const validate = (overrides: Record<string, string | null> = {}, method = 'GET', httpVersion = '1.1'): ClientHandshake =>
    validateClientHandshake({ method, httpVersion, headers: clientHeaders(overrides) })

  it('accepts a valid handshake and returns the key, the offered subprotocols and the extension names', () => {
    const client = validate({
      'sec-websocket-protocol': 'chat.v2, Chat.V1',
      'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits, X-Custom;a=1',
    })
    expect(client).toEqual({
      key: SAMPLE_KEY,
      protocols: ['chat.v2', 'Chat.V1'],
      extensions: ['permessage-deflate', 'x-custom'],
    })
  })

  it('returns empty subprotocol and extension lists when the client offers none', () => {
    expect(validate()).toEqual({ key: SAMPLE_KEY, protocols: [], extensions: [] })
  })

  for (const method of ['POST', 'PUT', 'HEAD', 'OPTIONS']) {
    it(`rejects a ${method} upgrade with 405, ERR_HANDSHAKE_METHOD and Allow: GET`, async () => {
      const error = await gatewayErrorOf(() => validate({}, method))
      const response = await expectGatewayError(error, 405, 'ERR_HANDSHAKE_METHOD', new RegExp(`GET, not ${method}`))
      expect(response.headers.get('allow')).toBe('GET')
    })
  }

  for (const version of ['1.0', '0.9']) {
    it(`rejects HTTP/${version} with 400 and ERR_HANDSHAKE_HTTP_VERSION`, async () => {
      const error = await gatewayErrorOf(() => validate({}, 'GET', version))
      await expectGatewayError(error, 400, 'ERR_HANDSHAKE_HTTP_VERSION', new RegExp(`HTTP/1\\.1, got HTTP/${version.replace('.', '\\.')}`))
    })
  }

  it('rejects "HTTP/2.0" on the HTTP/1.1 wire with 400 and ERR_HANDSHAKE_HTTP_VERSION: an upgrade is defined for 1.1 only', async () => {
    const error = await gatewayErrorOf(() => validate({}, 'GET', '2.0'))
    await expectGatewayError(error, 400, 'ERR_HANDSHAKE_HTTP_VERSION', /HTTP\/1\.1, got HTTP\/2\.0/)
  })

  it('rejects a request without Host with 400 and ERR_HANDSHAKE_HOST', async () => {
    const error = await gatewayErrorOf(() => validate({ host: null }))
    await expectGatewayError(error, 400, 'ERR_HANDSHAKE_HOST', /Host/)
  })

  for (const [label, upgrade] of [
    ['a missing Upgrade header', null],
    ['Upgrade: h2c', 'h2c'],
    ['Upgrade: websocketx', 'websocketx'],
    ['an empty Upgrade header', ''],
  ] as const) {
    it(`rejects ${label} with 400 and ERR_HANDSHAKE_UPGRADE`, async () => {
      const error = await gatewayErrorOf(() => validate({ upgrade }))
      await expectGatewayError(error, 400, 'ERR_HANDSHAKE_UPGRADE', /Upgrade header/)
    })
  }

  for (const [label, connection] of [
    ['a missing Connection header', null],
    ['Connection: keep-alive', 'keep-alive'],
    ['Connection: close', 'close'],
    ['Connection: upgraded', 'upgraded'],
  ] as const) {
    it(`rejects ${label} with 400 and ERR_HANDSHAKE_CONNECTION`, async () => {
      const error = await gatewayErrorOf(() => validate({ connection }))
      await expectGatewayError(error, 400, 'ERR_HANDSHAKE_CONNECTION', /Connection header/)
    })
  }

  for (const [upgrade, connection] of [
    ['WebSocket', 'Upgrade'],
    ['WEBSOCKET', 'UPGRADE'],
    ['websocket', 'keep-alive, Upgrade'],
    ['websocket', 'Upgrade , keep-alive'],
    ['h2c, websocket', 'upgrade'],
  ] as const) {
    it(`accepts Upgrade: ${upgrade} with Connection: ${connection} (tokens compare case-insensitively, in lists)`, () => {
      expect(validate({ upgrade, connection }).key).toBe(SAMPLE_KEY)
    })
  }

  for (const [label, key] of [
    ['a missing key', null],
    ['a key that is not base64', 'this is not base64!!!!=='],
    ['a key of 15 bytes', Buffer.alloc(15).toString('base64')],
    ['a key of 17 bytes', Buffer.alloc(17).toString('base64')],
    ['a repeated key (joined with ", ")', `${SAMPLE_KEY}, ${SAMPLE_KEY}`],
  ] as const) {
    it(`rejects ${label} with 400 and ERR_HANDSHAKE_INVALID_KEY`, async () => {
      const error = await gatewayErrorOf(() => validate({ 'sec-websocket-key': key }))
      await expectGatewayError(error, 400, 'ERR_HANDSHAKE_INVALID_KEY', /Sec-WebSocket-Key/)
    })
  }

  it('accepts a key surrounded by whitespace and returns it trimmed', () => {
    expect(validate({ 'sec-websocket-key': `  ${SAMPLE_KEY} ` }).key).toBe(SAMPLE_KEY)
  })

  for (const [label, version] of [
    ['Sec-WebSocket-Version: 8', '8'],
    ['Sec-WebSocket-Version: 14', '14'],
    ['a missing Sec-WebSocket-Version', null],
  ] as const) {
    it(`rejects ${label} with 426, ERR_HANDSHAKE_VERSION and Sec-WebSocket-Version: 13`, async () => {
      const error = await gatewayErrorOf(() => validate({ 'sec-websocket-version': version }))
      const response = await expectGatewayError(error, 426, 'ERR_HANDSHAKE_VERSION', /Sec-WebSocket-Version: expected 13/)
      expect(response.headers.get('sec-websocket-version')).toBe('13')
    })
  }
})

describe('validateOriginUpgrade', () => {
  const client: ClientHandshake = { key: SAMPLE_KEY, protocols: ['chat.v2', 'chat.v1'], extensions: ['permessage-deflate'] }
  const bare: ClientHandshake = { key: SAMPLE_KEY, protocols: [], extensions: [] }

  /** The headers of a correct 101 for SAMPLE_KEY; `overrides` replace or (with null) remove one. */
  function originHeaders(overrides: Record<string, string | null> = {}): Headers {
    const merged: Record<string, string | null> = {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-accept': SAMPLE_ACCEPT,
      ...overrides,
    }
    const headers = new Headers()
    for (const [name, value] of Object.entries(merged)) if (value !== null) headers.set(name, value)
    return headers
  }

  const expectBadHandshake = async (handshake: ClientHandshake, headers: Headers, reason: RegExp): Promise<void> => {
    const error = await gatewayErrorOf(() => validateOriginUpgrade(handshake, headers))
    await expectGatewayError(error, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', reason)
  }

  it('accepts a correct 101 without subprotocol or extensions', async () => {
    await expect(validateOriginUpgrade(client, originHeaders())).resolves.toBeUndefined()
  })

  it('accepts a 101 whose Upgrade and Connection differ in case and carry extra tokens', async () => {
    await expect(
      validateOriginUpgrade(client, originHeaders({ upgrade: 'WebSocket', connection: 'keep-alive, UPGRADE' })),
    ).resolves.toBeUndefined()
  })

  it('accepts a 101 that chooses one of the offered subprotocols', async () => {
    await expect(validateOriginUpgrade(client, originHeaders({ 'sec-websocket-protocol': 'chat.v1' }))).resolves.toBeUndefined()
  })

  it('accepts a 101 that enables an offered extension with parameters', async () => {
    await expect(
      validateOriginUpgrade(client, originHeaders({ 'sec-websocket-extensions': 'permessage-deflate; server_no_context_takeover' })),
    ).resolves.toBeUndefined()
  })

  it('rejects a wrong Sec-WebSocket-Accept with 502 and ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    // The accept value of another key: well-formed, but not derived from this client's key.
    const otherAccept = await acceptFor(Buffer.alloc(16, 7).toString('base64'))
    await expectBadHandshake(client, originHeaders({ 'sec-websocket-accept': otherAccept }), /Sec-WebSocket-Accept/)
  })

  it('rejects a missing Sec-WebSocket-Accept with 502 and ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    await expectBadHandshake(client, originHeaders({ 'sec-websocket-accept': null }), /Sec-WebSocket-Accept/)
  })

  it('rejects a 101 without Upgrade: websocket with 502 and ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    await expectBadHandshake(client, originHeaders({ upgrade: 'h2c' }), /Upgrade/)
  })

  it('rejects a 101 without Connection: upgrade with 502 and ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    await expectBadHandshake(client, originHeaders({ connection: 'keep-alive' }), /Connection/)
  })

  it('rejects a subprotocol the client did not offer with 502 and ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    await expectBadHandshake(client, originHeaders({ 'sec-websocket-protocol': 'chat.v3' }), /subprotocol "chat.v3" was not offered/)
  })

  it('rejects a subprotocol when the client offered none with 502 and ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    await expectBadHandshake(bare, originHeaders({ 'sec-websocket-protocol': 'chat.v1' }), /subprotocol "chat.v1" was not offered/)
  })

  it('rejects an extension the client did not offer with 502 and ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    await expectBadHandshake(client, originHeaders({ 'sec-websocket-extensions': 'x-webkit-deflate-frame' }), /extension "x-webkit-deflate-frame" was not offered/)
  })

  it('rejects any extension when the client offered none with 502 and ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    await expectBadHandshake(bare, originHeaders({ 'sec-websocket-extensions': 'permessage-deflate' }), /extension "permessage-deflate" was not offered/)
  })
})

describe('acceptFor', () => {
  it('derives the RFC 6455 §1.3 sample accept value from the sample key', async () => {
    expect(await acceptFor(SAMPLE_KEY)).toBe(SAMPLE_ACCEPT)
  })

  it('derives different values for different keys', async () => {
    const other = Buffer.alloc(16, 1).toString('base64')
    expect(await acceptFor(other)).not.toBe(SAMPLE_ACCEPT)
    expect(await acceptFor(other)).toMatch(/^[A-Za-z0-9+/]{27}=$/)
  })
})

describe('originUrl', () => {
  const url = (base: string, incoming: string, options: Pick<WebSocketOptions, 'appendPath' | 'appendQuery'> = {}): string =>
    originUrl(new URL(base), new URL(incoming, 'http://gateway.test'), options).href

  it("appends the client's path to the target's path", () => {
    expect(url('http://o.test:9001/base', '/chat')).toBe('http://o.test:9001/base/chat')
  })

  it("does not double the slash when the target's path ends with one", () => {
    expect(url('http://o.test:9001/base/', '/chat')).toBe('http://o.test:9001/base/chat')
  })

  it('uses the client path alone when the target has no path', () => {
    expect(url('http://o.test:9001', '/chat/room-1')).toBe('http://o.test:9001/chat/room-1')
  })

  it("keeps the target's path when the client asks for /", () => {
    expect(url('http://o.test:9001/base', '/')).toBe('http://o.test:9001/base')
  })

  it("keeps the target's path when appendPath is false", () => {
    expect(url('http://o.test:9001/base', '/chat', { appendPath: false })).toBe('http://o.test:9001/base')
  })

  it("appends the client's query string", () => {
    expect(url('http://o.test:9001/', '/chat?room=1')).toBe('http://o.test:9001/chat?room=1')
  })

  it("joins the client's query to the target's with &", () => {
    expect(url('http://o.test:9001/base?tenant=a', '/chat?room=1&x=y')).toBe('http://o.test:9001/base/chat?tenant=a&room=1&x=y')
  })

  it("drops the client's query when appendQuery is false", () => {
    expect(url('http://o.test:9001/base?tenant=a', '/chat?room=1', { appendQuery: false })).toBe('http://o.test:9001/base/chat?tenant=a')
  })

  it('builds what copying the target and setting its pathname and search builds, for awkward paths and queries', () => {
    // The construction originUrl() replaced (two parses per handshake), as the reference.
    const reference = (base: URL, incoming: URL): string => {
      const copy = new URL(base)
      if (incoming.pathname !== '/') copy.pathname = base.pathname.replace(/\/$/, '') + incoming.pathname
      if (incoming.search) copy.search = base.search ? `${base.search}&${incoming.search.slice(1)}` : incoming.search
      return copy.href
    }
    const bases = ['http://o.test:9001', 'http://o.test/base/', 'https://[::1]:8443/a%20b?x=1', 'http://o.test/?', 'http://o.test/p;q?t=%2F']
    const targets = ['/chat', '//evil.test/x', '/a/%2e%2e/b', '/%3F%23?q=%23&r=%3F', '/caf%C3%A9?\u00e9=1', '/a?', '/x?%zz&&', '/%00/?a=b#frag', '/ /\t']
    for (const base of bases) {
      for (const target of targets) {
        const incoming = new URL(target, 'http://gateway.test')
        expect(originUrl(new URL(base), incoming, {}).href, `${base} + ${target}`).toBe(reference(new URL(base), incoming))
      }
    }
  })

  it('does not change the base URL it is given', () => {
    const base = new URL('http://o.test:9001/base?tenant=a')
    originUrl(base, new URL('http://gateway.test/chat?room=1'), {})
    expect(base.href).toBe('http://o.test:9001/base?tenant=a')
  })
})

describe('websocket() options', () => {
  it('accepts ws, wss, http and https targets as strings or URLs', () => {
    for (const target of ['ws://127.0.0.1:9001', 'wss://origin.test/ws', 'http://127.0.0.1:9001/base', 'https://origin.test', new URL('ws://[::1]:9001')]) {
      expect(typeof websocket(target)).toBe('function')
    }
  })

  it('rejects a target that is not a URL with a TypeError naming the target', () => {
    expect(() => websocket('127.0.0.1 port 9001')).toThrow(TypeError)
    expect(() => websocket('127.0.0.1 port 9001')).toThrow(/target "127\.0\.0\.1 port 9001" is not a URL/)
  })

  for (const target of ['ftp://origin.test', 'file:///tmp/socket', 'mailto:ops@origin.test']) {
    it(`rejects the target scheme of ${target} with a TypeError naming the scheme`, () => {
      expect(() => websocket(target)).toThrow(TypeError)
      expect(() => websocket(target)).toThrow(/target scheme must be ws, wss, http or https/)
    })
  }

  for (const name of ['idleTimeout', 'maxLifetime', 'handshakeTimeout'] as const) {
    for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER + 1]) {
      it(`rejects ${name}: ${value} with a TypeError naming ${name}`, () => {
        expect(() => websocket('ws://127.0.0.1:9001', { [name]: value })).toThrow(TypeError)
        expect(() => websocket('ws://127.0.0.1:9001', { [name]: value })).toThrow(new RegExp(`websocket\\(\\): ${name} must be a positive number of ms`))
      })
    }

    it(`accepts ${name} from 1 ms up to the timer ceiling`, () => {
      expect(() => websocket('ws://127.0.0.1:9001', { [name]: 1 })).not.toThrow()
      expect(() => websocket('ws://127.0.0.1:9001', { [name]: MAX_TIMER })).not.toThrow()
    })
  }

  for (const value of [1, -0.01, 1.5, Number.NaN]) {
    it(`rejects lifetimeJitter: ${value} with a TypeError naming lifetimeJitter`, () => {
      expect(() => websocket('ws://127.0.0.1:9001', { lifetimeJitter: value })).toThrow(TypeError)
      expect(() => websocket('ws://127.0.0.1:9001', { lifetimeJitter: value })).toThrow(/websocket\(\): lifetimeJitter must be a fraction/)
    })
  }

  for (const name of ['maxConnections', 'retryAfter'] as const) {
    for (const value of [0, -3, 1.5, Number.NaN]) {
      it(`rejects ${name}: ${value} with a TypeError naming ${name}`, () => {
        expect(() => websocket('ws://127.0.0.1:9001', { [name]: value })).toThrow(TypeError)
        expect(() => websocket('ws://127.0.0.1:9001', { [name]: value })).toThrow(new RegExp(`websocket\\(\\): ${name} must be a positive integer`))
      })
    }
  }
})

describe('websocket() without a runtime', () => {
  it('answers 500 with ERR_RUNTIME_MISSING and a plain-text reason when the app runs outside serve()', async () => {
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/ws', websocket('ws://127.0.0.1:9001'))
    const response = await app.request('/ws', {
      headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': SAMPLE_KEY, 'sec-websocket-version': '13' },
    })
    expect(response.status).toBe(500)
    expect(response.headers.get('x-wsgate-error')).toBe('ERR_RUNTIME_MISSING')
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await response.text()).toBe('websocket() runs only under a wsgate runtime (serve() or the CLI)\n')
  })
})
