/**
 * The OWASP Core Rule Set in a directory, read into the object of files
 * `waf({ crs })` takes (`crs-files.ts`): the layout Debian's
 * `modsecurity-crs` package installs (`apt-get install modsecurity-crs`:
 * rules and data files in `/usr/share/modsecurity-crs/rules`,
 * `crs-setup.conf` and the exclusion files in `/etc/modsecurity/crs`), or
 * the upstream one (everything under one directory). Part of the rules
 * stage's input; the file system is injected, so this stays portable:
 * `readCrs()` from `wsgate/node` runs it on `node:fs` on the host, before
 * `waf()`, and `waf()` runs it on a {@link CrsDirectory}'s own file system.
 *
 * What it reads, keyed by path:
 * - every `.conf` file of `rules/` (or of the directory itself when it has
 *   no `rules/`), and every `.data` file there (what `@pmFromFile` reads);
 * - the setup file: `crs-setup.conf` from the directory, else from
 *   `/etc/modsecurity/crs/`, else `crs-setup.conf.example` from either;
 *   none read means wsgate's minimal setup;
 * - the exclusion files (`REQUEST-900-…`, `RESPONSE-999-…`) beside the
 *   setup file, unless the rules directory has its own.
 *
 * Files are read as latin1, one char per byte (`crs-files.ts` says why).
 * Portable: no `node:` import.
 */
import type { CrsFiles } from './crs-files.ts'
import { AFTER_CRS, BEFORE_CRS, SETUP_NAMES } from './crs-names.ts'

/** Where Debian's package puts crs-setup.conf and the exclusion files. */
export const DEBIAN_SETUP_DIR = '/etc/modsecurity/crs'

/**
 * The subset of `node:fs` the reader uses, injected so it stays portable.
 * `node:fs` itself satisfies it.
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
 * file system to read it through. `waf({ crs })` still takes one and reads
 * it when called; `readCrs()` from `wsgate/node` reads the directory into
 * files instead, which is what `waf()` takes on every runtime.
 * @deprecated pass `crs: readCrs(directory)` (`wsgate/node`), or an object of files.
 */
export interface CrsDirectory {
  readonly directory: string
  readonly fs: CrsFileSystem
}

/**
 * Reads the CRS in `directory` through `fs` into an object of files, path →
 * text. Throws a `TypeError` naming the fix when the directory cannot be
 * read or holds no `.conf` rule file.
 *
 * @example
 * crsFilesIn('/usr/share/modsecurity-crs', fs) // { '/etc/modsecurity/crs/crs-setup.conf': '…', '/usr/share/modsecurity-crs/rules/REQUEST-901-INITIALIZATION.conf': '…', … }
 */
export function crsFilesIn(directory: string, fs: CrsFileSystem): CrsFiles {
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
  const files: Record<string, string> = {}
  // latin1: one char per byte, as PCRE reads the files (see the module comment).
  const read = (path: string): void => {
    files[path] = fs.readFileSync(path, 'latin1')
  }

  let setupDir: string | undefined
  search: for (const name of SETUP_NAMES) {
    for (const dir of [root, DEBIAN_SETUP_DIR]) {
      if (fs.existsSync(`${dir}/${name}`)) {
        read(`${dir}/${name}`)
        setupDir = dir
        break search
      }
    }
  }
  for (const name of [BEFORE_CRS, AFTER_CRS]) {
    // In the upstream layout the exclusion files sit in rules/ and are read with the rest.
    if (setupDir && !conf.includes(name) && fs.existsSync(`${setupDir}/${name}`)) read(`${setupDir}/${name}`)
  }
  for (const name of conf) read(`${rulesDir}/${name}`)
  for (const name of names.filter((name) => name.endsWith('.data')).sort()) read(`${rulesDir}/${name}`)
  return files
}
