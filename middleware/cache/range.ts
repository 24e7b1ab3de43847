/**
 * One byte range of a stored complete response (RFC 9110 §14.2, §14.3, §13.1.5).
 * @module
 */
import { parseHttpDate } from './http-date.ts'

/** First and last byte of a range, inclusive. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

/** `bytes=first-last`, `bytes=first-` or `bytes=-suffix`: one range; a list of several is served whole. */
const SINGLE_RANGE = /^bytes[ \t]*=[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)$/i

/**
 * The one byte range a GET's `Range` asks of a stored complete response of `length` bytes, when the cache can
 * answer it with a 206; `undefined` to answer with the whole response, which a server may always do (RFC 9110
 * §14.2): no `Range`, several ranges, one it cannot parse or satisfy, or an `If-Range` that does not match the
 * stored response (a strong ETag compared strongly, or its exact Last-Modified date).
 */
export function requestedRange(request: Headers, stored: Headers, length: number): ByteRange | undefined {
  const range = request.get('range')
  if (range === null || length === 0) return undefined
  const ifRange = request.get('if-range')
  if (ifRange !== null && !ifRangeMatches(ifRange.trim(), stored)) return undefined
  const match = SINGLE_RANGE.exec(range.trim())
  if (!match) return undefined
  const [, first, last] = match as unknown as [string, string, string]
  if (first === '') {
    const suffix = Number(last)
    return last === '' || suffix === 0 ? undefined : { start: Math.max(0, length - suffix), end: length - 1 }
  }
  const start = Number(first)
  const end = last === '' ? length - 1 : Math.min(Number(last), length - 1)
  return start >= length || end < start ? undefined : { start, end }
}

/** Whether an `If-Range` names the stored response: its strong ETag exactly, or its Last-Modified date. */
function ifRangeMatches(value: string, stored: Headers): boolean {
  if (value.startsWith('"') || value.startsWith('W/')) {
    const etag = stored.get('etag')?.trim()
    return etag !== undefined && etag.startsWith('"') && !value.startsWith('W/') && etag === value
  }
  const since = parseHttpDate(value)
  return since !== undefined && since === parseHttpDate(stored.get('last-modified'))
}
