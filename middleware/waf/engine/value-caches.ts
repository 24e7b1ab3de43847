/**
 * What the engine works out about each value text that depends on nothing
 * but the text, kept from one evaluation to the next: by
 * transformation-chain prefix id, the transformed text and the prefilter
 * literal set it holds (an offset in the rule set's literal arena); by
 * transformation id, the last input a function ran on and its output
 * (chains that differ only in steps that left a text as it was apply the
 * next function to the same input). One cache per distinct text, shared by
 * every value holding it (`ARGS:q` and `ARGS_GET:q`) and by every later
 * handshake that carries the same text: most of a handshake's texts
 * (User-Agent, Origin, Host, Accept-Language, cookies, paths) recur within
 * a few dozen handshakes, and a recurring text costs one map lookup
 * instead of its transformations and its literal scans.
 *
 * Nothing here depends on TX, macros, matched variables or which request
 * a text came from: transformations and the literal index are pure
 * functions of a text, so a cached answer is the answer.
 *
 * Bounded by entries and by bytes (`DEFAULT_WAF_TEXT_CACHE_*`): every
 * cached string, literal set and entry's slots is counted. Nothing is
 * evicted during an evaluation (the engine holds offsets into the caches
 * of the values it is looking at); at its end {@link ValueCaches.release}
 * drops the texts too long to keep and sweeps a CLOCK hand over the rest
 * until both bounds hold again: an entry looked up since the hand last
 * passed it gets a second chance, so recurring texts stay while one-offs
 * go.
 *
 * All caches live in one array, a fixed stride apart: reads and writes are
 * array accesses, not hash lookups, in the engine's hottest loop.
 *
 * Portable: no `node:` import.
 */
import { LiteralArena } from '../prefilter/literal-index.ts'

/** Caches made room for at first; the array grows by pushing when full. */
const INITIAL_CACHES = 64

/** Bytes counted per slot of an entry (a V8 tagged pointer) and per char of a cached string (UTF-16 at worst). */
const SLOT_BYTES = 8
const CHAR_BYTES = 2

/** The bounds of a {@link ValueCaches}. */
export interface ValueCacheBounds {
  /** Entries (distinct texts) kept between evaluations. */
  maxEntries: number
  /** Bytes kept between evaluations (strings, literal sets, slots). */
  maxBytes: number
  /** Longest text (chars) kept between evaluations. */
  maxText: number
}

/** Counters of a {@link ValueCaches}, for the benchmark and tests. */
export interface ValueCacheStats {
  /** Lookups of a text that had a cache (from this evaluation or an earlier one). */
  hits: number
  /** Lookups that made a new cache. */
  misses: number
  /** Entries held now. */
  entries: number
  /** Bytes counted for them now. */
  bytes: number
  /** Literal sets held now, in the arena. */
  literalSets: number
  /** Operators run on a value (not skipped by the prefilter) by every evaluation so far: what the prefilter and the other skips left to do. */
  operatorRuns: number
}

/** The caches of a rule set's value texts. */
export class ValueCaches {
  readonly #slots: (string | number | undefined)[]
  /** Text → offset of its cache. */
  readonly #byText = new Map<string, number>()
  /** By entry (offset / stride): its text, bytes counted, and CLOCK bit; undefined text for a free entry. */
  readonly #texts: (string | undefined)[] = []
  readonly #charged: number[] = []
  readonly #referenced: boolean[] = []
  /** Entries given back, reused before the array grows. */
  readonly #freeEntries: number[] = []
  /** Scratch list of the sets an eviction freed (an entry holds a few). */
  readonly #freed: number[] = []
  /** Entries whose text is longer than `maxText`: dropped when their evaluation ends. */
  readonly #transient: number[] = []
  readonly #prefixCount: number
  /** Where in a cache the literal sets start (`prefixCount` of them, then the untransformed text's). */
  readonly #literals: number
  /** Where in a cache the last inputs start; the last outputs follow them. */
  readonly #inputs: number
  readonly #outputs: number
  readonly #stride: number
  readonly #bounds: ValueCacheBounds
  #entries = 0
  #bytes = 0
  #hand = 0
  #hits = 0
  #misses = 0
  /** Counted by the engine ({@link ValueCacheStats.operatorRuns}); kept here because these caches travel with the rule set. */
  operatorRuns = 0
  /** The rule set's literal sets, owned by the caches that point at them; undefined without prefilter literals. */
  readonly arena: LiteralArena | undefined

  /**
   * @param prefixCount transformation-chain prefixes in the rule set
   * @param transformCount distinct transformation functions in the rule set
   * @param literalWords words of one literal set, or undefined without prefilter literals
   * @param bounds what may stay between evaluations
   */
  constructor(prefixCount: number, transformCount: number, literalWords: number | undefined, bounds: ValueCacheBounds) {
    this.#prefixCount = prefixCount
    this.#literals = prefixCount
    this.#inputs = this.#literals + prefixCount + 1
    this.#outputs = this.#inputs + transformCount
    this.#stride = this.#outputs + transformCount
    this.#bounds = bounds
    this.#slots = new Array<string | number | undefined>(this.#stride * INITIAL_CACHES).fill(undefined)
    this.arena = literalWords === undefined ? undefined : new LiteralArena(literalWords)
  }

  /** The cache of `text`, made on first use: an offset for the accessors below. */
  of(text: string): number {
    const found = this.#byText.get(text)
    if (found !== undefined) {
      this.#hits++
      this.#referenced[found / this.#stride] = true
      return found
    }
    this.#misses++
    let entry = this.#freeEntries.pop()
    if (entry === undefined) {
      entry = this.#texts.length
      this.#texts.push(undefined)
      this.#charged.push(0)
      this.#referenced.push(false)
      // Grown by pushing, so that the array stays packed (a hole would slow every read).
      const end = (entry + 1) * this.#stride
      while (this.#slots.length < end) this.#slots.push(undefined)
    }
    const cache = entry * this.#stride
    this.#texts[entry] = text
    // A new entry's bit is clear: a text seen once is the first the hand takes.
    this.#referenced[entry] = false
    this.#entries++
    this.#charge(cache, this.#stride * SLOT_BYTES + text.length * CHAR_BYTES)
    if (text.length > this.#bounds.maxText) this.#transient.push(entry)
    this.#byText.set(text, cache)
    return cache
  }

  /** The text after the chain prefix `prefix`, if computed. */
  transformed(cache: number, prefix: number): string | undefined {
    return this.#slots[cache + prefix] as string | undefined
  }

  setTransformed(cache: number, prefix: number, text: string): void {
    this.#slots[cache + prefix] = text
  }

  /** The literal set (arena offset) of the text after prefix `slot` (`prefixCount`: untransformed), if known. */
  literals(cache: number, slot: number): number | undefined {
    return this.#slots[cache + this.#literals + slot] as number | undefined
  }

  /**
   * Records the literal set of prefix `slot`. `owned`: the set was
   * allocated for this cache (freed with it, and counted); otherwise it is
   * one the cache already holds under another slot, or the empty set 0.
   */
  setLiterals(cache: number, slot: number, set: number, owned = false): void {
    this.#slots[cache + this.#literals + slot] = set
    if (owned && set !== 0) this.#charge(cache, this.arena!.words * 4)
  }

  /** The output of transformation `id` when it last ran on `input` in this cache, else undefined. */
  lastOutput(cache: number, id: number, input: string): string | undefined {
    return this.#slots[cache + this.#inputs + id] === input ? (this.#slots[cache + this.#outputs + id] as string) : undefined
  }

  /**
   * Records that transformation `id` turned `input` into `output`, and
   * returns what the caller should keep: `input` itself when the output is
   * equal (so that an equal copy is not held, nor counted twice).
   */
  setLastOutput(cache: number, id: number, input: string, output: string): string {
    const kept = output === input ? input : output
    if (kept !== input) this.#charge(cache, kept.length * CHAR_BYTES)
    this.#slots[cache + this.#inputs + id] = input
    this.#slots[cache + this.#outputs + id] = kept
    return kept
  }

  /** The slot of the untransformed text in {@link literals}. */
  get untransformed(): number {
    return this.#prefixCount
  }

  /** Counters and current size. */
  get stats(): ValueCacheStats {
    return { hits: this.#hits, misses: this.#misses, entries: this.#entries, bytes: this.#bytes, literalSets: this.arena?.live ?? 0, operatorRuns: this.operatorRuns }
  }

  /**
   * Ends an evaluation: drops the caches of texts too long to keep, then
   * evicts (CLOCK) until the entry and byte bounds hold.
   */
  release(): void {
    for (const entry of this.#transient) this.#evict(entry)
    this.#transient.length = 0
    const { maxEntries, maxBytes } = this.#bounds
    const count = this.#texts.length
    while (this.#entries > maxEntries || this.#bytes > maxBytes) {
      const entry = this.#hand
      this.#hand = entry + 1 === count ? 0 : entry + 1
      if (this.#texts[entry] === undefined) continue
      if (this.#referenced[entry]) this.#referenced[entry] = false
      else this.#evict(entry)
    }
  }

  #charge(cache: number, bytes: number): void {
    const entry = cache / this.#stride
    this.#charged[entry] = this.#charged[entry]! + bytes
    this.#bytes += bytes
  }

  /** Frees an entry: its literal sets back to the arena, its slots cleared for the next text. */
  #evict(entry: number): void {
    const text = this.#texts[entry]
    if (text === undefined) return
    const cache = entry * this.#stride
    const arena = this.arena
    if (arena !== undefined) {
      // A set may sit under several slots (a chain shares its last changing prefix's set): freed once.
      const freed = this.#freed
      const first = cache + this.#literals
      const last = first + this.#prefixCount
      for (let at = first; at <= last; at++) {
        const set = this.#slots[at] as number | undefined
        if (set === undefined || set === 0 || freed.includes(set)) continue
        arena.free(set)
        freed.push(set)
      }
      freed.length = 0
    }
    this.#slots.fill(undefined, cache, cache + this.#stride)
    this.#byText.delete(text)
    this.#texts[entry] = undefined
    this.#referenced[entry] = false
    this.#bytes -= this.#charged[entry]!
    this.#charged[entry] = 0
    this.#entries--
    this.#freeEntries.push(entry)
  }
}
