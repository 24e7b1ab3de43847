import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadCrs, MINIMAL_SETUP } from '../../../../middleware/waf/rules/crs-files.ts'
import { waf, type WafMiddleware } from '../../../../middleware/waf/index.ts'
import type { HandshakeFacts } from '../../../../middleware/waf/types.ts'
import { crsDirectory, readCrs } from '../../../../src/node/crs-directory.ts'
import { ATTACKS, ATTACKS_PARANOIA_2, type AttackCase } from '../../../fixtures/waf/attacks.ts'
import { BENIGN, CRS_FALSE_POSITIVES } from '../../../fixtures/waf/benign.ts'
import { handshakeFacts } from '../../../fixtures/waf/handshake.ts'

/** Where Debian's modsecurity-crs package (3.3.4) puts the rules; .ci/run installs it. */
const CRS = '/usr/share/modsecurity-crs'

// Compiling the CRS takes ~150 ms: one instance per configuration for the whole file.
const crs = new Map<string, WafMiddleware>()
function crsWaf(paranoia: 1 | 2 | 3 | 4 = 1, threshold = 5): WafMiddleware {
  const key = `${paranoia}/${threshold}`
  let instance = crs.get(key)
  if (!instance) crs.set(key, (instance = waf({ crs: readCrs(CRS), paranoia, threshold })))
  return instance
}

/** Ids of the cases `instance` does not block. */
const notBlocked = (instance: WafMiddleware, cases: readonly { id: string; facts: HandshakeFacts }[]): string[] =>
  cases.filter((item) => !instance.inspect(item.facts).blocked).map((item) => item.id)
/** Ids of the cases `instance` blocks. */
const blocked = (instance: WafMiddleware, cases: readonly { id: string; facts: HandshakeFacts }[]): string[] =>
  cases.filter((item) => instance.inspect(item.facts).blocked).map((item) => item.id)

const paranoiaTag = (tags: readonly string[] | undefined): number => Number(tags?.find((tag) => tag.startsWith('paranoia-level/'))?.slice('paranoia-level/'.length) ?? 0)

describe('loading the CRS as Debian packages it', () => {
  it('reads crs-setup.conf and the exclusion files from /etc/modsecurity/crs, then rules/*.conf sorted, and counts what it loaded', () => {
    const { report } = crsWaf()
    expect(report).toMatchObject({
      ruleSet: 'crs',
      version: 'OWASP_CRS/3.3.4',
      paranoia: 1,
      threshold: 5,
      detectionOnly: false,
      // 525 CRS rules that can run on a handshake (942100/942101/941100/941101 with wsgate's detectors)
      // + crs-setup.conf's 900990 + the options rule 99000 + 3 rules kept beside 942100
      // + the handshake profile's 2 per-request rules.
      rulesLoaded: 532,
      customRules: 0,
      notApplicable: { response: 90, laterPhase: 8, bodyOnly: 8 },
      rulesDisabled: 2,
      markers: 40,
    })
    expect(report.files.slice(0, 3)).toEqual([
      '/etc/modsecurity/crs/crs-setup.conf',
      '/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf',
      `${CRS}/rules/REQUEST-901-INITIALIZATION.conf`,
    ])
    expect(report.files.at(-1)).toBe('/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf')
    expect(report.files.filter((file) => file.startsWith(`${CRS}/rules/`))).toHaveLength(32)
  })

  it('reports every directive, operator, variable and action it does not support, by name with counts', () => {
    const items = crsWaf().report.unsupported.map(({ kind, name, count, effect }) => `${kind} ${name} x${count}: ${effect}`)
    expect(items).toEqual([
      'action ctl:auditLogParts x82: ignored',
      'action setvar:ip x29: ignored',
      'action expirevar x16: ignored',
      'variable IP x9: empty',
      'action ctl:auditEngine x2: ignored',
      'action ctl:forceRequestBodyVariable x1: ignored',
      'action initcol:global x1: ignored',
      'action initcol:ip x1: ignored',
      'directive SecCollectionTimeout x1: ignored',
      'operator @geolookup x1: rule disabled',
      'operator @rbl x1: rule disabled',
      'variable GEO x1: empty',
    ])
    // @detectSQLi and @detectXSS run (wsgate's detectors): 942100, 942101, 941100 and 941101 are loaded as written.
    expect(crsWaf().report.unsupported.find((item) => item.name === '@detectsqli' || item.name === '@detectxss')).toBeUndefined()
  })

  it('runs 942100 and 941100 as written and names the wsgate rules still kept beside 942100', () => {
    const { report, reportLines } = crsWaf()
    expect(report.complements).toEqual([{ rule: 942100, by: [9942102, 9942103, 9942105] }])
    expect(reportLines[0]).toBe(
      'CRS OWASP_CRS/3.3.4: 532 rules loaded (0 custom; paranoia 1, threshold 5), 106 not applicable to a handshake (90 response, 8 phase 3-5, 8 body only), 2 disabled',
    )
    expect(reportLines).toContain(`  handshake profile: ${report.handshakeProfile.length} exclusions (waf({ handshakeProfile: false }) runs the CRS as written)`)
    expect(reportLines.some((line) => line.includes('@detectsqli') || line.includes('@detectxss'))).toBe(false)
  })

  it('loads the same rule set from an object of file name → text (for runtimes without a file system)', () => {
    const files: Record<string, string> = { 'crs-setup.conf': readFileSync('/etc/modsecurity/crs/crs-setup.conf', 'utf8') }
    for (const name of readdirSync(`${CRS}/rules`)) files[`rules/${name}`] = readFileSync(`${CRS}/rules/${name}`, 'utf8')
    const fromFiles = waf({ crs: files })
    expect(fromFiles.report).toMatchObject({ rulesLoaded: 532, notApplicable: { response: 90, laterPhase: 8, bodyOnly: 8 }, rulesDisabled: 2 })
    expect(fromFiles.report.files[0]).toBe('crs-setup.conf')
    const sqli = ATTACKS.find((attack) => attack.id === 'sqli-query-plain-union-select')!
    expect(fromFiles.inspect(sqli.facts).blocked).toBe(true)
  })

  it('falls back to a minimal setup when no crs-setup.conf is given, instead of 901001 refusing every request', () => {
    const files: Record<string, string> = {}
    for (const name of readdirSync(`${CRS}/rules`)) files[name] = readFileSync(`${CRS}/rules/${name}`, 'utf8')
    const minimal = waf({ crs: files })
    expect(minimal.report.files[0]).toBe('(wsgate minimal crs-setup)')
    expect(minimal.inspect(handshakeFacts()).blocked).toBe(false)
    expect(minimal.inspect(ATTACKS[0]!.facts).blocked).toBe(true)
  })

  it('reads the directory on the host into files, keyed by path, that waf() loads as it loaded the directory', () => {
    const files = readCrs(CRS)
    expect(Object.isFrozen(files)).toBe(true)
    expect(Object.keys(files)).toContain('/etc/modsecurity/crs/crs-setup.conf')
    expect(Object.keys(files)).toContain(`${CRS}/rules/REQUEST-901-INITIALIZATION.conf`)
    expect(Object.keys(files)).toContain(`${CRS}/rules/scanners-user-agents.data`)
    const viaDirectory = waf({ crs: crsDirectory(CRS) })
    expect(crsWaf().report).toEqual(viaDirectory.report)
    expect(crsWaf().report.files[0]).toBe('/etc/modsecurity/crs/crs-setup.conf')
    for (const item of [...ATTACKS.slice(0, 40), ...BENIGN.slice(0, 40)]) expect(viaDirectory.inspect(item.facts).matches, item.id).toEqual(crsWaf().inspect(item.facts).matches)
  })

  it('refuses a directory without rules and a malformed rule set at start, naming the problem', () => {
    expect(() => readCrs('/nonexistent/crs')).toThrow(TypeError)
    expect(() => readCrs('/nonexistent/crs')).toThrow(/cannot read the CRS rules in \/nonexistent\/crs .*apt-get install modsecurity-crs/)
    expect(() => readCrs('')).toThrow('readCrs(): directory must be a non-empty path, got ""')
    // The deprecated directory form is read by waf() itself, with the same message.
    expect(() => waf({ crs: crsDirectory('/nonexistent/crs') })).toThrow(/cannot read the CRS rules in \/nonexistent\/crs .*apt-get install modsecurity-crs/)
    expect(() => waf({ crs: { 'README.md': 'no rules' } })).toThrow('waf(): the crs files hold no .conf rule file')
    expect(() => waf({ crs: { 'REQUEST-1.conf': 'SecRule ARGS "@rx a" "id:1,chain"' } })).toThrow('REQUEST-1.conf:1: the last rule of the file ends with `chain` but no rule follows')
  })

  it('refuses a plain directory path at start: the portable middleware has no file system, readCrs() from wsgate/node reads the directory on the host', () => {
    // @ts-expect-error: a path string is no longer a crs value; the check is for untyped callers.
    const plain = (): unknown => waf({ crs: '/usr/share/modsecurity-crs' })
    expect(plain).toThrow(TypeError)
    expect(plain).toThrow(
      "waf(): crs as a directory path needs a file system: import { readCrs } from 'wsgate/node' and pass crs: readCrs('/usr/share/modsecurity-crs'), or pass the rules as an object of file name → text",
    )
  })
})

describe('the attack corpus', () => {
  it('has the cases the other tests rely on', () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(250)
    expect(new Set(ATTACKS.map((attack) => attack.category))).toEqual(new Set(['sqli', 'xss', 'lfi', 'rfi', 'rce', 'php', 'java', 'nodejs', 'scanner', 'protocol']))
  })

  it('is blocked in full at paranoia level 1 with the CRS', () => {
    expect(notBlocked(crsWaf(), ATTACKS)).toEqual([])
  })

  it('blocks each attack because its score reached the threshold, not by accident', () => {
    const scores = ATTACKS.map((attack) => crsWaf().inspect(attack.facts))
    expect(scores.filter((evaluation) => evaluation.blockedBy !== 949110 || evaluation.anomalyScore < 5)).toEqual([])
  })

  it('holds paranoia-2 attacks that pass at paranoia 1 and are blocked at paranoia 2', () => {
    expect(ATTACKS_PARANOIA_2.length).toBeGreaterThan(0)
    expect(blocked(crsWaf(1), ATTACKS_PARANOIA_2)).toEqual([])
    expect(notBlocked(crsWaf(2), ATTACKS_PARANOIA_2)).toEqual([])
  })

  it('is blocked in its plain forms by the embedded baseline', () => {
    const plain = ATTACKS.filter((attack: AttackCase) => attack.plain)
    expect(plain.length).toBeGreaterThanOrEqual(80)
    expect(notBlocked(waf(), plain)).toEqual([])
  })
})

describe('the benign corpus', () => {
  it('holds at least 300 handshakes', () => {
    expect(BENIGN.length).toBeGreaterThanOrEqual(300)
  })

  it('has no handshake blocked at paranoia level 1 with the CRS', () => {
    expect(blocked(crsWaf(), BENIGN)).toEqual([])
  })

  it('has no handshake blocked by the embedded baseline', () => {
    expect(blocked(waf(), BENIGN)).toEqual([])
  })

  it('has handshakes the CRS itself blocks (as libmodsecurity does), which custom exclusion rules let through', () => {
    const asWritten = waf({ crs: readCrs(CRS), handshakeProfile: false })
    expect(notBlocked(asWritten, CRS_FALSE_POSITIVES)).toEqual([])
    const tuned = waf({
      crs: readCrs(CRS),
      handshakeProfile: false,
      rules: [
        `SecRule REQUEST_FILENAME "@rx /api/kernels/[^/]+/channels$" "id:1001,phase:1,pass,nolog,ctl:ruleRemoveTargetById=943120;ARGS_NAMES:session_id"`,
        `SecRule REQUEST_FILENAME "@streq /graphql" "id:1002,phase:1,pass,nolog,ctl:ruleRemoveTargetById=932100;ARGS:query"`,
      ],
    })
    expect(tuned.report.customRules).toBe(2)
    expect(blocked(tuned, CRS_FALSE_POSITIVES)).toEqual([])
    // The exclusions are narrow: the same payloads elsewhere, and attacks, are still blocked.
    expect(notBlocked(tuned, ATTACKS)).toEqual([])
  })
})

describe('paranoia levels with the CRS', () => {
  const probe = handshakeFacts({ target: "/ws?q=%3Cscript%3Ealert(1)%3C/script%3E&x=1'%20OR%20'1'='1&y=a;b|c`d$(e)&z=%27%22%3B--", client: 'node-ws' })

  it.each([1, 2, 3, 4] as const)('at level %i runs the rules of that level and below, and no higher', (level) => {
    // A threshold no request reaches, so every rule runs and reports.
    const evaluation = crsWaf(level, 100_000).inspect(probe)
    const levels = evaluation.matches.map((match) => paranoiaTag(match.tags))
    expect(Math.max(...levels)).toBe(level)
    expect(evaluation.blocked).toBe(false)
  })

  it('scores more as the level rises', () => {
    const scores = ([1, 2, 3, 4] as const).map((level) => crsWaf(level, 100_000).inspect(probe).anomalyScore)
    expect(scores).toEqual([...scores].sort((a, b) => a - b))
    expect(new Set(scores).size).toBe(4)
  })
})

describe('detection-only with the CRS', () => {
  it('blocks nothing but records the rules and the score that would have blocked', () => {
    const detecting = waf({ crs: readCrs(CRS), detectionOnly: true })
    const attack = ATTACKS.find((item) => item.id === 'xss-query-plain-script-tag')!
    const evaluation = detecting.inspect(attack.facts)
    expect(evaluation).toMatchObject({ blocked: false, wouldBlock: true, blockedBy: 949110 })
    expect(evaluation.anomalyScore).toBeGreaterThanOrEqual(5)
    expect(evaluation.matches.map((match) => match.id)).toContain(941110)
    expect(notBlocked(detecting, ATTACKS)).toHaveLength(ATTACKS.length)
  })
})

describe('reading the rule files', () => {
  it('reads them as latin1, so that a UTF-8 char in a pattern is its bytes, as PCRE sees it (´ is C2 B4: a class holding it holds both)', () => {
    const directory = mkdtempSync(join(tmpdir(), 'wsgate-crs-'))
    try {
      mkdirSync(join(directory, 'rules'))
      writeFileSync(join(directory, 'crs-setup.conf'), MINIMAL_SETUP)
      // The pattern's only non-ASCII char is ´ (U+00B4), which UTF-8 writes C2 B4 (as CRS 942430's class holds it).
      writeFileSync(join(directory, 'rules', 'REQUEST-999-ACUTE.conf'), `SecRule ARGS "@rx ^[´]$" "id:1001,phase:1,deny,log,msg:'acute accent'"\n`, 'utf8')
      expect(loadCrs(readCrs(directory)).rules[0]!.text).toContain('[\xc2\xb4]')
      const instance = waf({ crs: readCrs(directory) })
      const blocks = (query: string): boolean =>
        instance.inspect({ method: 'GET', rawTarget: `/ws?q=${query}`, protocol: 'HTTP/1.1', headers: [['Host', 'app.example.com']], remoteAddress: '192.0.2.10' }).blocked
      // PCRE: [´] is the class of the bytes C2 and B4. Read as UTF-8 it would be [\xb4] alone and miss %C2.
      expect(blocks('%C2')).toBe(true)
      expect(blocks('%B4')).toBe(true)
      expect(blocks('%C2%B4')).toBe(false)
      expect(blocks('a')).toBe(false)
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })
})
