import { withWarnings } from '../src/warnings.ts'
import type { MiddlewareHandler } from 'hono'
import { addressText, canonicalAddress, cidrMatcher, parseAddress, type CidrMatcher } from '../src/cidr.ts'
import { GatewayError } from '../src/errors.ts'
import { replaceRequest, type ForwardingVariables } from '../src/forward.ts'
import { emptyHeadersLike } from '../src/head-headers.ts'
import { HTTP_TOKEN, hasToken, isHopByHop, trimOws } from '../src/headers.ts'
import type { GatewayBindings } from '../src/runtime.ts'
import { assertBoolean, assertOptionNames } from '../src/options.ts'

/** Options of {@link normalizeHeaders}. */
export interface NormalizeHeadersOptions {
  /**
   * Proxies in front of the gateway whose `X-Forwarded-*` and `Forwarded`
   * headers are believed, as CIDR ranges or single addresses
   * (`['10.0.0.0/8', '::1']`). When the connection comes from one of them,
   * the gateway appends its own entry to what they sent; from anywhere else,
   * whatever the client sent is dropped and replaced. The client address
   * published for `rateLimit()` is then the rightmost `X-Forwarded-For`
   * address outside these ranges. IPv4-mapped IPv6 addresses
   * (`::ffff:10.0.0.1`) count as the IPv4 address they carry.
   * @default [] (no proxy is trusted: the gateway is the edge)
   */
  trustedProxies?: readonly string[]
  /**
   * Send the client's `Host` to the origin instead of the origin's own host
   * (sets the `preserveHost` context variable, which the handlers read).
   * @default false (the origin sees its own host; the client's is in `X-Forwarded-Host`)
   */
  preserveHost?: boolean
}

/** Option names, to refuse a misspelt one at start rather than ignore it. */
const OPTION_NAMES: readonly string[] = ['trustedProxies', 'preserveHost']

/**
 * Control characters a field value must not hold (RFC 9110 §5.5: only VCHAR,
 * obs-text, SP and HTAB). NUL, CR and LF never reach a Web `Headers`; the
 * rest do, and would be smuggled to the origin.
 */
const INVALID_VALUE_CHARACTER = /[\x00-\x08\x0a-\x1f\x7f]/

/**
 * Normalises the request every later step and the origin see, on WebSocket
 * and plain HTTP routes alike (it only touches the request):
 *
 * - rejects with 400 what a proxy must not guess at: a repeated `Host`
 *   (`ERR_HEADER_DUPLICATE_HOST`), a control character in a header name or
 *   value (`ERR_HEADER_INVALID_CHARACTER`), `Content-Length` together with
 *   `Transfer-Encoding` or conflicting `Content-Length` values
 *   (`ERR_HEADER_AMBIGUOUS_LENGTH`, RFC 9112 §6.1, §6.3);
 * - removes hop-by-hop headers (RFC 9110 §7.6.1): `Connection`, `Keep-Alive`,
 *   `Proxy-Connection`, `Proxy-*` (and the `Proxy` header of httpoxy), `TE`,
 *   `Trailer`, `Transfer-Encoding`, `Upgrade` (the headers the client's
 *   `Connection` named were removed by the gateway before the chain ran, so
 *   a header an earlier middleware set is never lost here). A body's
 *   framing belongs to the runtime, so dropping `Transfer-Encoding` from the
 *   Web `Request` loses nothing;
 * - on a WebSocket upgrade (`Upgrade` holds `websocket` and `Connection`
 *   holds `upgrade`, in any case and among any other tokens) puts back the
 *   canonical `Upgrade: websocket` and `Connection: upgrade`. Any other
 *   request leaves as a plain request: a WebSocket route then rejects it with
 *   400 `ERR_HANDSHAKE_UPGRADE` through `websocket()`'s validator;
 * - sets `X-Forwarded-For` (the socket's client address),
 *   `X-Forwarded-Proto` (the request URL's scheme), `X-Forwarded-Host` (the
 *   client's `Host`) and `Forwarded` (RFC 7239, `for=…;host=…;proto=…`, an
 *   IPv6 node quoted as `for="[2001:db8::1]"`). Each is a list with one entry
 *   per hop, the original client's first: from a trusted proxy the gateway
 *   appends its entry to the proxy's, from anyone else the client's values
 *   are dropped, and so are their underscore spellings (`X_Forwarded_For`),
 *   which CGI, WSGI and Rack origins read as the same header;
 * - sets `X-Real-IP` to the client address (behind trusted proxies, the one their `X-Forwarded-For` names);
 * - drops, unless they come from a trusted proxy, the headers other proxies
 *   and CDNs use to tell an origin the client's address, scheme, port, path
 *   prefix or certificate, or the URL it asked for (`X-Client-IP`,
 *   `True-Client-IP`, `CF-Connecting-IP`, `X-Forwarded-Ssl`,
 *   `X-Forwarded-Port`, `X-Forwarded-Prefix`, `X-Forwarded-Client-Cert`,
 *   `X-Original-URL`, `X-Rewrite-URL`, …), and their underscore spellings:
 *   origins that read them would take the client's word for them;
 * - with `preserveHost: true`, has the handlers send the client's `Host` to
 *   the origin (`c.set('preserveHost', true)`);
 * - publishes the client's address (`c.set('clientAddress', …)`), which
 *   `rateLimit()` counts by: the socket's peer, or when that is a trusted
 *   proxy, the rightmost `X-Forwarded-For` address that is not one (the
 *   entries left of it are the client's own word).
 *
 * The client address comes from the runtime (`c.env.wsgate.clientAddress`);
 * without a wsgate runtime the request fails with 500 `ERR_RUNTIME_MISSING`.
 * Bad options throw a `TypeError` when the route is defined.
 *
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/chat', normalizeHeaders({ trustedProxies: ['10.0.0.0/8'] }), websocket('ws://127.0.0.1:9001'))
 */
export function normalizeHeaders(
  options: NormalizeHeadersOptions = {},
): MiddlewareHandler<{ Bindings: GatewayBindings; Variables: ForwardingVariables }> {
  assertOptionNames(options, 'normalizeHeaders()', OPTION_NAMES, '{ trustedProxies: ["10.0.0.0/8"] }')
  assertBoolean(options.preserveHost, 'preserveHost', 'normalizeHeaders()')
  const trusted = cidrMatcher(options.trustedProxies ?? [], 'normalizeHeaders(): trustedProxies')
  const preserveHost = options.preserveHost ?? false

  const trustsEveryone = trusted.matches('203.0.113.1') || trusted.matches('2001:db8::1')
  // Reconnecting clients come back from the same address: its canonical form and trust are worked out once.
  const peers = new Map<string, Peer>()
  function peerOf(address: string): Peer {
    let peer = peers.get(address)
    if (peer === undefined) {
      const client = canonicalAddress(address)
      peer = { client, trusted: client !== undefined && trusted.matches(client) }
      if (peers.size >= PEER_MEMO_SIZE) peers.clear()
      peers.set(address, peer)
    }
    return peer
  }

  return withWarnings(async function normalizeHeaders(c, next) {
    const request = c.req.raw
    // One pass over the client's headers checks each, drops the hop-by-hop ones and sets the forwarding ones
    // aside, and builds the outgoing list: copying it all and deleting a dozen names after costs twice as many
    // header-list operations (bench/chain.ts).
    // Of the request's kind: the head's lines on Node's upgrade path (src/head-headers.ts), a Headers elsewhere.
    const headers = emptyHeadersLike(request.headers)
    const seen: Seen = { host: null, contentLength: null, transferEncoding: false, upgrade: null, connection: null, forwarding: {} }
    for (const [name, value] of request.headers) {
      if (!HTTP_TOKEN.test(name)) throw new GatewayError(400, 'ERR_HEADER_INVALID_CHARACTER', 'invalid character in a header name')
      if (INVALID_VALUE_CHARACTER.test(value)) {
        throw new GatewayError(400, 'ERR_HEADER_INVALID_CHARACTER', `control character in the ${displayName(name)} header`)
      }
      if (!sortHeader(name, value, seen)) headers.append(name, value)
    }
    rejectUnsafe(seen)
    const runtime = c.env?.wsgate
    if (!runtime) {
      throw new GatewayError(500, 'ERR_RUNTIME_MISSING', 'normalizeHeaders() runs only under a wsgate runtime (serve() or the CLI)')
    }
    const { client, trusted: fromTrustedProxy } = peerOf(runtime.clientAddress)
    // RFC 6455 §4.2.1 items 3 and 4: tokens are case-insensitive and may come with others.
    if (hasToken(seen.upgrade, 'websocket') && hasToken(seen.connection, 'upgrade')) {
      headers.append('upgrade', 'websocket')
      headers.append('connection', 'upgrade')
    }

    // A Request's URL is parsed and serialised, so its scheme is the text before the first colon, lower case.
    const proto = request.url.slice(0, request.url.indexOf(':'))
    const forwardedHost = seen.host || new URL(request.url).host
    const entries: [name: string, value: string][] = [
      ['x-forwarded-for', client ?? 'unknown'],
      ['x-forwarded-proto', proto],
      ['x-forwarded-host', forwardedHost],
      ['forwarded', forwardedElement(client, forwardedHost, proto)],
    ]
    for (const [name, value] of entries) {
      const previous = fromTrustedProxy ? seen.forwarding[name] : undefined
      headers.append(name, previous ? `${previous}, ${value}` : value)
    }
    // The client address: the socket's peer, or behind trusted proxies the rightmost X-Forwarded-For entry they
    // did not write (the entries left of it are the client's own word).
    const address = fromTrustedProxy ? (clientBehind(seen.forwarding['x-forwarded-for'], trusted) ?? client) : client
    // X-Real-IP (nginx's one-address convention) is that address, whoever sent one: load balancers that neither
    // set nor strip it (AWS ALB, GCP's, HAProxy by default) pass a client's forged value on as if it were theirs.
    headers.append('x-real-ip', address ?? 'unknown')
    const asserted = fromTrustedProxy ? seen.asserted : undefined
    if (asserted) for (let i = 0; i < asserted.length; i += 2) headers.append(asserted[i]!, asserted[i + 1]!)

    replaceRequest(c, { headers })
    c.set('preserveHost', preserveHost)
    if (address !== undefined) c.set('clientAddress', address)
    await next()
  }, [
    trustsEveryone &&
      'trustedProxies includes public addresses (a documentation address 203.0.113.1 or 2001:db8::1 matches): any client can forge X-Forwarded-* and Forwarded',
  ])
}

/** A client address as the forwarding headers write it (undefined: not an address), and whether it is a trusted proxy. */
interface Peer {
  readonly client: string | undefined
  readonly trusted: boolean
}

/** Distinct client addresses whose canonical form and trust are kept; past it the memo starts again (a scan of many addresses). */
const PEER_MEMO_SIZE = 4096

/** The headers a proxy sets itself: set aside from the client's, kept (and extended) only from a trusted proxy. */
const FORWARDING_HEADERS: ReadonlySet<string> = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip'])

/**
 * What other proxies, load balancers and CDNs tell an origin in their own
 * conventions, and the gateway does not write: the client's address
 * (`X-Client-IP`, `True-Client-IP`, `CF-Connecting-IP`…, which libraries such
 * as request-ip read before `X-Forwarded-For`), how it connected
 * (`X-Forwarded-Ssl: on` and `X-Forwarded-Scheme` outrank `X-Forwarded-Proto`
 * in Rack), where the app lives (`X-Forwarded-Port`, `-Prefix`), its client
 * certificate (`X-Forwarded-Client-Cert`), and the URL it asked for
 * (`X-Original-URL`, `X-Rewrite-URL`, which Symfony, Laminas and IIS have
 * routed by instead of the request-target). Kept from a trusted proxy as
 * sent; from anyone else dropped, so a client cannot claim them.
 */
const PROXY_ASSERTED_HEADERS: ReadonlySet<string> = new Set([
  'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-ssl', 'x-forwarded-scheme', 'x-forwarded-protocol', 'x-forwarded-server',
  'x-forwarded-uri', 'x-forwarded-path', 'x-forwarded-method', 'x-forwarded-client-cert', 'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info', 'x-forwarded', 'forwarded-for', 'x-original-forwarded-for', 'front-end-https', 'x-url-scheme',
  'x-client-ip', 'client-ip', 'true-client-ip', 'x-cluster-client-ip', 'cf-connecting-ip', 'cf-connecting-ipv6', 'cf-pseudo-ipv4',
  'fastly-client-ip', 'x-originating-ip', 'x-remote-ip', 'x-remote-addr', 'x-envoy-external-address', 'x-appengine-user-ip',
  'x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-envoy-original-path', 'x-original-host',
])


/** What the pass over the client's headers noted for the checks and headers that follow it. */
interface Seen {
  host: string | null
  contentLength: string | null
  transferEncoding: boolean
  upgrade: string | null
  connection: string | null
  /** The client's forwarding headers, by lower-case name. */
  forwarding: Record<string, string>
  /** The client's {@link PROXY_ASSERTED_HEADERS}, as name, value, … (absent when it sent none, as nearly every request). */
  asserted?: string[]
}

/**
 * Notes what the checks need from one header and says whether it stays out
 * of the outgoing list: hop-by-hop headers (RFC 9110 §7.6.1), `Proxy-*`
 * (meant for a proxy on the way: Proxy-Authorization is this gateway's, not
 * the origin's) and `Proxy` itself (httpoxy's vector, CVE-2016-5385, and no
 * standard header), the forwarding headers, which are written afresh, and
 * the {@link PROXY_ASSERTED_HEADERS}, put back only for a trusted proxy.
 * Underscore spellings of the forwarding headers (`X_Forwarded_For`) go
 * too: a CGI-style origin reads them as the gateway's own.
 * Only the fixed list: what the client's Connection named was removed by the
 * gateway's head parse before the chain ran, and what Connection names now
 * may be a header an earlier middleware set on purpose.
 */
function sortHeader(name: string, value: string, seen: Seen): boolean {
  switch (name) {
    case 'host':
      seen.host = value
      return false
    case 'content-length':
      seen.contentLength = value
      return false
    case 'transfer-encoding':
      seen.transferEncoding = true
      return true
    case 'upgrade':
      seen.upgrade = value
      return true
    case 'connection':
      seen.connection = value
      return true
  }
  if (isHopByHop(name) || name === 'proxy' || name.startsWith('proxy-')) return true
  if (FORWARDING_HEADERS.has(name)) {
    seen.forwarding[name] = value
    return true
  }
  if (PROXY_ASSERTED_HEADERS.has(name)) {
    seen.asserted ??= []
    seen.asserted.push(name, value)
    return true
  }
  // CGI, WSGI, Rack and PHP hand an origin `X_Forwarded_For` and `X-Forwarded-For` as one HTTP_X_FORWARDED_FOR:
  // an underscore spelling of a forwarding header would be read as (or joined to) the gateway's own. Dropped
  // from everyone, as nginx drops names with underscores: no proxy writes its forwarding headers that way.
  if (!name.includes('_')) return false
  const dashed = name.replace(/_/g, '-')
  return FORWARDING_HEADERS.has(dashed) || PROXY_ASSERTED_HEADERS.has(dashed)
}

/** Throws the 400 for a header section a proxy must refuse rather than forward (names and values were checked in the pass). */
function rejectUnsafe(seen: Seen): void {
  // A repeated header arrives joined with ", "; a Host (uri-host [":" port]) never holds a comma.
  if (seen.host?.includes(',')) {
    throw new GatewayError(400, 'ERR_HEADER_DUPLICATE_HOST', 'more than one Host header')
  }
  const length = seen.contentLength
  if (length !== null && seen.transferEncoding) {
    // RFC 9112 §6.1: the request-smuggling shape; a proxy must not forward both.
    throw new GatewayError(400, 'ERR_HEADER_AMBIGUOUS_LENGTH', 'both Content-Length and Transfer-Encoding present')
  }
  if (length !== null) {
    // RFC 9112 §6.3 item 5: a list of identical values may be read as one; anything else is unrecoverable.
    const values = length.split(',').map((value) => value.trim())
    if (!values.every((value) => /^\d+$/.test(value) && value === values[0])) {
      throw new GatewayError(400, 'ERR_HEADER_AMBIGUOUS_LENGTH', 'invalid or conflicting Content-Length values')
    }
  }
}

/**
 * The client a trusted proxy's `X-Forwarded-For` names: walking from the
 * right (the entries proxies appended, the nearest last), the first address
 * that is not a trusted proxy; the leftmost address reached when all are.
 * Entries to the left of it are the client's own word and are never read;
 * one that is not an address ends the walk (no trusted proxy wrote it).
 * Accepts the spellings proxies use: `[v6]`, `[v6]:port`, `v4:port`.
 */
function clientBehind(forwardedFor: string | undefined, trusted: CidrMatcher): string | undefined {
  if (!forwardedFor) return undefined
  const entries = forwardedFor.split(',')
  let found: string | undefined
  for (let i = entries.length - 1; i >= 0; i--) {
    const parsed = parseAddress(nodeOf(trimOws(entries[i]!)))
    if (!parsed) break
    found = addressText(parsed)
    if (!trusted.matches(parsed)) break
  }
  return found
}

/** An `X-Forwarded-For` entry without brackets or port: `[2001:db8::1]:443` → `2001:db8::1`, `192.0.2.1:80` → `192.0.2.1`. */
function nodeOf(entry: string): string {
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']')
    return end > 0 ? entry.slice(1, end) : entry
  }
  const colon = entry.indexOf(':')
  // One colon is an IPv4 address with a port; IPv6 has at least two.
  return colon > 0 && colon === entry.lastIndexOf(':') ? entry.slice(0, colon) : entry
}

/** `x-forwarded-for` → `X-Forwarded-For`, for reasons the client reads. */
function displayName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase())
}

/**
 * One RFC 7239 forwarded-element: `for=192.0.2.43;host=example.com;proto=https`.
 * §6: an IPv6 node is bracketed, and the brackets and colons require a
 * quoted-string (§4); an unknown client is `for=unknown` (§6.2).
 */
function forwardedElement(client: string | undefined, host: string, proto: string): string {
  const node = client === undefined ? 'unknown' : client.includes(':') ? `"[${client}]"` : client
  const pairs = [`for=${node}`]
  if (host) pairs.push(`host=${tokenOrQuoted(host)}`)
  pairs.push(`proto=${tokenOrQuoted(proto)}`)
  return pairs.join(';')
}

/** A value as a token if it is one, else as a quoted-string with `"` and `\` escaped (RFC 9110 §5.6.4). */
function tokenOrQuoted(value: string): string {
  return HTTP_TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`
}
