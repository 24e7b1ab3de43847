/**
 * The load report: what a rule set compiled into, and every directive,
 * operator, transformation, variable or action the engine does not support,
 * by name with counts. Nothing is dropped silently: each unsupported item
 * says what became of the rules that used it.
 *
 * Portable: no `node:` import.
 */

/** The kind of thing a rule set used that the engine does not support. */
export type UnsupportedKind = 'directive' | 'operator' | 'transformation' | 'variable' | 'action' | 'regex'

/** One unsupported item and what the engine did about it. */
export interface UnsupportedItem {
  kind: UnsupportedKind
  /** As written: `SecCollectionTimeout`, `@detectSQLi`, `t:sha1`, `IP`, `expirevar`, `ctl:requestBodyAccess`. */
  name: string
  /** How many times the rule set used it. */
  count: number
  /**
   * What became of it: `rule disabled` (the rule never runs: without the
   * item it could block the wrong requests or miss the right ones),
   * `ignored` (the rule runs without it) or `empty` (a variable read as
   * having no values).
   */
  effect: 'rule disabled' | 'ignored' | 'empty'
  /** Ids of the rules affected (first 20). */
  rules: number[]
  /** Why, when there is more to say (a regex construct JavaScript lacks). */
  detail?: string
}

/** Rules that were parsed but cannot apply to a WebSocket handshake. */
export interface NotApplicable {
  /** Rules from `RESPONSE-*` files. */
  response: number
  /** Rules of phases 3–5 from other files (response headers/body, logging). */
  laterPhase: number
  /** Phase 1–2 rules that only read the request body (REQUEST_BODY, ARGS_POST, FILES, XML, …): a handshake has none. */
  bodyOnly: number
}

/** What compiling a rule set counted: the part of {@link WafReport} the compiler fills in (`compile.ts`'s `CompileSummary`). */
export interface RuleCounts {
  /** Rules (a chain counts once; `SecAction`s included) that run at handshake time, phases 1 and 2. */
  rulesLoaded: number
  /** Custom rules among them (`waf({ rules })`). */
  customRules: number
  /** Rules that cannot apply to a handshake, by reason. */
  notApplicable: NotApplicable
  /** Rules that never run because they need something unsupported. */
  rulesDisabled: number
  /** `SecMarker`s. */
  markers: number
  /** Everything unsupported, most used first. */
  unsupported: UnsupportedItem[]
}

/** What loading a rule set produced. */
export interface WafReport extends RuleCounts {
  /** `crs` (the Core Rule Set from disk or given files), `baseline` (wsgate's embedded rules) or `custom` (only `rules`). */
  ruleSet: 'crs' | 'baseline' | 'custom'
  /** `SecComponentSignature` of the rule set, e.g. `OWASP_CRS/3.3.4`. */
  version?: string
  /** Files read, in load order. */
  files: string[]
  /** CRS rules that run as written with wsgate rules loaded beside them, for what they miss (see `complements.ts`). */
  complements: { rule: number; by: number[] }[]
  /** The handshake profile's exclusions in force (`profile.ts`), by name (`<target>/<rule or family>`); empty when it is off or there is no CRS. */
  handshakeProfile: string[]
  paranoia: number
  threshold: number
  detectionOnly: boolean
}

const RULES_LISTED = 20

/** Collects unsupported items while a rule set compiles. */
export class ReportBuilder {
  readonly #items = new Map<string, UnsupportedItem>()

  /** Records one use of an unsupported item by rule `ruleId` (0 when not in a rule). */
  add(kind: UnsupportedKind, name: string, effect: UnsupportedItem['effect'], ruleId: number, detail?: string): void {
    const key = `${kind}\0${name}\0${effect}`
    let item = this.#items.get(key)
    if (!item) {
      item = { kind, name, count: 0, effect, rules: [], ...(detail !== undefined ? { detail } : {}) }
      this.#items.set(key, item)
    }
    item.count++
    if (ruleId && item.rules.length < RULES_LISTED && !item.rules.includes(ruleId)) item.rules.push(ruleId)
  }

  /** The items, most used first, then by kind and name. */
  items(): UnsupportedItem[] {
    return [...this.#items.values()].sort((a, b) => b.count - a.count || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name))
  }
}

/**
 * The report as lines of text for a start-up log, e.g.
 * `CRS OWASP_CRS/3.3.4: 312 rules loaded (paranoia 1, threshold 5), 104 not applicable …`.
 */
export function formatReport(report: WafReport): string[] {
  const na = report.notApplicable
  const naTotal = na.response + na.laterPhase + na.bodyOnly
  const name = report.ruleSet === 'crs' ? `CRS${report.version ? ` ${report.version}` : ''}` : report.ruleSet
  const lines = [
    `${name}: ${report.rulesLoaded} rules loaded (${report.customRules} custom; paranoia ${report.paranoia}, threshold ${report.threshold}${report.detectionOnly ? ', detection only' : ''}), ` +
      `${naTotal} not applicable to a handshake (${na.response} response, ${na.laterPhase} phase 3-5, ${na.bodyOnly} body only), ${report.rulesDisabled} disabled`,
  ]
  for (const { rule, by } of report.complements) lines.push(`  rule ${rule} complemented by wsgate rules ${by.join(', ')}`)
  if (report.handshakeProfile.length) lines.push(`  handshake profile: ${report.handshakeProfile.length} exclusions (waf({ handshakeProfile: false }) runs the CRS as written)`)
  for (const item of report.unsupported) {
    lines.push(`  unsupported ${item.kind} ${item.name} x${item.count}: ${item.effect}${item.rules.length ? ` (rules ${item.rules.join(', ')})` : ''}${item.detail ? ` - ${item.detail}` : ''}`)
  }
  return lines
}
