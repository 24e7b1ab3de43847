/**
 * The string comparison operators: `@streq`, `@contains`, `@containsWord`,
 * `@beginsWith`, `@endsWith`, `@within` and `@strmatch`. All compare bytes,
 * case-sensitively, as ModSecurity does (rules lower-case with
 * `t:lowercase` when they mean otherwise). A parameter with a macro is
 * expanded at each evaluation; one without is used as it is. Capture 0 is
 * the text that matched.
 */
import type { Operator, OperatorContext } from '../types.ts'
import { isAlnum, toByteString } from '../bytes.ts'

/** A compare function between the value and the (expanded) parameter. */
type Compare = (input: string, param: string) => string[] | null

/** Builds an operator that expands `param` only when it holds a macro. */
function withParam(param: string, compare: Compare): Operator {
  const fixed = toByteString(param)
  if (!fixed.includes('%{')) return (input) => compare(input, fixed)
  return (input, expand) => compare(input, expand(fixed))
}

/**
 * `@streq text`: the value equals the parameter.
 *
 * @example
 * streq('POST', {})('POST', (t) => t) // ['POST']
 */
export function streq(param: string, _context: OperatorContext): Operator {
  return withParam(param, (input, text) => (input === text ? [input] : null))
}

/**
 * `@contains text`: the value contains the parameter (an empty parameter always matches).
 *
 * @example
 * contains('..', {})('/a/../b', (t) => t) // ['..']
 */
export function contains(param: string, _context: OperatorContext): Operator {
  return withParam(param, (input, text) => (input.includes(text) ? [text] : null))
}

/** Whether the byte at `index` is a word char for `@containsWord`: a letter, a digit or `_`. */
function isWordChar(input: string, index: number): boolean {
  const code = input.charCodeAt(index)
  return isAlnum(code) || code === 0x5f
}

/**
 * `@containsWord text`: the value contains the parameter with a non-word
 * char (or an end of the value) on both sides; an empty parameter always
 * matches.
 *
 * @example
 * containsWord('select', {})('x=1 select y', (t) => t) // ['select']
 */
export function containsWord(param: string, _context: OperatorContext): Operator {
  return withParam(param, (input, text) => {
    if (text === '') return ['']
    for (let at = input.indexOf(text); at >= 0; at = input.indexOf(text, at + 1)) {
      const end = at + text.length
      if ((at === 0 || !isWordChar(input, at - 1)) && (end === input.length || !isWordChar(input, end))) return [text]
    }
    return null
  })
}

/**
 * `@beginsWith text`: the value starts with the parameter.
 *
 * @example
 * beginsWith('/admin', {})('/admin/users', (t) => t) // ['/admin']
 */
export function beginsWith(param: string, _context: OperatorContext): Operator {
  return withParam(param, (input, text) => (input.startsWith(text) ? [text] : null))
}

/**
 * `@endsWith text`: the value ends with the parameter.
 *
 * @example
 * endsWith('.php', {})('/index.php', (t) => t) // ['.php']
 */
export function endsWith(param: string, _context: OperatorContext): Operator {
  return withParam(param, (input, text) => (input.endsWith(text) ? [text] : null))
}

/**
 * `@within text`: the value occurs inside the parameter (`GET` within
 * `GET HEAD POST`); as in ModSecurity it is a substring test, and an empty
 * value always matches.
 *
 * @example
 * within('GET HEAD POST', {})('HEAD', (t) => t) // ['HEAD']
 */
export function within(param: string, _context: OperatorContext): Operator {
  return withParam(param, (input, text) => (text.includes(input) ? [input] : null))
}

/**
 * `@strmatch text`: the value contains the parameter, taken literally (no
 * macro expansion; ModSecurity searches it with Boyer–Moore–Horspool).
 *
 * @example
 * strmatch('WebZIP', {})('Mozilla WebZIP/3.5', (t) => t) // ['WebZIP']
 */
export function strmatch(param: string, _context: OperatorContext): Operator {
  const text = toByteString(param)
  return (input) => (input.includes(text) ? [text] : null)
}
