import { describe, expect, it } from 'vitest'
import { headEnd, MalformedResponseHead, parseResponseHead, relayedUpgradeLines } from '../../src/node/origin/response-head.ts'

// The raw origin connector's response-head parser (src/node/origin/response-head.ts):
// what it accepts of a status line and header list, in which shape, and what
// it refuses (each refusal becomes a 502 ERR_ORIGIN_BAD_HANDSHAKE).

/** A head from its lines, ending with the blank line, as the connector hands it over (latin1). */
function head(...lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** Expects `text` to be refused with a MalformedResponseHead whose message matches `message`. */
function expectRefused(text: string, message: RegExp): void {
  let thrown: unknown
  try {
    parseResponseHead(text)
  } catch (error) {
    thrown = error
  }
  expect(thrown, JSON.stringify(text)).toBeInstanceOf(MalformedResponseHead)
  expect((thrown as Error).message).toMatch(message)
}

describe('parseResponseHead: status line', () => {
  it('reads an HTTP/1.1 status line with its version, status and reason', () => {
    expect(parseResponseHead(head('HTTP/1.1 101 Switching Protocols'))).toEqual({
      httpVersion: '1.1',
      status: 101,
      statusText: 'Switching Protocols',
      rawHeaders: [],
    })
  })

  it('reads an HTTP/1.0 status line', () => {
    const parsed = parseResponseHead(head('HTTP/1.0 404 Not Found'))
    expect(parsed.httpVersion).toBe('1.0')
    expect(parsed.status).toBe(404)
    expect(parsed.statusText).toBe('Not Found')
  })

  it('takes a missing reason phrase as empty', () => {
    expect(parseResponseHead(head('HTTP/1.1 200')).statusText).toBe('')
  })

  it('takes an empty reason phrase after the space as empty', () => {
    expect(parseResponseHead(head('HTTP/1.1 200 ')).statusText).toBe('')
  })

  it('keeps a reason phrase with tabs, inner spaces and obs-text bytes as sent', () => {
    const reason = 'Gr\xfc\xdfe \tund  so\xff'
    expect(parseResponseHead(head(`HTTP/1.1 403 ${reason}`)).statusText).toBe(reason)
  })

  it('refuses a head that is not HTTP', () => {
    expectRefused(head('SSH-2.0-OpenSSH_9.6'), /not an HTTP response/)
    expectRefused(head('http/1.1 200 OK'), /not an HTTP response/)
  })

  it('refuses HTTP/2 and other versions than 1.0 and 1.1', () => {
    for (const version of ['HTTP/2', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/1']) {
      expectRefused(head(`${version} 200 OK`), /not an HTTP response/)
    }
  })

  it('refuses a status that is not three digits', () => {
    for (const status of ['20', '2000', '20x', '-20', ' 200', '']) {
      expectRefused(head(`HTTP/1.1 ${status} OK`), /not an HTTP response/)
    }
  })

  it('refuses a status below 100, which no response can carry', () => {
    expectRefused(head('HTTP/1.1 000 Zero'), /not an HTTP response/)
    expectRefused(head('HTTP/1.1 099 Almost'), /not an HTTP response/)
  })

  it('refuses a status line without the space after the version, or with control bytes in the reason', () => {
    expectRefused(head('HTTP/1.1\t200 OK'), /not an HTTP response/)
    expectRefused(head('HTTP/1.1 200 O\x00K'), /not an HTTP response/)
    expectRefused(head('HTTP/1.1 200 O\x7fK'), /not an HTTP response/)
    // A bare LF is not a line end: it stays in the status line and is refused there.
    expectRefused('HTTP/1.1 200 OK\nX-A: b\r\n\r\n', /not an HTTP response/)
  })
})

describe('parseResponseHead: header list', () => {
  it('keeps repeated headers, in order, with their names as sent', () => {
    const parsed = parseResponseHead(
      head('HTTP/1.1 401 Unauthorized', 'Set-Cookie: a=1', 'X-Mixed-CASE: one', 'set-cookie: b=2', 'SET-COOKIE: c=3'),
    )
    expect(parsed.rawHeaders).toEqual(['Set-Cookie', 'a=1', 'X-Mixed-CASE', 'one', 'set-cookie', 'b=2', 'SET-COOKIE', 'c=3'])
  })

  it('trims spaces and tabs around values and keeps inner whitespace', () => {
    const parsed = parseResponseHead(head('HTTP/1.1 200 OK', 'A:value', 'B:  \t spaced  out \t ', 'C:', 'D:   '))
    expect(parsed.rawHeaders).toEqual(['A', 'value', 'B', 'spaced  out', 'C', '', 'D', ''])
  })

  it('keeps obs-text bytes in values, even at their ends', () => {
    // 0xA0 is obs-text to HTTP (RFC 9110 §5.5), not whitespace.
    const parsed = parseResponseHead(head('HTTP/1.1 200 OK', 'X-Name: \xa0Gr\xfc\xdfe\xa0'))
    expect(parsed.rawHeaders).toEqual(['X-Name', '\xa0Gr\xfc\xdfe\xa0'])
  })

  it('keeps a colon inside a value', () => {
    expect(parseResponseHead(head('HTTP/1.1 302 Found', 'Location: http://a.example:8080/x')).rawHeaders).toEqual([
      'Location',
      'http://a.example:8080/x',
    ])
  })

  it('refuses a header line without a colon', () => {
    expectRefused(head('HTTP/1.1 200 OK', 'X-No-Colon'), /invalid header line/)
  })

  it('refuses a header with an empty name', () => {
    expectRefused(head('HTTP/1.1 200 OK', ': value'), /invalid header line/)
  })

  it('refuses whitespace between the name and the colon (RFC 9112 §5.1)', () => {
    expectRefused(head('HTTP/1.1 200 OK', 'X-A : b'), /invalid header line/)
    expectRefused(head('HTTP/1.1 200 OK', 'X-A\t: b'), /invalid header line/)
  })

  it('refuses a name that is not a token', () => {
    expectRefused(head('HTTP/1.1 200 OK', 'X(A): b'), /invalid header line/)
    expectRefused(head('HTTP/1.1 200 OK', 'X\xe4: b'), /invalid header line/)
  })

  it('refuses folded lines (obs-fold, RFC 9112 §5.2)', () => {
    expectRefused(head('HTTP/1.1 200 OK', 'X-A: first', ' second'), /invalid header line/)
    expectRefused(head('HTTP/1.1 200 OK', 'X-A: first', '\tsecond: part'), /invalid header line/)
  })

  it('refuses NUL, other control bytes, DEL and bare CR or LF inside values', () => {
    for (const value of ['a\x00b', 'a\x01b', 'a\x1fb', 'a\x7fb', 'a\rb', 'a\nb']) {
      expectRefused(head('HTTP/1.1 200 OK', `X-Bad: ${value}`), /invalid value for header X-Bad/)
    }
  })

  it('refuses control bytes at the ends of values instead of trimming them away', () => {
    // Vertical tab, form feed and NUL are not HTTP whitespace: a value ending in one is malformed, not shortened.
    for (const value of ['a\x0b', '\x0ca', 'a\x00', '\x00']) {
      expectRefused(head('HTTP/1.1 200 OK', `X-Bad: ${value}`), /invalid value for header X-Bad/)
    }
  })
})

describe('headEnd', () => {
  const bytes = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframe bytes', 'latin1')
  const end = bytes.indexOf('frame bytes')

  it('gives the index just past the blank line of a complete head', () => {
    expect(headEnd(bytes, bytes.length)).toBe(end)
    expect(headEnd(bytes, end)).toBe(end)
  })

  it('gives -1 for every proper prefix of the head, however it is cut', () => {
    for (let length = 0; length < end; length++) expect(headEnd(bytes, length), `first ${length} bytes`).toBe(-1)
  })

  it('only looks at the first `length` bytes of the buffer', () => {
    // The buffer holds a complete head, but only the part before its blank line counts.
    expect(headEnd(bytes, end - 1)).toBe(-1)
  })

  it('gives -1 for a head whose lines end in bare LF', () => {
    const lf = Buffer.from('HTTP/1.1 200 OK\nA: b\n\n', 'latin1')
    expect(headEnd(lf, lf.length)).toBe(-1)
  })

  it('finds the first blank line when the body holds another one', () => {
    const twice = Buffer.from('HTTP/1.1 200 OK\r\n\r\nbody\r\n\r\n', 'latin1')
    expect(headEnd(twice, twice.length)).toBe(19)
  })
})

describe("relayedUpgradeLines: what of an origin's 101 reaches the client", () => {
  it('gives the usual 101 back as it is, the same array', () => {
    const lines = ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=']
    expect(relayedUpgradeLines(lines)).toBe(lines)
  })

  it('drops hop-by-hop lines but Connection and Upgrade, and Content-Length', () => {
    const lines = ['Upgrade', 'websocket', 'Connection', 'upgrade', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Content-Length', '0', 'Proxy-Authenticate', 'Basic', 'Set-Cookie', 'a=1']
    expect(relayedUpgradeLines(lines)).toEqual(['Upgrade', 'websocket', 'Connection', 'upgrade', 'Set-Cookie', 'a=1'])
  })

  it('drops the lines Connection names, over several Connection lines, and leaves Connection: Upgrade', () => {
    const lines = ['Connection', 'keep-alive, Upgrade', 'Connection', 'X-Internal-Token', 'x-internal-token', 'secret', 'Upgrade', 'websocket', 'X-App', 'kept']
    expect(relayedUpgradeLines(lines)).toEqual(['Upgrade', 'websocket', 'X-App', 'kept', 'Connection', 'Upgrade'])
  })

  it('leaves a Connection without upgrade as it came, for the 101 check to refuse', () => {
    const lines = ['Connection', 'close, X-Token', 'X-Token', 'a', 'Upgrade', 'websocket']
    expect(relayedUpgradeLines(lines)).toBe(lines)
  })
})
