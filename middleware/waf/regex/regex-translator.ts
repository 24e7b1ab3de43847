/**
 * The PCRE → JavaScript translator's core (`regex.ts` says what changes and
 * why): its state (the pattern, the read position, the source emitted so
 * far, the groups opened), option letters and their scopes, alternatives,
 * atoms and quantifiers. Groups (`regex-groups.ts`), escapes
 * (`regex-escapes.ts`) and bracketed classes (`regex-char-class.ts`) are
 * functions of this state.
 *
 * Portable: no `node:` import.
 */
import { literal } from './regex-classes.ts'
import { characterClass } from './regex-char-class.ts'
import { escape } from './regex-escapes.ts'
import { group, possessive } from './regex-groups.ts'

/** The PCRE options in force at a point of the pattern (`(?imsxUn)`). */
export interface Flags {
  i: boolean
  m: boolean
  s: boolean
  x: boolean
  U: boolean
  n: boolean
}

/** Thrown inside the translator, turned into `{ error }` by `translateRegex`. */
export class Untranslatable extends Error {}

/**
 * Reads a PCRE pattern (as a byte string) and emits the JavaScript source
 * with the same meaning; {@link Translator.fail} throws {@link Untranslatable}.
 */
export class Translator {
  /** The pattern, as a byte string. */
  readonly src: string
  /** PCRE_DOLLAR_ENDONLY: `$` only at the very end. */
  readonly dollarEndOnly: boolean
  /** Where in `src` reading is. */
  pos = 0
  /** The JavaScript source emitted so far. */
  out = ''
  /** PCRE capture groups opened so far (for `\N` and relative references). */
  groupCount = 0
  /** Helper groups named so far (`regex-groups.ts`). */
  helperCount = 0
  /** The pattern's own group names, which no helper may take. */
  readonly names = new Set<string>()
  /** The options in force at the start, leading `(?i)`-style settings folded in. */
  initial: Flags

  constructor(src: string, initial: Flags, dollarEndOnly: boolean) {
    this.src = src
    this.initial = initial
    this.dollarEndOnly = dollarEndOnly
  }

  fail(what: string): never {
    throw new Untranslatable(`${what} at offset ${this.pos} is not supported`)
  }

  translate(): string {
    // Option settings before the first atom apply to the whole pattern: fold them into the flags.
    let leading: RegExpExecArray | null
    while ((leading = /^\(\?([a-zA-Z^-]*)\)/.exec(this.src.slice(this.pos))) !== null) {
      this.initial = this.applyFlags(this.initial, leading[1]!)
      this.pos += leading[0].length
    }
    this.body(this.initial, false)
    if (this.pos < this.src.length) this.fail('unmatched )')
    return this.out
  }

  /** Applies `(?imsx-imsx)`-style letters to `flags`. */
  applyFlags(flags: Flags, letters: string): Flags {
    const next = { ...flags }
    let on = true
    for (const letter of letters) {
      switch (letter) {
        case '-': on = false; break
        case '^': next.i = next.m = next.s = next.x = next.n = false; next.U = false; break
        case 'i': next.i = on; break
        case 'm': next.m = on; break
        case 's': next.s = on; break
        case 'x': next.x = on; break
        case 'U': next.U = on; break
        case 'n': next.n = on; break
        case 'J': break // duplicate names: JavaScript allows them across alternatives, refuses the rest itself
        case 'R': this.fail('recursion (?R)')
        default: this.fail(`option letter (?${letter})`)
      }
    }
    return next
  }

  /**
   * Translates alternatives until `)` or the end. An inline option setting
   * (`(?i)`) lasts to the end of the group, later alternatives included.
   */
  body(flags: Flags, lookbehind: boolean): void {
    let current = flags
    for (;;) {
      this.skipExtended(current)
      if (this.pos >= this.src.length || this.src[this.pos] === ')') break
      if (this.src[this.pos] === '|') {
        this.pos++
        this.out += '|'
        continue
      }
      const setting = /^\(\?([a-zA-Z^-]*)\)/.exec(this.src.slice(this.pos, this.pos + 12))
      if (setting) {
        this.pos += setting[0].length
        current = this.applyFlags(current, setting[1]!)
        continue
      }
      const start = this.out.length
      if (!this.atom(current, lookbehind)) continue
      this.quantifier(current, start, lookbehind)
    }
  }

  /** Skips whitespace and `#` comments in extended mode. */
  skipExtended(flags: Flags): void {
    if (!flags.x) return
    for (;;) {
      const code = this.src.charCodeAt(this.pos)
      if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) this.pos++
      else if (code === 0x23) {
        const newline = this.src.indexOf('\n', this.pos)
        this.pos = newline < 0 ? this.src.length : newline + 1
      } else return
    }
  }

  /** Emits one atom; false when what was read emits nothing to quantify (a comment). */
  atom(flags: Flags, lookbehind: boolean): boolean {
    const char = this.src[this.pos]!
    switch (char) {
      case '(':
        return group(this, flags, lookbehind)
      case '[':
        this.pos++
        this.out += characterClass(this, flags.i)
        return true
      case '\\':
        this.pos++
        escape(this, flags.i)
        return true
      case '.':
        this.pos++
        this.out += flags.s ? '[\\s\\S]' : '[^\\n]'
        return true
      case '^':
        this.pos++
        this.out += flags.m ? '(?:^|(?<=\\n)(?=[\\s\\S]))' : '^'
        return true
      case '$':
        this.pos++
        this.out += flags.m ? '(?=\\n|$)' : this.dollarEndOnly ? '$' : '(?=\\n?$)'
        return true
      case '*': case '+': case '?':
        return this.fail(`quantifier ${char} without anything to repeat`)
      case '{':
        if (/^\{\d+(?:,\d*)?\}/.test(this.src.slice(this.pos))) this.fail('quantifier { without anything to repeat')
        this.pos++
        this.out += '\\{'
        return true
      default:
        this.pos++
        this.out += this.char(char.charCodeAt(0), flags.i)
        return true
    }
  }

  /** One literal char; a letter matched without case is written as a two-char class. */
  char(code: number, caseless: boolean): string {
    if (caseless && isAsciiLetter(code)) return '[' + String.fromCharCode(code & ~0x20, code | 0x20) + ']'
    return literal(code)
  }

  /** Reads and emits a quantifier, if one follows the atom emitted from `start`. */
  quantifier(flags: Flags, start: number, lookbehind: boolean): void {
    this.skipExtended(flags)
    let text: string
    const char = this.src[this.pos]
    if (char === '*' || char === '+' || char === '?') {
      text = char
      this.pos++
    } else if (char === '{') {
      const bounds = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos))
      if (!bounds) return
      if (bounds[3] !== undefined && bounds[3] !== '' && Number(bounds[3]) < Number(bounds[1])) this.fail('quantifier {n,m} with m < n')
      text = bounds[0]
      this.pos += bounds[0].length
    } else {
      return
    }
    const mode = this.src[this.pos]
    let lazy = flags.U
    if (mode === '?') {
      lazy = !lazy
      this.pos++
    } else if (mode === '+') {
      this.pos++
      if (!lookbehind) {
        possessive(this, start, text)
        return
      }
      lazy = false
    }
    this.out += text + (lazy ? '?' : '')
  }
}

/** Whether a char code is an ASCII letter, the only chars PCRE folds in the C locale. */
function isAsciiLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)
}
