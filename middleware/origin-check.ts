import type { MiddlewareHandler } from 'hono'
import { GatewayError } from '../src/errors.ts'
import { assertBoolean, assertOptionNames } from '../src/options.ts'

/** Options of {@link originCheck}. */
export interface OriginCheckOptions {
  /**
   * The origins allowed to open connections, as `scheme://host[:port]`:
   * exact (`https://app.example.com`, `http://localhost:5173`) or a wildcard
   * for subdomains (`https://*.example.com`: any depth of subdomain, never
   * `https://example.com` itself, nor `https://example.com.evil.com` or
   * `https://evilexample.com`). Scheme and host compare case-insensitively;
   * a default port (`:443` for https, `:80` for http) is the same as none.
   * No path, query, user info or `*` elsewhere; `null` and `*` are refused
   * (any sandboxed page sends `Origin: null`; `*` would allow every site).
   * Required; may be empty only with `allowMissing: true`.
   */
  allowedOrigins: readonly string[]
  /**
   * Let requests without an `Origin` header through. Browsers always send
   * `Origin` on a WebSocket handshake (RFC 6455 §4.1 item 8, §10.2), so a
   * missing one means a non-browser client (a native app, a server, a CLI),
   * which cannot be used for cross-site WebSocket hijacking: allow it on
   * routes such clients use, authenticated by something other than cookies.
   * @default false (fail closed: a missing Origin is rejected with 403 `ERR_ORIGIN_HEADER_MISSING`)
   */
  allowMissing?: boolean
}

/** Option names, to refuse a misspelt one at start rather than ignore it. */
const OPTION_NAMES: readonly string[] = ['allowedOrigins', 'allowMissing']

/**
 * The shape of a serialized origin (RFC 6454 §6.2): a scheme, `://`, and an
 * authority with no user info, path, query or fragment.
 */
const ORIGIN_SHAPE = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\\\s]+$/i

/** The label a wildcard stands for while the entry is checked with the URL parser. */
const WILDCARD_LABEL = 'wsgate-wildcard'

/** One or more DNS labels, as a wildcard's matched part must be (after the URL parser's normalisation). */
const LABELS = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/

/** An origin reduced to what is compared. */
interface ParsedOrigin {
  /** Lower-cased scheme with the colon, e.g. `https:`. */
  scheme: string
  /** Lower-cased host name (IPv6 in brackets), punycode for international names. */
  hostname: string
  /** The port, empty for the scheme's default. */
  port: string
}

/** A `https://*.example.com[:port]` entry: the part after `*.`, and the scheme and port it requires. */
interface WildcardOrigin {
  scheme: string
  suffix: string
  port: string
}

/**
 * Rejects requests whose `Origin` is not on an allowlist, against cross-site
 * WebSocket hijacking: a browser sends the page's cookies with a WebSocket
 * handshake to any site, and only the `Origin` tells the gateway which page
 * opened it (RFC 6455 §10.2). Runs on any route, WebSocket or plain HTTP, in
 * any order with the other middleware; it reads the request and changes
 * nothing.
 *
 * A request without `Origin` gets 403 `ERR_ORIGIN_HEADER_MISSING` unless
 * `allowMissing` is set; one whose `Origin` is not allowed (or not an
 * origin, or `null`) gets 403 `ERR_ORIGIN_HEADER_FORBIDDEN`. Bad options
 * throw a `TypeError` naming the entry when the route is defined.
 *
 * @example
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all(
 *   '/chat',
 *   originCheck({ allowedOrigins: ['https://app.example.com', 'https://*.example.com'] }),
 *   websocket('ws://127.0.0.1:9001'),
 * )
 */
export function originCheck(options: OriginCheckOptions): MiddlewareHandler {
  assertOptionNames(options, 'originCheck()', OPTION_NAMES, '{ allowedOrigins: ["https://app.example.com"] }')
  assertBoolean(options.allowMissing, 'allowMissing', 'originCheck()')
  const allowMissing = options.allowMissing ?? false
  const entries: unknown = options.allowedOrigins
  if (!Array.isArray(entries)) {
    throw new TypeError('originCheck(): allowedOrigins must be an array of origins, e.g. ["https://app.example.com"]')
  }
  if (entries.length === 0 && !allowMissing) {
    throw new TypeError('originCheck(): allowedOrigins is empty, which rejects every request; list the origins, or set allowMissing: true to admit only non-browser clients')
  }
  const exact = new Set<string>()
  const wildcards: WildcardOrigin[] = []
  for (const entry of entries as unknown[]) {
    const parsed = parseEntry(entry)
    if ('suffix' in parsed) wildcards.push(parsed)
    else exact.add(originKey(parsed))
  }

  const isAllowed = (origin: ParsedOrigin): boolean =>
    exact.has(originKey(origin)) || wildcards.some((wildcard) => matchesWildcard(origin, wildcard))

  return async function originCheck(c, next) {
    const value = c.req.raw.headers.get('origin')
    if (value === null) {
      if (!allowMissing) throw new GatewayError(403, 'ERR_ORIGIN_HEADER_MISSING', 'missing Origin header')
      return next()
    }
    // A repeated Origin arrives joined ("a, b") and fails the shape check, as does the opaque "null".
    const origin = parseOrigin(value)
    if (!origin) throw new GatewayError(403, 'ERR_ORIGIN_HEADER_FORBIDDEN', 'Origin header is not an allowed origin')
    if (!isAllowed(origin)) {
      throw new GatewayError(403, 'ERR_ORIGIN_HEADER_FORBIDDEN', `Origin ${originKey(origin)} is not allowed`)
    }
    return next()
  }
}

/** Parses one allowlist entry, or throws the TypeError that names it. */
function parseEntry(entry: unknown): ParsedOrigin | WildcardOrigin {
  const fail = (why: string): never => {
    throw new TypeError(`originCheck(): allowedOrigins entry ${JSON.stringify(entry)} ${why}; expected e.g. "https://app.example.com" or "https://*.example.com"`)
  }
  if (typeof entry !== 'string') return fail('is not a string')
  if (entry === '*') return fail('would allow every site (to skip the check, leave originCheck() off the route)')
  if (entry.toLowerCase() === 'null') return fail('is the opaque origin that every sandboxed page and file sends')
  const wildcard = /^([a-z][a-z0-9+.-]*:\/\/)\*\./i.exec(entry)
  const candidate = wildcard ? `${wildcard[1]!}${WILDCARD_LABEL}.${entry.slice(wildcard[0].length)}` : entry
  if (candidate.includes('*')) return fail('has a "*" that is not a leading "*." of the host')
  const parsed = parseOrigin(candidate)
  if (!parsed) return fail('is not an origin (scheme://host[:port], nothing after the port)')
  if (!wildcard) return parsed
  const suffix = parsed.hostname.startsWith(`${WILDCARD_LABEL}.`) ? parsed.hostname.slice(WILDCARD_LABEL.length + 1) : ''
  // An empty suffix ("https://*.") would match every host written with a trailing dot.
  if (!LABELS.test(suffix)) return fail('is not a wildcard over a domain name')
  return { scheme: parsed.scheme, suffix, port: parsed.port }
}

/**
 * Parses a serialized origin with the WHATWG URL parser, which lower-cases
 * scheme and host, drops a default port and converts international names to
 * punycode, so equal origins compare equal as strings.
 */
function parseOrigin(value: string): ParsedOrigin | undefined {
  if (!ORIGIN_SHAPE.test(value)) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  // Schemes without an authority (file:, data:) have an opaque origin: nothing to compare.
  if (!url.hostname) return undefined
  // Non-special schemes (chrome-extension:, app:) keep the host's case: compare it case-insensitively too.
  return { scheme: url.protocol.toLowerCase(), hostname: url.hostname.toLowerCase(), port: url.port }
}

function originKey(origin: ParsedOrigin): string {
  return `${origin.scheme}//${origin.hostname}${origin.port ? `:${origin.port}` : ''}`
}

/** `a.example.com` and `a.b.example.com` match `*.example.com`; `example.com`, `evilexample.com` and `example.com.evil.com` do not. */
function matchesWildcard(origin: ParsedOrigin, wildcard: WildcardOrigin): boolean {
  if (origin.scheme !== wildcard.scheme || origin.port !== wildcard.port) return false
  const { hostname } = origin
  if (!hostname.endsWith(`.${wildcard.suffix}`)) return false
  return LABELS.test(hostname.slice(0, hostname.length - wildcard.suffix.length - 1))
}
