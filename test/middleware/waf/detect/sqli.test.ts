import { describe, expect, it } from 'vitest'
import { Folder } from '../../../../middleware/waf/detect/sqli-fold.ts'
import { detectSqli, sqliFingerprints } from '../../../../middleware/waf/detect/sqli.ts'
import { NO_QUOTE, SINGLE_QUOTE, tokenizeSql } from '../../../../middleware/waf/detect/sqli-tokenizer.ts'
import { TOKEN_LETTERS } from '../../../../middleware/waf/detect/sqli-types.ts'
import { SQLI_LOOKALIKES, SQLI_SHAPES } from '../../../fixtures/waf/sqli-shapes.ts'

/** The raw token letters of `text` (no folding). */
function tokens(text: string, quote = NO_QUOTE): string {
  let out = ''
  tokenizeSql(text, quote, { push: (type) => ((out += TOKEN_LETTERS[type]), true) })
  return out
}

describe('the SQL tokenizer', () => {
  it.each([
    ["'a''b' \"c\\\"d\"", 'ss'],
    ['0x7e 1.5e3 .5 1e', 'nnnw'],
    ['3f2a9b 550e8400', 'wn'],
    ['@v @@version :name', 'vvv'],
    ['SELECT UNION and OR xor NOT', 'SU&&&!'],
    ['sleep (5) LEFT JOIN left(', 'f(n)wkf('],
    ['= <> != <=> >= < like IS', '========'],
    ['1::int :=', 'nokO'.replace('O', 'o')],
    ['a -- c\nb # d\ne /* f */ g', 'wcwcwcw'],
    ['/*+ INDEX(t) */', 'h'],
    ['/*!50000UNION*/', 'U'],
    ['( ) , ; . { }', '(),;.??'],
    ['&& || & | ^ ~', '&&oooo'],
  ])('reads %j as %s', (text, letters) => {
    expect(tokens(text)).toBe(letters)
  })

  it('starts inside a string in a quoting context, and reports a string it opened that never closes', () => {
    expect(tokens("1' OR '1'='1", SINGLE_QUOTE)).toBe('s&s=s')
    expect(tokenizeSql("a 'b", NO_QUOTE, { push: () => true })).toBe(true)
    expect(tokenizeSql("a 'b'", NO_QUOTE, { push: () => true })).toBe(false)
  })

  it('reads a 200 KB value of quotes, comments and words in linear time', () => {
    const text = "'/*--#".repeat(40_000) + "x' OR 1=1".repeat(1000)
    const started = performance.now()
    sqliFingerprints(text)
    expect(performance.now() - started).toBeLessThan(500)
  })
})

describe('folding', () => {
  const fold = (text: string, quote = NO_QUOTE): string => sqliFingerprints(text)[quote === NO_QUOTE ? 0 : 1]!
  it.each([
    ['-1 OR 1+1=2', 'n&n=n'],
    ['information_schema.tables', 'w'],
    ['master..xp_cmdshell', 'w'],
    ['1 UNION ALL SELECT 1', 'nUSn'],
    ['1 ORDER BY 2', 'nkn'],
    ['1 /* x */ OR 1', 'n&n'],
    ['1 OR 1 --', 'n&nc'],
    ['1::numeric', 'n'],
    ['a b c d e f g', 'wwwww'],
  ])('folds %j to %s', (text, fingerprint) => {
    expect(fold(text)).toBe(fingerprint)
  })

  it('stops reading once five tokens can no longer change', () => {
    const folder = new Folder()
    let pushed = 0
    tokenizeSql('a b c d e f g h i j k', NO_QUOTE, { push: (type) => (pushed++, folder.push(type)) })
    expect(pushed).toBe(7)
  })
})

describe('detectSqli', () => {
  it.each([
    ["1' OR '1'='1", 's&s=s'],
    ["' OR 1=1--", 's&n=n'],
    ["admin'--", 'sc'],
    ['1 UNION SELECT username, password FROM users--', 'nUSw,'],
    ["1'; DROP TABLE users--", 's;Skw'],
    ["1'::int", 'sok'],
    ["1' AND /*+ INDEX(users) */ 1=1--", 's&hn='],
    ["'||(SELECT password FROM users)||'", 's&(Sw'],
    ['1/*!UNION*//*!SELECT*/1,2', 'nUSn,'],
  ])('flags %j (%s)', (text, fingerprint) => {
    expect(detectSqli(text)).toBe(fingerprint)
  })

  it('flags every shape of the injection corpus', () => {
    expect(SQLI_SHAPES.filter((text) => detectSqli(text) === null)).toEqual([])
  })

  it.each(['it\'s a nice day', "I can't, or won't", 'select a room or create one', '{"q":"it\'s","n":1}', '550e8400-e29b-41d4-a716-446655440000', 'dGhlIHNhbXBsZSBub25jZQ==',
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c', 'https://example.com/chat?room=lobby&user=me', "O'Reilly Media"])('leaves the benign look-alike %j alone', (text) => {
    expect(detectSqli(text)).toBeNull()
  })

  it('flags none of the benign look-alikes', () => {
    expect(SQLI_LOOKALIKES.filter((text) => detectSqli(text) !== null)).toEqual([])
  })
})
