import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { gzipSync } from 'node:zlib'
import { Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { closedLine, logsWith, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { switchingProtocols, type RawOrigin } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange, readHead, type RawResponse } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'
import { mulberry32 } from '../helpers/random.ts'
import { pattern, splitAt } from '../helpers/wire.ts'

// The raw origin connector (src/node/origin/raw.ts) through a real gateway:
// it parses the origin's answer by hand from whatever pieces TCP delivers,
// relays non-101 answers with their bodies decoded, and after the upgrade
// reads every origin socket into one shared buffer and writes each chunk to
// the client through a recycled slab. These tests feed it answers cut at
// awkward places, and check that concurrent connections never see each
// other's bytes however their reads and writes interleave.

// Gateways, origins and tracked sockets are stopped after each test (gateways are checked for leaks first).
const { gateway: gatewayServing, gatewayWith, wsOrigin, rawOrigin, track } = useResources()

/** Waits one turn of the event loop's check phase, so consecutive writes leave as separate segments. */
function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Writes `bytes` and waits until they are handed to the kernel. */
function writeFlushed(socket: net.Socket, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())))
}

/** Writes each piece on its own, flushed, with a turn of the event loop between: the gateway reads them apart. */
async function writeApart(socket: net.Socket, pieces: (Buffer | string)[]): Promise<void> {
  socket.setNoDelay(true)
  for (const piece of pieces) {
    if (socket.destroyed) return
    await writeFlushed(socket, piece)
    await tick()
  }
}

/** Every single byte of `bytes` as its own piece. */
function byteByByte(bytes: Buffer): Buffer[] {
  return [...bytes].map((byte) => Buffer.from([byte]))
}

/** A response head from its lines (ending with the blank line), as latin1 bytes. */
function headOf(...lines: string[]): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
}

/** A raw client through the gateway: connects, sends a handshake for `path` and reads the answer's head (the socket is then paused). */
async function upgrade(port: number, path = '/raw'): Promise<{ socket: net.Socket; head: string; rest: Buffer }> {
  const socket = track(net.connect(port, '127.0.0.1'))
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(handshakeRequest(path))
  return { socket, ...(await readHead(socket)) }
}

/**
 * Resolves with exactly `length` bytes read from `socket` (starting with
 * `initial`); fails on more bytes, on a close first, or after `timeoutMs`.
 */
function collect(socket: net.Socket, length: number, initial: Buffer = Buffer.alloc(0), timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [initial]
    let received = initial.length
    const finish = (error?: Error): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      if (error) return reject(error)
      if (received > length) return reject(new Error(`expected ${length} bytes, got ${received}`))
      resolve(Buffer.concat(chunks))
    }
    const timer = setTimeout(() => finish(new Error(`received ${received} of ${length} bytes within ${timeoutMs} ms`)), timeoutMs)
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      received += chunk.length
      if (received >= length) finish()
    }
    const onClose = (): void => finish(new Error(`connection closed after ${received} of ${length} bytes`))
    socket.on('data', onData)
    socket.once('close', onClose)
    socket.resume()
    if (received >= length) finish()
  })
}

/** Ends a raw client's connection and waits until it is closed. */
async function hangUp(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return
  const closed = once(socket, 'close')
  socket.end()
  socket.resume()
  await closed
}

/** Waits until `value()` has stayed the same over five polls 10 ms apart (a trigger for "the path is full", never an assertion). */
async function steady(value: () => number): Promise<void> {
  let last = Number.NaN
  let same = 0
  await waitFor(
    () => {
      const now = value()
      same = now === last ? same + 1 : 0
      last = now
      return same >= 5
    },
    10_000,
    'the stream to back up',
  )
}

/** A gateway with `/raw` to `origin` and `/echo` to a fresh ws echo origin. */
async function gatewayTo(origin: RawOrigin, options: Parameters<typeof gatewayWith>[1] = {}): Promise<TestGateway> {
  const echoOrigin = await wsOrigin()
  return gatewayWith({ '/raw': origin.url, '/echo': echoOrigin.url }, options)
}

/** A ws client through the gateway's `/echo` route echoes one message: the gateway still serves. */
async function expectStillServing(gateway: TestGateway): Promise<void> {
  const client = new WebSocket(`${gateway.wsUrl}/echo`)
  client.on('error', () => {})
  await once(client, 'open')
  const reply = once(client, 'message') as Promise<[Buffer]>
  client.send('still serving')
  expect(String((await reply)[0])).toBe('still serving')
  const closed = once(client, 'close')
  client.close(1000)
  await closed
}

/** Asserts a gateway rejection: status, code header and a one-line plain-text reason. */
function expectRejection(response: RawResponse, status: number, code: string, reason: RegExp): void {
  expect(response.status, response.statusLine).toBe(status)
  expect(response.headers['x-wsgate-error']).toBe(code)
  expect(response.headers['content-type']).toMatch(/^text\/plain/)
  expect(response.body).toMatch(reason)
}

describe("the origin's 101", () => {
  it('upgrades when the 101 head arrives byte by byte, and relays what follows', async () => {
    const after = pattern(70_000, 1)
    const origin = await rawOrigin((connection) => {
      void writeApart(connection.socket, byteByByte(Buffer.from(switchingProtocols(connection), 'latin1'))).then(() =>
        connection.socket.write(after),
      )
    })
    const gateway = await gatewayTo(origin)
    const { socket, head, rest } = await upgrade(gateway.port)
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    expect((await collect(socket, after.length, rest)).equals(after)).toBe(true)
    await hangUp(socket)
    expect((await closedLine(gateway)).closedBy).toBe('client')
  })

  it('relays bytes sent in the same write as the end of a 101 that came in pieces to the client first and in order', async () => {
    const first = pattern(100_000, 2)
    const second = pattern(30_000, 3)
    const origin = await rawOrigin((connection) => {
      const head = Buffer.from(switchingProtocols(connection), 'latin1')
      // The head byte by byte up to its blank line's last two bytes; those leave together with the first bytes of the stream.
      const pieces = [...byteByByte(head.subarray(0, head.length - 2)), Buffer.concat([head.subarray(head.length - 2), first]), second]
      void writeApart(connection.socket, pieces)
    })
    const gateway = await gatewayTo(origin)
    const { socket, head, rest } = await upgrade(gateway.port)
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    const all = await collect(socket, first.length + second.length, rest)
    expect(all.equals(Buffer.concat([first, second]))).toBe(true)
    await hangUp(socket)
  })

  it('passes the client bytes to the origin after a 101 that came byte by byte', async () => {
    const upstream = pattern(50_000, 4)
    let atOrigin: Promise<Buffer> | undefined
    const origin = await rawOrigin((connection) => {
      atOrigin = collect(connection.socket, upstream.length)
      void writeApart(connection.socket, byteByByte(Buffer.from(switchingProtocols(connection), 'latin1')))
    })
    const gateway = await gatewayTo(origin)
    const { socket } = await upgrade(gateway.port)
    socket.write(upstream)
    expect((await atOrigin!).equals(upstream)).toBe(true)
    await hangUp(socket)
  })

  it('keeps the bytes sent with the 101 intact while the chain finishes late and other connections read meanwhile', async () => {
    const early = pattern(20_000, 12)
    const origin = await rawOrigin((connection) => {
      if (connection.requestHead.startsWith('GET /late ')) {
        connection.socket.write(Buffer.concat([Buffer.from(switchingProtocols(connection), 'latin1'), early]))
      } else {
        connection.socket.write(switchingProtocols(connection))
        connection.socket.pipe(connection.socket)
      }
    })
    let afterOrigin!: () => void
    const originAnswered = new Promise<void>((resolve) => (afterOrigin = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const app = new Hono<{ Bindings: GatewayBindings }>()
    // A user middleware with work left after the origin answered (an audit write, say): the 101 waits for it.
    app.use(
      '/late',
      createMiddleware(async function audit(_c, next) {
        await next()
        afterOrigin()
        await released
      }),
    )
    app.all('/late', websocket(origin.url))
    app.all('/raw', websocket(origin.url))
    const gw = await gatewayServing(app)

    const other = await upgrade(gw.port, '/raw')
    const late = net.connect(gw.port, '127.0.0.1')
    track(late).on('error', () => {})
    await once(late, 'connect')
    late.write(handshakeRequest('/late'))
    const lateHead = readHead(late)
    await originAnswered
    // Another connection streams through the shared read buffer while the early bytes wait.
    const stream = pattern(1024 * 1024, 13)
    const echoed = collect(other.socket, stream.length, other.rest)
    other.socket.write(stream)
    expect((await echoed).equals(stream)).toBe(true)

    release()
    const { head, rest } = await lateHead
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    expect((await collect(late, early.length, rest)).equals(early)).toBe(true)
    await hangUp(late)
    await hangUp(other.socket)
  })

  const interim: [label: string, heads: Buffer[]][] = [
    ['a 100 Continue', [headOf('HTTP/1.1 100 Continue')]],
    ['a 103 Early Hints with headers', [headOf('HTTP/1.1 103 Early Hints', 'Link: </style.css>; rel=preload; as=style', 'X-Hint: early')]],
    ['a 102 Processing and a 103 Early Hints', [headOf('HTTP/1.1 102 Processing'), headOf('HTTP/1.1 103 Early Hints', 'Link: </a.js>; rel=preload')]],
  ]
  for (const [label, heads] of interim) {
    it(`skips ${label} sent in one write with the 101, and upgrades`, async () => {
      const after = pattern(1_000, 5)
      const origin = await rawOrigin((connection) => {
        connection.socket.write(Buffer.concat([...heads, Buffer.from(switchingProtocols(connection), 'latin1'), after]))
      })
      const gateway = await gatewayTo(origin)
      const { socket, head, rest } = await upgrade(gateway.port)
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
      // The interim answers' headers are not the 101's.
      expect(head.toLowerCase()).not.toContain('link:')
      expect(head.toLowerCase()).not.toContain('x-hint')
      expect((await collect(socket, after.length, rest)).equals(after)).toBe(true)
      await hangUp(socket)
    })
  }

  it('skips a 103 Early Hints that arrives in pieces, apart from the 101, and upgrades', async () => {
    const origin = await rawOrigin((connection) => {
      const hints = headOf('HTTP/1.1 103 Early Hints', 'Link: </style.css>; rel=preload')
      const final = Buffer.from(switchingProtocols(connection), 'latin1')
      void writeApart(connection.socket, [...splitAt(hints, [5, 20, hints.length - 1]), ...splitAt(final, [1, 30])])
    })
    const gateway = await gatewayTo(origin)
    const { socket, head } = await upgrade(gateway.port)
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    expect(head.toLowerCase()).not.toContain('link:')
    await hangUp(socket)
  })

  it("relays the 101 without the origin's hop-by-hop lines, the ones its Connection names, or a body length, and the pipe works", async () => {
    const origin = await rawOrigin((connection) => {
      const extra = ['X-Internal-Token: secret', 'Keep-Alive: timeout=5', 'Transfer-Encoding: chunked', 'Content-Length: 5', 'Trailer: X-Sum', 'Proxy-Connection: keep-alive', 'X-App: kept']
      connection.socket.write(switchingProtocols(connection, extra).replace('Connection: Upgrade', 'Connection: keep-alive, Upgrade, X-Internal-Token'))
      connection.socket.pipe(connection.socket)
    })
    const gateway = await gatewayTo(origin)
    const { socket, head, rest } = await upgrade(gateway.port)
    const lines = head.toLowerCase().split('\r\n')
    expect(lines[0]).toBe('http/1.1 101 switching protocols')
    expect(lines.filter((line) => line.startsWith('connection:'))).toEqual(['connection: upgrade'])
    for (const name of ['x-internal-token', 'keep-alive', 'transfer-encoding', 'content-length', 'trailer', 'proxy-connection']) {
      expect(lines.some((line) => line.startsWith(`${name}:`)), name).toBe(false)
    }
    expect(lines).toContain('x-app: kept')
    expect(lines).toContain('upgrade: websocket')
    const bytes = pattern(10_000, 14)
    socket.write(bytes)
    expect((await collect(socket, bytes.length, rest)).equals(bytes)).toBe(true)
    await hangUp(socket)
  })

  it("relays an origin's own X-Request-Id on the 101 instead of adding a second one, and the gateway's when it has none", async () => {
    const identified = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection, ['X-Request-Id: origin-chosen']))
      connection.socket.pipe(connection.socket)
    })
    const gateway = await gatewayTo(identified)
    const { socket, head } = await upgrade(gateway.port)
    const ids = head.toLowerCase().split('\r\n').filter((line) => line.startsWith('x-request-id:'))
    expect(ids).toEqual(['x-request-id: origin-chosen'])
    await hangUp(socket)

    const plain = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection))
      connection.socket.pipe(connection.socket)
    })
    const second = await gatewayTo(plain)
    const answered = await upgrade(second.port)
    expect(answered.head.toLowerCase().split('\r\n').filter((line) => line.startsWith('x-request-id:'))).toHaveLength(1)
    await hangUp(answered.socket)
  })

  it('relays the final non-101 answer after a 100 Continue', async () => {
    const origin = await rawOrigin(({ socket }) => {
      socket.write(Buffer.concat([headOf('HTTP/1.1 100 Continue'), headOf('HTTP/1.1 403 Forbidden', 'Content-Length: 6'), Buffer.from('denied')]))
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.statusLine).toBe('HTTP/1.1 403 Forbidden')
    expect(response.body).toBe('denied')
  })
})

describe('non-101 answers', () => {
  it('refuses an answer whose body is also coded with a transfer coding other than chunked: 502 ERR_ORIGIN_BAD_HANDSHAKE', async () => {
    const origin = await rawOrigin(({ socket }) => {
      const coded = gzipSync('denied')
      socket.end(Buffer.concat([headOf('HTTP/1.1 403 Forbidden', 'Transfer-Encoding: gzip, chunked'), Buffer.from(`${coded.length.toString(16)}\r\n`), coded, Buffer.from('\r\n0\r\n\r\n')]))
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.status).toBe(502)
    expect(response.headers['x-wsgate-error']).toBe('ERR_ORIGIN_BAD_HANDSHAKE')
    expect(response.body).toContain('transfer coding gzip is not supported')
  })

  it('relays a Content-Length body that arrives over several writes, whole', async () => {
    const body = pattern(200_000, 6)
    const origin = await rawOrigin(({ socket }) => {
      const head = headOf('HTTP/1.1 403 Forbidden', 'Content-Type: application/octet-stream', `Content-Length: ${body.length}`)
      // Split inside the head, at the head/body border, and inside the body; the origin keeps its connection open.
      void writeApart(socket, splitAt(Buffer.concat([head, body]), [10, head.length, head.length + 1, head.length + 70_000, head.length + 150_000]))
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.statusLine).toBe('HTTP/1.1 403 Forbidden')
    expect(response.headers['content-type']).toBe('application/octet-stream')
    expect(Buffer.from(response.body, 'latin1').equals(body)).toBe(true)
  })

  for (const framing of ['content-length', 'chunked'] as const) {
    it(`relays a ${framing} body larger than the socket buffers intact to a client that starts reading late`, async () => {
      // More than the gateway's send buffer can take while the client does not read: the gateway's writes of
      // the body back up, and the origin socket's later reads must not touch the bytes still queued.
      const body = randomStream(Math.min(16 * 1024 * 1024, kernelWriteBufferMax() + 4 * 1024 * 1024), 77)
      let originSocket: net.Socket | undefined
      const origin = await rawOrigin(({ socket }) => {
        originSocket = socket
        if (framing === 'content-length') {
          socket.write(Buffer.concat([headOf('HTTP/1.1 200 OK', `Content-Length: ${body.length}`), body]))
        } else {
          socket.write(headOf('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked'))
          for (let at = 0; at < body.length; at += 100_000) {
            const chunk = body.subarray(at, at + 100_000)
            socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]))
          }
          socket.write('0\r\n\r\n')
        }
      })
      const gateway = await gatewayTo(origin)
      const { socket, head, rest } = await upgrade(gateway.port)
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
      // The origin's buffer stops shrinking once the whole path is full (a trigger, not an assertion).
      await steady(() => originSocket?.writableLength ?? -1)
      const received = await collect(socket, body.length, rest, 20_000)
      expect(createHash('sha256').update(received).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'))
      await hangUp(socket)
    })
  }

  it('relays a chunked body split inside size lines, extensions, data and CRLFs, decoded', async () => {
    const chunks = [pattern(5, 7), pattern(0x1a0, 8), pattern(70_000, 9)]
    const encoded = Buffer.concat([
      ...chunks.flatMap((chunk, i) => [Buffer.from(`${chunk.length.toString(16).toUpperCase()}${i === 1 ? ';ext=1' : ''}\r\n`), chunk, Buffer.from('\r\n')]),
      Buffer.from('0\r\nX-Trailer: t\r\n\r\n'),
    ])
    const head = headOf('HTTP/1.1 503 Service Unavailable', 'Transfer-Encoding: chunked', 'Retry-After: 7')
    const all = Buffer.concat([head, encoded])
    const at = (needle: string, from = 0): number => all.indexOf(needle, from, 'latin1')
    const secondSize = at('1A0;')
    const offsets = [
      head.length + 1, // inside the CRLF after the first size line ("5\r|\n")
      head.length + 3 + 2, // inside the first chunk's data
      head.length + 3 + 5 + 1, // inside the CRLF after the first chunk
      secondSize + 2, // inside the second size line ("1A|0;ext=1")
      secondSize + 5, // inside its extension
      at('\r\n', secondSize) + 1, // inside the CRLF ending it
      at('\r\n0\r\n') + 1, // inside the CRLF after the last data
      at('0\r\nX-Trailer') + 2, // inside the last chunk's CRLF
      at('Trailer') + 2, // inside the trailer
      all.length - 1, // inside the final CRLF
    ].sort((a, b) => a - b)
    const origin = await rawOrigin(({ socket }) => void writeApart(socket, splitAt(all, offsets)))
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.statusLine).toBe('HTTP/1.1 503 Service Unavailable')
    expect(response.headers['retry-after']).toBe('7')
    expect(response.headers).not.toHaveProperty('transfer-encoding')
    expect(Buffer.from(response.body, 'latin1').equals(Buffer.concat(chunks))).toBe(true)
  })

  it('relays a body delimited by the close, whole', async () => {
    const body = pattern(150_000, 10)
    const origin = await rawOrigin(({ socket }) => {
      void writeApart(socket, [headOf('HTTP/1.0 200 OK', 'Content-Type: text/plain'), ...splitAt(body, [1, 65_536, 100_000])]).then(() => socket.end())
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.status).toBe(200)
    expect(Buffer.from(response.body, 'latin1').equals(body)).toBe(true)
  })

  it("ends the client's connection when the origin closes before its Content-Length is reached, and keeps serving", async () => {
    const origin = await rawOrigin(({ socket }) => {
      void writeApart(socket, [headOf('HTTP/1.1 403 Forbidden', 'Content-Length: 1000'), 'only part of it']).then(() => socket.end())
    })
    const gateway = await gatewayTo(origin)
    // rawExchange resolves when the gateway closes the connection, and fails after 5 s: no hang.
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.status).toBe(403)
    expect(response.body).toBe('only part of it')
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the origin connection to close')
    await expectStillServing(gateway)
  })

  it("ends the client's connection when the origin closes in the middle of a chunked body, and keeps serving", async () => {
    const origin = await rawOrigin(({ socket }) => {
      void writeApart(socket, [headOf('HTTP/1.1 500 Internal Server Error', 'Transfer-Encoding: chunked'), '5\r\nhello\r\n', 'A\r\nabc']).then(() =>
        socket.end(),
      )
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.status).toBe(500)
    expect(response.body).toBe('helloabc')
    await expectStillServing(gateway)
  })

  it("ends the client's connection when the origin's chunked framing breaks, and keeps serving", async () => {
    const origin = await rawOrigin(({ socket }) => {
      // The origin keeps its connection open: the gateway must end both sides itself.
      void writeApart(socket, [headOf('HTTP/1.1 500 Internal Server Error', 'Transfer-Encoding: chunked'), '5\r\nhello\r\n', 'zz\r\n'])
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.status).toBe(500)
    expect(response.body).toBe('hello')
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the gateway to drop the origin connection')
    await expectStillServing(gateway)
  })

  it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE to a response head over 16 KiB in one write', async () => {
    const origin = await rawOrigin(({ socket }) => {
      socket.write(headOf('HTTP/1.1 200 OK', ...Array.from({ length: 20 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(1_000)}`)))
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /response head over 16 KiB/)
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the gateway to drop the origin connection')
  })

  it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE to a response head that grows past 16 KiB over many writes without ending', async () => {
    const origin = await rawOrigin(({ socket }) => {
      const lines = Array.from({ length: 40 }, (_, i) => Buffer.from(`X-Filler-${i}: ${'f'.repeat(500)}\r\n`))
      void writeApart(socket, [Buffer.from('HTTP/1.1 101 Switching Protocols\r\n'), ...lines])
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /response head over 16 KiB/)
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the gateway to drop the origin connection')
  })

  it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE to a head with both Transfer-Encoding and Content-Length', async () => {
    const origin = await rawOrigin(({ socket }) => {
      socket.write(Buffer.concat([headOf('HTTP/1.1 403 Forbidden', 'Transfer-Encoding: chunked', 'Content-Length: 5'), Buffer.from('5\r\nhello\r\n0\r\n\r\n')]))
    })
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /both Transfer-Encoding and Content-Length/)
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the gateway to drop the origin connection')
  })

  it('relays agreeing Content-Length copies as one, which a Node client (llhttp) reads as the answer it is', async () => {
    const origin = await rawOrigin(({ socket }) => socket.write(Buffer.concat([headOf('HTTP/1.1 403 Forbidden', 'Content-Length: 6, 6', 'Content-Length: 6'), Buffer.from('denied')])))
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expect(response.statusLine).toBe('HTTP/1.1 403 Forbidden')
    expect(response.raw.toString('latin1').match(/^content-length:.*$/gim)).toEqual(['content-length: 6'])
    expect(response.body).toBe('denied')
    const client = new WebSocket(`${gateway.wsUrl}/raw`)
    client.on('error', () => {})
    const [, answer] = (await once(client, 'unexpected-response')) as [unknown, { statusCode: number }]
    expect(answer.statusCode).toBe(403)
    client.terminate()
  })

  it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE to differing Content-Length headers', async () => {
    const origin = await rawOrigin(({ socket }) => socket.write(headOf('HTTP/1.1 403 Forbidden', 'Content-Length: 5', 'Content-Length: 6')))
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /invalid Content-Length/)
  })

  for (const status of [600, 999]) {
    it(`answers 502 ERR_ORIGIN_BAD_HANDSHAKE to status ${status}`, async () => {
      const origin = await rawOrigin(({ socket }) => socket.write(headOf(`HTTP/1.1 ${status} Beyond`, 'Content-Length: 0')))
      const gateway = await gatewayTo(origin)
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', new RegExp(`status ${status}`))
    })
  }

  for (const status of ['000', '099']) {
    it(`answers 502 ERR_ORIGIN_BAD_HANDSHAKE to status ${status}, and keeps serving`, async () => {
      const origin = await rawOrigin(({ socket }) => socket.write(headOf(`HTTP/1.1 ${status} Below`, 'Content-Length: 0')))
      const gateway = await gatewayTo(origin)
      const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
      expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /not an HTTP response/)
      await expectStillServing(gateway)
    })
  }

  it('answers 502 ERR_ORIGIN_BAD_HANDSHAKE to a header value ending in a control byte', async () => {
    const origin = await rawOrigin(({ socket }) => socket.write(headOf('HTTP/1.1 403 Forbidden', 'X-Bad: value\x0b', 'Content-Length: 0')))
    const gateway = await gatewayTo(origin)
    const response = await rawExchange(gateway.port, handshakeRequest('/raw'))
    expectRejection(response, 502, 'ERR_ORIGIN_BAD_HANDSHAKE', /invalid value for header X-Bad/)
  })
})

describe('teardown of the relay', () => {
  it('releases the origin connection at once when the client drops while the origin is streaming', async () => {
    let streaming = true
    const origin = await rawOrigin((connection) => {
      const { socket } = connection
      socket.write(switchingProtocols(connection))
      const chunk = pattern(16 * 1024, 11)
      // Streams for as long as the connection lasts, as fast as the gateway takes it.
      const pump = (): void => {
        while (streaming && !socket.destroyed && !socket.writableEnded) {
          if (!socket.write(chunk)) return void socket.once('drain', pump)
        }
      }
      socket.on('end', () => socket.end())
      pump()
    })
    // No half-close fallback within the test: the origin connection must close because the gateway read its end.
    const gateway = await gatewayTo(origin, { halfCloseTimeout: 120_000 })
    const { socket, rest } = await upgrade(gateway.port)
    // The stream is flowing to the client...
    let received = rest.length
    socket.on('data', (chunk: Buffer) => (received += chunk.length))
    socket.resume()
    await waitFor(() => received >= 200_000, 5_000, 'the stream to reach the client')
    // ...when it goes away.
    socket.destroy()
    await waitFor(() => origin.sockets.size === 0, 5_000, 'the gateway to close the origin connection')
    streaming = false
    expect((await closedLine(gateway)).closedBy).toMatch(/client|error/)
  })
})

describe('teardown of a stalled pipe', () => {
  it('releases the client connection at once when the origin drops while the client is held back by backpressure', async () => {
    const origin = await rawOrigin((connection) => {
      connection.socket.write(switchingProtocols(connection))
      // The origin never reads: the gateway stops reading the client once its writes to the origin back up.
      connection.socket.pause()
    })
    const gateway = await gatewayTo(origin, { halfCloseTimeout: 120_000 })
    const { socket } = await upgrade(gateway.port)
    socket.resume()
    // Far more than the kernel buffers between the client and a non-reading origin hold.
    socket.write(Buffer.alloc(32 * 1024 * 1024, 0x5a))
    // The client's own buffer stops shrinking once the whole path is full (a trigger, not an assertion).
    await steady(() => socket.writableLength)
    let closed = false
    socket.once('close', () => (closed = true))
    origin.connections[0]!.socket.destroy()
    // The gateway ends the client; the client answers with its own FIN, which the gateway must read
    // although it had stopped reading the client: no half-close fallback within the test.
    await waitFor(() => closed, 5_000, 'the client connection to close')
    await waitFor(() => gateway.connections === 0, 5_000, 'the pipe to end')
    // The origin's close comes as a FIN or, with the gateway's bytes unread, as a reset.
    const line = await closedLine(gateway)
    expect(line.closedBy === 'origin' || String(line.error).startsWith('origin '), JSON.stringify(line)).toBe(true)
  })
})

/** `size` pseudo-random bytes from `seed`. */
function randomStream(size: number, seed: number): Buffer {
  const next = mulberry32(seed)
  const bytes = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i += 4) {
    const word = Math.floor(next() * 4_294_967_296)
    for (let j = 0; j < 4 && i + j < size; j++) bytes[i + j] = (word >>> (8 * j)) & 0xff
  }
  return bytes
}

/** The greeting the integrity test's echo origin sends with its 101: 0–8 KiB, different for every seed. */
function greeting(seed: number): Buffer {
  return randomStream((seed * 389) % 8_192, seed * 7)
}

/** One client of the integrity test: what it sends and how it fares. */
interface StreamClient {
  readonly socket: net.Socket
  /** Every byte it should read back: the origin's greeting, then the echo of what it sends. */
  readonly expected: { sha256: string; length: number }
  /** Resolves once every byte has been written. */
  readonly written: Promise<void>
  /** Resolves with the SHA-256 and length of what was read back, once `expected.length` bytes have come. */
  readonly echoed: Promise<{ sha256: string; length: number }>
  /** Starts reading (a client opened with `reading: false` does not read until then). */
  read(): void
}

/**
 * Opens a client through the gateway to the integrity test's echo origin,
 * and sends `sent` in writes of pseudo-random sizes (1 byte to 96 KiB),
 * waiting for 'drain' when the socket says so.
 */
async function streamClient(port: number, sent: Buffer, seed: number, reading: boolean, timeoutMs: number): Promise<StreamClient> {
  const { socket, head, rest } = await upgrade(port, `/raw?seed=${seed}`)
  expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
  socket.setNoDelay(true)
  const hello = greeting(seed)
  const expected = { sha256: createHash('sha256').update(hello).update(sent).digest('hex'), length: hello.length + sent.length }
  const hash = createHash('sha256').update(rest)
  let received = rest.length
  const echoed = new Promise<{ sha256: string; length: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client ${seed}: ${received} of ${expected.length} bytes came back within ${timeoutMs} ms`)), timeoutMs)
    const check = (): void => {
      if (received < expected.length) return
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      // More than expected would be another connection's bytes: the caller compares lengths.
      resolve({ sha256: hash.digest('hex'), length: received })
    }
    const onData = (chunk: Buffer): void => {
      hash.update(chunk)
      received += chunk.length
      check()
    }
    const onClose = (): void => {
      clearTimeout(timer)
      reject(new Error(`client ${seed}: closed after ${received} of ${expected.length} bytes`))
    }
    socket.on('data', onData)
    socket.once('close', onClose)
    check()
  })
  echoed.catch(() => {})
  // readHead() left the socket paused.
  if (reading) socket.resume()
  const next = mulberry32(seed ^ 0x5eed)
  const written = (async () => {
    let at = 0
    while (at < sent.length) {
      // Mostly mid-size writes, some tiny ones, some past the 64 KiB read size.
      const size = next() < 0.2 ? 1 + Math.floor(next() * 16) : 1 + Math.floor(next() * 96 * 1024)
      const piece = sent.subarray(at, Math.min(sent.length, at + size))
      at += piece.length
      if (!socket.write(piece)) await once(socket, 'drain')
    }
  })()
  written.catch(() => {})
  return { socket, expected, written, echoed, read: () => socket.resume() }
}

/** The largest TCP send buffer the kernel grows a socket to (tcp_wmem's maximum); 4 MiB where it cannot be read. */
function kernelWriteBufferMax(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'latin1').trim().split(/\s+/)[2]) || 4 * 1024 * 1024
  } catch {
    return 4 * 1024 * 1024
  }
}

describe('integrity of concurrent relays through the shared read buffer', () => {
  const CONNECTIONS = 30
  const MiB = 1024 * 1024
  const TIMEOUT_MS = 45_000

  /**
   * A raw origin that answers 101 with a greeting for the client's `seed`
   * in the same write (bytes that wait in the gateway while other
   * connections' handshakes read into the shared buffer), then echoes
   * every byte back on the same connection.
   */
  function echoOrigin(): Promise<RawOrigin> {
    return rawOrigin((connection) => {
      const seed = Number(/[?&]seed=(\d+)/.exec(connection.requestHead.split('\r\n')[0]!)?.[1])
      connection.socket.write(Buffer.concat([Buffer.from(switchingProtocols(connection), 'latin1'), greeting(seed)]))
      connection.socket.pipe(connection.socket)
    })
  }

  /** A stream of `base` plus 0–2 MiB for connection `i`, different for every connection. */
  function streamFor(i: number, base: number): Buffer {
    return randomStream(base + Math.floor(mulberry32(42 + i)() * 2 * MiB), 1_000 + i)
  }

  /** Checks that each client read back exactly its own bytes, then hangs up all of them. */
  async function expectOwnBytes(clients: StreamClient[], results: { sha256: string; length: number }[]): Promise<void> {
    results.forEach((result, i) => {
      expect(result.length, `connection ${i}: bytes back`).toBe(clients[i]!.expected.length)
      expect(result.sha256, `connection ${i}: the bytes back are its own`).toBe(clients[i]!.expected.sha256)
    })
    await Promise.all(clients.map((client) => hangUp(client.socket)))
  }

  it('gives each of 30 connections exactly its own bytes back when every client reads as fast as it can', async () => {
    const origin = await echoOrigin()
    const gateway = await gatewayTo(origin)
    const clients = await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, i) => streamClient(gateway.port, streamFor(i, 2 * MiB), 1_000 + i, true, TIMEOUT_MS)),
    )
    const results = await Promise.all(clients.map((client) => client.echoed))
    await Promise.all(clients.map((client) => client.written))
    await expectOwnBytes(clients, results)
    await waitFor(() => gateway.connections === 0, 5_000, 'every pipe to end')
    expect(logsWith(gateway, 'connection closed')).toHaveLength(CONNECTIONS)
  })

  it('gives each of 30 connections exactly its own bytes back when half the clients stop reading for a while', async () => {
    const origin = await echoOrigin()
    const gateway = await gatewayTo(origin)
    // Odd clients do not read at first. They send more than the gateway's socket send buffer can take
    // (Linux grows it up to tcp_wmem's maximum, 4 MiB by default), so the gateway's writes to them
    // cannot complete at once: slabs stay in flight while the others keep reading into the shared buffer.
    const stalledBase = Math.min(16 * MiB, kernelWriteBufferMax() + 2 * MiB)
    const clients = await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, i) =>
        streamClient(gateway.port, streamFor(i, i % 2 === 1 ? stalledBase : 2 * MiB), 1_000 + i, i % 2 === 0, TIMEOUT_MS),
      ),
    )
    const readers = clients.filter((_, i) => i % 2 === 0)
    const stalled = clients.filter((_, i) => i % 2 === 1)

    const readerResults = await Promise.all(readers.map((client) => client.echoed))
    // Each stalled client has written everything into the pipe, or is held back by its backpressure.
    const finished = stalled.map((client) => {
      let done = false
      void client.written.then(() => (done = true))
      return () => done
    })
    await waitFor(() => stalled.every((client, i) => finished[i]!() || client.socket.writableNeedDrain), 10_000, 'the stalled clients to back up')
    for (const client of stalled) client.read()
    const stalledResults = await Promise.all(stalled.map((client) => client.echoed))

    await Promise.all(clients.map((client) => client.written))
    await expectOwnBytes(readers, readerResults)
    await expectOwnBytes(stalled, stalledResults)
    await waitFor(() => gateway.connections === 0, 5_000, 'every pipe to end')
  })
})
