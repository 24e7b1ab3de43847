import type { Context, MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { DEFAULT_HANDSHAKE_TIMEOUT } from './defaults.ts'
import { forwardHeaders, type ForwardingVariables } from './forward.ts'
import { headerTokens, stripHopByHop } from './headers.ts'
import { assertDuration } from './limits.ts'
import type { GatewayBindings, OriginTls } from './runtime.ts'
import { originUrl, type TargetOptions } from './target.ts'
import { throughPool } from './origins/failover.ts'
import { toPool, withPools, type OriginPool } from './origins/pool.ts'
import { withWarnings } from './warnings.ts'
import { ERROR_HEADER } from './errors.ts'
import { answerTimedOut, originUnavailable } from './origin-errors.ts'

/** Options of {@link http}; the names mean what they mean in `websocket()`. */
export interface HttpOptions extends TargetOptions {
  /**
   * Send the client's `Host` to the origin instead of the origin's own host.
   * (With the global-`fetch` fallback on other runtimes, the platform may set `Host` itself.)
   * @default false, or what `normalizeHeaders({ preserveHost })` set for the request
   */
  preserveHost?: boolean
  /**
   * Time the origin has to accept the connection and send its response head,
   * ms; beyond it 504 ERR_ORIGIN_TIMEOUT. The body that follows is not
   * bounded by it (downloads and event streams may run long).
   * @default the gateway's handshake timeout (10 s)
   */
  timeout?: number
  /**
   * For an `https://`/`wss://` target: how the origin's certificate is verified. With a pool, give it to `origins()` instead.
   * @default the system CAs, the origin's host as SNI and name
   */
  tls?: OriginTls
}

/** Methods a request may be sent again with (RFC 9110 §9.2.2): repeating them has the effect of sending them once. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1, §15.3.6); `Response` refuses one for them. */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304])

/**
 * The terminal handler of a plain HTTP route: a reverse proxy. The request
 * goes to the origin with its method, headers minus hop-by-hop ones (RFC
 * 9110 §7.6.1, `forwardHeaders()`), `Host` set to the origin's unless
 * preserved, and its body streamed exactly as the client framed it, or not
 * at all: GET and HEAD go without a body and without `Content-Length` or
 * `Transfer-Encoding`, every other method with its body's length or chunked
 * (see `originBody()`; RFC 9112 §6). The origin's status, headers (minus
 * hop-by-hop ones) and body come back as they were sent, streamed and not
 * decoded; redirects are relayed, never followed. An origin that cannot be
 * reached answers 502 (ERR_ORIGIN_UNAVAILABLE), one that does not answer in
 * time 504 (ERR_ORIGIN_TIMEOUT).
 *
 * The round trip is the runtime's (`c.env.wsgate.fetchOrigin`, on Node a
 * fresh node:http connection); without one, the global `fetch` with
 * `redirect: 'manual'` is used.
 *
 * With a pool (`origins()`), the pool picks the origin as for `websocket()`.
 * A request with an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE) and
 * no body is sent to the next eligible origin when a connection fails
 * before any byte of the response (refused, reset, timed out, TLS), at most
 * the pool's `retries` times within `timeout`; any other request gets the
 * 502/504 at once (its body may be half sent, or its effect done). Connection
 * failures count against the origin's health; answers, 5xx ones included,
 * do not (an application's 500 is not a dead origin). Every origin down: 503
 * `ERR_ORIGIN_DOWN` with `Retry-After`.
 *
 * @param target the origin, `http://host:port/path` (or `https://`, `ws://`, `wss://`, mapped to http/https), or a pool from `origins()`
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/api/*', http('http://127.0.0.1:9000', { timeout: 5_000 }))
 * app.all('/static/*', http(origins(['http://10.0.0.8:9000', 'http://10.0.0.9:9000'])))
 */
export function http(target: string | URL | OriginPool, options: HttpOptions = {}): MiddlewareHandler<{ Bindings: GatewayBindings; Variables: ForwardingVariables }> {
  const pool = toPool(target, 'http()', options.tls)
  assertDuration('timeout', options.timeout, 'http()')
  for (const name of ['appendPath', 'appendQuery', 'preserveHost'] as const) {
    const value = options[name]
    if (value !== undefined && typeof value !== 'boolean') {
      throw new TypeError(`http(): ${name} must be true or false, got ${String(value)}`)
    }
  }

  const handler = async function http(c: Context<{ Bindings: GatewayBindings; Variables: ForwardingVariables }>) {
    // Optional: on a runtime without wsgate's adapter, http() still works through fetch.
    const runtime = c.env?.wsgate as GatewayBindings['wsgate'] | undefined
    // The route pattern for the request's log line (the access line), as websocket() notes it for the handshake line.
    runtime?.note({ route: routePath(c) })
    const incoming = c.req.raw
    const incomingUrl = new URL(incoming.url)
    const preserveHost = options.preserveHost ?? c.get('preserveHost') ?? false
    // `Host` is set per attempt, for the origin tried.
    const headers = forwardHeaders(incoming, pool.first.base, preserveHost)
    // The gateway's server already answered any `100-continue`, and fetch refuses the header (RFC 9110 §10.1.1).
    headers.delete('expect')
    const body = await originBody(incoming, headers, () => c.req.arrayBuffer())
    const timeout = options.timeout ?? runtime?.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT

    const { value: answer } = await throughPool(
      pool,
      c,
      {
        budget: timeout,
        // A streamed body cannot be sent twice, and a non-idempotent request may have had its effect.
        retry: body === null && IDEMPOTENT_METHODS.has(incoming.method),
        clientGone: () => incoming.signal.aborted,
        note: (origin) => runtime?.note({ origin: origin.label }),
      },
      async (origin, remaining) => {
        const url = originUrl(origin.base, incomingUrl, options)
        if (!preserveHost) headers.set('host', url.host)
        const init: RequestInit & { duplex?: 'half' } = {
          method: incoming.method,
          headers,
          body,
          redirect: 'manual',
          signal: incoming.signal,
        }
        if (body instanceof ReadableStream) init.duplex = 'half'
        const request = new Request(url, init)
        const response = runtime?.fetchOrigin ? await runtime.fetchOrigin(request, remaining, origin.tls) : await fetchWithTimeout(request, remaining)
        pool.succeeded(origin)
        return response
      },
    )
    const responseHeaders = stripHopByHop(new Headers(answer.headers))
    // The gateway's own header: an origin's would pass for the gateway's refusal in the log and the metrics.
    responseHeaders.delete(ERROR_HEADER)
    // No body goes with a 204 or 205, so no length may announce one (a HEAD's and a 304's describe the
    // representation and stay): a keep-alive client would read the next response's bytes as the body.
    // RFC 9110 §8.6: a 204 carries no Content-Length; §15.3.6: a 205's content is zero-length.
    if (answer.status === 204) responseHeaders.delete('content-length')
    else if (answer.status === 205) responseHeaders.set('content-length', '0')
    const bodiless = NULL_BODY_STATUSES.has(answer.status) || incoming.method === 'HEAD'
    if (bodiless) await answer.body?.cancel().catch(() => {})
    return new Response(bodiless ? null : answer.body, { status: answer.status, statusText: answer.statusText, headers: responseHeaders })
  }
  return withWarnings(withPools(handler, [pool]), pool.warnings)
}

/**
 * The body that goes to the origin, with `headers` set to frame it (RFC 9112
 * §6): the body exactly as the client framed it, or none at all. A request
 * without a body carries neither `Content-Length` (other than `0`) nor
 * `Transfer-Encoding`; one with a body carries its length when the length is
 * known, else nothing, and the round trip sends it chunked. `Transfer-Encoding`
 * itself is hop-by-hop and never copied.
 *
 * - GET and HEAD go without a body (RFC 9110 §9.3.1, §9.3.2: content there has
 *   no defined meaning, and the Fetch API cannot carry it). The client's
 *   bytes are still read and discarded by the gateway's server, by the
 *   client's own framing, so they never count as a next request.
 * - A body a middleware already read (`c.req.json()`, …) goes from Hono's
 *   copy, with its length.
 * - A valid `Content-Length` is kept and the stream sent as is; `0` sends no body.
 * - A body without a length (chunked) is streamed with none; a request with
 *   neither header whose stream is empty (on Node: every such request,
 *   RFC 9112 §6.3) goes without a body.
 */
async function originBody(incoming: Request, headers: Headers, readCopy: () => Promise<ArrayBuffer>): Promise<ReadableStream<Uint8Array> | ArrayBuffer | null> {
  headers.delete('content-length')
  headers.delete('transfer-encoding')
  if (incoming.method === 'GET' || incoming.method === 'HEAD' || incoming.body === null) return null
  if (incoming.bodyUsed) {
    const copy = await readCopy()
    headers.set('content-length', String(copy.byteLength))
    return copy.byteLength === 0 ? null : copy
  }
  const length = incoming.headers.get('content-length')
  if (length !== null && DECIMAL_LENGTH.test(length) && !incoming.headers.has('transfer-encoding')) {
    headers.set('content-length', String(Number(length)))
    // An empty body is left unread: the server discards what is left of a request once its response is sent.
    return Number(length) > 0 ? incoming.body : null
  }
  if (incoming.headers.has('transfer-encoding')) return incoming.body
  return nonEmpty(incoming.body)
}

/** A `Content-Length` value (RFC 9110 §8.6): digits only, and within what a number holds exactly. */
const DECIMAL_LENGTH = /^\d{1,15}$/

/**
 * `stream` unless it ends without a byte, then null. Reads the first chunk
 * to tell; it is passed on in front of the rest.
 */
async function nonEmpty(stream: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array> | null> {
  const reader = stream.getReader()
  const first = await reader.read()
  if (first.done) return null
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(first.value)
    },
    async pull(controller) {
      const next = await reader.read()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}

/**
 * The fallback round trip: the global `fetch`, redirects not followed, the
 * response head bounded by `timeout`. Errors become the same 502/504
 * `GatewayError`s as the runtime connector's.
 */
async function fetchWithTimeout(request: Request, timeout: number): Promise<Response> {
  const timer = new AbortController()
  const clock = setTimeout(() => timer.abort(), timeout)
  try {
    return undecoded(await fetch(request, { redirect: 'manual', signal: AbortSignal.any([request.signal, timer.signal]) }), request.method)
  } catch (error) {
    if (timer.signal.aborted) throw answerTimedOut(timeout, error)
    // undici reports "fetch failed" and keeps the socket error's code (ECONNREFUSED, …) in `cause`.
    const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code
    const reason = request.signal.aborted ? 'client went away' : typeof code === 'string' ? code : error instanceof Error ? error.message : String(error)
    throw originUnavailable(reason, error)
  } finally {
    clearTimeout(clock)
  }
}

/** The content codings the Fetch standard's `fetch()` decodes (undici's list): a response coded otherwise is left as it came. */
const FETCH_DECODED = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'zstd'])

/**
 * `response` with the headers of the body `fetch()` hands over: fetch
 * decodes a gzip/deflate/br body, but keeps the origin's `Content-Encoding`
 * and `Content-Length`, which then describe bytes the client never gets (it
 * would decode plain text as gzip, or wait for a length that never comes).
 * Those two go when fetch decoded the body; an answer it did not decode
 * (no body, HEAD, an unknown coding among them) is left as it is.
 */
function undecoded(response: Response, method: string): Response {
  const codings = headerTokens(response.headers.get('content-encoding'))
  if (codings.length === 0 || response.body === null || method === 'HEAD' || !codings.every((coding) => FETCH_DECODED.has(coding))) return response
  const headers = new Headers(response.headers)
  headers.delete('content-encoding')
  headers.delete('content-length')
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers })
}
