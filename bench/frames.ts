/**
 * The frame-boundary tracker alone, in a hot loop: CPU per chunk for the two
 * relay workloads of `npm run bench` (a 32-byte masked message per chunk, as
 * ping-pong delivers them; a stream of 64 KiB frames read in 64 KiB chunks),
 * against the loop without it. What the tracker adds to the pipe is this
 * figure per chunk, next to the ~20 µs of CPU a relayed round trip costs.
 *
 *   node bench/frames.ts
 */
import { FrameTracker } from '../src/node/pipe/frames.ts'
import { frame } from '../test/helpers/wire.ts'

/**
 * ns per `scan()` of each chunk of `chunks`, over `rounds` passes (after a
 * warm-up pass). Each pass starts a new tracker: the chunks are one stream,
 * and fed again to the same tracker they would not line up with its frames.
 */
function measure(chunks: Buffer[], rounds: number): number {
  let tracker = new FrameTracker()
  for (const chunk of chunks) tracker.scan(chunk, 0, chunk.length)
  const started = process.hrtime.bigint()
  for (let round = 0; round < rounds; round++) {
    tracker = new FrameTracker()
    for (const chunk of chunks) tracker.scan(chunk, 0, chunk.length)
  }
  if (!tracker.atBoundary && chunks.length > 100) throw new Error('the chunks did not end between frames')
  return Number(process.hrtime.bigint() - started) / (rounds * chunks.length)
}

const key = Buffer.from([1, 2, 3, 4])
// Ping-pong: each read holds one masked 32-byte message.
const small = Array.from({ length: 1000 }, (_, i) => frame(0x2, Buffer.alloc(32, i), { mask: key }))
// Stream: 64 KiB frames (10-byte headers) read 64 KiB at a time, so each read holds a frame's tail and the next header.
const stream = Buffer.concat(Array.from({ length: 64 }, () => frame(0x2, Buffer.alloc(64 * 1024))))
const reads: Buffer[] = []
for (let at = 0; at + 65_536 <= stream.length; at += 65_536) reads.push(stream.subarray(at, at + 65_536))

const perMessage = measure(small, 2_000)
const perRead = measure(reads, 20_000)
console.log(JSON.stringify({ nsPerMessageChunk: Number(perMessage.toFixed(1)), nsPer64KiBRead: Number(perRead.toFixed(1)) }))
console.log(`tracker: ${perMessage.toFixed(1)} ns per 32-byte message, ${perRead.toFixed(1)} ns per 64 KiB read (${(perRead * 16).toFixed(0)} ns per MiB)`)
