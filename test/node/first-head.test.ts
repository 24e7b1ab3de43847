import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanUpgradeHead, HEAD_END } from '../../src/node/first-head.ts'
import { fuzzCase } from '../helpers/fuzz.ts'
import { TEST_KEY } from '../helpers/raw-client.ts'

/**
 * The gateway reads a connection's first head itself only when it is one
 * Node's own server would have reported to an 'upgrade' listener, with the
 * same request line and field lines: checked here against a real Node
 * server (llhttp) for every head of a corpus and of a seeded fuzz run that
 * cleanUpgradeHead() takes. A head it leaves goes to Node's server anyway.
 */

/** What Node's server made of one connection's bytes. */
type NodeVerdict = { kind: 'upgrade'; method: string; url: string; httpVersion: string; rawHeaders: string[] } | { kind: 'request' } | { kind: 'error'; code: string } | { kind: 'nothing' }

let server: http.Server
let port: number
const verdicts = new Map<number, (verdict: NodeVerdict) => void>()

/** The client port a verdict belongs to: one connection per head. */
function settle(socket: net.Socket, verdict: NodeVerdict): void {
  verdicts.get(socket.remotePort!)?.(verdict)
  socket.destroy()
}

beforeAll(async () => {
  // Above every head here: the gateway leaves a head past Node's limit (its own is larger) to Node anyway.
  server = http.createServer({ requireHostHeader: false, maxHeaderSize: 64 * 1024 }, (request, response) => {
    settle(request.socket, { kind: 'request' })
    response.destroy()
  })
  server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket) => {
    const { method, url, httpVersion, rawHeaders } = request
    settle(socket, { kind: 'upgrade', method: method!, url: url!, httpVersion, rawHeaders })
  })
  server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => settle(socket, { kind: 'error', code: error.code ?? 'unknown' }))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  port = (server.address() as net.AddressInfo).port
})

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

/** Sends `bytes` on a connection of its own and reports what Node's server made of them. */
async function nodeVerdict(bytes: Buffer): Promise<NodeVerdict> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  const verdict = new Promise<NodeVerdict>((resolve) => {
    verdicts.set(socket.localPort!, resolve)
    // A head Node's parser waits on (it is not complete to it): nothing, once the connection ends.
    socket.once('close', () => resolve({ kind: 'nothing' }))
  })
  socket.end(bytes)
  const result = await verdict
  verdicts.delete(socket.localPort!)
  socket.destroy()
  return result
}

/** What the gateway takes of `bytes` as a first head, or undefined when it leaves them to Node. */
function taken(bytes: Buffer): ReturnType<typeof cleanUpgradeHead> {
  const end = bytes.indexOf(HEAD_END)
  return end < 0 ? undefined : cleanUpgradeHead(bytes, end)
}

const BASE = ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${TEST_KEY}`, 'Sec-WebSocket-Version: 13']
const head = (...lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`

/** Heads to mutate: a bare handshake, a browser's, an absolute-form one, one with odd spellings. */
const TEMPLATES = [
  head('GET /echo HTTP/1.1', 'Host: 127.0.0.1', ...BASE),
  head(
    'GET /echo?room=1&x=%7e HTTP/1.1',
    'Host: chat.example.com:8080',
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64)',
    'Origin: https://app.example.com',
    'Cookie: theme=dark; sid=4f2a9c',
    'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
    ...BASE,
  ),
  head('GET http://127.0.0.1:8080/echo?x=1 HTTP/1.1', 'Host: example.com', ...BASE),
  head('GET /x/../echo HTTP/1.1', 'connection: keep-alive, Upgrade', 'upgrade: WebSocket', 'host: [::1]:8080', `sec-websocket-key: ${TEST_KEY}`, 'sec-websocket-version: 13'),
]

describe('cleanUpgradeHead(): the first heads the gateway reads itself', () => {
  it('takes a browser handshake, with its request line and field lines as Node reports them', async () => {
    const bytes = Buffer.from(TEMPLATES[1]!, 'latin1')
    const mine = taken(bytes)
    expect(mine).toBeDefined()
    expect(await nodeVerdict(bytes)).toEqual({ kind: 'upgrade', ...mine })
  })

  it.each([
    ['a plain request', head('GET /echo HTTP/1.1', 'Host: a')],
    ['an Upgrade without the upgrade option in Connection', head('GET /echo HTTP/1.1', 'Host: a', 'Upgrade: websocket', 'Connection: keep-alive')],
    ['a Connection upgrade without Upgrade', head('GET /echo HTTP/1.1', 'Host: a', 'Connection: Upgrade')],
    ['another method', head('POST /echo HTTP/1.1', 'Host: a', ...BASE)],
    ['HTTP/1.0', head('GET /echo HTTP/1.0', 'Host: a', ...BASE)],
    ['a body length', head('GET /echo HTTP/1.1', 'Host: a', 'Content-Length: 0', ...BASE)],
    ['a transfer coding', head('GET /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', ...BASE)],
    ['obs-fold', head('GET /echo HTTP/1.1', 'Host: a', 'X-A: 1', ' 2', ...BASE)],
    ['a space before the colon', head('GET /echo HTTP/1.1', 'Host : a', ...BASE)],
    ['a bare LF', `GET /echo HTTP/1.1\r\nHost: a\nX: y\r\n${BASE.join('\r\n')}\r\n\r\n`],
    ['a bare CR', `GET /echo HTTP/1.1\r\nHost: a\rX: y\r\n${BASE.join('\r\n')}\r\n\r\n`],
    ['a NUL in a value', head('GET /echo HTTP/1.1', 'Host: a\0b', ...BASE)],
    ['a byte above 0x7e', head('GET /echo HTTP/1.1', 'Host: a', 'X-Name: caf\xe9', ...BASE)],
    ['two spaces in the request line', head('GET  /echo HTTP/1.1', 'Host: a', ...BASE)],
    ['a lower-case method', head('get /echo HTTP/1.1', 'Host: a', ...BASE)],
    ['a line without a colon', head('GET /echo HTTP/1.1', 'Host: a', 'junk', ...BASE)],
  ])('leaves %s to Node', (_what, text) => {
    expect(taken(Buffer.from(text, 'latin1'))).toBeUndefined()
  })

  it('takes a target with any printable ASCII byte only where Node reports the same upgrade', async () => {
    let takenCount = 0
    for (let code = 0x21; code <= 0x7e; code++) {
      const bytes = Buffer.from(head(`GET /a${String.fromCharCode(code)}b HTTP/1.1`, 'Host: a', ...BASE), 'latin1')
      const mine = taken(bytes)
      if (!mine) continue
      takenCount++
      expect(await nodeVerdict(bytes), `target byte 0x${code.toString(16)}`).toEqual({ kind: 'upgrade', ...mine })
    }
    expect(takenCount).toBeGreaterThan(80)
  })

  it('takes no fuzzed head Node would not report as the same upgrade (seeded mutations of valid handshakes)', async () => {
    const SEED = 0x5eed1
    let takenCount = 0
    const differing: string[] = []
    for (let index = 0; index < 1_500; index++) {
      const { bytes, mutations } = fuzzCase(SEED, index, TEMPLATES)
      const mine = taken(bytes)
      if (!mine) continue
      takenCount++
      const node = await nodeVerdict(bytes)
      if (JSON.stringify(node) !== JSON.stringify({ kind: 'upgrade', ...mine })) differing.push(`case ${SEED}/${index} (${mutations.join(', ')}): Node ${JSON.stringify(node).slice(0, 120)}`)
    }
    expect(differing).toEqual([])
    // The run must exercise the comparison, not only the refusals.
    expect(takenCount).toBeGreaterThan(100)
  })
})
