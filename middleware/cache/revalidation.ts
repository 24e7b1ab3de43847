/**
 * Revalidation of a stored response with the origin (RFC 9111 §4.3.1, §4.3.4).
 * @module
 */
import { opaqueTag } from './conditional.ts'

/** Request headers that make a request conditional; the cache sends its own validators instead (RFC 9111 §4.3.1). */
export const CONDITIONAL_HEADERS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range']

/**
 * The request's headers for a revalidation: the client's own conditionals replaced by the stored response's
 * validators (`If-None-Match` with its ETag, `If-Modified-Since` with its Last-Modified, RFC 9111 §4.3.1).
 * Built from the request's own headers (an Authorization jwtAuth() removed stays removed).
 */
export function revalidationHeaders(request: Headers, stored: Headers): Headers {
  const headers = new Headers(request)
  for (const name of CONDITIONAL_HEADERS) headers.delete(name)
  const etag = stored.get('etag')
  const lastModified = stored.get('last-modified')
  if (etag !== null) headers.set('if-none-match', etag)
  if (lastModified !== null) headers.set('if-modified-since', lastModified)
  return headers
}

/**
 * Whether a 304 answers for the stored response (RFC 9111 §4.3.4): its `ETag`, when it has one, is the stored
 * one (weakly compared: the cache sent it in If-None-Match); else its `Last-Modified`, when it has one, is the
 * stored one; a 304 with neither answers the validators the cache sent.
 */
export function validatorsMatch(stored: Headers, answer: Headers): boolean {
  const etag = answer.get('etag')
  if (etag !== null) return opaqueTag(etag) === opaqueTag(stored.get('etag') ?? '')
  const lastModified = answer.get('last-modified')
  if (lastModified !== null) return lastModified === stored.get('last-modified')
  return true
}
