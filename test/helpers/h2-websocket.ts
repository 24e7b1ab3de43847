import { once } from 'node:events'
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import { randomBytes } from 'node:crypto'
import { frame } from './wire.ts'

/**
 * A WebSocket client over HTTP/2 (RFC 8441) for the tests: Node's `http2`
 * client sends the extended CONNECT, and this does the WebSocket framing
 * itself (masked frames out, unmasked frames in).
 */

/** Opens an HTTP/2 session to `url` trusting `ca`, and waits for the server's SETTINGS. */
export async function connectH2(url: string, ca: string, servername: string): Promise<ClientHttp2Session> {
  const session = http2.connect(url, { ca, servername })
  session.on('error', () => {})
  await once(session, 'remoteSettings')
  return session
}

/**
 * {@link connectH2} to a gateway's TLS listener, trusting the suite's CA for
 * `servername`; the session is destroyed by `cleanups` after the test.
 *
 * @example
 * const client = await h2SessionTo(gateway, certificates, NAME, cleanups)
 */
export async function h2SessionTo(gateway: { readonly tlsPort?: number | undefined }, certificates: { readonly ca: { readonly cert: string } }, servername: string, cleanups: (() => unknown)[]): Promise<ClientHttp2Session> {
  const client = await connectH2(`https://127.0.0.1:${gateway.tlsPort}`, certificates.ca.cert, servername)
  cleanups.push(() => client.destroy())
  return client
}

/** One received frame. */
export interface ReceivedFrame {
  readonly opcode: number
  readonly fin: boolean
  readonly payload: Buffer
}

/** A WebSocket on an HTTP/2 stream. */
export interface H2WebSocket {
  readonly stream: ClientHttp2Stream
  /** The response's header block (`:status` 200 when accepted). */
  readonly headers: IncomingHttpHeaders
  /** Frames received so far, in order (with `read: false`, none until {@link startReading}). */
  readonly frames: ReceivedFrame[]
  /** Sends one masked frame; resolves once the stream has taken it. */
  send(opcode: number, payload: Buffer | string): Promise<void>
  /** Resolves with the next frame received (already received ones first). */
  next(): Promise<ReceivedFrame>
  /** Starts reading the stream (when opened with `read: false`). */
  startReading(): void
}

/**
 * Sends an extended CONNECT for `path` and resolves once the response head
 * has come (whatever its status). `headers` are extra fields
 * (`sec-websocket-version: 13` unless given).
 */
export async function openH2WebSocket(
  session: ClientHttp2Session,
  path: string,
  headers: OutgoingHttpHeaders = {},
  options: { read?: boolean } = {},
): Promise<H2WebSocket> {
  const stream = session.request(
    { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': path, 'sec-websocket-version': '13', ...headers },
    { endStream: false },
  )
  stream.on('error', () => {})
  const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders]
  const frames: ReceivedFrame[] = []
  const waiting: ((frame: ReceivedFrame) => void)[] = []
  let taken = 0
  let buffered: Buffer = Buffer.alloc(0)
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    for (;;) {
      const parsed = parseFrame(buffered)
      if (!parsed) break
      buffered = buffered.subarray(parsed.size)
      frames.push(parsed.frame)
      const waiter = waiting.shift()
      if (waiter) waiter(frames[taken++]!)
    }
  }
  let reading = false
  const startReading = (): void => {
    if (reading) return
    reading = true
    stream.on('data', onData)
  }
  if (options.read !== false) startReading()
  return {
    stream,
    headers: response,
    frames,
    send: (opcode, payload) =>
      new Promise<void>((resolve, reject) => {
        stream.write(frame(opcode, payload, { mask: randomBytes(4) }), (error) => (error ? reject(error) : resolve()))
      }),
    next: () => (taken < frames.length ? Promise.resolve(frames[taken++]!) : new Promise((resolve) => waiting.push(resolve))),
    startReading,
  }
}

/** One unmasked frame at the start of `bytes`, or undefined when it is not all there. */
export function parseFrame(bytes: Buffer): { frame: ReceivedFrame; size: number } | undefined {
  if (bytes.length < 2) return undefined
  const masked = (bytes[1]! & 0x80) !== 0
  let length = bytes[1]! & 0x7f
  let at = 2
  if (length === 126) {
    if (bytes.length < 4) return undefined
    length = bytes.readUInt16BE(2)
    at = 4
  } else if (length === 127) {
    if (bytes.length < 10) return undefined
    length = Number(bytes.readBigUInt64BE(2))
    at = 10
  }
  if (masked) throw new Error('a server frame must not be masked (RFC 6455 §5.1)')
  if (bytes.length < at + length) return undefined
  return { frame: { opcode: bytes[0]! & 0x0f, fin: (bytes[0]! & 0x80) !== 0, payload: Buffer.from(bytes.subarray(at, at + length)) }, size: at + length }
}

/** Reads a response body as text. */
export async function readBody(stream: ClientHttp2Stream): Promise<string> {
  let text = ''
  stream.setEncoding('utf8')
  for await (const chunk of stream) text += chunk as string
  return text
}
