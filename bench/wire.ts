/**
 * Bytes the load client sends, built once before any measurement: the
 * handshake request and masked client frames (RFC 6455 §5.2, §5.3).
 */
import { createHash } from 'node:crypto'

/** A fixed, valid `Sec-WebSocket-Key` (base64 of 16 bytes); every connection may use the same one. */
export const BENCH_KEY = 'YmVuY2gtd3NnYXRlLWtleQ=='

/** The `Sec-WebSocket-Accept` an origin answers to `key` (RFC 6455 §4.2.2, step 5.4). */
export function acceptFor(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
}

/**
 * A browser-like upgrade request. `Host` is a name, not an IP literal (the
 * CRS scores a numeric Host), and `User-Agent`/`Accept` are present, as a
 * browser sends them, so the WAF sees an ordinary handshake.
 */
export function handshakeRequest(path: string, port: number, headers: Record<string, string> = {}): Buffer {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: localhost:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${BENCH_KEY}`,
    'Sec-WebSocket-Version: 13',
    'User-Agent: wsgate-bench/1',
    'Accept: */*',
  ]
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
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
