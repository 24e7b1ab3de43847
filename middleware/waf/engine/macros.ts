/**
 * Macro expansion (`%{tx.anomaly_score}`, `%{MATCHED_VAR}`,
 * `%{REQUEST_HEADERS.host}`) in action values and operator parameters.
 * Texts are split into literal and macro parts once, when rules compile;
 * expansion at handshake time only concatenates.
 *
 * Portable: no `node:` import.
 */

/** A macro reference: `%{tx.score}` is `{ collection: 'TX', key: 'score' }`, `%{MATCHED_VAR}` has no key. */
export interface MacroRef {
  /** Upper-cased collection or variable name. */
  collection: string
  /** Lower-cased key after the first `.`, if any. */
  key: string | undefined
}

/** A compiled text: the text itself when it holds no macro, else its literal and macro parts in order. */
export type Template = string | readonly (string | MacroRef)[]

const MACRO = /%\{([^}]+)\}/g

/**
 * Splits `text` into literal and macro parts.
 *
 * @example
 * compileTemplate('score %{tx.anomaly_score}') // ['score ', { collection: 'TX', key: 'anomaly_score' }]
 */
export function compileTemplate(text: string): Template {
  if (!text.includes('%{')) return text
  const parts: (string | MacroRef)[] = []
  let last = 0
  for (const match of text.matchAll(MACRO)) {
    if (match.index > last) parts.push(text.slice(last, match.index))
    const name = match[1]!.trim()
    const dot = name.indexOf('.')
    parts.push(dot < 0 ? { collection: name.toUpperCase(), key: undefined } : { collection: name.slice(0, dot).toUpperCase(), key: name.slice(dot + 1).toLowerCase() })
    last = match.index + match[0].length
  }
  if (last < text.length) parts.push(text.slice(last))
  return parts.length === 1 && typeof parts[0] === 'string' ? parts[0] : parts
}

/** Texts compiled by {@link cachedTemplate}: operator parameters with macros, a bounded set fixed by the rules. */
const templates = new Map<string, Template>()

/**
 * The compiled form of `text`, compiled once and kept: for the texts
 * operators hand to `expand` at evaluation time. The compiler calls it for
 * every operator parameter that holds a macro, so evaluations find them ready.
 */
export function cachedTemplate(text: string): Template {
  let template = templates.get(text)
  if (template === undefined) {
    template = compileTemplate(text)
    templates.set(text, template)
  }
  return template
}

/** Expands a compiled text, asking `resolve` for each macro's value (empty when unknown). */
export function expandTemplate(template: Template, resolve: (ref: MacroRef) => string): string {
  if (typeof template === 'string') return template
  let out = ''
  for (const part of template) out += typeof part === 'string' ? part : resolve(part)
  return out
}

/** The macros a compiled text refers to. */
export function templateRefs(template: Template): MacroRef[] {
  return typeof template === 'string' ? [] : template.filter((part): part is MacroRef => typeof part !== 'string')
}
