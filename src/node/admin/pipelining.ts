/**
 * How many requests one connection of the admin listener may have waiting
 * for their answers. Node's HTTP server runs every request of a read at
 * once, pipelined or not, and holds each answer until those before it have
 * been read; it stops reading only once answers are queued, and the admin
 * app answers asynchronously, so a client that writes requests and never
 * reads an answer made the gateway build and keep one `/metrics` text (or
 * 401) per request: 60 such connections grew it by more than a gigabyte.
 * @module
 */
import type http from 'node:http'
import type { Socket } from 'node:net'

/**
 * `listener`, run for at most `limit` unanswered requests of a connection
 * at a time: a request past them destroys its connection (answers already
 * queued on it are dropped; the requests after it in the same read are not
 * run). An answer counts as given once its response has closed. One map
 * lookup per request; the admin listener is not on the traffic's path.
 *
 * @example
 * http.createServer(boundedPipelining(getRequestListener(app.fetch), 8))
 */
export function boundedPipelining(listener: http.RequestListener, limit: number): http.RequestListener {
  const unanswered = new WeakMap<Socket, number>()
  return function boundedPipelining(request, response) {
    const { socket } = request
    // Pipelined behind a request that already cost the connection its socket: Node still parses the rest of the read.
    if (socket.destroyed) return
    const waiting = (unanswered.get(socket) ?? 0) + 1
    if (waiting > limit) {
      socket.destroy()
      return
    }
    unanswered.set(socket, waiting)
    response.once('close', () => unanswered.set(socket, unanswered.get(socket)! - 1))
    listener(request, response)
  }
}
