import { GatewayError } from './errors.ts'
import { hasToken, headerTokens, trimOws } from './headers.ts'
import { sha1 } from './sha1.ts'
import { badOriginHandshake } from './origin-errors.ts'
import type { NodeCrypto } from './native-crypto.ts'

/** RFC 6455 §1.3: the GUID appended to the client's key to derive `Sec-WebSocket-Accept`. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/**
 * RFC 6455 §4.1: a valid `Sec-WebSocket-Key` is a base64-encoded 16-byte
 * nonce, which is always 22 characters and `==`. The one definition of a
 * valid key: {@link validateClientHandshake} refuses any other, and the
 * WAF's handshake profile (`middleware/waf/rules/profile-grammars.ts`)
 * takes only such a key away from the injection rules.
 */
export const WEBSOCKET_KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/

/** RFC 6455 §4.2.1 item 6: the only protocol version this gateway (and every current browser) speaks. */
const SUPPORTED_VERSION = '13'

/** What a client asked for in a valid handshake. */
export interface ClientHandshake {
  /** The `Sec-WebSocket-Key` nonce. */
  key: string
  /** Subprotocols offered in `Sec-WebSocket-Protocol`, in the client's order (case preserved). */
  protocols: string[]
  /** Extension names offered in `Sec-WebSocket-Extensions`, lower-cased. */
  extensions: string[]
}

/** The request facts the validator reads; the HTTP version is not part of a Web `Request`, so it comes apart. */
export interface HandshakeRequest {
  method: string
  /** e.g. `1.1`; as Node reports it in `IncomingMessage.httpVersion`. */
  httpVersion: string
  headers: Headers
}

/**
 * Validates a client's opening handshake per RFC 6455 §4.2.1, throwing a
 * {@link GatewayError} naming the offending part. Every handshake check of
 * every runtime goes through here, so they cannot drift apart.
 */
export function validateClientHandshake(request: HandshakeRequest): ClientHandshake {
  const { headers } = request
  // §4.2.1 item 1: the method must be GET.
  if (request.method !== 'GET') {
    throw new GatewayError(405, 'ERR_HANDSHAKE_METHOD', `WebSocket handshake must use GET, not ${request.method}`, {
      headers: { allow: 'GET' },
    })
  }
  // §4.2.1 item 1: "HTTP/1.1 or higher" — but this is the HTTP/1.1 wire, where
  // an upgrade is only defined for 1.1 (RFC 9110 §7.8): "HTTP/2.0" here is a lie, not HTTP/2.
  if (request.httpVersion !== '1.1') {
    throw new GatewayError(400, 'ERR_HANDSHAKE_HTTP_VERSION', `WebSocket handshake needs HTTP/1.1, got HTTP/${request.httpVersion}`)
  }
  // §4.2.1 item 2: a Host header.
  if (!headers.get('host')) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_HOST', 'missing Host header')
  }
  // §4.2.1 item 3: Upgrade holds the "websocket" keyword, case-insensitively.
  if (!hasToken(headers.get('upgrade'), 'websocket')) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_UPGRADE', 'missing or invalid Upgrade header: expected "websocket"')
  }
  // §4.2.1 item 4: Connection holds the "Upgrade" token, possibly among others ("keep-alive, Upgrade").
  if (!hasToken(headers.get('connection'), 'upgrade')) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_CONNECTION', 'missing or invalid Connection header: expected "upgrade"')
  }
  // §4.2.1 item 5: a key that decodes to 16 bytes. A repeated header joins with ", " and fails here too.
  const key = trimOws(headers.get('sec-websocket-key') ?? '')
  if (!WEBSOCKET_KEY_PATTERN.test(key)) {
    throw new GatewayError(400, 'ERR_HANDSHAKE_INVALID_KEY', 'missing or invalid Sec-WebSocket-Key header: expected base64 of 16 bytes')
  }
  // §4.2.1 item 6 and §4.4: any other version gets 426 with the version we speak.
  const version = trimOws(headers.get('sec-websocket-version') ?? '')
  if (version !== SUPPORTED_VERSION) {
    throw new GatewayError(426, 'ERR_HANDSHAKE_VERSION', `unsupported Sec-WebSocket-Version: expected ${SUPPORTED_VERSION}`, {
      headers: { 'sec-websocket-version': SUPPORTED_VERSION },
    })
  }
  return {
    key,
    protocols: splitList(headers.get('sec-websocket-protocol')),
    extensions: extensionNames(headers.get('sec-websocket-extensions')),
  }
}

/**
 * Checks an origin's `101` against what the client offered (the client-side
 * checks of RFC 6455 §4.1), throwing a 502 {@link GatewayError} when the
 * origin answered something the client would have to reject.
 */
export async function validateOriginUpgrade(client: ClientHandshake, originHeaders: Headers): Promise<void> {
  checkOriginUpgrade(client, originHeaders)
}

/**
 * {@link validateOriginUpgrade} without the promise, for callers already
 * inside a handshake: the check is synchronous, and each await costs a
 * microtask turn per handshake. With `platformHandshake` (the runtime's
 * platform made the upgrade with a key of its own and checked the answer,
 * as Workers' `fetch()` does) only the subprotocol is checked: the accept
 * value answers the platform's key, and the platform negotiates extensions
 * with each side itself.
 */
export function checkOriginUpgrade(client: ClientHandshake, originHeaders: Headers, platformHandshake = false, crypto?: NodeCrypto): void {
  if (!platformHandshake) {
    // §4.1 item 2: the value itself, not a token of a list ("h2c, websocket" is a protocol stack every client refuses).
    if (trimOws(originHeaders.get('upgrade') ?? '').toLowerCase() !== 'websocket') failOrigin('Upgrade is not "websocket"')
    if (!hasToken(originHeaders.get('connection'), 'upgrade')) failOrigin('Connection is not "upgrade"')
    if (trimOws(originHeaders.get('sec-websocket-accept') ?? '') !== acceptValue(client.key, crypto)) {
      failOrigin('Sec-WebSocket-Accept does not match the key')
    }
  }
  const chosen = originHeaders.get('sec-websocket-protocol')
  if (chosen !== null) {
    // §4.1 item 6: exactly one of the offered subprotocols, or none at all.
    const trimmed = trimOws(chosen)
    if (!client.protocols.includes(trimmed)) failOrigin(`subprotocol "${trimmed}" was not offered`)
  }
  const extensions = originHeaders.get('sec-websocket-extensions')
  // A platform that made the handshake negotiates extensions with each side itself.
  if (extensions === null || platformHandshake) return
  const names = extensionNames(extensions)
  // §9.1: the header is a list of one or more extensions; an empty one is refused by clients as malformed.
  if (names.length === 0) failOrigin('Sec-WebSocket-Extensions is empty')
  for (const name of names) {
    // §4.1 item 5: only extensions the client asked for.
    if (!client.extensions.includes(name)) failOrigin(`extension "${name}" was not offered`)
  }
}

function failOrigin(reason: string): never {
  throw badOriginHandshake(reason)
}

/** The `Sec-WebSocket-Accept` value for a key (RFC 6455 §4.2.2 item 5.4): base64(SHA-1(key + GUID)). */
export async function acceptFor(key: string): Promise<string> {
  return acceptValue(key)
}

/**
 * {@link acceptFor}, synchronously: crypto.subtle.digest() would cost Node a
 * thread-pool job per handshake (see sha1.ts). A valid key is 24 ASCII
 * characters, so its input (key + GUID, 60 bytes) is written into one reused
 * buffer instead of a fresh encoding.
 */
export function acceptValue(key: string, crypto?: NodeCrypto): string {
  // A host's native one-shot hash (Node's, injected as the runtime's `crypto`) when there is one.
  if (crypto?.hash) return crypto.hash('sha1', key + WEBSOCKET_GUID, 'base64')
  let input: Uint8Array
  if (WEBSOCKET_KEY_PATTERN.test(key)) {
    for (let i = 0; i < KEY_LENGTH; i++) ACCEPT_INPUT[i] = key.charCodeAt(i)
    input = ACCEPT_INPUT
  } else {
    input = ENCODER.encode(key + WEBSOCKET_GUID)
  }
  const digest = sha1(input)
  let binary = ''
  for (let i = 0; i < digest.length; i++) binary += String.fromCharCode(digest[i]!)
  return btoa(binary)
}

const ENCODER = new TextEncoder()

/** Length of every key {@link WEBSOCKET_KEY_PATTERN} accepts. */
const KEY_LENGTH = 24

/** SHA-1 input of a valid key: its 24 bytes, then the GUID (written once here). */
const ACCEPT_INPUT = ENCODER.encode('x'.repeat(KEY_LENGTH) + WEBSOCKET_GUID)

function splitList(value: string | null): string[] {
  if (!value) return []
  return value.split(',').map(trimOws).filter(Boolean)
}

/** Extension names from `Sec-WebSocket-Extensions` (RFC 6455 §9.1): each entry is `name; param=value; …`. */
function extensionNames(value: string | null): string[] {
  return headerTokens(value).map((entry) => trimOws(entry.split(';')[0]!))
}
