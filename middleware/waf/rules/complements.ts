/**
 * wsgate rules loaded beside CRS rule 942100, for what its detector does
 * not yet catch. CRS 942100 / 941100 call libinjection through `@detectSQLi`
 * and `@detectXSS`; wsgate runs them as written with its own detectors
 * (`detect/`). Before those existed, regex stand-ins 9942101–9942107 and
 * 9941101–9941103 ran in their place. Each was retired once a test showed
 * the detector flags every value it matches, among the attack corpus's
 * values and the CRS pattern samples (test/middleware/waf/detect/corpora.test.ts):
 * all three XSS stand-ins and 9942101, 9942104, 9942106, 9942107.
 *
 * Kept, because the fingerprint detector misses some of what they match:
 * - 9942102 (UNION SELECT): a UNION cut short, `union distinct ((select`
 *   with nothing after it, folds to a fingerprint no corpus injection has;
 * - 9942103 (time and error oracles): a bare `sleep(`, `benchmark(`,
 *   `load_file(`, `waitfor time` fragment is a function call like any
 *   other to a tokenizer (`f(`), and flagging every call would flag benign
 *   values such as `rgb(255)`;
 * - 9942105 (system catalogs): a lone `information_schema` is one word.
 *
 * They load with the CRS, over the targets, transformations, tags and
 * scores of 942100, and the load report lists them as its complements.
 * Ids 9942100–9942199. Portable: no `node:` import.
 */

/** wsgate rules loaded beside a CRS rule that runs as written. */
export interface Complement {
  /** The CRS rule they complement. */
  complements: number
  /** Ids of the wsgate rules. */
  ids: number[]
  /** The rules, SecLang. */
  text: string
}

/** 942100's targets: cookies (not Google Analytics'), their names, User-Agent, Referer, argument names and values. */
const SQLI_TARGETS = 'REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|REQUEST_COOKIES_NAMES|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer|ARGS_NAMES|ARGS'
const SQLI_TAGS = "tag:'application-multi',tag:'language-multi',tag:'platform-multi',tag:'attack-sqli',tag:'paranoia-level/1',tag:'OWASP_CRS',tag:'capec/1000/152/248/66',tag:'wsgate-complement'"

const sqli = (id: number, what: string, pattern: string, extra = ''): string =>
  `SecRule ${SQLI_TARGETS} "@rx ${pattern}" "id:${id},phase:2,block,capture,t:none,t:utf8toUnicode,t:urlDecodeUni,t:removeNulls,t:lowercase,t:compressWhitespace${extra},` +
  `msg:'SQL Injection Attack Detected (wsgate complement to 942100: ${what})',logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}',` +
  `${SQLI_TAGS},severity:'CRITICAL',setvar:'tx.sql_injection_score=+%{tx.critical_anomaly_score}',setvar:'tx.anomaly_score_pl1=+%{tx.critical_anomaly_score}'"`

/** The rules kept beside 942100 (see the module comment). */
export const COMPLEMENTS: readonly Complement[] = [
  {
    complements: 942100,
    ids: [9942102, 9942103, 9942105],
    text: [
      sqli(9942102, 'UNION SELECT', String.raw`\bunion(?:\s+all|\s+distinct)?[\s(]+select\b`, ',t:replaceComments,t:compressWhitespace'),
      sqli(9942103, 'time-based or error-based function', String.raw`\b(?:sleep|benchmark|pg_sleep|extractvalue|updatexml|load_file)\s*\(|\bwaitfor\s+(?:delay|time)\s+['\"\x60]`),
      sqli(9942105, 'system catalog or procedure', String.raw`\b(?:information_schema|pg_catalog|sqlite_master|mysql\.user|xp_cmdshell|sp_executesql|sysobjects|syscolumns)\b`),
    ].join('\n'),
  },
]
