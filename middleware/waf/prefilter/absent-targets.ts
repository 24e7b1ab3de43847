/**
 * Which rules a handshake cannot match because it has none of the values
 * they read. A link matches only through a value its targets select (a
 * negated operator too: `!@rx` accepts a value the regex rejects, but it
 * needs a value), so a rule whose first link reads only request
 * collections that are empty in this handshake matches nothing, runs no
 * action and changes nothing: the engine steps over it without touching
 * its links. On an ordinary WebSocket handshake (no query string, no
 * cookies, never a body) that is about 60 of the ~150 rules the CRS at
 * paranoia 1 gets to: most of 921–944 read only
 * `REQUEST_COOKIES|REQUEST_COOKIES_NAMES|ARGS_NAMES|ARGS|XML:/*`.
 *
 * Only the first link decides: a later link runs after the first one's
 * per-match actions (`setvar`), which must happen even when the chain then
 * fails. A count (`&ARGS`) always yields a value, and the engine's own
 * collections (TX, MATCHED_*, UNIQUE_ID, DURATION) are not the request's:
 * a link reading any of them is never stepped over.
 *
 * Planned once per rule set: each request collection some first link reads
 * gets a bit, each rule the bits of its first link (0: never stepped over);
 * an evaluation ORs the bits of its non-empty collections once and steps
 * over a rule whose bits share none with them.
 *
 * Portable: no `node:` import.
 */
import type { CompiledRule, RuleSet } from '../rules/rule.ts'
import type { RequestCollections } from '../types.ts'

/** Collections the engine answers itself rather than from the request's (see `engine/transaction/select.ts` `items`). */
const ENGINE_COLLECTIONS: ReadonlySet<string> = new Set(['TX', 'MATCHED_VAR', 'MATCHED_VAR_NAME', 'MATCHED_VARS', 'MATCHED_VARS_NAMES', 'UNIQUE_ID', 'DURATION'])

/** Bits of an int32 mask given to collections; a rule reading a collection past them is never stepped over. */
const MAX_BITS = 31

/** A rule set's plan: the collections with a bit, and per phase, per rule, the bits its first link reads. */
export interface AbsentPlan {
  /** Collection names by bit. */
  readonly names: readonly string[]
  /** Per phase, per rule: the bits of the collections its first link reads, or 0 when it must always run. */
  readonly reads: readonly Int32Array[]
}

const plans = new WeakMap<RuleSet, AbsentPlan>()

/** The {@link AbsentPlan} of `ruleSet`, made on first use. */
export function absentPlan(ruleSet: RuleSet): AbsentPlan {
  let plan = plans.get(ruleSet)
  if (plan === undefined) plans.set(ruleSet, (plan = makePlan(ruleSet)))
  return plan
}

function makePlan(ruleSet: RuleSet): AbsentPlan {
  const bits = new Map<string, number>()
  const bitOf = (collection: string): number => {
    let bit = bits.get(collection)
    if (bit === undefined) {
      if (bits.size === MAX_BITS) return 0
      bits.set(collection, (bit = 1 << bits.size))
    }
    return bit
  }
  const reads = ruleSet.phases.map((rules) => Int32Array.from(rules, (rule) => firstLinkReads(rule, bitOf)))
  return { names: [...bits.keys()], reads }
}

/** The bits of the request collections the rule's first link reads; 0 when it reads anything else or always matches. */
function firstLinkReads(rule: CompiledRule, bitOf: (collection: string) => number): number {
  const link = rule.links[0]
  if (rule.custom !== undefined || link === undefined || link.operator === undefined || link.targets.length === 0) return 0
  let mask = 0
  for (const target of link.targets) {
    if (target.count || ENGINE_COLLECTIONS.has(target.collection)) return 0
    const bit = bitOf(target.collection)
    if (bit === 0) return 0
    mask |= bit
  }
  return mask
}

/** The bits of the plan's collections that hold at least one item in `collections`. */
export function presentCollections(plan: AbsentPlan, collections: RequestCollections): number {
  let mask = 0
  for (let bit = 0; bit < plan.names.length; bit++) if ((collections.get(plan.names[bit]!)?.length ?? 0) > 0) mask |= 1 << bit
  return mask
}
