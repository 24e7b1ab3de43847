/**
 * One evaluation of a rule set over one handshake (`engine.ts` describes
 * the engine as a whole): the rule loop over phase 1 then phase 2 with the
 * plan's jumps, the absent-collection step-over and the time budget;
 * a rule's chain of links; a link's targets and values, through the
 * prefilter checks, to the operator; and the verdict. Its parts: the state
 * (`state.ts`), value selection (`select.ts`), transformations and literal
 * sets (`value-texts.ts`), actions and macros (`actions.ts`), and the
 * constant plan's jumps (`plan.ts`).
 *
 * Portable: no `node:` import.
 */
import { absentPlan, presentCollections } from '../../prefilter/absent-targets.ts'
import { readsOnlyTransaction, type ConstantPlan } from '../constant-rules.ts'
import type { EvaluateOptions, Evaluation } from '../engine.ts'
import type { CompiledExclusion, CompiledLink, CompiledRule, RuleSet, TargetValue } from '../../rules/rule.ts'
import type { HandshakeFacts, Operator, RequestCollections, RuleMatch } from '../../types.ts'
import { TransactionActions } from './actions.ts'
import { planJumps, type FoldOutcome } from './plan.ts'
import { ValueSelector } from './select.ts'
import { EMPTY_VALUES, TransactionState } from './state.ts'
import { ValueTexts, type CachedValue } from './value-texts.ts'

/** The longest matched value kept in a {@link RuleMatch}. */
const MAX_VALUE = 200

/** Evaluates a rule set over one handshake: {@link Transaction.run}, or {@link Transaction.plan} for the evaluation that makes the rule set's plan. */
export class Transaction {
  readonly #state: TransactionState
  readonly #selector: ValueSelector
  readonly #texts: ValueTexts
  readonly #actions: TransactionActions
  readonly #facts: HandshakeFacts
  #budgetExceeded = false
  /** The thread's CPU clock when the wall clock first ran past the budget (see `EvaluateOptions.cpuNow`). */
  #cpuMark: number | undefined

  constructor(ruleSet: RuleSet, facts: HandshakeFacts, collections: RequestCollections, options: EvaluateOptions, requestId: string, plan: ConstantPlan | undefined) {
    this.#facts = facts
    this.#state = new TransactionState(ruleSet, collections, options, requestId, plan)
    this.#selector = new ValueSelector(this.#state)
    this.#texts = new ValueTexts(this.#state, this.#selector)
    this.#actions = new TransactionActions(this.#state, this.#selector)
  }

  run(): Evaluation {
    const state = this.#state
    const plan = state.plan
    if (plan === undefined) this.#loop(0, 0, false)
    else if (!plan.done) this.#loop(plan.phase, plan.index, false)
    this.#texts.release()
    return {
      blocked: state.blocked,
      wouldBlock: state.wouldBlock,
      blockedBy: state.blockedBy,
      anomalyScore: this.#actions.anomalyScore(),
      matches: state.matches,
      micros: Math.round((state.options.now() - state.started) * 1000),
      budgetExceeded: this.#budgetExceeded,
      tx: state.tx,
    }
  }

  /**
   * Runs the rules from phase `phase`, rule `index`, to the end of the
   * evaluation; `planning`: only while they read nothing but the
   * transaction. Returns where it stopped: the first rule that reads the
   * request, undefined when the evaluation ended.
   */
  #loop(phase: number, index: number, planning: boolean): [phase: number, index: number] | undefined {
    const state = this.#state
    if (state.mode === 'off') return undefined
    const { phases } = state.ruleSet
    const jumps = state.plan?.jumps
    // Rules whose first link reads only collections this handshake has empty cannot match (absent-targets.ts).
    const absent = state.options.everyRule ? undefined : absentPlan(state.ruleSet)
    const present = absent === undefined ? 0 : presentCollections(absent, state.collections)
    for (let p = phase; p < phases.length; p++) {
      const rules = phases[p]!
      const jump = jumps?.[p]
      const reads = absent?.reads[p]
      let i = p === phase ? index : 0
      while (i < rules.length) {
        if (jump !== undefined && jump[i]! >= 0 && this.#pristine()) {
          // Rules whose answers are fixed (paranoia-level gates): where they lead, as they would leave MATCHED_VAR.
          const hit = state.plan!.hits![p]![i]
          if (hit !== undefined) [state.matchedVar, state.matchedVarName] = hit
          i = jump[i]!
          continue
        }
        const rule = rules[i]!
        // Planning stops at the first rule that reads the request, whatever it would find there.
        if (planning) {
          if (!readsOnlyTransaction(rule)) return [p, i]
        } else if (reads !== undefined && reads[i] !== 0 && (reads[i]! & present) === 0) {
          i++
          continue
        }
        // The clock is read only after a rule that ran an operator or a function: reading it costs more than a skipped rule.
        if (state.worked && this.#budgetSpent()) {
          this.#budgetExceeded = true
          if (state.options.onBudgetExceeded === 'block') this.#refuse(undefined)
          return undefined
        }
        state.worked = false
        if (this.#actions.isRemoved(rule) || !this.#evaluateRule(rule)) {
          i++
          continue
        }
        const flow = this.#afterMatch(rule)
        if (flow === 'stop') return undefined
        if (flow === 'endPhase') break
        if (rule.skipTo >= 0) i = rule.skipTo
        else i += 1 + rule.skip
      }
    }
    return planning ? [phases.length, 0] : undefined
  }

  /** Whether nothing has changed what the plan's jumps assume: no folded rule or TX target removed, the engine mode the plan's. */
  #pristine(): boolean {
    const state = this.#state
    return !state.foldsBroken && state.mode === state.plan!.mode
  }

  /**
   * Makes the rule set's {@link ConstantPlan}: runs the leading rules that
   * read only the transaction, keeps the state they leave, then works out
   * the answer of every later rule whose answer is fixed ({@link foldable})
   * against that state, and chains the jumps they make.
   */
  plan(): ConstantPlan {
    const state = this.#state
    const stop = this.#loop(0, 0, true)
    const [phase, index] = stop ?? [state.ruleSet.phases.length, 0]
    // What the leading rules left, copied: what every evaluation of the rule set starts from.
    const left = {
      phase,
      index,
      done: stop === undefined,
      tx: new Map(state.tx),
      matches: [...state.matches],
      matchedVar: state.matchedVar,
      matchedVarName: state.matchedVarName,
      mode: state.mode,
      blocked: state.blocked,
      wouldBlock: state.wouldBlock,
      blockedBy: state.blockedBy,
      removedIds: [...state.removedIds],
      removedTags: [...state.removedTags],
      removedTargets: [...state.removedTargets],
    }
    const folds = left.done || state.mode === 'off' || left.removedIds.length > 0 || left.removedTags.length > 0 || left.removedTargets.length > 0 ? undefined : planJumps(state.ruleSet.phases, phase, index, (rule) => this.#fold(rule))
    this.#texts.release()
    const folded = folds === undefined ? [] : state.ruleSet.phases.flatMap((rules, p) => rules.filter((_, i) => folds.jumps[p]![i]! >= 0))
    return { ...left, jumps: folds?.jumps, hits: folds?.hits, folded }
  }

  /**
   * A fixed rule's answer in the current state, the state left as it was:
   * whether it matched and the MATCHED_VAR it leaves, if it matched a value;
   * undefined when a match would do more than flow (logged, disruptive).
   */
  #fold(rule: CompiledRule): FoldOutcome | undefined {
    const state = this.#state
    const hits = state.hits
    const matches = state.matches.length
    const [matchedVar, matchedVarName] = [state.matchedVar, state.matchedVarName]
    const matched = this.#evaluateRule(rule)
    const hit = state.hits === hits ? undefined : ([state.matchedVar, state.matchedVarName] as const)
    state.matches.length = matches
    ;[state.matchedVar, state.matchedVarName] = [matchedVar, matchedVarName]
    if (matched && (rule.log || rule.disruptive !== 'pass')) return undefined
    return { matched, hit }
  }

  /** Runs a rule's chain; true when every link matched. Records the match. */
  #evaluateRule(rule: CompiledRule): boolean {
    const state = this.#state
    state.rule = rule
    if (rule.custom) {
      if (state.options.skipFunctionRules) return false
      state.worked = true
      const match = rule.custom(this.#facts, state.collections)
      if (!match) return false
      state.matches.push(match)
      return true
    }
    state.matchedVars = EMPTY_VALUES
    let first: TargetValue | undefined
    const dynamic = this.#actions.dynamicExclusions(rule)
    for (const link of rule.links) {
      const matched = this.#evaluateLink(link, dynamic)
      if (matched.length === 0) return false
      first ??= matched[0]
      state.matchedVars = matched
    }
    if (rule.log || rule.disruptive === 'deny' || rule.disruptive === 'drop') {
      const match: RuleMatch = {
        id: rule.id,
        message: rule.message === undefined ? '' : this.#actions.expand(rule.message),
        variable: first?.variable ?? '',
        value: (first?.value ?? '').slice(0, MAX_VALUE),
      }
      if (rule.severity !== undefined) match.severity = rule.severity
      if (rule.tags.length) match.tags = rule.tags
      state.matches.push(match)
    }
    return true
  }

  /** What the rule's disruptive action and `ctl:ruleEngine` mean for the rest of the evaluation. */
  #afterMatch(rule: CompiledRule): 'continue' | 'endPhase' | 'stop' {
    if (this.#state.mode === 'off') return 'stop'
    switch (rule.disruptive) {
      case 'deny':
      case 'drop':
        this.#refuse(rule.id)
        return 'stop'
      case 'allow':
        return 'stop'
      case 'allowPhase':
        return 'endPhase'
      default:
        return 'continue'
    }
  }

  /** Whether the budget is spent: on the wall clock, confirmed on the thread's CPU clock where there is one. */
  #budgetSpent(): boolean {
    const state = this.#state
    const { budgetMs, cpuNow } = state.options
    if (state.options.now() - state.started <= budgetMs) return false
    if (cpuNow === undefined) return true
    const cpu = cpuNow()
    // The first overrun on the wall clock starts the CPU count; only CPU this evaluation uses from here counts.
    if (this.#cpuMark === undefined) {
      this.#cpuMark = cpu
      return false
    }
    return cpu - this.#cpuMark > budgetMs
  }

  #refuse(ruleId: number | undefined): void {
    const state = this.#state
    state.wouldBlock = true
    state.blockedBy = ruleId
    if (state.mode === 'on') state.blocked = true
  }

  /** Matches of one link: every selected value whose (transformed) form the operator accepts. */
  #evaluateLink(link: CompiledLink, dynamic: CompiledExclusion[] | undefined): readonly TargetValue[] {
    const operator = link.operator
    if (!operator) {
      // SecAction: matches once, unconditionally.
      this.#actions.runActions(link, null)
      return [{ name: '', value: '', variable: '' }]
    }
    const { targets } = link
    const factorIds = this.#state.options.noPrefilter ? undefined : link.factorIds
    const unionIds = factorIds === undefined ? undefined : link.unionIds
    // Allocated on the first match only: most links match nothing.
    let matched: TargetValue[] | undefined
    for (let t = 0; t < targets.length; t++) {
      const target = targets[t]!
      // No value of the target holds one of the operator's literals: none can match, none is looked at.
      if (unionIds !== undefined && dynamic === undefined) {
        const unionId = unionIds[t]!
        // A union already found empty (most of a benign handshake's): no literal to look for.
        if (unionId >= 0 && !this.#texts.unionHolds(link, target, unionId, factorIds!)) continue
      }
      const values = this.#selector.select(target, dynamic)
      for (let v = 0; v < values.length; v++) {
        const item = values[v]! as CachedValue
        if (link.multiMatch) {
          // A plain text (every step equal up to case) without the literals: no step can match.
          if (factorIds !== undefined && !link.negated && this.#texts.plainHolds(link, item, factorIds) === false) continue
          let previous: string | undefined
          const steps = this.#texts.transformSteps(link, item)
          for (let s = 0; s < steps.length; s++) {
            const value = steps[s]!
            if (value === previous) continue
            previous = value
            // Step s is the text after the chain's first s transformations: its literal set rides on the value's cache too.
            const captures = factorIds !== undefined && !this.#texts.stepHolds(link, item, s - 1, factorIds) ? null : this.#run(operator, value)
            if ((captures !== null) === link.negated) continue
            ;(matched ??= []).push(this.#hit(link, item, value, captures))
            break
          }
        } else {
          // A plain text without the literals is not even transformed.
          if (factorIds !== undefined && !link.negated && this.#texts.plainHolds(link, item, factorIds) === false) continue
          const value = this.#texts.transform(link, item)
          // A value holding none of the operator's literals cannot match: the operator is not run.
          const captures = factorIds !== undefined && !this.#texts.holdsFactor(link, item, factorIds) ? null : this.#run(operator, value)
          if ((captures !== null) !== link.negated) (matched ??= []).push(this.#hit(link, item, value, captures))
        }
      }
    }
    return matched ?? EMPTY_VALUES
  }

  /** Runs an operator on a value, counted for `ValueCacheStats.operatorRuns`. */
  #run(operator: Operator, value: string): string[] | null {
    this.#texts.countOperatorRun()
    this.#state.worked = true
    return operator(value, this.#actions.expandText)
  }

  /** Records a value the operator accepted and runs the link's per-match actions. */
  #hit(link: CompiledLink, item: TargetValue, value: string, captures: string[] | null): TargetValue {
    const state = this.#state
    state.hits++
    state.matchedVar = value
    state.matchedVarName = item.variable
    this.#actions.runActions(link, link.negated ? null : captures)
    return { name: item.name, value, variable: item.variable }
  }
}
