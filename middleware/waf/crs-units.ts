/**
 * The rule units `waf({ crs })` compiles, in load order: the CRS's setup
 * file, the options rule (paranoia, threshold), the user's own rules, then
 * the CRS's rule files with wsgate's complements (`complements.ts`) just
 * before REQUEST-949, the blocking evaluation, so that their scores count.
 * One function, so that the middleware, the tests and the benchmarks that
 * compile the CRS compile the same thing. Portable: no `node:` import.
 */
import type { RuleUnit } from './compile.ts'
import { COMPLEMENTS } from './complements.ts'
import { crsOptionsRule, loadCrs, type CrsDirectory, type CrsFiles } from './crs.ts'

/** The units of the CRS in `crs` at `paranoia` and `threshold`, with `custom` rules after the options rule. */
export function crsUnits(crs: CrsDirectory | CrsFiles, paranoia: number, threshold: number, custom: readonly RuleUnit[] = []): { units: RuleUnit[]; options: RuleUnit } {
  const layout = loadCrs(crs)
  const { setup } = layout
  const options: RuleUnit = { file: 'waf() options', text: crsOptionsRule(paranoia, threshold) }
  const rules = layout.rules.map((file): RuleUnit => ({ file: file.file, text: file.text, readDataFile: file.readDataFile }))
  const blocking = layout.rules.findIndex((file) => /(?:^|\/)REQUEST-949-/.test(file.file))
  rules.splice(blocking < 0 ? rules.length : blocking, 0, ...COMPLEMENTS.map((complement): RuleUnit => ({ file: `wsgate complement to ${complement.complements}`, text: complement.text })))
  return { units: [{ file: setup.file, text: setup.text, readDataFile: setup.readDataFile }, options, ...custom, ...rules], options }
}
