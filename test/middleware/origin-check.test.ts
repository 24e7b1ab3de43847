import { Hono, type Context } from 'hono'
import { describe, expect, it } from 'vitest'
import { normalizeHeaders } from '../../middleware/normalize-headers.ts'
import { originCheck, type OriginCheckOptions } from '../../middleware/origin-check.ts'
import type { GatewayBindings, GatewayRuntime } from '../../src/index.ts'
import { expectRejection } from '../helpers/rejection.ts'

const ALLOWED = ['https://app.example.com', 'https://*.example.com', 'http://localhost:5173', 'http://[::1]:8080', 'chrome-extension://abcdefghijklmnop']

/** A small app: originCheck(options), then a handler that says what it saw. */
function echoApp(options: OriginCheckOptions): Hono {
  const app = new Hono()
  app.all('*', originCheck(options), (c) => c.text(`reached with ${c.req.header('origin') ?? 'no Origin'}`))
  return app
}

/** Sends a request with `origin` (none when null) through `echoApp(options)`. */
function send(origin: string | null, options: OriginCheckOptions = { allowedOrigins: ALLOWED }, init: RequestInit = {}): Promise<Response> {
  const headers: Record<string, string> = { host: 'gw.example' }
  if (origin !== null) headers.origin = origin
  return Promise.resolve(echoApp(options).request('http://gw.example/chat', { headers, ...init }))
}

async function expectAllowed(response: Response): Promise<void> {
  expect(response.status, await response.clone().text()).toBe(200)
  expect(await response.text()).toMatch(/^reached with /)
}

describe('originCheck(): allowed origins', () => {
  for (const origin of [
    'https://app.example.com',
    'HTTPS://APP.EXAMPLE.COM',
    'https://App.Example.Com:443',
    'http://localhost:5173',
    'http://LOCALHOST:5173',
    'http://[::1]:8080',
    'chrome-extension://abcdefghijklmnop',
    'CHROME-EXTENSION://ABCDEFGHIJKLMNOP',
  ]) {
    it(`admits ${origin} (exact entry; scheme and host case-insensitive, default port normalised)`, async () => {
      await expectAllowed(await send(origin))
    })
  }

  for (const origin of ['https://chat.example.com', 'https://a.b.example.com', 'https://CHAT.Example.com:443', 'https://xn--bcher-kva.example.com', 'https://bücher.example.com']) {
    it(`admits ${origin} through the wildcard https://*.example.com`, async () => {
      await expectAllowed(await send(origin))
    })
  }

  it('admits an exact entry written with a default port or upper case', async () => {
    await expectAllowed(await send('https://app.example.org', { allowedOrigins: ['HTTPS://App.Example.ORG:443'] }))
    await expectAllowed(await send('http://intranet.example', { allowedOrigins: ['http://intranet.example:80'] }))
  })

  it('admits a wildcard entry with a port only on that port', async () => {
    const options = { allowedOrigins: ['https://*.example.net:8443'] }
    await expectAllowed(await send('https://a.example.net:8443', options))
    await expectRejection(await send('https://a.example.net', options), 403, 'ERR_ORIGIN_HEADER_FORBIDDEN', /Origin https:\/\/a\.example\.net is not allowed/)
  })
})

describe('originCheck(): rejected origins', () => {
  for (const [origin, why] of [
    ['https://evil.example', 'not listed'],
    ['https://example.com', 'the wildcard covers subdomains, not the apex'],
    ['https://example.com.evil.com', 'the allowed domain as a prefix of another'],
    ['https://evilexample.com', 'the allowed domain as a suffix without a dot'],
    ['https://app.example.com.evil.com', 'an exact entry as a prefix'],
    ['http://app.example.com', 'another scheme'],
    ['http://chat.example.com', 'another scheme under the wildcard'],
    ['https://app.example.com:8443', 'another port'],
    ['https://chat.example.com:8443', 'another port under the wildcard'],
    ['http://localhost:5174', 'another port on localhost'],
    ['https://app.example.com.', 'a trailing dot'],
    ['wss://app.example.com', 'the ws scheme'],
  ] as const) {
    it(`rejects ${origin} (${why}) with 403 and ERR_ORIGIN_HEADER_FORBIDDEN`, async () => {
      await expectRejection(await send(origin), 403, 'ERR_ORIGIN_HEADER_FORBIDDEN', /^Origin .* is not allowed$/m)
    })
  }

  it('names the normalised origin in the reason', async () => {
    await expectRejection(await send('HTTPS://Evil.Example:443'), 403, 'ERR_ORIGIN_HEADER_FORBIDDEN', /^Origin https:\/\/evil\.example is not allowed$/m)
  })

  for (const [origin, why] of [
    ['null', 'the opaque origin of sandboxed pages and files'],
    ['https://app.example.com, https://evil.example', 'two Origin headers, joined'],
    ['https://app.example.com/', 'a path'],
    ['https://app.example.com/chat', 'a path'],
    ['https://user@app.example.com', 'user info'],
    ['https://app.example.com?x=1', 'a query'],
    ['app.example.com', 'no scheme'],
    ['file:///etc/passwd', 'no host'],
    ['*', 'a wildcard'],
  ] as const) {
    it(`rejects Origin: ${origin} (${why}) with 403 and ERR_ORIGIN_HEADER_FORBIDDEN`, async () => {
      await expectRejection(await send(origin), 403, 'ERR_ORIGIN_HEADER_FORBIDDEN', /^Origin header is not an allowed origin$/m)
    })
  }

  it('does not run the handler for a rejected origin', async () => {
    let reached = false
    const app = new Hono()
    app.all('*', originCheck({ allowedOrigins: ALLOWED }), (c) => {
      reached = true
      return c.text('reached')
    })
    const response = await app.request('http://gw.example/', { headers: { origin: 'https://evil.example' } })
    expect(response.status).toBe(403)
    expect(reached).toBe(false)
  })

  it('checks plain HTTP requests too (a cross-site POST is refused)', async () => {
    const response = await send('https://evil.example', undefined, { method: 'POST', body: 'x' })
    await expectRejection(response, 403, 'ERR_ORIGIN_HEADER_FORBIDDEN', /is not allowed/)
  })
})

describe('originCheck(): missing Origin', () => {
  it('rejects a request without Origin with 403 and ERR_ORIGIN_HEADER_MISSING by default', async () => {
    await expectRejection(await send(null), 403, 'ERR_ORIGIN_HEADER_MISSING', /^missing Origin header$/m)
  })

  it('admits a request without Origin with allowMissing: true', async () => {
    const response = await send(null, { allowedOrigins: ALLOWED, allowMissing: true })
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('reached with no Origin')
  })

  it('still rejects a forbidden Origin with allowMissing: true', async () => {
    await expectRejection(await send('https://evil.example', { allowedOrigins: ALLOWED, allowMissing: true }), 403, 'ERR_ORIGIN_HEADER_FORBIDDEN', /is not allowed/)
  })

  it('admits only clients without Origin with an empty list and allowMissing: true', async () => {
    const options = { allowedOrigins: [], allowMissing: true }
    expect((await send(null, options)).status).toBe(200)
    await expectRejection(await send('https://app.example.com', options), 403, 'ERR_ORIGIN_HEADER_FORBIDDEN', /is not allowed/)
  })
})

describe('originCheck(): with normalizeHeaders()', () => {
  const runtime: Partial<GatewayRuntime> = { clientAddress: '203.0.113.7' }
  const env: GatewayBindings = { wsgate: runtime as GatewayRuntime }

  for (const order of ['originCheck first', 'normalizeHeaders first'] as const) {
    it(`decides the same way in either order (${order})`, async () => {
      const app = new Hono<{ Bindings: GatewayBindings }>()
      const check = originCheck({ allowedOrigins: ['https://app.example.com'] })
      const normalize = normalizeHeaders()
      const handler = (c: Context): Response => c.text(`reached, forwarded for ${c.req.header('x-forwarded-for') ?? '?'}`)
      if (order === 'originCheck first') app.all('*', check, normalize, handler)
      else app.all('*', normalize, check, handler)
      const allowed = await app.request('http://gw.example/', { headers: { host: 'gw.example', origin: 'https://app.example.com' } }, env)
      expect(allowed.status).toBe(200)
      expect(await allowed.text()).toBe('reached, forwarded for 203.0.113.7')
      const refused = await app.request('http://gw.example/', { headers: { host: 'gw.example', origin: 'https://evil.example' } }, env)
      await expectRejection(refused, 403, 'ERR_ORIGIN_HEADER_FORBIDDEN', /Origin https:\/\/evil\.example is not allowed/)
    })
  }
})

describe('originCheck(): options', () => {
  for (const [entry, message] of [
    ['app.example.com', /allowedOrigins entry "app.example.com" is not an origin/],
    ['https://app.example.com/', /allowedOrigins entry "https:\/\/app.example.com\/" is not an origin/],
    ['https://app.example.com/chat', /is not an origin/],
    ['https://user@app.example.com', /is not an origin/],
    ['https://', /is not an origin/],
    ['file:///tmp', /is not an origin/],
    ['*', /allowedOrigins entry "\*" would allow every site/],
    ['null', /allowedOrigins entry "null" is the opaque origin/],
    ['https://app.*.example.com', /has a "\*" that is not a leading "\*\." of the host/],
    ['https://*example.com', /has a "\*" that is not a leading/],
    ['*.example.com', /has a "\*" that is not a leading/],
    ['https://*.', /is not a wildcard over a domain name/],
    ['https://*.1.2.3', /is not an origin/],
    ['', /is not an origin/],
  ] as const) {
    it(`throws a TypeError naming allowedOrigins and the entry ${JSON.stringify(entry)}`, () => {
      expect(() => originCheck({ allowedOrigins: [entry] })).toThrow(TypeError)
      expect(() => originCheck({ allowedOrigins: [entry] })).toThrow(message)
    })
  }

  it('throws a TypeError for an entry that is not a string', () => {
    expect(() => originCheck({ allowedOrigins: [42 as unknown as string] })).toThrow(/allowedOrigins entry 42 is not a string/)
  })

  it('throws a TypeError when allowedOrigins is missing or not an array', () => {
    expect(() => originCheck({} as OriginCheckOptions)).toThrow(/originCheck\(\): allowedOrigins must be an array/)
    expect(() => originCheck({ allowedOrigins: 'https://app.example.com' as unknown as string[] })).toThrow(/allowedOrigins must be an array/)
    expect(() => originCheck(undefined as unknown as OriginCheckOptions)).toThrow(/originCheck\(\): options must be an object/)
  })

  it('throws a TypeError for an empty allowlist unless allowMissing is set', () => {
    expect(() => originCheck({ allowedOrigins: [] })).toThrow(/allowedOrigins is empty, which rejects every request/)
    expect(() => originCheck({ allowedOrigins: [], allowMissing: true })).not.toThrow()
  })

  it('throws a TypeError naming allowMissing when it is not a boolean', () => {
    expect(() => originCheck({ allowedOrigins: ALLOWED, allowMissing: 'yes' as unknown as boolean })).toThrow(/originCheck\(\): allowMissing must be true or false/)
  })

  it('throws a TypeError naming an unknown option', () => {
    expect(() => originCheck({ allowedOrigins: ALLOWED, allowedOrigin: [] } as unknown as OriginCheckOptions)).toThrow(/unknown option "allowedOrigin"/)
  })

  it('returns a handler named originCheck', () => {
    expect(originCheck({ allowedOrigins: ALLOWED }).name).toBe('originCheck')
  })
})
