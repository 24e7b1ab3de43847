/**
 * `waf()`, the handshake WAF's factory, and its options: checks the
 * options, has the rules stage load and compile the rule set once
 * (`rules/`), and returns the middleware that builds each handshake's facts
 * and has the engine evaluate them (`engine/`). The stages: `rules/`
 * (SecLang, compilation, the CRS and wsgate's rule sets), `regex/` (PCRE
 * translated for V8), `prefilter/` (which rules a value cannot match),
 * `engine/` (evaluation), `operators/`, `transformations/` and `detect/`
 * (the SQLi/XSS detectors). Portable: no `node:` import.
 */
import type { MiddlewareHandler } from 'hono'
import { cidrMatcher } from '../../src/cidr.ts'
import { DEFAULT_WAF_BUDGET, DEFAULT_WAF_PARANOIA, DEFAULT_WAF_THRESHOLD } from '../../src/defaults.ts'
import { GatewayError } from '../../src/errors.ts'
import { hostNeed, withHostNeeds } from '../../src/host-needs.ts'
import type { GatewayBindings } from '../../src/runtime.ts'
import { withWarnings } from '../../src/warnings.ts'
import { evaluate, valueCacheStats, type EvaluateOptions, type Evaluation } from './engine/engine.ts'
import { requestFacts } from './engine/request-facts.ts'
import type { ValueCacheStats } from './engine/value-caches.ts'
import { warmUp } from './engine/warm-up.ts'
import { PRIMITIVES } from './primitives.ts'
import type { CrsDirectory } from './rules/crs-directory.ts'
import type { CrsFiles } from './rules/crs-files.ts'
import type { WafCustomRule } from './rules/custom-units.ts'
import { loadRuleSet } from './rules/load-rule-set.ts'
import { formatReport, type WafReport } from './rules/report.ts'
import type { HandshakeFacts, WafVerdict } from './types.ts'

export type { CrsDirectory, CrsFileSystem } from './rules/crs-directory.ts'
export type { CrsFiles } from './rules/crs-files.ts'
// WafEvaluation is the root's name for it (`wsgate`), so an import moves between `wsgate` and `wsgate/waf` unchanged.
export type { Evaluation, Evaluation as WafEvaluation } from './engine/engine.ts'
export type { ValueCacheStats } from './engine/value-caches.ts'
export type { WafRuleObject } from './rules/custom-units.ts'
export type { CustomRuleFunction } from './rules/rule.ts'
export type { UnsupportedItem, WafReport } from './rules/report.ts'
export type { CollectionItem, HandshakeFacts, RequestCollections, RuleMatch, WafVerdict } from './types.ts'
export { formatReport } from './rules/report.ts'

export type { WafCustomRule } from './rules/custom-units.ts'

/** Options of {@link waf}. */
export interface WafOptions {
  /**
   * The OWASP Core Rule Set as an object of file name → text: the `.conf`
   * rule files, the `.data` files they read, optionally `crs-setup.conf`
   * and the exclusion files. On Node, `readCrs('/usr/share/modsecurity-crs')`
   * from `wsgate/node` reads the directory Debian's `modsecurity-crs`
   * package installs into one (crs-setup.conf from there or from
   * `/etc/modsecurity/crs/`); on runtimes without a file system, bundle the
   * files' text. A plain path string throws a `TypeError`: the portable
   * middleware does not reach for a file system by itself. A
   * {@link CrsDirectory} (`crsDirectory()`, deprecated) is still read here.
   * @default none: wsgate's embedded baseline rules
   * @example
   * import { readCrs } from 'wsgate/node'
   * waf({ crs: readCrs('/usr/share/modsecurity-crs'), paranoia: 1 })
   */
  crs?: CrsDirectory | CrsFiles
  /**
   * With `crs`: load the handshake profile, exclusions that know what a
   * WebSocket handshake is (README, "Handshake profile"; `profile.ts`): the
   * `Sec-WebSocket-Key`/`-Version`/`-Extensions`/`-Protocol` headers and
   * the query parameters of realtime frameworks (socket.io's `EIO`,
   * `transport`, `sid`, `t`; SignalR's `id`, `negotiateVersion`; Phoenix's
   * `vsn`, `_csrf_token`; Jupyter's `session_id`; HMR `token`s; JWTs in
   * `token`/`access_token`) taken from the rule families that misread
   * them, each only while its value matches its strict grammar; and 943120
   * (session id without a Referer) and 920300 (no Accept) relaxed for
   * WebSocket upgrades, which never carry a Referer and need no Accept.
   * `false` runs the CRS exactly as written. No effect without `crs`.
   * @default true
   */
  handshakeProfile?: boolean
  /**
   * Use the embedded baseline rules when no `crs` is given. `false` leaves
   * only `rules` (and `allow`/`deny`).
   * @default true
   */
  baseline?: boolean
  /**
   * Paranoia level, 1–4: higher levels run more rules and flag more unusual
   * but legitimate requests. Overrides crs-setup.conf's rule 900000.
   * @default 1
   */
  paranoia?: 1 | 2 | 3 | 4
  /**
   * Inbound anomaly score at which a handshake is refused (critical match 5,
   * error 4, warning 3, notice 2). Overrides crs-setup.conf's rule 900110.
   * @default 5
   */
  threshold?: number
  /**
   * Evaluate and log, never refuse: the log line says which handshakes
   * would have been blocked (`waf.action: 'detected'`). For tuning a rule set
   * on live traffic before enforcing it.
   * @default false
   */
  detectionOnly?: boolean
  /**
   * Custom rules, run by the same engine before the rule set (where
   * REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf runs, so SecLang rules can
   * also tune it with `ctl:ruleRemoveById`): SecLang text, rule objects
   * (which deny when they match), and functions `(facts, collections) =>
   * RuleMatch | null` (a match denies). Anything unsupported in them is an
   * error at start.
   * @default []
   */
  rules?: readonly WafCustomRule[]
  /**
   * Client addresses and CIDR ranges whose handshakes skip inspection.
   * Checked after `deny`.
   * @default []
   */
  allow?: readonly string[]
  /**
   * Client addresses and CIDR ranges refused with 403 `ERR_WAF_BLOCKED`
   * before any rule runs.
   * @default []
   */
  deny?: readonly string[]
  /**
   * Time one evaluation may take, ms, checked between rules (a single
   * regex cannot be interrupted; the 16 KiB header limit bounds its input,
   * and the Node host turns on V8's linear-time fallback for runaway
   * backtracking). Where the host offers a CPU clock (Node), a wall-clock
   * overrun is confirmed on it: from there the rules may use `budgetMs` of
   * CPU more before the handshake is refused, so a busy host's scheduling
   * delays do not refuse handshakes and an evaluation uses at most twice
   * the budget of CPU. On Cloudflare Workers the clock does not advance
   * during synchronous work, so the budget cannot trigger there.
   * @default 50
   */
  budgetMs?: number
  /**
   * What a handshake whose evaluation ran out of time gets. `block` (fail
   * closed) because the rules not yet run may be the ones that match: an
   * attacker who can slow the first rules down must not skip the rest.
   * Every overrun is logged (`waf.budgetExceeded`) and counted in `waf.stats`.
   * @default 'block'
   */
  onBudgetExceeded?: 'block' | 'pass'
  /** The clock, ms, for tests. @default performance.now */
  now?: () => number
}

/** What `waf()` publishes for later middleware and handlers: `c.get('wafVerdict')`. */
export interface WafVariables {
  wafVerdict: WafVerdict
}

/** Counters since start. */
export interface WafStats {
  /** Handshakes seen. */
  handshakes: number
  /** Refused (rules, deny list, or an overrun budget with `onBudgetExceeded: 'block'`). */
  blocked: number
  /** Would have been refused, in detection-only mode. */
  detected: number
  /** Evaluations that ran out of time. */
  budgetExceeded: number
}

/** The middleware `waf()` returns, with its load report and counters. */
export type WafMiddleware = MiddlewareHandler<{ Bindings: GatewayBindings; Variables: WafVariables }> & {
  /** What the rule set compiled into and everything unsupported, by name with counts (logged by `serve()` at start). */
  readonly report: WafReport
  /** The report as text lines, for a start-up log. */
  readonly reportLines: readonly string[]
  readonly stats: Readonly<WafStats>
  /**
   * Evaluates the rules on a handshake's facts without a request (no
   * allow/deny lists, no counters): for tests of custom rules, offline
   * replays and the benchmark.
   */
  inspect(facts: HandshakeFacts, requestId?: string): Evaluation
  /**
   * Hits, misses and size of the rule set's cache of value texts (their
   * transformed forms and prefilter literal sets, kept across handshakes
   * within `DEFAULT_WAF_TEXT_CACHE_*`): for the benchmark and tests.
   */
  textCacheStats(): ValueCacheStats | undefined
}

/** The client's reason: short, no rule details (those go to the log line). */
const BLOCKED_REASON = 'request blocked by the web application firewall'

const OPTION_NAMES: readonly string[] = [
  'crs',
  'baseline',
  'paranoia',
  'threshold',
  'detectionOnly',
  'rules',
  'allow',
  'deny',
  'budgetMs',
  'onBudgetExceeded',
  'handshakeProfile',
  'now',
]

/** The verdict of a handshake the allow list let through uninspected. */
const ALLOWED: WafVerdict = Object.freeze({ blocked: false, anomalyScore: 0, matches: [], micros: 0, budgetExceeded: false })

/**
 * Handshake WAF: inspects the request line, path, query arguments, headers
 * and cookies of every handshake with the OWASP Core Rule Set (or wsgate's
 * embedded baseline rules) plus custom rules, and refuses what the rules
 * block with 403 `ERR_WAF_BLOCKED`. Rules compile once, here; a handshake
 * only evaluates them. The log line of each handshake carries
 * `waf: { action, score, rules: [{ id, msg, var }], us }`.
 *
 * @example
 * import { readCrs } from 'wsgate/node'
 * const app = new Hono<{ Bindings: GatewayBindings }>()
 * app.all('/chat', waf({ crs: readCrs('/usr/share/modsecurity-crs'), paranoia: 1, allow: ['10.0.0.0/8'] }), websocket('ws://127.0.0.1:9001'))
 */
export function waf(options: WafOptions = {}): WafMiddleware {
  if (typeof options !== 'object' || options === null) throw new TypeError('waf(): options must be an object')
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.includes(name)) throw new TypeError(`waf(): unknown option "${name}"; the options are ${OPTION_NAMES.join(', ')}`)
  }
  const paranoia = options.paranoia ?? DEFAULT_WAF_PARANOIA
  if (![1, 2, 3, 4].includes(paranoia)) throw new TypeError(`waf(): paranoia must be 1, 2, 3 or 4, got ${JSON.stringify(options.paranoia)}`)
  const threshold = options.threshold ?? DEFAULT_WAF_THRESHOLD
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new TypeError(`waf(): threshold must be a positive integer anomaly score, got ${JSON.stringify(options.threshold)}`)
  const budgetMs = options.budgetMs ?? DEFAULT_WAF_BUDGET
  if (typeof budgetMs !== 'number' || !(budgetMs > 0) || !Number.isFinite(budgetMs)) throw new TypeError(`waf(): budgetMs must be a positive number of milliseconds, got ${JSON.stringify(options.budgetMs)}`)
  const onBudgetExceeded = options.onBudgetExceeded ?? 'block'
  if (onBudgetExceeded !== 'block' && onBudgetExceeded !== 'pass') throw new TypeError(`waf(): onBudgetExceeded must be 'block' or 'pass', got ${JSON.stringify(options.onBudgetExceeded)}`)
  for (const name of ['detectionOnly', 'baseline', 'handshakeProfile'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean') throw new TypeError(`waf(): ${name} must be true or false, got ${JSON.stringify(options[name])}`)
  }
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('waf(): now must be a function returning milliseconds')
  const detectionOnly = options.detectionOnly ?? false
  const handshakeProfile = options.crs !== undefined && (options.handshakeProfile ?? true)
  const allow = options.allow ? cidrMatcher(options.allow, 'waf(): allow') : undefined
  const deny = options.deny ? cidrMatcher(options.deny, 'waf(): deny') : undefined

  const { ruleSet, report } = loadRuleSet({ crs: options.crs, baseline: options.baseline !== false, rules: options.rules, paranoia, threshold, handshakeProfile, detectionOnly })
  const evaluateOptions: EvaluateOptions = { detectionOnly, budgetMs, onBudgetExceeded, now: options.now ?? (() => performance.now()) }
  const stats: WafStats = { handshakes: 0, blocked: 0, detected: 0, budgetExceeded: 0 }
  const evaluateFacts = (facts: HandshakeFacts, requestId: string, how: EvaluateOptions): Evaluation =>
    evaluate(ruleSet, facts, PRIMITIVES.buildCollections(facts), how, requestId)
  const inspect = (facts: HandshakeFacts, requestId = ''): Evaluation => evaluateFacts(facts, requestId, evaluateOptions)
  // The evaluation options with a host's CPU clock, made once per clock (the Node host hands the same function to every request).
  let withCpu: EvaluateOptions | undefined
  const optionsWithCpu = (cpuNow: () => number): EvaluateOptions => (withCpu?.cpuNow === cpuNow ? withCpu : (withCpu = { ...evaluateOptions, cpuNow }))
  warmUp(ruleSet)

  const middleware: MiddlewareHandler<{ Bindings: GatewayBindings; Variables: WafVariables }> = async function waf(c, next) {
    const runtime = c.env?.wsgate
    const facts = runtime
      ? { method: c.req.method, rawTarget: runtime.rawTarget, target: runtime.target, protocol: `HTTP/${runtime.httpVersion}`, headers: [...runtime.rawHeaders], remoteAddress: runtime.clientAddress }
      : requestFacts(c.req.raw)
    stats.handshakes++

    if (deny?.matches(facts.remoteAddress)) {
      stats.blocked++
      c.set('wafVerdict', { blocked: true, anomalyScore: 0, matches: [], micros: 0, budgetExceeded: false })
      runtime?.note({ waf: { action: 'blocked', reason: 'deny list' } })
      throw new GatewayError(403, 'ERR_WAF_BLOCKED', BLOCKED_REASON)
    }
    if (allow?.matches(facts.remoteAddress)) {
      c.set('wafVerdict', ALLOWED)
      runtime?.note({ waf: { action: 'allowed', reason: 'allow list' } })
      await next()
      return
    }

    // The host's CPU clock confirms a budget overrun (EvaluateOptions.cpuNow), unless a test clock is given.
    const cpuClock = options.now === undefined ? runtime?.cpuClock : undefined
    const evaluation = evaluateFacts(facts, runtime?.requestId ?? '', cpuClock ? optionsWithCpu(cpuClock) : evaluateOptions)
    const verdict: WafVerdict = {
      blocked: evaluation.blocked,
      anomalyScore: evaluation.anomalyScore,
      matches: evaluation.matches,
      micros: evaluation.micros,
      budgetExceeded: evaluation.budgetExceeded,
    }
    c.set('wafVerdict', verdict)
    if (evaluation.budgetExceeded) stats.budgetExceeded++
    const action = evaluation.blocked ? 'blocked' : evaluation.wouldBlock ? 'detected' : 'passed'
    runtime?.note({
      waf: {
        action,
        score: evaluation.anomalyScore,
        rules: evaluation.matches.map((match) => ({ id: match.id, msg: match.message, var: match.variable })),
        us: evaluation.micros,
        ...(evaluation.blockedBy !== undefined ? { blockedBy: evaluation.blockedBy } : {}),
        ...(evaluation.budgetExceeded ? { budgetExceeded: true } : {}),
      },
    })
    if (evaluation.blocked) {
      stats.blocked++
      throw new GatewayError(403, 'ERR_WAF_BLOCKED', BLOCKED_REASON)
    }
    if (evaluation.wouldBlock) stats.detected++
    await next()
  }
  const warnings = [detectionOnly && 'detectionOnly is true: matches are logged, no handshake is blocked']
  // A budget on the host's clock can run out only where that clock moves while the rules run (not on Workers); with `now` the clock is the caller's.
  const needs = (['budgetMs', 'onBudgetExceeded'] as const).map((name) => options[name] !== undefined && options.now === undefined && hostNeed('running-clock', 'waf', name))
  return withHostNeeds(withWarnings(Object.assign(middleware, { report, reportLines: formatReport(report), stats, inspect, textCacheStats: () => valueCacheStats(ruleSet) }), warnings), needs)
}
