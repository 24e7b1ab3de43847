/**
 * Which prefilter checks can be made once per target instead of once per
 * value. Many CRS rules read the same target through the same
 * transformation chain (the ~60 rules of 932–944 all read
 * `ARGS|REQUEST_COOKIES|…` after `t:urlDecodeUni`…): an evaluation can OR
 * the literal sets of the target's transformed values together once, and a
 * rule whose literals are all absent from that union skips the target
 * without looking at a single value (on a benign handshake, nearly always).
 *
 * Planned once at compile time: a union per (target, chain) that at least
 * two prefiltered links share, over only the words of the literal sets
 * those links test (a few of the index's ~50), so that building it costs
 * little more than one link's own checks.
 *
 * Portable: no `node:` import.
 */
import type { CompiledRule } from '../rules/rule.ts'

/** A union's plan: the words of the literal sets it ORs. */
export type UnionWords = Int32Array

/**
 * Sets `unionIds` on every prefiltered link (not negated, not
 * `multiMatch`), one per target: the id of the union it can check first,
 * or -1. Returns the words of each union, by id.
 */
export function planTargetUnions(phases: readonly (readonly CompiledRule[])[], prefixCount: number): UnionWords[] {
  const groups = new Map<string, { words: Set<number>; links: number }>()
  const keyOf = (cacheId: number, prefixIds: readonly number[]): string => `${cacheId}/${prefixIds.length === 0 ? prefixCount : prefixIds.at(-1)}`
  const prefiltered = phases.flatMap((rules) => rules.flatMap((rule) => rule.links)).filter((link) => link.factorIds !== undefined && !link.negated && !link.multiMatch)
  for (const link of prefiltered) {
    for (const target of link.targets) {
      if (target.cacheId < 0) continue
      const key = keyOf(target.cacheId, link.prefixIds)
      let group = groups.get(key)
      if (!group) groups.set(key, (group = { words: new Set(), links: 0 }))
      group.links++
      for (let i = 0; i < link.factorIds!.length; i += 2) group.words.add(link.factorIds![i]!)
    }
  }
  const ids = new Map<string, number>()
  const unions: UnionWords[] = []
  for (const [key, group] of groups) {
    // A target and chain only one link reads gains nothing from a union: its values are checked once either way.
    if (group.links < 2) continue
    ids.set(key, unions.length)
    unions.push(Int32Array.from([...group.words].sort((a, b) => a - b)))
  }
  for (const link of prefiltered) {
    link.unionIds = Int32Array.from(link.targets, (target) => (target.cacheId < 0 ? -1 : (ids.get(keyOf(target.cacheId, link.prefixIds)) ?? -1)))
  }
  return unions
}
