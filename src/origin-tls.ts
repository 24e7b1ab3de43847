import type { OriginTls } from './runtime.ts'

/**
 * The `tls` option of `websocket()`, `http()` and `proxy()` (and of a pool's
 * targets): how the gateway verifies a `wss://` or `https://` origin. The
 * runtime's connector applies it; this file holds what is checked and said
 * once, when a route is defined. Portable: no `node:` import.
 */

export type { OriginTls } from './runtime.ts'

const PEM_CERTIFICATE = '-----BEGIN CERTIFICATE-----'

/**
 * Checks an `OriginTls` once, at route definition, and throws a
 * `TypeError` naming `caller` and the option: `ca` must be PEM text (one
 * string or a list; the certificates themselves are parsed by the runtime
 * when the first connection is made), `servername` a non-empty host name or
 * IP address without port or brackets, `rejectUnauthorized` a boolean.
 *
 * @example
 * assertOriginTls(options.tls, 'websocket()') // in the factory, before the handler is returned
 */
export function assertOriginTls(tls: OriginTls | undefined, caller: string): void {
  if (tls === undefined) return
  if (tls === null || typeof tls !== 'object') throw new TypeError(`${caller}: tls must be an object ({ ca, servername, rejectUnauthorized }), got ${String(tls)}`)
  const { ca, servername, rejectUnauthorized } = tls
  if (ca !== undefined) {
    const list: readonly unknown[] = Array.isArray(ca) ? ca : [ca]
    if (list.length === 0) throw new TypeError(`${caller}: tls.ca is an empty list; leave it out to trust the system CAs`)
    for (const pem of list) {
      if (typeof pem !== 'string' || !pem.includes(PEM_CERTIFICATE)) {
        throw new TypeError(`${caller}: tls.ca must be PEM certificate text ("${PEM_CERTIFICATE}…"), or a list of them; read the file first, e.g. readFileSync('ca.pem', 'utf8')`)
      }
    }
  }
  if (servername !== undefined && (typeof servername !== 'string' || !/^[^\s/:[\]]+$|^[0-9a-fA-F:.]+$/.test(servername))) {
    throw new TypeError(`${caller}: tls.servername must be a host name or IP address (no scheme, port or brackets), got ${JSON.stringify(servername)}`)
  }
  if (rejectUnauthorized !== undefined && typeof rejectUnauthorized !== 'boolean') {
    throw new TypeError(`${caller}: tls.rejectUnauthorized must be true or false, got ${String(rejectUnauthorized)}`)
  }
}

/**
 * The start-up warnings an `OriginTls` deserves, for `withWarnings()`: one
 * when `rejectUnauthorized` is `false` (the origin's certificate is not
 * verified; for tests only). Empty when the settings are safe.
 *
 * @example
 * return withWarnings(handler, tlsWarnings(options.tls))
 */
export function tlsWarnings(tls: OriginTls | undefined): string[] {
  if (tls?.rejectUnauthorized !== false) return []
  return [
    "tls.rejectUnauthorized is false: the origin's certificate is not verified, so anyone on the path to the origin can pose as it and read the traffic (for tests only)",
  ]
}
