/**
 * The rule engine: runs a compiled {@link RuleSet} over one handshake,
 * phase 1 then phase 2, the way ModSecurity runs a request's first two
 * phases — targets with selectors and exclusions, transformation chains
 * (cached per handshake, so the CRS's many rules sharing a chain transform
 * each value once), operators, chains with chain-local MATCHED_VARS,
 * `setvar`/`capture` on TX, `skip`/`skipAfter`, `ctl` exclusions, and
 * disruptive actions. Between rules it checks a time budget (after a rule
 * that did some work: the clock costs more than a rule the prefilter skips).
 *
 * Most of a handshake's work is rules that do not match, and the engine
 * spends as little as it can on them, without changing a result: a request
 * target's values are selected once per evaluation; each value text gets
 * one cache of its transformed forms (by chain prefix, and by function for
 * chains that reach the same input), kept with the rule set for later
 * handshakes within fixed bounds (`value-caches.ts`); operators that know literals every
 * match contains (`@rx`, `@pm`: `regex-factors.ts`) are not run on a value
 * holding none of them, which one scan per distinct text finds
 * (`literal-index.ts`), and a target whose values together hold none is
 * skipped whole (`target-unions.ts`). What depends on no request at all is
 * done once per rule set (`constant-rules.ts`): the leading rules that read
 * only the transaction (the CRS's TX defaults) run once, and every
 * evaluation starts from a copy of the state they leave; later rules whose
 * answers that state fixes (paranoia-level gates) are jumped over.
 *
 * Non-disruptive actions (`setvar`, `capture`, `ctl`) run for every value
 * a rule matches, as in ModSecurity and Coraza; the disruptive and flow
 * actions of a rule run once its whole chain has matched. `deny` and `drop`
 * both refuse the handshake (the middleware answers 403 whatever `status`
 * says); `block` is what the phase's SecDefaultAction says (`pass` in the
 * CRS's anomaly-scoring mode); `allow` ends the evaluation, `allow:phase`
 * the phase. In detection-only mode a refusal is recorded (`wouldBlock`)
 * and the evaluation stops where enforcing would have, so the log shows
 * exactly what enforcing would do.
 *
 * One evaluation is a `Transaction` (`transaction/`: its state, value
 * selection, value texts and their literals, actions and macros, the
 * constant plan's jumps); this module is its entry point and makes each
 * rule set's plan.
 *
 * Portable: no `node:` import.
 */
import type { ConstantPlan } from './constant-rules.ts'
import { Transaction } from './transaction/transaction.ts'
import type { RuleSet } from '../rules/rule.ts'
import type { HandshakeFacts, RequestCollections, WafVerdict } from '../types.ts'

export { valueCacheStats } from './transaction/value-texts.ts'

/** How one evaluation runs. */
export interface EvaluateOptions {
  /** Record what would be refused without refusing it. */
  detectionOnly: boolean
  /** Time budget of one evaluation, ms; checked between rules, after each rule that ran an operator, a transformation, a literal scan or a function. */
  budgetMs: number
  /** What a handshake whose evaluation ran out of time gets. */
  onBudgetExceeded: 'block' | 'pass'
  /** The clock, ms (monotonic). */
  now: () => number
  /**
   * The CPU time the thread running the evaluation has used, ms, where the
   * host offers it (Node's `process.threadCpuUsage`, injected by the Node
   * host). Once the wall clock has run past the budget, the rest of the
   * evaluation is timed on it: time the process spent descheduled on a busy
   * host does not refuse a handshake, and an evaluation still uses at most
   * twice the budget of CPU. Without it the wall clock alone decides.
   */
  cpuNow?: (() => number) | undefined
  /** Skip rules written as functions (the warm-up at start must not call the user's code). @default false */
  skipFunctionRules?: boolean
  /**
   * Run every operator on every value, even one holding none of the
   * operator's literals (which cannot match): the warm-up at start does, so
   * that V8 compiles every regex then rather than on a client's handshake.
   * @default false
   */
  noPrefilter?: boolean
  /**
   * Evaluate every rule, even one whose first link reads only request
   * collections this handshake has empty (`absent-targets.ts`), which cannot
   * match: for the tests that prove that step-over changes nothing.
   * @default false
   */
  everyRule?: boolean
}

/** A verdict with what detection-only mode hides. */
export interface Evaluation extends WafVerdict {
  /** Whether the handshake would have been refused were the WAF enforcing (equals `blocked` when it is). */
  wouldBlock: boolean
  /** The rule whose `deny`/`drop` refused the handshake, if one did. */
  blockedBy: number | undefined
  /** The transaction's TX collection at the end (lower-cased names). */
  tx: ReadonlyMap<string, string>
}

/**
 * Evaluates `ruleSet` over a handshake's collections. Does no parsing: all
 * texts were compiled at start-up (macro texts met for the first time in an
 * operator parameter are compiled once and cached).
 *
 * @param facts the handshake, for rules written as functions
 * @param collections what `buildCollections(facts)` made of it
 * @param requestId the value of `UNIQUE_ID`
 */
export function evaluate(
  ruleSet: RuleSet,
  facts: HandshakeFacts,
  collections: RequestCollections,
  options: EvaluateOptions,
  requestId = '',
): Evaluation {
  return new Transaction(ruleSet, facts, collections, options, requestId, constantPlan(ruleSet, options.detectionOnly)).run()
}

/** Each rule set's {@link ConstantPlan}, by the `detectionOnly` option (which sets the engine mode the leading rules run in). */
const plans = new WeakMap<RuleSet, Map<boolean, ConstantPlan>>()

/** The facts of the evaluation that makes a plan: no rule it runs reads them. */
const NO_FACTS: HandshakeFacts = { method: '', rawTarget: '', protocol: '', headers: [], remoteAddress: '' }

/**
 * The state every evaluation of `ruleSet` starts from (`constant-rules.ts`),
 * worked out by the first evaluation: the leading rules that read only the
 * transaction are run once, on no request, with no clock and no budget.
 */
function constantPlan(ruleSet: RuleSet, detectionOnly: boolean): ConstantPlan {
  let byMode = plans.get(ruleSet)
  if (byMode === undefined) plans.set(ruleSet, (byMode = new Map()))
  let plan = byMode.get(detectionOnly)
  if (plan === undefined) {
    const options: EvaluateOptions = { detectionOnly, budgetMs: Number.POSITIVE_INFINITY, onBudgetExceeded: 'pass', now: () => 0 }
    plan = new Transaction(ruleSet, NO_FACTS, new Map(), options, '', undefined).plan()
    byMode.set(detectionOnly, plan)
  }
  return plan
}
