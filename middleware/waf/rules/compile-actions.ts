/**
 * Reading a rule's actions at compile time: `setvar` and `ctl` into their
 * compiled forms, `phase`, `severity`, the disruptive actions and
 * `SecDefaultAction`'s per-phase defaults; and the one way the compiler
 * turns a parse error into a `SecLangSyntaxError` with a location.
 *
 * Portable: no `node:` import.
 */
import type { Template } from '../engine/macros.ts'
import type { UnsupportedItem, UnsupportedKind } from './report.ts'
import type { CompiledCtl, CompiledExclusion, CompiledSetVar, Disruptive } from './rule.ts'
import { parseActions, parseVariables, SecLangSyntaxError, type Directive, type ParsedVariable } from './seclang.ts'
import { parseIdRanges } from './id-ranges.ts'

/** Records an unsupported item (or, in the user's own rules, throws). */
export type ProblemSink = (kind: UnsupportedKind, name: string, effect: UnsupportedItem['effect'], ruleId: number, detail?: string) => void

/** What reading `setvar` and `ctl` needs from the compiler: its problem report, macro texts and target selections. */
export interface ActionContext {
  readonly problem: ProblemSink
  /** Compiles a macro text, reporting the collections it names that do not exist. */
  template(text: string, ruleId: number): Template
  /** A target selection (`ARGS:q`, `REQUEST_COOKIES:/^x/`), undefined when its regex does not translate. */
  selection(variable: Pick<ParsedVariable, 'collection' | 'selector' | 'selectorIsRegex'>, ruleId: number): CompiledExclusion | undefined
}

/** Severity names by number, as `severity:2` may write them. */
const SEVERITIES = ['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG']

/** Actions accepted with no effect at handshake time (logging and metadata the log line does not carry). */
export const IGNORED_ACTIONS = new Set(['log', 'auditlog', 'noauditlog', 'ver', 'rev', 'maturity', 'accuracy', 'status'])

/** Phase per `SecDefaultAction`: what `block` means and which transformations every rule starts with. */
export interface PhaseDefaults {
  disruptive: Disruptive
  transformations: string[]
  log: boolean
}

/** The defaults of a phase without a `SecDefaultAction`. */
export const FALLBACK_DEFAULTS: PhaseDefaults = { disruptive: 'pass', transformations: [], log: true }

/** `SecDefaultAction`: the phase it sets and that phase's defaults. */
export function parseDefaultAction(directive: Extract<Directive, { kind: 'defaultAction' }>): { phase: number; defaults: PhaseDefaults } {
  const actions = parseWith(() => parseActions(directive.actions), directive)
  const defaults: PhaseDefaults = { disruptive: 'pass', transformations: [], log: true }
  let phase = 2
  for (const { name, value } of actions) {
    const lower = name.toLowerCase()
    if (lower === 'phase') phase = parsePhase(value, directive)
    else if (lower === 't') defaults.transformations = value?.toLowerCase() === 'none' ? [] : [...defaults.transformations, value ?? '']
    else if (lower === 'nolog') defaults.log = false
    else if (lower === 'log') defaults.log = true
    else if (isDisruptive(lower)) defaults.disruptive = toDisruptive(lower, value)
  }
  return { phase, defaults }
}

/** `tx.a=1`, `tx.a=+%{tx.b}`, `tx.a=-1`, `!tx.a`, `tx.a`; other collections are reported and ignored. */
export function parseSetvar(text: string, ruleId: number, context: ActionContext): CompiledSetVar | undefined {
  let body = text.trim()
  const remove = body.startsWith('!')
  if (remove) body = body.slice(1)
  const dot = body.indexOf('.')
  const collection = dot < 0 ? '' : body.slice(0, dot).toLowerCase()
  if (collection !== 'tx') {
    context.problem('action', `setvar:${collection || body}`, 'ignored', ruleId)
    return undefined
  }
  const rest = body.slice(dot + 1)
  const equals = rest.indexOf('=')
  const name = context.template(equals < 0 ? rest : rest.slice(0, equals), ruleId)
  if (remove) return { op: 'delete', name, value: '' }
  if (equals < 0) return { op: 'set', name, value: '1' }
  let value = rest.slice(equals + 1)
  let op: CompiledSetVar['op'] = 'set'
  if (value.startsWith('+')) {
    op = 'add'
    value = value.slice(1)
  } else if (value.startsWith('-')) {
    op = 'sub'
    value = value.slice(1)
  }
  return { op, name, value: context.template(value, ruleId) }
}

/** `ctl:ruleRemoveById=…`, `ruleRemoveByTag`, `ruleRemoveTargetById=<ids>;<target>`, `ruleRemoveTargetByTag`, `ruleEngine`; others are reported and ignored. */
export function parseCtl(text: string, ruleId: number, context: ActionContext): CompiledCtl | undefined {
  const equals = text.indexOf('=')
  const name = (equals < 0 ? text : text.slice(0, equals)).trim()
  const value = equals < 0 ? '' : text.slice(equals + 1).trim()
  switch (name.toLowerCase()) {
    case 'ruleremovebyid':
      return { kind: 'removeById', ranges: value.split(/[\s,]+/).flatMap(parseIdRanges) }
    case 'ruleremovebytag':
      return { kind: 'removeByTag', tag: value.toLowerCase() }
    case 'ruleremovetargetbyid':
    case 'ruleremovetargetbytag': {
      const semicolon = value.indexOf(';')
      const selector = semicolon < 0 ? value : value.slice(0, semicolon)
      const target = semicolon < 0 ? '' : value.slice(semicolon + 1)
      let parsed: ParsedVariable | undefined
      try {
        parsed = parseVariables(target)[0]
      } catch {
        parsed = undefined
      }
      const exclusion = parsed && context.selection(parsed, ruleId)
      if (!exclusion) {
        context.problem('action', `ctl:${name}`, 'ignored', ruleId, `cannot read target "${target}"`)
        return undefined
      }
      return name.toLowerCase() === 'ruleremovetargetbyid'
        ? { kind: 'removeTargetById', ranges: parseIdRanges(selector), exclusion }
        : { kind: 'removeTargetByTag', tag: selector.toLowerCase(), exclusion }
    }
    case 'ruleengine': {
      const mode = value.toLowerCase()
      if (mode === 'on' || mode === 'off' || mode === 'detectiononly') return { kind: 'ruleEngine', mode }
      context.problem('action', `ctl:ruleEngine=${value}`, 'ignored', ruleId)
      return undefined
    }
    default:
      context.problem('action', `ctl:${name}`, 'ignored', ruleId)
      return undefined
  }
}

/** Runs a parser, turning what it throws into a `SecLangSyntaxError` at `location`. */
export function parseWith<T>(parse: () => T, location: { file: string; line: number }): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof SecLangSyntaxError) throw error
    throw new SecLangSyntaxError(error instanceof Error ? error.message : String(error), location)
  }
}

/** `phase:1`–`5`, `request`, `response`, `logging`; throws a `SecLangSyntaxError` on anything else. */
export function parsePhase(value: string | undefined, location: { file: string; line: number }): number {
  const text = (value ?? '').trim().toLowerCase()
  const phase = text === 'request' ? 2 : text === 'response' ? 4 : text === 'logging' ? 5 : Number(text)
  if (!Number.isInteger(phase) || phase < 1 || phase > 5) throw new SecLangSyntaxError(`phase must be 1-5, request, response or logging; got "${value}"`, location)
  return phase
}

/** A severity by name or number, upper-cased. */
export function parseSeverity(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (Number.isInteger(number) && number >= 0 && number < SEVERITIES.length) return SEVERITIES[number]
  return value.toUpperCase()
}

/** Whether a (lower-cased) action name is a disruptive action. */
export function isDisruptive(name: string): boolean {
  return name === 'pass' || name === 'block' || name === 'deny' || name === 'drop' || name === 'allow'
}

/** A disruptive action as the engine knows it (`block` is resolved by the caller: it means the phase default). */
export function toDisruptive(name: string, value: string | undefined): Disruptive {
  if (name === 'allow') return value?.toLowerCase() === 'phase' ? 'allowPhase' : 'allow'
  if (name === 'pass' || name === 'block') return 'pass'
  if (name === 'drop') return 'drop'
  return 'deny'
}
