/**
 * The rules stage from end to end: which rule units `waf()`'s options load
 * (the CRS with its options rule, complements and handshake profile; the
 * embedded baseline; or the custom rules alone), compiled once at start,
 * with the load report that says what they became.
 */
import { PRIMITIVES } from '../primitives.ts'
import type { CrsDirectory } from './crs-directory.ts'
import { crsOptionsRule, type CrsFiles } from './crs-files.ts'
import { BASELINE_RULES } from './baseline.ts'
import { compileRules, type RuleUnit } from './compile.ts'
import { COMPLEMENTS } from './complements.ts'
import { crsUnits } from './crs-units.ts'
import { customUnits, type WafCustomRule } from './custom-units.ts'
import { HANDSHAKE_PROFILE } from './profile.ts'
import type { WafReport } from './report.ts'
import type { RuleSet } from './rule.ts'

/** What {@link loadRuleSet} loads: `waf()`'s options, checked. */
export interface RuleSetOptions {
  crs: CrsDirectory | CrsFiles | undefined
  /** Load the embedded baseline when there is no `crs`. */
  baseline: boolean
  rules: readonly WafCustomRule[] | undefined
  paranoia: number
  threshold: number
  /** Load the handshake profile (only with `crs`). */
  handshakeProfile: boolean
  detectionOnly: boolean
}

/** Loads and compiles the rule set `options` name; throws a `TypeError` at start for anything malformed or unsupported in custom rules. */
export function loadRuleSet(options: RuleSetOptions): { ruleSet: RuleSet; report: WafReport } {
  const { paranoia, threshold, handshakeProfile, detectionOnly } = options
  const custom = customUnits(options.rules)
  let settings: RuleUnit = { file: 'waf() options', text: crsOptionsRule(paranoia, threshold) }
  let units: RuleUnit[]
  let ruleSetKind: WafReport['ruleSet']
  const complements: WafReport['complements'] = []
  if (options.crs !== undefined) {
    ;({ units, options: settings } = crsUnits(options.crs, paranoia, threshold, custom, handshakeProfile))
    for (const complement of COMPLEMENTS) complements.push({ rule: complement.complements, by: complement.ids })
    ruleSetKind = 'crs'
  } else if (options.baseline) {
    units = [settings, ...custom, { file: 'wsgate baseline', text: BASELINE_RULES }]
    ruleSetKind = 'baseline'
  } else {
    units = custom
    ruleSetKind = 'custom'
  }
  const { ruleSet, summary } = compileRules(units, PRIMITIVES)
  const report: WafReport = {
    ruleSet: ruleSetKind,
    ...(summary.version !== undefined ? { version: summary.version } : {}),
    files: units.filter((unit) => 'text' in unit && !unit.custom && unit !== settings).map((unit) => unit.file),
    rulesLoaded: summary.rulesLoaded,
    customRules: summary.customRules,
    notApplicable: summary.notApplicable,
    rulesDisabled: summary.rulesDisabled,
    markers: summary.markers,
    unsupported: summary.unsupported,
    complements,
    handshakeProfile: handshakeProfile ? HANDSHAKE_PROFILE.map((exclusion) => exclusion.name) : [],
    paranoia,
    threshold,
    detectionOnly,
  }
  return { ruleSet, report }
}
