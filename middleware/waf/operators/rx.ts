/**
 * `@rx`: a PCRE regular expression, translated once by `translateRegex` with
 * ModSecurity's compile options (dot-all, dollar-end-only). The match and up
 * to nine groups are the captures (`capture` action: TX.0–TX.9).
 */
import type { Operator, OperatorContext } from '../types.ts'
import { MODSECURITY_RX, matchStart, translateRegex, type TranslatedRegex } from '../regex/regex.ts'
import { prefilterFactors } from '../prefilter/regex-factors.ts'

/** Expanded patterns kept per rule when the parameter holds a macro; older ones are dropped first. */
const EXPANDED_CACHE_SIZE = 32

/** `^.*$` as the translator writes it with ModSecurity's dot-all option. */
const WHOLE_VALUE = '^[\\s\\S]*$'

/** PCRE numbers captures 0–9 for the `capture` action; ModSecurity keeps no more. */
const MAX_CAPTURES = 10

/** Runs a translated pattern; captures are re-numbered as PCRE numbers them, an unset group is ''. */
function execute(translated: TranslatedRegex, input: string): string[] | null {
  const { regex, groups } = translated
  const match = regex.exec(input)
  if (match === null) return null
  const count = Math.min(groups.length, MAX_CAPTURES)
  const captures: string[] = new Array<string>(count)
  for (let i = 0; i < count; i++) captures[i] = match[groups[i]!] ?? ''
  // A leading lazy loop taken out of the pattern: the whole match starts where PCRE's would.
  if (translated.leading !== undefined) captures[0] = input.slice(matchStart(translated, input, match.index), match.index + match[0].length)
  return captures
}

/**
 * `@rx pattern`. Throws a `TypeError` naming the construct when the pattern
 * cannot be translated. With a macro (`%{tx.allowed_request_content_type_charset}`,
 * CRS rule 920480) the pattern is expanded and translated at evaluation and
 * the last few kept; an expansion that does not translate never matches, as
 * ModSecurity logs it and goes on. Without a macro the operator carries the
 * pattern's literal factors, for the engine's prefilter.
 *
 * @example
 * rx('^(?i)get|head$', {})('GET', (t) => t) // ['GET']
 */
export function rx(param: string, _context: OperatorContext): Operator {
  if (!param.includes('%{')) {
    const translated = translateRegex(param, MODSECURITY_RX)
    if ('error' in translated) throw new TypeError(`@rx: ${translated.error} in ${JSON.stringify(param.length > 120 ? param.slice(0, 120) + '…' : param)}`)
    // `^.*$` under dot-all (CRS 901318 and 920450 read whole values this way) matches every value, whole.
    if (translated.regex.source === WHOLE_VALUE) return (input) => [input]
    const rxMatch = (input: string): string[] | null => execute(translated, input)
    // The engine skips the regex on values holding none of these (see regex-factors.ts).
    const factors = prefilterFactors(translated.regex.source)
    return factors === undefined ? rxMatch : Object.assign(rxMatch, { factors })
  }
  const cache = new Map<string, TranslatedRegex | undefined>()
  return function rxExpanded(input, expand) {
    const pattern = expand(param)
    let translated = cache.get(pattern)
    if (translated === undefined && !cache.has(pattern)) {
      const result = translateRegex(pattern, MODSECURITY_RX)
      translated = 'error' in result ? undefined : result
      if (cache.size >= EXPANDED_CACHE_SIZE) cache.delete(cache.keys().next().value!)
      cache.set(pattern, translated)
    }
    return translated === undefined ? null : execute(translated, input)
  }
}
