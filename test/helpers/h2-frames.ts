import tls from 'node:tls'

/**
 * A hand-made HTTP/2 client for the tests that need frames Node's own
 * client never sends (a header block cut into CONTINUATION frames sent
 * slowly): the connection preface, raw frames, and header blocks in HPACK's
 * simplest form (every field a literal, not indexed, no Huffman coding).
 */

/** Frame types (RFC 9113 §6). */
export const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9 } as const
/** Flags (RFC 9113 §6.2, §6.5). */
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const

/** One frame: its 9-byte header and payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9)
  header.writeUIntBE(payload.length, 0, 3)
  header[3] = type
  header[4] = flags
  header.writeUInt32BE(streamId & 0x7fffffff, 5)
  return Buffer.concat([header, payload])
}

/** An HPACK string literal, no Huffman coding: its length as a 7-bit prefix integer (RFC 7541 §5.1, §5.2), then its bytes. */
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1')
  const length: number[] = []
  if (bytes.length < 127) length.push(bytes.length)
  else {
    length.push(127)
    let rest = bytes.length - 127
    while (rest >= 128) {
      length.push((rest % 128) + 128)
      rest = Math.floor(rest / 128)
    }
    length.push(rest)
  }
  return Buffer.concat([Buffer.from(length), bytes])
}

/** An RST_STREAM frame for `streamId` with `errorCode` (RFC 9113 §6.4). */
export function rstStream(streamId: number, errorCode: number): Buffer {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(errorCode)
  return h2Frame(FRAME.RST_STREAM, 0, streamId, payload)
}

/**
 * One header field as an HPACK literal without indexing, with a literal
 * name (RFC 7541 §6.2.2), bytes as given (latin1): so a test can send what
 * Node's client refuses to (upper-case names, CR LF in values).
 */
export function hpackLiteral(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)])
}

/** A raw HTTP/2 connection over TLS (ALPN h2): what it received, as frames, and whether it has closed. */
export interface RawH2Connection {
  readonly socket: tls.TLSSocket
  /** Frames received so far: type, stream id, and for GOAWAY and RST_STREAM the error code. */
  readonly frames: { type: number; streamId: number; errorCode?: number }[]
  /**
   * Sends a PING and resolves with its acknowledgement: the server has read
   * every frame sent before it.
   */
  ping(): Promise<void>
  /** Resolves once the server has closed the connection. */
  readonly closed: Promise<void>
  send(frame: Buffer): void
}

/** Connects with ALPN h2, sends the preface and an empty SETTINGS, and resolves once it has acknowledged the server's SETTINGS. */
export async function connectRawH2(port: number, ca: string, servername: string): Promise<RawH2Connection> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca, servername, ALPNProtocols: ['h2'] })
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve)
    socket.once('error', reject)
  })
  if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN gave ${String(socket.alpnProtocol)}, not h2`)
  const frames: { type: number; streamId: number; errorCode?: number }[] = []
  const pings: (() => void)[] = []
  let pending = Buffer.alloc(0)
  // The server's settings (ENABLE_CONNECT_PROTOCOL among them) apply once this side has acknowledged them.
  let acknowledged!: () => void
  const settled = new Promise<void>((resolve) => (acknowledged = resolve))
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3)
      if (pending.length < 9 + length) break
      const type = pending[3]!
      const flags = pending[4]!
      const streamId = pending.readUInt32BE(5) & 0x7fffffff
      const errorCode = type === FRAME.GOAWAY ? pending.readUInt32BE(9 + 4) : type === FRAME.RST_STREAM ? pending.readUInt32BE(9) : undefined
      frames.push(errorCode === undefined ? { type, streamId } : { type, streamId, errorCode })
      if (type === FRAME.PING && (flags & FLAG.ACK) !== 0) pings.shift()?.()
      if (type === FRAME.SETTINGS && (flags & FLAG.ACK) === 0 && !socket.destroyed) {
        socket.write(h2Frame(FRAME.SETTINGS, FLAG.ACK, 0))
        acknowledged()
      }
      pending = pending.subarray(9 + length)
    }
  })
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
  socket.write(h2Frame(FRAME.SETTINGS, 0, 0))
  await settled
  return {
    socket,
    frames,
    closed,
    send(frame) {
      if (!socket.destroyed) socket.write(frame)
    },
    ping() {
      const acknowledged = new Promise<void>((resolve) => pings.push(resolve))
      socket.write(h2Frame(FRAME.PING, 0, 0, Buffer.alloc(8)))
      return acknowledged
    },
  }
}
