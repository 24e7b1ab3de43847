/**
 * The grammars of the handshake profile (`profile.ts`): what a value must
 * look like for the profile to take it away from a rule family. Each is
 * strict (anchored, a small alphabet, bounded where the protocol bounds
 * it) and none admits what the families it is excluded from look for:
 * no quote, space, parenthesis, `<`, `;`, `%`, `&`, `\`, `/` (the `/` and
 * `+` of base64 only in `Sec-WebSocket-Key`, whose families need a `.` or
 * `(`), so no transformation a rule applies (URL, HTML, JS decoding) can
 * turn a value that matches into one that carries an attack. Every grammar
 * is linear: no nested quantifier can backtrack.
 *
 * Portable: no `node:` import.
 */
import { WEBSOCKET_KEY_PATTERN } from '../../../src/handshake.ts'

/** RFC 6455 §4.1: base64 of 16 bytes, the handshake validator's own pattern (`validateClientHandshake()` refuses any other key). */
export const WEBSOCKET_KEY: RegExp = WEBSOCKET_KEY_PATTERN

/** RFC 6455 §4.2.1 item 6: the one version every client speaks (others get 426 from the handshake). */
export const WEBSOCKET_VERSION = /^13$/

/**
 * A subprotocol as real ones are named (`graphql-transport-ws`,
 * `v12.stomp`, `v1.kernel.websocket.jupyter.org`, `mqttv3.1`, a JWT): an
 * RFC 7230 token narrowed to letters, digits and `_ + -`, with single
 * dots between runs, so no `..`, and never starting with a dot.
 */
const PROTOCOL_TOKEN = String.raw`[A-Za-z0-9][A-Za-z0-9_+\-]*(?:\.[A-Za-z0-9_+\-]+)*`

/** RFC 6455 §4.1 `Sec-WebSocket-Protocol`: a comma-separated list of {@link PROTOCOL_TOKEN}s (spaces around commas; a tab, legal but sent by no client, leaves the value to the rules). */
export const WEBSOCKET_PROTOCOL = new RegExp(`^${PROTOCOL_TOKEN}(?: *, *${PROTOCOL_TOKEN})*$`)

const EXTENSION_TOKEN = '[A-Za-z0-9_-]+'
/** An extension parameter: a token, optionally `=` a token or a quoted token (RFC 6455 §9.1 requires the unquoted value to be a token). */
const EXTENSION_PARAM = `${EXTENSION_TOKEN}(?:=(?:${EXTENSION_TOKEN}|"${EXTENSION_TOKEN}"))?`
const EXTENSION = `${EXTENSION_TOKEN}(?: *; *${EXTENSION_PARAM})*`

/** RFC 6455 §9.1 `Sec-WebSocket-Extensions` (`permessage-deflate; client_max_window_bits=15, x-webkit-deflate-frame`), tokens without dots. */
export const WEBSOCKET_EXTENSIONS = new RegExp(`^${EXTENSION}(?: *, *${EXTENSION})*$`)

/** An opaque id in the base64url alphabet (socket.io's `sid`, SignalR's connection `id`, Phoenix's `_csrf_token`). */
export const OPAQUE_ID = /^[A-Za-z0-9_-]{1,128}$/

/** socket.io's engine.io protocol revision: 3 (socket.io 2) or 4 (socket.io 3 and later). */
export const ENGINE_IO_VERSION = /^[34]$/

/** engine.io's transports. */
export const ENGINE_IO_TRANSPORT = /^(?:websocket|polling|webtransport)$/

/** engine.io's cache-busting `t`: yeast's base64url-alphabet timestamp, or milliseconds. */
export const ENGINE_IO_TIMESTAMP = /^[A-Za-z0-9_-]{1,16}$/

/** A small version number (SignalR's `negotiateVersion`). */
export const SMALL_NUMBER = /^\d{1,2}$/

/** A dotted version (Phoenix's `vsn=2.0.0`). */
export const DOTTED_VERSION = /^\d{1,3}(?:\.\d{1,3}){0,3}$/

/** A UUID, with or without dashes (Jupyter's `session_id`). */
export const UUID = /^[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}$/

/** An HMR server's or notebook server's token: 8–128 characters of the base64url alphabet (Vite's is 12, Jupyter's 48 hex). */
export const HMR_TOKEN = /^[A-Za-z0-9_-]{8,128}$/

/** A JWT in compact form (RFC 7519): a JSON header and payload (`eyJ` is base64 of `{"`), base64url segments, single dots. */
export const JWT = /^eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/
