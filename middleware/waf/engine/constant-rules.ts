/**
 * Which rules do the same thing on every handshake. A rule set like the
 * CRS spends a third of its rules on bookkeeping that reads nothing of the
 * request: REQUEST-901 gives TX its defaults (`&TX:paranoia_level "@eq 0"`
 * → `setvar`), and every rule file opens with paranoia-level gates
 * (`TX:DETECTION_PARANOIA_LEVEL "@lt 2"` → `skipAfter`) whose answer only
 * depends on values nothing later changes. The engine runs the leading
 * rules of that kind once, keeps the state they leave (`engine.ts`), and
 * jumps over the gates with their known answers; this module says which
 * rules qualify, from the compiled rules alone.
 *
 * Conservative by construction: a rule qualifies only when every value it
 * reads is the transaction's own (TX, MATCHED_*), never the request's, the
 * clock's or `UNIQUE_ID`; a gate is folded only when no rule that can run
 * after the snapshot may write a TX key it reads (a `setvar` whose name
 * starts with a macro may write any).
 *
 * Portable: no `node:` import.
 */
import { templateRefs, type MacroRef, type Template } from './macros.ts'
import type { CompiledExclusion, CompiledLink, CompiledRule } from '../rules/rule.ts'
import type { RuleMatch } from '../types.ts'

/** What the transaction keeps itself: the same on every handshake as long as the rules that wrote it read nothing else. */
const TRANSACTION_ONLY: ReadonlySet<string> = new Set(['TX', 'MATCHED_VAR', 'MATCHED_VAR_NAME', 'MATCHED_VARS', 'MATCHED_VARS_NAMES'])

/** The capture action's keys (TX.0–TX.9). */
const CAPTURE_KEYS: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']

function transactionRef(ref: MacroRef): boolean {
  return TRANSACTION_ONLY.has(ref.collection) || ref.collection === 'RULE'
}

function refsOnlyTransaction(template: Template | undefined): boolean {
  return template === undefined || templateRefs(template).every(transactionRef)
}

/**
 * Whether a rule reads nothing but the transaction's own values (targets,
 * macros in its operator, `setvar`s, message and logdata): run at the same
 * point of any evaluation, it does the same thing.
 */
export function readsOnlyTransaction(rule: CompiledRule): boolean {
  if (rule.custom) return false
  if (!refsOnlyTransaction(rule.message) || !refsOnlyTransaction(rule.logdata)) return false
  return rule.links.every(
    (link) =>
      link.targets.every((target) => TRANSACTION_ONLY.has(target.collection)) &&
      (link.paramRefs ?? []).every(transactionRef) &&
      link.setvars.every((setvar) => refsOnlyTransaction(setvar.name) && refsOnlyTransaction(setvar.value)),
  )
}

/** The TX keys some rules may write: exact keys, key prefixes (`header_name_%{tx.0}`), or any. */
export class TxWrites {
  readonly #keys = new Set<string>()
  readonly #prefixes: string[] = []
  #any = false

  /** Everything `rules` may write to TX when they run. */
  constructor(rules: Iterable<CompiledRule>) {
    for (const rule of rules) for (const link of rule.links) this.#addLink(link)
  }

  #addLink(link: CompiledLink): void {
    if (link.capture) for (const key of CAPTURE_KEYS) this.#keys.add(key)
    for (const { name } of link.setvars) {
      // The engine lower-cases the expanded name: a literal head is a prefix of every name it can make.
      if (typeof name === 'string') this.#keys.add(name.toLowerCase())
      else if (typeof name[0] === 'string') this.#prefixes.push(name[0].toLowerCase())
      else this.#any = true
    }
  }

  /** Whether the rules may write TX key `key` (lower-cased). */
  mayWrite(key: string): boolean {
    return this.#any || this.#keys.has(key) || this.#prefixes.some((prefix) => key.startsWith(prefix))
  }
}

/**
 * Whether a rule's answer is fixed once the TX keys it reads can no longer
 * change: every link reads keyed TX values (`TX:name`, `&TX:name`) that no
 * later rule may write, with no exclusions, an operator whose macros are
 * such keys too, and no action but flow (`skip`, `skipAfter`): no `setvar`,
 * `ctl` or `capture`. The engine then works its answer out once.
 */
export function foldable(rule: CompiledRule, later: TxWrites): boolean {
  if (rule.custom || rule.links.length === 0) return false
  const constantKey = (key: string | undefined): boolean => key !== undefined && !later.mayWrite(key)
  return rule.links.every(
    (link) =>
      link.operator !== undefined &&
      link.setvars.length === 0 &&
      link.ctls.length === 0 &&
      !link.capture &&
      link.targets.length > 0 &&
      link.targets.every((target) => target.collection === 'TX' && !target.keyPattern && target.exclusions.length === 0 && constantKey(target.key)) &&
      (link.paramRefs ?? []).every((ref) => ref.collection === 'TX' && constantKey(ref.key)),
  )
}

/** A `ctl:ruleRemoveTarget…` in force: which rules (by id ranges or tag) no longer read which target. */
export interface RemovedTarget {
  ranges?: readonly [number, number][]
  tag?: string
  exclusion: CompiledExclusion
}

/**
 * What every evaluation of a rule set starts from: the state its leading
 * rules that read only the transaction leave (run once, by the engine), and
 * the jumps over the later rules whose answers are fixed.
 */
export interface ConstantPlan {
  /** The first rule to run, which reads the request: its phase (an index into `RuleSet.phases`; their count when no rule is left) and index. */
  phase: number
  index: number
  /** The leading rules ended the evaluation (`deny`, `allow`, `ctl:ruleEngine=Off`): nothing is left to run. */
  done: boolean
  tx: ReadonlyMap<string, string>
  matches: readonly RuleMatch[]
  matchedVar: string
  matchedVarName: string
  mode: 'on' | 'off' | 'detectiononly'
  blocked: boolean
  wouldBlock: boolean
  blockedBy: number | undefined
  removedIds: readonly [number, number][]
  removedTags: readonly string[]
  removedTargets: readonly RemovedTarget[]
  /**
   * Per phase and rule, where a folded rule sends the evaluation (past the
   * folded rules it leads to), or -1 for a rule that runs; undefined when
   * nothing is folded. Only valid while no `ctl` has removed one of
   * {@link folded} or a TX target and the engine mode is `mode`: such a
   * removal could take a gate away.
   */
  jumps: readonly Int32Array[] | undefined
  /**
   * The rules the jumps pass over (each reads only TX): a `ctl` that removes
   * none of them and no TX target leaves the jumps valid, so an exclusion
   * decided per request (the handshake profile's, a user's) does not cost
   * every later paranoia gate its jump.
   */
  folded: readonly CompiledRule[]
  /** Per phase and rule with a jump: MATCHED_VAR and its name as the rules jumped over leave them, when one of them matched a value. */
  hits: readonly (readonly (readonly [value: string, name: string] | undefined)[])[] | undefined
}
