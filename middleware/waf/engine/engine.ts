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
 * Portable: no `node:` import.
 */
import { absentPlan, presentCollections } from '../prefilter/absent-targets.ts'
import { inRanges } from '../rules/id-ranges.ts'
import { DEFAULT_WAF_TEXT_CACHE_BYTES, DEFAULT_WAF_TEXT_CACHE_ENTRIES, DEFAULT_WAF_TEXT_CACHE_MAX_TEXT } from '../../../src/defaults.ts'
import { foldable, readsOnlyTransaction, TxWrites, type ConstantPlan, type RemovedTarget } from './constant-rules.ts'
import { containsAny, type LiteralArena, type LiteralMask } from '../prefilter/literal-index.ts'
import { cachedTemplate, expandTemplate, type MacroRef, type Template } from './macros.ts'
import { textHazards } from '../prefilter/plain-texts.ts'
import { ValueCaches, type ValueCacheBounds, type ValueCacheStats } from './value-caches.ts'
import type { CompiledExclusion, CompiledLink, CompiledRule, CompiledTarget, RuleSet, TargetValue } from '../rules/rule.ts'
import type { CollectionItem, HandshakeFacts, Operator, RequestCollections, RuleMatch, WafVerdict } from '../types.ts'

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

/** The longest matched value kept in a {@link RuleMatch}. */
const MAX_VALUE = 200
const EMPTY: readonly CollectionItem[] = []
const EMPTY_VALUES: readonly TargetValue[] = []

/** A value with the offset of its text's cache (`value-caches.ts`) and its text's hazards (`plain-texts.ts`), attached on first use. */
type CachedValue = TargetValue & { cache?: number; hazards?: number }

/**
 * Each rule set's value caches (with the literal arena they point into)
 * between evaluations: an evaluation takes them and gives them back at its
 * end, trimmed to {@link TEXT_CACHE_BOUNDS}, so that a text seen by an
 * earlier handshake is not transformed or scanned again. An evaluation
 * that throws just does not give them back (the next starts empty); one
 * running inside another makes its own.
 */
const idleCaches = new WeakMap<RuleSet, ValueCaches>()

/** What a rule set's value caches may keep between evaluations (`src/defaults.ts` says why). */
const TEXT_CACHE_BOUNDS: ValueCacheBounds = {
  maxEntries: DEFAULT_WAF_TEXT_CACHE_ENTRIES,
  maxBytes: DEFAULT_WAF_TEXT_CACHE_BYTES,
  maxText: DEFAULT_WAF_TEXT_CACHE_MAX_TEXT,
}

/**
 * The counters and size of `ruleSet`'s value caches while no evaluation
 * holds them (undefined before the first evaluation ends): for the
 * benchmark's hit rate and the tests of the bounds.
 */
export function valueCacheStats(ruleSet: RuleSet): ValueCacheStats | undefined {
  return idleCaches.get(ruleSet)?.stats
}

/** TX.0–TX.9, the names the `capture` action sets (PCRE's groups 0–9, as ModSecurity keeps them). */
const CAPTURE_NAMES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']

/** Collections the engine keeps and changes during an evaluation: never cached. */
const ENGINE_OWNED: ReadonlySet<string> = new Set(['TX', 'MATCHED_VAR', 'MATCHED_VAR_NAME', 'MATCHED_VARS', 'MATCHED_VARS_NAMES', 'DURATION'])

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

class Transaction {
  readonly #ruleSet: RuleSet
  readonly #facts: HandshakeFacts
  readonly #collections: RequestCollections
  readonly #options: EvaluateOptions
  readonly #requestId: string
  readonly #started: number
  readonly #tx: Map<string, string>
  /** Per request collection, its values with their logged names, built on first access. */
  readonly #valueCache = new Map<string, TargetValue[]>()
  /** A request collection's values minus one of the rule set's shared exclusion lists. */
  readonly #excludedCache = new Map<readonly CompiledExclusion[], readonly TargetValue[]>()
  /** Per request collection, values by lower-cased key, built on first keyed access. */
  readonly #index = new Map<string, Map<string, TargetValue[]>>()
  readonly #matches: RuleMatch[]
  /** Sets this evaluation allocated for itself (unions of several values' sets), freed at its end. */
  readonly #ownSets: number[] = []
  /** Per value text, its transformations and literal sets, kept across evaluations. */
  readonly #caches: ValueCaches
  /** Where the literal sets live (offsets into it are what the caches hold); undefined without prefilter literals. */
  readonly #arena: LiteralArena | undefined
  /** Per union (`CompiledLink.unionIds`), its literal set in the arena, -1 until built. */
  readonly #unions: number[]
  /** Per cacheable target (`CompiledTarget.cacheId`), the values it selects, on first use. */
  readonly #selected: (readonly TargetValue[] | undefined)[]
  #matchedVar = ''
  #matchedVarName = ''
  /** Whether the rule just evaluated ran an operator, a transformation, a literal scan or a function: the budget is checked before the next. */
  #worked = false
  /** Values operators accepted so far (what tells a folded rule that matched nothing from one that matched a value). */
  #hits = 0
  /** MATCHED_VARS: what the previous link of the current chain matched. */
  #matchedVars: readonly TargetValue[] = EMPTY_VALUES
  #removedIds: [number, number][] = []
  /** Whether a `ctl` removed a rule the plan's jumps pass over, or a TX target: the jumps no longer hold. */
  #foldsBroken = false
  readonly #removedTags: Set<string>
  readonly #removedTargets: RemovedTarget[]
  #mode: 'on' | 'off' | 'detectiononly'
  /** Where to start, from the rule set's plan; undefined for the evaluation that makes it. */
  readonly #plan: ConstantPlan | undefined
  #rule: CompiledRule | undefined
  #blocked = false
  #wouldBlock = false
  #blockedBy: number | undefined
  #budgetExceeded = false
  /** The thread's CPU clock when the wall clock first ran past the budget (see `EvaluateOptions.cpuNow`). */
  #cpuMark: number | undefined
  #resolvingRule = false

  constructor(ruleSet: RuleSet, facts: HandshakeFacts, collections: RequestCollections, options: EvaluateOptions, requestId: string, plan: ConstantPlan | undefined) {
    this.#ruleSet = ruleSet
    this.#facts = facts
    this.#collections = collections
    this.#options = options
    this.#requestId = requestId
    this.#started = options.now()
    this.#plan = plan
    if (plan === undefined) {
      this.#mode = ruleSet.engineOff ? 'off' : ruleSet.detectionOnly || options.detectionOnly ? 'detectiononly' : 'on'
      this.#tx = new Map()
      this.#matches = []
      this.#removedTags = new Set()
      this.#removedTargets = []
    } else {
      // The leading rules' work, done once when the plan was made: copied, since this evaluation changes it.
      this.#mode = plan.mode
      this.#tx = new Map(plan.tx)
      this.#matches = plan.matches.map((match) => ({ ...match }))
      this.#matchedVar = plan.matchedVar
      this.#matchedVarName = plan.matchedVarName
      this.#blocked = plan.blocked
      this.#wouldBlock = plan.wouldBlock
      this.#blockedBy = plan.blockedBy
      this.#removedIds = [...plan.removedIds]
      this.#removedTags = new Set(plan.removedTags)
      this.#removedTargets = [...plan.removedTargets]
    }
    this.#selected = new Array<readonly TargetValue[] | undefined>(ruleSet.targetCount).fill(undefined)
    this.#unions = new Array<number>(ruleSet.unionWords.length).fill(-1)
    this.#caches = idleCaches.get(ruleSet) ?? new ValueCaches(ruleSet.prefixCount, ruleSet.transformCount, ruleSet.literals?.words, TEXT_CACHE_BOUNDS)
    idleCaches.delete(ruleSet)
    this.#arena = this.#caches.arena
  }

  run(): Evaluation {
    const plan = this.#plan
    if (plan === undefined) this.#loop(0, 0, false)
    else if (!plan.done) this.#loop(plan.phase, plan.index, false)
    this.#giveBackCaches()
    return {
      blocked: this.#blocked,
      wouldBlock: this.#wouldBlock,
      blockedBy: this.#blockedBy,
      anomalyScore: this.#anomalyScore(),
      matches: this.#matches,
      micros: Math.round((this.#options.now() - this.#started) * 1000),
      budgetExceeded: this.#budgetExceeded,
      tx: this.#tx,
    }
  }

  /**
   * Runs the rules from phase `phase`, rule `index`, to the end of the
   * evaluation; `planning`: only while they read nothing but the
   * transaction. Returns where it stopped: the first rule that reads the
   * request, undefined when the evaluation ended.
   */
  #loop(phase: number, index: number, planning: boolean): [phase: number, index: number] | undefined {
    if (this.#mode === 'off') return undefined
    const { phases } = this.#ruleSet
    const jumps = this.#plan?.jumps
    // Rules whose first link reads only collections this handshake has empty cannot match (absent-targets.ts).
    const absent = this.#options.everyRule ? undefined : absentPlan(this.#ruleSet)
    const present = absent === undefined ? 0 : presentCollections(absent, this.#collections)
    for (let p = phase; p < phases.length; p++) {
      const rules = phases[p]!
      const jump = jumps?.[p]
      const reads = absent?.reads[p]
      let i = p === phase ? index : 0
      while (i < rules.length) {
        if (jump !== undefined && jump[i]! >= 0 && this.#pristine()) {
          // Rules whose answers are fixed (paranoia-level gates): where they lead, as they would leave MATCHED_VAR.
          const hit = this.#plan!.hits![p]![i]
          if (hit !== undefined) [this.#matchedVar, this.#matchedVarName] = hit
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
        if (this.#worked && this.#budgetSpent()) {
          this.#budgetExceeded = true
          if (this.#options.onBudgetExceeded === 'block') this.#refuse(undefined)
          return undefined
        }
        this.#worked = false
        if (this.#isRemoved(rule) || !this.#evaluateRule(rule)) {
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
    return !this.#foldsBroken && this.#mode === this.#plan!.mode
  }

  /** Notes a `ctl` removal that takes away a rule the jumps pass over (or could: a TX target), so the jumps stop. */
  #checkFolds(rule: (folded: CompiledRule) => boolean): void {
    if (!this.#foldsBroken && this.#plan?.jumps !== undefined && this.#plan.folded.some(rule)) this.#foldsBroken = true
  }

  #giveBackCaches(): void {
    for (const set of this.#ownSets) this.#arena!.free(set)
    this.#ownSets.length = 0
    this.#caches.release()
    idleCaches.set(this.#ruleSet, this.#caches)
  }

  /**
   * Makes the rule set's {@link ConstantPlan}: runs the leading rules that
   * read only the transaction, keeps the state they leave, then works out
   * the answer of every later rule whose answer is fixed ({@link foldable})
   * against that state, and chains the jumps they make.
   */
  plan(): ConstantPlan {
    const stop = this.#loop(0, 0, true)
    const [phase, index] = stop ?? [this.#ruleSet.phases.length, 0]
    const state = {
      phase,
      index,
      done: stop === undefined,
      tx: new Map(this.#tx),
      matches: [...this.#matches],
      matchedVar: this.#matchedVar,
      matchedVarName: this.#matchedVarName,
      mode: this.#mode,
      blocked: this.#blocked,
      wouldBlock: this.#wouldBlock,
      blockedBy: this.#blockedBy,
      removedIds: [...this.#removedIds],
      removedTags: [...this.#removedTags],
      removedTargets: [...this.#removedTargets],
    }
    const folds = state.done || this.#mode === 'off' || state.removedIds.length > 0 || state.removedTags.length > 0 || state.removedTargets.length > 0 ? undefined : this.#folds(phase, index)
    this.#giveBackCaches()
    const folded = folds === undefined ? [] : this.#ruleSet.phases.flatMap((rules, p) => rules.filter((_, i) => folds.jumps[p]![i]! >= 0))
    return { ...state, jumps: folds?.jumps, hits: folds?.hits, folded }
  }

  /** The jumps over the rules from (`phase`, `index`) on whose answers the current state fixes. */
  #folds(phase: number, index: number): { jumps: Int32Array[]; hits: (readonly [string, string] | undefined)[][] } {
    const { phases } = this.#ruleSet
    const later = new TxWrites(phases.flatMap((rules, p) => (p < phase ? [] : p === phase ? rules.slice(index) : rules)))
    const jumps: Int32Array[] = []
    const hits: (readonly [string, string] | undefined)[][] = []
    for (let p = 0; p < phases.length; p++) {
      const rules = phases[p]!
      const jump = new Int32Array(rules.length).fill(-1)
      const hit = new Array<readonly [string, string] | undefined>(rules.length).fill(undefined)
      // Backwards: a skip only goes forwards, so the jump of the rule it lands on is known.
      for (let i = rules.length - 1; i >= (p < phase ? rules.length : p === phase ? index : 0); i--) {
        const rule = rules[i]!
        if (!foldable(rule, later)) continue
        const outcome = this.#fold(rule)
        if (outcome === undefined) continue
        const next = Math.min(rules.length, outcome.matched ? (rule.skipTo >= 0 ? rule.skipTo : i + 1 + rule.skip) : i + 1)
        const chained = next < rules.length && jump[next]! >= 0
        jump[i] = chained ? jump[next]! : next
        hit[i] = (chained ? hit[next] : undefined) ?? outcome.hit
      }
      jumps.push(jump)
      hits.push(hit)
    }
    return { jumps, hits }
  }

  /**
   * A fixed rule's answer in the current state, the state left as it was:
   * whether it matched and the MATCHED_VAR it leaves, if it matched a value;
   * undefined when a match would do more than flow (logged, disruptive).
   */
  #fold(rule: CompiledRule): { matched: boolean; hit: readonly [string, string] | undefined } | undefined {
    const hits = this.#hits
    const matches = this.#matches.length
    const [matchedVar, matchedVarName] = [this.#matchedVar, this.#matchedVarName]
    const matched = this.#evaluateRule(rule)
    const hit = this.#hits === hits ? undefined : ([this.#matchedVar, this.#matchedVarName] as const)
    this.#matches.length = matches
    ;[this.#matchedVar, this.#matchedVarName] = [matchedVar, matchedVarName]
    if (matched && (rule.log || rule.disruptive !== 'pass')) return undefined
    return { matched, hit }
  }

  /** Whether a `ctl:ruleRemoveById`/`ruleRemoveByTag` earlier in this handshake removed the rule. */
  #isRemoved(rule: CompiledRule): boolean {
    if (this.#removedIds.length && rule.id && inRanges(rule.id, this.#removedIds)) return true
    if (this.#removedTags.size) for (const tag of rule.tagSet) if (this.#removedTags.has(tag)) return true
    return false
  }

  /** Runs a rule's chain; true when every link matched. Records the match. */
  #evaluateRule(rule: CompiledRule): boolean {
    this.#rule = rule
    if (rule.custom) {
      if (this.#options.skipFunctionRules) return false
      this.#worked = true
      const match = rule.custom(this.#facts, this.#collections)
      if (!match) return false
      this.#matches.push(match)
      return true
    }
    this.#matchedVars = EMPTY_VALUES
    let first: TargetValue | undefined
    const dynamic = this.#dynamicExclusions(rule)
    for (const link of rule.links) {
      const matched = this.#evaluateLink(link, dynamic)
      if (matched.length === 0) return false
      first ??= matched[0]
      this.#matchedVars = matched
    }
    if (rule.log || rule.disruptive === 'deny' || rule.disruptive === 'drop') {
      const match: RuleMatch = {
        id: rule.id,
        message: rule.message === undefined ? '' : this.#expand(rule.message),
        variable: first?.variable ?? '',
        value: (first?.value ?? '').slice(0, MAX_VALUE),
      }
      if (rule.severity !== undefined) match.severity = rule.severity
      if (rule.tags.length) match.tags = rule.tags
      this.#matches.push(match)
    }
    return true
  }

  /** What the rule's disruptive action and `ctl:ruleEngine` mean for the rest of the evaluation. */
  #afterMatch(rule: CompiledRule): 'continue' | 'endPhase' | 'stop' {
    if (this.#mode === 'off') return 'stop'
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
    const { budgetMs, cpuNow } = this.#options
    if (this.#options.now() - this.#started <= budgetMs) return false
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
    this.#wouldBlock = true
    this.#blockedBy = ruleId
    if (this.#mode === 'on') this.#blocked = true
  }

  /** Matches of one link: every selected value whose (transformed) form the operator accepts. */
  #evaluateLink(link: CompiledLink, dynamic: CompiledExclusion[] | undefined): readonly TargetValue[] {
    const operator = link.operator
    if (!operator) {
      // SecAction: matches once, unconditionally.
      this.#runActions(link, null)
      return [{ name: '', value: '', variable: '' }]
    }
    const { targets } = link
    const factorIds = this.#options.noPrefilter ? undefined : link.factorIds
    const unionIds = factorIds === undefined ? undefined : link.unionIds
    // Allocated on the first match only: most links match nothing.
    let matched: TargetValue[] | undefined
    for (let t = 0; t < targets.length; t++) {
      const target = targets[t]!
      // No value of the target holds one of the operator's literals: none can match, none is looked at.
      if (unionIds !== undefined && dynamic === undefined) {
        const unionId = unionIds[t]!
        // A union already found empty (most of a benign handshake's): no literal to look for.
        if (unionId >= 0 && (this.#unions[unionId] === 0 || !this.#unionHolds(link, target, unionId, factorIds!))) continue
      }
      const values = this.#select(target, dynamic)
      for (let v = 0; v < values.length; v++) {
        const item = values[v]! as CachedValue
        if (link.multiMatch) {
          // A plain text (every step equal up to case) without the literals: no step can match.
          if (factorIds !== undefined && !link.negated && this.#plainHolds(link, item, factorIds) === false) continue
          let previous: string | undefined
          const steps = this.#transformSteps(link, item)
          for (let s = 0; s < steps.length; s++) {
            const value = steps[s]!
            if (value === previous) continue
            previous = value
            // Step s is the text after the chain's first s transformations: its literal set rides on the value's cache too.
            const captures = factorIds !== undefined && !containsAny(this.#arena!.bits, this.#literalsOf(link, item, s - 1), factorIds) ? null : this.#run(operator, value)
            if ((captures !== null) === link.negated) continue
            ;(matched ??= []).push(this.#hit(link, item, value, captures))
            break
          }
        } else {
          // A plain text without the literals is not even transformed.
          if (factorIds !== undefined && !link.negated && this.#plainHolds(link, item, factorIds) === false) continue
          const value = this.#transform(link, item)
          // A value holding none of the operator's literals cannot match: the operator is not run.
          const captures = factorIds !== undefined && !this.#holdsFactor(link, item, factorIds) ? null : this.#run(operator, value)
          if ((captures !== null) !== link.negated) (matched ??= []).push(this.#hit(link, item, value, captures))
        }
      }
    }
    return matched ?? EMPTY_VALUES
  }

  /** Runs an operator on a value, counted for `ValueCacheStats.operatorRuns`. */
  #run(operator: Operator, value: string): string[] | null {
    this.#caches.operatorRuns++
    this.#worked = true
    return operator(value, this.#expandText)
  }

  /** Records a value the operator accepted and runs the link's per-match actions. */
  #hit(link: CompiledLink, item: TargetValue, value: string, captures: string[] | null): TargetValue {
    this.#hits++
    this.#matchedVar = value
    this.#matchedVarName = item.variable
    this.#runActions(link, link.negated ? null : captures)
    return { name: item.name, value, variable: item.variable }
  }

  /**
   * Whether the chain leaves `item`'s text as it was up to ASCII case
   * (`plain-texts.ts`) through its step `last` (by default the whole chain):
   * then the untransformed text's literal set is that step's.
   */
  #plain(link: CompiledLink, item: CachedValue, last = link.hazards.length - 1): boolean {
    return last < 0 || ((item.hazards ??= textHazards(item.value)) & link.hazards[last]!) === 0
  }

  /** For a plain text, whether it holds one of `factorIds`, without transforming it; undefined when it is not plain. */
  #plainHolds(link: CompiledLink, item: CachedValue, factorIds: LiteralMask): boolean | undefined {
    return this.#plain(link, item) ? containsAny(this.#arena!.bits, this.#literalsOf(link, item), factorIds) : undefined
  }

  /** Whether the link's transformed value of `item` holds one of `factorIds` (see {@link #literalsOf}). */
  #holdsFactor(link: CompiledLink, item: CachedValue, factorIds: LiteralMask): boolean {
    return containsAny(this.#arena!.bits, this.#literalsOf(link, item), factorIds)
  }

  /**
   * Whether the union `unionId` of the literal sets of `target`'s values,
   * transformed by the link's chain, holds one of `factorIds`; the union is
   * built on first use, over its planned words only.
   */
  #unionHolds(link: CompiledLink, target: CompiledTarget, unionId: number, factorIds: LiteralMask): boolean {
    const arena = this.#arena!
    let union = this.#unions[unionId]!
    if (union < 0) {
      const values = this.#select(target, undefined)
      const sets: number[] = []
      for (let v = 0; v < values.length; v++) {
        const item = values[v]! as CachedValue
        // A plain text's set is its untransformed one: no need to transform it.
        if (!this.#plain(link, item)) this.#transform(link, item)
        const set = this.#literalsOf(link, item)
        if (set !== 0) sets.push(set)
      }
      // One value with literals is its own union; several are ORed into a new set (after the scans, which may grow the arena).
      if (sets.length <= 1) union = sets[0] ?? 0
      else {
        union = arena.allocate()
        this.#ownSets.push(union)
        const { bits } = arena
        const words = this.#ruleSet.unionWords[unionId]!
        for (const set of sets) for (let w = 0; w < words.length; w++) bits[union + words[w]!] = bits[union + words[w]!]! | bits[set + words[w]!]!
      }
      this.#unions[unionId] = union
    }
    return containsAny(arena.bits, union, factorIds)
  }

  /**
   * The literal set (an offset in the arena) of the link's transformed
   * value of `item` (after the chain's steps up to `last`, -1 for the
   * untransformed value; by default the whole chain), kept in the value's
   * cache under that prefix's id. On the first look it is found through the
   * chain's prefixes, which {@link #transform} has cached: the set is that
   * of the longest prefix whose last step changed more than case (the index
   * ignores ASCII case, and case transformations change only ASCII) and
   * changed something, so that `urlDecodeUni,lowercase` on a value without
   * `%` shares the untransformed value's set, scanned once.
   */
  #literalsOf(link: CompiledLink, item: CachedValue, last = link.prefixIds.length - 1): number {
    const caches = this.#caches
    const { prefixIds, caseOnly } = link
    const cache = (item.cache ??= caches.of(item.value))
    // A chain that leaves the text as it was up to case: the untransformed text's set (its prefixes may not have been computed).
    if (last >= 0 && this.#plain(link, item, last)) last = -1
    let step = last
    const chain = step < 0 ? caches.untransformed : prefixIds[step]!
    let set = caches.literals(cache, chain)
    if (set !== undefined) return set
    while (step >= 0 && (caseOnly[step] || caches.transformed(cache, prefixIds[step]!) === (step > 0 ? caches.transformed(cache, prefixIds[step - 1]!) : item.value))) step--
    const slot = step < 0 ? caches.untransformed : prefixIds[step]!
    set = caches.literals(cache, slot)
    if (set === undefined) {
      // The value's cache owns the set (freed when the text is evicted), so it is scanned for this cache alone.
      set = this.#scan(step < 0 ? item.value : caches.transformed(cache, slot)!)
      caches.setLiterals(cache, slot, set, true)
    }
    caches.setLiterals(cache, chain, set)
    return set
  }

  /** A new set of the prefilter literals `text` holds, or 0 (the empty set) for none. */
  #scan(text: string): number {
    this.#worked = true
    const arena = this.#arena!
    const set = arena.allocate()
    if (this.#ruleSet.literals!.scan(text, arena.bits, set)) return set
    arena.free(set)
    return 0
  }

  #runActions(link: CompiledLink, captures: string[] | null): void {
    if (link.capture && captures) {
      for (let i = 0; i < CAPTURE_NAMES.length; i++) {
        const capture = captures[i]
        if (capture === undefined) this.#tx.delete(CAPTURE_NAMES[i]!)
        else this.#tx.set(CAPTURE_NAMES[i]!, capture)
      }
    }
    for (const setvar of link.setvars) {
      const name = this.#expand(setvar.name).toLowerCase()
      if (setvar.op === 'delete') {
        this.#tx.delete(name)
        continue
      }
      const value = this.#expand(setvar.value)
      if (setvar.op === 'set') this.#tx.set(name, value)
      else {
        const sign = setvar.op === 'add' ? 1 : -1
        this.#tx.set(name, String(toInt(this.#tx.get(name)) + sign * toInt(value)))
      }
    }
    for (const ctl of link.ctls) {
      switch (ctl.kind) {
        case 'removeById':
          this.#removedIds = this.#removedIds.concat(ctl.ranges)
          this.#checkFolds((rule) => rule.id !== 0 && inRanges(rule.id, ctl.ranges))
          break
        case 'removeByTag':
          this.#removedTags.add(ctl.tag)
          this.#checkFolds((rule) => rule.tagSet.has(ctl.tag))
          break
        case 'removeTargetById':
          this.#removedTargets.push({ ranges: ctl.ranges, exclusion: ctl.exclusion })
          // Folded rules read only TX: removing another collection's target cannot change their answers.
          if (ctl.exclusion.collection === 'TX') this.#checkFolds((rule) => rule.id !== 0 && inRanges(rule.id, ctl.ranges))
          break
        case 'removeTargetByTag':
          this.#removedTargets.push({ tag: ctl.tag, exclusion: ctl.exclusion })
          if (ctl.exclusion.collection === 'TX') this.#checkFolds((rule) => rule.tagSet.has(ctl.tag))
          break
        case 'ruleEngine':
          // Detection-only set by the operator stays detection-only.
          if (ctl.mode === 'off') this.#mode = 'off'
          else if (ctl.mode === 'detectiononly' || this.#options.detectionOnly || this.#ruleSet.detectionOnly) this.#mode = 'detectiononly'
          else this.#mode = 'on'
      }
    }
  }

  /** Target exclusions that `ctl:ruleRemoveTarget…` added for this rule earlier in the handshake. */
  #dynamicExclusions(rule: CompiledRule): CompiledExclusion[] | undefined {
    // Allocated on the first exclusion found: once a ctl has removed a target, every later rule comes here.
    let found: CompiledExclusion[] | undefined
    for (const removed of this.#removedTargets) {
      if (removed.ranges ? rule.id !== 0 && inRanges(rule.id, removed.ranges) : rule.tagSet.has(removed.tag!)) (found ??= []).push(removed.exclusion)
    }
    return found
  }

  /** The values a target selects, minus exclusions; a count target yields one value, the count. */
  #select(target: CompiledTarget, dynamic: CompiledExclusion[] | undefined): readonly TargetValue[] {
    // Request collections never change during an evaluation: each distinct target is selected once.
    if (target.cacheId < 0 || dynamic !== undefined) return this.#selectAfresh(target, dynamic)
    return (this.#selected[target.cacheId] ??= this.#selectAfresh(target, undefined))
  }

  #selectAfresh(target: CompiledTarget, dynamic: CompiledExclusion[] | undefined): readonly TargetValue[] {
    const { exclusions } = target
    // TX:name and &TX:name, most of the CRS's bookkeeping rules: one lookup.
    if (target.collection === 'TX' && target.key !== undefined && exclusions.length === 0 && dynamic === undefined) {
      const value = this.#tx.get(target.key)
      if (target.count) return [{ name: target.collection, value: value === undefined ? '0' : '1', variable: target.variable }]
      return value === undefined ? EMPTY_VALUES : [{ name: target.key, value, variable: target.variable }]
    }
    let values: readonly TargetValue[]
    if (target.key !== undefined) values = this.#valuesByKey(target.collection, target.key)
    else if (target.collection === 'TX' && target.keyPattern) {
      // TX:/^header_name_/ (CRS 920450): only the matching names become values, not all ~100 TX variables.
      const found: TargetValue[] = []
      for (const [name, value] of this.#tx) if (target.keyPattern.test(name)) found.push({ name, value, variable: name === 'TX' ? 'TX' : `TX:${name}` })
      values = found
    } else {
      values = this.#values(target.collection)
      if (target.keyPattern) values = values.filter((value) => target.keyPattern!.test(value.name))
    }
    if (values.length && exclusions.length) {
      // A whole request collection minus a (shared) exclusion list is filtered once per evaluation.
      const cacheable = target.key === undefined && !target.keyPattern && !ENGINE_OWNED.has(target.collection)
      let kept = cacheable ? this.#excludedCache.get(exclusions) : undefined
      if (!kept) {
        kept = values.filter((value) => !excluded(target.collection, value, exclusions))
        if (cacheable) this.#excludedCache.set(exclusions, kept)
      }
      values = kept
    }
    if (values.length && dynamic) values = values.filter((value) => !excluded(target.collection, value, dynamic))
    if (target.count) return [{ name: target.collection, value: String(values.length), variable: target.variable }]
    return values
  }

  /**
   * A collection's items with the names they are logged under (`ARGS:q`).
   * Request collections never change during an evaluation and are built
   * once; the engine's own (TX, MATCHED_*) are read afresh.
   */
  #values(collection: string): readonly TargetValue[] {
    const engine = ENGINE_OWNED.has(collection)
    let values = engine ? undefined : this.#valueCache.get(collection)
    if (values === undefined) {
      values = this.#items(collection).map((item) => ({
        name: item.name,
        value: item.value,
        variable: item.name === collection ? collection : `${collection}:${item.name}`,
      }))
      if (!engine) this.#valueCache.set(collection, values)
    }
    return values
  }

  /** Values whose key equals `key` (lower-cased), through a per-handshake index. */
  #valuesByKey(collection: string, key: string): readonly TargetValue[] {
    if (collection === 'TX') {
      const value = this.#tx.get(key)
      return value === undefined ? EMPTY_VALUES : [{ name: key, value, variable: `TX:${key}` }]
    }
    if (ENGINE_OWNED.has(collection)) return this.#values(collection).filter((value) => value.name.toLowerCase() === key)
    let index = this.#index.get(collection)
    if (!index) {
      index = new Map()
      for (const value of this.#values(collection)) {
        const lower = value.name.toLowerCase()
        const list = index.get(lower)
        if (list) list.push(value)
        else index.set(lower, [value])
      }
      this.#index.set(collection, index)
    }
    return index.get(key) ?? EMPTY_VALUES
  }

  /** Every item of a collection, the engine's own included. */
  #items(collection: string): readonly CollectionItem[] {
    switch (collection) {
      case 'TX':
        return [...this.#tx].map(([name, value]) => ({ name, value }))
      case 'MATCHED_VAR':
        return this.#matchedVarName ? [{ name: collection, value: this.#matchedVar }] : EMPTY
      case 'MATCHED_VAR_NAME':
        return this.#matchedVarName ? [{ name: collection, value: this.#matchedVarName }] : EMPTY
      case 'MATCHED_VARS':
        return this.#matchedVars.map((match) => ({ name: match.variable, value: match.value }))
      case 'MATCHED_VARS_NAMES':
        return this.#matchedVars.map((match) => ({ name: match.variable, value: match.variable }))
      case 'UNIQUE_ID':
        return [{ name: collection, value: this.#requestId }]
      case 'DURATION':
        return [{ name: collection, value: String(Math.round((this.#options.now() - this.#started) * 1000)) }]
      default:
        return this.#collections.get(collection) ?? EMPTY
    }
  }

  /**
   * Applies a link's transformation chain to a value, reusing the longest
   * prefix of it another rule already computed for the same value text: the
   * results ride on the text's cache, indexed by prefix id (an array read,
   * not a hash lookup, in the engine's hottest loop). A step whose function
   * already ran on the same input through another chain reuses its output.
   */
  #transform(link: CompiledLink, item: CachedValue): string {
    const { transformations, prefixIds, transformIds } = link
    const count = transformations.length
    if (count === 0) return item.value
    const caches = this.#caches
    const cache = (item.cache ??= caches.of(item.value))
    let start = 0
    let current = item.value
    for (let i = count - 1; i >= 0; i--) {
      const hit = caches.transformed(cache, prefixIds[i]!)
      if (hit !== undefined) {
        if (i === count - 1) return hit
        current = hit
        start = i + 1
        break
      }
    }
    for (let i = start; i < count; i++) {
      const id = transformIds[i]!
      const reused = caches.lastOutput(cache, id, current)
      if (reused !== undefined) current = reused
      else {
        this.#worked = true
        current = caches.setLastOutput(cache, id, current, transformations[i]!(current))
      }
      caches.setTransformed(cache, prefixIds[i]!, current)
    }
    return current
  }

  /** For `multiMatch`: the value before any transformation and after each one (each prefix cached by {@link #transform}). */
  #transformSteps(link: CompiledLink, item: CachedValue): string[] {
    const steps = [item.value]
    if (link.prefixIds.length === 0) return steps
    this.#transform(link, item)
    for (const id of link.prefixIds) steps.push(this.#caches.transformed(item.cache!, id)!)
    return steps
  }

  #expand(template: Template): string {
    return expandTemplate(template, this.#resolve)
  }

  /** The `expand` operators receive; their parameters' macros were compiled with the rules. */
  readonly #expandText = (text: string): string => (text.includes('%{') ? this.#expand(cachedTemplate(text)) : text)

  readonly #resolve = (ref: MacroRef): string => {
    switch (ref.collection) {
      case 'TX':
        return ref.key === undefined ? '' : (this.#tx.get(ref.key) ?? '')
      case 'MATCHED_VAR':
        return this.#matchedVar
      case 'MATCHED_VAR_NAME':
        return this.#matchedVarName
      case 'RULE': {
        const rule = this.#rule
        if (!rule) return ''
        if (ref.key === 'id') return String(rule.id)
        if (ref.key === 'severity') return rule.severity ?? ''
        const text = ref.key === 'msg' ? rule.message : ref.key === 'logdata' ? rule.logdata : undefined
        // A message that names %{rule.msg} itself expands it as empty rather than forever.
        if (text === undefined || this.#resolvingRule) return ''
        this.#resolvingRule = true
        try {
          return this.#expand(text)
        } finally {
          this.#resolvingRule = false
        }
      }
      default: {
        const values = ref.key === undefined ? this.#items(ref.collection) : this.#valuesByKey(ref.collection, ref.key)
        return values[0]?.value ?? ''
      }
    }
  }

  /** The inbound anomaly score as the CRS keeps it (3.x: `anomaly_score`; 4.x: `blocking_inbound_anomaly_score`). */
  #anomalyScore(): number {
    return Math.max(
      toInt(this.#tx.get('anomaly_score')),
      toInt(this.#tx.get('inbound_anomaly_score')),
      toInt(this.#tx.get('blocking_inbound_anomaly_score')),
    )
  }
}

function excluded(collection: string, item: CollectionItem, exclusions: readonly CompiledExclusion[]): boolean {
  // Lower-cased once per item, on the first keyed exclusion, not once per exclusion.
  let lower: string | undefined
  for (const exclusion of exclusions) {
    if (exclusion.collection !== collection) continue
    const named = exclusion.keyPattern ? exclusion.keyPattern.test(item.name) : exclusion.key === undefined || exclusion.key === (lower ??= item.name.toLowerCase())
    // A profile exclusion lets go of a value only when its grammar holds; anything else is inspected as usual.
    if (named && (exclusion.grammar === undefined || exclusion.grammar.test(item.value))) return true
  }
  return false
}

/** ModSecurity's numbers are C `atoi`: leading integer, else 0. */
function toInt(value: string | undefined): number {
  if (value === undefined) return 0
  const number = Number.parseInt(value, 10)
  return Number.isNaN(number) ? 0 : number
}
