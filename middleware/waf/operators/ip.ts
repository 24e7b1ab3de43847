/**
 * `@ipMatch` and `@ipMatchFromFile` (alias `@ipMatchF`): the value is an IP
 * address inside one of the listed addresses or CIDR ranges. Lists are parsed
 * once with `src/cidr.ts` (IPv4-mapped IPv6 addresses count as IPv4; IPv4
 * must be four decimal parts). A value that is not an address never matches.
 */
import type { Operator, OperatorContext } from '../types.ts'
import { cidrMatcher, type CidrMatcher } from '../../../src/cidr.ts'

/** The operator over a parsed list; the address is capture 0. */
function matching(matcher: CidrMatcher): Operator {
  return function ipMatch(input) {
    return matcher.matches(input.trim()) ? [input] : null
  }
}

/**
 * `@ipMatch 10.0.0.0/8,192.168.1.1,::1`: a comma-separated list. Throws a
 * `TypeError` naming a bad entry.
 *
 * @example
 * ipMatch('127.0.0.1,10.0.0.0/8', {})('10.1.2.3', (t) => t) // ['10.1.2.3']
 */
export function ipMatch(param: string, _context: OperatorContext): Operator {
  const ranges = param.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  if (ranges.length === 0) throw new TypeError('@ipMatch needs at least one address or range, e.g. "@ipMatch 10.0.0.0/8,::1"')
  return matching(cidrMatcher(ranges, '@ipMatch'))
}

/**
 * `@ipMatchFromFile file` (alias `@ipMatchF`): one address or range per line
 * of a data file read through `context.readDataFile`; empty lines and `#`
 * comments are skipped.
 *
 * @example
 * ipMatchFromFile('blocked-ips.data', { readDataFile: (name) => readFileSync(join(dir, name), 'latin1') })
 */
export function ipMatchFromFile(param: string, context: OperatorContext): Operator {
  const file = param.trim()
  if (file === '') throw new TypeError('@ipMatchFromFile needs a data file name')
  if (/^https?:\/\//i.test(file)) throw new TypeError(`@ipMatchFromFile: remote data files are not supported (${file})`)
  if (!context.readDataFile) throw new TypeError(`@ipMatchFromFile needs readDataFile in the operator context to read ${file}`)
  const ranges = context.readDataFile(file).split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
  return matching(cidrMatcher(ranges, `@ipMatchFromFile ${file}`))
}
