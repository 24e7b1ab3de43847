/**
 * Small stand-ins for the WAF's primitives (operators, transformations,
 * regex translation, collections), so the engine's tests pin the engine's
 * own behaviour — chains, setvar, skipAfter, ctl — independently of the
 * real primitives, which have their own suites.
 */
import type { Primitives } from '../../../middleware/waf/rules/compile.ts'
import type { CollectionItem, HandshakeFacts, Operator, OperatorFactory, RequestCollections, Transformation } from '../../../middleware/waf/types.ts'

function withMacros(param: string, build: (value: string) => (input: string) => string[] | null): Operator {
  if (!param.includes('%{')) {
    const compiled = build(param)
    return (input) => compiled(input)
  }
  return (input, expand) => build(expand(param))(input)
}

const number = (compare: (a: number, b: number) => boolean): OperatorFactory => (param) =>
  withMacros(param, (value) => (input) => (compare(Number.parseInt(input, 10) || 0, Number.parseInt(value, 10) || 0) ? [input] : null))

export const fakeOperators: Record<string, OperatorFactory> = {
  rx: (param) => {
    if (param.includes('(?R)')) throw new TypeError('recursion (?R) has no JavaScript equivalent')
    return withMacros(param, (value) => {
      const regex = new RegExp(value, 's')
      return (input) => {
        const match = regex.exec(input)
        return match ? match.map((group) => group ?? '') : null
      }
    })
  },
  streq: (param) => withMacros(param, (value) => (input) => (input === value ? [input] : null)),
  contains: (param) => withMacros(param, (value) => (input) => (input.includes(value) ? [value] : null)),
  beginswith: (param) => withMacros(param, (value) => (input) => (input.startsWith(value) ? [value] : null)),
  within: (param) => withMacros(param, (value) => (input) => (value.split(' ').includes(input) ? [input] : null)),
  pm: (param) => {
    const words = param.toLowerCase().split(/\s+/)
    return (input) => {
      const found = words.find((word) => input.toLowerCase().includes(word))
      return found === undefined ? null : [found]
    }
  },
  eq: number((a, b) => a === b),
  ge: number((a, b) => a >= b),
  gt: number((a, b) => a > b),
  lt: number((a, b) => a < b),
  le: number((a, b) => a <= b),
  unconditionalmatch: () => (input) => [input],
}

export const fakeTransformations: Record<string, Transformation> = {
  lowercase: (input) => input.toLowerCase(),
  uppercase: (input) => input.toUpperCase(),
  urldecodeuni: (input) => {
    try {
      return decodeURIComponent(input.replace(/\+/g, ' '))
    } catch {
      return input
    }
  },
  removewhitespace: (input) => input.replace(/\s+/g, ''),
  length: (input) => String(input.length),
  trim: (input) => input.trim(),
}

/** Collections of a handshake, the way `collections.ts` names them. */
export function fakeCollections(facts: HandshakeFacts): RequestCollections {
  const collections: RequestCollections = new Map()
  const scalar = (name: string, value: string): void => void collections.set(name, [{ name, value }])
  const [path = '', query] = splitOnce(facts.rawTarget, '?')
  scalar('REQUEST_METHOD', facts.method)
  scalar('REQUEST_URI', facts.rawTarget)
  scalar('REQUEST_FILENAME', path)
  scalar('REQUEST_PROTOCOL', facts.protocol)
  scalar('REQUEST_LINE', `${facts.method} ${facts.rawTarget} ${facts.protocol}`)
  scalar('REMOTE_ADDR', facts.remoteAddress)
  scalar('QUERY_STRING', query ?? '')
  const args: CollectionItem[] = []
  for (const pair of query ? query.split('&') : []) {
    const [name = '', value = ''] = splitOnce(pair, '=')
    args.push({ name: decode(name), value: decode(value) })
  }
  collections.set('ARGS', args)
  collections.set('ARGS_NAMES', args.map((arg) => ({ name: arg.name, value: arg.name })))
  collections.set('REQUEST_HEADERS', facts.headers.map(([name, value]) => ({ name, value })))
  collections.set('REQUEST_HEADERS_NAMES', facts.headers.map(([name]) => ({ name, value: name })))
  const cookies: CollectionItem[] = []
  for (const [name, value] of facts.headers) {
    if (name.toLowerCase() !== 'cookie') continue
    for (const pair of value.split(/;\s*/)) {
      const [key = '', cookie = ''] = splitOnce(pair, '=')
      cookies.push({ name: key, value: cookie })
    }
  }
  collections.set('REQUEST_COOKIES', cookies)
  collections.set('REQUEST_COOKIES_NAMES', cookies.map((cookie) => ({ name: cookie.name, value: cookie.name })))
  return collections
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator)
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)]
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

export const fakePrimitives: Primitives = {
  operators: fakeOperators,
  transformations: fakeTransformations,
  translateRegex: (pcre, options) => {
    try {
      return { regex: new RegExp(pcre, options?.caseless ? 'i' : '') }
    } catch (error) {
      return { error: (error as Error).message }
    }
  },
  buildCollections: fakeCollections,
  variables: new Set([
    'REQUEST_METHOD',
    'REQUEST_URI',
    'REQUEST_FILENAME',
    'REQUEST_PROTOCOL',
    'REQUEST_LINE',
    'REMOTE_ADDR',
    'QUERY_STRING',
    'ARGS',
    'ARGS_NAMES',
    'REQUEST_HEADERS',
    'REQUEST_HEADERS_NAMES',
    'REQUEST_COOKIES',
    'REQUEST_COOKIES_NAMES',
  ]),
}

/** A handshake with the given target and extra headers. */
export function facts(rawTarget = '/ws', headers: [string, string][] = [], remoteAddress = '203.0.113.7'): HandshakeFacts {
  return {
    method: 'GET',
    rawTarget,
    protocol: 'HTTP/1.1',
    headers: [['Host', 'chat.example.com'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ...headers],
    remoteAddress,
  }
}
