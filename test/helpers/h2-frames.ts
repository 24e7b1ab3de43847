import tls from 'node:tls'

/**
 * A hand-made HTTP/2 client for the tests that need frames Node's own
 * client never sends (a header block cut into CONTINUATION frames sent
 * slowly): the connection preface, raw frames, and header blocks in HPACK's
 * simplest form (every field a literal, not indexed, no Huffman coding).
 */

/** Frame types (RFC 9113 §6). */
export const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, GOAWAY: 0x7, CONTINUATION: 0x9 } as const
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

/** One header field as an HPACK literal without indexing, with a literal name (RFC 7541 §6.2.2); names and values under 127 bytes. */
export function hpackLiteral(name: string, value: string): Buffer {
  if (name.length >= 127 || value.length >= 127) throw new RangeError('hpackLiteral: keep names and values under 127 bytes')
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')])
}

/** A raw HTTP/2 connection over TLS (ALPN h2): what it received, as frames, and whether it has closed. */
export interface RawH2Connection {
  readonly socket: tls.TLSSocket
  /** Frames received so far: type, stream id, and for GOAWAY and RST_STREAM the error code. */
  readonly frames: { type: number; streamId: number; errorCode?: number }[]
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
  }
}
