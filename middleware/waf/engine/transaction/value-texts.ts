/**
 * A value's texts in one evaluation: its transformed forms (by chain
 * prefix, a step whose function already ran on the same input reused) and
 * the prefilter literal sets they hold (`literal-index.ts`), both riding on
 * the value text's cache (`value-caches.ts`), and the unions of a target's
 * sets (`target-unions.ts`). The caches are the rule set's: taken at the
 * start of an evaluation, given back trimmed at its end, so a text an
 * earlier handshake carried is not transformed or scanned again.
 *
 * Portable: no `node:` import.
 */
import { DEFAULT_WAF_TEXT_CACHE_BYTES, DEFAULT_WAF_TEXT_CACHE_ENTRIES, DEFAULT_WAF_TEXT_CACHE_MAX_TEXT } from '../../../../src/defaults.ts'
import { containsAny, type LiteralArena, type LiteralMask } from '../../prefilter/literal-index.ts'
import { textHazards } from '../../prefilter/plain-texts.ts'
import type { CompiledLink, CompiledTarget, RuleSet, TargetValue } from '../../rules/rule.ts'
import { ValueCaches, type ValueCacheBounds, type ValueCacheStats } from '../value-caches.ts'
import type { ValueSelector } from './select.ts'
import type { TransactionState } from './state.ts'

/** A value with the offset of its text's cache (`value-caches.ts`) and its text's hazards (`plain-texts.ts`), attached on first use. */
export type CachedValue = TargetValue & { cache?: number; hazards?: number }

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

/** Transforms values and finds the literals they hold, through the rule set's value caches. */
export class ValueTexts {
  readonly #state: TransactionState
  readonly #selector: ValueSelector
  /** Per value text, its transformations and literal sets, kept across evaluations. */
  readonly #caches: ValueCaches
  /** Where the literal sets live (offsets into it are what the caches hold); undefined without prefilter literals. */
  readonly #arena: LiteralArena | undefined
  /** Per union (`CompiledLink.unionIds`), its literal set in the arena, -1 until built. */
  readonly #unions: number[]
  /** Sets this evaluation allocated for itself (unions of several values' sets), freed at its end. */
  readonly #ownSets: number[] = []

  constructor(state: TransactionState, selector: ValueSelector) {
    const { ruleSet } = state
    this.#state = state
    this.#selector = selector
    this.#unions = new Array<number>(ruleSet.unionWords.length).fill(-1)
    this.#caches = idleCaches.get(ruleSet) ?? new ValueCaches(ruleSet.prefixCount, ruleSet.transformCount, ruleSet.literals?.words, TEXT_CACHE_BOUNDS)
    idleCaches.delete(ruleSet)
    this.#arena = this.#caches.arena
  }

  /** Counts an operator run on a value (`ValueCacheStats.operatorRuns`). */
  countOperatorRun(): void {
    this.#caches.operatorRuns++
  }

  /** Frees this evaluation's own sets and gives the caches back to the rule set, trimmed to their bounds. */
  release(): void {
    for (const set of this.#ownSets) this.#arena!.free(set)
    this.#ownSets.length = 0
    this.#caches.release()
    idleCaches.set(this.#state.ruleSet, this.#caches)
  }

  /**
   * Applies a link's transformation chain to a value, reusing the longest
   * prefix of it another rule already computed for the same value text: the
   * results ride on the text's cache, indexed by prefix id (an array read,
   * not a hash lookup, in the engine's hottest loop). A step whose function
   * already ran on the same input through another chain reuses its output.
   */
  transform(link: CompiledLink, item: CachedValue): string {
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
        this.#state.worked = true
        current = caches.setLastOutput(cache, id, current, transformations[i]!(current))
      }
      caches.setTransformed(cache, prefixIds[i]!, current)
    }
    return current
  }

  /** For `multiMatch`: the value before any transformation and after each one (each prefix cached by {@link transform}). */
  transformSteps(link: CompiledLink, item: CachedValue): string[] {
    const steps = [item.value]
    if (link.prefixIds.length === 0) return steps
    this.transform(link, item)
    for (const id of link.prefixIds) steps.push(this.#caches.transformed(item.cache!, id)!)
    return steps
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
  plainHolds(link: CompiledLink, item: CachedValue, factorIds: LiteralMask): boolean | undefined {
    return this.#plain(link, item) ? containsAny(this.#arena!.bits, this.#literalsOf(link, item), factorIds) : undefined
  }

  /** Whether the link's transformed value of `item` holds one of `factorIds` (see {@link #literalsOf}). */
  holdsFactor(link: CompiledLink, item: CachedValue, factorIds: LiteralMask): boolean {
    return containsAny(this.#arena!.bits, this.#literalsOf(link, item), factorIds)
  }

  /**
   * Whether the union `unionId` of the literal sets of `target`'s values,
   * transformed by the link's chain, holds one of `factorIds`; the union is
   * built on first use, over its planned words only.
   */
  unionHolds(link: CompiledLink, target: CompiledTarget, unionId: number, factorIds: LiteralMask): boolean {
    const arena = this.#arena!
    let union = this.#unions[unionId]!
    // A union already found empty (most of a benign handshake's): no literal to look for.
    if (union === 0) return false
    if (union < 0) {
      const values = this.#selector.select(target, undefined)
      const sets: number[] = []
      for (let v = 0; v < values.length; v++) {
        const item = values[v]! as CachedValue
        // A plain text's set is its untransformed one: no need to transform it.
        if (!this.#plain(link, item)) this.transform(link, item)
        const set = this.#literalsOf(link, item)
        if (set !== 0) sets.push(set)
      }
      // One value with literals is its own union; several are ORed into a new set (after the scans, which may grow the arena).
      if (sets.length <= 1) union = sets[0] ?? 0
      else {
        union = arena.allocate()
        this.#ownSets.push(union)
        const { bits } = arena
        const words = this.#state.ruleSet.unionWords[unionId]!
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
   * chain's prefixes, which {@link transform} has cached: the set is that
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
    this.#state.worked = true
    const arena = this.#arena!
    const set = arena.allocate()
    if (this.#state.ruleSet.literals!.scan(text, arena.bits, set)) return set
    arena.free(set)
    return 0
  }

  /** Whether `item`'s text after the chain's steps up to `step` (-1: untransformed) holds one of `factorIds`: for `multiMatch`, step by step. */
  stepHolds(link: CompiledLink, item: CachedValue, step: number, factorIds: LiteralMask): boolean {
    return containsAny(this.#arena!.bits, this.#literalsOf(link, item, step), factorIds)
  }
}
