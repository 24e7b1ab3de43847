import type { MiddlewareHandler } from 'hono'
import { DEFAULT_HANDSHAKE_TIMEOUT } from './defaults.ts'
import { GatewayError } from './errors.ts'
import { forwardHeaders, type ForwardingVariables } from './forward.ts'
import { stripHopByHop } from './headers.ts'
import { assertDuration } from './limits.ts'
import type { GatewayBindings } from './runtime.ts'
import { originUrl, parseTarget, type TargetOptions } from './target.ts'

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
}

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1, §15.3.6); `Response` refuses one for them. */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304])

/**
 * The terminal handler of a plain HTTP route: a reverse proxy. The request
 * goes to the origin with its method, headers minus hop-by-hop ones (RFC
 * 9110 §7.6.1, `forwardHeaders()`), `Host` set to the origin's unless
 * preserved, and its body streamed. The origin's status, headers (minus
 * hop-by-hop ones) and body come back as they were sent, streamed and not
 * decoded; redirects are relayed, never followed. An origin that cannot be
 * reached answers 502 (ERR_ORIGIN_UNAVAILABLE), one that does not answer in
 * time 504 (ERR_ORIGIN_TIMEOUT).
 *
 * The round trip is the runtime's (`c.env.wsgate.fetchOrigin`, on Node a
 * fresh node:http connection); without one, the global `fetch` with
 * `redirect: 'manual'` is used.
 *
 * @param target the origin, `http://host:port/path` (or `https://`, `ws://`, `wss://`, mapped to http/https)
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/api/*', http('http://127.0.0.1:9000', { timeout: 5_000 }))
 */
export function http(target: string | URL, options: HttpOptions = {}): MiddlewareHandler<{ Bindings: GatewayBindings; Variables: ForwardingVariables }> {
  const base = parseTarget(target, 'http()')
  assertDuration('timeout', options.timeout, 'http()')
  for (const name of ['appendPath', 'appendQuery', 'preserveHost'] as const) {
    const value = options[name]
    if (value !== undefined && typeof value !== 'boolean') {
      throw new TypeError(`http(): ${name} must be true or false, got ${String(value)}`)
    }
  }

  return async function http(c) {
    // Optional: on a runtime without wsgate's adapter, http() still works through fetch.
    const runtime = c.env?.wsgate as GatewayBindings['wsgate'] | undefined
    const incoming = c.req.raw
    const url = originUrl(base, new URL(incoming.url), options)
    const headers = forwardHeaders(incoming, url, options.preserveHost ?? c.get('preserveHost') ?? false)
    // The gateway's server already answered any `100-continue`, and fetch refuses the header (RFC 9110 §10.1.1).
    headers.delete('expect')
    const hasBody = incoming.body !== null && incoming.method !== 'GET' && incoming.method !== 'HEAD'
    let body: ReadableStream<Uint8Array> | ArrayBuffer | null = hasBody ? incoming.body : null
    if (hasBody && incoming.bodyUsed) {
      // A middleware read the body (c.req.text(), c.req.json(), …): send Hono's copy, with its own length.
      body = await c.req.arrayBuffer()
      headers.set('content-length', String(body.byteLength))
    }
    const init: RequestInit & { duplex?: 'half' } = {
      method: incoming.method,
      headers,
      body,
      redirect: 'manual',
      signal: incoming.signal,
    }
    if (body instanceof ReadableStream) init.duplex = 'half'
    const request = new Request(url, init)
    const timeout = options.timeout ?? runtime?.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT

    const answer = runtime?.fetchOrigin ? await runtime.fetchOrigin(request, timeout) : await fetchWithTimeout(request, timeout)
    const responseHeaders = stripHopByHop(new Headers(answer.headers))
    const bodiless = NULL_BODY_STATUSES.has(answer.status) || request.method === 'HEAD'
    if (bodiless) await answer.body?.cancel().catch(() => {})
    return new Response(bodiless ? null : answer.body, { status: answer.status, statusText: answer.statusText, headers: responseHeaders })
  }
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
    return await fetch(request, { redirect: 'manual', signal: AbortSignal.any([request.signal, timer.signal]) })
  } catch (error) {
    if (timer.signal.aborted) throw new GatewayError(504, 'ERR_ORIGIN_TIMEOUT', `origin did not answer within ${timeout} ms`, { cause: error })
    // undici reports "fetch failed" and keeps the socket error's code (ECONNREFUSED, …) in `cause`.
    const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code
    const reason = request.signal.aborted ? 'client went away' : typeof code === 'string' ? code : error instanceof Error ? error.message : String(error)
    throw new GatewayError(502, 'ERR_ORIGIN_UNAVAILABLE', `origin unavailable (${reason})`, { cause: error })
  } finally {
    clearTimeout(clock)
  }
}
