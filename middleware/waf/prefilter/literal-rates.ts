/**
 * How common a literal is in handshake values, roughly: what the
 * prefilter uses to pick, among literals that are all correct, the ones
 * that reject most (`regex-factors.ts`, `literal-index.ts`), and to leave
 * out literal sets that would reject almost nothing (a single letter is in
 * nearly every value). These numbers never affect what matches, only how
 * much work is skipped.
 *
 * Portable: no `node:` import.
 */

/** The length of a typical handshake value, bytes (a header value, a cookie, an argument). */
const TYPICAL_VALUE_LENGTH = 60

/**
 * Above this chance of holding one of a set's literals, a prefilter on the
 * set is not worth its bookkeeping: one common char (`=`, `/`, a letter)
 * is in nearly every value.
 */
const MAX_HIT_CHANCE = 0.99

/**
 * How often a byte turns up in handshake values, per byte, roughly: common
 * English letters, digits, the punctuation of URLs, cookies and user
 * agents; anything else (quotes, brackets, `<`, `$`, `|`, controls, high
 * bytes) is rare. Upper-case letters count as lower-case.
 */
export function byteRate(code: number): number {
  const char = String.fromCharCode(code >= 0x41 && code <= 0x5a ? code | 0x20 : code)
  if ('etaoinsrhlcdu'.includes(char)) return 0.08
  if (char >= 'a' && char <= 'z') return 0.03
  if (char >= '0' && char <= '9') return 0.05
  if ('-._/=;,: '.includes(char)) return 0.05
  return 0.005
}

/** Roughly how many times a typical handshake value holds `literal`. */
export function expectedCount(literal: string): number {
  let count = TYPICAL_VALUE_LENGTH
  for (let i = 0; i < literal.length; i++) count *= byteRate(literal.charCodeAt(i) & 0xff)
  return count
}

/** Roughly how many times a typical handshake value holds one of `literals`: lower is more selective. */
export function hitRate(literals: readonly string[]): number {
  return literals.reduce((sum, literal) => sum + expectedCount(literal), 0)
}

/**
 * Whether prefiltering on `literals` pays: the chance that a typical value
 * holds one of them (taken as independent) is below {@link MAX_HIT_CHANCE}.
 *
 * @example
 * worthPrefiltering(['<script']) // true
 * worthPrefiltering(['=']) // false
 */
export function worthPrefiltering(literals: readonly string[]): boolean {
  const miss = literals.reduce((sofar, literal) => sofar * (1 - Math.min(1, expectedCount(literal))), 1)
  return literals.length > 0 && 1 - miss <= MAX_HIT_CHANCE
}
