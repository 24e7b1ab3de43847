import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ECHO_ROUTE, startClientGateway, type ClientGateway } from '../helpers/client-gateway.ts'
import { expectCompressed, expectEchoed, headLine, MESSAGES, type PortableMessage } from '../helpers/client-traffic.ts'
import { closedLine, logsWith } from '../helpers/gateway.ts'

/**
 * Node's two WebSocket clients through wsgate to a `ws` origin with
 * permessage-deflate on: `ws` with the token in `Authorization`, Node's
 * built-in `WebSocket` (undici's, which cannot set headers) with the token
 * in the query. The extension is negotiated by client and origin, the
 * gateway relaying both heads and piping the compressed frames raw.
 */

let started: ClientGateway | undefined

afterEach(async () => {
  await started?.close()
  started = undefined
})

/** Sends every message, then resolves with as many echoes, in order; `receive` registers the listener. */
async function exchange(
  send: (message: (typeof MESSAGES)[number]) => void,
  receive: (onMessage: (message: PortableMessage) => void) => void,
): Promise<PortableMessage[]> {
  const received: PortableMessage[] = []
  const all = new Promise<void>((resolve) => {
    receive((message) => {
      received.push(message)
      if (received.length === MESSAGES.length) resolve()
    })
  })
  for (const message of MESSAGES) send(message)
  await all
  return received
}

describe('the ws client through wsgate', () => {
  it('negotiates permessage-deflate with the origin end to end and gets every text and binary message back byte-exact, compressed both ways on the wire', async () => {
    started = await startClientGateway()
    const { gateway, origin } = started
    const token = await started.token('ws-client')
    // ws offers permessage-deflate by default and compresses messages of 1 KiB and more: the large ones here.
    const client = new WebSocket(`${gateway.wsUrl}${ECHO_ROUTE}`, { headers: { authorization: `Bearer ${token}` } })
    try {
      const [[response]] = (await Promise.all([once(client, 'upgrade'), once(client, 'open')])) as [[IncomingMessage], unknown]

      expect(client.extensions).toBe('permessage-deflate')
      const [upgrade] = origin.upgrades
      expect(upgrade!.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits')
      expect(upgrade!.extensions).toBe('permessage-deflate')
      // The origin's answer reached the client as the origin wrote it.
      expect(response.headers['sec-websocket-extensions']).toBe(headLine(upgrade!.answer, 'sec-websocket-extensions'))
      // jwtAuth() took the token out before the origin.
      expect(upgrade!.headers.authorization).toBeUndefined()

      const received = await exchange(
        (message) => client.send(message.data, { binary: message.kind === 'binary' }),
        (onMessage) =>
          client.on('message', (data: Buffer, isBinary: boolean) =>
            onMessage(isBinary ? { kind: 'binary', base64: data.toString('base64') } : { kind: 'text', text: data.toString('utf8') }),
          ),
      )
      expectEchoed(received)

      const closed = once(client, 'close') as Promise<[number, Buffer]>
      client.close(1000, 'done')
      const [code, reason] = await closed
      expect([code, String(reason)]).toEqual([1000, 'done'])
      const line = await closedLine(gateway, ECHO_ROUTE)
      expect(line.reqId).toBe(response.headers['x-request-id'])
      expectCompressed(line.bytesFromClient, 'client to origin')
      expectCompressed(line.bytesFromOrigin, 'origin to client')
      expect(logsWith(gateway, 'handshake accepted')[0]).toMatchObject({ jwt: { source: 'header', sub: 'ws-client' } })
    } finally {
      client.terminate()
    }
  })
})

describe("Node's built-in WebSocket (undici) through wsgate", () => {
  it('negotiates permessage-deflate with the origin end to end and gets every text and binary message back byte-exact', async () => {
    started = await startClientGateway()
    const { gateway, origin } = started
    const token = await started.token('undici-client')
    const client = new globalThis.WebSocket(`${gateway.wsUrl}${ECHO_ROUTE}?access_token=${token}`)
    client.binaryType = 'arraybuffer'
    try {
      await new Promise<void>((resolve, reject) => {
        client.addEventListener('open', () => resolve())
        client.addEventListener('error', () => reject(new Error('the built-in WebSocket failed to connect')))
      })

      expect(client.extensions).toBe('permessage-deflate')
      const [upgrade] = origin.upgrades
      expect(upgrade!.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate\b/)
      expect(upgrade!.extensions).toBe('permessage-deflate')
      expect(client.extensions).toBe(headLine(upgrade!.answer, 'sec-websocket-extensions'))
      // jwtAuth() took the token out of the query before the origin.
      expect(upgrade!.url).toBe(ECHO_ROUTE)

      const received = await exchange(
        (message) => client.send(message.kind === 'text' ? message.data : new Uint8Array(message.data)),
        (onMessage) =>
          client.addEventListener('message', (event: MessageEvent<string | ArrayBuffer>) =>
            onMessage(typeof event.data === 'string' ? { kind: 'text', text: event.data } : { kind: 'binary', base64: Buffer.from(event.data).toString('base64') }),
          ),
      )
      expectEchoed(received)

      const closed = new Promise<CloseEvent>((resolve) => client.addEventListener('close', resolve))
      client.close(1000, 'done')
      expect(await closed).toMatchObject({ code: 1000, reason: 'done', wasClean: true })
      const line = await closedLine(gateway, ECHO_ROUTE)
      // undici (Node 24) inflates what it receives but sends its own frames uncompressed, as RFC 7692 allows: only the origin's direction shrinks.
      expectCompressed(line.bytesFromOrigin, 'origin to client')
      expect(logsWith(gateway, 'handshake accepted')[0]).toMatchObject({ jwt: { source: 'query', sub: 'undici-client' } })
    } finally {
      client.close()
    }
  })
})
