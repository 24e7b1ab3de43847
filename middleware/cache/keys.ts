/**
 * The secondary key of a stored response (RFC 9111 §4.1): the values of the request headers its `Vary` names,
 * and of the headers origins answer by without naming them.
 * @module
 */

/**
 * Request headers that make common origins answer for another host, URL, scheme or method (frameworks build
 * links from X-Forwarded-Host, IIS and Symfony route on X-Original-URL, many honour a method override), though
 * origins never name them in `Vary`. Keyed as if every response's `Vary` named them (RFC 9111 §4.1): a response
 * one client provoked with them, stored under the bare URL, would otherwise be served to every other client
 * (web cache poisoning). `normalizeHeaders()` sets X-Forwarded-Host and -Proto from the request's own URL, so
 * the clients of one URL still share its entry. `Forwarded` and X-Forwarded-For are left out: they carry the
 * client's address, and keying on them would give every client a copy of its own.
 */
export const UNKEYED_BY_ORIGINS: ReadonlySet<string> = new Set([
  'x-forwarded-host',
  'x-forwarded-server',
  'x-forwarded-proto',
  'x-forwarded-scheme',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-host',
  'x-original-host',
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
])

/**
 * The request headers a variant's `Vary` names, with their values, as one comparable string (absent ≠ empty),
 * then the request's `implicitKey()`. A value is normalised as a list (RFC 9111 §4.1): whitespace around its
 * commas does not count, and several field lines count as one joined with commas.
 */
export function varyKey(fields: string[], headers: Headers, implicit: string): string {
  return fields.map((name) => `${name}\u0000${normalisedValue(headers.get(name))}`).join('\n') + implicit
}

/** A selecting header's value with the whitespace around its commas removed; '\u0001' when absent. */
function normalisedValue(value: string | null): string {
  if (value === null) return '\u0001'
  return value
    .split(',')
    .map((member) => member.trim())
    .join(',')
}

/** The request's {@link UNKEYED_BY_ORIGINS} headers with their values, as one comparable string; '' without any (most requests). */
export function implicitKey(headers: Headers): string {
  let key = ''
  for (const [name, value] of headers) if (UNKEYED_BY_ORIGINS.has(name)) key += `\n\u0002${name}\u0000${value}`
  return key
}
