/**
 * What a matched rule does to the transaction besides its verdict:
 * `capture` into TX.0–9, `setvar` (macros expanded, arithmetic as C
 * `atoi`), the `ctl` removals and `ruleEngine`, with what they mean for the
 * rules evaluated later (removed rules, dynamic target exclusions, the
 * constant plan's jumps); macro expansion (`%{tx.x}`, `%{rule.msg}`, a
 * request variable), for actions, messages and operator parameters; and the
 * anomaly score the CRS keeps in TX.
 *
 * Portable: no `node:` import.
 */
import { inRanges } from '../../rules/id-ranges.ts'
import type { CompiledExclusion, CompiledLink, CompiledRule } from '../../rules/rule.ts'
import { cachedTemplate, expandTemplate, type MacroRef, type Template } from '../macros.ts'
import type { ValueSelector } from './select.ts'
import type { TransactionState } from './state.ts'

/** TX.0–TX.9, the names the `capture` action sets (PCRE's groups 0–9, as ModSecurity keeps them). */
const CAPTURE_NAMES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']

/** Runs a link's per-match actions and expands macros against the transaction's state. */
export class TransactionActions {
  readonly #state: TransactionState
  readonly #selector: ValueSelector
  /** Whether `%{rule.msg}`/`%{rule.logdata}` is being expanded (a message naming itself expands it as empty). */
  #resolvingRule = false

  constructor(state: TransactionState, selector: ValueSelector) {
    this.#state = state
    this.#selector = selector
  }

  /** Notes a `ctl` removal that takes away a rule the jumps pass over (or could: a TX target), so the jumps stop. */
  checkFolds(rule: (folded: CompiledRule) => boolean): void {
    if (!this.#state.foldsBroken && this.#state.plan?.jumps !== undefined && this.#state.plan.folded.some(rule)) this.#state.foldsBroken = true
  }

  /** Whether a `ctl:ruleRemoveById`/`ruleRemoveByTag` earlier in this handshake removed the rule. */
  isRemoved(rule: CompiledRule): boolean {
    if (this.#state.removedIds.length && rule.id && inRanges(rule.id, this.#state.removedIds)) return true
    if (this.#state.removedTags.size) for (const tag of rule.tagSet) if (this.#state.removedTags.has(tag)) return true
    return false
  }

  runActions(link: CompiledLink, captures: string[] | null): void {
    if (link.capture && captures) {
      for (let i = 0; i < CAPTURE_NAMES.length; i++) {
        const capture = captures[i]
        if (capture === undefined) this.#state.tx.delete(CAPTURE_NAMES[i]!)
        else this.#state.tx.set(CAPTURE_NAMES[i]!, capture)
      }
    }
    for (const setvar of link.setvars) {
      const name = this.expand(setvar.name).toLowerCase()
      if (setvar.op === 'delete') {
        this.#state.tx.delete(name)
        continue
      }
      const value = this.expand(setvar.value)
      if (setvar.op === 'set') this.#state.tx.set(name, value)
      else {
        const sign = setvar.op === 'add' ? 1 : -1
        this.#state.tx.set(name, String(toInt(this.#state.tx.get(name)) + sign * toInt(value)))
      }
    }
    for (const ctl of link.ctls) {
      switch (ctl.kind) {
        case 'removeById':
          this.#state.removedIds = this.#state.removedIds.concat(ctl.ranges)
          this.checkFolds((rule) => rule.id !== 0 && inRanges(rule.id, ctl.ranges))
          break
        case 'removeByTag':
          this.#state.removedTags.add(ctl.tag)
          this.checkFolds((rule) => rule.tagSet.has(ctl.tag))
          break
        case 'removeTargetById':
          this.#state.removedTargets.push({ ranges: ctl.ranges, exclusion: ctl.exclusion })
          // Folded rules read only TX: removing another collection's target cannot change their answers.
          if (ctl.exclusion.collection === 'TX') this.checkFolds((rule) => rule.id !== 0 && inRanges(rule.id, ctl.ranges))
          break
        case 'removeTargetByTag':
          this.#state.removedTargets.push({ tag: ctl.tag, exclusion: ctl.exclusion })
          if (ctl.exclusion.collection === 'TX') this.checkFolds((rule) => rule.tagSet.has(ctl.tag))
          break
        case 'ruleEngine':
          // Detection-only set by the operator stays detection-only.
          if (ctl.mode === 'off') this.#state.mode = 'off'
          else if (ctl.mode === 'detectiononly' || this.#state.options.detectionOnly || this.#state.ruleSet.detectionOnly) this.#state.mode = 'detectiononly'
          else this.#state.mode = 'on'
      }
    }
  }

  /** Target exclusions that `ctl:ruleRemoveTarget…` added for this rule earlier in the handshake. */
  dynamicExclusions(rule: CompiledRule): CompiledExclusion[] | undefined {
    // Allocated on the first exclusion found: once a ctl has removed a target, every later rule comes here.
    let found: CompiledExclusion[] | undefined
    for (const removed of this.#state.removedTargets) {
      if (removed.ranges ? rule.id !== 0 && inRanges(rule.id, removed.ranges) : rule.tagSet.has(removed.tag!)) (found ??= []).push(removed.exclusion)
    }
    return found
  }

  /** A macro text expanded against the transaction. */
  expand(template: Template): string {
    return expandTemplate(template, this.#resolve)
  }

  /** The `expand` operators receive; their parameters' macros were compiled with the rules. */
  readonly expandText = (text: string): string => (text.includes('%{') ? this.expand(cachedTemplate(text)) : text)

  readonly #resolve = (ref: MacroRef): string => {
    switch (ref.collection) {
      case 'TX':
        return ref.key === undefined ? '' : (this.#state.tx.get(ref.key) ?? '')
      case 'MATCHED_VAR':
        return this.#state.matchedVar
      case 'MATCHED_VAR_NAME':
        return this.#state.matchedVarName
      case 'RULE': {
        const rule = this.#state.rule
        if (!rule) return ''
        if (ref.key === 'id') return String(rule.id)
        if (ref.key === 'severity') return rule.severity ?? ''
        const text = ref.key === 'msg' ? rule.message : ref.key === 'logdata' ? rule.logdata : undefined
        // A message that names %{rule.msg} itself expands it as empty rather than forever.
        if (text === undefined || this.#resolvingRule) return ''
        this.#resolvingRule = true
        try {
          return this.expand(text)
        } finally {
          this.#resolvingRule = false
        }
      }
      default: {
        const values = ref.key === undefined ? this.#selector.items(ref.collection) : this.#selector.valuesByKey(ref.collection, ref.key)
        return values[0]?.value ?? ''
      }
    }
  }

  /** The inbound anomaly score as the CRS keeps it (3.x: `anomaly_score`; 4.x: `blocking_inbound_anomaly_score`). */
  anomalyScore(): number {
    return Math.max(
      toInt(this.#state.tx.get('anomaly_score')),
      toInt(this.#state.tx.get('inbound_anomaly_score')),
      toInt(this.#state.tx.get('blocking_inbound_anomaly_score')),
    )
  }
}

/** ModSecurity's numbers are C `atoi`: leading integer, else 0. */
function toInt(value: string | undefined): number {
  if (value === undefined) return 0
  const number = Number.parseInt(value, 10)
  return Number.isNaN(number) ? 0 : number
}
