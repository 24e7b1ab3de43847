import { existsSync, readdirSync, readFileSync } from 'node:fs'
import type { CrsDirectory, CrsFileSystem } from '../../middleware/waf/rules/crs.ts'

/** `node:fs`, narrowed to what the CRS loader reads. */
const nodeFileSystem: CrsFileSystem = {
  readFileSync: (path, encoding) => readFileSync(path, encoding),
  readdirSync: (path) => readdirSync(path),
  existsSync: (path) => existsSync(path),
}

/**
 * The OWASP Core Rule Set in a directory, read through `node:fs`: the value
 * for `waf({ crs })` on Node. The portable `waf()` middleware has no file
 * system of its own, so a directory comes with one. The directory is read
 * when `waf()` is called (at start), not here: a missing or empty directory
 * throws a `TypeError` from `waf()` naming the fix.
 *
 * @param directory where the CRS is installed: Debian's `modsecurity-crs`
 *   package puts it in `/usr/share/modsecurity-crs` (rules in `rules/`,
 *   crs-setup.conf there or in `/etc/modsecurity/crs/`).
 *
 * @example
 * import { crsDirectory } from 'wsgate/node'
 * app.all('/chat', waf({ crs: crsDirectory('/usr/share/modsecurity-crs'), paranoia: 1 }), websocket('ws://127.0.0.1:9001'))
 */
export function crsDirectory(directory: string): CrsDirectory {
  if (typeof directory !== 'string' || directory === '') throw new TypeError(`crsDirectory(): directory must be a non-empty path, got ${JSON.stringify(directory)}`)
  return Object.freeze({ directory, fs: nodeFileSystem })
}
