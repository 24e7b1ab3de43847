import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

/**
 * Every stable error code wsgate produces. Codes never change meaning; the
 * README has a table of them. Clients see the status and a one-line reason,
 * operators see the code in the log line.
 */
export type GatewayErrorCode =
  | 'ERR_HANDSHAKE_METHOD'
  | 'ERR_HANDSHAKE_HTTP_VERSION'
  | 'ERR_HANDSHAKE_UPGRADE'
  | 'ERR_HANDSHAKE_CONNECTION'
  | 'ERR_HANDSHAKE_INVALID_KEY'
  | 'ERR_HANDSHAKE_VERSION'
  | 'ERR_HANDSHAKE_MALFORMED'
  // The request head, on every route (src/request-head.ts)
  | 'ERR_HANDSHAKE_HOST'
  | 'ERR_HANDSHAKE_TARGET'
  | 'ERR_HANDSHAKE_URI_TOO_LONG'
  | 'ERR_HANDSHAKE_FRAMING'
  | 'ERR_HANDSHAKE_METHOD_NOT_IMPLEMENTED'
  | 'ERR_HANDSHAKE_HEADERS_TOO_LARGE'
  | 'ERR_HANDSHAKE_TIMEOUT'
  | 'ERR_REQUEST_TIMEOUT'
  // A plain HTTP/1.1 request's Expect with an expectation other than 100-continue (src/node/listener.ts)
  | 'ERR_EXPECTATION_FAILED'
  | 'ERR_CONNECTION_LIMIT'
  // serve() draining: close({ drain: true }), SIGTERM, SIGINT
  | 'ERR_GATEWAY_DRAINING'
  // serve()'s fair share (with ERR_TOO_MANY_CONNECTIONS, shared with rateLimit())
  | 'ERR_TOO_MANY_HANDSHAKES'
  | 'ERR_ROUTE_HANDSHAKE_LIMIT'
  // serve()'s maxRequestsPerClient: plain requests (not upgrades) in flight per client address
  | 'ERR_CLIENT_REQUEST_LIMIT'
  // A limit store (redisStore({ failOpen: false })) that cannot answer: the caps cannot be checked
  | 'ERR_LIMIT_STORE_UNAVAILABLE'
  | 'ERR_ORIGIN_UNAVAILABLE'
  | 'ERR_ORIGIN_TIMEOUT'
  | 'ERR_ORIGIN_BAD_HANDSHAKE'
  // HTTP/2 (RFC 8441): a WebSocket's extended CONNECT the route answered with a 2xx without opening it
  | 'ERR_HANDSHAKE_NOT_UPGRADED'
  | 'ERR_ORIGIN_TLS'
  | 'ERR_ORIGIN_DOWN'
  | 'ERR_RUNTIME_MISSING'
  | 'ERR_INTERNAL'
  // normalizeHeaders()
  | 'ERR_HEADER_DUPLICATE_HOST'
  | 'ERR_HEADER_INVALID_CHARACTER'
  | 'ERR_HEADER_AMBIGUOUS_LENGTH'
  // originCheck()
  | 'ERR_ORIGIN_HEADER_MISSING'
  | 'ERR_ORIGIN_HEADER_FORBIDDEN'
  // jwtAuth()
  | 'ERR_JWT_MISSING'
  | 'ERR_JWT_MALFORMED'
  | 'ERR_JWT_SIGNATURE_INVALID'
  | 'ERR_JWT_EXPIRED'
  | 'ERR_JWT_NOT_YET_VALID'
  | 'ERR_JWT_CLAIM_INVALID'
  | 'ERR_JWT_ALGORITHM_NOT_ALLOWED'
  | 'ERR_JWT_KEY_UNKNOWN'
  | 'ERR_JWT_AMBIGUOUS'
  | 'ERR_JWT_INSUFFICIENT_SCOPE'
  | 'ERR_JWKS_UNAVAILABLE'
  // rateLimit()
  | 'ERR_RATE_LIMITED'
  | 'ERR_TOO_MANY_CONNECTIONS'
  // waf()
  | 'ERR_WAF_BLOCKED'
  // cache(): Cache-Control: only-if-cached and nothing stored satisfies the request (RFC 9111 §5.2.1.7)
  | 'ERR_CACHE_ONLY_IF_CACHED'

/**
 * The response header that names a wsgate error code. It is the gateway's
 * own: the access log, the metrics and clients read it as the gateway's
 * refusal, so an origin's answer never carries one through: the origin
 * connectors drop it where they read the answer (`src/node/origin/raw.ts`,
 * `src/http.ts`, `src/workers/origin.ts`).
 */
export const ERROR_HEADER = 'x-wsgate-error'

/** Options of a {@link GatewayError}. */
export interface GatewayErrorOptions {
  /** Extra response headers, e.g. `Retry-After` or `Sec-WebSocket-Version`. */
  headers?: Record<string, string>
  /** The underlying error, kept for the log line, never sent to the client. */
  cause?: unknown
}

/**
 * An error that ends a handshake with a status, a stable code and a short
 * plain-text reason. It extends Hono's `HTTPException`, so throwing it from
 * any middleware or handler yields its response through Hono's default
 * error handler.
 *
 * @example
 * throw new GatewayError(403, 'ERR_TENANT_UNKNOWN' as GatewayErrorCode, 'unknown tenant in X-Tenant')
 */
export class GatewayError extends HTTPException {
  /** Stable machine-readable code, e.g. `ERR_HANDSHAKE_INVALID_KEY`. */
  readonly code: GatewayErrorCode
  /** Extra headers the response carries. */
  readonly headers: Record<string, string>

  constructor(status: ContentfulStatusCode, code: GatewayErrorCode, reason: string, options: GatewayErrorOptions = {}) {
    super(status, { message: reason, cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.headers = options.headers ?? {}
  }

  /** The client's response: the status and a one-line `text/plain` reason. */
  override getResponse(): Response {
    return new Response(this.body(), { status: this.status, headers: this.responseHeaders() })
  }

  /** The response body: the reason on one line. */
  body(): string {
    return `${this.message}\n`
  }

  /** The response headers: the extra ones, the content type and the stable code. */
  responseHeaders(): Headers {
    const headers = new Headers(this.headers)
    headers.set('content-type', 'text/plain; charset=utf-8')
    headers.set(ERROR_HEADER, this.code)
    return headers
  }
}
