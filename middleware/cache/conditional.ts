/**
 * A client's own conditional GET or HEAD answered from a stored response (RFC 9110 §13.1.2, §13.1.3,
 * RFC 9111 §4.3.2).
 * @module
 */
import { parseHttpDate } from './http-date.ts'

/**
 * Whether the client's `If-None-Match`, or without it its `If-Modified-Since`, says it already has the stored
 * response, so that a 304 answers it. `If-None-Match` compares entity-tags weakly (`W/"a"` matches `"a"`)
 * against the stored `ETag`, any member of its list, `*` matching any stored response. `If-Modified-Since`
 * (a valid HTTP-date) matches when the stored `Last-Modified` — or its `Date`, or the time it was stored
 * (RFC 9111 §4.3.2) — is not later.
 */
export function clientHasIt(request: Headers, stored: Headers, storedAt: number): boolean {
  const ifNoneMatch = request.get('if-none-match')
  if (ifNoneMatch !== null) {
    const tags = entityTags(ifNoneMatch)
    if (tags.includes('*')) return true
    const etag = stored.get('etag')
    if (etag === null) return false
    const ours = opaqueTag(etag)
    return tags.some((tag) => opaqueTag(tag) === ours)
  }
  const since = parseHttpDate(request.get('if-modified-since'))
  if (since === undefined) return false
  const modified = parseHttpDate(stored.get('last-modified')) ?? parseHttpDate(stored.get('date')) ?? storedAt
  return modified <= since
}

/** The members of an entity-tag list, trimmed, commas inside quotes kept. */
function entityTags(value: string): string[] {
  const tags: string[] = []
  let start = 0
  let quoted = false
  for (let index = 0; index < value.length; index++) {
    if (value[index] === '"') quoted = !quoted
    else if (value[index] === ',' && !quoted) {
      tags.push(value.slice(start, index).trim())
      start = index + 1
    }
  }
  tags.push(value.slice(start).trim())
  return tags.filter((tag) => tag !== '')
}

/** An entity-tag trimmed and without its weakness flag, for the weak comparison (RFC 9110 §8.8.3.2). */
export function opaqueTag(tag: string): string {
  const trimmed = tag.trim()
  return trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed
}
