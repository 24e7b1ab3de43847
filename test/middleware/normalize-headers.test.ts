import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { normalizeHeaders, type NormalizeHeadersOptions } from '../../middleware/normalize-headers.ts'
import { websocket, type ForwardingVariables, type GatewayBindings, type GatewayRuntime } from '../../src/index.ts'
import { expectRejection } from '../helpers/rejection.ts'

/** What the final handler saw. */
interface Seen {
  headers: Record<string, string>
  preserveHost: boolean | null
  clientAddress: string | null
  body: string
}

type Env = { Bindings: GatewayBindings; Variables: ForwardingVariables }

/** A small app: normalizeHeaders(options), then a handler that echoes the request it got. */
function echoApp(options?: NormalizeHeadersOptions): Hono<Env> {
  const app = new Hono<Env>()
  app.all('*', normalizeHeaders(options), async (c) => {
    const seen: Seen = {
      headers: Object.fromEntries(c.req.raw.headers),
      preserveHost: c.get('preserveHost') ?? null,
      clientAddress: c.get('clientAddress') ?? null,
      body: await c.req.text(),
    }
    return c.json(seen)
  })
  return app
}

/** The env a wsgate runtime provides, reduced to what these tests need. */
function runtimeEnv(clientAddress = '203.0.113.7'): GatewayBindings {
  const runtime: Partial<GatewayRuntime> = { clientAddress, httpVersion: '1.1', note: () => {} }
  return { wsgate: runtime as GatewayRuntime }
}

/** Sends a request through `echoApp(options)` from `clientAddress` and returns what the handler saw. */
async function seenBy(
  headers: Record<string, string>,
  options: { middleware?: NormalizeHeadersOptions; clientAddress?: string; url?: string; init?: RequestInit } = {},
): Promise<Seen> {
  const app = echoApp(options.middleware)
  const response = await app.request(options.url ?? 'http://gw.example/chat', { headers, ...options.init }, runtimeEnv(options.clientAddress))
  expect(response.status, await response.clone().text()).toBe(200)
  return (await response.json()) as Seen
}

const UPGRADE = { host: 'gw.example', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' }

describe('normalizeHeaders(): the upgrade pair', () => {
  for (const [label, upgrade, connection] of [
    ['Upgrade: WebSocket, Connection: Upgrade', 'WebSocket', 'Upgrade'],
    ['Upgrade: WEBSOCKET, Connection: keep-alive, UPGRADE', 'WEBSOCKET', 'keep-alive, UPGRADE'],
    ['Upgrade: websocket, h2c, Connection: upgrade', 'websocket, h2c', 'upgrade'],
  ] as const) {
    it(`passes on canonical Upgrade: websocket and Connection: upgrade when the client sent ${label}`, async () => {
      const seen = await seenBy({ ...UPGRADE, upgrade, connection })
      expect(seen.headers.upgrade).toBe('websocket')
      expect(seen.headers.connection).toBe('upgrade')
      expect(seen.headers['keep-alive']).toBeUndefined()
    })
  }

  for (const [label, headers] of [
    ['Upgrade: h2c', { upgrade: 'h2c', connection: 'Upgrade' }],
    ['Connection: keep-alive (no upgrade token)', { upgrade: 'websocket', connection: 'keep-alive' }],
    ['no Connection', { upgrade: 'websocket' }],
    ['no Upgrade', { connection: 'Upgrade' }],
  ] as const) {
    it(`removes Upgrade and Connection from a request that is not a WebSocket upgrade (${label})`, async () => {
      const seen = await seenBy({ ...UPGRADE, ...headers })
      expect(seen.headers).not.toHaveProperty('upgrade')
      expect(seen.headers).not.toHaveProperty('connection')
      expect(seen.headers['sec-websocket-key']).toBe(UPGRADE['sec-websocket-key'])
    })
  }

  it('leaves a WebSocket route to reject a request that is not an upgrade with 400 ERR_HANDSHAKE_UPGRADE', async () => {
    const app = new Hono<Env>()
    app.all('/chat', normalizeHeaders(), websocket('ws://127.0.0.1:9'))
    const response = await app.request('http://gw.example/chat', { headers: { ...UPGRADE, upgrade: 'websocket', connection: 'keep-alive' } }, runtimeEnv())
    await expectRejection(response, 400, 'ERR_HANDSHAKE_UPGRADE', /missing or invalid Upgrade header/)
  })
})

describe('normalizeHeaders(): hop-by-hop headers', () => {
  it('removes Keep-Alive, Proxy-*, Proxy, TE, Trailer and Transfer-Encoding, and keeps end-to-end headers, even those Connection names (the head parse removed what the client named)', async () => {
    const seen = await seenBy({
      ...UPGRADE,
      upgrade: 'websocket',
      connection: 'keep-alive, Upgrade, X-Hop-Secret',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'proxy-authorization': 'Basic Z2F0ZXdheTpzZWNyZXQ=',
      'proxy-features': 'x',
      proxy: 'http://evil.example:3128',
      te: 'trailers',
      trailer: 'x-checksum',
      'x-hop-secret': 'for the gateway only',
      'x-end-to-end': 'for the origin',
      authorization: 'Bearer token',
      cookie: 'a=1; b=2',
    })
    for (const name of ['keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-features', 'proxy', 'te', 'trailer']) {
      expect(seen.headers, name).not.toHaveProperty(name)
    }
    // Here no gateway parsed the head, so the header stands for one an earlier middleware set: it stays.
    expect(seen.headers['x-hop-secret']).toBe('for the gateway only')
    expect(seen.headers['x-end-to-end']).toBe('for the origin')
    expect(seen.headers.authorization).toBe('Bearer token')
    expect(seen.headers.cookie).toBe('a=1; b=2')
    expect(seen.headers['sec-websocket-version']).toBe('13')
  })

  it('keeps Host, and every header Connection names: the gateway removed what the client named before the chain ran', async () => {
    const seen = await seenBy({ host: 'public.example', connection: 'host, x-set-by-the-chain', 'x-set-by-the-chain': '1' })
    expect(seen.headers.host).toBe('public.example')
    expect(seen.headers['x-set-by-the-chain']).toBe('1')
  })

  it('removes Transfer-Encoding from a request with a body, which still arrives whole', async () => {
    const seen = await seenBy(
      { host: 'gw.example', 'transfer-encoding': 'chunked', 'content-type': 'text/plain' },
      { init: { method: 'POST', body: 'hello, origin' } },
    )
    expect(seen.headers).not.toHaveProperty('transfer-encoding')
    expect(seen.headers['content-type']).toBe('text/plain')
    expect(seen.body).toBe('hello, origin')
  })
})

describe('normalizeHeaders(): X-Forwarded-* and Forwarded', () => {
  it('sets X-Forwarded-For, -Proto, -Host and Forwarded from the connection', async () => {
    const seen = await seenBy({ host: 'gw.example:8080' }, { url: 'http://gw.example:8080/chat', clientAddress: '203.0.113.7' })
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7')
    expect(seen.headers['x-forwarded-proto']).toBe('http')
    expect(seen.headers['x-forwarded-host']).toBe('gw.example:8080')
    // RFC 7239 §4: "gw.example:8080" holds a colon, which is not a token character, so it is quoted.
    expect(seen.headers.forwarded).toBe('for=203.0.113.7;host="gw.example:8080";proto=http')
  })

  it('takes the proto from the request URL scheme', async () => {
    const seen = await seenBy({ host: 'gw.example' }, { url: 'https://gw.example/chat' })
    expect(seen.headers['x-forwarded-proto']).toBe('https')
    expect(seen.headers.forwarded).toBe('for=203.0.113.7;host=gw.example;proto=https')
  })

  it('quotes an IPv6 client in Forwarded as for="[…]" and writes it bare in X-Forwarded-For', async () => {
    const seen = await seenBy({ host: 'gw.example' }, { clientAddress: '2001:DB8:0:0:0:0:0:7' })
    expect(seen.headers['x-forwarded-for']).toBe('2001:db8::7')
    expect(seen.headers.forwarded).toBe('for="[2001:db8::7]";host=gw.example;proto=http')
  })

  it('writes an IPv4-mapped IPv6 client as the IPv4 address it carries', async () => {
    const seen = await seenBy({ host: 'gw.example' }, { clientAddress: '::ffff:198.51.100.4' })
    expect(seen.headers['x-forwarded-for']).toBe('198.51.100.4')
    expect(seen.headers.forwarded).toBe('for=198.51.100.4;host=gw.example;proto=http')
  })

  it('writes "unknown" when the runtime has no client address', async () => {
    const seen = await seenBy({ host: 'gw.example' }, { clientAddress: '' })
    expect(seen.headers['x-forwarded-for']).toBe('unknown')
    expect(seen.headers.forwarded).toBe('for=unknown;host=gw.example;proto=http')
  })

  it('quotes and escapes a Host that is not a token, so it cannot add parameters or elements to Forwarded', async () => {
    const seen = await seenBy({ host: 'x";for=6.6.6.6' })
    expect(seen.headers.forwarded).toBe('for=203.0.113.7;host="x\\";for=6.6.6.6";proto=http')
  })

  it("uses the URL's authority as the forwarded host when the request has no Host", async () => {
    const seen = await seenBy({}, { url: 'http://fallback.example:81/chat' })
    expect(seen.headers['x-forwarded-host']).toBe('fallback.example:81')
  })

  const spoofed = {
    host: 'gw.example',
    'x-forwarded-for': '1.2.3.4, 5.6.7.8',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'admin.internal',
    forwarded: 'for=1.2.3.4;proto=https',
    'x-real-ip': '1.2.3.4',
  }

  it('drops a client-sent X-Forwarded-For, -Proto, -Host and Forwarded when the client is not a trusted proxy', async () => {
    const seen = await seenBy(spoofed, { clientAddress: '203.0.113.7', middleware: { trustedProxies: ['10.0.0.0/8'] } })
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7')
    expect(seen.headers['x-forwarded-proto']).toBe('http')
    expect(seen.headers['x-forwarded-host']).toBe('gw.example')
    expect(seen.headers.forwarded).toBe('for=203.0.113.7;host=gw.example;proto=http')
    expect(seen.headers['x-real-ip']).toBe('203.0.113.7')
  })

  it('drops client-sent forwarding headers by default (no proxy is trusted)', async () => {
    const seen = await seenBy(spoofed, { clientAddress: '10.0.0.1' })
    expect(seen.headers['x-forwarded-for']).toBe('10.0.0.1')
    expect(seen.headers.forwarded).toBe('for=10.0.0.1;host=gw.example;proto=http')
  })

  it('appends to the forwarding headers of a trusted proxy', async () => {
    const seen = await seenBy(spoofed, { clientAddress: '10.0.0.1', middleware: { trustedProxies: ['10.0.0.0/8'] } })
    expect(seen.headers['x-forwarded-for']).toBe('1.2.3.4, 5.6.7.8, 10.0.0.1')
    expect(seen.headers['x-forwarded-proto']).toBe('https, http')
    expect(seen.headers['x-forwarded-host']).toBe('admin.internal, gw.example')
    expect(seen.headers.forwarded).toBe('for=1.2.3.4;proto=https, for=10.0.0.1;host=gw.example;proto=http')
    // One address, not a list: the one the trusted proxy appended (what it saw), not the X-Real-IP it passed on.
    expect(seen.headers['x-real-ip']).toBe('5.6.7.8')
  })

  it('replaces an X-Real-IP a trusted proxy passed on from its client with the address the proxy itself names', async () => {
    // A load balancer that neither sets nor strips X-Real-IP (AWS ALB, GCP's, HAProxy by default) forwards the client's.
    const seen = await seenBy({ host: 'gw.example', 'x-real-ip': '6.6.6.6', 'x-forwarded-for': '198.51.100.1' }, { clientAddress: '10.0.0.1', middleware: { trustedProxies: ['10.0.0.0/8'] } })
    expect(seen.headers['x-real-ip']).toBe('198.51.100.1')
  })

  it('trusts a proxy whose address arrives IPv4-mapped', async () => {
    const seen = await seenBy(spoofed, { clientAddress: '::ffff:10.0.0.1', middleware: { trustedProxies: ['10.0.0.0/8'] } })
    expect(seen.headers['x-forwarded-for']).toBe('1.2.3.4, 5.6.7.8, 10.0.0.1')
  })

  it('sets the header alone when a trusted proxy sent none', async () => {
    const seen = await seenBy({ host: 'gw.example' }, { clientAddress: '::1', middleware: { trustedProxies: ['::1'] } })
    expect(seen.headers['x-forwarded-for']).toBe('::1')
    expect(seen.headers.forwarded).toBe('for="[::1]";host=gw.example;proto=http')
    expect(seen.headers['x-real-ip']).toBe('::1')
  })

  // Other proxies' and CDNs' ways of naming the client, its scheme, port and path prefix, or the URL it asked for:
  // origins read them (request-ip takes X-Client-IP before X-Forwarded-For; Rack takes X-Forwarded-Ssl: on over
  // X-Forwarded-Proto; Symfony and IIS have routed by X-Original-URL), so a client's own must not reach them.
  const claimed = {
    'x-client-ip': '6.6.6.6',
    'true-client-ip': '6.6.6.6',
    'cf-connecting-ip': '6.6.6.6',
    'x-cluster-client-ip': '6.6.6.6',
    'client-ip': '6.6.6.6',
    'x-forwarded-ssl': 'on',
    'x-forwarded-scheme': 'https',
    'x-forwarded-port': '443',
    'x-forwarded-prefix': '/evil',
    'x-forwarded-client-cert': 'By=spiffe://admin;URI=spiffe://admin',
    'x-original-url': '/admin',
    'x-rewrite-url': '/admin',
  }

  it('drops the client-address, scheme, port, prefix, certificate and original-URL headers of other proxies from a client that is not a trusted proxy', async () => {
    const seen = await seenBy({ host: 'gw.example', ...claimed, 'x-trace-id': 'kept' }, { clientAddress: '203.0.113.7', middleware: { trustedProxies: ['10.0.0.0/8'] } })
    for (const name of Object.keys(claimed)) expect(seen.headers, name).not.toHaveProperty(name)
    expect(seen.headers['x-trace-id']).toBe('kept')
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7')
  })

  it('drops their underscore spellings from everyone', async () => {
    const headers = { host: 'gw.example', x_client_ip: '6.6.6.6', 'x-forwarded_ssl': 'on', x_original_url: '/admin' }
    for (const middleware of [{}, { trustedProxies: ['10.0.0.0/8'] }]) {
      const seen = await seenBy(headers, { clientAddress: '10.0.0.1', middleware })
      expect(Object.keys(seen.headers).filter((name) => name.includes('_'))).toEqual([])
    }
  })

  it('keeps them as sent from a trusted proxy', async () => {
    const seen = await seenBy({ host: 'gw.example', ...claimed }, { clientAddress: '10.0.0.1', middleware: { trustedProxies: ['10.0.0.0/8'] } })
    for (const [name, value] of Object.entries(claimed)) expect(seen.headers[name], name).toBe(value)
  })

  it('answers 500 ERR_RUNTIME_MISSING outside a wsgate runtime rather than invent a client address', async () => {
    const app = new Hono()
    app.all('*', normalizeHeaders(), (c) => c.text('reached'))
    const response = await app.request('http://gw.example/chat', { headers: { host: 'gw.example' } })
    await expectRejection(response, 500, 'ERR_RUNTIME_MISSING', /normalizeHeaders\(\) runs only under a wsgate runtime/)
  })
})

describe('normalizeHeaders(): the client address it publishes', () => {
  const behind = (forwardedFor: string, clientAddress = '10.0.0.1'): Promise<Seen> =>
    seenBy({ host: 'gw.example', 'x-forwarded-for': forwardedFor }, { clientAddress, middleware: { trustedProxies: ['10.0.0.0/8', '2001:db8:ff::/48'] } })

  it("publishes the socket's address, canonical, when the peer is not a trusted proxy, whatever X-Forwarded-For says", async () => {
    expect((await seenBy({ host: 'gw.example', 'x-forwarded-for': '6.6.6.6' }, { clientAddress: '::ffff:203.0.113.7' })).clientAddress).toBe('203.0.113.7')
    expect((await behind('6.6.6.6', '203.0.113.7')).clientAddress).toBe('203.0.113.7')
  })

  it("publishes the address a trusted proxy appended, never what the client wrote to its left", async () => {
    expect((await behind('198.51.100.7')).clientAddress).toBe('198.51.100.7')
    expect((await behind('6.6.6.6, 198.51.100.7')).clientAddress).toBe('198.51.100.7')
    expect((await behind('not an address, 198.51.100.7')).clientAddress).toBe('198.51.100.7')
  })

  it('walks past trusted proxies from the right to the first address that is not one', async () => {
    expect((await behind('6.6.6.6, 198.51.100.7, 10.9.9.9, 10.0.0.2')).clientAddress).toBe('198.51.100.7')
    expect((await behind('198.51.100.7, 2001:db8:ff::9', '2001:db8:ff::1')).clientAddress).toBe('198.51.100.7')
  })

  it('takes the leftmost address when every one is a trusted proxy, and stops at an entry that is not an address', async () => {
    expect((await behind('10.0.0.3, 10.0.0.2')).clientAddress).toBe('10.0.0.3')
    expect((await behind('6.6.6.6, bogus, 10.0.0.2')).clientAddress).toBe('10.0.0.2')
  })

  it("publishes the proxy's own address when it sent no usable X-Forwarded-For", async () => {
    expect((await seenBy({ host: 'gw.example' }, { clientAddress: '10.0.0.1', middleware: { trustedProxies: ['10.0.0.0/8'] } })).clientAddress).toBe('10.0.0.1')
    expect((await behind('bogus')).clientAddress).toBe('10.0.0.1')
  })

  it('reads the spellings proxies use: IPv4 with a port, IPv6 bracketed with or without a port, IPv4-mapped, upper case', async () => {
    expect((await behind('198.51.100.7:51234')).clientAddress).toBe('198.51.100.7')
    expect((await behind('[2001:DB8::7]:443')).clientAddress).toBe('2001:db8::7')
    expect((await behind('[2001:db8::7]')).clientAddress).toBe('2001:db8::7')
    expect((await behind('::ffff:198.51.100.7')).clientAddress).toBe('198.51.100.7')
  })
})

describe('normalizeHeaders(): Host toward the origin', () => {
  it("leaves preserveHost false by default, so the handlers send the origin's own host", async () => {
    const seen = await seenBy({ host: 'public.example' })
    expect(seen.preserveHost).toBe(false)
    expect(seen.headers.host).toBe('public.example')
  })

  it("sets preserveHost with preserveHost: true, so the handlers send the client's Host", async () => {
    const seen = await seenBy({ host: 'public.example' }, { middleware: { preserveHost: true } })
    expect(seen.preserveHost).toBe(true)
  })
})

describe('normalizeHeaders(): rejections', () => {
  const send = (headers: Headers | Record<string, string>, init: RequestInit = {}, options?: NormalizeHeadersOptions): Promise<Response> =>
    Promise.resolve(echoApp(options).request('http://gw.example/chat', { headers, ...init }, runtimeEnv()))

  it('rejects a duplicate Host (joined "a, b") with 400 and ERR_HEADER_DUPLICATE_HOST', async () => {
    const headers = new Headers()
    headers.append('host', 'gw.example')
    headers.append('host', 'internal.example')
    expect(headers.get('host')).toBe('gw.example, internal.example')
    await expectRejection(await send(headers), 400, 'ERR_HEADER_DUPLICATE_HOST', /more than one Host header/)
  })

  for (const [label, value] of [
    ['\\x01', 'a\x01b'],
    ['ESC', 'a\x1b[31mred'],
    ['DEL', 'a\x7f'],
    ['\\x0b (vertical tab)', 'a\x0bb'],
  ] as const) {
    it(`rejects a header value holding ${label} with 400 and ERR_HEADER_INVALID_CHARACTER naming the header`, async () => {
      await expectRejection(await send({ host: 'gw.example', 'x-note': value }), 400, 'ERR_HEADER_INVALID_CHARACTER', /control character in the X-Note header/)
    })
  }

  it('accepts a horizontal tab and obs-text bytes in a header value', async () => {
    const seen = await seenBy({ host: 'gw.example', 'x-note': 'a\tb', 'x-latin1': 'caf\u00e9' })
    expect(seen.headers['x-note']).toBe('a\tb')
    expect(seen.headers['x-latin1']).toBe('caf\u00e9')
  })

  it('rejects a header name with a control character with 400 and ERR_HEADER_INVALID_CHARACTER (from a runtime whose Headers lets one through)', async () => {
    // A Web Headers refuses such a name itself; this stands in for a laxer runtime adapter.
    class LaxHeaders extends Headers {
      override *[Symbol.iterator](): HeadersIterator<[string, string]> {
        yield* super.entries()
        yield ['x\x01bad', 'value']
      }
    }
    const request = new Request('http://gw.example/chat', { headers: { host: 'gw.example' } })
    Object.defineProperty(request, 'headers', { value: new LaxHeaders(request.headers) })
    const response = await echoApp().request(request, undefined, runtimeEnv())
    await expectRejection(response, 400, 'ERR_HEADER_INVALID_CHARACTER', /invalid character in a header name/)
  })

  it('rejects Content-Length together with Transfer-Encoding with 400 and ERR_HEADER_AMBIGUOUS_LENGTH', async () => {
    const response = await send({ host: 'gw.example', 'content-length': '5', 'transfer-encoding': 'chunked' }, { method: 'POST', body: 'hello' })
    await expectRejection(response, 400, 'ERR_HEADER_AMBIGUOUS_LENGTH', /both Content-Length and Transfer-Encoding/)
  })

  for (const length of ['3, 4', '-1', '1e3', '5, ']) {
    it(`rejects Content-Length: ${length} with 400 and ERR_HEADER_AMBIGUOUS_LENGTH`, async () => {
      const response = await send({ host: 'gw.example', 'content-length': length })
      await expectRejection(response, 400, 'ERR_HEADER_AMBIGUOUS_LENGTH', /invalid or conflicting Content-Length/)
    })
  }

  it('accepts a Content-Length repeated with the same value', async () => {
    const seen = await seenBy({ host: 'gw.example', 'content-length': '0, 0' })
    expect(seen.headers['content-length']).toBe('0, 0')
  })

  it('rejects before the handler runs', async () => {
    let reached = false
    const app = new Hono<Env>()
    app.all('*', normalizeHeaders(), (c) => {
      reached = true
      return c.text('reached')
    })
    const response = await app.request('http://gw.example/', { headers: { host: 'a.example, b.example' } }, runtimeEnv())
    expect(response.status).toBe(400)
    expect(reached).toBe(false)
  })
})

describe('normalizeHeaders(): options', () => {
  it('throws a TypeError naming trustedProxies and the entry for a bad CIDR', () => {
    expect(() => normalizeHeaders({ trustedProxies: ['10.0.0.0/8', '10.0.0.0/33'] })).toThrow(TypeError)
    expect(() => normalizeHeaders({ trustedProxies: ['10.0.0.0/33'] })).toThrow(/normalizeHeaders\(\): trustedProxies: "10.0.0.0\/33" is not an IP address or CIDR range/)
    expect(() => normalizeHeaders({ trustedProxies: ['proxy.internal'] })).toThrow(/trustedProxies: "proxy.internal"/)
  })

  it('throws a TypeError when trustedProxies is not an array', () => {
    expect(() => normalizeHeaders({ trustedProxies: '10.0.0.0/8' as unknown as string[] })).toThrow(/trustedProxies must be an array/)
  })

  it('throws a TypeError naming preserveHost when it is not a boolean', () => {
    expect(() => normalizeHeaders({ preserveHost: 'yes' as unknown as boolean })).toThrow(/normalizeHeaders\(\): preserveHost must be true or false/)
  })

  it('throws a TypeError naming an unknown option', () => {
    expect(() => normalizeHeaders({ trustedProxy: ['10.0.0.0/8'] } as unknown as NormalizeHeadersOptions)).toThrow(/unknown option "trustedProxy"/)
  })

  it('returns a handler named normalizeHeaders', () => {
    expect(normalizeHeaders().name).toBe('normalizeHeaders')
  })
})
