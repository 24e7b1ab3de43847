/**
 * The option checks every middleware factory starts with, so a bad
 * configuration fails when the route is defined, with a TypeError naming the
 * factory and the option (not at the first client).
 */

/**
 * Throws unless `options` is an object whose every key is one of `names`.
 * `example` (a literal options object) goes into the message when it is not
 * an object at all.
 */
export function assertOptionNames(options: unknown, caller: string, names: readonly string[], example?: string): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${caller}: options must be an object${example ? `, e.g. ${example}` : ''}`)
  }
  for (const name of Object.keys(options)) {
    if (!names.includes(name)) throw new TypeError(`${caller}: unknown option "${name}"; the options are ${names.join(', ')}`)
  }
}

/** Throws unless `value` is absent or a boolean. */
export function assertBoolean(value: unknown, name: string, caller: string): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new TypeError(`${caller}: ${name} must be true or false, got ${JSON.stringify(value)}`)
  }
}
