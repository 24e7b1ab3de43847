/**
 * The `rule_family` label of `wsgate_waf_blocks_total`: which kind of attack
 * a WAF block was about, from the verdict `waf()` notes on the handshake
 * (`note.waf`: `action`, `blockedBy`, the matched `rules`). Bounded: a fixed
 * set of names, never a rule id or a matched value.
 */

/** Families of the OWASP Core Rule Set, by the file a rule id comes from (its id divided by 1,000: 942100 → 942). */
const CRS_FAMILIES: Readonly<Record<number, string>> = {
  911: 'method',
  913: 'scanner',
  920: 'protocol',
  921: 'protocol',
  // CRS 4: multipart attacks, a protocol matter.
  922: 'protocol',
  930: 'lfi',
  931: 'rfi',
  932: 'rce',
  933: 'php',
  // CRS 4: generic attacks (Node.js, prototype pollution, SSRF).
  934: 'generic',
  941: 'xss',
  942: 'sqli',
  943: 'session-fixation',
  944: 'java',
}

/**
 * Families of wsgate's embedded baseline (middleware/waf/baseline.ts), by
 * id block: 9001xxx SQL injection … 9010xxx protocol anomalies, each the
 * `attack-…` tag its rules carry. The 90099xx block is the baseline's
 * paranoia-level-2 section, whose rules belong to several families.
 */
const BASELINE_FAMILIES: Readonly<Record<number, string>> = {
  9001: 'sqli',
  9002: 'xss',
  9003: 'lfi',
  9004: 'rfi',
  9005: 'rce',
  9006: 'php',
  9007: 'java',
  9008: 'nodejs',
  9009: 'scanner',
  9010: 'protocol',
}

/** The baseline's paranoia-level-2 rules (ids 9009902–9009905), each with its own family. */
const BASELINE_PL2_FAMILIES: Readonly<Record<number, string>> = {
  9009902: 'sqli',
  9009903: 'xss',
  9009904: 'protocol',
  9009905: 'protocol',
}

/**
 * Rules that refuse on the anomaly score rather than on a detection of their
 * own: the CRS's blocking evaluation (949xxx, inbound) and the baseline's
 * 9009990. A block by one of them is put down to the highest-scoring rule
 * that matched.
 */
function isScoreBlock(id: number): boolean {
  return Math.floor(id / 1000) === 949 || id === 9009990
}

/**
 * The attack family of one rule id: the CRS file's, the baseline block's,
 * `custom` for an id of neither range (a site's own rules), undefined for a
 * blocking-evaluation rule, which has none of its own.
 *
 * @example
 * ruleFamily(942100) // 'sqli'
 * ruleFamily(9002001) // 'xss'
 * ruleFamily(949110) // undefined
 */
export function ruleFamily(id: number): string | undefined {
  if (isScoreBlock(id)) return undefined
  if (id >= 900_000 && id <= 999_999) return CRS_FAMILIES[Math.floor(id / 1000)] ?? 'other'
  if (id >= 9_000_000 && id <= 9_010_999) return BASELINE_PL2_FAMILIES[id] ?? BASELINE_FAMILIES[Math.floor(id / 1000)] ?? 'other'
  return 'custom'
}

/**
 * Anomaly points per severity, as the CRS scores them
 * (`tx.critical_anomaly_score` and the rest of crs-setup.conf's defaults).
 */
const SEVERITY_POINTS: Readonly<Record<string, number>> = { CRITICAL: 5, ERROR: 4, WARNING: 3, NOTICE: 2 }

/**
 * A matched rule's points. `waf()`'s handshake note does not carry the
 * severity today; without it, a protocol rule counts as a warning (3, what
 * most of 920/921 and the baseline's protocol rules are) and any other as
 * critical (5, what the attack rules are), so an attack outranks the
 * protocol oddities that often come with it.
 */
function points(rule: NotedRule, family: string): number {
  const severity = typeof rule.severity === 'string' ? SEVERITY_POINTS[rule.severity.toUpperCase()] : undefined
  return severity ?? (family === 'protocol' ? 3 : 5)
}

/** One matched rule as `waf()` notes it. */
interface NotedRule {
  id?: unknown
  severity?: unknown
}

/** The part of `waf()`'s handshake note read here. */
export interface WafNote {
  action?: unknown
  reason?: unknown
  blockedBy?: unknown
  budgetExceeded?: unknown
  rules?: unknown
}

/**
 * Whether a handshake note's `waf` entry says the WAF refused the handshake
 * (not `detected`, which only logs in detection-only mode).
 */
export function isWafBlock(waf: unknown): waf is WafNote {
  return typeof waf === 'object' && waf !== null && (waf as WafNote).action === 'blocked'
}

/**
 * The `rule_family` of a WAF block: the family of the rule that refused
 * (see {@link ruleFamily}); for a refusal on the anomaly score, the family
 * of the highest-scoring matched rule (the first of equals); `deny-list`
 * for `waf({ deny })`, `budget` for an evaluation that ran out of time,
 * `other` when nothing says more.
 *
 * @example
 * blockFamily({ action: 'blocked', blockedBy: 949110, rules: [{ id: 920350 }, { id: 942100 }, { id: 949110 }] }) // 'sqli'
 */
export function blockFamily(waf: WafNote): string {
  if (waf.reason === 'deny list') return 'deny-list'
  const blockedBy = typeof waf.blockedBy === 'number' ? waf.blockedBy : undefined
  const own = blockedBy === undefined ? undefined : ruleFamily(blockedBy)
  if (own !== undefined) return own
  let best: { family: string; points: number } | undefined
  for (const rule of Array.isArray(waf.rules) ? (waf.rules as NotedRule[]) : []) {
    const family = typeof rule?.id === 'number' ? ruleFamily(rule.id) : undefined
    if (family === undefined) continue
    const score = points(rule, family)
    if (!best || score > best.points) best = { family, points: score }
  }
  if (best) return best.family
  return waf.budgetExceeded === true ? 'budget' : 'other'
}
