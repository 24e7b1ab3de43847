/**
 * The SQL tokenizer: reads a value as SQL from one quoting context (as
 * written, or as if it began inside a '…' or "…" string that the
 * application opened) and hands each token's type to a sink, which folds
 * them (`sqli-fold.ts`) and says when it has seen enough. One pass, a
 * bounded look-ahead, no regex and no allocation: attacker input costs
 * time linear in its length, and typically only its first few tokens are
 * read. Portable: no `node:` import.
 *
 * The dialect is a union of the ones injections aim at: MySQL's `#` and
 * `/*! … *\/` (read as code, as MySQL does) and backslash escapes,
 * PostgreSQL's `::` casts and `$$` strings, SQL Server's `[ ]`-less
 * identifiers and `@variables`, Oracle's `/*+ … *\/` hints.
 */
import { Token, type TokenType } from './sqli-types.ts'
import { wordType } from './sqli-words.ts'

/** Receives token types in order; returns false when it needs no more. */
export interface TokenSink {
  push(type: TokenType): boolean
}

/** No quoting context: the value is read as written. */
export const NO_QUOTE = 0
/** The value continues a string opened with `'`. */
export const SINGLE_QUOTE = 0x27
/** The value continues a string opened with `"`. */
export const DOUBLE_QUOTE = 0x22

/** Whitespace for SQL: controls, space, DEL and NBSP (MySQL and SQL Server skip them). */
function isSpace(code: number): boolean {
  return code <= 0x20 || code === 0x7f || code === 0xa0
}

/** Letters, digits, `_`, `$` and every byte of a multi-byte char: what an identifier is made of. */
function isWordChar(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39) || code === 0x5f || code === 0x24 || code >= 0x80
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39
}

function isHexDigit(code: number): boolean {
  return isDigit(code) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x66)
}

/** The index after a string body that starts at `start` and closes with `quote` ('' and \' escape it); one past the length when it never closes. */
function stringEnd(text: string, start: number, quote: number): number {
  const length = text.length
  for (let i = start; i < length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x5c) i++
    else if (code === quote) {
      if (text.charCodeAt(i + 1) !== quote) return i + 1
      i++
    }
  }
  return length + 1
}

/** The index of the end of the line from `start` (a `--` or `#` comment runs to it). */
function lineEnd(text: string, start: number): number {
  const newline = text.indexOf('\n', start)
  return newline < 0 ? text.length : newline
}

/** The index after a block comment whose body starts at `start`; the length when it never closes. */
function blockEnd(text: string, start: number): number {
  const close = text.indexOf('*/', start)
  return close < 0 ? text.length : close + 2
}

/** The index of the end of a number starting at `start` (decimal with fraction and exponent, 0x…, 0b…). */
function numberEnd(text: string, start: number): number {
  const length = text.length
  let i = start
  const second = text.charCodeAt(start + 1) | 0x20
  if (text.charCodeAt(start) === 0x30 && second === 0x78 && isHexDigit(text.charCodeAt(start + 2))) {
    for (i = start + 2; i < length && isHexDigit(text.charCodeAt(i)); i++);
    return i
  }
  if (text.charCodeAt(start) === 0x30 && second === 0x62 && (text.charCodeAt(start + 2) | 1) === 0x31) {
    for (i = start + 2; i < length && (text.charCodeAt(i) | 1) === 0x31; i++);
    return i
  }
  while (i < length && isDigit(text.charCodeAt(i))) i++
  if (text.charCodeAt(i) === 0x2e) for (i++; i < length && isDigit(text.charCodeAt(i)); i++);
  if ((text.charCodeAt(i) | 0x20) === 0x65) {
    let j = i + 1
    if (text.charCodeAt(j) === 0x2b || text.charCodeAt(j) === 0x2d) j++
    if (isDigit(text.charCodeAt(j))) for (i = j; i < length && isDigit(text.charCodeAt(i)); i++);
  }
  return i
}

/** Whether the next char after `start` that is not whitespace is `(`. */
function parenFollows(text: string, start: number): boolean {
  let i = start
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return text.charCodeAt(i) === 0x28
}

/**
 * Tokenizes `text` as SQL in the quoting context `quote` ({@link NO_QUOTE},
 * {@link SINGLE_QUOTE} or {@link DOUBLE_QUOTE}) into `sink`, until the text
 * ends or the sink has enough. Returns whether the text ended inside a
 * string it opened itself: read as written, a value that does so is not
 * SQL an application would run (the derivation leaves such readings out).
 *
 * @example
 * // 1' OR '1'='1 inside '…': a string, OR, a string, =, a string
 * tokenizeSql("1' OR '1'='1", SINGLE_QUOTE, sink)
 */
export function tokenizeSql(text: string, quote: number, sink: TokenSink): boolean {
  const length = text.length
  let i = 0
  // Inside MySQL's /*! … */: the body is code and its */ is no operator.
  let versioned = false
  // A string that never closes ends the text (i past its length).
  let open = false
  if (quote !== NO_QUOTE) {
    i = Math.min(stringEnd(text, 0, quote), length)
    if (!sink.push(Token.String)) return false
  }
  while (i < length) {
    const code = text.charCodeAt(i)
    let type: TokenType
    if (isSpace(code)) {
      i++
      continue
    }
    const next = text.charCodeAt(i + 1)
    if (code === 0x27 || code === 0x22) {
      i = stringEnd(text, i + 1, code)
      open = i > length
      type = Token.String
    } else if (code === 0x60) {
      // `identifier`
      const close = text.indexOf('`', i + 1)
      i = close < 0 ? length : close + 1
      type = Token.Word
    } else if (isDigit(code) || (code === 0x2e && isDigit(next))) {
      const end = numberEnd(text, i)
      if (end < length && isWordChar(text.charCodeAt(end))) {
        // 1abc, a hash, a hex id: MySQL reads a word that starts with digits as an identifier.
        let j = end
        while (j < length && isWordChar(text.charCodeAt(j))) j++
        type = parenFollows(text, j) ? Token.Function : Token.Word
        i = j
      } else {
        type = Token.Number
        i = end
      }
    } else if (isWordChar(code)) {
      let j = i + 1
      while (j < length && isWordChar(text.charCodeAt(j))) j++
      type = wordType(text, i, j, parenFollows(text, j))
      i = j
    } else if (code === 0x40) {
      // @variable, @@system_variable, @'quoted'
      let j = i + 1
      if (text.charCodeAt(j) === 0x40) j++
      const quoteCode = text.charCodeAt(j)
      if (quoteCode === 0x27 || quoteCode === 0x22 || quoteCode === 0x60) j = Math.min(stringEnd(text, j + 1, quoteCode), length)
      else while (j < length && (isWordChar(text.charCodeAt(j)) || text.charCodeAt(j) === 0x2e)) j++
      i = j
      type = Token.Variable
    } else if (code === 0x24 && next === 0x24) {
      // PostgreSQL $$…$$
      const close = text.indexOf('$$', i + 2)
      i = close < 0 ? length : close + 2
      type = Token.String
    } else if (code === 0x3a) {
      if (next === 0x3a || next === 0x3d) {
        i += 2
        type = Token.Operator
      } else if ((next | 0x20) >= 0x61 && (next | 0x20) <= 0x7a) {
        let j = i + 1
        while (j < length && isWordChar(text.charCodeAt(j))) j++
        i = j
        type = Token.Variable
      } else {
        i++
        type = Token.Operator
      }
    } else if (code === 0x2d && next === 0x2d) {
      i = lineEnd(text, i)
      type = Token.Comment
    } else if (code === 0x23) {
      i = lineEnd(text, i)
      type = Token.Comment
    } else if (code === 0x2f && next === 0x2a) {
      const third = text.charCodeAt(i + 2)
      if (third === 0x21) {
        // MySQL runs the body of /*!50000 … */: read it as code.
        i += 3
        while (i < length && isDigit(text.charCodeAt(i))) i++
        versioned = true
        continue
      }
      i = blockEnd(text, i + 2)
      type = third === 0x2b ? Token.Hint : Token.Comment
    } else if (code === 0x2a && next === 0x2f && versioned) {
      i += 2
      versioned = false
      continue
    } else {
      i++
      switch (code) {
        case 0x28:
          type = Token.OpenParen
          break
        case 0x29:
          type = Token.CloseParen
          break
        case 0x2c:
          type = Token.Comma
          break
        case 0x3b:
          type = Token.Semicolon
          break
        case 0x2e:
          type = Token.Dot
          break
        case 0x3d:
          type = Token.Compare
          break
        case 0x3c:
        case 0x3e:
          // <, >, <=, >=, <>, <=>; << and >> shift
          if (next === code) {
            i++
            type = Token.Operator
          } else {
            if (next === 0x3d || (code === 0x3c && next === 0x3e)) i++
            if (code === 0x3c && next === 0x3d && text.charCodeAt(i) === 0x3e) i++
            type = Token.Compare
          }
          break
        case 0x21:
          if (next === 0x3d) {
            i++
            type = Token.Compare
          } else type = Token.Not
          break
        case 0x26:
        case 0x7c:
          if (next === code) {
            i++
            type = Token.Logic
          } else type = Token.Operator
          break
        case 0x2b:
        case 0x2d:
        case 0x2a:
        case 0x2f:
        case 0x25:
        case 0x5e:
        case 0x7e:
          type = Token.Operator
          break
        default:
          type = Token.Other
      }
    }
    if (!sink.push(type)) return open
  }
  return open
}
