/**
 * Selecting a target's values in one evaluation: request collections are
 * read once (their values with the names they are logged under, and an
 * index by lower-cased key on first keyed access), a whole collection minus
 * a shared exclusion list is filtered once, and each distinct target
 * (`CompiledTarget.cacheId`) is selected once; the engine's own collections
 * (TX, MATCHED_*, UNIQUE_ID, DURATION) are read afresh from the
 * {@link TransactionState}.
 *
 * Portable: no `node:` import.
 */
import type { CompiledExclusion, CompiledTarget, TargetValue } from '../../rules/rule.ts'
import type { CollectionItem } from '../../types.ts'
import { EMPTY_VALUES, type TransactionState } from './state.ts'

const EMPTY: readonly CollectionItem[] = []

/** Collections the engine keeps and changes during an evaluation: never cached. */
const ENGINE_OWNED: ReadonlySet<string> = new Set(['TX', 'MATCHED_VAR', 'MATCHED_VAR_NAME', 'MATCHED_VARS', 'MATCHED_VARS_NAMES', 'DURATION'])

/** The values targets select in one evaluation, each selection made once where the collections cannot change. */
export class ValueSelector {
  readonly #state: TransactionState
  /** Per request collection, its values with their logged names, built on first access. */
  readonly #valueCache = new Map<string, TargetValue[]>()
  /** A request collection's values minus one of the rule set's shared exclusion lists. */
  readonly #excludedCache = new Map<readonly CompiledExclusion[], readonly TargetValue[]>()
  /** Per request collection, values by lower-cased key, built on first keyed access. */
  readonly #index = new Map<string, Map<string, TargetValue[]>>()
  /** Per cacheable target (`CompiledTarget.cacheId`), the values it selects, on first use. */
  readonly #selected: (readonly TargetValue[] | undefined)[]

  constructor(state: TransactionState) {
    this.#state = state
    this.#selected = new Array<readonly TargetValue[] | undefined>(state.ruleSet.targetCount).fill(undefined)
  }

  /** The values a target selects, minus exclusions; a count target yields one value, the count. */
  select(target: CompiledTarget, dynamic: CompiledExclusion[] | undefined): readonly TargetValue[] {
    // Request collections never change during an evaluation: each distinct target is selected once.
    if (target.cacheId < 0 || dynamic !== undefined) return this.#selectAfresh(target, dynamic)
    return (this.#selected[target.cacheId] ??= this.#selectAfresh(target, undefined))
  }

  #selectAfresh(target: CompiledTarget, dynamic: CompiledExclusion[] | undefined): readonly TargetValue[] {
    const { exclusions } = target
    // TX:name and &TX:name, most of the CRS's bookkeeping rules: one lookup.
    if (target.collection === 'TX' && target.key !== undefined && exclusions.length === 0 && dynamic === undefined) {
      const value = this.#state.tx.get(target.key)
      if (target.count) return [{ name: target.collection, value: value === undefined ? '0' : '1', variable: target.variable }]
      return value === undefined ? EMPTY_VALUES : [{ name: target.key, value, variable: target.variable }]
    }
    let values: readonly TargetValue[]
    if (target.key !== undefined) values = this.valuesByKey(target.collection, target.key)
    else if (target.collection === 'TX' && target.keyPattern) {
      // TX:/^header_name_/ (CRS 920450): only the matching names become values, not all ~100 TX variables.
      const found: TargetValue[] = []
      for (const [name, value] of this.#state.tx) if (target.keyPattern.test(name)) found.push({ name, value, variable: name === 'TX' ? 'TX' : `TX:${name}` })
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
      values = this.items(collection).map((item) => ({
        name: item.name,
        value: item.value,
        variable: item.name === collection ? collection : `${collection}:${item.name}`,
      }))
      if (!engine) this.#valueCache.set(collection, values)
    }
    return values
  }

  /** Values whose key equals `key` (lower-cased), through a per-handshake index. */
  valuesByKey(collection: string, key: string): readonly TargetValue[] {
    if (collection === 'TX') {
      const value = this.#state.tx.get(key)
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
  items(collection: string): readonly CollectionItem[] {
    switch (collection) {
      case 'TX':
        return [...this.#state.tx].map(([name, value]) => ({ name, value }))
      case 'MATCHED_VAR':
        return this.#state.matchedVarName ? [{ name: collection, value: this.#state.matchedVar }] : EMPTY
      case 'MATCHED_VAR_NAME':
        return this.#state.matchedVarName ? [{ name: collection, value: this.#state.matchedVarName }] : EMPTY
      case 'MATCHED_VARS':
        return this.#state.matchedVars.map((match) => ({ name: match.variable, value: match.value }))
      case 'MATCHED_VARS_NAMES':
        return this.#state.matchedVars.map((match) => ({ name: match.variable, value: match.variable }))
      case 'UNIQUE_ID':
        return [{ name: collection, value: this.#state.requestId }]
      case 'DURATION':
        return [{ name: collection, value: String(Math.round((this.#state.options.now() - this.#state.started) * 1000)) }]
      default:
        return this.#state.collections.get(collection) ?? EMPTY
    }
  }
}

/** Whether one of `exclusions` (on `collection`) lets go of `item`. */
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
