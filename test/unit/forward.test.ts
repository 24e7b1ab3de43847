import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { replaceRequest } from '../../src/forward.ts'

describe('replaceRequest()', () => {
  for (const [name, changes] of [
    ['new headers only', { headers: new Headers({ 'x-a': '1' }) }],
    ['a new URL (a token stripped from the query)', { url: new URL('http://gw.test/api?room=1') }],
  ] as const) {
    it(`keeps the client's abort signal when it replaces the request with ${name}`, async () => {
      const client = new AbortController()
      let replaced: Request | undefined
      const app = new Hono().post('/api', (c) => {
        replaceRequest(c, changes)
        replaced = c.req.raw
        return c.text('ok')
      })
      const response = await app.request(new Request('http://gw.test/api?room=1&access_token=x', { method: 'POST', body: 'data', signal: client.signal }))
      expect(response.status).toBe(200)
      expect(replaced!.signal.aborted).toBe(false)
      client.abort()
      expect(replaced!.signal.aborted).toBe(true)
      expect(replaced!.method).toBe('POST')
    })
  }
})
