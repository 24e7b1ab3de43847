/**
 * How the SQL injection fingerprint set is derived from corpora: every
 * fingerprint (of two tokens or more) that an injection produces in a
 * quoting context where it reads as SQL (read as written, a value that
 * ends inside a string it opened is misread: `1' OR '1'='1` is meant for a
 * '…' context), less every fingerprint that a benign value produces in
 * any context. A set derived this way flags every positive whose readings
 * are not all benign-looking and no benign value of the corpora, by
 * construction; the positives it cannot flag are listed, not hidden.
 * `bench/waf-fingerprints.ts` runs it over the project's corpora and writes
 * `sqli-fingerprints.ts`. Portable: no `node:` import.
 */
import { sqliFingerprints, sqliReadings } from './sqli.ts'

/** What a derivation reads. */
export interface DerivationInput {
  /** Injections: each source (an attack case, a shape) is covered when one of its values is flagged. */
  positives: { source: string; values: string[] }[]
  /** Values that must produce no fingerprint of the set. */
  benign: string[]
}

/** What a derivation yields. */
export interface Derivation {
  /** The fingerprint set, sorted. */
  fingerprints: string[]
  /** Positive sources none of whose values got a fingerprint into the set. */
  uncovered: string[]
}

/** Fingerprints shorter than this are too common to be evidence of anything. */
export const MIN_FINGERPRINT_TOKENS = 2

/**
 * Derives the set from `input`.
 *
 * @example
 * deriveFingerprints({ positives: [{ source: 'a', values: ["' OR 1=1--"] }], benign: ["it's"] })
 * // { fingerprints: ['s&n=n', …], uncovered: [] }
 */
export function deriveFingerprints(input: DerivationInput): Derivation {
  const benign = new Set<string>()
  for (const value of input.benign) for (const fingerprint of sqliFingerprints(value)) benign.add(fingerprint)
  const set = new Set<string>()
  const uncovered: string[] = []
  for (const { source, values } of input.positives) {
    let covered = false
    for (const value of values) {
      for (const { fingerprint, misread } of sqliReadings(value)) {
        if (misread || fingerprint.length < MIN_FINGERPRINT_TOKENS || benign.has(fingerprint)) continue
        set.add(fingerprint)
        covered = true
      }
    }
    if (!covered) uncovered.push(source)
  }
  return { fingerprints: [...set].sort(), uncovered }
}
