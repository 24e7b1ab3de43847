/**
 * Groups in the PCRE → JavaScript translation (`regex.ts`): every group-like
 * construct (`(?:`, lookarounds, named groups, option groups, comments,
 * `(*FAIL)`), the emulation of atomic groups and possessive quantifiers by
 * named helper groups, back-references (numbered ones as placeholders), and
 * the mapping of PCRE's group numbers to the JavaScript ones once the
 * helpers are known. Functions of the {@link Translator}'s state.
 *
 * Portable: no `node:` import.
 */
import type { Flags, Translator } from './regex-translator.ts'

/** Prefix of the helper groups' names; a PCRE name cannot start with it by accident in practice, and collisions are checked. */
const HELPER = 'wsgAtomic'

/** Wraps the atom emitted from `start`, with `quantifier`, so that it never gives back what it matched. */
export function possessive(t: Translator, start: number, quantifier: string): void {
  const name = helperName(t)
  t.out = `${t.out.slice(0, start)}(?:(?=(?<${name}>${t.out.slice(start)}${quantifier}))\\k<${name}>)`
}

/** A fresh name for a helper group, clashing with no name the pattern uses. */
function helperName(t: Translator): string {
  let name: string
  do name = HELPER + t.helperCount++
  while (t.names.has(name) || t.src.includes(name))
  return name
}

/** Emits a group or a group-like construct; false for a comment. */
export function group(t: Translator, flags: Flags, lookbehind: boolean): boolean {
  const rest = t.src.slice(t.pos, t.pos + 40)
  let opener: string
  let inner = flags
  let innerLookbehind = lookbehind
  let atomic = false
  let match: RegExpExecArray | null
  if (rest.startsWith('(?#')) {
    const close = t.src.indexOf(')', t.pos)
    if (close < 0) t.fail('unterminated comment (?#')
    t.pos = close + 1
    return false
  }
  if (rest.startsWith('(*')) {
    const verb = /^\(\*([A-Z_]*)(?::[^)]*)?\)/.exec(rest)
    if (verb && (verb[1] === 'FAIL' || verb[1] === 'F')) {
      t.pos += verb[0].length
      t.out += '(?!)'
      return true
    }
    return t.fail(`backtracking verb ${verb ? verb[0] : '(*'}`)
  }
  if (rest.startsWith('(?:')) {
    opener = '(?:'
    t.pos += 3
  } else if (rest.startsWith('(?=') || rest.startsWith('(?!')) {
    opener = rest.slice(0, 3)
    t.pos += 3
  } else if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
    opener = rest.slice(0, 4)
    t.pos += 4
    innerLookbehind = true
  } else if (rest.startsWith('(?>')) {
    t.pos += 3
    atomic = !lookbehind
    opener = atomic ? '' : '(?:'
  } else if ((match = /^\(\?(?:P?<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')/.exec(rest)) !== null) {
    const name = match[1] ?? match[2]!
    t.names.add(name)
    t.groupCount++
    opener = `(?<${name}>`
    t.pos += match[0].length
  } else if ((match = /^\(\?P=([A-Za-z_]\w*)\)/.exec(rest)) !== null) {
    t.pos += match[0].length
    backReference(t, match[1]!, flags.i)
    return true
  } else if ((match = /^\(\?([a-zA-Z^-]*):/.exec(rest)) !== null) {
    inner = t.applyFlags(flags, match[1]!)
    t.pos += match[0].length
    opener = '(?:'
  } else if (rest.startsWith('(?')) {
    const construct = /^\(\?(?:R|[+-]?\d|&|P>|\||\(|C)/.exec(rest)
    const names: Record<string, string> = { R: 'recursion (?R)', '&': 'subroutine call (?&name)', 'P>': 'subroutine call (?P>name)', '|': 'branch reset (?|', '(': 'conditional (?(', C: 'callout (?C' }
    const key = construct?.[0].slice(2) ?? ''
    return t.fail(names[key] ?? (/^[+-]?\d/.test(key) ? 'subroutine call (?N)' : `group syntax ${rest.slice(0, 4)}`))
  } else {
    t.pos++
    if (flags.n) {
      opener = '(?:'
    } else {
      t.groupCount++
      opener = '('
    }
  }
  const helper = atomic ? helperName(t) : ''
  t.out += atomic ? `(?:(?=(?<${helper}>` : opener
  t.body(inner, innerLookbehind)
  if (t.src[t.pos] !== ')') t.fail('missing ) for the group')
  t.pos++
  t.out += atomic ? `))\\k<${helper}>)` : ')'
  return true
}

/** `\g{N}`, `\gN`, `\g{-N}`, `\g-N` (relative) or `\g{name}`: a group number, or a name. */
export function groupReference(t: Translator): number | string {
  const reference = /^(?:\{(-?\d+)\}|(-?\d+)|\{(\w+)\}|<(\w+)>|'(\w+)')/.exec(t.src.slice(t.pos))
  if (!reference) t.fail('\\g without a group')
  t.pos += reference[0].length
  const digits = reference[1] ?? reference[2]
  if (digits === undefined) {
    if (reference[4] !== undefined || reference[5] !== undefined) t.fail('subroutine call \\g<name>')
    return reference[3]!
  }
  const number = Number(digits)
  return number < 0 ? t.groupCount + number + 1 : number
}

/**
 * Emits a back-reference: to a name directly, to a number as a placeholder
 * resolved once helper groups are known. A caseless one sits in a V8
 * modifier group, the only construct whose case folding needs one.
 */
export function backReference(t: Translator, target: number | string, caseless: boolean): void {
  let reference: string
  if (typeof target === 'string') {
    reference = `\\k<${target}>`
  } else {
    if (target < 1) t.fail('reference to group 0 or below')
    reference = `\x01${target}\x02`
  }
  t.out += caseless ? `(?i:${reference})` : reference
}

/**
 * Finds the capture groups of the emitted JavaScript source in order, tells
 * PCRE's from the helpers, and resolves numbered back-reference placeholders
 * to JavaScript group numbers.
 */
export function mapGroups(source: string): { groups: number[]; resolved: string } {
  const groups = [0]
  let index = 0
  for (let i = 0; i < source.length; i++) {
    const char = source[i]
    if (char === '\\') {
      i++
      continue
    }
    if (char === '[') {
      // Skip the class; a `]` escaped inside it does not end it.
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++
      continue
    }
    if (char !== '(') continue
    if (source[i + 1] !== '?') {
      groups.push(++index)
      continue
    }
    if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
      index++
      if (!source.startsWith(HELPER, i + 3)) groups.push(index)
    }
  }
  const resolved = source.replace(/\x01(\d+)\x02/g, (_, number: string) => {
    const target = groups[Number(number)]
    // A reference to a group that does not exist never matches in PCRE.
    return target === undefined ? '(?!)' : `(?:\\${target})`
  })
  return { groups, resolved }
}
