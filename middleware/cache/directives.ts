/**
 * `Cache-Control` parsing (RFC 9111 §5.2, list syntax of RFC 9110 §5.6.1).
 * @module
 */
import { headerTokens } from '../../src/headers.ts'

/** Parsed directives: lower-cased names, the value unquoted (`true` for a directive without one). */
export type Directives = ReadonlyMap<string, string | true>

/** A token (RFC 9110 §5.6.2): what a directive's name, and an unquoted value, must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** The largest delta-seconds a cache needs to tell apart (RFC 9111 §1.2.2): larger values count as it. */
const DELTA_SECONDS_MAX = 2_147_483_648

/**
 * The directives of a `Cache-Control` value (several field lines arrive joined with ", "). Names are
 * case-insensitive; a value is a token or a quoted-string, and commas or `=` inside quotes belong to the value
 * (`extension="max-age=100"` is no max-age). A member that is not `token[=value]` — a space before or after `=`,
 * a single-quoted or unterminated value — is dropped. The first occurrence of a directive wins (RFC 9111 §4.2.1
 * allows it): a later `max-age` cannot lengthen nor shorten what the first one said.
 */
export function parseDirectives(value: string | null | undefined): Directives {
  const directives = new Map<string, string | true>()
  if (!value) return directives
  for (const member of splitList(value)) {
    const equals = member.indexOf('=')
    const name = (equals === -1 ? member : member.slice(0, equals)).toLowerCase()
    if (!TOKEN.test(name)) continue
    let parsed: string | true | undefined = true
    if (equals !== -1) parsed = directiveValue(member.slice(equals + 1))
    if (parsed === undefined || directives.has(name)) continue
    directives.set(name, parsed)
  }
  return directives
}

/**
 * A directive's delta-seconds (RFC 9111 §1.2.2): digits only, quoted or not (`max-age="60"` is tolerated, as
 * senders are told not to send it but recipients may accept it); larger than 2^31 counts as 2^31. `undefined`
 * for a directive without a value or with anything else (`100a`, `-1`, `3600.0`): callers decide what an
 * invalid value means (for a response's max-age: already stale).
 */
export function deltaSeconds(directives: Directives, name: string): number | undefined {
  const value = directives.get(name)
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) return undefined
  return Math.min(Number(value), DELTA_SECONDS_MAX)
}

/**
 * The field names a qualified directive lists (`no-cache="Set-Cookie, X-Token"`), lower-cased; `undefined`
 * when the directive is absent, `[]` when it has no value.
 */
export function fieldNames(directives: Directives, name: string): string[] | undefined {
  const value = directives.get(name)
  if (value === undefined) return undefined
  if (value === true) return []
  return headerTokens(value)
}

/** Members of a comma-separated list, trimmed and non-empty, with commas inside quoted-strings kept. */
function splitList(value: string): string[] {
  const members: string[] = []
  let start = 0
  let quoted = false
  for (let index = 0; index < value.length; index++) {
    const char = value[index]
    if (quoted) {
      if (char === '\\') index++
      else if (char === '"') quoted = false
    } else if (char === '"') quoted = true
    else if (char === ',') {
      members.push(value.slice(start, index))
      start = index + 1
    }
  }
  members.push(value.slice(start))
  return members.map((member) => member.trim()).filter((member) => member !== '')
}

/** A directive value: a token, or a complete quoted-string unescaped; `undefined` if it is neither. */
function directiveValue(raw: string): string | undefined {
  if (TOKEN.test(raw)) return raw
  if (raw.length < 2 || !raw.startsWith('"') || !raw.endsWith('"')) return undefined
  let unquoted = ''
  for (let index = 1; index < raw.length - 1; index++) {
    const char = raw[index]!
    if (char === '"') return undefined
    if (char === '\\') {
      index++
      if (index >= raw.length - 1) return undefined
      unquoted += raw[index]
    } else unquoted += char
  }
  return unquoted
}
