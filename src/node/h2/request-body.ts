import type { ServerHttp2Stream } from 'node:http2'

/**
 * The body of a plain HTTP/2 request as the Web stream its `Request`
 * carries, read from the stream with backpressure (the stream is paused
 * while the Web stream's queue is full, so HTTP/2 flow control holds the
 * client back).
 *
 * Unlike `Readable.toWeb()`, a reader that gives up (`cancel()`: the
 * upload to an origin that answered, or failed, before taking it all)
 * does not destroy the stream: that resets it (RST_STREAM INTERNAL_ERROR)
 * and the answer the app is about to send (the origin's, or its 502) never
 * reaches the client, where HTTP/1.1 gets it. The stream is only left
 * paused; its request half is closed once the response has gone out
 * (`respond()`'s `closeRequest`). A stream that closes before its body has
 * ended (a reset, the session gone) errors the Web stream, so the upload
 * is cut short rather than passed on as complete; so does a response that
 * has gone out whole, after which the rest of the body is drained unread.
 *
 * @example
 * const request = new Request(url, { method: 'POST', body: requestBody(stream), duplex: 'half' })
 */
export function requestBody(stream: ServerHttp2Stream): ReadableStream<Uint8Array> {
  let settled = false
  let onData: (chunk: Buffer) => void
  let onEnd: () => void
  let onClose: () => void
  let onFinish: () => void
  const detach = (): void => {
    settled = true
    stream.off('data', onData).off('end', onEnd).off('close', onClose).off('finish', onFinish)
  }
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        // END_STREAM came with the header block (or its end was read already): an empty body, whose 'end' is past.
        if (stream.endAfterHeaders || stream.readableEnded) {
          settled = true
          controller.close()
          return
        }
        onData = (chunk) => {
          controller.enqueue(chunk)
          if (controller.desiredSize! <= 0) stream.pause()
        }
        onEnd = () => {
          detach()
          controller.close()
        }
        onClose = () => {
          detach()
          controller.error(Object.assign(new Error('the request stream closed before its body ended'), { code: 'ERR_HTTP2_STREAM_RESET' }))
        }
        // The answer has gone out whole: the rest of the body is no one's. Left paused with DATA in its buffer, a
        // stream that closes cleanly (NO_ERROR) is never destroyed by Node, which waits for its 'end': it would stay
        // in its session for good, holding that DATA and keeping the session from ever going idle.
        onFinish = () => {
          detach()
          controller.error(Object.assign(new Error('the response was sent before the request body was read'), { code: 'ERR_HTTP2_STREAM_RESET' }))
          stream.resume()
        }
        stream.on('data', onData).once('end', onEnd).once('close', onClose).once('finish', onFinish)
      },
      pull() {
        if (!settled) stream.resume()
      },
      cancel() {
        // The stream stays paused until the response has gone out, then is drained and its request half closed
        // (respond()'s closeRequest): the client's DATA waits under flow control meanwhile.
        detach()
        stream.pause()
      },
    },
    // Bytes, as the stream's own buffer counts them: one 16 KiB DATA frame fills it.
    { highWaterMark: 16 * 1024, size: (chunk) => chunk.byteLength },
  )
}
