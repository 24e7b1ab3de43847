import type net from 'node:net'

/** Deterministic bytes that change at every position, so a shifted or dropped byte shows. */
export function pattern(size: number, seed = 0): Buffer {
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8) + seed) & 0xff
  return bytes
}

/** `bytes` cut at `offsets`, each piece its own write when sent piece by piece. */
export function splitAt(bytes: Buffer, offsets: number[]): Buffer[] {
  const pieces: Buffer[] = []
  let start = 0
  for (const offset of [...offsets, bytes.length]) {
    pieces.push(bytes.subarray(start, offset))
    start = offset
  }
  return pieces
}

/** How a frame is sent: `fin` unset means more fragments follow; `mask` set means a client frame (RFC 6455 §5.3). */
export interface FrameOptions {
  fin?: boolean
  mask?: Buffer
}

/**
 * The header of one RFC 6455 frame (§5.2) with a `length`-byte payload, in
 * the shortest of the 7-, 16- and 64-bit length forms; with `mask`, the
 * masking key ends it.
 */
export function frameHeader(opcode: number, length: number, options: FrameOptions = {}): Buffer {
  const { fin = true, mask } = options
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8
  const header = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0))
  header[0] = (fin ? 0x80 : 0) | opcode
  const maskBit = mask ? 0x80 : 0
  if (lengthBytes === 0) header[1] = maskBit | length
  else if (lengthBytes === 2) {
    header[1] = maskBit | 126
    header.writeUInt16BE(length, 2)
  } else {
    header[1] = maskBit | 127
    header.writeBigUInt64BE(BigInt(length), 2)
  }
  if (mask) mask.copy(header, 2 + lengthBytes)
  return header
}

/** One RFC 6455 frame; `mask` set means a client frame (payload masked with it). */
export function frame(opcode: number, payload: Buffer | string, options: FrameOptions = {}): Buffer {
  const data = Buffer.from(payload)
  const header = frameHeader(opcode, data.length, options)
  const { mask } = options
  if (!mask) return Buffer.concat([header, data])
  const masked = Buffer.alloc(data.length)
  for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ mask[i & 3]!
  return Buffer.concat([header, masked])
}

/** One frame read off a byte stream by {@link parseFrames}. */
export interface WireFrame {
  opcode: number
  /** Whether it came masked (a client's frame, RFC 6455 §5.3). */
  masked: boolean
  /** The frame's bytes as sent. */
  raw: Buffer
  /** The payload, unmasked (a copy). */
  payload: Buffer
}

/**
 * The whole RFC 6455 frames at the front of `bytes` (masked or not, any
 * length form), and `rest`: the incomplete tail after the last of them.
 *
 * @example
 * parseFrames(Buffer.concat([frame(0x1, 'hi'), Buffer.from([0x81])])) // { frames: [{ opcode: 1, payload: 'hi', … }], rest: <81> }
 */
export function parseFrames(bytes: Buffer): { frames: WireFrame[]; rest: Buffer } {
  const frames: WireFrame[] = []
  let at = 0
  while (bytes.length - at >= 2) {
    const masked = (bytes[at + 1]! & 0x80) !== 0
    let length = bytes[at + 1]! & 0x7f
    let start = at + 2
    if (length === 126) {
      if (bytes.length - at < 4) break
      length = bytes.readUInt16BE(at + 2)
      start += 2
    } else if (length === 127) {
      if (bytes.length - at < 10) break
      length = Number(bytes.readBigUInt64BE(at + 2))
      start += 8
    }
    const key = masked ? bytes.subarray(start, start + 4) : undefined
    if (masked) start += 4
    if (bytes.length < start + length) break
    const payload = Buffer.from(bytes.subarray(start, start + length))
    if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!
    frames.push({ opcode: bytes[at]! & 0x0f, masked, raw: bytes.subarray(at, start + length), payload })
    at = start + length
  }
  return { frames, rest: bytes.subarray(at) }
}

/**
 * Buffers what `socket` receives until an HTTP head is complete (the blank
 * line), then stops listening and calls `onHead` at once, inside that data
 * event, with the head (latin1, without the blank line) and the bytes that
 * came after it. Returns a function that gives what has arrived so far.
 */
export function whenHead(socket: net.Socket, onHead: (head: string, rest: Buffer) => void): () => Buffer {
  let buffered = Buffer.alloc(0)
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk])
    const end = buffered.indexOf('\r\n\r\n')
    if (end < 0) return
    socket.off('data', onData)
    onHead(buffered.subarray(0, end).toString('latin1'), buffered.subarray(end + 4))
  }
  socket.on('data', onData)
  return () => buffered
}
