/**
 * Compiles parsed SecLang into a {@link RuleSet}: once, at start-up. Rules
 * that cannot apply to a handshake (phases 3–5, response files, body-only)
 * are counted and set aside; everything the engine does not support is
 * recorded in the report by name, with what became of the rule.
 *
 * Portable: no `node:` import.
 */
import { literalIndex, literalMask, representative } from '../prefilter/literal-index.ts'
import { cachedTemplate, compileTemplate, templateRefs, type Template } from '../engine/macros.ts'
import { planTargetUnions } from '../prefilter/target-unions.ts'
import { ReportBuilder, type NotApplicable, type RuleCounts, type UnsupportedItem, type UnsupportedKind } from './report.ts'
import type {
  CompiledCtl,
  CompiledExclusion,
  CompiledLink,
  CompiledRule,
  CompiledSetVar,
  CompiledTarget,
  CustomRuleFunction,
  Disruptive,
  RuleSet,
} from './rule.ts'
import { parseActions, parseOperator, parseSecLang, parseVariables, SecLangSyntaxError, type Directive, type ParsedAction, type ParsedVariable } from './seclang.ts'
import { transformationHazards } from '../prefilter/plain-texts.ts'
import type { HandshakeFacts, OperatorFactory, RequestCollections, Transformation } from '../types.ts'

/** The building blocks the compiler looks names up in (`transformations.ts`, `operators.ts`, `regex.ts`, `collections.ts`). */
export interface Primitives {
  /** Operator factories by lower-cased name without `@`. */
  operators: Readonly<Record<string, OperatorFactory>>
  /** Transformations by lower-cased name. */
  transformations: Readonly<Record<string, Transformation>>
  /** Translates a PCRE pattern into a JavaScript RegExp, or says why it cannot (`caseless` as PCRE_CASELESS). */
  translateRegex: (pcre: string, options?: { caseless?: boolean }) => { regex: RegExp } | { error: string }
  /** Builds the request collections of a handshake. */
  buildCollections: (facts: HandshakeFacts) => RequestCollections
  /** Upper-cased names of the collections `buildCollections` provides. */
  variables: ReadonlySet<string>
}

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

/**
 * A target exclusion with a grammar, by rule id (the handshake profile's,
 * `profile.ts`): like `SecRuleUpdateTargetById <rules> "!<collection>:<key>"`,
 * it applies to the rules loaded before it, but an item is excluded only
 * when its value matches `grammar`. SecLang has no syntax for it.
 */
export interface GrammarExclusion {
  /** Ids of the rules it applies to, inclusive ranges. */
  rules: readonly (readonly [from: number, to: number])[]
  /** Upper-cased collection: `ARGS`, `REQUEST_HEADERS`. */
  collection: string
  /** Lower-cased key. */
  key: string
  grammar: RegExp
}

/** A piece of a rule set, in load order: a rules file, a rule object, rules already compiled (functions), or grammar exclusions. */
export type RuleUnit =
  | { file: string; text: string; custom?: boolean; readDataFile?: (name: string) => string }
  | { file: string; rule: WafRuleObject }
  | { file: string; compiled: CompiledRule[] }
  | { file: string; exclusions: readonly GrammarExclusion[] }

/** What compiling produced, for the load report. */
export interface CompileSummary extends RuleCounts {
  /** `SecComponentSignature` of the rule set, if it has one. */
  version: string | undefined
}

/** Variables the engine itself keeps, whatever the request. */
export const ENGINE_VARIABLES: ReadonlySet<string> = new Set([
  'TX',
  'MATCHED_VAR',
  'MATCHED_VAR_NAME',
  'MATCHED_VARS',
  'MATCHED_VARS_NAMES',
  'UNIQUE_ID',
  'DURATION',
])

/** Macro-only names the engine resolves (`%{rule.id}`). */
const MACRO_ONLY = new Set(['RULE'])

/** Variables only a request body fills: at handshake time they exist and are empty. */
export const BODY_VARIABLES: ReadonlySet<string> = new Set([
  'REQUEST_BODY',
  'REQUEST_BODY_LENGTH',
  'ARGS_POST',
  'ARGS_POST_NAMES',
  'FILES',
  'FILES_NAMES',
  'FILES_SIZES',
  'FILES_TMPNAMES',
  'FILES_TMP_CONTENT',
  'FILES_COMBINED_SIZE',
  'XML',
  'JSON',
  'REQBODY_PROCESSOR',
  'REQBODY_ERROR',
  'REQBODY_ERROR_MSG',
  'REQBODY_PROCESSOR_ERROR',
  'REQBODY_PROCESSOR_ERROR_MSG',
  'INBOUND_DATA_ERROR',
  'FULL_REQUEST',
  'FULL_REQUEST_LENGTH',
  'MULTIPART_BOUNDARY_QUOTED',
  'MULTIPART_BOUNDARY_WHITESPACE',
  'MULTIPART_CRLF_LF_LINES',
  'MULTIPART_DATA_AFTER',
  'MULTIPART_DATA_BEFORE',
  'MULTIPART_FILE_LIMIT_EXCEEDED',
  'MULTIPART_FILENAME',
  'MULTIPART_HEADER_FOLDING',
  'MULTIPART_INVALID_HEADER_FOLDING',
  'MULTIPART_INVALID_PART',
  'MULTIPART_INVALID_QUOTING',
  'MULTIPART_LF_LINE',
  'MULTIPART_MISSING_SEMICOLON',
  'MULTIPART_NAME',
  'MULTIPART_PART_HEADERS',
  'MULTIPART_STRICT_ERROR',
  'MULTIPART_UNMATCHED_BOUNDARY',
  'RESPONSE_BODY',
  'RESPONSE_HEADERS',
  'RESPONSE_HEADERS_NAMES',
  'RESPONSE_STATUS',
  'RESPONSE_PROTOCOL',
  'RESPONSE_CONTENT_TYPE',
  'RESPONSE_CONTENT_LENGTH',
  'OUTBOUND_DATA_ERROR',
  'STATUS_LINE',
])

/** Transformation names ModSecurity accepts in two spellings. */
const TRANSFORMATION_ALIASES: Record<string, string[]> = {
  normalisepath: ['normalizepath'],
  normalizepath: ['normalisepath'],
  normalisepathwin: ['normalizepathwin'],
  normalizepathwin: ['normalisepathwin'],
  base64decode: ['base64decodeext'],
}

/**
 * The longest piece of an operator's factor the prefilter index holds.
 * Four chars keep the CRS's index at a few thousand states, small enough
 * to stay in cache while every byte of every value walks it, and still
 * rare enough in benign values (`<scr`, `n_sc`, `$$nd`) to reject them.
 */
const PREFILTER_LITERAL_LENGTH = 4

/** Transformations that change only the case of ASCII letters. */
const CASE_ONLY: ReadonlySet<string> = new Set(['lowercase', 'uppercase'])

const SEVERITIES = ['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG']

/** Actions accepted with no effect at handshake time (logging and metadata the log line does not carry). */
const IGNORED_ACTIONS = new Set(['log', 'auditlog', 'noauditlog', 'ver', 'rev', 'maturity', 'accuracy', 'status'])

/** Phase per `SecDefaultAction`: what `block` means and which transformations every rule starts with. */
interface PhaseDefaults {
  disruptive: Disruptive
  transformations: string[]
  log: boolean
}

const FALLBACK_DEFAULTS: PhaseDefaults = { disruptive: 'pass', transformations: [], log: true }

/** A rule being assembled from its chain. */
interface PendingRule {
  directives: Extract<Directive, { kind: 'rule' | 'action' }>[]
  actions: ParsedAction[][]
  custom: boolean
  readDataFile: ((name: string) => string) | undefined
}

/** Entries of a phase list before skip targets are resolved. */
type PhaseEntry = CompiledRule | { marker: string }

/**
 * Compiles rule files and prebuilt rules, in order, into a rule set and a
 * summary for the load report. Throws `SecLangSyntaxError` on malformed
 * text and `TypeError` on a rule without an id or with a duplicate id.
 */
export function compileRules(units: RuleUnit[], primitives: Primitives): { ruleSet: RuleSet; summary: CompileSummary } {
  const compiler = new Compiler(primitives)
  for (const unit of units) {
    if ('compiled' in unit) compiler.addCompiled(unit.compiled)
    else if ('exclusions' in unit) compiler.addExclusions(unit.exclusions)
    else if ('rule' in unit) compiler.addObject(unit.rule, unit.file)
    else compiler.addText(unit.text, unit.file, unit.custom ?? false, unit.readDataFile)
  }
  return compiler.finish()
}

class Compiler {
  readonly #primitives: Primitives
  readonly #report = new ReportBuilder()
  readonly #defaults = new Map<number, PhaseDefaults>()
  readonly #phases: [PhaseEntry[], PhaseEntry[]] = [[], []]
  readonly #ids = new Set<number>()
  readonly #notApplicable: NotApplicable = { response: 0, laterPhase: 0, bodyOnly: 0 }
  readonly #prefixIds = new Map<string, number>()
  /** Every transformation function the rules use, with its id. */
  readonly #transformIds = new Map<Transformation, number>()
  /** Prefilter literals of every operator, by text: their ids in the rule set's literal index. */
  readonly #literalIds = new Map<string, number>()
  #pending: PendingRule | undefined
  #version: string | undefined
  #loaded = 0
  #custom = 0
  #disabled = 0
  #markers = 0
  #detectionOnly = false
  #engineOff = false
  /** Whether the text or rule being compiled is the user's own (`waf({ rules })`). */
  #inCustom = false

  constructor(primitives: Primitives) {
    this.#primitives = primitives
  }

  addText(text: string, file: string, custom: boolean, readDataFile: ((name: string) => string) | undefined): void {
    this.#inCustom = custom
    for (const directive of parseSecLang(text, file)) this.#directive(directive, custom, readDataFile)
    if (this.#pending) {
      const last = this.#pending.directives.at(-1)!
      throw new SecLangSyntaxError('the last rule of the file ends with `chain` but no rule follows', last)
    }
  }

  addObject(rule: WafRuleObject, file: string): void {
    this.#inCustom = true
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
    const directive = { kind: 'rule' as const, variables, operator: rule.operator, actions: '', file, line: 1 }
    this.#rule({ directives: [directive], actions: [actions], custom: true, readDataFile: undefined })
  }

  addCompiled(rules: CompiledRule[]): void {
    for (const rule of rules) {
      this.#claimId(rule.id, rule)
      this.#phases[rule.phase - 1]!.push(rule)
      this.#loaded++
      this.#custom++
    }
  }

  /**
   * Adds grammar exclusions to the rules loaded so far (not the user's
   * own), on every link with a target that can select the excluded name:
   * a link reading only other keys keeps its exclusion list, so its
   * targets keep sharing their selections and prefilter unions with the
   * rest of the rule set.
   */
  addExclusions(exclusions: readonly GrammarExclusion[]): void {
    for (const entries of this.#phases) {
      for (const entry of entries) {
        if ('marker' in entry || entry.custom) continue
        for (const exclusion of exclusions) {
          if (!inRanges(entry.id, exclusion.rules as [number, number][])) continue
          for (const link of entry.links) {
            const selects = (target: CompiledTarget): boolean =>
              target.collection === exclusion.collection && !target.count && (target.keyPattern ? target.keyPattern.test(exclusion.key) : target.key === undefined || target.key === exclusion.key)
            if (!link.targets.some(selects)) continue
            link.exclusions.push({ collection: exclusion.collection, key: exclusion.key, keyPattern: undefined, grammar: exclusion.grammar })
          }
        }
      }
    }
  }

  finish(): { ruleSet: RuleSet; summary: CompileSummary } {
    const shared = new Map<string, CompiledExclusion[]>()
    const targetIds = new Map<string, number>()
    const phases = this.#phases.map((entries) => resolveSkips(entries, shared, targetIds)) as [CompiledRule[], CompiledRule[]]
    const unionWords = planTargetUnions(phases, this.#prefixIds.size)
    return {
      ruleSet: {
        phases,
        detectionOnly: this.#detectionOnly,
        engineOff: this.#engineOff,
        prefixCount: this.#prefixIds.size,
        transformCount: this.#transformIds.size,
        targetCount: targetIds.size,
        unionWords,
        literals: this.#literalIds.size ? literalIndex([...this.#literalIds.keys()]) : undefined,
      },
      summary: {
        version: this.#version,
        rulesLoaded: this.#loaded,
        customRules: this.#custom,
        notApplicable: this.#notApplicable,
        rulesDisabled: this.#disabled,
        markers: this.#markers,
        unsupported: this.#report.items(),
      },
    }
  }

  #directive(directive: Directive, custom: boolean, readDataFile: ((name: string) => string) | undefined): void {
    if (this.#pending && directive.kind !== 'rule') {
      throw new SecLangSyntaxError('a rule ending with `chain` must be followed by a SecRule', directive)
    }
    switch (directive.kind) {
      case 'rule':
      case 'action': {
        const actions = parseWith(() => parseActions(directive.actions), directive)
        if (this.#pending) {
          this.#pending.directives.push(directive)
          this.#pending.actions.push(actions)
        } else {
          this.#pending = { directives: [directive], actions: [actions], custom, readDataFile }
        }
        if (directive.kind === 'rule' && actions.some((action) => action.name.toLowerCase() === 'chain')) return
        const pending = this.#pending
        this.#pending = undefined
        this.#rule(pending)
        return
      }
      case 'marker':
        this.#markers++
        for (const entries of this.#phases) entries.push({ marker: directive.name })
        return
      case 'defaultAction':
        this.#defaultAction(directive)
        return
      case 'other':
        this.#otherDirective(directive)
    }
  }

  #defaultAction(directive: Extract<Directive, { kind: 'defaultAction' }>): void {
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
    this.#defaults.set(phase, defaults)
  }

  #otherDirective(directive: Extract<Directive, { kind: 'other' }>): void {
    const name = directive.name.toLowerCase()
    const [arg = ''] = directive.args
    switch (name) {
      case 'seccomponentsignature':
        this.#version = arg
        return
      case 'secruleengine': {
        const mode = arg.toLowerCase()
        this.#engineOff = mode === 'off'
        this.#detectionOnly = mode === 'detectiononly'
        return
      }
      case 'secruleremovebyid':
        for (const word of directive.args) {
          const ranges = parseIdRanges(word)
          this.#removeRules((rule) => inRanges(rule.id, ranges))
        }
        return
      case 'secruleremovebytag':
        this.#removeRules((rule) => rule.tagSet.has(arg.toLowerCase()))
        return
      case 'secruleupdatetargetbyid':
      case 'secruleupdatetargetbytag': {
        const [selector = '', targets = ''] = directive.args
        const ranges = name === 'secruleupdatetargetbyid' ? parseIdRanges(selector) : []
        const tag = selector.toLowerCase()
        const variables = parseWith(() => parseVariables(targets), directive)
        for (const entries of this.#phases) {
          for (const entry of entries) {
            if ('marker' in entry || entry.custom) continue
            if (name === 'secruleupdatetargetbyid' ? !inRanges(entry.id, ranges) : !entry.tagSet.has(tag)) continue
            const link = entry.links[0]!
            this.#addVariables(link, variables, entry.id)
          }
        }
        return
      }
      default:
        this.#problem('directive', directive.name, 'ignored', 0)
    }
  }

  /** Records an unsupported item; in a custom rule (the user's own) it is an error at start instead. */
  #problem(kind: UnsupportedKind, name: string, effect: UnsupportedItem['effect'], ruleId: number, detail?: string): void {
    if (this.#inCustom) {
      throw new TypeError(`waf(): custom rule${ruleId ? ` ${ruleId}` : 's'} use${ruleId ? 's' : ''} unsupported ${kind} ${name}${detail ? ` (${detail})` : ''}`)
    }
    this.#report.add(kind, name, effect, ruleId, detail)
  }

  #removeRules(predicate: (rule: CompiledRule) => boolean): void {
    for (const entries of this.#phases) {
      for (let i = entries.length - 1; i >= 0; i--) {
        const entry = entries[i]!
        if (!('marker' in entry) && predicate(entry)) {
          entries.splice(i, 1)
          this.#loaded--
        }
      }
    }
  }

  #claimId(id: number, where: { file: string; line: number }): void {
    if (id === 0) return
    if (this.#ids.has(id)) throw new TypeError(`${where.file}:${where.line}: rule id ${id} is used twice; every rule needs its own id`)
    this.#ids.add(id)
  }

  /** Assembles one rule (with its chain): classifies it, then compiles or sets it aside. */
  #rule(pending: PendingRule): void {
    const first = pending.directives[0]!
    const head = pending.actions[0]!
    const idAction = head.find((action) => action.name.toLowerCase() === 'id')
    const id = idAction?.value !== undefined ? Number(idAction.value) : 0
    if (!Number.isSafeInteger(id) || id < 0) throw new SecLangSyntaxError(`rule id must be a non-negative integer, got "${idAction?.value}"`, first)
    if (id === 0 && pending.custom) throw new SecLangSyntaxError('every rule needs an id (id:N)', first)
    this.#claimId(id, first)
    const phaseAction = head.find((action) => action.name.toLowerCase() === 'phase')
    const phase = phaseAction ? parsePhase(phaseAction.value, first) : 2

    if (phase > 2) {
      if (/^RESPONSE-/i.test(baseName(first.file))) this.#notApplicable.response++
      else this.#notApplicable.laterPhase++
      return
    }
    const parsedVariables = pending.directives.map((directive) =>
      directive.kind === 'rule' ? parseWith(() => parseVariables(directive.variables), directive) : [],
    )
    if (parsedVariables.some((variables, i) => pending.directives[i]!.kind === 'rule' && isBodyOnly(variables))) {
      this.#notApplicable.bodyOnly++
      return
    }

    const defaults = this.#defaults.get(phase) ?? FALLBACK_DEFAULTS
    const rule: CompiledRule = {
      id,
      phase: phase as 1 | 2,
      links: [],
      message: undefined,
      logdata: undefined,
      severity: undefined,
      tags: [],
      tagSet: new Set(),
      disruptive: defaults.disruptive,
      log: defaults.log,
      skip: 0,
      skipTo: -1,
      skipAfter: undefined,
      file: first.file,
      line: first.line,
    }
    const tagSet = new Set<string>()
    let disabled = false
    for (let i = 0; i < pending.directives.length; i++) {
      const directive = pending.directives[i]!
      const link = this.#link(directive, parsedVariables[i]!, pending.actions[i]!, rule, i === 0, defaults, pending.readDataFile, tagSet)
      if (!link) disabled = true
      else rule.links.push(link)
    }
    rule.tagSet = tagSet
    if (disabled) {
      this.#disabled++
      return
    }
    this.#phases[phase - 1]!.push(rule)
    this.#loaded++
    if (pending.custom) this.#custom++
  }

  /** Compiles one link; undefined when it needs something unsupported (the whole rule is then disabled). */
  #link(
    directive: Extract<Directive, { kind: 'rule' | 'action' }>,
    variables: ParsedVariable[],
    actions: ParsedAction[],
    rule: CompiledRule,
    isHead: boolean,
    defaults: PhaseDefaults,
    readDataFile: ((name: string) => string) | undefined,
    tagSet: Set<string>,
  ): CompiledLink | undefined {
    const ruleId = rule.id
    let usable = true
    const link: CompiledLink = {
      targets: [],
      exclusions: [],
      operator: undefined,
      negated: false,
      transformations: [],
      prefixIds: [],
      factorIds: undefined,
      unionIds: undefined,
      transformIds: [],
      caseOnly: [],
      hazards: [],
      multiMatch: false,
      capture: false,
      setvars: [],
      ctls: [],
    }
    this.#addVariables(link, variables, ruleId)

    let transformationNames = [...defaults.transformations]
    for (const { name, value } of actions) {
      const lower = name.toLowerCase()
      switch (lower) {
        case 'id':
        case 'phase':
        case 'chain':
          break
        case 'msg':
          if (isHead) rule.message = this.#template(value ?? '', ruleId)
          break
        case 'logdata':
          if (isHead) rule.logdata = this.#template(value ?? '', ruleId)
          break
        case 'severity':
          if (isHead) rule.severity = parseSeverity(value)
          break
        case 'tag':
          if (isHead && value !== undefined) {
            rule.tags.push(value)
            tagSet.add(value.toLowerCase())
          }
          break
        case 'nolog':
          if (isHead) rule.log = false
          break
        case 't':
          if ((value ?? '').toLowerCase() === 'none') transformationNames = []
          else transformationNames.push(value ?? '')
          break
        case 'capture':
          link.capture = true
          break
        case 'multimatch':
          link.multiMatch = true
          break
        case 'setvar': {
          const setvar = this.#setvar(value ?? '', ruleId)
          if (setvar) link.setvars.push(setvar)
          break
        }
        case 'ctl': {
          const ctl = this.#ctl(value ?? '', ruleId)
          if (ctl) link.ctls.push(ctl)
          break
        }
        case 'skip':
          if (isHead) rule.skip = Math.max(0, Number.parseInt(value ?? '0', 10) || 0)
          break
        case 'skipafter':
          if (isHead) rule.skipAfter = value
          break
        case 'initcol': {
          const collection = (value ?? '').split('=')[0]!.trim().toLowerCase()
          if (collection !== 'tx') this.#problem('action', `initcol:${collection}`, 'ignored', ruleId)
          break
        }
        case 'expirevar':
          this.#problem('action', 'expirevar', 'ignored', ruleId)
          break
        default:
          if (isDisruptive(lower)) {
            if (isHead) rule.disruptive = lower === 'block' ? defaults.disruptive : toDisruptive(lower, value)
          } else if (!IGNORED_ACTIONS.has(lower)) {
            this.#problem('action', name, 'ignored', ruleId)
          }
      }
    }

    let chainKey = ''
    for (const name of transformationNames) {
      const transformation = this.#transformation(name)
      if (!transformation) {
        this.#problem('transformation', `t:${name}`, 'rule disabled', ruleId)
        usable = false
        continue
      }
      link.transformations.push(transformation)
      chainKey += `+${name.toLowerCase()}`
      link.prefixIds.push(internId(this.#prefixIds, chainKey))
      link.caseOnly.push(CASE_ONLY.has(name.toLowerCase()))
      link.hazards.push((link.hazards.at(-1) ?? 0) | transformationHazards(transformation))
      link.transformIds.push(internId(this.#transformIds, transformation))
    }

    if (directive.kind === 'rule') {
      const parsed = parseWith(() => parseOperator(directive.operator), directive)
      link.negated = parsed.negated
      const factory = this.#primitives.operators[parsed.name]
      if (!factory) {
        this.#problem('operator', `@${parsed.name}`, 'rule disabled', ruleId)
        return undefined
      }
      try {
        link.operator = factory(parsed.param, readDataFile ? { readDataFile } : {})
        if (link.operator.factors !== undefined) {
          link.factorIds = literalMask(link.operator.factors.map((factor) => internId(this.#literalIds, representative(factor, PREFILTER_LITERAL_LENGTH))))
        }
        if (parsed.param.includes('%{')) {
          link.paramRefs = templateRefs(cachedTemplate(parsed.param))
          for (const ref of link.paramRefs) this.#checkMacro(ref.collection, ruleId)
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        if (parsed.name === 'rx') this.#problem('regex', message, 'rule disabled', ruleId)
        else this.#problem('operator', `@${parsed.name}`, 'rule disabled', ruleId, message)
        return undefined
      }
    }
    return usable ? link : undefined
  }

  /** Adds targets and exclusions to a link; unknown variables are reported and read as empty. */
  #addVariables(link: CompiledLink, variables: ParsedVariable[], ruleId: number): void {
    for (const variable of variables) {
      if (!this.#knownVariable(variable.collection)) {
        this.#problem('variable', variable.collection, 'empty', ruleId)
        if (!variable.exclude) continue
      }
      const selection = this.#selection(variable, ruleId)
      if (!selection) continue
      if (variable.exclude) link.exclusions.push(selection)
      else {
        const keyed = selection.key !== undefined ? `${selection.collection}:${selection.key}` : selection.collection
        link.targets.push({ ...selection, count: variable.count, variable: variable.count ? `&${keyed}` : keyed, exclusions: [], cacheId: -1 })
      }
    }
  }

  #knownVariable(name: string): boolean {
    return ENGINE_VARIABLES.has(name) || BODY_VARIABLES.has(name) || this.#primitives.variables.has(name)
  }

  #selection(variable: Pick<ParsedVariable, 'collection' | 'selector' | 'selectorIsRegex'>, ruleId: number): CompiledExclusion | undefined {
    if (variable.selector === undefined || variable.selector === '') return { collection: variable.collection, key: undefined, keyPattern: undefined }
    if (!variable.selectorIsRegex) return { collection: variable.collection, key: variable.selector.toLowerCase(), keyPattern: undefined }
    // Selectors match keys case-insensitively, as ModSecurity v2 compares collection keys.
    const translated = this.#primitives.translateRegex(variable.selector, { caseless: true })
    if ('error' in translated) {
      this.#problem('regex', translated.error, 'ignored', ruleId, `selector ${variable.collection}:/${variable.selector}/ dropped`)
      return undefined
    }
    const { regex } = translated
    // A global or sticky flag would make test() stateful.
    const keyPattern = /[gy]/.test(regex.flags) ? new RegExp(regex.source, regex.flags.replace(/[gy]/g, '')) : regex
    return { collection: variable.collection, key: undefined, keyPattern }
  }

  #transformation(name: string): Transformation | undefined {
    const lower = name.toLowerCase()
    const table = this.#primitives.transformations
    if (Object.hasOwn(table, lower)) return table[lower]
    for (const alias of TRANSFORMATION_ALIASES[lower] ?? []) if (Object.hasOwn(table, alias)) return table[alias]
    return undefined
  }

  #template(text: string, ruleId: number): Template {
    const template = compileTemplate(text)
    for (const ref of templateRefs(template)) this.#checkMacro(ref.collection, ruleId)
    return template
  }

  #checkMacro(collection: string, ruleId: number): void {
    if (!this.#knownVariable(collection) && !MACRO_ONLY.has(collection)) this.#problem('variable', collection, 'empty', ruleId)
  }

  /** `tx.a=1`, `tx.a=+%{tx.b}`, `tx.a=-1`, `!tx.a`, `tx.a`; other collections are reported and ignored. */
  #setvar(text: string, ruleId: number): CompiledSetVar | undefined {
    let body = text.trim()
    const remove = body.startsWith('!')
    if (remove) body = body.slice(1)
    const dot = body.indexOf('.')
    const collection = dot < 0 ? '' : body.slice(0, dot).toLowerCase()
    if (collection !== 'tx') {
      this.#problem('action', `setvar:${collection || body}`, 'ignored', ruleId)
      return undefined
    }
    const rest = body.slice(dot + 1)
    const equals = rest.indexOf('=')
    const name = this.#template(equals < 0 ? rest : rest.slice(0, equals), ruleId)
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
    return { op, name, value: this.#template(value, ruleId) }
  }

  #ctl(text: string, ruleId: number): CompiledCtl | undefined {
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
        const exclusion = parsed && this.#selection(parsed, ruleId)
        if (!exclusion) {
          this.#problem('action', `ctl:${name}`, 'ignored', ruleId, `cannot read target "${target}"`)
          return undefined
        }
        return name.toLowerCase() === 'ruleremovetargetbyid'
          ? { kind: 'removeTargetById', ranges: parseIdRanges(selector), exclusion }
          : { kind: 'removeTargetByTag', tag: selector.toLowerCase(), exclusion }
      }
      case 'ruleengine': {
        const mode = value.toLowerCase()
        if (mode === 'on' || mode === 'off' || mode === 'detectiononly') return { kind: 'ruleEngine', mode }
        this.#problem('action', `ctl:ruleEngine=${value}`, 'ignored', ruleId)
        return undefined
      }
      default:
        this.#problem('action', `ctl:${name}`, 'ignored', ruleId)
        return undefined
    }
  }
}

/** A rule written as a function, as a compiled rule: phase 2, denies when the function returns a match. */
export function functionRule(fn: CustomRuleFunction, file: string): CompiledRule {
  return {
    id: 0,
    phase: 2,
    links: [],
    message: undefined,
    logdata: undefined,
    severity: undefined,
    tags: [],
    tagSet: new Set(),
    disruptive: 'deny',
    log: true,
    skip: 0,
    skipTo: -1,
    skipAfter: undefined,
    file,
    line: 1,
    custom: fn,
  }
}

/**
 * Turns a phase list with markers into a rule list whose `skipTo` indexes
 * point into it; gives each target its exclusions and, on a request
 * collection, the cache id it shares with every equal target.
 */
function resolveSkips(entries: PhaseEntry[], shared: Map<string, CompiledExclusion[]>, targetIds: Map<string, number>): CompiledRule[] {
  const rules: CompiledRule[] = []
  for (const entry of entries) {
    if ('marker' in entry) continue
    for (const link of entry.links) {
      for (const target of link.targets) {
        // Each target keeps only the exclusions of its own collection (ARGS values are not checked
        // against !REQUEST_COOKIES:…), and equal lists are one object, so that an evaluation
        // filters a collection once per distinct list (the CRS repeats !REQUEST_COOKIES:/__utm/ ~100 times).
        const own = link.exclusions.filter((exclusion) => exclusion.collection === target.collection)
        const signature = own.map(selectionSignature).join('|')
        let list = shared.get(signature)
        if (!list) shared.set(signature, (list = own))
        target.exclusions = list
        if (ENGINE_VARIABLES.has(target.collection)) continue
        // The CRS's ~500 rules name ~60 distinct targets: an evaluation selects each once.
        const key = `${selectionSignature(target)}${target.count ? '&' : ''}|${signature}`
        target.cacheId = internId(targetIds, key)
      }
    }
  }
  const markerAt = new Map<string, number[]>()
  const idAt = new Map<number, number>()
  for (const entry of entries) {
    if ('marker' in entry) {
      const at = markerAt.get(entry.marker) ?? []
      at.push(rules.length)
      markerAt.set(entry.marker, at)
    } else {
      if (entry.id) idAt.set(entry.id, rules.length)
      rules.push(entry)
    }
  }
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!
    if (rule.skipAfter === undefined) continue
    // The first occurrence of the marker after the rule; a rule id also works as a target (ModSecurity allows both).
    const marker = markerAt.get(rule.skipAfter)?.find((at) => at > i)
    const byId = idAt.get(Number(rule.skipAfter))
    rule.skipTo = marker ?? (byId !== undefined && byId > i ? byId + 1 : rules.length)
  }
  return rules
}

/** The id of `key` in `ids`, the next free one (`ids.size`) on first sight: dense ids for array-indexed caches. */
function internId<K>(ids: Map<K, number>, key: K): number {
  let id = ids.get(key)
  if (id === undefined) ids.set(key, (id = ids.size))
  return id
}

/** A selection as text: equal texts select the same items. */
function selectionSignature(selection: CompiledExclusion): string {
  return JSON.stringify([selection.collection, selection.key ?? null, selection.keyPattern?.source ?? null, selection.keyPattern?.flags ?? null, ...(selection.grammar ? [selection.grammar.source, selection.grammar.flags] : [])])
}

function parseWith<T>(parse: () => T, location: { file: string; line: number }): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof SecLangSyntaxError) throw error
    throw new SecLangSyntaxError(error instanceof Error ? error.message : String(error), location)
  }
}

function parsePhase(value: string | undefined, location: { file: string; line: number }): number {
  const text = (value ?? '').trim().toLowerCase()
  const phase = text === 'request' ? 2 : text === 'response' ? 4 : text === 'logging' ? 5 : Number(text)
  if (!Number.isInteger(phase) || phase < 1 || phase > 5) throw new SecLangSyntaxError(`phase must be 1-5, request, response or logging; got "${value}"`, location)
  return phase
}

function parseSeverity(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (Number.isInteger(number) && number >= 0 && number < SEVERITIES.length) return SEVERITIES[number]
  return value.toUpperCase()
}

function isDisruptive(name: string): boolean {
  return name === 'pass' || name === 'block' || name === 'deny' || name === 'drop' || name === 'allow'
}

function toDisruptive(name: string, value: string | undefined): Disruptive {
  if (name === 'allow') return value?.toLowerCase() === 'phase' ? 'allowPhase' : 'allow'
  if (name === 'pass' || name === 'block') return 'pass'
  if (name === 'drop') return 'drop'
  return 'deny'
}

/** `920000-920999` → [[920000, 920999]]; `920180` → [[920180, 920180]]. */
export function parseIdRanges(text: string): [number, number][] {
  const ranges: [number, number][] = []
  for (const word of text.split(/[\s,]+/)) {
    if (!word) continue
    const [from, to = from] = word.split('-').map(Number)
    if (Number.isFinite(from) && Number.isFinite(to)) ranges.push([from!, to!])
  }
  return ranges
}

/** Whether `id` falls in one of `ranges` (both ends included). */
export function inRanges(id: number, ranges: readonly [number, number][]): boolean {
  for (const [from, to] of ranges) if (id >= from && id <= to) return true
  return false
}

/** A link reads only body or response variables (not counted): at handshake time it can never match. */
function isBodyOnly(variables: ParsedVariable[]): boolean {
  const targets = variables.filter((variable) => !variable.exclude)
  return targets.length > 0 && targets.every((variable) => BODY_VARIABLES.has(variable.collection) && !variable.count)
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1)
}
