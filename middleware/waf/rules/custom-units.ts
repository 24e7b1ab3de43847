/**
 * `waf({ rules })` as rule units for the compiler: SecLang text, rule
 * objects and functions, each named after its place in the option.
 */
import { functionRule, type RuleUnit, type WafRuleObject } from './compile.ts'
import type { CustomRuleFunction } from './rule.ts'

/** A custom rule: SecLang text (`SecRule …`, one or more directives), a rule object, or a function. */
export type WafCustomRule = string | WafRuleObject | CustomRuleFunction

/** Turns `waf({ rules })` into rule units in the order given. */
export function customUnits(rules: readonly WafCustomRule[] | undefined): RuleUnit[] {
  if (rules === undefined) return []
  if (!Array.isArray(rules)) throw new TypeError('waf(): rules must be an array of SecRule strings, rule objects or functions')
  return rules.map((rule, index): RuleUnit => {
    const file = `waf({ rules })[${index}]`
    if (typeof rule === 'string') return { file, text: rule, custom: true }
    if (typeof rule === 'function') return { file, compiled: [functionRule(rule, file)] }
    if (typeof rule === 'object' && rule !== null) return { file, rule }
    throw new TypeError(`waf(): rules[${index}] must be a SecRule string, a rule object or a function, got ${typeof rule}`)
  })
}
