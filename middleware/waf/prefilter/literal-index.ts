/**
 * Which of many literals a value contains, found in one pass: the engine's
 * prefilter. Operators that know literals of which every value they match
 * contains one (`@rx` through `regex-factors.ts`, `@pm` through its
 * phrases) declare them as `factors`; the compiler registers them all here;
 * during an evaluation each distinct value text is scanned once, and an
 * operator whose literals are all absent from a value is not run on it.
 *
 * An Aho–Corasick automaton turned into a full DFA over ASCII-folded bytes,
 * its alphabet reduced to the bytes the literals use (every other byte, and
 * any char above 0xFF, leads back to the start), its states numbered so
 * that those where a literal ends come last: one table read and one
 * comparison per input char. To keep the table small (it is read for every
 * byte of every value), the compiler registers each factor as a short
 * representative ({@link representative}): a value containing the factor
 * contains every piece of it.
 *
 * Portable: no `node:` import.
 */
import { expectedCount } from './literal-rates.ts'

/**
 * Sets of literal ids, one bit each, kept side by side in one typed array
 * (allocating a typed array per set cost more than scanning): a set is the
 * offset of its {@link LiteralIndex.words} words, id `n` being bit
 * `n & 31` of word `n >>> 5`. Offset 0 is the empty set. One arena serves
 * a rule set's value caches from one evaluation to the next
 * (`value-caches.ts`): a set is freed when the text it belongs to is
 * evicted, and its words are reused by the next set allocated.
 */
export class LiteralArena {
  /** The words of every set; replaced by a larger copy when full (offsets stay valid). */
  bits: Int32Array
  readonly words: number
  #next: number
  /** Offsets of freed sets (all zero), taken before the arena grows. */
  readonly #free: number[] = []

  /**
   * @param words the words of one set ({@link LiteralIndex.words})
   * @param capacity how many sets to make room for at first
   */
  constructor(words: number, capacity = 128) {
    this.words = words
    this.bits = new Int32Array(words * capacity)
    this.#next = words
  }

  /** A new, empty set's offset. */
  allocate(): number {
    const reused = this.#free.pop()
    if (reused !== undefined) return reused
    if (this.#next + this.words > this.bits.length) {
      const grown = new Int32Array(this.bits.length * 2)
      grown.set(this.bits)
      this.bits = grown
    }
    const at = this.#next
    this.#next += this.words
    return at
  }

  /** Empties the set at `at` and gives it back, for a later {@link allocate}. */
  free(at: number): void {
    if (at === 0) return
    this.bits.fill(0, at, at + this.words)
    if (at + this.words === this.#next) this.#next = at
    else this.#free.push(at)
  }

  /** Sets allocated and not freed (the empty set at offset 0 excluded). */
  get live(): number {
    return (this.#next - this.words) / this.words - this.#free.length
  }

  /** Empties every set. */
  reset(): void {
    this.bits.fill(0, 0, this.#next)
    this.#next = this.words
    this.#free.length = 0
  }
}

/** A compiled set of literals. */
export interface LiteralIndex {
  /** How many literals it holds; ids are 0 … size - 1 in the order given. */
  readonly size: number
  /** Words per set in a {@link LiteralArena}. */
  readonly words: number
  /**
   * Adds the ids of the literals `input` contains (ASCII case ignored) to
   * the set at `at` in `bits`; true when it found any.
   */
  scan(input: string, bits: Int32Array, at: number): boolean
}

/**
 * A set of literal ids to test a set of a {@link LiteralArena} against: its
 * non-zero words as `[word index, bits, word index, bits, …]`, so that a
 * test costs one AND per word that holds an id, whether there are 3 ids
 * (an `@rx`) or 1,000 (an `@pmFromFile`).
 */
export type LiteralMask = Int32Array

/**
 * The mask of `ids`.
 *
 * @example
 * literalMask([1, 33]) // Int32Array [0, 2, 1, 2]
 */
export function literalMask(ids: Iterable<number>): LiteralMask {
  const words = new Map<number, number>()
  for (const id of ids) words.set(id >>> 5, (words.get(id >>> 5) ?? 0) | (1 << (id & 31)))
  return Int32Array.from([...words].sort(([a], [b]) => a - b).flat())
}

/** Whether the set at `at` in `bits` holds any id of `mask`. */
export function containsAny(bits: Int32Array, at: number, mask: LiteralMask): boolean {
  for (let i = 0; i < mask.length; i += 2) if ((bits[at + mask[i]!]! & mask[i + 1]!) !== 0) return true
  return false
}

/** ASCII upper-case letters folded to lower case; other bytes as they are. */
function fold(code: number): number {
  return code >= 0x41 && code <= 0x5a ? code | 0x20 : code
}

/**
 * A piece of `literal` at most `length` chars long, the rarest one
 * (`literal-rates.ts`): any text containing `literal` contains it, and it
 * keeps the index small.
 *
 * @example
 * representative('<script', 4) // '<scr'
 * representative('information_schema', 4) // 'n_sc' (the `_` is rarer than a letter)
 */
export function representative(literal: string, length: number): string {
  if (literal.length <= length) return literal
  let best = 0
  let bestCount = Number.POSITIVE_INFINITY
  for (let start = 0; start + length <= literal.length; start++) {
    const count = expectedCount(literal.slice(start, start + length))
    if (count < bestCount) {
      bestCount = count
      best = start
    }
  }
  return literal.slice(best, best + length)
}

/**
 * Builds the index of `literals` (byte strings, non-empty; ids are their
 * positions, duplicates allowed).
 *
 * @example
 * const index = literalIndex(['union', '<script'])
 * const arena = new LiteralArena(index.words)
 * const set = arena.allocate()
 * index.scan('1 UNION select', arena.bits, set) // true
 * containsAny(arena.bits, set, literalMask([0])) // true
 */
export function literalIndex(literals: readonly string[]): LiteralIndex {
  // Byte classes: 0 for bytes no literal holds (and chars above 0xFF), then one per distinct folded byte.
  const classOf = new Uint8Array(0x10000)
  let classes = 1
  for (const literal of literals) {
    for (let i = 0; i < literal.length; i++) {
      const code = fold(literal.charCodeAt(i) & 0xff)
      if (classOf[code] === 0) classOf[code] = classes++
    }
  }
  for (let code = 0x41; code <= 0x5a; code++) classOf[code] = classOf[code | 0x20]!

  // The trie, with each state's own literal ids.
  const edges: Map<number, number>[] = [new Map()]
  const own: number[][] = [[]]
  literals.forEach((literal, id) => {
    if (literal === '') throw new TypeError('literalIndex(): empty literal')
    let state = 0
    for (let i = 0; i < literal.length; i++) {
      const cls = classOf[fold(literal.charCodeAt(i) & 0xff)]!
      let next = edges[state]!.get(cls)
      if (next === undefined) {
        next = edges.length
        edges.push(new Map())
        own.push([])
        edges[state]!.set(cls, next)
      }
      state = next
    }
    own[state]!.push(id)
  })

  // Full DFA in breadth-first order: a missing edge goes where the failure state's edge goes.
  const count = edges.length
  const delta = new Int32Array(count * classes)
  const fail = new Int32Array(count)
  const outputs: number[][] = new Array<number[]>(count)
  outputs[0] = []
  const order: number[] = []
  for (const [cls, child] of edges[0]!) {
    delta[cls] = child
    order.push(child)
  }
  for (let head = 0; head < order.length; head++) {
    const state = order[head]!
    outputs[state] = [...own[state]!, ...outputs[fail[state]!]!]
    for (let cls = 0; cls < classes; cls++) {
      const child = edges[state]!.get(cls)
      if (child === undefined) {
        delta[state * classes + cls] = delta[fail[state]! * classes + cls]!
      } else {
        delta[state * classes + cls] = child
        fail[child] = delta[fail[state]! * classes + cls]!
        order.push(child)
      }
    }
  }

  // Renumber: states that emit nothing first (the start among them, as 0), then those that emit.
  const renumbered = new Int32Array(count)
  let next = 0
  for (let state = 0; state < count; state++) if (outputs[state]!.length === 0) renumbered[state] = next++
  const firstEmitting = next
  for (let state = 0; state < count; state++) if (outputs[state]!.length > 0) renumbered[state] = next++
  const table = count <= 0x10000 ? new Uint16Array(count * classes) : new Int32Array(count * classes)
  for (let state = 0; state < count; state++) {
    for (let cls = 0; cls < classes; cls++) table[renumbered[state]! * classes + cls] = renumbered[delta[state * classes + cls]!]!
  }
  const outStart = new Int32Array(count - firstEmitting + 1)
  const outIds: number[] = []
  const emitting = [...Array(count).keys()].filter((state) => outputs[state]!.length > 0).sort((a, b) => renumbered[a]! - renumbered[b]!)
  emitting.forEach((state, i) => {
    outStart[i] = outIds.length
    outIds.push(...outputs[state]!)
  })
  outStart[emitting.length] = outIds.length
  const ids = Int32Array.from(outIds)
  return {
    size: literals.length,
    words: Math.max(1, Math.ceil(literals.length / 32)),
    scan(input, bits, at) {
      let found = false
      let state = 0
      for (let i = 0; i < input.length; i++) {
        state = table[state * classes + classOf[input.charCodeAt(i)]!]!
        if (state < firstEmitting) continue
        found = true
        const end = outStart[state - firstEmitting + 1]!
        for (let o = outStart[state - firstEmitting]!; o < end; o++) {
          const id = ids[o]!
          bits[at + (id >>> 5)] = bits[at + (id >>> 5)]! | (1 << (id & 31))
        }
      }
      return found
    },
  }
}
