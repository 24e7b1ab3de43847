/**
 * The rule units `waf({ crs })` compiles, in load order: the CRS's setup
 * file, the options rule (paranoia, threshold), the user's own rules, then
 * the CRS's rule files with wsgate's complements (`complements.ts`) just
 * before REQUEST-949, the blocking evaluation, so that their scores count,
 * and, unless turned off, the handshake profile (`profile.ts`): its
 * per-request rules right after REQUEST-901 (before every rule they relax),
 * its grammar exclusions after the last file (they apply to rules loaded
 * before them). One function, so that the middleware, the tests and the
 * benchmarks that compile the CRS compile the same thing. Portable: no
 * `node:` import.
 */
import type { RuleUnit } from './compile.ts'
import { COMPLEMENTS } from './complements.ts'
import type { CrsDirectory } from './crs-directory.ts'
import { crsOptionsRule, loadCrs, type CrsFiles } from './crs-files.ts'
import { profileUnits } from './profile.ts'

/** The units of the CRS in `crs` at `paranoia` and `threshold`, with `custom` rules after the options rule, and the handshake profile unless `handshakeProfile` is false. */
export function crsUnits(crs: CrsDirectory | CrsFiles, paranoia: number, threshold: number, custom: readonly RuleUnit[] = [], handshakeProfile = true): { units: RuleUnit[]; options: RuleUnit } {
  const layout = loadCrs(crs)
  const { setup } = layout
  const options: RuleUnit = { file: 'waf() options', text: crsOptionsRule(paranoia, threshold) }
  const rules = layout.rules.map((file): RuleUnit => ({ file: file.file, text: file.text, readDataFile: file.readDataFile }))
  const blocking = layout.rules.findIndex((file) => /(?:^|\/)REQUEST-949-/.test(file.file))
  rules.splice(blocking < 0 ? rules.length : blocking, 0, ...COMPLEMENTS.map((complement): RuleUnit => ({ file: `wsgate complement to ${complement.complements}`, text: complement.text })))
  if (handshakeProfile) {
    const { perRequest, grammars } = profileUnits()
    // Where the CRS's own exclusion packages (REQUEST-903.*) load: after the initialization, before any rule they could relax.
    const initialization = rules.findIndex((unit) => /(?:^|\/)REQUEST-901-/.test(unit.file))
    rules.splice(initialization + 1, 0, perRequest)
    rules.push(grammars)
  }
  return { units: [{ file: setup.file, text: setup.text, readDataFile: setup.readDataFile }, options, ...custom, ...rules], options }
}
