/**
 * The handshake profile: exclusions that know what a WebSocket handshake
 * is, loaded with the CRS by `waf({ crs })` unless `handshakeProfile:
 * false`. CRS 3.3.4 is written for browser navigations and form posts; on
 * handshakes it flags what every handshake does (no Referer, no Accept) and
 * feeds protocol values with a grammar of their own (the `Sec-WebSocket-*`
 * headers, the query parameters of realtime frameworks) to attack rules.
 *
 * Each exclusion is narrow: one rule or one rule family, one target, and
 * a condition:
 * - `grammar`: the target is taken from the family only for a value that
 *   matches a strict grammar (`profile-grammars.ts`); any other value, and
 *   every other occurrence of the same name, is inspected as usual.
 *   Decided at compile time, as `SecRuleUpdateTargetById` is, with the
 *   grammar checked per value (`CompiledExclusion.grammar`): no `ctl`, so
 *   the per-handshake cost does not grow, it shrinks a little (fewer
 *   values for those rules to read).
 * - `upgrade`: the rule is relaxed for a WebSocket upgrade only (`GET`,
 *   `Upgrade: websocket`, `Connection: upgrade`), decided per request by a
 *   SecLang rule with a `ctl` action, as a ModSecurity exclusion would be;
 *   a browser navigation never carries those headers, so the rule keeps
 *   guarding every other request.
 *
 * The README lists every exclusion with its reason;
 * test/middleware/waf/rules/profile.test.ts places an attack in each target and
 * shows it still caught. Rule ids 9901000–9901099. Portable: no `node:`
 * import.
 */
import type { GrammarExclusion, RuleUnit } from './compile.ts'
import {
  DOTTED_VERSION,
  ENGINE_IO_TIMESTAMP,
  ENGINE_IO_TRANSPORT,
  ENGINE_IO_VERSION,
  HMR_TOKEN,
  JWT,
  OPAQUE_ID,
  SMALL_NUMBER,
  UUID,
  WEBSOCKET_EXTENSIONS,
  WEBSOCKET_KEY,
  WEBSOCKET_PROTOCOL,
  WEBSOCKET_VERSION,
} from './profile-grammars.ts'

/** A rule family of CRS 3.3.4, by its id range. */
export interface RuleFamily {
  name: string
  rules: readonly [from: number, to: number]
}

/** Application-attack families of CRS 3.3.4 that the profile takes targets from. */
export const FAMILIES = {
  rce: { name: 'remote command execution (932xxx)', rules: [932000, 932999] },
  xss: { name: 'cross-site scripting (941xxx)', rules: [941000, 941999] },
  sqli: { name: 'SQL injection (942xxx)', rules: [942000, 942999] },
} as const satisfies Record<string, RuleFamily>

/** One exclusion of the profile (see the module comment). */
export type ProfileExclusion =
  | {
      kind: 'grammar'
      /** Stable name: `<target>/<family>`. */
      name: string
      family: RuleFamily
      /** `ARGS` (a query parameter) or `REQUEST_HEADERS`, and the one name it applies to. */
      collection: 'ARGS' | 'REQUEST_HEADERS'
      key: string
      grammar: RegExp
      /** Why the family has no business with a value of that grammar. */
      reason: string
    }
  | {
      kind: 'upgrade'
      name: string
      /** The one rule relaxed. */
      rule: number
      /** What is taken away: the rule's one target (`ARGS_NAMES:<key>`, for a parameter whose value matches `grammar`), or the whole rule. */
      target: { collection: 'ARGS_NAMES'; key: string; grammar: RegExp } | { rule: true; reads: string }
      reason: string
    }

/**
 * The `Sec-WebSocket-*` headers and their grammars, taken from the
 * injection families (SQLi, XSS, RCE). In CRS 3.3.4 only RCE's 932170/932171
 * (Shellshock) read every request header; its SQLi and XSS rules read
 * User-Agent and Referer by name, so for them the exclusion holds for rule
 * sets whose rules read more. Not from LFI, PHP or Java (930/933/944), which
 * also read every header: a dotted protocol token can spell a Java class,
 * and the handshake pays for every target list that differs from the
 * others' (its own selection and prefilter union), for no false positive
 * seen there.
 */
const HEADERS: readonly [key: string, grammar: RegExp, reason: string][] = [
  ['Sec-WebSocket-Key', WEBSOCKET_KEY, 'a base64 nonce (RFC 6455 §4.1) the origin only hashes, never interprets'],
  ['Sec-WebSocket-Version', WEBSOCKET_VERSION, 'the protocol version, 13 (RFC 6455 §4.2.1)'],
  ['Sec-WebSocket-Extensions', WEBSOCKET_EXTENSIONS, 'extension tokens and parameters (RFC 6455 §9.1); the grammar has no quote, parenthesis, angle bracket, slash or dot an injection needs'],
  ['Sec-WebSocket-Protocol', WEBSOCKET_PROTOCOL, 'subprotocol tokens (RFC 6455 §4.1); the grammar has no quote, parenthesis, angle bracket, space inside a token or leading dot an injection needs'],
]
const HEADER_FAMILIES: readonly RuleFamily[] = [FAMILIES.sqli, FAMILIES.xss, FAMILIES.rce]

/** Query parameters of realtime frameworks, their grammars, and why each is what it is. */
const PARAMETERS: readonly [key: string, grammar: RegExp, reason: string][] = [
  ['EIO', ENGINE_IO_VERSION, "socket.io's engine.io protocol revision"],
  ['transport', ENGINE_IO_TRANSPORT, "socket.io's transport name"],
  ['sid', OPAQUE_ID, "socket.io's session id (base64url); a random one holds `--…-`, which 942440 reads as an SQL comment"],
  ['t', ENGINE_IO_TIMESTAMP, "socket.io's cache-busting timestamp (yeast, base64url)"],
  ['id', OPAQUE_ID, "SignalR's connection token (base64url)"],
  ['negotiateVersion', SMALL_NUMBER, "SignalR's negotiation protocol version"],
  ['vsn', DOTTED_VERSION, "Phoenix's serializer version (2.0.0)"],
  ['_csrf_token', OPAQUE_ID, "Phoenix LiveView's CSRF token (base64url)"],
  ['session_id', UUID, "a Jupyter kernel channel's session (a UUID); 942432 (PL4) counts its dashes as SQL special characters"],
  ['token', HMR_TOKEN, "an HMR server's token (Vite's base64url, a notebook server's hex)"],
  ['token', JWT, 'a JWT handed to a WebSocket in the URL (browsers cannot set Authorization on one); its base64url segments hold `--…-`'],
  ['access_token', JWT, "SignalR's and others' bearer token in the URL, a JWT"],
]

/** Every exclusion of the profile, in the order the README lists them. */
export const HANDSHAKE_PROFILE: readonly ProfileExclusion[] = [
  {
    kind: 'upgrade',
    name: 'ARGS_NAMES:session_id/943120',
    rule: 943120,
    target: { collection: 'ARGS_NAMES', key: 'session_id', grammar: UUID },
    reason:
      "943120 flags a session-id parameter on a request without a Referer, a link followed from elsewhere (session fixation); browsers never send a Referer on a WebSocket handshake, so on one the rule only says that a parameter is named session_id, as every Jupyter kernel channel's is. Relaxed for that name, when it occurs once with a UUID value",
  },
  {
    kind: 'upgrade',
    name: 'REQUEST_HEADERS:Accept/920300',
    rule: 920300,
    target: { rule: true, reads: '&REQUEST_HEADERS:Accept' },
    reason: "920300 (PL2) expects an Accept header, which content negotiation needs and a 101 response does not; Chrome, Safari and most non-browser WebSocket clients send none",
  },
  ...HEADERS.flatMap(([key, grammar, reason]) =>
    HEADER_FAMILIES.map((family): ProfileExclusion => ({ kind: 'grammar', name: `REQUEST_HEADERS:${key}/${family.rules[0] / 1000}xxx`, family, collection: 'REQUEST_HEADERS', key, grammar, reason })),
  ),
  ...PARAMETERS.map(([key, grammar, reason]): ProfileExclusion => ({ kind: 'grammar', name: `ARGS:${key}/942xxx${grammar === JWT ? ' (JWT)' : ''}`, family: FAMILIES.sqli, collection: 'ARGS', key, grammar, reason })),
]

/** Ids of the profile's SecLang rules. */
export const PROFILE_RULE_IDS = [9_901_000, 9_901_099] as const

/** A list value of `Upgrade`/`Connection` holding `token`, case-insensitively (RFC 9110 §7.8, §7.6.1). */
const listHolds = (token: string): string => String.raw`(?i)(?:^|,)[ \t]*${token}[ \t]*(?:,|$)`

/** The SecLang rule that relaxes one `upgrade` exclusion: a chain that matches a WebSocket upgrade, ending in the `ctl`. */
function upgradeRule(id: number, exclusion: Extract<ProfileExclusion, { kind: 'upgrade' }>): string {
  const { target } = exclusion
  const upgrade = ['REQUEST_METHOD "@streq GET"', `REQUEST_HEADERS:Upgrade "@rx ${listHolds('websocket')}"`, `REQUEST_HEADERS:Connection "@rx ${listHolds('upgrade')}"`]
  const conditions =
    'rule' in target
      ? // 920300 runs from PL2 on: at PL1 there is nothing to remove, and the chain stops at its first link.
        ['TX:EXECUTING_PARANOIA_LEVEL "@ge 2"', ...upgrade]
      : // The value first: a handshake without query arguments steps over the whole rule (absent-targets.ts), one without
        // the name stops at once. Once only, so that a second occurrence (`?session_id=<uuid>&session_id=<attack>`) leaves the target in place.
        [`ARGS:${target.key} "@rx ${target.grammar.source}"`, `&ARGS:${target.key} "@eq 1"`, ...upgrade]
  const ctl = 'rule' in target ? `ctl:ruleRemoveById=${exclusion.rule}` : `ctl:ruleRemoveTargetById=${exclusion.rule};${target.collection}:${target.key}`
  return conditions
    .map((condition, index) => {
      const first = index === 0 ? `id:${id},phase:1,pass,nolog,msg:'wsgate handshake profile: ${exclusion.name}',tag:'wsgate-handshake-profile',` : ''
      return `SecRule ${condition} "${first}t:none,${index === conditions.length - 1 ? ctl : 'chain'}"`
    })
    .join('\n')
}

/**
 * The profile as rule units: the per-request rules (SecLang, loaded right
 * after REQUEST-901, before any rule they relax) and the grammar
 * exclusions (loaded after the rule files, since they apply to rules
 * already loaded).
 */
export function profileUnits(): { perRequest: RuleUnit; grammars: RuleUnit } {
  let id = PROFILE_RULE_IDS[0]
  const text = HANDSHAKE_PROFILE.flatMap((exclusion) => (exclusion.kind === 'upgrade' ? [upgradeRule(id++, exclusion)] : [])).join('\n')
  const grammars = HANDSHAKE_PROFILE.flatMap((exclusion): GrammarExclusion[] =>
    exclusion.kind === 'grammar' ? [{ rules: [exclusion.family.rules], collection: exclusion.collection, key: exclusion.key.toLowerCase(), grammar: exclusion.grammar }] : [],
  )
  return {
    perRequest: { file: 'wsgate handshake profile (per request)', text },
    grammars: { file: 'wsgate handshake profile (grammars)', exclusions: grammars },
  }
}
