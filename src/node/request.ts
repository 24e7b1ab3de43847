import type { IncomingMessage } from 'node:http'
import { appendHeaders, parseRequestHead, type RequestHead } from '../request-head.ts'
import { toHeadRequest } from './head-request.ts'

/** The limits the head parse applies; `serve()`'s settings. */
export interface HeadLimits {
  readonly maxUriLength: number
  readonly maxHeaderSize: number
}

/**
 * What the head parse reads of a request: its line and field lines as
 * Node's server reports them (an `IncomingMessage`), or as the gateway read
 * them itself (first-head.ts), and the connection it came on.
 */
export type NodeRequestHead = Pick<IncomingMessage, 'method' | 'url' | 'httpVersion' | 'rawHeaders'> & { readonly socket: IncomingMessage['socket'] }

/**
 * The edge's parse of a Node request head (see `parseRequestHead`): the
 * scheme is the connection's, never the client's claim. Throws a
 * {@link GatewayError} for anything refused.
 */
export function readRequestHead(incoming: NodeRequestHead, upgrade: boolean, limits: HeadLimits): RequestHead {
  return parseRequestHead({
    method: incoming.method ?? 'GET',
    target: incoming.url ?? '',
    httpVersion: incoming.httpVersion,
    rawHeaders: incoming.rawHeaders,
    scheme: 'encrypted' in incoming.socket && incoming.socket.encrypted ? 'https' : 'http',
    upgrade,
    maxUriLength: limits.maxUriLength,
    maxHeaderSize: limits.maxHeaderSize,
  })
}

/**
 * The Web `Request` of an upgrade request from its parsed head: method, the
 * normalised URL and every header line the chain may see. Unlike a plain
 * header object, repeated headers are all kept (joined per the Fetch
 * standard), so inspection sees everything the client sent. There is no
 * body on the upgrade path. Built lazily (see `HeadRequest`).
 */
export function toRequest(method: string, head: RequestHead): Request {
  return toHeadRequest(head.url, method, head.headers)
}

/**
 * A `Request` for `head` (its parsed URL and header lines) with `init`'s
 * method, body and signal: a plain request's, which has a body (an
 * upgrade's is the lazy one of {@link toRequest}). The headers are appended
 * straight into the Request's own list: handing a separate `Headers` to the
 * constructor would build the list twice (undici copies its init).
 *
 * @example
 * requestFromHead(head, { method: 'POST', body, duplex: 'half', signal })
 */
export function requestFromHead(head: RequestHead, init: Omit<RequestInit, 'headers'> & { duplex?: 'half' }): Request {
  const request = new Request(head.url, init)
  appendHeaders(request.headers, head.headers)
  return request
}

/**
 * The Request a plain HTTP chain sees: @hono/node-server's own when it
 * already is what the head parse decided, else a copy with the parsed URL
 * (built from the request-target, never from Host) and header lines, the
 * body moved over unread.
 */
export function chainRequest(request: Request, head: RequestHead, incoming: IncomingMessage): Request {
  if (request.url === head.url && head.headers === incoming.rawHeaders) return request
  const init: RequestInit & { duplex?: 'half' } = { method: request.method, signal: request.signal }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    init.body = request.body
    init.duplex = 'half'
  }
  return requestFromHead(head, init)
}
