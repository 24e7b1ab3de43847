
/**
 * Memory for the origin → client direction of the pipe, allocated once and
 * reused. Node gives every socket read a fresh ArrayBuffer; at stream rates
 * those are hundreds of MB/s of external memory, and V8 answers external
 * memory growth with full mark-compact collections whose cost grows with the
 * gateway's live heap (routes, the WAF's compiled rules). Origin sockets
 * made by the raw connector read into {@link SHARED_READ_BUFFER} instead
 * (`net.connect({ onread })`), and each chunk is copied into a recycled slab
 * for the write, so a busy pipe allocates almost nothing per chunk.
 *
 * Why copy: the read buffer is shared by every origin socket and a write may
 * keep referring to its bytes until the kernel has taken them (a partial
 * write on a full socket buffer), so it cannot be handed to `write()`.
 */

/** Size of the shared read buffer and of each slab: libuv's own read size. */
export const RELAY_BUFFER_SIZE = 64 * 1024

/** Slabs kept for reuse; more in flight at once are allocated and left to the GC. */
const MAX_FREE_SLABS = 64

/**
 * The one buffer every raw origin socket reads into. Safe to share: the
 * event loop runs one read callback at a time and each copies out before
 * returning.
 */
export const SHARED_READ_BUFFER = Buffer.allocUnsafeSlow(RELAY_BUFFER_SIZE)

/** A reusable write buffer with its own release callback (made once, not per write). */
interface Slab {
  readonly bytes: Buffer
  readonly release: () => void
}

const freeSlabs: Slab[] = []

function newSlab(): Slab {
  const slab: Slab = {
    bytes: Buffer.allocUnsafeSlow(RELAY_BUFFER_SIZE),
    // Runs when the socket is done with the bytes: written, or dropped with the socket.
    release: () => {
      if (freeSlabs.length < MAX_FREE_SLABS) freeSlabs.push(slab)
    },
  }
  return slab
}

/** What {@link writeCopy} writes to: a socket, or a pipe's client endpoint (an HTTP/2 stream). */
export interface SlabWriter {
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean
}

/**
 * Writes `source[0, length)` to `socket` through a recycled slab. Returns
 * what `socket.write()` returns: false means the socket's buffer is full and
 * the reader should pause until `'drain'`.
 */
export function writeCopy(socket: SlabWriter, source: Buffer, length: number): boolean {
  const slab = freeSlabs.pop() ?? newSlab()
  source.copy(slab.bytes, 0, 0, length)
  return socket.write(slab.bytes.subarray(0, length), slab.release)
}
