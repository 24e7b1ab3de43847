import { describe, expect, it } from 'vitest'
import { BodyDecoder, bodyFraming, unsupportedTransferCoding, type BodyFraming } from '../../src/node/origin/response-body.ts'
import { MalformedResponseHead, type ResponseHead } from '../../src/node/origin/response-head.ts'

// How the raw origin connector delimits and decodes the body of an origin's
// non-101 answer (src/node/response-body.ts): the framing a head announces
// (RFC 9112 §6.3) and the incremental decoder, fed however the bytes arrive.

/** A response head with `status` and header lines `name: value`. */
function responseHead(status: number, ...headers: [string, string][]): ResponseHead {
  return { httpVersion: '1.1', status, statusText: '', rawHeaders: headers.flat() }
}

/** Expects `run` to throw a MalformedResponseHead whose message matches `message`. */
function expectMalformed(run: () => unknown, message: RegExp): void {
  let thrown: unknown
  try {
    run()
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(MalformedResponseHead)
  expect((thrown as Error).message).toMatch(message)
}

describe('unsupportedTransferCoding', () => {
  it('names the first coding other than chunked, in lower case, and nothing for chunked alone or no value', () => {
    expect(unsupportedTransferCoding('gzip, chunked')).toBe('gzip')
    expect(unsupportedTransferCoding('chunked, GZIP')).toBe('gzip')
    expect(unsupportedTransferCoding(' Deflate ,chunked')).toBe('deflate')
    expect(unsupportedTransferCoding('Chunked')).toBeUndefined()
    expect(unsupportedTransferCoding('chunked, , chunked')).toBeUndefined()
    expect(unsupportedTransferCoding('')).toBeUndefined()
    expect(unsupportedTransferCoding(null)).toBeUndefined()
    expect(unsupportedTransferCoding(undefined)).toBeUndefined()
  })
})

describe('bodyFraming', () => {
  it.each([204, 205, 304])('gives a %i no body, whatever its headers say', (status) => {
    expect(bodyFraming(responseHead(status, ['Content-Length', '10']))).toEqual({ kind: 'none' })
    expect(bodyFraming(responseHead(status, ['Transfer-Encoding', 'chunked']))).toEqual({ kind: 'none' })
    expect(bodyFraming(responseHead(status))).toEqual({ kind: 'none' })
  })

  it('gives Content-Length: 0 no body', () => {
    expect(bodyFraming(responseHead(200, ['Content-Length', '0']))).toEqual({ kind: 'none' })
  })

  it('gives a Content-Length body its length, whatever the header name case', () => {
    expect(bodyFraming(responseHead(403, ['content-LENGTH', '17']))).toEqual({ kind: 'length', length: 17 })
  })

  it('accepts repeated Content-Length headers and lists when every copy agrees (RFC 9110 §8.6)', () => {
    expect(bodyFraming(responseHead(200, ['Content-Length', '5'], ['Content-Length', '5']))).toEqual({ kind: 'length', length: 5 })
    expect(bodyFraming(responseHead(200, ['Content-Length', '5, 5,5']))).toEqual({ kind: 'length', length: 5 })
  })

  it('refuses Content-Length copies that differ', () => {
    expectMalformed(() => bodyFraming(responseHead(200, ['Content-Length', '5'], ['Content-Length', '6'])), /invalid Content-Length/)
    expectMalformed(() => bodyFraming(responseHead(200, ['Content-Length', '5, 6'])), /invalid Content-Length/)
  })

  it('refuses a Content-Length that is not a plain decimal number', () => {
    for (const value of ['', '5x', '0x10', '-1', '+5', '1.0', '1e3', '5 5', '1234567890123456']) {
      expectMalformed(() => bodyFraming(responseHead(200, ['Content-Length', value])), /invalid Content-Length/)
    }
  })

  it('reads a chunked body when chunked is the only transfer coding', () => {
    expect(bodyFraming(responseHead(200, ['Transfer-Encoding', 'chunked']))).toEqual({ kind: 'chunked' })
    expect(bodyFraming(responseHead(200, ['transfer-encoding', 'Chunked']))).toEqual({ kind: 'chunked' })
  })

  it('reads a chunked body when chunked is the last of several codings, in one header or several', () => {
    expect(bodyFraming(responseHead(200, ['Transfer-Encoding', 'gzip, chunked']))).toEqual({ kind: 'chunked' })
    expect(bodyFraming(responseHead(200, ['Transfer-Encoding', 'gzip'], ['Transfer-Encoding', 'chunked']))).toEqual({ kind: 'chunked' })
  })

  it('reads to the close when the last transfer coding is not chunked (RFC 9112 §6.3)', () => {
    expect(bodyFraming(responseHead(200, ['Transfer-Encoding', 'gzip']))).toEqual({ kind: 'close' })
    expect(bodyFraming(responseHead(200, ['Transfer-Encoding', 'chunked, gzip']))).toEqual({ kind: 'close' })
    expect(bodyFraming(responseHead(200, ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'gzip']))).toEqual({ kind: 'close' })
  })

  it('refuses Transfer-Encoding together with Content-Length, in either order (RFC 9112 §6.1)', () => {
    expectMalformed(() => bodyFraming(responseHead(200, ['Transfer-Encoding', 'chunked'], ['Content-Length', '5'])), /both Transfer-Encoding and Content-Length/)
    expectMalformed(() => bodyFraming(responseHead(200, ['Content-Length', '5'], ['Transfer-Encoding', 'chunked'])), /both Transfer-Encoding and Content-Length/)
  })

  it('reads to the close when neither Transfer-Encoding nor Content-Length is sent', () => {
    expect(bodyFraming(responseHead(200, ['Content-Type', 'text/plain']))).toEqual({ kind: 'close' })
    expect(bodyFraming(responseHead(502))).toEqual({ kind: 'close' })
  })
})

/** What a decoder made of a sequence of pushes. */
interface Decoded {
  /** The payload, every emitted view copied out as it came. */
  body: string
  /** What each push returned. */
  results: boolean[]
  decoder: BodyDecoder
}

/**
 * Feeds `pieces` (latin1) to a fresh decoder, one push each. Every emitted
 * view is copied out at once, and each pushed buffer is overwritten after its
 * push, as the shared read buffer is: a decoder that kept a view into its
 * input would then show garbage.
 */
function decode(framing: Exclude<BodyFraming, { kind: 'none' }>, pieces: string[]): Decoded {
  const decoder = new BodyDecoder(framing)
  const out: Buffer[] = []
  const results: boolean[] = []
  for (const piece of pieces) {
    const bytes = Buffer.from(piece, 'latin1')
    results.push(decoder.push(bytes, (payload) => out.push(Buffer.from(payload))))
    bytes.fill(0x21)
  }
  return { body: Buffer.concat(out).toString('latin1'), results, decoder }
}

/** `text` cut into pieces of `size` characters. */
function piecesOf(text: string, size: number): string[] {
  const pieces: string[] = []
  for (let at = 0; at < text.length; at += size) pieces.push(text.slice(at, at + size))
  return pieces
}

/** A chunked encoding of `chunks`, last chunk and empty trailer section included. */
function chunked(chunks: string[]): string {
  return chunks.map((chunk) => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('') + '0\r\n\r\n'
}

const CHUNKED = { kind: 'chunked' } as const

describe('BodyDecoder: chunked', () => {
  // Chunks of 1, 16 (hex "10") and 26 bytes, a binary one with CR, LF and 0xFF inside, an extension and a trailer.
  const payload = ['a', 'sixteen bytes!!!', 'abcdefghijklmnopqrstuvwxyz', '\r\n\x00\xff\r']
  const sample =
    `1\r\n${payload[0]}\r\n` +
    `10;name=value\r\n${payload[1]}\r\n` +
    `1A ; ext="quoted;semi"\r\n${payload[2]}\r\n` +
    `5\r\n${payload[3]}\r\n` +
    '0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n'
  const expected = payload.join('')

  it('decodes a body fed whole, and reports it complete', () => {
    const { body, results, decoder } = decode(CHUNKED, [sample])
    expect(body).toBe(expected)
    expect(results).toEqual([true])
    expect(decoder.done).toBe(true)
  })

  it('decodes the same body fed byte by byte, complete only at the last byte', () => {
    const { body, results, decoder } = decode(CHUNKED, piecesOf(sample, 1))
    expect(body).toBe(expected)
    expect(results.indexOf(true)).toBe(sample.length - 1)
    expect(decoder.done).toBe(true)
  })

  it('decodes the same body split in two at every offset', () => {
    for (let cut = 0; cut <= sample.length; cut++) {
      const { body, results } = decode(CHUNKED, [sample.slice(0, cut), sample.slice(cut)])
      expect(body, `split at ${cut}`).toBe(expected)
      expect(results, `split at ${cut}`).toEqual([cut === sample.length, true])
    }
  })

  it('decodes the same body split in three at every pair of offsets', () => {
    for (let first = 0; first <= sample.length; first += 3) {
      for (let second = first; second <= sample.length; second++) {
        const { body, decoder } = decode(CHUNKED, [sample.slice(0, first), sample.slice(first, second), sample.slice(second)])
        expect(body, `split at ${first} and ${second}`).toBe(expected)
        expect(decoder.done).toBe(true)
      }
    }
  })

  it('accepts upper- and lower-case hex sizes', () => {
    const data = 'x'.repeat(0xab)
    expect(decode(CHUNKED, [`AB\r\n${data}\r\n0\r\n\r\n`]).body).toBe(data)
    expect(decode(CHUNKED, [`ab\r\n${data}\r\n0\r\n\r\n`]).body).toBe(data)
    expect(decode(CHUNKED, [`0aB\r\n${data}\r\n0\r\n\r\n`]).body).toBe(data)
  })

  it('reads a zero-size last chunk with an extension', () => {
    expect(decode(CHUNKED, ['3\r\nabc\r\n0;final=1\r\n\r\n']).decoder.done).toBe(true)
  })

  it('is not done before the blank line that ends the trailers', () => {
    const { results, decoder } = decode(CHUNKED, ['3\r\nabc\r\n0\r\n', 'X-Trailer: yes\r\n'])
    expect(results).toEqual([false, false])
    expect(decoder.done).toBe(false)
  })

  it('ignores bytes after the last chunk', () => {
    const { body, results } = decode(CHUNKED, [`${chunked(['abc'])}4\r\nmore\r\n`, 'junk'])
    expect(body).toBe('abc')
    expect(results).toEqual([true, true])
  })

  it('refuses a size line that is not hex', () => {
    for (const line of ['xyz', '', '-1', '0x10', ' 5', '+5', '1234567890abc', '5 6']) {
      expectMalformed(() => decode(CHUNKED, [`${line}\r\nhello\r\n0\r\n\r\n`]), /invalid chunk size/)
    }
  })

  it('refuses a size line ended by a bare LF', () => {
    expectMalformed(() => decode(CHUNKED, ['5\nhello\r\n0\r\n\r\n']), /without CRLF/)
  })

  it('refuses chunk data not followed by CRLF', () => {
    // More data than the size says.
    expectMalformed(() => decode(CHUNKED, ['3\r\nabcd\r\n0\r\n\r\n']), /chunk data longer than its size/)
    // A bare LF after the data.
    expectMalformed(() => decode(CHUNKED, ['3\r\nabc\n0\r\n\r\n']), /without CRLF/)
    // The same, with the CR arriving in its own read.
    expectMalformed(() => decode(CHUNKED, ['3\r\nabc', 'X', '\r\n']), /chunk data longer than its size/)
  })

  it('refuses a size line longer than 4 KiB, even before its end arrives', () => {
    const long = `1${';x'.repeat(2_100)}`
    expectMalformed(() => decode(CHUNKED, [long]), /line too long/)
    expectMalformed(() => decode(CHUNKED, piecesOf(long, 1000)), /line too long/)
  })

  it('refuses a trailer line longer than 4 KiB', () => {
    expectMalformed(() => decode(CHUNKED, [`0\r\nX-Long: ${'v'.repeat(5_000)}\r\n\r\n`]), /line too long/)
  })

  it('does not end with the close', () => {
    expect(new BodyDecoder(CHUNKED).endsWithClose).toBe(false)
  })
})

describe('BodyDecoder: Content-Length', () => {
  it('stops at the length and ignores the bytes after it', () => {
    const { body, results, decoder } = decode({ kind: 'length', length: 5 }, ['hel', 'lo world', 'more'])
    expect(body).toBe('hello')
    expect(results).toEqual([false, true, true])
    expect(decoder.done).toBe(true)
  })

  it('is complete exactly when the last byte arrives, fed byte by byte', () => {
    const { body, results } = decode({ kind: 'length', length: 4 }, piecesOf('\r\n\x00\xff', 1))
    expect(body).toBe('\r\n\x00\xff')
    expect(results).toEqual([false, false, false, true])
  })

  it('is not done while bytes are missing, and does not end with the close', () => {
    const { decoder } = decode({ kind: 'length', length: 10 }, ['12345'])
    expect(decoder.done).toBe(false)
    expect(decoder.endsWithClose).toBe(false)
  })

  it('passes chunked-looking bytes through as they are', () => {
    const bytes = chunked(['abc'])
    expect(decode({ kind: 'length', length: bytes.length }, [bytes]).body).toBe(bytes)
  })
})

describe('BodyDecoder: close-delimited', () => {
  it('passes every byte through, is never done, and ends with the close', () => {
    const { body, results, decoder } = decode({ kind: 'close' }, ['0\r\n\r\n', 'anything', ''])
    expect(body).toBe('0\r\n\r\nanything')
    expect(results).toEqual([false, false, false])
    expect(decoder.done).toBe(false)
    expect(decoder.endsWithClose).toBe(true)
  })
})
