/**
 * The jumps of a rule set's {@link ConstantPlan} (`constant-rules.ts`):
 * once the leading rules that read only the transaction have run, every
 * later rule whose answer that state fixes ({@link foldable}: paranoia-level
 * gates) is answered once, and the rules it leads past are chained into one
 * jump per rule, with the MATCHED_VAR the jump leaves.
 *
 * Portable: no `node:` import.
 */
import type { CompiledRule } from '../../rules/rule.ts'
import { foldable, TxWrites, type ConstantPlan } from '../constant-rules.ts'

/** A fixed rule's answer: whether it matched, and the MATCHED_VAR it leaves if it matched a value. */
export interface FoldOutcome {
  matched: boolean
  hit: readonly [string, string] | undefined
}

/**
 * The jumps over the rules from (`phase`, `index`) on whose answers the
 * current state fixes: `fold` gives a rule's answer in that state, leaving
 * the state as it was.
 */
export function planJumps(
  phases: readonly (readonly CompiledRule[])[],
  phase: number,
  index: number,
  fold: (rule: CompiledRule) => FoldOutcome | undefined,
): { jumps: Int32Array[]; hits: (readonly [string, string] | undefined)[][] } {
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
      const outcome = fold(rule)
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
