/**
 * A parser for the part of ModSecurity's rule language (SecLang) that the
 * OWASP Core Rule Set uses: `SecRule`, `SecAction`, `SecMarker`,
 * `SecDefaultAction` and any other `Sec*` directive, kept by name so that
 * the loader can report what it does not support. It only splits text into
 * its parts (variables, operator, actions); `compile.ts` gives them meaning.
 *
 * Lexical rules follow libmodsecurity v3 and Coraza, the engines the CRS is
 * tested against today: each physical line is trimmed, a trailing `\`
 * joins it to the next, `#` starts a comment line, and inside a
 * double-quoted argument only `\"` is unescaped (other backslashes reach the
 * operator as written, so `[\\/]` in a regex means "backslash or slash").
 *
 * Portable: no `node:` import.
 */

/** Where a directive came from, for error messages and the load report. */
export interface SourceLocation {
  file: string
  /** Line of the directive's first physical line, 1-based. */
  line: number
}

/** One directive of a rules file, its arguments unquoted. */
export type Directive =
  | ({ kind: 'rule'; variables: string; operator: string; actions: string } & SourceLocation)
  | ({ kind: 'action'; actions: string } & SourceLocation)
  | ({ kind: 'marker'; name: string } & SourceLocation)
  | ({ kind: 'defaultAction'; actions: string } & SourceLocation)
  | ({ kind: 'other'; name: string; args: string[] } & SourceLocation)

/** One action of an action list: `setvar:'tx.a=1'` is `{ name: 'setvar', value: 'tx.a=1' }`. */
export interface ParsedAction {
  /** The action's name as written (`skipAfter`); compare it lower-cased. */
  name: string
  /** The value after the first `:`, outer single quotes removed and `\'` unescaped; undefined when there is none. */
  value: string | undefined
}

/** One target of a rule: `!REQUEST_COOKIES:/^__utm/` or `&ARGS`. */
export interface ParsedVariable {
  /** Collection or variable name, upper-cased: `REQUEST_HEADERS`. */
  collection: string
  /** The key after `:` (quotes removed); undefined for the whole collection. */
  selector: string | undefined
  /** Whether the selector was written as a `/regex/`. */
  selectorIsRegex: boolean
  /** `&VAR`: the target's value is the number of items. */
  count: boolean
  /** `!VAR:key`: removes items from the rule's other targets. */
  exclude: boolean
}

/** A parsed operator: `!@rx ^a` is `{ negated: true, name: 'rx', param: '^a' }`. */
export interface ParsedOperator {
  negated: boolean
  /** Lower-cased name without `@`; `rx` when the operator was written as a bare regex. */
  name: string
  param: string
}

/** A syntax error in a rules file, naming the file and line. */
export class SecLangSyntaxError extends SyntaxError {
  readonly file: string
  readonly line: number

  constructor(message: string, location: SourceLocation) {
    super(`${location.file}:${location.line}: ${message}`)
    this.name = 'SecLangSyntaxError'
    this.file = location.file
    this.line = location.line
  }
}

/**
 * Splits a rules file into directives. Throws {@link SecLangSyntaxError}
 * on an unterminated quote or a `SecRule` without variables or operator.
 *
 * @param text the file's content
 * @param file how the file is named in errors and in the load report
 * @example
 * parseSecLang('SecRule ARGS "@rx <script" "id:1,deny"', 'inline')
 * // [{ kind: 'rule', variables: 'ARGS', operator: '@rx <script', actions: 'id:1,deny', file: 'inline', line: 1 }]
 */
export function parseSecLang(text: string, file = 'inline'): Directive[] {
  const directives: Directive[] = []
  for (const { text: line, line: number } of logicalLines(text)) {
    const location = { file, line: number }
    const [name = '', ...args] = splitArguments(line, location)
    switch (name.toLowerCase()) {
      case 'secrule': {
        const [variables, operator, actions = ''] = args
        if (variables === undefined || operator === undefined || args.length > 3) {
          throw new SecLangSyntaxError(`SecRule expects VARIABLES "OPERATOR" ["ACTIONS"], got ${args.length} argument(s)`, location)
        }
        directives.push({ kind: 'rule', variables, operator, actions, ...location })
        break
      }
      case 'secaction':
        if (args.length !== 1) throw new SecLangSyntaxError(`SecAction expects one "ACTIONS" argument, got ${args.length}`, location)
        directives.push({ kind: 'action', actions: args[0]!, ...location })
        break
      case 'secmarker':
        if (args.length !== 1) throw new SecLangSyntaxError(`SecMarker expects one name, got ${args.length} argument(s)`, location)
        directives.push({ kind: 'marker', name: args[0]!, ...location })
        break
      case 'secdefaultaction':
        if (args.length !== 1) throw new SecLangSyntaxError(`SecDefaultAction expects one "ACTIONS" argument, got ${args.length}`, location)
        directives.push({ kind: 'defaultAction', actions: args[0]!, ...location })
        break
      default:
        directives.push({ kind: 'other', name, args, ...location })
    }
  }
  return directives
}

/** Logical lines: trimmed, comments and blank lines dropped, `\`-continued lines joined. */
function* logicalLines(text: string): Generator<{ text: string; line: number }> {
  const lines = text.split(/\r?\n/)
  let buffer = ''
  let start = 0
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (buffer === '') {
      if (line === '' || line.startsWith('#')) continue
      start = i + 1
    }
    if (line.endsWith('\\')) {
      buffer += line.slice(0, -1)
      continue
    }
    buffer += line
    yield { text: buffer, line: start }
    buffer = ''
  }
  if (buffer !== '') yield { text: buffer, line: start }
}

/**
 * A directive line's words: bare words end at whitespace; a word that
 * starts with `"` or `'` ends at the same quote not preceded by an odd run
 * of backslashes, and `\<quote>` inside it becomes the quote.
 */
function splitArguments(line: string, location: SourceLocation): string[] {
  const words: string[] = []
  let i = 0
  while (i < line.length) {
    const char = line[i]!
    if (char === ' ' || char === '\t') {
      i++
      continue
    }
    if (char === '"' || char === "'") {
      let word = ''
      let j = i + 1
      for (;;) {
        if (j >= line.length) throw new SecLangSyntaxError(`unterminated ${char === '"' ? 'double' : 'single'}-quoted argument`, location)
        const c = line[j]!
        if (c === '\\' && j + 1 < line.length) {
          const next = line[j + 1]!
          // `\"` → `"`; `\\` is kept as written but consumed as a pair, so `\\"` still ends the word.
          word += next === char ? next : c + next
          j += 2
          continue
        }
        if (c === char) break
        word += c
        j++
      }
      words.push(word)
      i = j + 1
      continue
    }
    let j = i
    while (j < line.length && line[j] !== ' ' && line[j] !== '\t') j++
    words.push(line.slice(i, j))
    i = j
  }
  return words
}

/**
 * Splits an action list at top-level commas. Values may be wrapped in single
 * quotes (`msg:'a, b'`), inside which `\'` stands for a quote.
 *
 * @example
 * parseActions("id:1,t:none,msg:'a, b',setvar:tx.x=+1")
 * // [{ name: 'id', value: '1' }, { name: 't', value: 'none' }, { name: 'msg', value: 'a, b' }, { name: 'setvar', value: 'tx.x=+1' }]
 */
export function parseActions(text: string): ParsedAction[] {
  const actions: ParsedAction[] = []
  let current = ''
  let quoted = false
  const flush = (): void => {
    const item = current.trim()
    current = ''
    if (item === '') return
    const colon = item.indexOf(':')
    if (colon < 0) {
      actions.push({ name: item, value: undefined })
      return
    }
    actions.push({ name: item.slice(0, colon).trim(), value: unquoteValue(item.slice(colon + 1).trim()) })
  }
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!
    if (char === '\\' && i + 1 < text.length) {
      current += char + text[i + 1]
      i++
      continue
    }
    if (char === "'") quoted = !quoted
    if (char === ',' && !quoted) {
      flush()
      continue
    }
    current += char
  }
  if (quoted) throw new SyntaxError(`unterminated single quote in action list: ${text}`)
  flush()
  return actions
}

/** `'a \'b\''` → `a 'b'`; an unquoted value is returned as written. */
function unquoteValue(value: string): string {
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) {
    return value.slice(1, -1).replace(/\\'/g, "'")
  }
  return value
}

/**
 * Parses a rule's operator. No `@` means `@rx` with the whole text as the
 * regex; a leading `!` negates.
 *
 * @example
 * parseOperator('!@within GET POST') // { negated: true, name: 'within', param: 'GET POST' }
 */
export function parseOperator(text: string): ParsedOperator {
  let rest = text.trimStart()
  let negated = false
  if (rest.startsWith('!')) {
    negated = true
    rest = rest.slice(1).trimStart()
  }
  if (!rest.startsWith('@')) return { negated, name: 'rx', param: rest }
  const match = /^@([A-Za-z0-9_]+)(?:\s+|$)/.exec(rest)
  if (!match) throw new SyntaxError(`malformed operator: ${text}`)
  return { negated, name: match[1]!.toLowerCase(), param: rest.slice(match[0].length) }
}

/**
 * Parses a rule's variable list: targets separated by `|`, each optionally
 * `!` (exclusion) or `&` (count), with a `:key`, `:/regex/` or quoted
 * `:'/regex/'` selector. A `|` inside a regex selector does not split.
 *
 * @example
 * parseVariables('ARGS|!ARGS:pwd|&REQUEST_HEADERS:/^x-/')
 */
export function parseVariables(text: string): ParsedVariable[] {
  const variables: ParsedVariable[] = []
  let i = 0
  const source = text.trim()
  while (i < source.length) {
    let exclude = false
    let count = false
    while (source[i] === '!' || source[i] === '&') {
      if (source[i] === '!') exclude = true
      else count = true
      i++
    }
    const nameMatch = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))
    if (!nameMatch) throw new SyntaxError(`malformed variable list at "${source.slice(i)}": ${text}`)
    const collection = nameMatch[0].toUpperCase()
    i += nameMatch[0].length
    let selector: string | undefined
    let selectorIsRegex = false
    if (source[i] === ':') {
      i++
      const quote = source[i] === "'" ? "'" : undefined
      if (quote) i++
      if (source[i] === '/' && collection !== 'XML') {
        // A regex runs (an XML selector is an XPath expression such as `/*`, read as a plain key). to the next `/` not escaped by a backslash.
        let j = i + 1
        let pattern = ''
        while (j < source.length && source[j] !== '/') {
          if (source[j] === '\\' && j + 1 < source.length) {
            pattern += source[j]! + source[j + 1]!
            j += 2
            continue
          }
          pattern += source[j]
          j++
        }
        if (j >= source.length) throw new SyntaxError(`unterminated /regex/ selector: ${text}`)
        selector = pattern
        selectorIsRegex = true
        i = j + 1
        if (quote) {
          if (source[i] !== quote) throw new SyntaxError(`unterminated quoted selector: ${text}`)
          i++
        }
      } else if (quote) {
        const end = source.indexOf(quote, i)
        if (end < 0) throw new SyntaxError(`unterminated quoted selector: ${text}`)
        selector = source.slice(i, end)
        i = end + 1
      } else {
        let j = i
        while (j < source.length && source[j] !== '|') j++
        selector = source.slice(i, j)
        i = j
      }
    }
    variables.push({ collection, selector, selectorIsRegex, count, exclude })
    if (i < source.length) {
      if (source[i] !== '|') throw new SyntaxError(`expected "|" after ${collection} at "${source.slice(i)}": ${text}`)
      i++
    }
  }
  if (variables.length === 0) throw new SyntaxError('empty variable list')
  return variables
}
