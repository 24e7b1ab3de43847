/**
 * Loads the OWASP Core Rule Set as Debian packages it (`apt-get install
 * modsecurity-crs`: rules and data files in `/usr/share/modsecurity-crs/rules`,
 * `crs-setup.conf` and the exclusion files in `/etc/modsecurity/crs`), or as
 * an object of file name → text (for runtimes without a file system, such as
 * Cloudflare Workers), and turns it into rule units in the order
 * `owasp-crs.load` includes them:
 *
 * 1. `crs-setup.conf` (from the CRS directory, else `/etc/modsecurity/crs/`,
 *    else `crs-setup.conf.example`; wsgate's own minimal setup when none exists);
 * 2. a `SecAction` carrying `waf()`'s `paranoia` and `threshold` options, as
 *    crs-setup.conf's rules 900000 and 900110 would (so the options win);
 * 3. the custom rules given to `waf({ rules })`;
 * 4. `REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf`, if present beside the setup;
 * 5. `rules/*.conf`, sorted by name;
 * 6. `RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf`, if present beside the setup.
 *
 * Data files (`@pmFromFile scanners-user-agents.data`) are read from the
 * rules directory. Files are read as latin1, one char per byte, the way
 * ModSecurity and PCRE see them and the WAF's primitives expect (`bytes.ts`):
 * the CRS is UTF-8, and `´` in 942430's class is the two bytes C2 B4, both
 * in the class. Read as UTF-8 it would be one char, U+00B4, and the class
 * would miss a lone C2. Text given as an object of files is taken as it is;
 * a char above U+00FF in it makes the translator read the whole pattern as
 * UTF-8 bytes. Portable: no `node:` import and no reaching for the
 * runtime; a directory comes with its file system injected
 * (`crsDirectory()` from `wsgate/node` supplies `node:fs`).
 */

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

/** Where Debian's package puts crs-setup.conf and the exclusion files. */
export const DEBIAN_SETUP_DIR = '/etc/modsecurity/crs'
const BEFORE_CRS = 'REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf'
const AFTER_CRS = 'RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf'
const SETUP_NAMES = ['crs-setup.conf', 'crs-setup.conf.example']

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
 * The subset of `node:fs` the loader uses, injected so the loader stays
 * portable. `node:fs` itself satisfies it.
 */
export interface CrsFileSystem {
  /** The file's bytes as latin1, one char per byte (see the module comment). */
  readFileSync(path: string, encoding: 'latin1'): string
  /** The names of a directory's entries. */
  readdirSync(path: string): string[]
  existsSync(path: string): boolean
}

/**
 * The CRS as a directory on a file system: `directory` is where Debian's
 * `modsecurity-crs` installs it (`/usr/share/modsecurity-crs`), `fs` the
 * file system to read it through. On Node, `crsDirectory()` from
 * `wsgate/node` builds one.
 */
export interface CrsDirectory {
  readonly directory: string
  readonly fs: CrsFileSystem
}

/**
 * Reads the CRS from a directory or takes it from an object of files.
 * Throws a `TypeError` naming the fix when the directory has no rules or
 * `crs` is a plain path with no file system to read it through.
 *
 * @example
 * loadCrs(crsDirectory('/usr/share/modsecurity-crs')) // crsDirectory from 'wsgate/node'
 * loadCrs({ 'crs-setup.conf': setupText, 'REQUEST-901-INITIALIZATION.conf': text, … })
 */
export function loadCrs(crs: CrsDirectory | CrsFiles): CrsLayout {
  if (typeof crs === 'string') {
    throw new TypeError(
      "waf(): crs as a directory path needs a file system: import { crsDirectory } from 'wsgate/node' and pass " +
        "crs: crsDirectory('/usr/share/modsecurity-crs'), or pass the rules as an object of file name → text",
    )
  }
  return isCrsDirectory(crs) ? fromDirectory(crs.directory, crs.fs) : fromFiles(crs)
}

function isCrsDirectory(crs: CrsDirectory | CrsFiles): crs is CrsDirectory {
  if (typeof crs !== 'object' || crs === null) return false
  const { directory, fs } = crs as Partial<Record<'directory' | 'fs', unknown>>
  return typeof directory === 'string' && typeof fs === 'object' && fs !== null
}

function fromDirectory(directory: string, fs: CrsFileSystem): CrsLayout {
  const root = directory.replace(/\/+$/, '')
  const rulesDir = fs.existsSync(`${root}/rules`) ? `${root}/rules` : root
  let names: string[]
  try {
    names = fs.readdirSync(rulesDir)
  } catch (error) {
    throw new TypeError(`waf(): cannot read the CRS rules in ${rulesDir} (${(error as Error).message}); install them with "apt-get install modsecurity-crs" or pass crs as an object of files`)
  }
  const conf = names.filter((name) => name.endsWith('.conf')).sort()
  if (conf.length === 0) throw new TypeError(`waf(): ${rulesDir} holds no .conf rule files; expected the CRS, e.g. /usr/share/modsecurity-crs`)
  // latin1: one char per byte, as PCRE reads the files (see the module comment).
  const readDataFile = (name: string): string => fs.readFileSync(`${rulesDir}/${name}`, 'latin1')
  const read = (path: string): CrsFile => ({ file: path, text: fs.readFileSync(path, 'latin1'), readDataFile })

  let setup: CrsFile | undefined
  let setupDir: string | undefined
  search: for (const name of SETUP_NAMES) {
    for (const dir of [root, DEBIAN_SETUP_DIR]) {
      if (fs.existsSync(`${dir}/${name}`)) {
        setup = read(`${dir}/${name}`)
        setupDir = dir
        break search
      }
    }
  }
  const rules: CrsFile[] = []
  const exclusion = (name: string): void => {
    // In the upstream layout the exclusion files sit in rules/ and are loaded with the rest.
    if (setupDir && !conf.includes(name) && fs.existsSync(`${setupDir}/${name}`)) rules.push(read(`${setupDir}/${name}`))
  }
  exclusion(BEFORE_CRS)
  for (const name of conf) rules.push(read(`${rulesDir}/${name}`))
  exclusion(AFTER_CRS)
  return { setup: setup ?? { file: '(wsgate minimal crs-setup)', text: MINIMAL_SETUP, readDataFile }, rules }
}

function fromFiles(files: CrsFiles): CrsLayout {
  if (typeof files !== 'object' || files === null) throw new TypeError("waf(): crs must be crsDirectory(path) from 'wsgate/node' or an object of file name → text")
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
