import { headerTokens } from '../../headers.ts'
import { NULL_BODY_STATUSES } from '../../http.ts'
import { MalformedResponseHead, type ResponseHead } from './response-head.ts'

/**
 * The body framing of an origin's non-101 answer to an upgrade request
 * (RFC 9112 §6.3), decoded incrementally for the raw origin connector: the
 * gateway relays the decoded bytes and delimits them by closing the client
 * connection, as it did with Node's `IncomingMessage`.
 */

/** How the body after a response head is delimited. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' }

/** The framing a response head announces. Throws {@link MalformedResponseHead} for a contradictory one. */
export function bodyFraming(head: ResponseHead): BodyFraming {
  if (NULL_BODY_STATUSES.has(head.status)) return { kind: 'none' }
  let transferEncoding: string | undefined
  let contentLength: string | undefined
  for (let i = 0; i < head.rawHeaders.length; i += 2) {
    const name = head.rawHeaders[i]!.toLowerCase()
    const value = head.rawHeaders[i + 1]!
    if (name === 'transfer-encoding') transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`
    else if (name === 'content-length') {
      // Repeated Content-Length is tolerated only when every copy agrees (RFC 9110 §8.6).
      for (const part of value.split(',')) {
        const length = part.trim()
        if (!/^\d{1,15}$/.test(length) || (contentLength !== undefined && contentLength !== length)) {
          throw new MalformedResponseHead('invalid Content-Length')
        }
        contentLength = length
      }
    }
  }
  if (transferEncoding !== undefined) {
    // Both at once is how responses get split (RFC 9112 §6.1): refuse rather than guess.
    if (contentLength !== undefined) throw new MalformedResponseHead('both Transfer-Encoding and Content-Length')
    const codings = transferEncoding.split(',').map((coding) => coding.trim().toLowerCase())
    return codings.at(-1) === 'chunked' ? { kind: 'chunked' } : { kind: 'close' }
  }
  if (contentLength !== undefined) return Number(contentLength) === 0 ? { kind: 'none' } : { kind: 'length', length: Number(contentLength) }
  return { kind: 'close' }
}

/**
 * The first transfer coding of a `Transfer-Encoding` value other than
 * `chunked` (lower-cased), or undefined when there is none. The gateway
 * decodes chunked only; a body also coded with `gzip` or `deflate` would
 * reach the client as coded bytes with no word of the coding
 * (`Transfer-Encoding` is hop-by-hop), so such an answer is refused, as
 * nginx refuses it (502).
 *
 * @example
 * unsupportedTransferCoding('gzip, chunked') // 'gzip'
 * unsupportedTransferCoding('Chunked') // undefined
 */
export function unsupportedTransferCoding(value: string | null | undefined): string | undefined {
  return headerTokens(value ?? null).find((coding) => coding !== 'chunked')
}

/** Longest chunk-size or trailer line accepted. */
const MAX_LINE = 4 * 1024

/**
 * Decodes a body with the given framing, chunk by chunk as it arrives.
 * `push()` hands the payload bytes to `emit` (views of its input: copy them
 * to keep them) and returns true once the body is complete; bytes past the
 * end are ignored (the connection is closed after the answer anyway).
 */
export class BodyDecoder {
  readonly #chunked: boolean
  /** Payload bytes still expected in the current chunk or fixed-length body. */
  #remaining: number
  #state: 'size' | 'data' | 'data-end' | 'trailers' | 'done'
  #line = ''

  constructor(framing: Exclude<BodyFraming, { kind: 'none' }>) {
    this.#chunked = framing.kind === 'chunked'
    this.#remaining = framing.kind === 'length' ? framing.length : Infinity
    this.#state = this.#chunked ? 'size' : 'data'
  }

  /** Whether the body is complete. */
  get done(): boolean {
    return this.#state === 'done'
  }

  /** Whether the connection's end is the body's end (close-delimited framing). */
  get endsWithClose(): boolean {
    return !this.#chunked && this.#remaining === Infinity
  }

  /** Decodes `bytes`; throws {@link MalformedResponseHead} on broken chunk framing. */
  push(bytes: Buffer, emit: (payload: Buffer) => void): boolean {
    let at = 0
    while (at < bytes.length && this.#state !== 'done') {
      if (this.#state === 'data') {
        const take = Math.min(this.#remaining, bytes.length - at)
        emit(bytes.subarray(at, at + take))
        at += take
        this.#remaining -= take
        if (this.#remaining === 0) this.#state = this.#chunked ? 'data-end' : 'done'
        continue
      }
      const newline = bytes.indexOf(0x0a, at)
      const end = newline === -1 ? bytes.length : newline + 1
      this.#line += bytes.toString('latin1', at, end)
      at = end
      if (this.#line.length > MAX_LINE) throw new MalformedResponseHead('chunked framing line too long')
      if (newline === -1) break
      const line = this.#line
      this.#line = ''
      if (!line.endsWith('\r\n')) throw new MalformedResponseHead('chunked framing line without CRLF')
      this.#onLine(line.slice(0, -2))
    }
    return this.#state === 'done'
  }

  #onLine(line: string): void {
    if (this.#state === 'data-end') {
      if (line !== '') throw new MalformedResponseHead('chunk data longer than its size')
      this.#state = 'size'
    } else if (this.#state === 'size') {
      const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line)
      if (!size) throw new MalformedResponseHead('invalid chunk size')
      this.#remaining = parseInt(size[1]!, 16)
      this.#state = this.#remaining === 0 ? 'trailers' : 'data'
    } else if (line === '') {
      this.#state = 'done'
    }
  }
}
