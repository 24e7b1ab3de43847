import { X509Certificate } from 'node:crypto'
import net from 'node:net'
import tls, { type ConnectionOptions, type SecureContext } from 'node:tls'
import type { OriginTls } from '../../runtime.ts'

/**
 * TLS toward `wss://` and `https://` origins, for both Node connectors (the
 * raw upgrade connector and the plain-HTTP one): verification is on unless
 * a route turns it off, against Node's default trust store or the route's
 * `ca`, for the origin's host or the route's `servername`.
 */

/**
 * ALPN offer, in wire format (length-prefixed), made once: a WebSocket
 * upgrade is an HTTP/1.1 mechanism (RFC 6455 §4.1), and so is every request
 * the connectors write. An origin that only speaks h2 refuses the handshake
 * (no_application_protocol) instead of answering in a protocol the
 * gateway cannot read.
 */
const ALPN_HTTP_1_1 = Buffer.from([8, ...Buffer.from('http/1.1', 'latin1')])

/** Contexts built for a route's `ca`, by its `OriginTls` object: the PEM text is parsed once, not per connection. */
const contexts = new WeakMap<OriginTls, SecureContext>()

/** The context for origins verified against Node's default CAs, made on first use. */
let defaultContext: SecureContext | undefined

/**
 * The secure context for `options`: with a `ca`, one that trusts exactly
 * those certificates (made once per `OriginTls` object, so change a route's
 * CA by giving it a new object); without, Node's default store (its bundled
 * Mozilla CAs plus `NODE_EXTRA_CA_CERTS`, or the operating system's with
 * `--use-system-ca`). Throws when the PEM cannot be parsed.
 */
function secureContextFor(options: OriginTls | undefined): SecureContext {
  if (options?.ca === undefined) return (defaultContext ??= tls.createSecureContext())
  let context = contexts.get(options)
  if (!context) {
    context = tls.createSecureContext({ ca: certificatesOf(options.ca) })
    contexts.set(options, context)
  }
  return context
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/**
 * The certificates of a `ca` option, each checked: Node's own parse skips
 * what it cannot read without a word, which would leave a route trusting
 * fewer CAs than its configuration lists (or none). Throws naming the
 * first bad one.
 */
function certificatesOf(ca: string | readonly string[]): string[] {
  const certificates: string[] = []
  for (const [index, pem] of (typeof ca === 'string' ? [ca] : ca).entries()) {
    const blocks = pem.match(PEM_BLOCK)
    if (!blocks) throw new TypeError(`tls.ca${typeof ca === 'string' ? '' : `[${index}]`} holds no PEM certificate`)
    for (const block of blocks) {
      try {
        new X509Certificate(block)
      } catch (error) {
        throw new TypeError(`tls.ca${typeof ca === 'string' ? '' : `[${index}]`}: certificate ${certificates.length + 1} cannot be parsed`, { cause: error })
      }
      certificates.push(block)
    }
  }
  return certificates
}

/**
 * The `tls.connect()` (or `https.request()`) options for an origin:
 * - verification on unless `rejectUnauthorized` is `false`;
 * - SNI is `servername`, else the URL's host; never an IP address (RFC 6066
 *   §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName"),
 *   and never derived from the request's `Host` (https.request would,
 *   when `servername` is left unset: with `preserveHost` that is the
 *   client's name, not the origin's);
 * - the certificate is checked for that same name, an IP address against
 *   its IP SANs (`tls.checkServerIdentity`);
 * - ALPN `http/1.1`.
 *
 * Throws (from Node) when `ca` is not valid PEM.
 *
 * @example
 * tls.connect({ host: '10.0.0.5', port: 443, ...originTlsOptions(url, { ca, servername: 'chat.internal' }) })
 */
export function originTlsOptions(url: URL, options: OriginTls | undefined): ConnectionOptions {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const name = options?.servername ?? host
  const connection: ConnectionOptions = {
    secureContext: secureContextFor(options),
    ALPNProtocols: ALPN_HTTP_1_1,
    rejectUnauthorized: options?.rejectUnauthorized !== false,
    // '' (not undefined) also keeps https.request from deriving SNI from the Host header.
    servername: net.isIP(name) === 0 ? name : '',
  }
  // Node checks `servername || host`: an IP-address servername, sent as no SNI, must still be the name checked.
  if (name !== host) connection.checkServerIdentity = (_host, certificate) => tls.checkServerIdentity(name, certificate)
  return connection
}
