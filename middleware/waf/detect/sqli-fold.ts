/**
 * Folding: turns the tokenizer's stream into a fingerprint, the first
 * {@link FINGERPRINT_LENGTH} tokens of the value once the shapes that do not
 * change what a query does are reduced, so that one fingerprint stands for
 * many payloads (`1 OR 2=2`, `-1 OR 10=10` and `1.5 OR 0x1=0x1` alike):
 *
 * - a comment between tokens is whitespace; one at the end is kept (`admin'--`);
 * - a sign before a number goes (`-1`), and arithmetic between values
 *   collapses to its first operand (`1+1`, `x-1`, `1::int`);
 * - qualified names are one name (`information_schema.tables`, `master..xp_cmdshell`);
 * - adjacent string literals are one (`'a' 'b'`);
 * - ALL / DISTINCT after UNION or SELECT, and BY after ORDER / GROUP, go.
 *
 * Portable: no `node:` import.
 */
import { FINGERPRINT_LENGTH, Token, type TokenType } from './sqli-types.ts'
import type { TokenSink } from './sqli-tokenizer.ts'

/** Tokens held beyond the fingerprint: a later token can rewrite at most the two below it. */
const SLACK = 2

/** A value, for the folds that join two values across an operator. */
function isOperand(type: number): boolean {
  return type === Token.Number || type === Token.Word || type === Token.Variable
}

/** What may stand before a binary operator; after anything else, + and - are signs. */
function endsValue(type: number): boolean {
  return type === Token.String || type === Token.Number || type === Token.Word || type === Token.Variable || type === Token.CloseParen
}

/**
 * A reusable folder: {@link reset}, feed it to `tokenizeSql`, then read
 * {@link packed}. Holds a few bytes; one instance serves every value.
 */
export class Folder implements TokenSink {
  readonly #stack = new Uint8Array(FINGERPRINT_LENGTH + SLACK)
  #length = 0
  #trailingComment = false

  /** Starts a new value. */
  reset(): void {
    this.#length = 0
    this.#trailingComment = false
  }

  /** Folds in the next token; false once the fingerprint can no longer change. */
  push(type: TokenType): boolean {
    const stack = this.#stack
    let kind: number = type
    if (kind === Token.Comment) {
      this.#trailingComment = true
      return true
    }
    this.#trailingComment = false
    const top = this.#length > 0 ? stack[this.#length - 1]! : 0
    const under = this.#length > 1 ? stack[this.#length - 2]! : 0
    if (kind === Token.Modifier) {
      if (top === Token.Union || top === Token.Statement) return true
      kind = Token.Keyword
    } else if (kind === Token.By) {
      if (top === Token.Keyword) return true
      kind = Token.Keyword
    } else if (kind === Token.String && top === Token.String) {
      return true
    } else if (kind === Token.Dot && top === Token.Dot) {
      return true
    } else if ((kind === Token.Word || kind === Token.Function) && top === Token.Dot && under === Token.Word) {
      this.#length -= 2
    } else if (isOperand(kind) && top === Token.Operator) {
      if (isOperand(under)) {
        this.#length -= 1
        return true
      }
      if (kind === Token.Number && !endsValue(under)) this.#length -= 1
    }
    stack[this.#length++] = kind
    return this.#length < stack.length
  }

  /** The fingerprint, packed five bits a token (see `sqli-types.ts`); 0 when the value held no token. */
  packed(): number {
    const length = Math.min(this.#length, FINGERPRINT_LENGTH)
    let packed = 0
    for (let i = 0; i < length; i++) packed = packed * 32 + this.#stack[i]!
    if (this.#trailingComment && length < FINGERPRINT_LENGTH) packed = packed * 32 + Token.Comment
    return packed
  }
}
