/**
 * `@pm` and `@pmFromFile` (alias `@pmf`): case-insensitive phrase matching
 * with {@link phraseMatcher} (Aho–Corasick). Measured on the CRS's lists
 * against one alternation regex of the escaped phrases (V8, 100,000 header-
 * sized values): 67 ms against 124 ms for lfi-os-files.data (1,090 phrases),
 * 104 against 114 ms for php-function-names-933151.data (1,264), but 58
 * against 4 ms for unix-shell.data, whose phrases share a prefix V8's
 * regex scanner skips to. The automaton is kept for its linear, predictable
 * cost on every list.
 */
import type { Operator, OperatorContext } from '../types.ts'
import { toByteString } from '../bytes.ts'
import { worthPrefiltering } from '../prefilter/literal-rates.ts'
import { phraseMatcher, type PhraseMatcher } from './aho-corasick.ts'

/**
 * ModSecurity's `parse_pm_content()`: strips one pair of enclosing double
 * quotes, turns `|41 42|` hex segments into bytes and `\:` `\;` `\\` `\"`
 * into the char; any other escape is an error.
 */
function parsePmContent(param: string): string {
  let text = param.trimStart()
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1)
  if (!text.includes('|') && !text.includes('\\')) return text
  let out = ''
  let binary = false
  let escaped = false
  let pending = ''
  for (const char of text) {
    if (char === '|' && !escaped) {
      binary = !binary
      pending = ''
    } else if (escaped) {
      if (!':;\\"'.includes(char)) throw new TypeError(`@pm: unsupported escape sequence \\${char} in ${JSON.stringify(param)}`)
      out += char
      escaped = false
    } else if (char === '\\') {
      escaped = true
    } else if (binary) {
      if (/[0-9a-fA-F]/.test(char)) {
        pending += char
        if (pending.length === 2) {
          out += String.fromCharCode(Number.parseInt(pending, 16))
          pending = ''
        }
      }
    } else {
      out += char
    }
  }
  return out
}

/** The phrases of a `@pm` parameter: its content split on whitespace. */
export function pmPhrases(param: string): string[] {
  return parsePmContent(toByteString(param)).split(/[\t-\r ]+/).filter((phrase) => phrase !== '')
}

/**
 * The phrases of a `@pmFromFile` data file: one per line, leading and
 * trailing whitespace removed, empty lines and lines starting with `#`
 * skipped.
 */
export function fileOfPhrases(text: string): string[] {
  const phrases: string[] = []
  for (const line of toByteString(text).split('\n')) {
    const phrase = line.replace(/^[\t-\r ]+|[\t-\r ]+$/g, '')
    if (phrase !== '' && !phrase.startsWith('#')) phrases.push(phrase)
  }
  return phrases
}

/**
 * The operator over a built matcher: the matched phrase (as written) is
 * capture 0. It carries its phrases as `factors` (a value it matches
 * contains one, ASCII case ignored), so that the engine's prefilter skips
 * it on values holding none; not when a phrase is so common (a single
 * letter, `=`) that most values hold one (`literal-rates.ts`).
 */
function matching(matcher: PhraseMatcher, phrases: readonly string[]): Operator {
  const pm = (input: string): string[] | null => {
    const phrase = matcher.find(input)
    return phrase === undefined ? null : [phrase]
  }
  const factors = [...new Set(phrases.filter((phrase) => phrase !== '').map(foldCase))]
  return worthPrefiltering(factors) ? Object.assign(pm, { factors }) : pm
}

/** ASCII letters in lower case, as the matcher compares them. */
function foldCase(phrase: string): string {
  return phrase.replace(/[A-Z]+/g, (run) => run.toLowerCase())
}

/**
 * `@pm phrase phrase …`: matches when the value contains any phrase, ignoring
 * ASCII case. A parameter with a macro (`%{…}`) is split and built at each
 * evaluation (the CRS has none).
 *
 * @example
 * pm('AppleWebKit Android', {})('Mozilla (Linux; Android 14)', (t) => t) // ['Android']
 */
export function pm(param: string, _context: OperatorContext): Operator {
  const phrases = pmPhrases(param)
  if (phrases.length === 0) throw new TypeError('@pm needs at least one phrase, e.g. "@pm select union"')
  if (!param.includes('%{')) return matching(phraseMatcher(phrases), phrases)
  return function pmExpanded(input, expand) {
    const phrase = phraseMatcher(pmPhrases(expand(param))).find(input)
    return phrase === undefined ? null : [phrase]
  }
}

/**
 * `@pmFromFile file …` (alias `@pmf`): `@pm` with the phrases of one or more
 * data files, named relative to the rule file and read through
 * `context.readDataFile` at compile time. Remote files (`https://…`, which
 * libmodsecurity can fetch) are refused.
 *
 * @example
 * pmFromFile('scanners-user-agents.data', { readDataFile: (name) => readFileSync(join(dir, name), 'latin1') })
 */
export function pmFromFile(param: string, context: OperatorContext): Operator {
  const files = param.trim().split(/\s+/).filter((file) => file !== '')
  if (files.length === 0) throw new TypeError('@pmFromFile needs a data file name, e.g. "@pmFromFile scanners-user-agents.data"')
  const read = context.readDataFile
  if (!read) throw new TypeError('@pmFromFile needs readDataFile in the operator context to read ' + files.join(', '))
  const phrases: string[] = []
  for (const file of files) {
    if (/^https?:\/\//i.test(file)) throw new TypeError(`@pmFromFile: remote data files are not supported (${file})`)
    phrases.push(...fileOfPhrases(read(file)))
  }
  return matching(phraseMatcher(phrases), phrases)
}
