import { existsSync, statSync } from 'node:fs'
import { relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { FetchApp } from './upgrade.ts'

/**
 * Loading the routes module the CLI runs (`wsgate start routes.ts`,
 * `wsgate check routes.ts`, and again on `SIGHUP`), with errors that name
 * the user's file and line rather than the CLI's own.
 */

/** Options of {@link loadRoutes}. */
export interface LoadRoutesOptions {
  /**
   * Import the module anew under this query (`?reload=<n>`) rather than from
   * Node's module cache: its top level runs again and builds a new app.
   * Modules it imports are not run again (Node keeps one instance of each).
   */
  reload?: number
}

/** The directories of wsgate's own code: a stack frame there is not where the user's mistake is. */
const OWN_CODE = [fileURLToPath(new URL('../', import.meta.url)), fileURLToPath(new URL('../../middleware/', import.meta.url))]

/**
 * Imports the routes module at `path` (relative to the working directory)
 * and returns the Hono app it default-exports. Importing runs every
 * factory in it, so a bad option fails here. Throws an `Error` whose
 * message starts with the file (and line, when known) and says what to do:
 * - the file does not exist (named as given, with the path looked at);
 * - TypeScript that Node cannot strip (`enum`, `namespace`, parameter
 *   properties) or does not parse, with the line and the source under it;
 * - a factory that refused an option (its `TypeError` names the option and
 *   the fix), at the first line of the user's code in its stack;
 * - no default export with `fetch()`.
 *
 * @example
 * const app = await loadRoutes('routes.ts')
 * const next = await loadRoutes('routes.ts', { reload: 1 }) // on SIGHUP
 */
export async function loadRoutes(path: string, options: LoadRoutesOptions = {}): Promise<FetchApp> {
  const file = resolve(path)
  if (!existsSync(file)) throw new Error(`${path}: no such routes module (looked for ${file}); give the path of the module that default-exports your Hono app`)
  if (statSync(file).isDirectory()) throw new Error(`${path} is a directory; give the routes module itself, e.g. ${path.replace(/\/$/, '')}/index.ts`)
  const url = pathToFileURL(file).href + (options.reload !== undefined ? `?reload=${options.reload}` : '')
  // A top-level await that nothing will settle ends the process with code 13 and Node's warning that points at
  // the CLI's own `await main()`: say which module never finished loading, and exit 1 like any other load error.
  const unsettled = (code: number): void => {
    if (code !== UNSETTLED_TOP_LEVEL_AWAIT) return
    process.exitCode = 1
    process.stderr.write(`wsgate: ${path}: never finished loading: a top-level await in it (or in a module it imports) waits for a promise that nothing settles\n`)
  }
  process.on('exit', unsettled)
  let app: FetchApp | undefined
  try {
    app = ((await import(url)) as { default?: FetchApp }).default
    // Inside the try: a getter on the default export (or on its fetch) may throw too.
    if (app && typeof app.fetch === 'function') return app
  } catch (error) {
    throw new Error(describeLoadError(path, error), { cause: error })
  } finally {
    process.off('exit', unsettled)
  }
  throw new TypeError(`${path} must default-export a Hono app (an object with fetch()), e.g. export default app`)
}

/** Node's exit code for a top-level await left unsettled when nothing is left to run. */
const UNSETTLED_TOP_LEVEL_AWAIT = 13

/**
 * What went wrong importing the routes module, as a message that starts
 * with where (`routes.ts:12: …`) and, for syntax, shows the source line
 * with Node's carets under it.
 *
 * @example
 * describeLoadError('routes.ts', error) // 'routes.ts:3: TypeScript enum is not supported in strip-only mode: …'
 */
export function describeLoadError(path: string, error: unknown): string {
  const { code, message, stack } = (error ?? {}) as NodeJS.ErrnoException
  const text = typeof message === 'string' ? message : String(error)
  if (code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX' || code === 'ERR_INVALID_TYPESCRIPT_SYNTAX' || error instanceof SyntaxError) {
    // Node puts the place first in the stack (`/abs/file.ts:3`), then source lines with a caret line under the culprit.
    const lines = (stack ?? '').split('\n')
    const place = /^(?:file:\/\/)?(\/.+?):(\d+)$/.exec(lines[0] ?? '')
    const location = place ? `${display(place[1]!)}:${place[2]}` : path
    const caret = place ? lines.findIndex((line, index) => index > 1 && index < 6 && /^\s*\^+\s*$/.test(line)) : -1
    const excerpt = caret > 0 ? lines.slice(caret - 1, caret + 1) : []
    const reason =
      // `import { nope } from …` is a SyntaxError to V8, but nothing in the module is misspelt.
      /does not provide an export named/.test(text)
        ? text
        : code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX'
        ? `${text}: Node runs .ts files by stripping their types and cannot strip this; write it as plain JavaScript with types (a const object instead of an enum, a field assigned in the constructor instead of a parameter property), or compile the module with tsc first`
        : code === 'ERR_INVALID_TYPESCRIPT_SYNTAX'
          ? `invalid TypeScript: ${text}`
          : `syntax error: ${text}`
    return [`${location}: ${reason}`, ...excerpt.map((line) => `  ${line}`)].join('\n')
  }
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_UNKNOWN_FILE_EXTENSION') return `${path}: ${text}`
  const frame = userFrame(stack)
  return `${frame ?? path}: ${text}`
}

/** The first `file:line` of a stack that is in the user's code (not wsgate's, not node_modules, not Node's). */
function userFrame(stack: string | undefined): string | undefined {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const match = /\(?((?:file:\/\/)?\/[^():]+):(\d+):\d+\)?$/.exec(line.trim())
    if (!match) continue
    const file = match[1]!.startsWith('file://') ? fileURLToPath(match[1]!) : match[1]!
    if (file.includes(`${sep}node_modules${sep}`) || OWN_CODE.some((dir) => file.startsWith(dir))) continue
    return `${display(file)}:${match[2]}`
  }
  return undefined
}

/** A path as the user would type it: relative to the working directory when under it. */
function display(file: string): string {
  const relativePath = relative(process.cwd(), file)
  return relativePath.startsWith('..') ? file : relativePath
}
