/**
 * The token types of the SQL tokenizer (`sqli-tokenizer.ts`) and the letter
 * each is written as in a fingerprint. A fingerprint is the folded token
 * stream of a value written as these letters, at most
 * {@link FINGERPRINT_LENGTH} of them: `1' OR '1'='1` read as if it began
 * inside a single-quoted string is `s&s=s`. The alphabet is wsgate's own;
 * the set of fingerprints that flag an injection is derived from the
 * project's corpora (`derive.ts`). Portable: no `node:` import.
 */

/** Token type codes, small integers so that a fingerprint packs into one number. */
export const Token = {
  /** A quoted string literal ('…', "…"), closed or running to the end of the value. */
  String: 1,
  /** A number (1, 0x7e, 1.5e3) or a literal keyword standing for a value (NULL, TRUE, FALSE). */
  Number: 2,
  /** An identifier or word that is no keyword (column, table, English word, `backquoted`). */
  Word: 3,
  /** A variable or bind parameter (@v, @@version, :name, $1). */
  Variable: 4,
  /** A word followed by `(`: a function call. */
  Function: 5,
  /** A clause keyword (FROM, WHERE, INTO, ORDER BY, LIMIT, …). */
  Keyword: 6,
  /** A set operator joining two queries (UNION, INTERSECT, EXCEPT). */
  Union: 7,
  /** A keyword that begins a statement (SELECT, INSERT, DROP, EXEC, WAITFOR, …). */
  Statement: 8,
  /** A logical connective (AND, OR, XOR, &&, ||). */
  Logic: 9,
  /** Negation (NOT, !). */
  Not: 10,
  /** A comparison (=, <, >, <>, !=, LIKE, IS, IN, BETWEEN, REGEXP). */
  Compare: 11,
  /** Any other operator: arithmetic, bitwise, `::` casts, `:=`. */
  Operator: 12,
  /** A comment (--, #, /* *\/); kept in a fingerprint only at its end. */
  Comment: 13,
  /** An optimizer-hint comment (/*+ … *\/), which the database reads. */
  Hint: 14,
  OpenParen: 15,
  CloseParen: 16,
  Comma: 17,
  Semicolon: 18,
  Dot: 19,
  /** Any other char (braces, brackets, a stray backslash). */
  Other: 20,
  /** Internal: ALL / DISTINCT, dropped after UNION or SELECT and a keyword elsewhere. */
  Modifier: 21,
  /** Internal: BY, dropped after ORDER / GROUP and a keyword elsewhere. */
  By: 22,
} as const

/** A token type code. */
export type TokenType = (typeof Token)[keyof typeof Token]

/** Letters, indexed by {@link Token} code. */
export const TOKEN_LETTERS = ' snwvfkUS&!=och(),;.?kk'

/** Tokens kept in a fingerprint: enough for the shapes of injections, few enough that a benign value rarely shares one. */
export const FINGERPRINT_LENGTH = 5

/** Bits per token in a packed fingerprint (codes are below 32). */
export const TOKEN_BITS = 5

/** A fingerprint's letters, from its packed form (first token in the highest bits; codes are never 0, so the length is implicit). */
export function fingerprintText(packed: number): string {
  let text = ''
  for (let rest = packed; rest > 0; rest = Math.floor(rest / 32)) text = TOKEN_LETTERS[rest % 32]! + text
  return text
}

/** The packed form of a fingerprint's letters; -1 if a letter is no token's. */
export function packFingerprint(text: string): number {
  let packed = 0
  for (const letter of text) {
    const code = TOKEN_LETTERS.indexOf(letter)
    if (code <= 0 || code >= Token.Modifier) return -1
    packed = packed * 32 + code
  }
  return packed
}
