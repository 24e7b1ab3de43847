/**
 * Bytes the load client sends, built once before any measurement where they
 * can be: the handshake request and masked client frames (RFC 6455 §5.2,
 * §5.3); each handshake's `Sec-WebSocket-Key` is its own.
 */
import { hash, randomFillSync } from 'node:crypto'

/**
 * A fixed, valid `Sec-WebSocket-Key` (base64 of 16 bytes): for requests
 * that are not measured, and for in-process costs of one handshake's head.
 * The load client sends {@link freshKey}s: a WAF caches what it made of a
 * value it has seen, and with one key for every handshake it would be
 * measured on cached work that no real client population gives it.
 */
export const BENCH_KEY = 'YmVuY2gtd3NnYXRlLWtleQ=='

/** The GUID of RFC 6455 §1.3, appended to the key for the accept value. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** The `Sec-WebSocket-Accept` an origin answers to `key` (RFC 6455 §4.2.2, step 5.4). */
export function acceptFor(key: string): string {
  return hash('sha1', `${key}${WEBSOCKET_GUID}`, 'base64')
}

/** Keys drawn per refill: one randomFillSync() of 64 KiB per 4,096 handshakes keeps the client's own CPU per key well under a µs. */
const KEY_POOL_KEYS = 4_096
/** A key's nonce, bytes (RFC 6455 §4.1, client requirement 7). */
const KEY_BYTES = 16
const keyPool = Buffer.alloc(KEY_POOL_KEYS * KEY_BYTES)
let keyOffset = keyPool.length

/**
 * A new `Sec-WebSocket-Key` as a browser sends one: 16 random bytes, base64
 * (24 characters), a different value at every call (RFC 6455 §4.1, client
 * requirement 7).
 */
export function freshKey(): string {
  if (keyOffset === keyPool.length) {
    randomFillSync(keyPool)
    keyOffset = 0
  }
  const key = keyPool.toString('base64', keyOffset, keyOffset + KEY_BYTES)
  keyOffset += KEY_BYTES
  return key
}

/**
 * A browser-like upgrade request. `Host` is a name, not an IP literal (the
 * CRS scores a numeric Host), and `User-Agent`/`Accept` are present, as a
 * browser sends them, so the WAF sees an ordinary handshake.
 */
export function handshakeRequest(path: string, port: number, headers: Record<string, string> = {}, key: string = BENCH_KEY): Buffer {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: localhost:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    'User-Agent: wsgate-bench/1',
    'Accept: */*',
  ]
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
}

/**
 * {@link handshakeRequest} for `path`, `port` and `headers`, built once; the
 * function it returns gives the same bytes with `key` (24 characters, as
 * {@link freshKey} gives) in place of the template's: a copy and a 24-byte
 * write per handshake, not a request built again.
 */
export function handshakeTemplate(path: string, port: number, headers: Record<string, string> = {}): (key: string) => Buffer {
  const template = handshakeRequest(path, port, headers, BENCH_KEY)
  const offset = template.indexOf(`\r\nSec-WebSocket-Key: ${BENCH_KEY}\r\n`, 0, 'latin1') + '\r\nSec-WebSocket-Key: '.length
  return function withKey(key: string): Buffer {
    if (key.length !== BENCH_KEY.length) throw new TypeError(`handshakeTemplate: a key is ${BENCH_KEY.length} characters (base64 of 16 bytes), got ${JSON.stringify(key)}`)
    const request = Buffer.allocUnsafe(template.length)
    template.copy(request)
    request.write(key, offset, 'latin1')
    return request
  }
}

/**
 * The `Sec-WebSocket-Accept` value in a response head (its latin1 text,
 * blank line included), or undefined. Names are matched without regard to
 * case (RFC 9110 §5.1): a proxy may send them in lower case.
 */
export function acceptIn(head: string): string | undefined {
  return /\r\nsec-websocket-accept:[ \t]*([^\r\n]*?)[ \t]*\r\n/i.exec(head)?.[1]
}

/**
 * One masked binary frame with a `size`-byte payload. The payload is a
 * deterministic pseudo-random pattern, so a byte out of place is visible.
 */
export function maskedFrame(size: number): Buffer {
  const lengthBytes = size < 126 ? 0 : size < 65_536 ? 2 : 8
  const headerLength = 2 + lengthBytes + 4
  const frame = Buffer.alloc(headerLength + size)
  frame[0] = 0x82 // FIN + binary
  if (lengthBytes === 0) frame[1] = 0x80 | size
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(size, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeBigUInt64BE(BigInt(size), 2)
  }
  const mask = [0x37, 0xfa, 0x21, 0x3d]
  frame.set(mask, 2 + lengthBytes)
  let seed = 0x2545f491 ^ size
  for (let i = 0; i < size; i++) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
    frame[headerLength + i] = ((seed >>> 16) & 0xff) ^ mask[i & 3]!
  }
  return frame
}

/**
 * A masked close frame, status 1000 (RFC 6455 §5.5.1). The client sends it
 * once every echo is back, alone on the wire; the origin echoes it and closes
 * the TCP connection first, as a WebSocket server does (§7.1.1). So TIME_WAIT
 * lands on the accepting side of each hop, not on the ephemeral ports a proxy
 * needs for its next origin connections.
 */
export const CLOSE_FRAME = Buffer.from([0x88, 0x82, 0x11, 0x22, 0x33, 0x44, 0x03 ^ 0x11, 0xe8 ^ 0x22])

/** Index just past the `\r\n\r\n` that ends an HTTP head in `buffer`, or -1. */
export function headEnd(buffer: Buffer): number {
  const index = buffer.indexOf('\r\n\r\n', 0, 'latin1')
  return index < 0 ? -1 : index + 4
}
