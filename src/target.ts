/**
 * Origin targets, shared by `websocket()`, `http()` and `proxy()`: a target
 * is parsed and checked once, when the route is defined, and each request's
 * origin URL is built from it. Portable: WHATWG `URL` only.
 */

/** How the client's path and query are carried over to the origin. */
export interface TargetOptions {
  /**
   * Append the client's path to the target's path (`ws://o/base` + `/chat` → `/base/chat`).
   * @default true
   */
  appendPath?: boolean
  /**
   * Append the client's query string to the target's.
   * @default true
   */
  appendQuery?: boolean
}

/**
 * Parses and checks a target once, at route definition. `ws:`/`wss:` map to
 * `http:`/`https:`, the schemes the request to the origin is made with.
 * Throws a `TypeError` naming `caller` (e.g. `websocket()`) when the target
 * is not a URL or has another scheme.
 */
export function parseTarget(target: string | URL, caller: string): URL {
  let url: URL
  try {
    url = new URL(String(target))
  } catch {
    throw new TypeError(`${caller}: target "${String(target)}" is not a URL; expected e.g. ws://127.0.0.1:9001`)
  }
  const scheme = { 'ws:': 'http:', 'http:': 'http:', 'wss:': 'https:', 'https:': 'https:' }[url.protocol]
  if (!scheme) throw new TypeError(`${caller}: target scheme must be ws, wss, http or https, not ${url.protocol}`)
  // The URL setter refuses special-to-special scheme changes in some cases, so rebuild.
  return new URL(`${scheme}//${url.host}${url.pathname}${url.search}`)
}

/** The URL sent to the origin: the target, with the client's path and query appended as the options say. */
export function originUrl(base: URL, incoming: URL, options: TargetOptions): URL {
  const path = options.appendPath !== false && incoming.pathname !== '/' ? base.pathname.replace(/\/$/, '') + incoming.pathname : base.pathname
  // `base.search` is '' for an empty query too: keep a target's bare '?' as the copy did.
  const baseQuery = base.search || (base.href.endsWith('?') ? '?' : '')
  const search = options.appendQuery !== false && incoming.search ? (base.search ? `${base.search}&${incoming.search.slice(1)}` : incoming.search) : baseQuery
  // One parse of the whole (a copy of base, then the pathname setter, parsed twice per handshake). Both
  // parts come from parsed URLs, so neither holds a raw '?' or '#' that could move a boundary.
  return new URL(`${base.protocol}//${base.host}${path}${search}`)
}
