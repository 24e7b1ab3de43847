/**
 * PCRE, as ModSecurity's `@rx` compiles it, translated to a JavaScript
 * `RegExp` with the same matches on byte strings (see `bytes.ts`).
 *
 * What changes in translation, and why:
 * - Options. ModSecurity v2 compiles `@rx` with PCRE_DOTALL |
 *   PCRE_DOLLAR_ENDONLY ({@link MODSECURITY_RX}); without options the PCRE
 *   defaults apply. `(?i)`, `(?s)`, `(?m)`, `(?x)`, `(?U)`, `(?n)` and `(?^)`
 *   work anywhere, scoped as in PCRE (to the end of the enclosing group,
 *   carried into later alternatives). All of them are applied while
 *   translating, so the result uses no flag at all: a caseless letter is
 *   written `[aA]` and a caseless class gets its letters' other case, which
 *   is PCRE's C-locale folding exactly (ASCII only). Not JavaScript's `i`
 *   flag, which also folds Latin-1 letters, nor V8's modifier groups
 *   `(?i:…)`: in Node 24 they fail to fold a class in any but the first
 *   alternative (`/(?i:ab|[a-f])/.test('D')` is false). Not `s` or `m`
 *   either (JavaScript's `m` also breaks lines at \r, U+2028 and U+2029).
 * - `.` is `[^\n]` (or `[\s\S]` under dot-all); `^`, `$`, `\A`, `\z`, `\Z`,
 *   `\G` become JavaScript anchors or lookarounds with PCRE's meaning
 *   (`$` also matches before a final \n unless dollar-end-only).
 * - `\s \S \h \H \v \V \R \N` and the POSIX classes (`[[:alpha:]]`) become
 *   explicit byte-mode sets (JavaScript's `\s` includes 0xA0, its `\v` is VT).
 * - Possessive quantifiers (`a*+`) and atomic groups (`(?>…)`) are emulated
 *   exactly: `(?=(?<h>X))\k<h>` matches what `(?>X)` matches and, a lookahead
 *   being atomic in JavaScript, never backtracks into it. Inside a
 *   lookbehind (matched right to left) they fall back to the plain form,
 *   which can only match more. The helper groups shift capture numbers;
 *   `groups` maps PCRE group numbers back. Where the plain greedy form
 *   provably matches the same, the emulation is dropped (`regex-linear.ts`):
 *   a lookahead or back-reference keeps a pattern off V8's linear engine.
 * - `\Q…\E`, `\x{HH}`, `\o{}`, `\e`, `\cX`, octal, `(?P<n>…)`, `(?'n'…)`,
 *   `\g{N}`, `\k{n}`, `(?P=n)`, `(?#…)` and `(*FAIL)` are rewritten.
 * - Refused, with an error naming the construct: recursion and subroutine
 *   calls, conditionals, branch reset, backtracking verbs other than
 *   `(*FAIL)`, callouts, `\K`, `\X`, `\C`, `\p{…}`, `\u`/`\U`/`\L`/`\l`,
 *   code points above 0xFF (PCRE's byte mode refuses them too).
 *
 * A caseless back-reference is the one place a modifier group is used,
 * `(?i:\1)`. Two differences stay: a back-reference to a group that did not
 * take part in the match matches the empty string in JavaScript and fails in
 * PCRE; and V8 has neither PCRE's match limits nor its start-of-match
 * optimisations, so many CRS patterns (932100–932115, 921160, 941160,
 * 942370, 942480…) backtrack super-linearly on long runs of one char or
 * word. Node's `--enable-experimental-regexp-engine-on-excessive-backtracks`
 * bounds them (it re-runs such a match in linear time) when V8's linear
 * engine can take the pattern: no lookahead, no back-reference, no counted
 * repeat above 16. `regex-linear.ts` rewrites the translation, keeping every
 * match, so that all but four CRS 3.3.4 patterns qualify; of those, 920600
 * and 920201 are anchored at the start, 953120 is a response rule, and
 * 942130 (lookaheads and back-references) loses the leading loop that made
 * it quadratic. `bench/redos.ts` measures the worst cases.
 * Portable: no `node:` import.
 */
import { toByteString } from '../bytes.ts'
import { linearRewrite, moveStartBack } from './regex-linear.ts'
import { POSIX_CLASSES, SPACE, HORIZONTAL_SPACE, VERTICAL_SPACE, classSource, complement, literal, rangesSource, type CodeRange } from './regex-classes.ts'

/** PCRE compile options that change what a pattern means. */
export interface RegexOptions {
  /** PCRE_CASELESS, as `(?i)`. @default false */
  caseless?: boolean
  /** PCRE_DOTALL: `.` matches \n too, as `(?s)`. @default false */
  dotAll?: boolean
  /** PCRE_MULTILINE: `^` and `$` match at inner line breaks, as `(?m)`. @default false */
  multiline?: boolean
  /** PCRE_DOLLAR_ENDONLY: `$` matches only at the very end, not before a final \n. @default false */
  dollarEndOnly?: boolean
  /** PCRE_EXTENDED: whitespace and `#` comments in the pattern are ignored, as `(?x)`. @default false */
  extended?: boolean
}

/** The options ModSecurity v2 compiles `@rx` with (`re_operators.c`: PCRE_DOTALL | PCRE_DOLLAR_ENDONLY). */
export const MODSECURITY_RX: Readonly<RegexOptions> = Object.freeze({ dotAll: true, dollarEndOnly: true })

/** A translated pattern. */
export interface TranslatedRegex {
  regex: RegExp
  /**
   * Where PCRE's capture groups are in the JavaScript match: `groups[n]` is
   * the index of PCRE group n (`groups[0]` is 0, the whole match). It differs
   * from the identity only when possessive or atomic emulation added groups.
   */
  groups: readonly number[]
  /**
   * Set when a leading lazy loop (`[\s'"]*?…`) was taken out of the pattern
   * (see `regex-linear.ts`): `regex` matches where the original does, but its
   * match starts after the run of these chars that the original's includes;
   * {@link matchStart} gives the original's start.
   */
  leading?: RegExp
}

/**
 * Where the original pattern's match starts, given `regex`'s match: the
 * same place, or earlier when a leading lazy loop was taken out.
 *
 * @example
 * const translated = translateRegex('[ ]*?x')
 * const match = translated.regex.exec('a  x')! // 'x' at 3
 * matchStart(translated, 'a  x', match.index) // 1: the original matches '  x'
 */
export function matchStart(translated: TranslatedRegex, input: string, index: number): number {
  return translated.leading === undefined ? index : moveStartBack(input, index, translated.leading)
}

interface Flags {
  i: boolean
  m: boolean
  s: boolean
  x: boolean
  U: boolean
  n: boolean
}

/** Thrown inside the translator, turned into `{ error }`. */
class Untranslatable extends Error {}

/** Prefix of the helper groups' names; a PCRE name cannot start with it by accident in practice, and collisions are checked. */
const HELPER = 'wsgAtomic'

/**
 * Translates a PCRE pattern to a JavaScript `RegExp` with the same meaning on
 * byte strings, or explains which construct it cannot translate. A pattern
 * holding chars above U+00FF is first read as its UTF-8 bytes, as PCRE would
 * read the rule file.
 *
 * @param pcre the pattern, without delimiters
 * @param options PCRE compile options; `@rx` uses {@link MODSECURITY_RX}
 * @param rewrite apply the match-preserving rewrites of `regex-linear.ts`
 *   that keep V8 from backtracking super-linearly; `false` gives the plain
 *   translation, for cross-checks
 * @example
 * const result = translateRegex('(?i)<script\\b[^>]*+>', MODSECURITY_RX)
 * if ('error' in result) throw new TypeError(result.error)
 * result.regex.test('<SCRIPT src=x>') // true
 */
export function translateRegex(pcre: string, options: RegexOptions = {}, rewrite = true): TranslatedRegex | { error: string } {
  const translator = new Translator(toByteString(pcre), {
    i: options.caseless === true,
    m: options.multiline === true,
    s: options.dotAll === true,
    x: options.extended === true,
    U: false,
    n: false,
  }, options.dollarEndOnly === true)
  let source: string
  try {
    source = translator.translate()
  } catch (error) {
    if (error instanceof Untranslatable) return { error: error.message }
    throw error
  }
  const rewritten = rewrite ? linearRewrite(source) : { source }
  const { groups, resolved } = mapGroups(rewritten.source)
  try {
    const regex = new RegExp(resolved)
    return rewritten.leading === undefined ? { regex, groups } : { regex, groups, leading: rewritten.leading }
  } catch (error) {
    return { error: `invalid pattern: ${(error as Error).message}` }
  }
}

class Translator {
  readonly src: string
  readonly dollarEndOnly: boolean
  pos = 0
  out = ''
  /** PCRE capture groups opened so far (for `\N` and relative references). */
  groupCount = 0
  helperCount = 0
  readonly names = new Set<string>()
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
        return this.group(flags, lookbehind)
      case '[':
        this.pos++
        this.out += this.characterClass(flags.i)
        return true
      case '\\':
        this.pos++
        this.escape(flags.i)
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
        this.possessive(start, text)
        return
      }
      lazy = false
    }
    this.out += text + (lazy ? '?' : '')
  }

  /** Wraps the atom emitted from `start`, with `quantifier`, so that it never gives back what it matched. */
  possessive(start: number, quantifier: string): void {
    const name = this.helperName()
    this.out = `${this.out.slice(0, start)}(?:(?=(?<${name}>${this.out.slice(start)}${quantifier}))\\k<${name}>)`
  }

  helperName(): string {
    let name: string
    do name = HELPER + this.helperCount++
    while (this.names.has(name) || this.src.includes(name))
    return name
  }

  /** Emits a group or a group-like construct; false for a comment. */
  group(flags: Flags, lookbehind: boolean): boolean {
    const rest = this.src.slice(this.pos, this.pos + 40)
    let opener: string
    let inner = flags
    let innerLookbehind = lookbehind
    let atomic = false
    let match: RegExpExecArray | null
    if (rest.startsWith('(?#')) {
      const close = this.src.indexOf(')', this.pos)
      if (close < 0) this.fail('unterminated comment (?#')
      this.pos = close + 1
      return false
    }
    if (rest.startsWith('(*')) {
      const verb = /^\(\*([A-Z_]*)(?::[^)]*)?\)/.exec(rest)
      if (verb && (verb[1] === 'FAIL' || verb[1] === 'F')) {
        this.pos += verb[0].length
        this.out += '(?!)'
        return true
      }
      return this.fail(`backtracking verb ${verb ? verb[0] : '(*'}`)
    }
    if (rest.startsWith('(?:')) {
      opener = '(?:'
      this.pos += 3
    } else if (rest.startsWith('(?=') || rest.startsWith('(?!')) {
      opener = rest.slice(0, 3)
      this.pos += 3
    } else if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
      opener = rest.slice(0, 4)
      this.pos += 4
      innerLookbehind = true
    } else if (rest.startsWith('(?>')) {
      this.pos += 3
      atomic = !lookbehind
      opener = atomic ? '' : '(?:'
    } else if ((match = /^\(\?(?:P?<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')/.exec(rest)) !== null) {
      const name = match[1] ?? match[2]!
      this.names.add(name)
      this.groupCount++
      opener = `(?<${name}>`
      this.pos += match[0].length
    } else if ((match = /^\(\?P=([A-Za-z_]\w*)\)/.exec(rest)) !== null) {
      this.pos += match[0].length
      this.backReference(match[1]!, flags.i)
      return true
    } else if ((match = /^\(\?([a-zA-Z^-]*):/.exec(rest)) !== null) {
      inner = this.applyFlags(flags, match[1]!)
      this.pos += match[0].length
      opener = '(?:'
    } else if (rest.startsWith('(?')) {
      const construct = /^\(\?(?:R|[+-]?\d|&|P>|\||\(|C)/.exec(rest)
      const names: Record<string, string> = { R: 'recursion (?R)', '&': 'subroutine call (?&name)', 'P>': 'subroutine call (?P>name)', '|': 'branch reset (?|', '(': 'conditional (?(', C: 'callout (?C' }
      const key = construct?.[0].slice(2) ?? ''
      return this.fail(names[key] ?? (/^[+-]?\d/.test(key) ? 'subroutine call (?N)' : `group syntax ${rest.slice(0, 4)}`))
    } else {
      this.pos++
      if (flags.n) {
        opener = '(?:'
      } else {
        this.groupCount++
        opener = '('
      }
    }
    const helper = atomic ? this.helperName() : ''
    this.out += atomic ? `(?:(?=(?<${helper}>` : opener
    this.body(inner, innerLookbehind)
    if (this.src[this.pos] !== ')') this.fail('missing ) for the group')
    this.pos++
    this.out += atomic ? `))\\k<${helper}>)` : ')'
    return true
  }

  /** Emits what follows a backslash outside a class. */
  escape(caseless: boolean): void {
    const char = this.src[this.pos]
    if (char === undefined) this.fail('\\ at end of pattern')
    this.pos++
    switch (char) {
      case 'd': case 'D': case 'w': case 'W': case 'b': case 'B':
        this.out += '\\' + char
        return
      case 's': this.out += classSource(SPACE, false); return
      case 'S': this.out += classSource(SPACE, true); return
      case 'h': this.out += classSource(HORIZONTAL_SPACE, false); return
      case 'H': this.out += classSource(HORIZONTAL_SPACE, true); return
      case 'v': this.out += classSource(VERTICAL_SPACE, false); return
      case 'V': this.out += classSource(VERTICAL_SPACE, true); return
      case 'R': this.out += `(?:\\r\\n|${classSource(VERTICAL_SPACE, false)})`; return
      case 'N':
        if (this.src[this.pos] === '{') this.fail('\\N{name}')
        this.out += '[^\\n]'
        return
      case 'A': case 'G': this.out += '^'; return
      case 'z': this.out += '$'; return
      case 'Z': this.out += '(?=\\n?$)'; return
      case 'Q': {
        const end = this.src.indexOf('\\E', this.pos)
        const text = end < 0 ? this.src.slice(this.pos) : this.src.slice(this.pos, end)
        this.pos = end < 0 ? this.src.length : end + 2
        // Each quoted char is its own atom, so a following quantifier applies to the last one only.
        for (const quoted of text) this.out += this.char(quoted.charCodeAt(0), caseless)
        return
      }
      case 'E': return
      case 'g': this.backReference(this.groupReference(), caseless); return
      case 'k': {
        const name = /^(?:<(\w+)>|'(\w+)'|\{(\w+)\})/.exec(this.src.slice(this.pos))
        if (!name) this.fail('\\k without a group name')
        this.pos += name[0].length
        this.backReference(name[1] ?? name[2] ?? name[3]!, caseless)
        return
      }
      default:
    }
    if (char >= '1' && char <= '9') {
      const digits = /^\d*/.exec(this.src.slice(this.pos))![0]
      const number = Number(char + digits)
      if (number < 10 || number <= this.groupCount) {
        this.pos += digits.length
        this.backReference(number, caseless)
        return
      }
    }
    this.out += this.char(this.escapedChar(char, false), caseless)
  }

  /** `\g{N}`, `\gN`, `\g{-N}`, `\g-N` (relative) or `\g{name}`: a group number, or a name. */
  groupReference(): number | string {
    const reference = /^(?:\{(-?\d+)\}|(-?\d+)|\{(\w+)\}|<(\w+)>|'(\w+)')/.exec(this.src.slice(this.pos))
    if (!reference) this.fail('\\g without a group')
    this.pos += reference[0].length
    const digits = reference[1] ?? reference[2]
    if (digits === undefined) {
      if (reference[4] !== undefined || reference[5] !== undefined) this.fail('subroutine call \\g<name>')
      return reference[3]!
    }
    const number = Number(digits)
    return number < 0 ? this.groupCount + number + 1 : number
  }

  /**
   * Emits a back-reference: to a name directly, to a number as a placeholder
   * resolved once helper groups are known. A caseless one sits in a V8
   * modifier group, the only construct whose case folding needs one.
   */
  backReference(target: number | string, caseless: boolean): void {
    let reference: string
    if (typeof target === 'string') {
      reference = `\\k<${target}>`
    } else {
      if (target < 1) this.fail('reference to group 0 or below')
      reference = `\x01${target}\x02`
    }
    this.out += caseless ? `(?i:${reference})` : reference
  }

  /**
   * The char code a single-char escape stands for (`\n`, `\x41`, `\101`,
   * `\cA`, `\*`…), reading any digits after `char` (already consumed).
   * In a class, digits are always octal and `\b` is backspace.
   */
  escapedChar(char: string, inClass: boolean): number {
    switch (char) {
      case 'a': return 0x07
      case 'e': return 0x1b
      case 'f': return 0x0c
      case 'n': return 0x0a
      case 'r': return 0x0d
      case 't': return 0x09
      case 'b': if (inClass) return 0x08; break
      case 'c': {
        const next = this.src[this.pos]
        if (next === undefined) this.fail('\\c at end of pattern')
        this.pos++
        return next.toUpperCase().charCodeAt(0) ^ 0x40
      }
      case 'x': {
        const braced = /^\{([0-9a-fA-F]+)\}/.exec(this.src.slice(this.pos))
        const plain = /^[0-9a-fA-F]{0,2}/.exec(this.src.slice(this.pos))![0]
        const digits = braced ? braced[1]! : plain
        this.pos += braced ? braced[0].length : plain.length
        return this.byte(digits === '' ? 0 : Number.parseInt(digits, 16), `\\x{${digits}}`)
      }
      case 'o': {
        const braced = /^\{([0-7]+)\}/.exec(this.src.slice(this.pos))
        if (!braced) this.fail('\\o without {octal digits}')
        this.pos += braced[0].length
        return this.byte(Number.parseInt(braced[1]!, 8), `\\o{${braced[1]!}}`)
      }
      default:
    }
    if (char >= '0' && char <= '7') {
      const digits = /^[0-7]{0,2}/.exec(this.src.slice(this.pos))![0]
      this.pos += digits.length
      return this.byte(Number.parseInt(char + digits, 8), `\\${char}${digits}`)
    }
    if (/[A-Za-z0-9]/.test(char)) {
      if (inClass && (char === '8' || char === '9')) return char.charCodeAt(0)
      const named: Record<string, string> = { K: 'match start reset \\K', X: 'extended grapheme \\X', C: 'single code unit \\C', p: 'Unicode property \\p', P: 'Unicode property \\P', u: '\\u', U: '\\U', L: '\\L', l: '\\l' }
      this.fail(named[char] ?? `unknown escape \\${char}`)
    }
    return char.charCodeAt(0)
  }

  /** A char value that must fit in a byte (PCRE refuses larger ones outside UTF mode). */
  byte(value: number, text: string): number {
    if (value > 0xff) this.fail(`code point above 0xFF (${text}) in byte mode`)
    return value
  }

  /**
   * Translates a class after its `[`, up to and including `]`. Single chars,
   * ranges and POSIX classes are collected as ranges so that a caseless class
   * can add its letters' other case; `\d \w \D \W` stay as they are (the
   * same in either case).
   */
  characterClass(caseless: boolean): string {
    let negated = false
    if (this.src[this.pos] === '^') {
      negated = true
      this.pos++
    }
    const ranges: CodeRange[] = []
    let sets = ''
    let first = true
    // The last single char read, as a possible range start.
    let previous: number | undefined
    for (;;) {
      const char = this.src[this.pos]
      if (char === undefined) this.fail('missing ] for the character class')
      if (char === ']' && !first) {
        this.pos++
        break
      }
      first = false
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(this.src.slice(this.pos, this.pos + 12))
      if (posix) {
        const set = POSIX_CLASSES[posix[2]!]
        if (!set) this.fail(`POSIX class [:${posix[2]!}:]`)
        this.pos += posix[0].length
        ranges.push(...(posix[1] ? complement(set) : set))
        previous = undefined
        continue
      }
      let single: number
      const hyphen = char === '-'
      this.pos++
      if (char === '\\') {
        const escaped = this.src[this.pos]
        if (escaped === undefined) this.fail('\\ at end of pattern')
        this.pos++
        const set = this.classEscape(escaped)
        if (set !== undefined) {
          if (typeof set === 'string') sets += set
          else ranges.push(...set)
          previous = undefined
          continue
        }
        if (escaped === 'Q') {
          const end = this.src.indexOf('\\E', this.pos)
          const text = end < 0 ? this.src.slice(this.pos) : this.src.slice(this.pos, end)
          this.pos = end < 0 ? this.src.length : end + 2
          for (const quoted of text) ranges.push([quoted.charCodeAt(0), quoted.charCodeAt(0)])
          previous = text.length > 0 ? text.charCodeAt(text.length - 1) : undefined
          continue
        }
        if (escaped === 'E') continue
        single = this.escapedChar(escaped, true)
      } else {
        single = char.charCodeAt(0)
      }
      // A range: the previous single char, an unescaped `-`, and a single char that is not the closing `]`.
      if (hyphen && previous !== undefined && this.src[this.pos] !== ']' && this.src[this.pos] !== undefined) {
        const end = this.rangeEnd()
        if (end !== undefined) {
          if (end < previous) this.fail('range out of order in character class')
          ranges.push([previous, end])
          previous = undefined
          continue
        }
      }
      ranges.push([single, single])
      previous = single
    }
    const all = caseless ? withOtherCase(ranges) : ranges
    return (negated ? '[^' : '[') + rangesSource(all) + sets + ']'
  }
  /** The end of a range after `-`, or undefined (and nothing consumed) when the next item is a set, which makes `-` literal. */
  rangeEnd(): number | undefined {
    const char = this.src[this.pos]!
    if (char === '[' && /^\[:\^?[a-z]+:\]/.test(this.src.slice(this.pos, this.pos + 12))) return undefined
    if (char !== '\\') {
      this.pos++
      return char.charCodeAt(0)
    }
    const escaped = this.src[this.pos + 1]
    if (escaped === undefined || 'dDwWsShHvV'.includes(escaped)) return undefined
    this.pos += 2
    return this.escapedChar(escaped, true)
  }

  /** The set a set escape stands for inside a class (`\d` as text, `\S` as ranges), or undefined for a single-char escape. */
  classEscape(char: string): string | readonly CodeRange[] | undefined {
    switch (char) {
      case 'd': case 'D': case 'w': case 'W': return '\\' + char
      case 's': return SPACE
      case 'S': return complement(SPACE)
      case 'h': return HORIZONTAL_SPACE
      case 'H': return complement(HORIZONTAL_SPACE)
      case 'v': return VERTICAL_SPACE
      case 'V': return complement(VERTICAL_SPACE)
      default:
    }
    if ('BRXANzZGK'.includes(char)) this.fail(`\\${char} inside a character class`)
    return undefined
  }
}

/** Whether a char code is an ASCII letter, the only chars PCRE folds in the C locale. */
function isAsciiLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)
}

/** `ranges` plus the other case of every ASCII letter in them. */
function withOtherCase(ranges: readonly CodeRange[]): CodeRange[] {
  const out = [...ranges]
  for (const [from, to] of ranges) {
    for (const [low, high, shift] of [[0x41, 0x5a, 0x20], [0x61, 0x7a, -0x20]] as const) {
      const a = Math.max(from, low)
      const b = Math.min(to, high)
      if (a <= b) out.push([a + shift, b + shift])
    }
  }
  return out
}

/**
 * Finds the capture groups of the emitted JavaScript source in order, tells
 * PCRE's from the helpers, and resolves numbered back-reference placeholders
 * to JavaScript group numbers.
 */
function mapGroups(source: string): { groups: number[]; resolved: string } {
  const groups = [0]
  let index = 0
  for (let i = 0; i < source.length; i++) {
    const char = source[i]
    if (char === '\\') {
      i++
      continue
    }
    if (char === '[') {
      // Skip the class; a `]` escaped inside it does not end it.
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++
      continue
    }
    if (char !== '(') continue
    if (source[i + 1] !== '?') {
      groups.push(++index)
      continue
    }
    if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
      index++
      if (!source.startsWith(HELPER, i + 3)) groups.push(index)
    }
  }
  const resolved = source.replace(/\x01(\d+)\x02/g, (_, number: string) => {
    const target = groups[Number(number)]
    // A reference to a group that does not exist never matches in PCRE.
    return target === undefined ? '(?!)' : `(?:\\${target})`
  })
  return { groups, resolved }
}

