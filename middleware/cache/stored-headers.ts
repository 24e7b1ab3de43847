/**
 * Which response fields a shared cache keeps, serves and lets a 304 replace (RFC 9111 §3.1, §3.2, §4.3.4).
 * @module
 */
import { HOP_BY_HOP_HEADERS, headerTokens } from '../../src/headers.ts'
import { fieldNames, type Directives } from './directives.ts'
import { formatHttpDate, parseHttpDate } from './http-date.ts'

/**
 * Fields a 304 does not replace in the stored response: those describing the stored body, which the 304 does
 * not carry (RFC 9111 §3.2: Content-Length; and its encoding and range), `Vary` (the variant is stored under
 * the values it selected, a 304 cannot move it), `Set-Cookie` (never stored: it goes to the client whose
 * request brought it) and the cache's own `x-cache`.
 */
const NOT_UPDATED_BY_304 = new Set(['content-length', 'content-encoding', 'content-range', 'vary', 'set-cookie', 'set-cookie2', 'x-cache'])

/**
 * The response's fields as stored: without hop-by-hop fields, those its `Connection` names, those its
 * `no-cache="…"` names (RFC 9111 §5.2.2.4: not to be sent without revalidation, so not kept), `Set-Cookie`,
 * the obsolete `Set-Cookie2` (a cookie all the same) and `x-cache`; with a `Date` of `responseTime` when it has no valid one (RFC 9110 §6.6.1), so that the
 * one served later says when it was generated, not when it was served.
 */
export function headersToStore(headers: Headers, directives: Directives, responseTime: number): Headers {
  const omitted = new Set([...HOP_BY_HOP_HEADERS, ...headerTokens(headers.get('connection')), ...(fieldNames(directives, 'no-cache') ?? []), 'set-cookie', 'set-cookie2', 'x-cache'])
  const stored = new Headers()
  for (const [name, value] of headers) if (!omitted.has(name)) stored.append(name, value)
  if (parseHttpDate(stored.get('date')) === undefined) stored.set('date', formatHttpDate(responseTime))
  return stored
}

/**
 * Whether the response's `Set-Cookie` is one the cache may drop and still store the rest: its
 * `no-cache="Set-Cookie"` says so (RFC 9111 §5.2.2.4). Any other response with `Set-Cookie` is not stored.
 */
export function setCookieMayBeOmitted(directives: Directives): boolean {
  return fieldNames(directives, 'no-cache')?.includes('set-cookie') === true
}

/**
 * The stored fields updated by a 304 (RFC 9111 §3.2): each field the 304 carries replaces the stored one's
 * values, or is added, except the fields of {@link NOT_UPDATED_BY_304} and the 304's hop-by-hop ones (RFC 9110 §7.6.1).
 */
export function updatedBy304(stored: Headers, notModified: Headers): Headers {
  const skipped = new Set([...NOT_UPDATED_BY_304, ...HOP_BY_HOP_HEADERS, ...headerTokens(notModified.get('connection'))])
  const updated = new Headers(stored)
  const replaced = new Set<string>()
  for (const [name, value] of notModified) {
    if (skipped.has(name)) continue
    if (!replaced.has(name)) {
      updated.delete(name)
      replaced.add(name)
    }
    updated.append(name, value)
  }
  return updated
}
