/** `startEchoOrigin()`'s `url` is one `websocket()` and a client can use, on IPv4 and IPv6 loopback alike. */
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { startEchoOrigin } from '../../src/node/echo-origin.ts'

describe('startEchoOrigin() url', () => {
  it('puts an IPv6 host in brackets, and a client reaches the echo at it', async () => {
    const echo = await startEchoOrigin({ host: '::1' })
    try {
      expect(echo.url).toBe(`ws://[::1]:${echo.port}`)
      const client = new WebSocket(echo.url)
      await once(client, 'open')
      client.send('over IPv6')
      const [data] = (await once(client, 'message')) as [Buffer]
      expect(data.toString()).toBe('over IPv6')
      client.close()
    } finally {
      await echo.close()
    }
  })
})
