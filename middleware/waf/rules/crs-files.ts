/**
 * The OWASP Core Rule Set as `waf({ crs })` takes it, an object of file
 * name → text, turned into rule units in the order `owasp-crs.load`
 * includes them (the rules stage's input):
 *
 * 1. `crs-setup.conf` (else `crs-setup.conf.example`; wsgate's own minimal
 *    setup when none is given);
 * 2. a `SecAction` carrying `waf()`'s `paranoia` and `threshold` options, as
 *    crs-setup.conf's rules 900000 and 900110 would (so the options win);
 * 3. the custom rules given to `waf({ rules })`;
 * 4. `REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf`, if given;
 * 5. the other `.conf` files, sorted by base name;
 * 6. `RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf`, if given.
 *
 * Data files (`@pmFromFile scanners-user-agents.data`) are looked up by base
 * name among the files. Text is taken as it is: `readCrs()` from
 * `wsgate/node` reads files as latin1, one char per byte, the way
 * ModSecurity and PCRE see them and the WAF's primitives expect
 * (`bytes.ts`): the CRS is UTF-8, and `´` in 942430's class is the two bytes
 * C2 B4, both in the class. Read as UTF-8 it would be one char, U+00B4, and
 * the class would miss a lone C2; a char above U+00FF makes the translator
 * read the whole pattern as UTF-8 bytes. A {@link CrsDirectory} (the form
 * `crsDirectory()` gave before `readCrs()`) is read into files first
 * (`crs-directory.ts`). Portable: no `node:` import.
 */
import { crsFilesIn, type CrsDirectory } from './crs-directory.ts'
import { AFTER_CRS, BEFORE_CRS, SETUP_NAMES } from './crs-names.ts'

/** The CRS as files: name (a base name, or a path such as `rules/REQUEST-901-INITIALIZATION.conf`) → text. */
export type CrsFiles = Readonly<Record<string, string>>

/** A file of the rule set, in load order. */
export interface CrsFile {
  /** Where it came from (a path, or the key of a {@link CrsFiles} object). */
  file: string
  text: string
  /** Where the file's rules find their data files. */
  readDataFile: (name: string) => string
}

/** The CRS split into what comes before the custom rules and what comes after. */
export interface CrsLayout {
  /** crs-setup.conf (or wsgate's minimal setup). */
  setup: CrsFile
  /** The exclusion file before the CRS, then `rules/*.conf` sorted, then the exclusion file after it. */
  rules: CrsFile[]
}

/**
 * What crs-setup.conf.example sets when no setup file exists: the default
 * actions of anomaly-scoring mode (rules `pass` and add to the score; 949110
 * denies) and the version marker rule 901001 checks for.
 */
export const MINIMAL_SETUP = `
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334"
`

/** Id of the SecAction that carries waf()'s options; 1–99,999 is ModSecurity's range for local rules. */
export const OPTIONS_RULE_ID = 99_000

/**
 * The SecAction that sets the paranoia level and the inbound anomaly
 * threshold as crs-setup.conf's rules 900000 and 900110 do (the names of
 * CRS 3 and of CRS 4, so either reads them).
 */
export function crsOptionsRule(paranoia: number, threshold: number): string {
  return (
    `SecAction "id:${OPTIONS_RULE_ID},phase:1,nolog,pass,t:none,` +
    `setvar:tx.paranoia_level=${paranoia},setvar:tx.executing_paranoia_level=${paranoia},` +
    `setvar:tx.blocking_paranoia_level=${paranoia},setvar:tx.detection_paranoia_level=${paranoia},` +
    `setvar:tx.inbound_anomaly_score_threshold=${threshold}"`
  )
}

/**
 * The CRS's layout from an object of files (what `readCrs()` from
 * `wsgate/node` returns), or from a {@link CrsDirectory}, read into files
 * first. Throws a `TypeError` naming the fix when the files hold no rules
 * or `crs` is a plain path: the portable middleware has no file system.
 *
 * @example
 * loadCrs(readCrs('/usr/share/modsecurity-crs')) // readCrs from 'wsgate/node'
 * loadCrs({ 'crs-setup.conf': setupText, 'REQUEST-901-INITIALIZATION.conf': text, … })
 */
export function loadCrs(crs: CrsDirectory | CrsFiles): CrsLayout {
  if (typeof crs === 'string') {
    throw new TypeError(
      "waf(): crs as a directory path needs a file system: import { readCrs } from 'wsgate/node' and pass " +
        "crs: readCrs('/usr/share/modsecurity-crs'), or pass the rules as an object of file name → text",
    )
  }
  return fromFiles(isCrsDirectory(crs) ? crsFilesIn(crs.directory, crs.fs) : crs)
}

/** Whether `crs` is the directory form (`{ directory, fs }`), not an object of files (whose values are all text). */
function isCrsDirectory(crs: CrsDirectory | CrsFiles): crs is CrsDirectory {
  if (typeof crs !== 'object' || crs === null) return false
  const { directory, fs } = crs as Partial<Record<'directory' | 'fs', unknown>>
  return typeof directory === 'string' && typeof fs === 'object' && fs !== null
}

function fromFiles(files: CrsFiles): CrsLayout {
  if (typeof files !== 'object' || files === null) throw new TypeError("waf(): crs must be readCrs(path) from 'wsgate/node' or an object of file name → text")
  const byBase = new Map<string, string>()
  for (const [name, text] of Object.entries(files)) {
    if (typeof text !== 'string') throw new TypeError(`waf(): crs["${name}"] must be the file's text`)
    byBase.set(name.slice(name.lastIndexOf('/') + 1), name)
  }
  const readDataFile = (name: string): string => {
    const key = byBase.get(name.slice(name.lastIndexOf('/') + 1))
    if (key === undefined) throw new TypeError(`data file ${name} is not among the crs files given to waf()`)
    return files[key]!
  }
  const file = (base: string): CrsFile => ({ file: byBase.get(base)!, text: files[byBase.get(base)!]!, readDataFile })
  const setupName = SETUP_NAMES.find((name) => byBase.has(name))
  const conf = [...byBase.keys()].filter((base) => base.endsWith('.conf') && base !== 'crs-setup.conf' && base !== BEFORE_CRS && base !== AFTER_CRS).sort()
  if (conf.length === 0) throw new TypeError('waf(): the crs files hold no .conf rule file (expected e.g. "REQUEST-901-INITIALIZATION.conf")')
  const rules: CrsFile[] = []
  if (byBase.has(BEFORE_CRS)) rules.push(file(BEFORE_CRS))
  for (const base of conf) rules.push(file(base))
  if (byBase.has(AFTER_CRS)) rules.push(file(AFTER_CRS))
  return { setup: setupName ? file(setupName) : { file: '(wsgate minimal crs-setup)', text: MINIMAL_SETUP, readDataFile }, rules }
}
