/**
 * What an evaluation works out about each value text, kept for the rest of
 * the evaluation: by transformation-chain prefix id, the transformed text
 * and the prefilter literal set it holds (an offset in the literal arena);
 * by transformation id, the last input a function ran on and its output
 * (chains that differ only in steps that left a text as it was apply the
 * next function to the same input). One cache per distinct text, shared by
 * every value holding it (`ARGS:q` and `ARGS_GET:q`).
 *
 * All caches live in one array, a fixed stride apart, and the array is
 * cleared and reused by the next evaluation: a CRS evaluation keeps ~40
 * texts, and allocating four arrays for each cost more than the lookups
 * they save. Reads and writes are array accesses, not hash lookups, in the
 * engine's hottest loop.
 *
 * Portable: no `node:` import.
 */

/** Caches made room for at first; the array doubles when full. */
const INITIAL_CACHES = 64

/** The caches of one evaluation's value texts. */
export class ValueCaches {
  readonly #slots: (string | number | undefined)[]
  readonly #byText = new Map<string, number>()
  readonly #prefixCount: number
  /** Where in a cache the literal sets start (`prefixCount` of them, then the untransformed text's). */
  readonly #literals: number
  /** Where in a cache the last inputs start; the last outputs follow them. */
  readonly #inputs: number
  readonly #outputs: number
  readonly #stride: number
  #used = 0

  /**
   * @param prefixCount transformation-chain prefixes in the rule set
   * @param transformCount distinct transformation functions in the rule set
   */
  constructor(prefixCount: number, transformCount: number) {
    this.#prefixCount = prefixCount
    this.#literals = prefixCount
    this.#inputs = this.#literals + prefixCount + 1
    this.#outputs = this.#inputs + transformCount
    this.#stride = this.#outputs + transformCount
    this.#slots = new Array<string | number | undefined>(this.#stride * INITIAL_CACHES).fill(undefined)
  }

  /** The cache of `text`, made on first use: an offset for the accessors below. */
  of(text: string): number {
    let cache = this.#byText.get(text)
    if (cache === undefined) {
      cache = this.#used
      this.#used += this.#stride
      // Grown by pushing, so that the array stays packed (a hole would slow every read).
      while (this.#slots.length < this.#used) this.#slots.push(undefined)
      this.#byText.set(text, cache)
    }
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

  setLiterals(cache: number, slot: number, set: number): void {
    this.#slots[cache + this.#literals + slot] = set
  }

  /** The output of transformation `id` when it last ran on `input` in this cache, else undefined. */
  lastOutput(cache: number, id: number, input: string): string | undefined {
    return this.#slots[cache + this.#inputs + id] === input ? (this.#slots[cache + this.#outputs + id] as string) : undefined
  }

  setLastOutput(cache: number, id: number, input: string, output: string): void {
    this.#slots[cache + this.#inputs + id] = input
    this.#slots[cache + this.#outputs + id] = output
  }

  /** The slot of the untransformed text in {@link literals}. */
  get untransformed(): number {
    return this.#prefixCount
  }

  /** Empties every cache, for the next evaluation. */
  reset(): void {
    this.#slots.fill(undefined, 0, this.#used)
    this.#used = 0
    this.#byText.clear()
  }
}
