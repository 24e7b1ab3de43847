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
 * Passes `body` through, keeping its bytes up to `limit` and while `budget` allows. Calls `finish` once: with
 * the bytes if the body ended within both, or with `undefined` as soon as it will not be stored (it outgrew a
 * bound, broke off, or the client cancelled). Bytes kept count in `budget` until then (a reader of its own
 * rather than a TransformStream, whose `cancel` hook not every runtime calls).
 */
export function recording(
  body: ReadableStream<Uint8Array>,
  limit: number,
  budget: RecordingBudget,
  finish: (bytes: Uint8Array<ArrayBuffer> | undefined) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let chunks: Uint8Array[] | undefined = []
  let size = 0
  // Set once the client cancelled: a read still pending then ends as if the body were complete, and must not store it.
  let cancelled = false
  const abandon = (): void => {
    if (!chunks) return
    budget.held -= size
    chunks = undefined
    finish(undefined)
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>
      try {
        next = await reader.read()
      } catch (error) {
        // The origin's body broke off: nothing is stored.
        abandon()
        if (!cancelled) controller.error(error)
        return
      }
      if (next.done) {
        if (chunks) {
          const bytes = new Uint8Array(size)
          let offset = 0
          for (const chunk of chunks) {
            bytes.set(chunk, offset)
            offset += chunk.byteLength
          }
          budget.held -= size
          chunks = undefined
          finish(bytes)
        }
        if (!cancelled) controller.close()
        return
      }
      if (cancelled) return
      const chunk = next.value
      if (chunks) {
        if (size + chunk.byteLength > limit || budget.held + chunk.byteLength > budget.max) abandon()
        else {
          size += chunk.byteLength
          budget.held += chunk.byteLength
          chunks.push(chunk)
        }
      }
      controller.enqueue(chunk)
    },
    // The client left: nothing is stored.
    cancel(reason) {
      cancelled = true
      abandon()
      return reader.cancel(reason)
    },
  })
}
