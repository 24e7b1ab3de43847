/**
 * `@detectSQLi` and `@detectXSS`: wsgate's own injection detectors
 * (`../detect/`), in the places the CRS calls libinjection (942100, 942101,
 * 941100, 941101). They take no parameter. `@detectSQLi` captures the
 * fingerprint that matched as TX.0, as ModSecurity does (942100 logs it);
 * `@detectXSS` captures the value.
 */
import type { Operator, OperatorContext } from '../types.ts'
import { detectSqli as sqli } from '../detect/sqli.ts'
import { detectXss as xss } from '../detect/xss.ts'

function noParam(name: string, param: string): void {
  if (param.trim() !== '') throw new TypeError(`@${name} takes no parameter, got ${JSON.stringify(param)}`)
}

/**
 * `@detectSQLi`: the value reads as SQL injection in some quoting context.
 *
 * @example
 * detectSqli('', {})("1' OR '1'='1", (t) => t) // ['s&s=s']
 */
export function detectSqli(param: string, _context: OperatorContext): Operator {
  noParam('detectSQLi', param)
  return (input) => {
    const fingerprint = sqli(input)
    return fingerprint === null ? null : [fingerprint]
  }
}

/**
 * `@detectXSS`: the value would run script in some HTML context it could be pasted into.
 *
 * @example
 * detectXss('', {})('<img src=x onerror=alert(1)>', (t) => t) // ['<img src=x onerror=alert(1)>']
 */
export function detectXss(param: string, _context: OperatorContext): Operator {
  noParam('detectXSS', param)
  return (input) => (xss(input) ? [input] : null)
}
