/**
 * A response body recorded on its way to the client, for storing once it is complete.
 * @module
 */

/** Bytes that responses being recorded hold together, and their bound. */
export interface RecordingBudget {
  held: number
  readonly max: number
}

/**
 * Passes `body` through, keeping its bytes up to `limit` and while `budget` allows, and calls `finish` once:
 * with the bytes when the origin's body ended within both, or with `undefined` as soon as it will not be stored
 * (it outgrew a bound, broke off, or the client left first).
 *
 * While it records, the origin's body is read as fast as the origin sends it, not as fast as the client reads:
 * the response is stored — and the requests waiting for it (collapsing) are answered — when the origin is
 * done, however slow the first client. What the client has not taken yet is held meanwhile, counted in
 * `budget` until the client takes it or leaves (so at most `limit` per response and `budget.max` in all, one
 * read's chunk aside). Once it no longer records, it reads only as the client reads (backpressure to the
 * origin). A reader of its own rather than a TransformStream, whose `cancel` hook not every runtime calls.
 */
export function recording(
  body: ReadableStream<Uint8Array>,
  limit: number,
  budget: RecordingBudget,
  finish: (bytes: Uint8Array<ArrayBuffer> | undefined) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  // The chunks kept for storing while it records; undefined once it stored them or gave up.
  let recorded: Uint8Array[] | undefined = []
  let recordedBytes = 0
  // Chunks read from the origin that the client has not taken yet.
  const pending: Uint8Array[] = []
  let pendingBytes = 0
  // Bytes this response counts in budget: what it records while it records, then what the client has not taken.
  let counted = 0
  let ended = false
  let failure: { error: unknown } | undefined
  let cancelled = false
  // Wakes a pull() waiting for the reading loop.
  let wake: (() => void) | undefined

  /** Counts `bytes` in the budget instead of what it counted. */
  const recount = (bytes: number): void => {
    budget.held += bytes - counted
    counted = bytes
  }

  /** Stops recording: stores `bytes` if given, and from now on counts only what the client has not taken. */
  const stopRecording = (bytes: Uint8Array<ArrayBuffer> | undefined): void => {
    if (!recorded) return
    recorded = undefined
    recount(cancelled ? 0 : pendingBytes)
    finish(bytes)
  }

  /** Reads the origin's body ahead of the client while it records. */
  const readAhead = async (): Promise<void> => {
    while (recorded && !cancelled) {
      let next: ReadableStreamReadResult<Uint8Array>
      try {
        next = await reader.read()
      } catch (error) {
        // The origin's body broke off: nothing is stored; the client gets what came, then the error.
        if (cancelled) return
        failure = { error }
        stopRecording(undefined)
        break
      }
      if (cancelled) return
      if (next.done) {
        ended = true
        stopRecording(concatenated(recorded, recordedBytes))
        break
      }
      const chunk = next.value
      pending.push(chunk)
      pendingBytes += chunk.byteLength
      if (recordedBytes + chunk.byteLength > limit || budget.held + chunk.byteLength > budget.max) stopRecording(undefined)
      else {
        recorded.push(chunk)
        recordedBytes += chunk.byteLength
        recount(counted + chunk.byteLength)
      }
      wake?.()
    }
    wake?.()
  }

  void readAhead()
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          if (cancelled) return
          const chunk = pending.shift()
          if (chunk) {
            pendingBytes -= chunk.byteLength
            if (!recorded) recount(counted - chunk.byteLength)
            controller.enqueue(chunk)
            return
          }
          if (failure) return controller.error(failure.error)
          if (ended) return controller.close()
          if (recorded) {
            // The reading loop is ahead of us: wait for its next chunk.
            await new Promise<void>((resolve) => (wake = resolve))
            wake = undefined
            continue
          }
          // No longer recording: read only as the client reads.
          let next: ReadableStreamReadResult<Uint8Array>
          try {
            next = await reader.read()
          } catch (error) {
            if (!cancelled) controller.error(error)
            return
          }
          if (cancelled) return
          if (next.done) return controller.close()
          controller.enqueue(next.value)
          return
        }
      },
      // The client left: nothing more is stored (a body the origin already sent whole was stored).
      cancel(reason) {
        cancelled = true
        stopRecording(undefined)
        pending.length = 0
        pendingBytes = 0
        recount(0)
        wake?.()
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}

/** The chunks as one byte array of `size` bytes. */
function concatenated(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}
