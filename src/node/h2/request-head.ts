import { randomBytes } from 'node:crypto'
import { METHODS } from 'node:http'
import { GatewayError } from '../../errors.ts'
import { parseRequestHead, type RequestHead } from '../../request-head.ts'
import { asGatewayError } from '../../responses.ts'
import type { HeadLimits } from '../request.ts'

/**
 * An HTTP/2 request head as the HTTP/1.1 head the rest of the gateway
 * knows, so that the one edge parse (`parseRequestHead`) decides on both
 * and the chain sees the same `Request` either way (RFC 8441 §5, RFC 9113
 * §8.3.1): the pseudo-header fields become the request line and `Host`,
 * `cookie` fields are joined with `; ` (§8.2.3), and an extended CONNECT
 * for a WebSocket becomes the HTTP/1.1 upgrade it stands for: `GET`,
 * `upgrade: websocket`, `connection: upgrade`, and a `sec-websocket-key`
 * of the gateway's own, so the origin's accept value is checked against
 * it as on HTTP/1.1 (an HTTP/2 client sends none; one it sent anyway is
 * dropped). The client's `sec-websocket-version`, `-protocol` and
 * `-extensions` pass as they came.
 */

/** The facts of an HTTP/2 request head, translated. */
export interface H2RequestHead {
  /** The method the chain sees: `GET` for a WebSocket's extended CONNECT. */
  readonly method: string
  /** `:path` as sent. */
  readonly rawTarget: string
  /** The HTTP/1.1 header lines, flat (`name, value, …`), `host` first. */
  readonly rawHeaders: string[]
  /** The edge's decision on them. */
  readonly parsed: RequestHead | GatewayError
}

/**
 * The methods the HTTP/1.1 listener takes (Node's parser knows no others:
 * 501 there). HTTP/2 carries any token, lower-case ones included, but a
 * method's identity does not survive the way on: Fetch's `Request` rewrites
 * `get`, `post`, … to upper case and throws on `connect`, `trace`, `track`,
 * and Node's client sends every method upper-cased, so a `patch` would pass
 * a route's `PATCH` guard by and still reach the origin as PATCH.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS)

/** Header fields of a client's extended CONNECT that the gateway sets itself. */
const SET_BY_GATEWAY: ReadonlySet<string> = new Set(['sec-websocket-key'])

/**
 * Translates the header block of an HTTP/2 request (Node's flat raw
 * headers, pseudo-header fields included, names lower-case) and runs the
 * edge's head parse on it; `websocket` for an extended CONNECT with
 * `:protocol = websocket`.
 *
 * @example
 * const head = readH2RequestHead([':method', 'GET', ':path', '/a', ':scheme', 'https', ':authority', 'gw.example'], false, settings)
 * head.parsed // { url: 'https://gw.example/a', target: '/a', headers: ['host', 'gw.example'] }
 */
export function readH2RequestHead(raw: readonly string[], websocket: boolean, limits: HeadLimits): H2RequestHead {
  let method = 'GET'
  let path = ''
  let scheme: string | undefined
  let authority: string | undefined
  const lines: string[] = []
  let cookie: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const value = raw[i + 1]!
    if (name.charCodeAt(0) === 0x3a) {
      if (name === ':method') method = value
      else if (name === ':path') path = value
      else if (name === ':scheme') scheme = value
      else if (name === ':authority') authority = value
    } else if (name === 'cookie') {
      cookie = cookie === undefined ? value : `${cookie}; ${value}`
    } else if (!(websocket && SET_BY_GATEWAY.has(name))) {
      lines.push(name, value)
    }
  }
  const rawHeaders: string[] = []
  if (authority !== undefined) {
    rawHeaders.push('host', authority)
    // A Host that names the same authority says nothing more; one that differs stays, and the parse refuses two Hosts (RFC 9113 §8.3.1).
    for (let i = 0; i < lines.length; i += 2) {
      if (lines[i] === 'host' && lines[i + 1]!.toLowerCase() === authority.toLowerCase()) continue
      rawHeaders.push(lines[i]!, lines[i + 1]!)
    }
  } else rawHeaders.push(...lines)
  if (cookie !== undefined) rawHeaders.push('cookie', cookie)
  if (websocket) {
    method = 'GET'
    rawHeaders.push('upgrade', 'websocket', 'connection', 'upgrade', 'sec-websocket-key', randomBytes(16).toString('base64'))
  }
  let parsed: RequestHead | GatewayError
  if (!KNOWN_METHODS.has(method)) {
    // RFC 9110 §9.1: a method the server does not recognise is 501; the same answer as on HTTP/1.1.
    parsed = new GatewayError(501, 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED', 'method not recognised')
  } else if (scheme !== undefined && scheme !== 'https' && scheme !== 'http') {
    parsed = new GatewayError(400, 'ERR_HANDSHAKE_TARGET', `invalid request target: scheme ${scheme} is not served`)
  } else {
    try {
      // The connection's scheme (the TLS listener's), never the client's claim, as on HTTP/1.1.
      parsed = parseRequestHead({
        method,
        target: path,
        httpVersion: '1.1',
        rawHeaders,
        scheme: 'https',
        upgrade: websocket,
        maxUriLength: limits.maxUriLength,
        maxHeaderSize: limits.maxHeaderSize,
      })
    } catch (error) {
      parsed = asGatewayError(error)
    }
  }
  return { method, rawTarget: path, rawHeaders, parsed }
}
