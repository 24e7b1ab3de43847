/**
 * The first request head of a fresh HTTP/1.1 connection, read by the
 * gateway itself when it is a clean WebSocket upgrade.
 *
 * Node's HTTP server costs a WebSocket handshake CPU before the gateway
 * sees it (a parser taken and freed, an `IncomingMessage`, its listeners
 * and the `'upgrade'` hand-over; the bench's bare pipe spent about 35 µs
 * less user time per handshake on a `net.Server`), all for a head the
 * gateway then parses again (request-head.ts). The usual first head of a connection is
 * an upgrade written by a browser or a WebSocket library: ASCII, one request
 * line, `Name: value` lines, no body. Such a head is read here and goes to
 * the upgrade path with the same facts Node would have given it. Every other
 * head — a plain request, anything this strict grammar does not take (a
 * byte outside printable ASCII, a bare CR or LF, obs-fold, a body's
 * framing, a head past Node's size limit), and every later request of a
 * keep-alive connection — is Node's, as before: the bytes go back to the
 * socket and Node's server takes the connection from its first byte.
 * Measured (`npm run bench`, empty chain, 16 alternated pairs): 11–12 µs
 * less CPU per handshake, about 3 %.
 */

import type { Socket } from 'node:net'
import { hasToken } from '../headers.ts'

/** The parts of a request head the upgrade path reads (those of Node's `IncomingMessage` it uses). */
export interface WireRequestHead {
  readonly method: string
  /** The request-target as sent. */
  readonly url: string
  readonly httpVersion: string
  /** Field lines as sent: name, value (without its surrounding whitespace), name, value, … */
  readonly rawHeaders: string[]
}

/** The blank line that ends a head. */
export const HEAD_END = Buffer.from('\r\n\r\n')

/** Field lines a head taken here may have; more go to Node's parser (and its limits). */
const MAX_FIELD_LINES = 100

/** Anything but printable ASCII, SP, HTAB, CR and LF: a head holding it is Node's. */
const NOT_PLAIN = /[^\t\r\n\x20-\x7e]/
/**
 * What no clean head holds, in a part of one: a byte {@link NOT_PLAIN}, a
 * CR followed by anything but LF (one at the end may still get its LF), an
 * LF without its CR. A head whose blank line never comes as CRLF CRLF (one
 * ended by bare LFs) would otherwise wait here for the header deadline's 408,
 * where Node's parser refuses it at once.
 */
const NEVER_CLEAN = /[^\t\r\n\x20-\x7e]|\r(?!\n|$)|(?<!\r)\n/
/**
 * RFC 9112 §3: `GET SP request-target SP HTTP/1.1`, the target printable
 * ASCII in origin form (`/…`), as browsers and WebSocket libraries send it
 * (request-head.ts checks it further); other forms are Node's (llhttp
 * refuses some bytes in an absolute form's authority that a path may hold).
 */
const REQUEST_LINE = /^GET (\/[\x21-\x7e]*) HTTP\/1\.1$/
/** RFC 9112 §5: `field-name ":" OWS field-value OWS`, the name a token; no leading whitespace (obs-fold). */
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/

/**
 * The head `bytes[0, end)` (`end`: where its blank line starts) when it is
 * one this path takes: a clean `GET` upgrade as Node would report it to an
 * `'upgrade'` listener (a non-empty `Upgrade` field and `upgrade` among
 * `Connection`'s options, llhttp's rule) and without `Content-Length` or
 * `Transfer-Encoding`; undefined for every other head, which is Node's.
 *
 * @example
 * cleanUpgradeHead(Buffer.from('GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'), 66)
 * // → { method: 'GET', url: '/chat', httpVersion: '1.1', rawHeaders: ['Host', 'a', 'Upgrade', 'websocket', 'Connection', 'Upgrade'] }
 */
export function cleanUpgradeHead(bytes: Buffer, end: number): WireRequestHead | undefined {
  const text = bytes.toString('latin1', 0, end)
  if (NOT_PLAIN.test(text)) return undefined
  const lines = text.split('\r\n')
  if (lines.length - 1 > MAX_FIELD_LINES) return undefined
  const request = REQUEST_LINE.exec(lines[0]!)
  if (!request) return undefined
  const rawHeaders: string[] = []
  let upgrade = false
  let connectionUpgrade = false
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    // A CR or LF left inside a line is a bare one: Node's to refuse.
    if (line.includes('\r') || line.includes('\n')) return undefined
    const field = FIELD_LINE.exec(line)
    if (!field) return undefined
    const name = field[1]!
    const value = field[2]!
    switch (name.length) {
      case 7:
        // An empty one is no upgrade to llhttp: the request is a plain one.
        if (value !== '' && name.toLowerCase() === 'upgrade') upgrade = true
        break
      case 10:
        if (name.toLowerCase() === 'connection' && hasToken(value, 'upgrade')) connectionUpgrade = true
        break
      case 14:
        if (name.toLowerCase() === 'content-length') return undefined
        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return undefined
        break
    }
    rawHeaders.push(name, value)
  }
  if (!upgrade || !connectionUpgrade) return undefined
  return { method: 'GET', url: request[1]!, httpVersion: '1.1', rawHeaders }
}

/** Where {@link readFirstHead} sends what it read. */
export interface FirstHeadHandlers {
  /** Node's limit on a head, request line included: a longer one is handed over for Node to refuse. */
  readonly limit: number
  /** Whether the connection has been answered meanwhile (the header deadline's 408): nothing more is read. */
  answered(socket: Socket): boolean
  /** A clean upgrade head and the bytes after it; the socket is paused, as Node leaves an upgraded one. */
  upgrade(socket: Socket, head: WireRequestHead, rest: Buffer): void
  /** The client ended the connection after `bytes`, before its head was complete. */
  cutShort(socket: Socket, bytes: Buffer): void
}

/**
 * Reads a fresh connection's first head: a clean WebSocket upgrade
 * ({@link cleanUpgradeHead}) goes to `handlers.upgrade` without Node's HTTP
 * parser. Anything else is given back with every byte read so far, and
 * `handOver` gives the connection to Node's server, which takes it from its
 * first byte as if it had had it all along: a plain request, a head the
 * grammar does not take, one past `handlers.limit`. A client that ends
 * mid-head goes to `handlers.cutShort`, one that ends before a byte is
 * closed; the caller's header deadline runs meanwhile as for every head.
 *
 * @example
 * readFirstHead(socket, handlers, () => nodeConnectionListener.call(server, socket))
 */
export function readFirstHead(socket: Socket, handlers: FirstHeadHandlers, handOver: () => void): void {
  // What has come, kept as it came: joined once, when the head is complete or given back (a head sent a byte at
  // a time would otherwise be copied once per byte).
  const chunks: Buffer[] = []
  let length = 0
  let tail: Buffer | undefined
  const read = (): Buffer => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length))
  const stop = (): void => {
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('error', onError)
  }
  const giveBack = (): void => {
    stop()
    socket.pause()
    if (length > 0) socket.unshift(read())
    handOver()
    // Node's server reads through 'data' then: paused, the bytes given back would wait for a resume.
    socket.resume()
  }
  function onData(chunk: Buffer): void {
    chunks.push(chunk)
    length += chunk.length
    if (handlers.answered(socket)) return stop()
    // The blank line may straddle chunks: searched from the 3 bytes that came before this one.
    const searched = tail ? Buffer.concat([tail, chunk]) : chunk
    const at = searched.indexOf(HEAD_END)
    if (at < 0) {
      tail = searched.subarray(Math.max(0, searched.length - (HEAD_END.length - 1)))
      // Only a head that takes more than one read is checked here (a client's usual head comes whole): one that can
      // no longer be clean is Node's at once (its bytes from the 3 before this read, so a CRLF split across reads
      // is seen whole).
      if (length > handlers.limit || NEVER_CLEAN.test(searched.toString('latin1'))) giveBack()
      return
    }
    const end = length - searched.length + at
    const bytes = read()
    const head = end <= handlers.limit ? cleanUpgradeHead(bytes, end) : undefined
    if (!head) return giveBack()
    stop()
    // Held as Node's server holds an upgraded socket: what comes next waits in its buffer for the pipe.
    socket.pause()
    handlers.upgrade(socket, head, bytes.subarray(end + HEAD_END.length))
  }
  function onEnd(): void {
    stop()
    if (length > 0) handlers.cutShort(socket, read())
    else socket.destroy()
  }
  function onError(): void {
    stop()
    socket.destroy()
  }
  socket.on('data', onData)
  socket.on('end', onEnd)
  socket.on('error', onError)
}
