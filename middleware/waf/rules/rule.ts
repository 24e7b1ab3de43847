/**
 * The compiled form of rules: what `compile.ts` produces once at start-up
 * and `engine.ts` runs on every handshake. Everything a rule needs at
 * evaluation time is resolved here (operators built, transformation chains
 * looked up, macros split, skip targets turned into indexes), so that an
 * evaluation parses nothing.
 *
 * Portable: no `node:` import.
 */
import type { LiteralIndex, LiteralMask } from '../prefilter/literal-index.ts'
import type { MacroRef, Template } from '../engine/macros.ts'
import type { CollectionItem, HandshakeFacts, Operator, RequestCollections, RuleMatch, Transformation } from '../types.ts'

/** A target of a rule: a collection, optionally narrowed to a key or a key pattern, or its count. */
export interface CompiledTarget {
  /** Upper-cased collection name: `ARGS`, `TX`, `REQUEST_HEADERS`. */
  collection: string
  /** Lower-cased key (`REQUEST_HEADERS:User-Agent` → `user-agent`); keys match case-insensitively. */
  key: string | undefined
  /** A `/regex/` selector, compiled case-insensitive. */
  keyPattern: RegExp | undefined
  /** `&COLLECTION`: the value is the number of selected items. */
  count: boolean
  /** The name the count, or a keyed TX value, is logged under (`&ARGS`, `&TX:foo`, `TX:foo`); built once here. */
  variable: string
  /** The link's exclusions of this target's collection, gathered once the rule set is complete. */
  exclusions: CompiledExclusion[]
  /**
   * For a target on a request collection (which no rule changes), an id
   * shared by every equal target in the rule set: an evaluation selects its
   * values once and keeps them under it. -1 for the engine's own
   * collections (TX, MATCHED_VARS…), read afresh each time.
   */
  cacheId: number
}

/** An exclusion (`!ARGS:password`, `ctl:ruleRemoveTargetById=…;ARGS:password`): items it selects are not inspected. */
export interface CompiledExclusion {
  collection: string
  /** Lower-cased key; undefined with no pattern excludes the whole collection. */
  key: string | undefined
  keyPattern: RegExp | undefined
  /**
   * The grammar an item's value must match to be excluded (the handshake
   * profile's, `profile.ts`): a value outside it is inspected as if the
   * exclusion were not there. Undefined for SecLang's exclusions, which
   * exclude by name alone.
   */
  grammar?: RegExp
}

/** `setvar` on TX: set, add, subtract or delete; name and value may hold macros. */
export interface CompiledSetVar {
  op: 'set' | 'add' | 'sub' | 'delete'
  name: Template
  value: Template
}

/** A `ctl` action the engine supports. */
export type CompiledCtl =
  | { kind: 'removeById'; ranges: [from: number, to: number][] }
  | { kind: 'removeByTag'; tag: string }
  | { kind: 'removeTargetById'; ranges: [from: number, to: number][]; exclusion: CompiledExclusion }
  | { kind: 'removeTargetByTag'; tag: string; exclusion: CompiledExclusion }
  | { kind: 'ruleEngine'; mode: 'on' | 'off' | 'detectiononly' }

/** One `SecRule` of a chain (or the only one). */
export interface CompiledLink {
  targets: CompiledTarget[]
  exclusions: CompiledExclusion[]
  /** Undefined for `SecAction` (matches unconditionally). */
  operator: Operator | undefined
  /** The macros in the operator's parameter (`@lt %{tx.paranoia_level}`), if it has any. */
  paramRefs?: readonly MacroRef[]
  negated: boolean
  transformations: Transformation[]
  /** Cache id of each prefix of the transformation chain (`[id(a), id(a+b), …]`), shared across rules. */
  prefixIds: number[]
  /**
   * The operator's `factors` as literals of the rule set's
   * {@link RuleSet.literals}: a value containing none of them cannot match,
   * and the operator is not run on it. Undefined when the operator has none.
   */
  factorIds: LiteralMask | undefined
  /**
   * Per target, the id of the union of its values' literal sets that the
   * engine checks before the values themselves (`target-unions.ts`), or -1;
   * undefined for a link without a prefilter.
   */
  unionIds: Int32Array | undefined
  /** Per transformation, its id in the rule set (equal functions, equal ids): see {@link RuleSet.transformCount}. */
  transformIds: number[]
  /** Per transformation, whether it only changes ASCII case (which the prefilter index ignores). */
  caseOnly: boolean[]
  /**
   * Per transformation, the hazards (`plain-texts.ts`) of the chain up to
   * it: a text holding none of them comes out of that prefix equal up to
   * ASCII case.
   */
  hazards: number[]
  multiMatch: boolean
  capture: boolean
  setvars: CompiledSetVar[]
  ctls: CompiledCtl[]
}

/** What a rule does once its whole chain matched. */
export type Disruptive = 'pass' | 'deny' | 'drop' | 'allow' | 'allowPhase'

/** A rule (with its chain), ready to run. */
export interface CompiledRule {
  /** The rule's id; 0 for none. */
  id: number
  phase: 1 | 2
  links: CompiledLink[]
  message: Template | undefined
  logdata: Template | undefined
  severity: string | undefined
  tags: string[]
  /** Lower-cased tags, for `ctl:ruleRemoveByTag`. */
  tagSet: ReadonlySet<string>
  disruptive: Disruptive
  /** Whether a match is recorded in the verdict (`nolog` rules are bookkeeping). */
  log: boolean
  /** `skip:N`: rules to skip after a match. */
  skip: number
  /** `skipAfter`: index in the phase's rule list to continue at after a match; -1 for none. */
  skipTo: number
  /** The marker or rule id `skipAfter` named, before resolution. */
  skipAfter: string | undefined
  file: string
  line: number
  /** A rule written as a function (`waf({ rules: [fn] })`): replaces the links; undefined for a SecLang rule. */
  custom: CustomRuleFunction | undefined
}

/** What a new rule starts from: its place, its phase's defaults and, for a function rule, the function. */
export interface RuleStart {
  id: number
  phase: 1 | 2
  disruptive: Disruptive
  log: boolean
  file: string
  line: number
  custom?: CustomRuleFunction
}

/**
 * A rule with no links, tags, message or skip yet: the one place every
 * compiled rule is made, so that all have the same fields in the same order
 * (one object shape for the engine's per-rule loop, SecLang and function
 * rules alike).
 */
export function newRule(start: RuleStart): CompiledRule {
  return {
    id: start.id,
    phase: start.phase,
    links: [],
    message: undefined,
    logdata: undefined,
    severity: undefined,
    tags: [],
    tagSet: new Set(),
    disruptive: start.disruptive,
    log: start.log,
    skip: 0,
    skipTo: -1,
    skipAfter: undefined,
    file: start.file,
    line: start.line,
    custom: start.custom,
  }
}

/** A custom rule written as a function: returns a match to block the handshake, or null. */
export type CustomRuleFunction = (facts: HandshakeFacts, collections: RequestCollections) => RuleMatch | null

/** A compiled rule set: the rules of phases 1 and 2 in evaluation order. */
export interface RuleSet {
  /** Rules of phase 1 (request headers), then phase 2 (request body: at handshake time, the same facts). */
  phases: readonly [CompiledRule[], CompiledRule[]]
  /** Whether `SecRuleEngine DetectionOnly` was set by the rules themselves. */
  detectionOnly: boolean
  /** `SecRuleEngine Off`. */
  engineOff: boolean
  /** How many distinct transformation-chain prefixes the rules use (the size of a value's transformation cache). */
  prefixCount: number
  /** How many distinct transformation functions the rules use (the size of a value's per-function memo). */
  transformCount: number
  /** How many distinct cacheable targets there are (see {@link CompiledTarget.cacheId}). */
  targetCount: number
  /** Per union id, the words of the literal sets it ORs (see {@link CompiledLink.unionIds}). */
  unionWords: readonly Int32Array[]
  /** Every operator's prefilter literals (see {@link CompiledLink.factorIds}); undefined when no operator has any. */
  literals: LiteralIndex | undefined
}

/** A value a rule inspects, with the name it is logged under (`ARGS:q`). */
export interface TargetValue extends CollectionItem {
  /** `ARGS:q`, `REQUEST_URI`, `&ARGS`. */
  variable: string
}
