/**
 * Compiles parsed SecLang into a {@link RuleSet}: once, at start-up. Rules
 * that cannot apply to a handshake (phases 3–5, response files, body-only)
 * are counted and set aside; everything the engine does not support is
 * recorded in the report by name, with what became of the rule.
 *
 * The {@link Compiler} here takes directives in load order, assembles rules
 * from their chains and keeps the phase lists; a link is compiled by
 * `compile-link.ts`, actions are read by `compile-actions.ts`, the phase
 * lists become rule lists in `resolve-skips.ts`.
 *
 * Portable: no `node:` import.
 */
import { literalIndex } from '../prefilter/literal-index.ts'
import { planTargetUnions } from '../prefilter/target-unions.ts'
import { FALLBACK_DEFAULTS, parseDefaultAction, parsePhase, parseWith, type PhaseDefaults } from './compile-actions.ts'
import { LinkCompiler } from './compile-link.ts'
import { ruleObjectSecLang, type WafRuleObject } from './custom-units.ts'
import { inRanges, parseIdRanges } from './id-ranges.ts'
import { ReportBuilder, type NotApplicable, type RuleCounts, type UnsupportedItem, type UnsupportedKind } from './report.ts'
import { newRule, type CompiledExclusion, type CompiledRule, type CompiledTarget, type RuleSet } from './rule.ts'
import { resolveSkips, type PhaseEntry } from './resolve-skips.ts'
import { parseActions, parseSecLang, parseVariables, SecLangSyntaxError, type Directive, type ParsedAction } from './seclang.ts'
import type { HandshakeFacts, OperatorFactory, RequestCollections, Transformation } from '../types.ts'
import { isBodyOnly } from './variable-sets.ts'

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

/** A rule being assembled from its chain. */
interface PendingRule {
  directives: Extract<Directive, { kind: 'rule' | 'action' }>[]
  actions: ParsedAction[][]
  custom: boolean
  readDataFile: ((name: string) => string) | undefined
}

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

/** Takes directives, rule objects, compiled rules and exclusions in load order; {@link Compiler.finish} makes the rule set. */
class Compiler {
  readonly #report = new ReportBuilder()
  readonly #defaults = new Map<number, PhaseDefaults>()
  readonly #phases: [PhaseEntry[], PhaseEntry[]] = [[], []]
  readonly #ids = new Set<number>()
  readonly #notApplicable: NotApplicable = { response: 0, laterPhase: 0, bodyOnly: 0 }
  /** Compiles each rule's links, keeping the ids they share. */
  readonly #links: LinkCompiler
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
    this.#links = new LinkCompiler(primitives, (kind, name, effect, ruleId, detail) => this.#problem(kind, name, effect, ruleId, detail))
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
    const { variables, actions } = ruleObjectSecLang(rule)
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
    const unionWords = planTargetUnions(phases, this.#links.prefixCount)
    return {
      ruleSet: {
        phases,
        detectionOnly: this.#detectionOnly,
        engineOff: this.#engineOff,
        prefixCount: this.#links.prefixCount,
        transformCount: this.#links.transformCount,
        targetCount: targetIds.size,
        unionWords,
        literals: this.#links.literals.length ? literalIndex(this.#links.literals) : undefined,
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
      {
        const { phase, defaults } = parseDefaultAction(directive)
        this.#defaults.set(phase, defaults)
        return
      }
      case 'other':
        this.#otherDirective(directive)
    }
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
            this.#links.addVariables(link, variables, entry.id)
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
    const rule = newRule({ id, phase: phase as 1 | 2, disruptive: defaults.disruptive, log: defaults.log, file: first.file, line: first.line })
    const tagSet = new Set<string>()
    let disabled = false
    for (let i = 0; i < pending.directives.length; i++) {
      const directive = pending.directives[i]!
      const link = this.#links.link(directive, parsedVariables[i]!, pending.actions[i]!, rule, i === 0, defaults, pending.readDataFile, tagSet)
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
}

/** The file name of a path. */
function baseName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1)
}
