/**
 * Stand-ins for the CRS rules wsgate cannot run as written. CRS 942100 and
 * 941100 (paranoia level 1) call libinjection through `@detectSQLi` and
 * `@detectXSS`, which have no faithful portable port (see `operators.ts`);
 * without them the CRS at PL1 misses plain SQL injection such as
 * `1' OR '1'='1`, which only 942100 catches. When those operators are
 * missing, `waf({ crs })` loads these rules in their place: the regex
 * detections of wsgate's baseline, over the targets, transformations,
 * tags and scores of the rule they stand in for. The load report lists the
 * original as disabled and names its substitute.
 *
 * Ids 9942100–9942199 and 9941100–9941199. Portable: no `node:` import.
 */

/** A CRS rule replaced, and the rules replacing it. */
export interface Substitute {
  /** The CRS rule that cannot run. */
  replaces: number
  /** The operator it needs (lower-cased, without `@`). */
  operator: string
  /** Ids of the stand-in rules. */
  ids: number[]
  /** The stand-in rules, SecLang. */
  text: string
}

/** 942100's targets: cookies (not Google Analytics'), their names, User-Agent, Referer, argument names and values. */
const SQLI_TARGETS = 'REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|REQUEST_COOKIES_NAMES|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer|ARGS_NAMES|ARGS'
/** 941100's targets (no Referer). */
const XSS_TARGETS = 'REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|REQUEST_COOKIES_NAMES|REQUEST_HEADERS:User-Agent|ARGS_NAMES|ARGS'

const SQLI_TAGS = "tag:'application-multi',tag:'language-multi',tag:'platform-multi',tag:'attack-sqli',tag:'paranoia-level/1',tag:'OWASP_CRS',tag:'capec/1000/152/248/66',tag:'wsgate-substitute'"
const XSS_TAGS = "tag:'application-multi',tag:'language-multi',tag:'platform-multi',tag:'attack-xss',tag:'paranoia-level/1',tag:'OWASP_CRS',tag:'capec/1000/152/242',tag:'wsgate-substitute'"

const sqli = (id: number, what: string, pattern: string, extra = ''): string =>
  `SecRule ${SQLI_TARGETS} "@rx ${pattern}" "id:${id},phase:2,block,capture,t:none,t:utf8toUnicode,t:urlDecodeUni,t:removeNulls,t:lowercase,t:compressWhitespace${extra},` +
  `msg:'SQL Injection Attack Detected (wsgate stand-in for 942100: ${what})',logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}',` +
  `${SQLI_TAGS},severity:'CRITICAL',setvar:'tx.sql_injection_score=+%{tx.critical_anomaly_score}',setvar:'tx.anomaly_score_pl1=+%{tx.critical_anomaly_score}'"`

const xss = (id: number, what: string, pattern: string): string =>
  `SecRule ${XSS_TARGETS} "@rx ${pattern}" "id:${id},phase:2,block,capture,t:none,t:utf8toUnicode,t:urlDecodeUni,t:htmlEntityDecode,t:jsDecode,t:cssDecode,t:removeNulls,t:lowercase,` +
  `msg:'XSS Attack Detected (wsgate stand-in for 941100: ${what})',logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}',` +
  `${XSS_TAGS},severity:'CRITICAL',setvar:'tx.xss_score=+%{tx.critical_anomaly_score}',setvar:'tx.anomaly_score_pl1=+%{tx.critical_anomaly_score}'"`

/** The stand-ins, by the operator whose absence calls for them. */
export const SUBSTITUTES: readonly Substitute[] = [
  {
    replaces: 942100,
    operator: 'detectsqli',
    ids: [9942101, 9942102, 9942103, 9942104, 9942105, 9942106, 9942107],
    text: [
      sqli(9942101, 'boolean tautology after a quote', String.raw`['\"\x60]\s*(?:or|and|xor|\|\||&&)\s*(?:['\"\x60]?\w+['\"\x60]?\s*(?:=|<|>|like\b|is\b)|\d+\s*(?:=|<|>)|true\b|not\b)`),
      sqli(9942102, 'UNION SELECT', String.raw`\bunion(?:\s+all|\s+distinct)?[\s(]+select\b`, ',t:replaceComments,t:compressWhitespace'),
      sqli(9942103, 'time-based or error-based function', String.raw`\b(?:sleep|benchmark|pg_sleep|extractvalue|updatexml|load_file)\s*\(|\bwaitfor\s+(?:delay|time)\s+['\"\x60]`),
      sqli(9942104, 'stacked query', String.raw`;\s*(?:(?:drop|truncate|alter)\s+(?:table|database|schema|user)\b|delete\s+from\b|insert\s+into\b|update\s+\w+\s+set\b|exec(?:ute)?\s+\w|shutdown\b|declare\s+@)`),
      sqli(9942105, 'system catalog or procedure', String.raw`\b(?:information_schema|pg_catalog|sqlite_master|mysql\.user|xp_cmdshell|sp_executesql|sysobjects|syscolumns)\b`),
      sqli(9942106, 'comment after a quote, or numeric tautology', String.raw`['\"\x60]\s*(?:;\s*)?(?:--|#|/\*)|\bor\s+\d+\s*=\s*\d+|\band\s+\d+\s*=\s*\d+`),
      sqli(9942107, 'clause after a quote', String.raw`['\"\x60]\s*(?:order|group)\s+by\s+[\w(]|['\"\x60]\s*having\s+\w|\b(?:order|group)\s+by\s+\d+\s*(?:--|#|/\*)`),
    ].join('\n'),
  },
  {
    replaces: 941100,
    operator: 'detectxss',
    ids: [9941101, 9941102, 9941103],
    text: [
      xss(9941101, 'script tag', String.raw`<\s*/?\s*script\b`),
      xss(9941102, 'event handler attribute', String.raw`<\s*[a-z][^>]*?[\s/\"'](?:on[a-z]{3,}|formaction|srcdoc)\s*=`),
      xss(9941103, 'script URI or embedding tag', String.raw`(?:^|[\s\"'=(<])(?:java|vb|live)script\s*:|<\s*(?:iframe|object|embed|base|applet|meta)\b`),
    ].join('\n'),
  },
]
