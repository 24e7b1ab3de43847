import { waf, type WafMiddleware } from '../../../middleware/waf/index.ts'
import { readCrs } from '../../../src/node/crs-directory.ts'

/**
 * The CRS as Debian installs it, compiled into one `waf()` per paranoia level
 * and profile setting for the whole test file (compiling takes ~150 ms), with
 * no time budget and a clock that never moves, so verdicts depend on the
 * request alone.
 */

/** Debian's CRS 3.3.4, read once. */
export const DEBIAN_CRS = readCrs('/usr/share/modsecurity-crs')
const instances = new Map<string, WafMiddleware>()

/**
 * The shared `waf({ crs })` at `paranoia`, with the handshake profile on or off.
 *
 * @example
 * crsWaf(1, true).inspect(facts).blocked
 */
export function crsWaf(paranoia: 1 | 2, handshakeProfile: boolean): WafMiddleware {
  const key = `${paranoia}/${handshakeProfile}`
  let instance = instances.get(key)
  if (!instance) instances.set(key, (instance = waf({ crs: DEBIAN_CRS, paranoia, handshakeProfile, budgetMs: 1e9, now: () => 0 })))
  return instance
}
