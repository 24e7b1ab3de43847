/**
 * How a pool picks one origin among the eligible ones of its best priority:
 * smooth weighted round robin, least connections, and weighted rendezvous
 * hashing for sticky keys. Pure functions over the origins' counters, so
 * they are tested without sockets. Portable: no `node:` import.
 */

/** What the selection reads of an origin. */
export interface Selectable {
  readonly weight: number
  /** Live WebSocket connections of this gateway to the origin. */
  readonly live: number
  /** Attempts under way to the origin (handshakes and requests waiting for its answer). */
  readonly pending: number
  /** Smooth weighted round robin's running weight; written by {@link smoothWeighted}. */
  current: number
  /** 32-bit seed from the origin's URL, for rendezvous hashing. */
  readonly seed: number
}

/**
 * Smooth weighted round robin (nginx's `ngx_http_upstream_get_peer`): every
 * candidate's running weight grows by its weight, the largest wins and
 * drops by the candidates' total. Over any run of `total` picks each
 * candidate gets exactly its weight's share, interleaved (3:1 gives
 * a a b a, not a a a b), with no randomness to drift. Candidates left out
 * (down, or tried already) keep their running weight.
 *
 * @example
 * smoothWeighted(healthy) // over weights 3 and 1: a, a, b, a, a, a, b, a, …
 */
export function smoothWeighted<T extends Selectable>(candidates: readonly T[]): T | undefined {
  let best: T | undefined
  let total = 0
  for (const candidate of candidates) {
    candidate.current += candidate.weight
    total += candidate.weight
    if (!best || candidate.current > best.current) best = candidate
  }
  if (best) best.current -= total
  return best
}

/**
 * The candidate with the fewest connections per unit of weight, counting
 * live ones and those still in their handshake (so a burst of handshakes
 * spreads instead of all seeing the same counts); ties go round by
 * {@link smoothWeighted}, so equal origins fill evenly.
 *
 * @example
 * leastConnections(healthy) // live + pending 4 and 2 at equal weights: the second
 */
export function leastConnections<T extends Selectable>(candidates: readonly T[]): T | undefined {
  let fewest = Infinity
  let tied: T[] = []
  for (const candidate of candidates) {
    const load = (candidate.live + candidate.pending) / candidate.weight
    if (load < fewest) {
      fewest = load
      tied = [candidate]
    } else if (load === fewest) {
      tied.push(candidate)
    }
  }
  return tied.length === 1 ? tied[0] : smoothWeighted(tied)
}

/**
 * Weighted rendezvous (highest random weight) hashing: each candidate scores
 * `weight / -ln(h)`, with `h` a uniform hash of the key and the candidate in
 * (0, 1), and the highest score wins. A key's winner changes only when the
 * winner itself leaves (its keys spread over the others in proportion to
 * their weights) and comes back when it returns; no other key moves. Over
 * many keys each candidate wins its weight's share.
 *
 * @example
 * rendezvous(healthy, '203.0.113.7') // the same origin for this key while it is up
 */
export function rendezvous<T extends Selectable>(candidates: readonly T[], key: string): T | undefined {
  let best: T | undefined
  let bestScore = -Infinity
  for (const candidate of candidates) {
    const score = candidate.weight / -Math.log(unitHash(key, candidate.seed))
    if (score > bestScore) {
      bestScore = score
      best = candidate
    }
  }
  return best
}

/** A key's hash with a seed, mapped to the open interval (0, 1). */
function unitHash(key: string, seed: number): number {
  // 53 bits, offset by half a step so that neither 0 nor 1 can come out (ln(0) and ln(1) would break the score).
  return (hash53(key, seed) + 0.5) / 2 ** 53
}

/**
 * cyrb53: a fast 53-bit string hash with good avalanche (two 32-bit lanes
 * mixed with Math.imul), public domain. Not cryptographic: the keys are the
 * gateway's own choice of client facts, and only their spread matters.
 *
 * @example
 * hash53('ws://10.0.0.5:9001') // a stable integer below 2^53
 */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}
