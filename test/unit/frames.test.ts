import { describe, expect, it } from 'vitest'
import { CLOSE_NO_STATUS, closeFrame, closeReasonBytes, FrameTracker, MAX_CLOSE_REASON } from '../../src/node/pipe/frames.ts'
import { mulberry32 } from '../helpers/random.ts'
import { frame, frameHeader, pattern, splitAt } from '../helpers/wire.ts'

const TEXT = 0x1
const BINARY = 0x2
const CONTINUATION = 0x0
const CLOSE = 0x8
const PING = 0x9
const PONG = 0xa
const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d])

/** A close frame's payload: the code, then the reason. */
function closePayload(code: number, reason: string): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
  payload.writeUInt16BE(code, 0)
  payload.write(reason, 2)
  return payload
}

/** `bytes` with RSV1 set on the frame starting at `at` (permessage-deflate's "compressed" bit, RFC 7692 §6). */
function withRsv1(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes)
  copy[0] = copy[0]! | 0x40
  return copy
}

/** Frames joined into one stream, and the offset where each ends. */
function stream(frames: Buffer[]): { bytes: Buffer; ends: number[] } {
  const ends: number[] = []
  let total = 0
  for (const f of frames) ends.push((total += f.length))
  return { bytes: Buffer.concat(frames), ends }
}

/** Every offset at which the tracker reports a boundary, feeding `bytes` in `pieces` and stopping at each boundary. */
function boundariesOf(pieces: Buffer[], tracker = new FrameTracker()): number[] {
  const found: number[] = []
  let base = 0
  for (const piece of pieces) {
    let at = 0
    while (at < piece.length) {
      // Step into the next frame's header, then run to the next boundary (or the end of the piece).
      if (tracker.atBoundary) at = tracker.scan(piece, at, at + 1)
      at = tracker.scan(piece, at, piece.length, 'boundary')
      if (tracker.atBoundary) found.push(base + at)
    }
    base += piece.length
  }
  return found
}

/** Feeds `bytes` one byte at a time and lists the offsets (after the byte) where the tracker is between frames. */
function boundariesByteByByte(bytes: Buffer, tracker = new FrameTracker()): number[] {
  const found: number[] = []
  for (let i = 0; i < bytes.length; i++) {
    tracker.scan(bytes, i, i + 1)
    if (tracker.atBoundary) found.push(i + 1)
  }
  return found
}

/** A mixed sequence: a fragmented text message with a ping and a pong between its fragments, a 0-length frame, 16- and 64-bit lengths. */
function mixedFrames(mask?: Buffer): Buffer[] {
  const options = mask ? { mask } : {}
  return [
    frame(TEXT, 'hel', { ...options, fin: false }),
    frame(PING, 'are you there', options),
    frame(CONTINUATION, 'lo ', { ...options, fin: false }),
    frame(PONG, '', options),
    frame(CONTINUATION, 'world', options),
    frame(BINARY, Buffer.alloc(0), options),
    frame(BINARY, pattern(300), options),
    frame(BINARY, pattern(70_000), options),
    frame(TEXT, 'last', options),
  ]
}

describe('FrameTracker', () => {
  for (const [name, mask] of [
    ['unmasked (origin → client)', undefined],
    ['masked (client → origin)', KEY],
  ] as const) {
    it(`finds every frame end of a ${name} stream cut at every byte position into two pieces`, () => {
      const { bytes, ends } = stream(mixedFrames(mask).slice(0, 7))
      for (let cut = 0; cut <= bytes.length; cut++) {
        expect(boundariesOf(splitAt(bytes, [cut])), `cut at ${cut}`).toEqual(ends)
      }
    })

    it(`finds every frame end of a ${name} stream fed one byte at a time`, () => {
      const { bytes, ends } = stream(mixedFrames(mask))
      expect(boundariesByteByByte(bytes)).toEqual(ends)
    })
  }

  it('reads 0-length frames, the 16-bit form and the 64-bit form, including a non-minimal 64-bit length', () => {
    const nonMinimal = Buffer.concat([Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5]), Buffer.from('abcde')])
    const { bytes, ends } = stream([frame(BINARY, ''), frame(BINARY, pattern(126)), frame(BINARY, pattern(65_535)), frame(BINARY, pattern(65_536)), nonMinimal])
    expect(boundariesOf([bytes])).toEqual(ends)
    expect(boundariesByteByByte(bytes)).toEqual(ends)
  })

  it('counts a 64-bit length beyond 4 GiB without reading the payload', () => {
    const tracker = new FrameTracker()
    const length = 2 ** 40 + 7
    const header = frameHeader(BINARY, length)
    tracker.scan(header, 0, header.length)
    expect(tracker.atBoundary).toBe(false)
    // 1 MiB chunks would take a million steps: feed the count in a few large "chunks" of one shared buffer instead.
    const chunk = Buffer.alloc(1 << 20)
    let left = length
    let scans = 0
    while (left > 0 && scans < 20) {
      const take = Math.min(left, chunk.length)
      tracker.scan(chunk, 0, take)
      left -= take
      scans++
    }
    expect(tracker.atBoundary).toBe(false)
    // What a tracker that read the length as 32 bits (7 bytes) would see as the next header is still payload here.
    expect(left).toBeGreaterThan(0)
  })

  it('skips frames with RSV1 (permessage-deflate) and the other RSV bits set, unread', () => {
    const compressed = withRsv1(frame(TEXT, pattern(200)))
    const allRsv = Buffer.from(frame(BINARY, pattern(10)))
    allRsv[0] = allRsv[0]! | 0x70
    const { bytes, ends } = stream([compressed, withRsv1(frame(TEXT, pattern(100), { mask: KEY, fin: false })), frame(PING, 'x'), frame(CONTINUATION, 'y'), allRsv])
    expect(boundariesByteByByte(bytes)).toEqual(ends)
  })

  it('reads the code and reason of a masked close frame split at every byte, and only the first close frame', () => {
    const close = frame(CLOSE, closePayload(1001, 'going away — bye'), { mask: KEY })
    const { bytes } = stream([frame(TEXT, 'before', { mask: KEY }), close, frame(CLOSE, closePayload(1000, 'second'), { mask: KEY })])
    for (let cut = 0; cut <= bytes.length; cut++) {
      const seen: number[] = []
      const tracker = new FrameTracker({ closeFrame: (t) => seen.push(t.closeCode!) })
      for (const piece of splitAt(bytes, [cut])) tracker.scan(piece, 0, piece.length)
      expect(tracker.closeSeen).toBe(true)
      expect(tracker.closeCode, `cut at ${cut}`).toBe(1001)
      expect(tracker.closeReason).toBe('going away — bye')
      // The listener hears both; the first one counts.
      expect(seen).toEqual([1001, 1001])
      expect(tracker.atBoundary).toBe(true)
    }
  })

  it('reports an empty close frame as 1005 with no reason', () => {
    const tracker = new FrameTracker()
    const close = frame(CLOSE, '')
    tracker.scan(close, 0, close.length)
    expect(tracker).toMatchObject({ closeSeen: true, closeCode: CLOSE_NO_STATUS, closeReason: '' })
  })

  it('stops at the end of the current frame when asked, so that a close frame can go in between frames', () => {
    const tracker = new FrameTracker()
    const { bytes, ends } = stream([frame(BINARY, pattern(1000)), frame(BINARY, pattern(10))])
    // Mid-frame: the first scan stops where the first frame ends, inside this chunk.
    tracker.scan(bytes, 0, 500)
    expect(tracker.atBoundary).toBe(false)
    expect(tracker.scan(bytes, 500, bytes.length, 'boundary')).toBe(ends[0])
    expect(tracker.atBoundary).toBe(true)
    // Between frames, it does not move.
    expect(tracker.scan(bytes, ends[0]!, bytes.length, 'boundary')).toBe(ends[0])
  })

  it("stops before a close frame's header when asked, at every cut, leaving the close frame unread", () => {
    // A fragmented message with a ping and a close-opcode byte inside payloads, then the close frame itself.
    const decoy = Buffer.from([0x88, 0x88, 0x88])
    const { bytes, ends } = stream([
      frame(TEXT, decoy, { fin: false }),
      frame(PING, decoy),
      frame(CONTINUATION, pattern(300)),
      frame(CLOSE, closePayload(1000, 'done')),
    ])
    const closeAt = ends[2]!
    for (let cut = 0; cut <= bytes.length; cut++) {
      const tracker = new FrameTracker()
      let at = 0
      for (const [start, end] of [
        [0, cut],
        [cut, bytes.length],
      ] as const) {
        if (at !== start) break
        at = tracker.scan(bytes, start, end, 'close')
      }
      expect(at, `cut at ${cut}`).toBe(closeAt)
      expect(tracker.atBoundary).toBe(true)
      expect(tracker.closeSeen).toBe(false)
      // Read on: the close frame is seen.
      tracker.scan(bytes, at, bytes.length)
      expect(tracker).toMatchObject({ closeSeen: true, closeCode: 1000, closeReason: 'done' })
    }
  })

  it('finds every frame end and the first close frame of random frame sequences cut at random places (seeded)', () => {
    const random = mulberry32(0x1ee7)
    const int = (below: number): number => Math.floor(random() * below)
    for (let round = 0; round < 300; round++) {
      const frames: Buffer[] = []
      let firstClose: { code: number; reason: string } | undefined
      const masked = random() < 0.5
      const count = 1 + int(12)
      let inMessage = false
      for (let i = 0; i < count; i++) {
        const mask = masked ? Buffer.from([int(256), int(256), int(256), int(256)]) : undefined
        const options = mask ? { mask } : {}
        const kind = random()
        let bytes: Buffer
        if (kind < 0.15) {
          bytes = frame(random() < 0.5 ? PING : PONG, pattern(int(126), round), options)
        } else if (kind < 0.2) {
          const code = 1000 + int(4000)
          const reason = 'r'.repeat(int(MAX_CLOSE_REASON + 1))
          firstClose ??= { code, reason }
          bytes = frame(CLOSE, closePayload(code, reason), options)
        } else {
          // Data: a 0-length, short, 16-bit or (now and then) 64-bit length, maybe fragmented, maybe compressed.
          const lengths = [0, int(126), 126 + int(2000), 65_536 + int(5000)]
          const length = lengths[random() < 0.05 ? 3 : int(3)]!
          const fin = random() < 0.6
          bytes = frame(inMessage ? CONTINUATION : random() < 0.5 ? TEXT : BINARY, pattern(length, round), { ...options, fin })
          if (!inMessage && random() < 0.3) bytes = withRsv1(bytes)
          inMessage = !fin
        }
        frames.push(bytes)
      }
      const { bytes, ends } = stream(frames)
      const cuts = [...new Set(Array.from({ length: int(6) }, () => int(bytes.length + 1)))].sort((a, b) => a - b)
      const tracker = new FrameTracker()
      expect(boundariesOf(splitAt(bytes, cuts), tracker), `round ${round}, cuts ${cuts.join(',')}`).toEqual(ends)
      expect(tracker.closeSeen).toBe(firstClose !== undefined)
      if (firstClose) expect({ code: tracker.closeCode, reason: tracker.closeReason }).toEqual(firstClose)
    }
  })
})

describe('closeFrame()', () => {
  it('builds an unmasked close frame for the client and a masked one, with a fresh key each time, for the origin', () => {
    const toClient = closeFrame(1001, 'idle timeout', false)
    expect([...toClient.subarray(0, 4)]).toEqual([0x88, 14, 0x03, 0xe9])
    expect(toClient.subarray(4).toString()).toBe('idle timeout')

    const toOrigin = closeFrame(1008, 'token expired', true)
    expect(toOrigin[0]).toBe(0x88)
    expect(toOrigin[1]).toBe(0x80 | 15)
    const tracker = new FrameTracker()
    tracker.scan(toOrigin, 0, toOrigin.length)
    expect(tracker).toMatchObject({ closeSeen: true, closeCode: 1008, closeReason: 'token expired' })
    const keys = new Set(Array.from({ length: 8 }, () => closeFrame(1008, 'token expired', true).subarray(2, 6).toString('hex')))
    expect(keys.size).toBeGreaterThan(1)
  })

  it('cuts the reason to 123 bytes without splitting a UTF-8 character', () => {
    const reason = 'é'.repeat(100)
    const bytes = closeReasonBytes(reason)
    expect(bytes.length).toBe(122)
    expect(bytes.toString()).toBe('é'.repeat(61))
    expect(closeFrame(1001, reason, false)[1]).toBe(124)
  })
})

describe('FrameTracker on bytes that are not WebSocket frames', () => {
  for (const [name, header] of [
    ['a reserved data opcode (0x3)', Buffer.from([0x83, 0x01, 0x00])],
    ['a reserved control opcode (0xb)', Buffer.from([0x8b, 0x00])],
    ['a control frame longer than 125 bytes', Buffer.concat([frameHeader(PING, 126), pattern(126)])],
    ['a fragmented control frame', Buffer.from([0x09, 0x00])],
  ] as const) {
    it(`gives up on the direction after ${name}, and never reports a boundary or a close frame again`, () => {
      const tracker = new FrameTracker()
      const bytes = Buffer.concat([frame(TEXT, 'ok'), header, frame(CLOSE, closePayload(1000, 'late'))])
      tracker.scan(bytes, 0, 4)
      expect(tracker.atBoundary).toBe(true)
      tracker.scan(bytes, 4, bytes.length)
      expect(tracker).toMatchObject({ lost: true, atBoundary: false, closeSeen: false })
      expect(tracker.scan(bytes, 0, bytes.length, 'boundary')).toBe(bytes.length)
    })
  }
})
