import { isIP } from 'node:net'
import { DEFAULT_HOST } from '../../defaults.ts'

/**
 * The admin listener (`serve(app, { admin })`, `wsgate start --admin-port`):
 * a second HTTP listener, apart from the traffic port, serving `/metrics`,
 * `/healthz`, `/readyz` and `/connections` (see the README, Operations).
 *
 * @example
 * await serve(app, { port: 8080, admin: { port: 9090, token: process.env.WSGATE_ADMIN_TOKEN } })
 */
export interface AdminOptions {
  /** TCP port of the admin listener; 0 picks a free one (see `gateway.adminUrl`). Must differ from the traffic ports. */
  port: number
  /**
   * Address to bind. Loopback by default: the admin API can list clients and
   * close connections. Another address without a `token` is logged as a
   * warning at start.
   * @default '127.0.0.1'
   */
  host?: string
  /**
   * When set, every admin request must carry `Authorization: Bearer <token>`,
   * else 401 (compared in constant time). The CLI takes it from
   * `WSGATE_ADMIN_TOKEN`.
   * @default none: no token asked
   */
  token?: string
}

/**
 * What a token must be to be sent as `Authorization: Bearer <token>`: one
 * run of visible ASCII. A space or a line break (a secret file's trailing
 * newline) ends the credential, and a non-ASCII character reaches the
 * server as whichever bytes the client's encoding makes, so a token with
 * one could never be matched.
 */
const SENDABLE_TOKEN = /^[\x21-\x7e]+$/

/** AdminOptions checked, defaults filled in. */
export interface AdminSettings {
  readonly port: number
  readonly host: string
  readonly token: string | undefined
}

/**
 * Checks `admin` and fills its defaults; throws a `TypeError` naming the
 * option. `trafficPorts` are the ports the gateway serves traffic on, which
 * the admin listener may not share.
 */
export function resolveAdminSettings(admin: AdminOptions | undefined, trafficPorts: readonly (number | 'off' | undefined)[]): AdminSettings | undefined {
  if (admin === undefined) return undefined
  if (typeof admin !== 'object' || admin === null) throw new TypeError('serve(): admin must be an object, e.g. { port: 9090 }')
  const { port, host = DEFAULT_HOST, token } = admin
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`serve(): admin.port must be an integer from 0 to 65535, got ${String(port)}`)
  }
  if (port !== 0 && trafficPorts.includes(port)) {
    throw new TypeError(`serve(): admin.port ${port} is a traffic port too; give the admin listener a port of its own (e.g. 9090)`)
  }
  if (typeof host !== 'string' || host.trim() === '') throw new TypeError(`serve(): admin.host must be an address to bind, e.g. '127.0.0.1', got ${String(host)}`)
  if (token !== undefined && (typeof token !== 'string' || token === '')) {
    throw new TypeError('serve(): admin.token must be a non-empty string, or left out for no token')
  }
  // Checked here, not found out at the first 401: a token no client can send would lock every client out.
  if (token !== undefined && !SENDABLE_TOKEN.test(token)) {
    throw new TypeError(
      'serve(): admin.token must be printable ASCII without spaces (clients send it as Authorization: Bearer <token>); a trailing newline from a secret file counts as a space',
    )
  }
  return { port, host, token }
}

/** Whether `host` binds loopback only. */
function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}

/**
 * The start-up warning of a risky admin listener: reachable beyond this
 * host and no token asked (anyone who reaches it can list clients and close
 * their connections). Undefined when there is nothing to warn about.
 */
export function adminWarning(admin: AdminSettings | undefined): string | undefined {
  if (!admin || admin.token !== undefined || isLoopback(admin.host)) return undefined
  return `serve(): the admin listener binds ${admin.host} without a token: anyone who reaches it can list clients and close connections; set admin.token (WSGATE_ADMIN_TOKEN) or bind 127.0.0.1`
}
