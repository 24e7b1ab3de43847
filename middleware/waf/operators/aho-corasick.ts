/**
 * A case-insensitive (ASCII) multi-phrase matcher for `@pm` and
 * `@pmFromFile`: Aho–Corasick over bytes, built once per rule. The trie is
 * stored flat (edge lists in typed arrays, sorted by byte) with failure
 * links, and the root keeps a dense 256-entry table, so a scan costs one
 * step per input byte plus failure hops and never allocates. Memory grows
 * with the phrases' total length, not with length × alphabet as a full DFA
 * would (the CRS's largest list, lfi-os-files.data, is 30 kB of phrases).
 */

/** ASCII upper-case letters folded to lower case; other bytes as they are. */
function fold(code: number): number {
  return code >= 0x41 && code <= 0x5a ? code | 0x20 : code
}

/** A compiled phrase set. */
export interface PhraseMatcher {
  /** The first phrase (as given) found in `input`, by end position; undefined when none occurs. */
  find(input: string): string | undefined
  /** How many phrases the set holds. */
  readonly size: number
}

/**
 * Builds a matcher for `phrases` (byte strings), matched without regard to
 * ASCII case. Empty phrases are ignored, duplicates kept once.
 *
 * @example
 * const matcher = phraseMatcher(['/etc/passwd', 'boot.ini'])
 * matcher.find('GET /ETC/PASSWD') // '/etc/passwd'
 */
export function phraseMatcher(phrases: readonly string[]): PhraseMatcher {
  // Build a pointer trie first, then flatten it.
  const children: Map<number, number>[] = [new Map()]
  const output: number[] = [-1]
  const kept: string[] = []
  for (const phrase of phrases) {
    if (phrase === '') continue
    let state = 0
    for (let i = 0; i < phrase.length; i++) {
      const code = fold(phrase.charCodeAt(i) & 0xff)
      let next = children[state]!.get(code)
      if (next === undefined) {
        next = children.length
        children.push(new Map())
        output.push(-1)
        children[state]!.set(code, next)
      }
      state = next
    }
    if (output[state] === -1) {
      output[state] = kept.length
      kept.push(phrase)
    }
  }
  const count = children.length
  const fail = new Int32Array(count)
  // Breadth-first: a state's failure link is the longest proper suffix that is also a trie path.
  const order: number[] = []
  for (const child of children[0]!.values()) order.push(child)
  for (let head = 0; head < order.length; head++) {
    const state = order[head]!
    if (output[state] === -1 && output[fail[state]!]! !== -1) output[state] = output[fail[state]!]!
    for (const [code, child] of children[state]!) {
      let f = fail[state]!
      while (f !== 0 && !children[f]!.has(code)) f = fail[f]!
      const target = children[f]!.get(code)
      fail[child] = target !== undefined && target !== child ? target : 0
      order.push(child)
    }
  }
  // Flatten: edges of state s are labels/targets[start[s] .. start[s + 1]), sorted by label.
  const start = new Int32Array(count + 1)
  let edges = 0
  for (let s = 0; s < count; s++) {
    start[s] = edges
    edges += children[s]!.size
  }
  start[count] = edges
  const labels = new Uint8Array(edges)
  const targets = new Int32Array(edges)
  for (let s = 0; s < count; s++) {
    let at = start[s]!
    for (const [code, child] of [...children[s]!].sort((a, b) => a[0] - b[0])) {
      labels[at] = code
      targets[at++] = child
    }
  }
  const root = new Int32Array(256)
  for (const [code, child] of children[0]!) root[code] = child
  const matches = Int32Array.from(output)

  /** The state after reading `code` from `state`, following failure links. */
  function step(state: number, code: number): number {
    for (let s = state; s !== 0; s = fail[s]!) {
      const end = start[s + 1]!
      for (let e = start[s]!; e < end; e++) {
        const label = labels[e]!
        if (label === code) return targets[e]!
        if (label > code) break
      }
    }
    return root[code]!
  }

  return {
    size: kept.length,
    find(input) {
      let state = 0
      for (let i = 0; i < input.length; i++) {
        const raw = input.charCodeAt(i)
        // A char above 0xFF is not a byte any phrase holds.
        state = raw > 0xff ? 0 : step(state, fold(raw))
        const match = matches[state]!
        if (match !== -1) return kept[match]
      }
      return undefined
    },
  }
}
