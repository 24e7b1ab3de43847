import net from 'node:net'
import { parseResponse, TEST_KEY, type RawResponse } from './raw-client.ts'

/** Everything one raw connection brought back. */
export interface Exchange {
  /** The first final (non-1xx) response, or undefined when the gateway closed without one. */
  response: RawResponse | undefined
  /** Its body, de-chunked when it was chunked. */
  body: string
  /** Bytes that arrived after the first final response was complete: a second response, or garbage. */
  extra: Buffer
  /** Interim 1xx heads before the final one (e.g. 100 Continue). */
  interim: string[]
  /** The gateway kept waiting for bytes after the request, so the client half-closed to end it. */
  stalled: boolean
}

/** Options of {@link exchangeOnce}. */
export interface ExchangeOptions {
  /** Half-close right after writing (for heads that are incomplete on purpose). @default false */
  endAfterWrite?: boolean
  /**
   * With no answer after this long the client half-closes, so a head the
   * gateway still waits on ends without anyone waiting out the gateway's own
   * timers; the exchange is then marked `stalled`. @default 3 s
   */
  stallAfterMs?: number
  /** The whole exchange must end in this time, or the call fails. @default 10 s */
  deadlineMs?: number
}

/**
 * Sends raw bytes and reads exactly one final response: a 101 ends the
 * exchange at its head (the socket is destroyed, the gateway tears the pipe
 * down); any other answer is read to the end of its framing, then the client
 * half-closes and collects whatever else arrives until the gateway closes.
 * That tail is `extra`: a gateway that answers once has none. A string
 * request is sent as latin1, one byte per character.
 */
export function exchangeOnce(port: number, request: string | Buffer, options: ExchangeOptions = {}): Promise<Exchange> {
  const { endAfterWrite = false, stallAfterMs = 3_000, deadlineMs = 10_000 } = options
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = Buffer.alloc(0)
    let settled = false
    let stalled = false
    const interim: string[] = []
    /** Where the first final response ends in `received`; set once known. */
    let responseEnd: number | undefined
    let finalStart = 0
    let response: RawResponse | undefined
    let body = ''

    const finish = (): void => {
      if (settled) return
      settled = true
      clearTimeout(stallTimer)
      clearTimeout(deadline)
      socket.destroy()
      if (response === undefined && received.length > finalStart) {
        // Close-delimited or cut short: what came is the response.
        response = parseResponse(received.subarray(finalStart))
        body = response.body
      }
      resolve({ response, body, extra: responseEnd === undefined ? Buffer.alloc(0) : received.subarray(responseEnd), interim, stalled })
    }
    const stallTimer = setTimeout(() => {
      if (received.length === 0 && !socket.destroyed) {
        stalled = true
        socket.end()
      }
    }, stallAfterMs)
    const deadline = setTimeout(() => {
      if (settled) return
      settled = true
      clearTimeout(stallTimer)
      socket.destroy()
      reject(new Error(`no complete exchange within ${deadlineMs} ms; got ${JSON.stringify(received.toString('latin1').slice(0, 300))}`))
    }, deadlineMs)

    const examine = (): void => {
      if (response !== undefined) return
      for (;;) {
        const headEnd = received.indexOf('\r\n\r\n', finalStart)
        if (headEnd < 0) return
        const head = received.subarray(finalStart, headEnd).toString('latin1')
        const status = Number(head.split(' ')[1] ?? 0)
        if (status >= 100 && status < 200 && status !== 101) {
          interim.push(head)
          finalStart = headEnd + 4
          continue
        }
        const parsed = parseResponse(received.subarray(finalStart))
        if (status === 101) {
          response = parsed
          responseEnd = headEnd + 4
          return finish()
        }
        const bodyStart = headEnd + 4
        const length = parsed.headers['content-length']
        if (length !== undefined && /^[0-9]+$/.test(length)) {
          if (received.length - bodyStart < Number(length)) return
          responseEnd = bodyStart + Number(length)
          response = parsed
          body = received.subarray(bodyStart, responseEnd).toString('latin1')
        } else if (/chunked/i.test(parsed.headers['transfer-encoding'] ?? '')) {
          const decoded = decodeChunked(received, bodyStart)
          if (decoded === undefined) return
          responseEnd = decoded.end
          response = parsed
          body = decoded.body
        } else {
          // Close-delimited: the rest of the connection is the body.
          return
        }
        // The answer is complete: half-close, and whatever the gateway still sends is extra.
        socket.end()
        return
      }
    }

    socket.on('connect', () => {
      // A string is one byte per character (latin1), so a test writes exactly the bytes it means (`\u00a0` is 0xA0).
      socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request)
      if (endAfterWrite) socket.end()
    })
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      examine()
    })
    socket.on('error', () => {})
    socket.on('close', finish)
  })
}

/** Decodes a chunked body starting at `start`; undefined until the last chunk has arrived. */
function decodeChunked(bytes: Buffer, start: number): { body: string; end: number } | undefined {
  let at = start
  let body = ''
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at)
    if (lineEnd < 0) return undefined
    const size = Number.parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16)
    if (Number.isNaN(size)) return undefined
    if (size === 0) {
      const trailerEnd = bytes.indexOf('\r\n', lineEnd + 2)
      return trailerEnd < 0 ? undefined : { body, end: trailerEnd + 2 }
    }
    if (bytes.length < lineEnd + 2 + size + 2) return undefined
    body += bytes.subarray(lineEnd + 2, lineEnd + 2 + size).toString('latin1')
    at = lineEnd + 2 + size + 2
  }
}

/** Runs `task` over `items` with at most `concurrency` at once; results in item order. */
export async function pool<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return results
}

/** A request head from exact lines, CRLF-terminated, with the blank line. */
export function head(...lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** How a test request is built; every part can be replaced with hostile bytes. */
export interface RequestParts {
  method?: string
  version?: string
  /** One Host line per value; null leaves Host out. @default '127.0.0.1' */
  host?: string | null | readonly string[]
  /** The Connection value; null leaves it out. @default 'Upgrade' on upgrades */
  connection?: string | null
  /** More header lines, as sent. */
  extra?: readonly string[]
  /** Bytes after the head. */
  body?: string
}

function hostLines(host: RequestParts['host']): string[] {
  if (host === null) return []
  if (host === undefined) return ['Host: 127.0.0.1']
  return typeof host === 'string' ? [`Host: ${host}`] : host.map((value) => `Host: ${value}`)
}

/** A WebSocket handshake for `target` with the given parts replaced. */
export function upgradeRequest(target: string, parts: RequestParts = {}): string {
  const { method = 'GET', version = 'HTTP/1.1', connection = 'Upgrade', extra = [], body = '' } = parts
  return (
    head(
      `${method} ${target} ${version}`,
      ...hostLines(parts.host),
      'Upgrade: websocket',
      ...(connection === null ? [] : [`Connection: ${connection}`]),
      `Sec-WebSocket-Key: ${TEST_KEY}`,
      'Sec-WebSocket-Version: 13',
      ...extra,
    ) + body
  )
}

/** A plain HTTP request for `target` with the given parts replaced. */
export function plainRequest(target: string, parts: RequestParts = {}): string {
  const { method = 'GET', version = 'HTTP/1.1', connection = null, extra = [], body = '' } = parts
  return head(`${method} ${target} ${version}`, ...hostLines(parts.host), ...(connection === null ? [] : [`Connection: ${connection}`]), ...extra) + body
}
