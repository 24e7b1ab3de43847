import { describe, expect, it } from 'vitest'
import { findTokens, stripTokens, type TokenLocations } from '../../../middleware/jwt-auth/token.ts'
import { randomTexts } from '../../helpers/random.ts'

/**
 * What jwtAuth() verifies and what it removes must be the same thing: when
 * findTokens() sees exactly one token (the request jwtAuth() lets through),
 * the request stripTokens() hands on holds none that findTokens() would see,
 * so no copy of a credential reaches the origin. Seeded texts built from the
 * pieces that matter to each source's parsing (separators, quotes, the
 * scheme, the marker and prefix, look-alike names, U+00A0).
 */

const WHERE: TokenLocations = {
  sources: ['header', 'protocol', 'query', 'cookie'],
  queryParameter: 'access_token',
  cookie: 'access_token',
  protocolMarker: 'access_token',
  protocolPrefix: 'bearer.',
}

const PIECES = ['Bearer', 'bearer', 'BEARER', ' ', '\t', ',', ', ', '"', '\\', '\u00a0', 'a.b.c', 'Basic x', 'Digest realm="', 'access_token', 'bearer.', '=', ';', '&', 'chat', '%5F', '[]', '.', '_', 'ACCESS_TOKEN', '+']

/** A request carrying `texts` in one source: the first two as two fields (or two query parts) of it. */
function requestWith(source: number, first: string, second: string | undefined): Request | undefined {
  const headers = new Headers()
  let url = 'http://gw.test/chat'
  try {
    const name = (['authorization', 'sec-websocket-protocol', undefined, 'cookie'] as const)[source]
    if (name === undefined) url += `?${first}${second === undefined ? '' : `&${second}`}`.replace(/[ \t"\\\u00a0]/g, '')
    else for (const value of second === undefined ? [first] : [first, second]) headers.append(name, value.trim())
    return new Request(url, { headers })
  } catch {
    // A value Headers or URL refuses (a request no client can send).
    return undefined
  }
}

describe('jwtAuth: stripping leaves no token behind', () => {
  it('finds no token in what it forwards, for every request it finds exactly one in (seeded)', () => {
    const texts = randomTexts(20261207, PIECES, 40_000, 6)
    let checked = 0
    const left: string[] = []
    for (let index = 0; index + 1 < texts.length; index += 2) {
      const pair = index / 2
      const request = requestWith(pair % 4, texts[index]!, pair % 3 === 0 ? texts[index + 1]! : undefined)
      if (!request || findTokens(request, WHERE).length !== 1) continue
      checked++
      const { url, headers } = stripTokens(request, WHERE)
      const again = findTokens(new Request(url, { headers }), WHERE)
      if (again.length > 0) left.push(`${request.url} ${JSON.stringify([...request.headers])} -> ${url.href} ${JSON.stringify([...headers])}`)
    }
    // The corpus must exercise the property, not skip it.
    expect(checked).toBeGreaterThan(1_000)
    expect(left.slice(0, 10)).toEqual([])
  })
})
