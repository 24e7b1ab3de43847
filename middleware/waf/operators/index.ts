/**
 * The operator table: every SecLang operator the WAF supports, keyed by its
 * lower-cased name without `@` (`@pmFromFile` is `OPERATORS.pmfromfile`).
 * A factory compiles the parameter once and throws a `TypeError` when it
 * cannot; the operator it returns compares byte strings (see `bytes.ts`)
 * and returns the captures when it matches, `null` otherwise.
 *
 * `@detectSQLi` and `@detectXSS` (CRS 942100 / 942101 and 941100 / 941101,
 * where ModSecurity calls libinjection) are wsgate's own tokenizer-based
 * detectors (`detect/`), not a port of libinjection.
 *
 * Deliberately absent, so that the engine reports the rules using them as
 * unsupported rather than letting them silently pass:
 * - `@rbl` (DNS lookups; CRS 910 rules that only run when configured),
 *   `@geoLookup` (needs a GeoIP database), `@inspectFile`, `@fuzzyHash`,
 *   `@verifyCC`, `@verifySSN`, `@verifyCPF`, `@gsbLookup`, `@validateDTD`,
 *   `@validateSchema`, `@validateHash`, `@rsub`: not used by the CRS in
 *   request phases, or need what a handshake does not have.
 */
import type { OperatorFactory } from '../types.ts'
import { detectSqli, detectXss } from './detect.ts'
import { ipMatch, ipMatchFromFile } from './ip.ts'
import { eq, ge, gt, le, lt, ne } from './numeric.ts'
import { pm, pmFromFile } from './pm.ts'
import { rx } from './rx.ts'
import { beginsWith, contains, containsWord, endsWith, streq, strmatch, within } from './strings.ts'
import { noMatch, unconditionalMatch, validateByteRange, validateUrlEncoding, validateUtf8Encoding } from './validate.ts'

/**
 * Every supported operator, keyed by lower-cased name without `@`.
 *
 * @example
 * const operator = OPERATORS.rx!('(?i)union\\s+select', {})
 * operator('1 UNION  SELECT 2', (text) => text) // ['UNION  SELECT']
 */
export const OPERATORS: Readonly<Record<string, OperatorFactory>> = Object.freeze(Object.assign(Object.create(null) as Record<string, OperatorFactory>, {
  rx,
  pm,
  pmfromfile: pmFromFile,
  pmf: pmFromFile,
  streq,
  contains,
  containsword: containsWord,
  beginswith: beginsWith,
  endswith: endsWith,
  within,
  strmatch,
  eq,
  ne,
  gt,
  ge,
  lt,
  le,
  ipmatch: ipMatch,
  ipmatchfromfile: ipMatchFromFile,
  ipmatchf: ipMatchFromFile,
  validatebyterange: validateByteRange,
  validateurlencoding: validateUrlEncoding,
  validateutf8encoding: validateUtf8Encoding,
  unconditionalmatch: unconditionalMatch,
  nomatch: noMatch,
  detectsqli: detectSqli,
  detectxss: detectXss,
}))
