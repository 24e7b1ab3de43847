/**
 * The Node host's side of loading the OWASP Core Rule Set: the directory
 * read from disk through `node:fs`, on the host, so that the portable
 * `waf()` middleware only ever takes the rules as text.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { crsFilesIn, type CrsDirectory, type CrsFileSystem } from '../../middleware/waf/rules/crs-directory.ts'
import type { CrsFiles } from '../../middleware/waf/rules/crs-files.ts'

/** `node:fs`, narrowed to what the CRS reader reads. */
const nodeFileSystem: CrsFileSystem = {
  readFileSync: (path, encoding) => readFileSync(path, encoding),
  readdirSync: (path) => readdirSync(path),
  existsSync: (path) => existsSync(path),
}

/**
 * Reads the OWASP Core Rule Set in a directory from disk, now, into the
 * object of file name → text that `waf({ crs })` takes: the rule files, the
 * data files they read and the setup and exclusion files, each as latin1
 * (one char per byte, as ModSecurity's PCRE reads them), keyed by path.
 * Read once, the result can be handed to any number of `waf()`s.
 *
 * @param directory where the CRS is installed: Debian's `modsecurity-crs`
 *   package puts it in `/usr/share/modsecurity-crs` (rules and data files
 *   in `rules/`, crs-setup.conf and the exclusion files there or in
 *   `/etc/modsecurity/crs/`).
 * @throws TypeError naming the fix when the directory cannot be read or
 *   holds no `.conf` rule file.
 *
 * @example
 * import { readCrs } from 'wsgate/node'
 * app.all('/chat', waf({ crs: readCrs('/usr/share/modsecurity-crs'), paranoia: 1 }), websocket('ws://127.0.0.1:9001'))
 */
export function readCrs(directory: string): CrsFiles {
  if (typeof directory !== 'string' || directory === '') throw new TypeError(`readCrs(): directory must be a non-empty path, got ${JSON.stringify(directory)}`)
  return Object.freeze(crsFilesIn(directory, nodeFileSystem))
}

/**
 * The CRS in a directory with `node:fs` to read it through, read by `waf()`
 * when it is called. Kept for code written before {@link readCrs}, which
 * reads the directory on the host and hands `waf()` text.
 *
 * @deprecated use `readCrs(directory)`: `waf({ crs: readCrs('/usr/share/modsecurity-crs') })`.
 */
export function crsDirectory(directory: string): CrsDirectory {
  if (typeof directory !== 'string' || directory === '') throw new TypeError(`crsDirectory(): directory must be a non-empty path, got ${JSON.stringify(directory)}`)
  return Object.freeze({ directory, fs: nodeFileSystem })
}
