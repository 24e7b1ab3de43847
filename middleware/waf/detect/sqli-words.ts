/**
 * Which SQL words are keywords, and of what kind, for the tokenizer
 * (`sqli-tokenizer.ts`). The lists are wsgate's own, from the grammars of
 * the dialects an injection aims at (MySQL, PostgreSQL, SQL Server, Oracle,
 * SQLite); a word not listed is an identifier. Words are looked up in
 * place, without slicing the value: a case-folded hash picks the candidates
 * and a byte compare confirms. Portable: no `node:` import.
 */
import { Token, type TokenType } from './sqli-types.ts'

const KINDS: readonly [TokenType, string][] = [
  [Token.Union, 'union intersect except'],
  [Token.Statement, 'select insert update delete drop create alter truncate exec execute declare waitfor shutdown grant revoke merge call handler rename show describe'],
  [Token.Logic, 'and or xor'],
  [Token.Not, 'not'],
  [Token.Compare, 'like rlike ilike regexp is in between sounds glob'],
  [Token.Operator, 'div mod collate escape'],
  [Token.Number, 'null true false unknown'],
  [Token.Modifier, 'all distinct distinctrow top'],
  [Token.By, 'by'],
  [
    Token.Keyword,
    'from where into values table database schema order group having limit offset as on join inner outer cross natural using ' +
      'case when then else end any some exists asc desc procedure set delay time outfile dumpfile begin cursor fetch next rows ' +
      'only with recursive returning if while loop return cast convert nvarchar varchar int integer bigint text binary unsigned signed',
  ],
]

/** Words that are functions when `(` follows and keywords otherwise (`LEFT(x, 1)` against `LEFT JOIN`). */
const FUNCTION_BEFORE_PAREN = new Set(['if', 'left', 'right', 'replace', 'insert', 'database', 'schema', 'char', 'mod', 'values', 'cast', 'convert', 'time', 'text', 'binary'])

/** The longest keyword; longer words are identifiers without a look-up. */
export const LONGEST_KEYWORD = 16

interface Entry {
  word: string
  kind: TokenType
  functionBeforeParen: boolean
}

const TABLE = new Map<number, Entry[]>()
for (const [kind, words] of KINDS) {
  for (const word of words.split(' ')) {
    const hash = hashWord(word, 0, word.length)
    const entries = TABLE.get(hash) ?? []
    // A word listed twice keeps its first kind.
    if (!entries.some((entry) => entry.word === word)) entries.push({ word, kind, functionBeforeParen: FUNCTION_BEFORE_PAREN.has(word) })
    TABLE.set(hash, entries)
  }
}

/** FNV-1a over the ASCII-lower-cased chars of `text[start, end)`. */
function hashWord(text: string, start: number, end: number): number {
  let hash = 0x811c9dc5
  for (let i = start; i < end; i++) {
    let code = text.charCodeAt(i)
    if (code >= 0x41 && code <= 0x5a) code |= 0x20
    hash = Math.imul(hash ^ code, 0x01000193)
  }
  return hash >>> 0
}

function sameWord(text: string, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false
  for (let i = 0; i < word.length; i++) {
    let code = text.charCodeAt(start + i)
    if (code >= 0x41 && code <= 0x5a) code |= 0x20
    if (code !== word.charCodeAt(i)) return false
  }
  return true
}

/**
 * The token type of the word `text[start, end)`: its keyword kind, a
 * function when `(` follows (`beforeParen`) and it is no keyword that
 * takes a parenthesis itself, an identifier otherwise.
 */
export function wordType(text: string, start: number, end: number, beforeParen: boolean): TokenType {
  if (end - start <= LONGEST_KEYWORD) {
    const entries = TABLE.get(hashWord(text, start, end))
    if (entries !== undefined) {
      for (const entry of entries) {
        if (!sameWord(text, start, end, entry.word)) continue
        return beforeParen && entry.functionBeforeParen ? Token.Function : entry.kind
      }
    }
  }
  return beforeParen ? Token.Function : Token.Word
}
