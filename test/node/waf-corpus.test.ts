import { once } from 'node:events'
import http from 'node:http'
import type net from 'node:net'
import { describe, expect, it } from 'vitest'
import type { HandshakeFacts } from '../../middleware/waf/types.ts'
import { ATTACKS, ATTACKS_PARANOIA_2 } from '../fixtures/waf/attacks.ts'
import { BENIGN, CRS_FALSE_POSITIVES } from '../fixtures/waf/benign.ts'
import { REALTIME } from '../fixtures/waf/realtime.ts'
import { rawExchange } from '../helpers/raw-client.ts'

/** The bytes a client sends for `facts`: request line, headers in order, blank line. */
function wireBytes(facts: HandshakeFacts): Buffer {
  const head = [`${facts.method} ${facts.rawTarget} ${facts.protocol}`, ...facts.headers.map(([name, value]) => `${name}: ${value}`)]
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1')
}

describe('the WAF corpora on the wire', () => {
  it("reach an upgrade handler through Node's HTTP parser, request target and header list intact", async () => {
    const seen = new Map<string, { url: string; rawHeaders: string[] }>()
    const server = http.createServer((_request, response) => response.end())
    server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket) => {
      seen.set(String(request.headers['x-corpus-id']), { url: request.url ?? '', rawHeaders: request.rawHeaders })
      socket.end('HTTP/1.1 418 Reached\r\nConnection: close\r\n\r\n')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as net.AddressInfo).port
    try {
      const cases = [...ATTACKS, ...ATTACKS_PARANOIA_2, ...BENIGN, ...CRS_FALSE_POSITIVES, ...REALTIME]
      const refused: string[] = []
      for (const { id, facts } of cases) {
        // The id rides in an extra last header so the server side can tell the cases apart.
        const response = await rawExchange(port, wireBytes({ ...facts, headers: [...facts.headers, ['X-Corpus-Id', id]] }))
        if (response.status !== 418) refused.push(`${id}: ${response.statusLine}`)
      }
      expect(refused).toEqual([])
      for (const { id, facts } of cases) {
        const request = seen.get(id)
        expect(request?.url, id).toBe(facts.rawTarget)
        expect(request?.rawHeaders.slice(0, -2), id).toEqual(facts.headers.flat())
      }
    } finally {
      server.close()
    }
  })
})
