/**
 * Targeted cache-control fields (RFC 9213), such as `CDN-Cache-Control`: a Structured Field Dictionary
 * (RFC 8941 §3.2) that, when a cache is configured to obey it and it is valid, replaces `Cache-Control` and
 * `Expires` for that cache.
 * @module
 */
import type { Directives } from './directives.ts'

/** Directives whose value must be a non-negative Integer (delta-seconds). */
const INTEGER_DIRECTIVES = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error'])

/** Directives that must be a Boolean (`true` when present without a value). */
const BOOLEAN_DIRECTIVES = new Set(['no-store', 'no-cache', 'private', 'public', 'must-revalidate', 'proxy-revalidate', 'immutable', 'must-understand', 'no-transform'])

const KEY = /^[a-z*][a-z0-9_\-.*]*/
const INTEGER_OR_DECIMAL = /^-?[0-9]{1,15}(?:\.[0-9]{1,3})?/
const TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/
const BYTE_SEQUENCE = /^:[A-Za-z0-9+/=]*:/

/**
 * The directives of the first of `fields` (lower-cased names, most specific first) that the response carries
 * as a valid Structured Field Dictionary whose known directives have their types (an Integer for `max-age`,
 * `s-maxage`, `stale-*`; a Boolean for the others); `undefined` when none does, and `Cache-Control` applies.
 * A field that does not parse is ignored whole (RFC 9213 §2.1), `max-age="60"` included.
 */
export function targetedDirectives(headers: Headers, fields: readonly string[]): Directives | undefined {
  for (const field of fields) {
    const value = headers.get(field)
    if (value === null) continue
    const directives = parseDictionary(value)
    if (directives) return directives
  }
  return undefined
}

/** A dictionary's members as directives (Integers as their digits, `?1` and bare keys as `true`, `?0` absent); `undefined` if invalid. */
function parseDictionary(text: string): Directives | undefined {
  const directives = new Map<string, string | true>()
  let rest = text.trim()
  if (rest === '') return undefined
  for (;;) {
    const key = KEY.exec(rest)?.[0]
    if (!key) return undefined
    rest = rest.slice(key.length)
    let value: string | boolean = true
    let type: 'integer' | 'boolean' | 'other' = 'boolean'
    if (rest.startsWith('=')) {
      rest = rest.slice(1)
      const item = bareItem(rest) ?? innerList(rest)
      if (!item) return undefined
      ;({ value, type } = item)
      rest = rest.slice(item.length)
    }
    const parameters = skipParameters(rest)
    if (parameters === undefined) return undefined
    rest = parameters
    if (INTEGER_DIRECTIVES.has(key) && (type !== 'integer' || String(value).startsWith('-'))) return undefined
    if (BOOLEAN_DIRECTIVES.has(key) && type !== 'boolean') return undefined
    // Later members replace earlier ones with the same key (RFC 8941 §4.2.2).
    if (value === false) directives.delete(key)
    else directives.set(key, value === true ? true : String(value))
    rest = rest.replace(/^[ \t]*/, '')
    if (rest === '') return directives
    if (!rest.startsWith(',')) return undefined
    rest = rest.slice(1).replace(/^[ \t]*/, '')
    if (rest === '') return undefined
  }
}

/** A bare item at the start of `text`: its value, type and length; `undefined` if there is none. */
function bareItem(text: string): { value: string | boolean; type: 'integer' | 'boolean' | 'other'; length: number } | undefined {
  if (text.startsWith('?0') || text.startsWith('?1')) return { value: text[1] === '1', type: 'boolean', length: 2 }
  const number = INTEGER_OR_DECIMAL.exec(text)?.[0]
  if (number) return { value: number, type: number.includes('.') ? 'other' : 'integer', length: number.length }
  if (text.startsWith('"')) {
    for (let index = 1; index < text.length; index++) {
      const code = text.charCodeAt(index)
      if (code === 0x5c) {
        if (text[index + 1] !== '"' && text[index + 1] !== '\\') return undefined
        index++
      } else if (code === 0x22) return { value: text.slice(1, index), type: 'other', length: index + 1 }
      else if (code < 0x20 || code > 0x7e) return undefined
    }
    return undefined
  }
  const token = TOKEN.exec(text)?.[0] ?? BYTE_SEQUENCE.exec(text)?.[0]
  return token ? { value: token, type: 'other', length: token.length } : undefined
}

/** An inner list `(item item)` with its parameters' start, at the start of `text`; `undefined` if there is none. */
function innerList(text: string): { value: string; type: 'other'; length: number } | undefined {
  if (!text.startsWith('(')) return undefined
  let rest = text.slice(1)
  for (;;) {
    rest = rest.replace(/^ */, '')
    if (rest.startsWith(')')) return { value: '', type: 'other', length: text.length - rest.length + 1 }
    const item = bareItem(rest)
    if (!item) return undefined
    const parameters = skipParameters(rest.slice(item.length))
    if (parameters === undefined) return undefined
    if (!/^[ )]/.test(parameters)) return undefined
    rest = parameters
  }
}

/** `text` after the parameters at its start (`;key=value`…); `undefined` if they do not parse. */
function skipParameters(text: string): string | undefined {
  let rest = text
  while (rest.startsWith(';')) {
    rest = rest.slice(1).replace(/^ */, '')
    const key = KEY.exec(rest)?.[0]
    if (!key) return undefined
    rest = rest.slice(key.length)
    if (rest.startsWith('=')) {
      const item = bareItem(rest.slice(1))
      if (!item) return undefined
      rest = rest.slice(1 + item.length)
    }
  }
  return rest
}
