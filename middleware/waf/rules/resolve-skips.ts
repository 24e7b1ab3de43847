/**
 * The last step of compiling a phase: its list of rules and `SecMarker`s
 * becomes the rule list the engine runs, with `skipAfter` resolved to
 * indexes into it, each target given its collection's exclusions (equal
 * lists shared as one object) and, on a request collection, the cache id it
 * shares with every equal target.
 *
 * Portable: no `node:` import.
 */
import { internId } from './compile-link.ts'
import type { CompiledExclusion, CompiledRule } from './rule.ts'
import { ENGINE_VARIABLES } from './variable-sets.ts'

/** Entries of a phase list before skip targets are resolved. */
export type PhaseEntry = CompiledRule | { marker: string }

/**
 * Turns a phase list with markers into a rule list whose `skipTo` indexes
 * point into it; gives each target its exclusions and, on a request
 * collection, the cache id it shares with every equal target.
 */
export function resolveSkips(entries: PhaseEntry[], shared: Map<string, CompiledExclusion[]>, targetIds: Map<string, number>): CompiledRule[] {
  const rules: CompiledRule[] = []
  for (const entry of entries) {
    if ('marker' in entry) continue
    for (const link of entry.links) {
      for (const target of link.targets) {
        // Each target keeps only the exclusions of its own collection (ARGS values are not checked
        // against !REQUEST_COOKIES:…), and equal lists are one object, so that an evaluation
        // filters a collection once per distinct list (the CRS repeats !REQUEST_COOKIES:/__utm/ ~100 times).
        const own = link.exclusions.filter((exclusion) => exclusion.collection === target.collection)
        const signature = own.map(selectionSignature).join('|')
        let list = shared.get(signature)
        if (!list) shared.set(signature, (list = own))
        target.exclusions = list
        if (ENGINE_VARIABLES.has(target.collection)) continue
        // The CRS's ~500 rules name ~60 distinct targets: an evaluation selects each once.
        const key = `${selectionSignature(target)}${target.count ? '&' : ''}|${signature}`
        target.cacheId = internId(targetIds, key)
      }
    }
  }
  const markerAt = new Map<string, number[]>()
  const idAt = new Map<number, number>()
  for (const entry of entries) {
    if ('marker' in entry) {
      const at = markerAt.get(entry.marker) ?? []
      at.push(rules.length)
      markerAt.set(entry.marker, at)
    } else {
      if (entry.id) idAt.set(entry.id, rules.length)
      rules.push(entry)
    }
  }
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!
    if (rule.skipAfter === undefined) continue
    // The first occurrence of the marker after the rule; a rule id also works as a target (ModSecurity allows both).
    const marker = markerAt.get(rule.skipAfter)?.find((at) => at > i)
    const byId = idAt.get(Number(rule.skipAfter))
    rule.skipTo = marker ?? (byId !== undefined && byId > i ? byId + 1 : rules.length)
  }
  return rules
}

/** A selection as text: equal texts select the same items. */
function selectionSignature(selection: CompiledExclusion): string {
  return JSON.stringify([selection.collection, selection.key ?? null, selection.keyPattern?.source ?? null, selection.keyPattern?.flags ?? null, ...(selection.grammar ? [selection.grammar.source, selection.grammar.flags] : [])])
}
