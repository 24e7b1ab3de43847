/**
 * Legal but risky settings get one loud warning at start. Middleware
 * factories have no logger, so they attach their warnings to the handler
 * they return; the Node host finds them in the app's routes and logs each
 * once, at `warn` level, before it listens.
 */

/** A handler that carries start-up warnings. */
export type WithWarnings<T> = T & { readonly warnings: readonly string[] }

/**
 * Attaches `warnings` (the ones that apply, falsy entries dropped) to a
 * middleware handler and returns it.
 *
 * @example
 * return withWarnings(handler, [options.requireExpiration === false && 'tokens without exp are accepted forever'])
 */
export function withWarnings<T extends object>(handler: T, warnings: (string | false | undefined)[]): WithWarnings<T> {
  return Object.assign(handler, { warnings: warnings.filter((warning): warning is string => typeof warning === 'string') })
}
