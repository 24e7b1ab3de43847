/**
 * What one evaluation knows and has found so far, shared by the parts of
 * the {@link Transaction} (`transaction.ts`): the request, the options, TX,
 * the matched variables, the matches, the rules and targets `ctl` removed,
 * the engine mode and the verdict. An evaluation that starts from a rule
 * set's {@link ConstantPlan} starts from a copy of the state the plan's
 * leading rules left.
 *
 * Portable: no `node:` import.
 */
import type { ConstantPlan, RemovedTarget } from '../constant-rules.ts'
import type { EvaluateOptions } from '../engine.ts'
import type { CompiledRule, RuleSet, TargetValue } from '../../rules/rule.ts'
import type { RequestCollections, RuleMatch } from '../../types.ts'

/** No values: what a target selecting nothing and a link matching nothing return (never written to). */
export const EMPTY_VALUES: readonly TargetValue[] = []

/** The state of one evaluation; its fields are read and written by the transaction's parts. */
export class TransactionState {
  readonly ruleSet: RuleSet
  readonly collections: RequestCollections
  readonly options: EvaluateOptions
  /** The value of `UNIQUE_ID`. */
  readonly requestId: string
  /** The clock when the evaluation started, ms. */
  readonly started: number
  /** Where to start, from the rule set's plan; undefined for the evaluation that makes it. */
  readonly plan: ConstantPlan | undefined
  /** The TX collection (lower-cased names). */
  readonly tx: Map<string, string>
  readonly matches: RuleMatch[]
  matchedVar = ''
  matchedVarName = ''
  /** MATCHED_VARS: what the previous link of the current chain matched. */
  matchedVars: readonly TargetValue[] = EMPTY_VALUES
  /** Whether the rule just evaluated ran an operator, a transformation, a literal scan or a function: the budget is checked before the next. */
  worked = false
  /** Values operators accepted so far (what tells a folded rule that matched nothing from one that matched a value). */
  hits = 0
  /** The rule being evaluated (for `%{rule.…}` macros). */
  rule: CompiledRule | undefined
  mode: 'on' | 'off' | 'detectiononly'
  removedIds: [number, number][] = []
  readonly removedTags: Set<string>
  readonly removedTargets: RemovedTarget[]
  /** Whether a `ctl` removed a rule the plan's jumps pass over, or a TX target: the jumps no longer hold. */
  foldsBroken = false
  blocked = false
  wouldBlock = false
  blockedBy: number | undefined

  constructor(ruleSet: RuleSet, collections: RequestCollections, options: EvaluateOptions, requestId: string, plan: ConstantPlan | undefined) {
    this.ruleSet = ruleSet
    this.collections = collections
    this.options = options
    this.requestId = requestId
    this.started = options.now()
    this.plan = plan
    if (plan === undefined) {
      this.mode = ruleSet.engineOff ? 'off' : ruleSet.detectionOnly || options.detectionOnly ? 'detectiononly' : 'on'
      this.tx = new Map()
      this.matches = []
      this.removedTags = new Set()
      this.removedTargets = []
    } else {
      // The leading rules' work, done once when the plan was made: copied, since this evaluation changes it.
      this.mode = plan.mode
      this.tx = new Map(plan.tx)
      this.matches = plan.matches.map((match) => ({ ...match }))
      this.matchedVar = plan.matchedVar
      this.matchedVarName = plan.matchedVarName
      this.blocked = plan.blocked
      this.wouldBlock = plan.wouldBlock
      this.blockedBy = plan.blockedBy
      this.removedIds = [...plan.removedIds]
      this.removedTags = new Set(plan.removedTags)
      this.removedTargets = [...plan.removedTargets]
    }
  }
}
