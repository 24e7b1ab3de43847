import type { NodeCrypto } from './native-crypto.ts'

/**
 * The contract between the portable handlers (which see only Web-standard
 * Request/Response/Headers and Hono's Context) and a runtime adapter (which
 * owns sockets). The adapter puts a {@link GatewayRuntime} into Hono's env
 * under `wsgate`; handlers read it with `c.env.wsgate`.
 */
import type { LimitStore } from './limit-store.ts'

/** How the gateway verifies a `wss://` or `https://` origin. */
export interface OriginTls {
  /** PEM CA certificate(s) to trust instead of the system's. @default the system CAs */
  ca?: string | readonly string[] | undefined
  /** Name sent as SNI and checked against the certificate. @default the origin URL's host */
  servername?: string | undefined
  /** Verify the origin's certificate. `false` is for tests only, and logs a warning at start. @default true */
  rejectUnauthorized?: boolean | undefined
}

/** What `websocket()` asks the runtime to send to an origin. */
export interface OriginRequest {
  /** The origin URL, scheme `http:` or `https:`, with the final path and query. */
  url: URL
  /** Headers to send, already canonical (`Upgrade: websocket`, `Connection: upgrade`). */
  headers: Headers
  /** Time the origin has to connect and answer, ms. */
  timeout: number
  /** For an `https:` URL: how its certificate is verified. @default the system CAs, the URL's host */
  tls?: OriginTls | undefined
}

/** An upgraded origin connection, opaque outside the runtime that made it. */
export interface OriginTunnel {
  /** Drops the connection (used when the upgrade is refused after all). */
  close(): void
}

/** How an origin answered an upgrade request. */
export type OriginAnswer =
  | {
      /** The origin answered `101 Switching Protocols`. */
      upgraded: true
      /** The origin's 101 headers, to be checked and relayed to the client. */
      headers: Headers
      tunnel: OriginTunnel
      /**
       * The runtime's platform made the upgrade with its own key and checked
       * the origin's answer (Workers' `fetch()`): only the subprotocol is
       * left to check. @default false
       */
      platformHandshake?: boolean
    }
  | {
      /** The origin answered anything but 101; relay it as it came. */
      upgraded: false
      response: Response
    }

/** Per-connection limits the pipe enforces; unset fields take the gateway's values. */
export interface PipeLimits {
  /** Close after this long without a byte in either direction, ms. */
  idleTimeout?: number | undefined
  /** Recycle after this long, ms (before jitter). */
  maxLifetime?: number | undefined
  /** Lifetime spread either way, as a fraction (0.05 = ±5 %). */
  lifetimeJitter?: number | undefined
  /**
   * Follow frame boundaries so that the gateway's own closes (idle,
   * lifetime, drain, token expiry) send close frames, and the log names who
   * closed with which code; false relays blindly and ends those closes at
   * the TCP level. @default true
   */
  closeFrames?: boolean | undefined
}

/** What a handler hands the runtime when it accepts an upgrade. */
export interface PipeSettings extends PipeLimits {
  /**
   * When the connection must end, ms since the epoch: the `exp` of the token
   * that authorised it. Recorded with the connection (and in its log lines);
   * closed at that moment with 1008 `token expired` when `closeOnExpiry` is set.
   */
  expiresAt?: number
  /** Close the connection with 1008 `token expired` at `expiresAt` (set by `jwtAuth({ closeOnTokenExpiry: true })`). */
  closeOnExpiry?: boolean
  /** Called exactly once when the connection is gone, or when the upgrade is dropped before the pipe starts. */
  onClose?: () => void
}

/** Facts handlers and middleware record for the handshake's log line. */
export interface HandshakeNote {
  /** The route pattern that matched, e.g. `/echo`. */
  route?: string
  /** Where the connection goes, e.g. `ws://127.0.0.1:9001`. */
  origin?: string
  /** Further fields for the log line, one key per middleware (e.g. `waf`). */
  [field: string]: unknown
}

/** The upgrade path of a request that arrived as an HTTP upgrade. */
export interface UpgradeSlot {
  /**
   * Takes an origin's accepted upgrade and returns the response the handler
   * must return. The runtime writes the client's 101 from that response's
   * headers (so middleware may still add headers after `next()`), then starts
   * the pipe. If the chain returns another response instead, the origin
   * connection is dropped and that response is sent.
   */
  accept(answer: Extract<OriginAnswer, { upgraded: true }>, settings: PipeSettings): Response
}

/** What a runtime adapter provides to handlers for one request. */
export interface GatewayRuntime {
  /** The client's address as the socket sees it (no proxy headers). */
  readonly clientAddress: string
  /** The request's HTTP version, e.g. `1.1` (a Web `Request` does not carry it). */
  readonly httpVersion: string
  /** The request target exactly as the client sent it, before any decoding or normalisation. */
  readonly rawTarget: string
  /**
   * The request target as the gateway routes and forwards it: origin-form,
   * path normalised (see the README's "What the edge refuses"), query as
   * sent. The router, the WAF and the origin all see this one. Undefined
   * only while a refused head is being answered.
   */
  readonly target?: string | undefined
  /** The header list in arrival order, repeated headers as separate entries, names as sent. */
  readonly rawHeaders: readonly [name: string, value: string][]
  /**
   * A Node-only speed-up the host injects: `node:crypto`'s one-shot
   * signature checks, which `jwtAuth()` uses instead of WebCrypto. Absent
   * on runtimes without it (Workers).
   */
  readonly crypto?: NodeCrypto | undefined
  /**
   * A runtime fact the host injects where it has one: the CPU time, ms, the
   * thread running the chain has used (Node: `process.threadCpuUsage()`).
   * `waf()` confirms a wall-clock overrun of its budget on it, so a busy
   * host's scheduling delays do not refuse handshakes. Absent on Workers.
   */
  readonly cpuClock?: (() => number) | undefined
  /** A unique id for this request, also logged and sent back as `x-request-id`. */
  readonly requestId: string
  /** The gateway's handshake timeout, ms; routes may lower or raise it. */
  readonly handshakeTimeout: number
  /** Present only when the request arrived on the upgrade path. */
  readonly upgrade: UpgradeSlot | undefined
  /**
   * Aborted when the client goes away before its answer (on the upgrade
   * path): an origin attempt that fails then is not the origin's fault, and
   * is neither retried nor counted against its health. Optional: a runtime
   * without it is taken as never aborting.
   */
  readonly signal?: AbortSignal | undefined
  /**
   * The gateway's limit store (`serve({ store })`): route connection caps
   * count there, and `rateLimit()` keeps its buckets there when it is shared.
   * Optional: without it a route's cap counts in the handler, per process.
   */
  readonly limitStore?: LimitStore | undefined
  /** Records route and origin for the handshake's log line. */
  note(note: HandshakeNote): void
  /**
   * Registers a callback for the end of the connection this request opens:
   * when its pipe closes, or, if the request never becomes a connection
   * (rejected, failed, plain HTTP), as soon as its answer is decided. Each
   * callback runs exactly once. Per-client connection caps release here.
   */
  onConnectionClose(listener: () => void): void
  /** Opens an upgrade request to an origin; rejects with a 502/504 `GatewayError`. */
  connectOrigin(request: OriginRequest): Promise<OriginAnswer>
  /**
   * Makes one plain HTTP round trip to an origin for `http()`: sends
   * `request` (method, URL, headers as given, body streamed) and resolves
   * with the origin's answer as it came — status, every header, body
   * streamed and not decoded, redirects not followed. Rejects with a 502
   * `GatewayError` (ERR_ORIGIN_UNAVAILABLE) when the origin cannot be
   * reached and a 504 (ERR_ORIGIN_TIMEOUT) when its response head does not
   * arrive within `timeout` ms. Optional: without it `http()` uses the
   * global `fetch` with `redirect: 'manual'`.
   */
  fetchOrigin?(request: Request, timeout: number, tls?: OriginTls): Promise<Response>
}

/** Hono env bindings a wsgate app runs with: `new Hono<{ Bindings: GatewayBindings }>()`. */
export interface GatewayBindings {
  wsgate: GatewayRuntime
}
