import { randomFillSync } from 'node:crypto'

/**
 * The pipe's frame-boundary tracker: it follows one direction of a
 * WebSocket connection by reading frame headers only (RFC 6455 §5.2, 2–14
 * bytes each) and counting payload bytes down, so that the gateway knows
 * whether that direction is between frames and can put a close frame there
 * without cutting a frame in two. Payload bytes are never read, copied or
 * unmasked, with one exception: a close frame's payload (at most 125 bytes,
 * §5.5), which is unmasked into a small buffer to read its code and reason.
 *
 * It trusts the headers as they come: RSV bits (permessage-deflate sets
 * RSV1, §5.2 / RFC 7692) and opcodes are not judged, only skipped, so
 * extensions and fragmented messages with control frames between fragments
 * (§5.4) pass. A header split across chunks at any byte is gathered first.
 */

/** Opcode of a close frame (RFC 6455 §5.5.1). */
const OPCODE_CLOSE = 0x8

/** Longest payload of a control frame (RFC 6455 §5.5). */
const MAX_CONTROL_PAYLOAD = 125

/** Longest close reason in bytes: the control payload less the 2-byte code (RFC 6455 §5.5.1). */
export const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2

/** Status a close frame without a code is reported as (RFC 6455 §7.4.1: 1005, never sent on the wire). */
export const CLOSE_NO_STATUS = 1005

/** Told when a tracked direction has carried a complete close frame. */
export interface CloseFrameListener {
  /** `tracker` has just seen a whole close frame; its `closeCode` and `closeReason` are set. */
  closeFrame(tracker: FrameTracker): void
}

/** Bytes a header needs, from its second byte: 2, plus 2 or 8 for an extended length, plus 4 for a masking key (§5.2). */
function headerSize(second: number): number {
  const length = second & 0x7f
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0)
}

/** The payload length a complete header at `bytes[at]` announces (64-bit lengths as a Number: exact up to 2^53). */
function payloadLength(bytes: Uint8Array, at: number): number {
  const length = bytes[at + 1]! & 0x7f
  if (length === 126) return (bytes[at + 2]! << 8) | bytes[at + 3]!
  if (length === 127) {
    const high = ((bytes[at + 2]! << 24) >>> 0) + (bytes[at + 3]! << 16) + (bytes[at + 4]! << 8) + bytes[at + 5]!
    const low = ((bytes[at + 6]! << 24) >>> 0) + (bytes[at + 7]! << 16) + (bytes[at + 8]! << 8) + bytes[at + 9]!
    return high * 2 ** 32 + low
  }
  return length
}

/**
 * Follows the frames of one direction. Feed it every byte of the direction,
 * in order, through {@link scan}; it keeps at most a 14-byte partial header
 * (allocated only when a header is split) and, while a close frame passes,
 * its payload.
 *
 * @example
 * const fromClient = new FrameTracker(listener)
 * socket.on('data', (chunk) => { fromClient.scan(chunk, 0, chunk.length); other.write(chunk) })
 * fromClient.atBoundary // true between frames
 */
export class FrameTracker {
  /** Payload bytes of the current frame not seen yet. */
  #remaining = 0
  /** A header split across chunks, gathered here (14 bytes, allocated at the first split). */
  #header: Buffer | undefined
  /** Bytes of it gathered so far; 0 when no header is in progress. */
  #headerLength = 0
  /** The payload of the close frame passing now, unmasked, with its masking key in the first 4 bytes. */
  #close: Buffer | undefined
  /** Payload bytes of that close frame gathered so far, or -1 when no close frame is passing. */
  #closeGot = -1
  /** Its payload length. */
  #closeLength = 0
  /** Whether its payload is masked. */
  #closeMasked = false
  readonly #listener: CloseFrameListener | undefined

  /** Whether a whole close frame has passed in this direction. */
  closeSeen = false
  /** The code of the first close frame seen (1005 when it had none). */
  closeCode: number | undefined
  /** The reason of the first close frame seen ('' when it had none). */
  closeReason: string | undefined

  constructor(listener?: CloseFrameListener) {
    this.#listener = listener
  }

  /**
   * True once the direction showed something that is not a WebSocket frame
   * (a reserved opcode, an oversized or fragmented control frame): the
   * tracker then follows nothing more, is never between frames again, and
   * a gateway close of the connection ends with the TCP connection.
   */
  get lost(): boolean {
    return this.#remaining === Infinity
  }

  /** True between frames: the last frame has ended and no header of the next has begun. */
  get atBoundary(): boolean {
    return this.#remaining === 0 && this.#headerLength === 0
  }

  /**
   * Follows `bytes[start, end)` and returns where it stopped: `end`, or with
   * `stop: 'boundary'` the first offset between two frames (`start` when
   * already between frames; `end` with {@link atBoundary} false when the
   * current frame goes on past the chunk), or with `stop: 'close'` the
   * offset where a close frame's header begins (left unread: the tracker is
   * between frames there), else `end`.
   */
  scan(bytes: Uint8Array, start: number, end: number, stop?: 'boundary' | 'close'): number {
    let at = start
    while (at < end) {
      if (
        stop !== undefined &&
        this.#remaining === 0 &&
        this.#headerLength === 0 &&
        (stop === 'boundary' || (bytes[at]! & 0x0f) === OPCODE_CLOSE)
      ) {
        return at
      }
      const remaining = this.#remaining
      if (remaining > 0) {
        // Inside a payload: skip it, unread (a close frame's is gathered).
        const available = end - at
        const take = remaining < available ? remaining : available
        if (this.#closeGot >= 0) this.#gatherClose(bytes, at, take)
        this.#remaining = remaining - take
        at += take
        if (this.#remaining === 0 && this.#closeGot >= 0) this.#closeEnded()
        continue
      }
      if (this.#headerLength === 0 && end - at >= 2) {
        // A whole header in this chunk (the usual case): read it in place.
        const size = headerSize(bytes[at + 1]!)
        if (end - at >= size) {
          this.#startFrame(bytes, at, size)
          at += size
          continue
        }
      }
      at = this.#gatherHeader(bytes, at, end)
    }
    return at
  }

  /** Copies header bytes into the partial header until it is whole (then starts its frame) or the chunk ends. */
  #gatherHeader(bytes: Uint8Array, at: number, end: number): number {
    const header = (this.#header ??= Buffer.allocUnsafe(14))
    // The second byte tells the size; until it has come, ask for two.
    let size = this.#headerLength >= 2 ? headerSize(header[1]!) : 2
    while (at < end && this.#headerLength < size) {
      header[this.#headerLength++] = bytes[at++]!
      if (this.#headerLength === 2) size = headerSize(header[1]!)
    }
    if (this.#headerLength === size) {
      this.#headerLength = 0
      this.#startFrame(header, 0, size)
    }
    return at
  }

  /** A whole header of `size` bytes at `bytes[at]`: the frame's payload starts next. */
  #startFrame(bytes: Uint8Array, at: number, size: number): void {
    const length = payloadLength(bytes, at)
    this.#remaining = length
    const opcode = bytes[at]! & 0x0f
    if (opcode < 3) return
    // A reserved opcode (§5.2), or a control frame longer than 125 bytes or fragmented (§5.5): these are not
    // WebSocket frames, and nothing after them can be trusted. The tracker gives up on the direction for good.
    if (opcode < 8 || opcode > 10 || length > MAX_CONTROL_PAYLOAD || (bytes[at]! & 0x80) === 0) {
      this.#remaining = Infinity
      return
    }
    if (opcode !== OPCODE_CLOSE) return
    // A close frame: its payload (≤ 125 bytes) is read.
    this.#closeLength = length
    this.#closeMasked = (bytes[at + 1]! & 0x80) !== 0
    if (this.#closeLength > 0) {
      const close = (this.#close ??= Buffer.allocUnsafe(4 + MAX_CONTROL_PAYLOAD))
      if (this.#closeMasked) for (let i = 0; i < 4; i++) close[i] = bytes[at + size - 4 + i]!
    }
    this.#closeGot = 0
    if (length === 0) this.#closeEnded()
  }

  #gatherClose(bytes: Uint8Array, at: number, take: number): void {
    const close = this.#close
    if (!close) return
    const masked = this.#closeMasked
    for (let i = 0; i < take && this.#closeGot < this.#closeLength; i++) {
      const index = this.#closeGot++
      close[4 + index] = masked ? bytes[at + i]! ^ close[index & 3]! : bytes[at + i]!
    }
  }

  /** A close frame has passed whole: read its code and reason once (the first one counts), and tell the listener. */
  #closeEnded(): void {
    const length = this.#closeLength
    this.#closeGot = -1
    if (!this.closeSeen) {
      this.closeSeen = true
      if (length >= 2) {
        this.closeCode = this.#close!.readUInt16BE(4)
        this.closeReason = this.#close!.toString('utf8', 6, 4 + length)
      } else {
        this.closeCode = CLOSE_NO_STATUS
        this.closeReason = ''
      }
    }
    this.#listener?.closeFrame(this)
  }
}

/** `reason` cut to at most {@link MAX_CLOSE_REASON} bytes of UTF-8, never inside a character. */
export function closeReasonBytes(reason: string): Buffer {
  const bytes = Buffer.from(reason, 'utf8')
  if (bytes.length <= MAX_CLOSE_REASON) return bytes
  let end = MAX_CLOSE_REASON
  // Back up over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}

/**
 * A close frame (RFC 6455 §5.5.1) with `code` and `reason` (cut to 123
 * bytes). Toward a client it goes unmasked; toward an origin, where the
 * gateway is the client, masked with a fresh random key (§5.3).
 *
 * @example
 * client.write(closeFrame(1001, 'idle timeout', false))
 * origin.write(closeFrame(1001, 'idle timeout', true))
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = closeReasonBytes(reason)
  const length = 2 + text.length
  const frame = Buffer.allocUnsafe(2 + (masked ? 4 : 0) + length)
  frame[0] = 0x80 | OPCODE_CLOSE
  frame[1] = (masked ? 0x80 : 0) | length
  const payloadAt = masked ? 6 : 2
  frame.writeUInt16BE(code, payloadAt)
  text.copy(frame, payloadAt + 2)
  if (masked) {
    const key = frame.subarray(2, 6)
    randomFillSync(key)
    for (let i = 0; i < length; i++) frame[payloadAt + i] = frame[payloadAt + i]! ^ key[i & 3]!
  }
  return frame
}
