import { describe, expect, it } from 'vitest'
import { decodeName, foldName, mayHoldName, namesToken, tokenName } from '../../../middleware/jwt-auth/parameter-name.ts'
import { randomTexts } from '../../helpers/random.ts'

/**
 * The names origin parsers read as the token's name (PHP's
 * php_register_variable_ex, ASP.NET's case-insensitive collections, Rack 2's
 * normalize_params and qs), and the cheap prefilter that must never skip one.
 */

const ACCESS_TOKEN = tokenName('access_token')

/** Spellings some origin parser reads as `access_token`, as a client would send them, and who reads them so. */
const LOOK_ALIKES: [raw: string, reader: string][] = [
  ['access.token', 'PHP turns . into _'],
  ['access token', 'PHP turns a space into _'],
  ['access+token', 'a form-decoded + is a space, and PHP turns it into _'],
  ['access%20token', 'a decoded %20 is a space'],
  ['access%2Etoken', 'a decoded %2E is a dot'],
  ['access%2etoken', 'escapes in either case'],
  ['access%5Ftoken', 'a decoded %5F is _'],
  ['access[token', 'PHP turns an unmatched [ into _'],
  ['access%5Btoken', 'a decoded unmatched ['],
  ['access_token[]', 'PHP, Rack and qs: an array under access_token'],
  ['access_token[x]', 'PHP, Rack and qs: a map under access_token'],
  ['access_token[0]', 'Rack and qs: an array under access_token'],
  ['access_token[ab', 'Rack 2: a hash under access_token (PHP reads access_token_ab)'],
  ['access_token[x]junk', 'PHP ignores what follows the ]'],
  ['access_token%5B%5D', 'a decoded []'],
  ['ACCESS_TOKEN', 'ASP.NET compares names ignoring case'],
  ['Access_Token', 'ASP.NET compares names ignoring case'],
  ['ACCESS.TOKEN', 'case and dot together'],
  ['acce%C5%BFs_token', 'ASP.NET Core upper-cases ſ (long s) to S'],
  ['access_to%E2%84%AAen', 'classic ASP.NET lower-cases K (Kelvin sign) to k'],
  ['%61ccess_token', 'an escaped letter'],
  ['%u0061ccess_token', "classic ASP.NET's HttpUtility.UrlDecode decodes %uXXXX"],
  [' access_token', 'PHP drops leading spaces'],
  ['%20access_token', 'PHP drops leading (decoded) spaces'],
  ['+access_token', 'PHP drops leading (decoded) spaces'],
  ['access_token%00x', 'PHP reads the decoded name as a C string'],
  ['[access_token]', 'Rack 2 and qs read a leading [name] as name'],
  [']access_token', 'Rack 2 skips leading brackets'],
  ['access_token]', 'Rack 2 skips the ] after the name'],
]

/** Names no parser reads as `access_token`: they reach the origin as they came. */
const UNRELATED = [
  'access_tokens',
  'xaccess_token',
  'access_token_hint',
  'access-token',
  'access%2Dtoken',
  'accesstoken',
  'access__token',
  'access_token_',
  'access_token[',
  '[x]access_token',
  'access_tokeñ',
  'acceß_token',
  'room',
  '',
]

describe('foldName: what php_register_variable_ex and ASP.NET make of a decoded name', () => {
  it.each([
    ['access_token', 'access_token'],
    ['access.token', 'access_token'],
    ['access token', 'access_token'],
    ['  access token', 'access_token'],
    ['access[token', 'access_token'],
    ['access[to.k en', 'access_to_k_en'],
    ['access[to[ken', 'access_to_ken'],
    ['access_token[]', 'access_token'],
    ['access_token[x][y]', 'access_token'],
    ['access_token[x', 'access_token_x'],
    ['access.token[x]', 'access_token'],
    ['access_token]', 'access_token]'],
    ['access_token\0junk', 'access_token'],
    ['ACCESS_TOKEN', 'access_token'],
    ['acceſs_to\u212Aen', 'access_token'],
    ['access-token', 'access-token'],
    ['[x]', ''],
  ])('folds %j to %j', (name, folded) => {
    expect(foldName(name)).toBe(folded)
  })
})

describe('decodeName: percent-decoding as the origin parsers do', () => {
  it.each([
    ['access%5Ftoken', 'access_token'],
    ['access+token', 'access token'],
    ['%C5%BF', 'ſ'],
    ['%u017F', 'ſ'],
    ['100%', '100%'],
    ['a%zzb', 'a%zzb'],
    ['a%u12', 'a%u12'],
    ['%FF', '\uFFFD'],
    ['plain', 'plain'],
  ])('decodes %j to %j', (raw, decoded) => {
    expect(decodeName(raw)).toBe(decoded)
  })
})

describe('namesToken: the spellings counted as the token name', () => {
  it.each(LOOK_ALIKES)('reads %j as access_token (%s)', (raw) => {
    expect(namesToken(raw, ACCESS_TOKEN)).toBe(true)
  })

  it.each(UNRELATED.map((name) => [name]))('does not read %j as access_token', (raw) => {
    expect(namesToken(raw, ACCESS_TOKEN)).toBe(false)
  })

  it('matches the configured name itself and its look-alikes, whatever the configured spelling', () => {
    expect(namesToken('jwt', tokenName('jwt'))).toBe(true)
    expect(namesToken('JWT[]', tokenName('jwt'))).toBe(true)
    expect(namesToken('session.id', tokenName('Session_ID'))).toBe(true)
    expect(namesToken('jwts', tokenName('jwt'))).toBe(false)
    // A configured name PHP could never produce still matches itself byte for byte.
    expect(namesToken('[a]', tokenName('[a]'))).toBe(true)
  })
})

describe('mayHoldName: the prefilter that lets the usual handshake skip the parse', () => {
  it('skips a query or Cookie header that holds neither the name nor anything that decodes', () => {
    for (const text of ['?room=1', '?room=lobby&lang=en', '?access=1&id=2', 'theme=dark; sid=abc123', '?token=x&acc=1']) {
      expect(mayHoldName(text, ACCESS_TOKEN), text).toBe(false)
    }
  })

  it('never skips a text holding a look-alike', () => {
    for (const [raw] of LOOK_ALIKES) {
      expect(mayHoldName(`?room=1&${raw}=x`, ACCESS_TOKEN), raw).toBe(true)
      expect(mayHoldName(`theme=dark; ${raw}=x`, ACCESS_TOKEN), raw).toBe(true)
    }
  })

  it('never skips a name that namesToken matches, over seeded random names', () => {
    const alphabet = ['access', 'ACCESS', 'aCCess', '_token', '.TOKEN', ' toKen', 'token', '_', '.', ' ', '[', ']', '[]', '%5F', '%2E', '+', 'x']
    let matched = 0
    for (const raw of randomTexts(20301, alphabet, 20_000, 5)) {
      if (!namesToken(raw, ACCESS_TOKEN)) continue
      matched++
      expect(mayHoldName(`?${raw}=x`, ACCESS_TOKEN), raw).toBe(true)
    }
    // The corpus does reach the look-alikes it is meant to check.
    expect(matched).toBeGreaterThan(100)
  })
})
