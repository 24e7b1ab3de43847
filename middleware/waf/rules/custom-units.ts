/**
 * `waf({ rules })` as rule units for the compiler: SecLang text, rule
 * objects and functions, each named after its place in the option; what a
 * rule object and a function rule are to the compiler.
 */
import type { RuleUnit } from './compile.ts'
import { newRule, type CompiledRule, type CustomRuleFunction } from './rule.ts'
import type { ParsedAction } from './seclang.ts'

/**
 * A custom rule written as an object: compiled by the same engine as a
 * `SecRule`, with `deny` as its action.
 *
 * @example
 * { id: 10001, variables: ['REQUEST_HEADERS:User-Agent'], operator: '@contains evilbot', transformations: ['lowercase'], message: 'evilbot' }
 */
export interface WafRuleObject {
  /** A unique positive id, logged with every match. */
  id: number
  /** 1 (headers) or 2. @default 2 */
  phase?: 1 | 2
  /** Targets in SecLang syntax: `ARGS`, `REQUEST_HEADERS:User-Agent`, `!ARGS:password`, `&ARGS`, `REQUEST_COOKIES:/^sess/`. */
  variables: string | readonly string[]
  /** An operator in SecLang syntax: `@rx ^evil`, `!@within GET HEAD`, `@pm a b c`. */
  operator: string
  /** Transformation names applied in order (`lowercase`, `urlDecodeUni`, …). @default none */
  transformations?: readonly string[]
  /** Logged with the match. */
  message: string
  /** `CRITICAL`, `WARNING`, … @default 'CRITICAL' */
  severity?: string
  /** `deny` refuses the handshake; `pass` only records the match in the verdict and the log line. @default 'deny' */
  action?: 'deny' | 'pass'
}

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

/**
 * A rule object as the SecLang the compiler reads: its variable list and
 * its actions (`id`, `phase`, the action, `t:none` then its
 * transformations, `msg`, `severity`). Throws a `TypeError` naming what is
 * wrong with it.
 */
export function ruleObjectSecLang(rule: WafRuleObject): { variables: string; actions: ParsedAction[] } {
  const label = `waf(): rule ${JSON.stringify(rule?.id)}`
  if (typeof rule !== 'object' || rule === null || !Number.isSafeInteger(rule.id) || rule.id <= 0) {
    throw new TypeError(`waf(): a rule object needs a positive integer id, got ${JSON.stringify(rule?.id)}`)
  }
  const variables = typeof rule.variables === 'string' ? rule.variables : Array.isArray(rule.variables) ? rule.variables.join('|') : ''
  if (!variables) throw new TypeError(`${label}: variables must be a SecLang variable list such as 'ARGS|REQUEST_HEADERS:User-Agent'`)
  if (typeof rule.operator !== 'string' || !rule.operator) throw new TypeError(`${label}: operator must be a string such as '@rx ^evil'`)
  if (typeof rule.message !== 'string') throw new TypeError(`${label}: message must be a string`)
  if (rule.phase !== undefined && rule.phase !== 1 && rule.phase !== 2) throw new TypeError(`${label}: phase must be 1 or 2`)
  if (rule.action !== undefined && rule.action !== 'deny' && rule.action !== 'pass') throw new TypeError(`${label}: action must be 'deny' or 'pass'`)
  const actions: ParsedAction[] = [
    { name: 'id', value: String(rule.id) },
    { name: 'phase', value: String(rule.phase ?? 2) },
    { name: rule.action ?? 'deny', value: undefined },
    { name: 't', value: 'none' },
    ...(rule.transformations ?? []).map((name) => ({ name: 't', value: name })),
    { name: 'msg', value: rule.message },
    { name: 'severity', value: rule.severity ?? 'CRITICAL' },
  ]
  return { variables, actions }
}

/** A rule written as a function, as a compiled rule: phase 2, denies when the function returns a match. */
export function functionRule(fn: CustomRuleFunction, file: string): CompiledRule {
  return newRule({ id: 0, phase: 2, disruptive: 'deny', log: true, file, line: 1, custom: fn })
}
