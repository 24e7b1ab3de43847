import type { IncomingHttpHeaders } from 'node:http'
import { expect } from 'vitest'
import type { WebSocket } from 'ws'
import { echo, startWsOrigin, type WsOrigin } from './origins.ts'
import { mulberry32 } from './random.ts'

/**
 * What the real-client suites (test/clients/) send through the gateway and
 * the origin they send it to: the same messages for every client, and an
 * echoing `ws` origin with permessage-deflate on that records each upgrade.
 */

/** One message of the exchange: a text (UTF-8 on the wire) or binary bytes. */
export type ClientMessage = { readonly kind: 'text'; readonly data: string } | { readonly kind: 'binary'; readonly data: Buffer }

/** A message as JSON can carry it to a page or a child process: text as it is, binary as base64. */
export interface PortableMessage {
  readonly kind: 'text' | 'binary'
  readonly text?: string
  readonly base64?: string
}

const random = mulberry32(15)
const noise = Buffer.alloc(16 * 1024)
for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(random() * 256)

/**
 * The exchange, in order. Edge cases a codec gets wrong: an empty message
 * (deflate writes a special empty block), characters of 2, 3 and 4 UTF-8
 * bytes, every byte value, incompressible bytes. The two large compressible
 * messages make up most of the volume, so the wire bytes tell whether
 * deflate ran (see {@link expectCompressed}).
 */
export const MESSAGES: readonly ClientMessage[] = [
  { kind: 'text', data: 'hello through wsgate' },
  { kind: 'text', data: '' },
  { kind: 'text', data: 'héllo wörld ✓ 𝄞 🚀' },
  { kind: 'text', data: 'wsgate '.repeat(20_000) },
  { kind: 'binary', data: Buffer.from(Array.from({ length: 256 }, (_, i) => i)) },
  { kind: 'binary', data: noise },
  { kind: 'binary', data: Buffer.alloc(64 * 1024, 'ab') },
]

/** The payload bytes of {@link MESSAGES}, UTF-8 for texts. */
export const PAYLOAD_BYTES = MESSAGES.reduce((sum, message) => sum + Buffer.byteLength(message.data), 0)

/** {@link MESSAGES} as JSON-safe values. */
export const PORTABLE_MESSAGES: readonly PortableMessage[] = MESSAGES.map((message) =>
  message.kind === 'text' ? { kind: 'text', text: message.data } : { kind: 'binary', base64: message.data.toString('base64') },
)

/** Byte-exact comparison of what came back with {@link MESSAGES}: same count, order, kinds and bytes. */
export function expectEchoed(received: readonly PortableMessage[]): void {
  expect(received.map((message) => message.kind), 'kinds of the echoed messages').toEqual(MESSAGES.map((message) => message.kind))
  received.forEach((message, index) => {
    const sent = MESSAGES[index]!
    const bytes = message.kind === 'text' ? Buffer.from(message.text ?? '', 'utf8') : Buffer.from(message.base64 ?? '', 'base64')
    // equals(), not toEqual(): a mismatch in 140 KB would print the whole buffer.
    expect(bytes.equals(Buffer.from(sent.data)), `message ${index} (${sent.kind}, ${Buffer.byteLength(sent.data)} bytes) came back byte-exact`).toBe(true)
  })
}

/**
 * The wire bytes of one direction carried the exchange compressed: the
 * compressible messages are about 92% of {@link PAYLOAD_BYTES}, so without
 * deflate the gateway would count more than the payload, with it well under
 * a quarter of it.
 */
export function expectCompressed(wireBytes: unknown, direction: string): void {
  expect(typeof wireBytes, `${direction}: byte count in the log`).toBe('number')
  expect(wireBytes as number, `${direction}: bytes on the wire for ${PAYLOAD_BYTES} bytes of payload`).toBeLessThan(PAYLOAD_BYTES / 4)
}

/** One upgrade as the origin saw it. */
export interface OriginUpgrade {
  /** The request target the gateway sent (path and query). */
  readonly url: string
  /** The request headers the gateway sent (lower-cased, as Node gives them). */
  readonly headers: IncomingHttpHeaders
  /** The origin's 101 head lines, as `ws` wrote them. */
  readonly answer: readonly string[]
  /** The extensions `ws` negotiated on the origin's side of the connection. */
  readonly extensions: string
  /** The subprotocol the origin selected ('' for none). */
  readonly protocol: string
}

/** An echoing `ws` origin with permessage-deflate on (every message compressed) that records each upgrade. */
export interface DeflateOrigin extends WsOrigin {
  readonly upgrades: OriginUpgrade[]
}

/** The subprotocol the origin selects when a client offers it; it selects none otherwise. */
export const APP_PROTOCOL = 'chat.v1'

/**
 * Starts the origin. `ws` leaves permessage-deflate off on a server unless
 * asked; `threshold: 0` compresses every message, so both directions carry
 * compressed frames.
 */
export async function startDeflateOrigin(): Promise<DeflateOrigin> {
  const answers: string[][] = []
  const upgrades: OriginUpgrade[] = []
  const origin = await startWsOrigin(echo, {
    perMessageDeflate: { threshold: 0 },
    handleProtocols: (offered) => (offered.has(APP_PROTOCOL) ? APP_PROTOCOL : false),
  })
  // 'headers' comes just before 'connection' for the same upgrade; the pair is joined in order.
  origin.server.on('headers', (lines: string[]) => answers.push([...lines]))
  origin.server.on('connection', (socket: WebSocket, request) => {
    upgrades.push({ url: request.url ?? '', headers: request.headers, answer: answers.shift() ?? [], extensions: socket.extensions, protocol: socket.protocol })
  })
  return Object.assign(origin, { upgrades })
}

/** The value of a header line (`Name: value`) in a head, case-insensitive; undefined when absent. */
export function headLine(lines: readonly string[], name: string): string | undefined {
  const prefix = `${name.toLowerCase()}:`
  return lines.find((line) => line.toLowerCase().startsWith(prefix))?.slice(prefix.length).trim()
}
