import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { cacheBypass, type CacheBypassOptions } from '../../middleware/cache-bypass.ts'
import { cache } from '../../middleware/cache.ts'
import type { ForwardingVariables } from '../../src/index.ts'

/** An app with `cacheBypass(options)` whose handler reports the flag and the upgrade headers it received. */
function flagApp(options?: CacheBypassOptions) {
  const app = new Hono<{ Variables: ForwardingVariables }>()
  app.all('*', cacheBypass(options), (c) =>
    c.json({ cacheBypass: c.get('cacheBypass') ?? false, upgrade: c.req.header('upgrade') ?? null, connection: c.req.header('connection') ?? null }),
  )
  return (path: string, init: RequestInit = {}) => Promise.resolve(app.request(`http://gw.test${path}`, init)).then((response) => response.json())
}

describe('cacheBypass()', () => {
  it('flags a WebSocket upgrade request and leaves its Upgrade and Connection headers as they came', async () => {
    const seen = await flagApp()('/live', { headers: { upgrade: 'WebSocket', connection: 'keep-alive, Upgrade' } })
    expect(seen).toEqual({ cacheBypass: true, upgrade: 'WebSocket', connection: 'keep-alive, Upgrade' })
  })

  it('flags a request carrying any Upgrade token, not only websocket', async () => {
    expect(await flagApp()('/live', { headers: { upgrade: 'h2c', connection: 'Upgrade' } })).toMatchObject({ cacheBypass: true })
  })

  it('does not flag a plain GET', async () => {
    expect(await flagApp()('/live')).toMatchObject({ cacheBypass: false })
  })

  it('flags the requests a `when` predicate picks, sync or async', async () => {
    const sync = flagApp({ when: (c) => c.req.header('authorization') !== undefined })
    expect(await sync('/me', { headers: { authorization: 'Bearer t' } })).toMatchObject({ cacheBypass: true })
    expect(await sync('/me')).toMatchObject({ cacheBypass: false })
    const async = flagApp({ when: async (c) => c.req.path.startsWith('/private/') })
    expect(await async('/private/x')).toMatchObject({ cacheBypass: true })
    expect(await async('/public/x')).toMatchObject({ cacheBypass: false })
  })

  it('flags an upgrade even when the predicate says no', async () => {
    expect(await flagApp({ when: () => false })('/live', { headers: { upgrade: 'websocket' } })).toMatchObject({ cacheBypass: true })
  })

  it('throws a TypeError naming `when` when it is not a function', () => {
    expect(() => cacheBypass({ when: true as unknown as () => boolean })).toThrow(TypeError)
    expect(() => cacheBypass({ when: true as unknown as () => boolean })).toThrow(/cacheBypass\(\): when must be a function/)
  })

  it('keeps flagged requests out of cache(): neither served from it nor stored', async () => {
    let calls = 0
    const app = new Hono<{ Variables: ForwardingVariables }>()
    app.all('*', cacheBypass({ when: (c) => c.req.header('x-fresh') === '1' }), cache(), (c) => {
      calls++
      return c.text(`answer ${calls}`, 200, { 'cache-control': 'max-age=60' })
    })
    const get = async (fresh: boolean) => {
      const response = await app.request('http://gw.test/page', { headers: fresh ? { 'x-fresh': '1' } : {} })
      return [response.headers.get('x-cache'), await response.text()]
    }
    // A flagged request first: it must not fill the cache for the unflagged one.
    expect(await get(true)).toEqual(['BYPASS', 'answer 1'])
    expect(await get(true)).toEqual(['BYPASS', 'answer 2'])
    expect(await get(false)).toEqual(['MISS', 'answer 3'])
    expect(await get(false)).toEqual(['HIT', 'answer 3'])
    // …and a stored response is not served to a flagged request.
    expect(await get(true)).toEqual(['BYPASS', 'answer 4'])
  })
})
