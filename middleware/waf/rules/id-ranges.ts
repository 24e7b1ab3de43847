/**
 * Rule id ranges, as `SecRuleRemoveById`, `SecRuleUpdateTargetById` and
 * `ctl:ruleRemoveById` write them (`920000-920999 920180`): read once at
 * compile time, tested by the compiler and, for `ctl` removals, by the
 * engine on each rule.
 *
 * Portable: no `node:` import.
 */

/** `920000-920999` → [[920000, 920999]]; `920180` → [[920180, 920180]]. */
export function parseIdRanges(text: string): [number, number][] {
  const ranges: [number, number][] = []
  for (const word of text.split(/[\s,]+/)) {
    if (!word) continue
    const [from, to = from] = word.split('-').map(Number)
    if (Number.isFinite(from) && Number.isFinite(to)) ranges.push([from!, to!])
  }
  return ranges
}

/** Whether `id` falls in one of `ranges` (both ends included). */
export function inRanges(id: number, ranges: readonly [number, number][]): boolean {
  for (const [from, to] of ranges) if (id >= from && id <= to) return true
  return false
}
