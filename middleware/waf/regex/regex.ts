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
 *
 * The translator is `regex-translator.ts` (options, alternatives, atoms,
 * quantifiers), with `regex-groups.ts`, `regex-escapes.ts` and
 * `regex-char-class.ts`; the byte-mode sets are in `regex-classes.ts`.
 *
 * Portable: no `node:` import.
 */
import { toByteString } from '../bytes.ts'
import { linearRewrite, moveStartBack } from './regex-linear.ts'
import { mapGroups } from './regex-groups.ts'
import { Translator, Untranslatable } from './regex-translator.ts'

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
