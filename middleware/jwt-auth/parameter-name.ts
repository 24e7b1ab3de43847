/**
 * Which query parameter and cookie names an origin reads as the token's
 * name. The gateway finds, refuses and strips every copy of the token; a copy
 * under a name the gateway does not recognise but the origin's parser files
 * under the token's name would reach the origin beside (or instead of) the
 * one the gateway verified. So a name counts as the token's name when any of
 * these parsers would read it as that name:
 *
 * - PHP (`$_GET`, `$_COOKIE`, `$_REQUEST`): `php_default_treat_data()` in
 *   main/php_variables.c percent-decodes names (`+` is a space; older
 *   releases decoded cookie names too, today's skip that for cookies), then
 *   `php_register_variable_ex()` reads the name as a C string, drops leading
 *   spaces, turns ` ` and `.` into `_`, files `name[…]` (a `[` with a `]`
 *   anywhere after it) under `name`, and turns an unmatched `[` and every
 *   ` `, `.`, `[` after it into `_`.
 * - ASP.NET (`Request.QueryString`/`Request.Cookies`, ASP.NET Core's
 *   `IQueryCollection`/`IRequestCookieCollection`): names compared ignoring
 *   case; classic ASP.NET's `HttpUtility.UrlDecode` also decodes `%uXXXX`.
 * - Rack 2 (`Rack::QueryParser#normalize_params`, Rails before 7.1; its
 *   `parse_cookies_header` decodes cookie names) and Express's `qs`: `name[]`, `name[0]`, `name[x]` give `name` an array or
 *   an object; Rack 2 also skips leading `[` and `]` and the `]`s after the
 *   name (`[name]`, `]name`, `name]` are `name`), and `qs` files a leading
 *   `[name]` under `name`.
 *
 * Web-standard APIs only.
 */

/** A configured token name, folded once when the route is built. */
export interface TokenName {
  /** The name as configured (`queryParameter` or `cookie`), which always matches itself. */
  readonly name: string
  /** {@link foldName} of the name: what each look-alike folds to. */
  readonly folded: string
  /**
   * The folded name's parts around `_`, lowercase: every name that folds to
   * `folded` and has no percent-escape, `+` or non-ASCII character holds
   * each part as it is, in any case (see {@link mayHoldName}).
   */
  readonly parts: readonly string[]
}

/** Folds a configured name once for {@link namesToken} and {@link mayHoldName}. */
export function tokenName(name: string): TokenName {
  const folded = foldName(name)
  return { name, folded, parts: folded.split('_').filter(Boolean) }
}

/**
 * Whether a query parameter or cookie name, as the client sent it, is read
 * by some origin parser as the token's name: decoded ({@link decodeName}; a
 * query name always is, and older PHP's and Rack 2's cookie parsers decoded
 * cookie names the same way, `+` included) or as it is (today's PHP and
 * RFC 6265 parsers keep a cookie name raw), then folded ({@link foldName},
 * and Rack 2's / `qs`'s leading brackets).
 *
 * @example
 * namesToken('access.token', tokenName('access_token')) // → true (PHP)
 * namesToken('access-token', tokenName('access_token')) // → false: PHP does not touch '-'
 */
export function namesToken(raw: string, token: TokenName): boolean {
  if (raw === token.name) return true
  // Most names (`room`, `lang`) fail the prefilter and are not decoded or folded.
  if (!mayHoldName(raw, token)) return false
  const decoded = decodeName(raw)
  return readsAs(decoded, token) || (decoded !== raw && readsAs(raw, token))
}

/** Whether PHP's reading or Rack 2's / qs's reading of a decoded name is the token's name. */
function readsAs(name: string, token: TokenName): boolean {
  if (name === token.name) return true
  if (foldName(name) === token.folded) return true
  const rack = rackKey(name)
  return rack !== undefined && rack !== name && foldName(rack) === token.folded
}

/**
 * The one fold every name is compared under (applied to a name already
 * percent-decoded, and to the configured name), following
 * `php_register_variable_ex()` (main/php_variables.c) step by step, then
 * ASP.NET's case-insensitive comparison:
 *
 * 1. Cut at the first NUL: PHP hands the decoded name on as a C string
 *    (`strlen`), so `access_token%00x` is `access_token`.
 * 2. Drop leading spaces (`while (*var_name == ' ')`).
 * 3. When the first `[` has a `]` anywhere after it (`strchr(ip, ']')`), the
 *    name is what comes before it: `name[]`, `name[x]`, `name[x]junk` are all
 *    `name` (an array). PHP, Rack and `qs` agree on `name[]` and `name[x]`.
 * 4. Turn ` ` and `.` into `_` ("PHP variables cannot contain ' ', '.'");
 *    when the first `[` has no `]` after it, that `[` and every later `[`
 *    become `_` too (PHP 8; PHP 7 turned only the first `[`, which reads
 *    the same name whenever the result has no ` `, `.` or `[` left).
 *    `-` and other characters stay: `access-token` is not `access_token`.
 * 5. Compare ignoring case, as ASP.NET does (`OrdinalIgnoreCase` upper-cases,
 *    classic ASP.NET's hash lower-cases): each character is upper-cased then
 *    lower-cased by its one-character mapping, so `ACCESS_TOKEN`, `ſ` (long
 *    s, upper-case `S`) and `K` (Kelvin sign, lower-case `k`) fold as ASCII.
 *
 * @example
 * foldName(' Access.Token[]') // → 'access_token'
 * foldName('access[token')    // → 'access_token'
 */
export function foldName(name: string): string {
  const nul = name.indexOf('\0')
  let folded = nul < 0 ? name : name.slice(0, nul)
  let start = 0
  while (folded.charCodeAt(start) === 0x20) start++
  if (start > 0) folded = folded.slice(start)
  const bracket = folded.indexOf('[')
  if (bracket >= 0 && folded.indexOf(']', bracket + 1) > 0) folded = folded.slice(0, bracket)
  return caseKey(folded.replace(MANGLED, '_'))
}

/** What PHP turns into `_` (a `[` is left only when unmatched: a matched one was cut off before). */
const MANGLED = /[ .[]/g

/** Names without a non-ASCII character, which case-fold as ASCII. */
const ASCII = /^[\x00-\x7f]*$/

/**
 * Step 5 of {@link foldName}: the same key for every spelling an
 * `OrdinalIgnoreCase` (upper-casing) or an invariant lower-casing comparison
 * takes as equal. A full mapping to several characters (`ß` → `SS`) is not
 * a simple case mapping and is not taken; `İ` lower-cases to `i` and a
 * combining dot, and keeps the `i`.
 */
function caseKey(name: string): string {
  if (ASCII.test(name)) return name.toLowerCase()
  let key = ''
  for (const char of name) {
    const upper = char.toUpperCase()
    const simple = [...upper].length === 1 ? upper : char
    key += String.fromCodePoint(simple.toLowerCase().codePointAt(0)!)
  }
  return key
}

/**
 * The key Rack 2's `normalize_params` files a name under
 * (`name =~ %r(\A[\[\]]*([^\[\]]+)\]*)`): leading `[` and `]` skipped, then
 * everything up to the next bracket, whatever follows (a value, an array or
 * a hash) — unless just one `[` follows, which files the whole name. `qs`
 * reads a leading `[name]` the same way (`cleanRoot` in its `parseObject`).
 * `undefined` for a name Rack drops (no such key).
 */
function rackKey(name: string): string | undefined {
  let start = 0
  while (name[start] === '[' || name[start] === ']') start++
  let end = start
  while (end < name.length && name[end] !== '[' && name[end] !== ']') end++
  if (end === start) return undefined
  let after = end
  while (name[after] === ']') after++
  return after === name.length - 1 && name[after] === '[' ? name : name.slice(start, end)
}

/**
 * Percent-decodes a name as the origin parsers do: `+` is a space, `%XX` a
 * byte (the bytes read as UTF-8, as URLSearchParams reads them), classic
 * ASP.NET's `%uXXXX` a UTF-16 code unit; an escape that is not one stays as
 * it is (`%zz`, `100%`).
 */
export function decodeName(raw: string): string {
  if (!ESCAPED.test(raw)) return raw
  const spaced = raw.replaceAll('+', ' ')
  if (!spaced.includes('%')) return spaced
  let decoded = ''
  let bytes: number[] = []
  const flush = (): void => {
    if (bytes.length === 0) return
    decoded += UTF8.decode(new Uint8Array(bytes))
    bytes = []
  }
  for (let index = 0; index < spaced.length; index++) {
    const char = spaced[index]!
    if (char === '%') {
      const pair = spaced.slice(index + 1, index + 3)
      if (HEX_PAIR.test(pair)) {
        bytes.push(Number.parseInt(pair, 16))
        index += 2
        continue
      }
      const unit = spaced.slice(index + 2, index + 6)
      if ((spaced[index + 1] === 'u' || spaced[index + 1] === 'U') && HEX_UNIT.test(unit)) {
        flush()
        decoded += String.fromCharCode(Number.parseInt(unit, 16))
        index += 5
        continue
      }
    }
    flush()
    decoded += char
  }
  flush()
  return decoded
}

const ESCAPED = /[%+]/
const HEX_PAIR = /^[0-9A-Fa-f]{2}$/
const HEX_UNIT = /^[0-9A-Fa-f]{4}$/
const UTF8 = new TextDecoder()

/**
 * Whether `text` (a search string or a `Cookie` value) may hold a name that
 * {@link namesToken} matches: the cheap test that lets the usual handshake
 * skip the parse. Without a percent-escape, a `+` or a non-ASCII character a
 * name is read as it is written, and every fold step only cuts, turns a
 * character into `_` or changes case; so a name that folds to the token's
 * holds each part of the folded name around `_`, in some case. A text
 * without all of them (ignoring case) holds no such name.
 */
export function mayHoldName(text: string, token: TokenName): boolean {
  if (text.includes(token.name) || MAY_DECODE.test(text)) return true
  const lower = text.toLowerCase()
  for (const part of token.parts) if (!lower.includes(part)) return false
  return true
}

/** What decodes or case-folds beyond ASCII: a percent-escape, `+`, a NUL or a non-ASCII character. */
const MAY_DECODE = /[%+\0\u0080-\uffff]/
