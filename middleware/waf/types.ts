/**
 * The contract between the parts of the WAF: the request collections rules
 * read, the transformations and operators they apply, and what an
 * evaluation reports. The SecLang parser and engine (`engine.ts`), the
 * primitives (`transformations.ts`, `operators.ts`, `collections.ts`) and
 * the middleware (`index.ts`) meet here. Portable: no `node:` import.
 */

/** One value of a collection: `ARGS:user` is `{ name: 'user', value: … }`; scalars use the collection's own name. */
export interface CollectionItem {
  /** Key within the collection (argument, header or cookie name), or the variable name for scalars. */
  name: string
  value: string
}

/**
 * Everything a handshake offers to rules, keyed by upper-case SecLang
 * variable name (`ARGS`, `REQUEST_HEADERS`, `REQUEST_URI`, `TX`, …).
 * Multi-valued collections hold one item per value; header names keep the
 * case the client sent in `REQUEST_HEADERS_NAMES` but match case-insensitively.
 */
export type RequestCollections = Map<string, CollectionItem[]>

/** The facts of a handshake that the collections are built from (no body: the WAF runs at handshake time). */
export interface HandshakeFacts {
  method: string
  /** The request target as the client sent it (origin-form or absolute-form), before decoding. */
  rawTarget: string
  /**
   * The target as the gateway routes and forwards it (normalised path, see
   * `GatewayRuntime.target`). REQUEST_URI, REQUEST_FILENAME and ARGS are read
   * from it, so the WAF judges the path the origin will receive;
   * REQUEST_URI_RAW and REQUEST_LINE keep what was sent, so an evasion
   * attempt (`%2e%2e/`) is still seen. @default rawTarget
   */
  target?: string | undefined
  /** e.g. `HTTP/1.1`. */
  protocol: string
  /** Header list in arrival order, repeated headers as separate entries. */
  headers: [name: string, value: string][]
  /** The client's address as the socket saw it. */
  remoteAddress: string
}

/** A transformation (`t:lowercase`, `t:urlDecodeUni`, …): pure, total (never throws), string in, string out. */
export type Transformation = (input: string) => string

/**
 * A compiled operator. Returns the captures when it matches (index 0 the
 * matched text, 1–9 the groups, used by the `capture` action), `null` when
 * it does not. `expand` resolves macros such as `%{tx.allowed_methods}` in
 * the operator's parameter at evaluation time (the parameter is compiled
 * once when it holds no macro).
 *
 * `factors`, when present, are literals (lower-case byte strings) of which
 * every value the operator matches contains one, ignoring ASCII case: the
 * engine skips the operator on a value containing none (`literal-index.ts`).
 */
export type Operator = ((input: string, expand: (text: string) => string) => string[] | null) & { readonly factors?: readonly string[] }

/** What operators may need from their surroundings while compiling. */
export interface OperatorContext {
  /**
   * Reads a data file named by `@pmFromFile` / `@ipMatchFromFile`, resolved
   * against the directory of the rule file; throws if it cannot.
   */
  readDataFile?: (name: string) => string
}

/** Builds an operator from its parameter (`@rx <param>`); throws `TypeError` on a parameter it cannot compile. */
export type OperatorFactory = (param: string, context: OperatorContext) => Operator

/** One rule that matched during an evaluation. */
export interface RuleMatch {
  id: number
  /** The rule's `msg`, macros expanded. */
  message: string
  /** The variable that matched, e.g. `ARGS:q` or `REQUEST_HEADERS:User-Agent`. */
  variable: string
  /** The matched value, after transformations, cut to 200 characters. */
  value: string
  severity?: string
  tags?: string[]
}

/** What one evaluation of a handshake concludes. */
export interface WafVerdict {
  /** Whether the handshake is to be refused (always false in detection-only mode). */
  blocked: boolean
  /** The inbound anomaly score the CRS computed (0 without the CRS). */
  anomalyScore: number
  /** Every rule that matched, in evaluation order. */
  matches: RuleMatch[]
  /** Evaluation time, microseconds. */
  micros: number
  /** True when the time budget ran out before every rule ran (the request is then blocked or passed as `onBudgetExceeded` says). */
  budgetExceeded: boolean
}
