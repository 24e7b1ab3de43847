/**
 * The numeric comparison operators `@eq @ne @gt @ge @lt @le`. Both sides are
 * read as C's `atoi()` reads them, which is how ModSecurity v2 reads them:
 * leading whitespace, an optional sign, then decimal digits up to the first
 * other char; no digits is 0 (`"abc"` is 0, `"12px"` is 12). Past the 32-bit
 * range we keep the number's value, where C would overflow (ModSecurity v2)
 * or give 0 (libmodsecurity's `std::stoi`). The parameter may hold a macro
 * (`@gt %{tx.arg_length}`), expanded at each evaluation.
 */
import type { Operator, OperatorContext } from '../types.ts'

/**
 * The integer at the start of `text`, as `atoi()` finds it.
 *
 * @example
 * toInteger('  -12px') // -12
 */
export function toInteger(text: string): number {
  let i = 0
  while (i < text.length && (text.charCodeAt(i) === 0x20 || (text.charCodeAt(i) >= 0x09 && text.charCodeAt(i) <= 0x0d))) i++
  let sign = 1
  if (text[i] === '+' || text[i] === '-') {
    if (text[i] === '-') sign = -1
    i++
  }
  let value = 0
  for (; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30
    if (digit < 0 || digit > 9) break
    value = value * 10 + digit
  }
  return sign * value
}

/** Builds a comparison operator; the value is capture 0 when it matches. */
function comparison(param: string, test: (left: number, right: number) => boolean): Operator {
  if (!param.includes('%{')) {
    const right = toInteger(param)
    return (input) => (test(toInteger(input), right) ? [input] : null)
  }
  return (input, expand) => (test(toInteger(input), toInteger(expand(param))) ? [input] : null)
}

/**
 * `@eq n`: the value equals n.
 *
 * @example
 * eq('0', {})('0', (t) => t) // ['0']
 */
export function eq(param: string, _context: OperatorContext): Operator {
  return comparison(param, (left, right) => left === right)
}

/**
 * `@ne n`: the value differs from n.
 *
 * @example
 * ne('0', {})('1', (t) => t) // ['1']
 */
export function ne(param: string, _context: OperatorContext): Operator {
  return comparison(param, (left, right) => left !== right)
}

/**
 * `@gt n`: the value is greater than n.
 *
 * @example
 * gt('255', {})('300', (t) => t) // ['300']
 */
export function gt(param: string, _context: OperatorContext): Operator {
  return comparison(param, (left, right) => left > right)
}

/**
 * `@ge n`: the value is at least n.
 *
 * @example
 * ge('5', {})('5', (t) => t) // ['5']
 */
export function ge(param: string, _context: OperatorContext): Operator {
  return comparison(param, (left, right) => left >= right)
}

/**
 * `@lt n`: the value is less than n.
 *
 * @example
 * lt('2', {})('1', (t) => t) // ['1']
 */
export function lt(param: string, _context: OperatorContext): Operator {
  return comparison(param, (left, right) => left < right)
}

/**
 * `@le n`: the value is at most n.
 *
 * @example
 * le('2', {})('2', (t) => t) // ['2']
 */
export function le(param: string, _context: OperatorContext): Operator {
  return comparison(param, (left, right) => left <= right)
}
