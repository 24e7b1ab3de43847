/**
 * Compiling one link of a rule (a `SecRule` or `SecAction` of a chain): its
 * targets and exclusions, its actions, its transformation chain (with the
 * dense prefix and function ids the engine's value caches are indexed by)
 * and its operator (with the prefilter literal ids of its factors). The ids
 * are shared by every link of the rule set, so the {@link LinkCompiler}
 * lives as long as the compiler.
 *
 * Portable: no `node:` import.
 */
import { literalMask, representative } from '../prefilter/literal-index.ts'
import { cachedTemplate, compileTemplate, templateRefs, type Template } from '../engine/macros.ts'
import { transformationHazards } from '../prefilter/plain-texts.ts'
import type { Transformation } from '../types.ts'
import { IGNORED_ACTIONS, isDisruptive, parseCtl, parseSetvar, parseSeverity, parseWith, toDisruptive, type ActionContext, type PhaseDefaults, type ProblemSink } from './compile-actions.ts'
import type { Primitives } from './compile.ts'
import type { CompiledExclusion, CompiledLink, CompiledRule } from './rule.ts'
import { parseOperator, type Directive, type ParsedAction, type ParsedVariable } from './seclang.ts'
import { BODY_VARIABLES, ENGINE_VARIABLES, MACRO_ONLY } from './variable-sets.ts'

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

/** Compiles links, keeping the rule set's transformation, prefix and literal ids. */
export class LinkCompiler implements ActionContext {
  readonly #primitives: Primitives
  readonly problem: ProblemSink
  /** Transformation chain prefixes (`+urldecodeuni+lowercase`), with their ids. */
  readonly #prefixIds = new Map<string, number>()
  /** Every transformation function the rules use, with its id. */
  readonly #transformIds = new Map<Transformation, number>()
  /** Prefilter literals of every operator, by text: their ids in the rule set's literal index. */
  readonly #literalIds = new Map<string, number>()

  constructor(primitives: Primitives, problem: ProblemSink) {
    this.#primitives = primitives
    this.problem = problem
  }

  /** How many distinct transformation chain prefixes the links use. */
  get prefixCount(): number {
    return this.#prefixIds.size
  }

  /** How many distinct transformation functions the links use. */
  get transformCount(): number {
    return this.#transformIds.size
  }

  /** The prefilter literals of every operator, in id order. */
  get literals(): string[] {
    return [...this.#literalIds.keys()]
  }

  link(
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
    this.addVariables(link, variables, ruleId)

    let transformationNames = [...defaults.transformations]
    for (const { name, value } of actions) {
      const lower = name.toLowerCase()
      switch (lower) {
        case 'id':
        case 'phase':
        case 'chain':
          break
        case 'msg':
          if (isHead) rule.message = this.template(value ?? '', ruleId)
          break
        case 'logdata':
          if (isHead) rule.logdata = this.template(value ?? '', ruleId)
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
          const setvar = parseSetvar(value ?? '', ruleId, this)
          if (setvar) link.setvars.push(setvar)
          break
        }
        case 'ctl': {
          const ctl = parseCtl(value ?? '', ruleId, this)
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
          if (collection !== 'tx') this.problem('action', `initcol:${collection}`, 'ignored', ruleId)
          break
        }
        case 'expirevar':
          this.problem('action', 'expirevar', 'ignored', ruleId)
          break
        default:
          if (isDisruptive(lower)) {
            if (isHead) rule.disruptive = lower === 'block' ? defaults.disruptive : toDisruptive(lower, value)
          } else if (!IGNORED_ACTIONS.has(lower)) {
            this.problem('action', name, 'ignored', ruleId)
          }
      }
    }

    let chainKey = ''
    for (const name of transformationNames) {
      const transformation = this.#transformation(name)
      if (!transformation) {
        this.problem('transformation', `t:${name}`, 'rule disabled', ruleId)
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
        this.problem('operator', `@${parsed.name}`, 'rule disabled', ruleId)
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
        if (parsed.name === 'rx') this.problem('regex', message, 'rule disabled', ruleId)
        else this.problem('operator', `@${parsed.name}`, 'rule disabled', ruleId, message)
        return undefined
      }
    }
    return usable ? link : undefined
  }

  /** Adds targets and exclusions to a link; unknown variables are reported and read as empty. */
  addVariables(link: CompiledLink, variables: ParsedVariable[], ruleId: number): void {
    for (const variable of variables) {
      if (!this.knownVariable(variable.collection)) {
        this.problem('variable', variable.collection, 'empty', ruleId)
        if (!variable.exclude) continue
      }
      const selection = this.selection(variable, ruleId)
      if (!selection) continue
      if (variable.exclude) link.exclusions.push(selection)
      else {
        const keyed = selection.key !== undefined ? `${selection.collection}:${selection.key}` : selection.collection
        link.targets.push({ ...selection, count: variable.count, variable: variable.count ? `&${keyed}` : keyed, exclusions: [], cacheId: -1 })
      }
    }
  }

  /** Whether a collection exists: the engine's, a body variable, or one the host provides. */
  knownVariable(name: string): boolean {
    return ENGINE_VARIABLES.has(name) || BODY_VARIABLES.has(name) || this.#primitives.variables.has(name)
  }

  /** A target selection (`ARGS:q`, `REQUEST_COOKIES:/^x/`), undefined (reported) when its regex does not translate. */
  selection(variable: Pick<ParsedVariable, 'collection' | 'selector' | 'selectorIsRegex'>, ruleId: number): CompiledExclusion | undefined {
    if (variable.selector === undefined || variable.selector === '') return { collection: variable.collection, key: undefined, keyPattern: undefined }
    if (!variable.selectorIsRegex) return { collection: variable.collection, key: variable.selector.toLowerCase(), keyPattern: undefined }
    // Selectors match keys case-insensitively, as ModSecurity v2 compares collection keys.
    const translated = this.#primitives.translateRegex(variable.selector, { caseless: true })
    if ('error' in translated) {
      this.problem('regex', translated.error, 'ignored', ruleId, `selector ${variable.collection}:/${variable.selector}/ dropped`)
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

  /** Compiles a macro text, reporting the collections it names that do not exist. */
  template(text: string, ruleId: number): Template {
    const template = compileTemplate(text)
    for (const ref of templateRefs(template)) this.#checkMacro(ref.collection, ruleId)
    return template
  }

  #checkMacro(collection: string, ruleId: number): void {
    if (!this.knownVariable(collection) && !MACRO_ONLY.has(collection)) this.problem('variable', collection, 'empty', ruleId)
  }
}

/** The id of `key` in `ids`, the next free one (`ids.size`) on first sight: dense ids for array-indexed caches. */
export function internId<K>(ids: Map<K, number>, key: K): number {
  let id = ids.get(key)
  if (id === undefined) ids.set(key, (id = ids.size))
  return id
}
