/**
 * Checks shared by every place that takes limits (serve() and websocket()), so
 * a bad value fails at start with a TypeError naming the option.
 */

/** setTimeout's ceiling (about 24.8 days); longer values would fire at once. */
export const MAX_TIMER = 2_147_483_647

/** Throws unless `value` is a duration a Node timer can hold. */
export function assertDuration(name: string, value: number | undefined, where: string): void {
  if (value === undefined) return
  if (!(Number.isFinite(value) && value > 0 && value <= MAX_TIMER)) {
    throw new TypeError(`${where}: ${name} must be a positive number of ms up to ${MAX_TIMER} (24.8 days), got ${value}`)
  }
}

/** Throws unless `value` is a jitter fraction in [0, 1). */
export function assertJitter(value: number | undefined, where: string): void {
  if (value !== undefined && !(value >= 0 && value < 1)) {
    throw new TypeError(`${where}: lifetimeJitter must be a fraction in [0, 1), e.g. 0.05 for ±5 %, got ${value}`)
  }
}

/** A lifetime spread uniformly within ±jitter, so recycles of a fleet do not line up. */
export function jittered(lifetime: number, jitter: number): number {
  return Math.min(MAX_TIMER, Math.max(1, Math.round(lifetime * (1 + (Math.random() * 2 - 1) * jitter))))
}
