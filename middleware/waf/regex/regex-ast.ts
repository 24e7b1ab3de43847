/**
 * The JavaScript patterns `regex.ts` emits, read back as a tree: what the
 * match-preserving rewrites (`regex-linear.ts`) and the literal prefilter
 * (`regex-factors.ts`) reason about. The translator writes a small subset
 * of JavaScript regex syntax (no flags; classes, escapes, groups,
 * lookarounds, back-references, counted repeats), and this parser reads
 * exactly that subset; it throws `SyntaxError` on anything else, which its
 * callers take as "leave the pattern alone".
 *
 * Portable: no `node:` import.
 */

/** A node of the emitted JavaScript pattern. */
export type Node =
  | { type: 'char'; source: string }
  | { type: 'seq'; items: Node[] }
  | { type: 'alt'; alternatives: Node[] }
  | { type: 'group'; open: string; body: Node }
  | { type: 'quant'; atom: Node; min: number; max: number; lazy: boolean; source: string }
  | { type: 'assert'; source: string }
  | { type: 'backref'; source: string }

/** Emitted-pattern prefix of the possessive and atomic helper groups (`regex-groups.ts`). */
export const HELPER_PREFIX = '(?<wsgAtomic'

/**
 * Parses a pattern the translator emitted (before or after its numbered
 * back-references are resolved). Throws `SyntaxError` on what it does not read.
 *
 * @example
 * parsePattern('ab|c*').type // 'alt', with a sequence of two chars and one of a quantified char
 */
export function parsePattern(source: string): Node {
  return new Parser(source).parse()
}

class Parser {
  readonly src: string
  pos = 0

  constructor(src: string) {
    this.src = src
  }

  parse(): Node {
    const node = this.alternation()
    if (this.pos !== this.src.length) throw new SyntaxError(`unexpected ) at ${this.pos}`)
    return node
  }

  alternation(): Node {
    const alternatives = [this.sequence()]
    while (this.src[this.pos] === '|') {
      this.pos++
      alternatives.push(this.sequence())
    }
    return { type: 'alt', alternatives }
  }

  sequence(): Node {
    const items: Node[] = []
    while (this.pos < this.src.length && this.src[this.pos] !== '|' && this.src[this.pos] !== ')') {
      const atom = this.atom()
      items.push(this.quantified(atom))
    }
    return { type: 'seq', items }
  }

  atom(): Node {
    const src = this.src
    const start = this.pos
    const char = src[this.pos]!
    if (char === '(') {
      const open = /^\((?:\?(?::|=|!|<=|<!|<[A-Za-z_]\w*>|[a-z]+:))?/.exec(src.slice(this.pos, this.pos + 64))![0]
      this.pos += open.length
      const body = this.alternation()
      if (src[this.pos] !== ')') throw new SyntaxError('missing )')
      this.pos++
      return { type: 'group', open, body }
    }
    if (char === '[') {
      this.pos++
      if (src[this.pos] === '^') this.pos++
      while (this.pos < src.length && src[this.pos] !== ']') this.pos += src[this.pos] === '\\' ? 2 : 1
      if (src[this.pos] !== ']') throw new SyntaxError('missing ]')
      this.pos++
      return { type: 'char', source: src.slice(start, this.pos) }
    }
    if (char === '\x01') {
      this.pos = src.indexOf('\x02', this.pos) + 1
      if (this.pos === 0) throw new SyntaxError('unterminated reference')
      return { type: 'backref', source: src.slice(start, this.pos) }
    }
    if (char === '^' || char === '$') {
      this.pos++
      return { type: 'assert', source: char }
    }
    if (char === '\\') {
      const next = src[this.pos + 1]
      if (next === undefined) throw new SyntaxError('\\ at end')
      if (next === 'b' || next === 'B') {
        this.pos += 2
        return { type: 'assert', source: '\\' + next }
      }
      if (next === 'k') {
        const name = /^\\k<\w+>/.exec(src.slice(this.pos))
        if (!name) throw new SyntaxError('bad \\k')
        this.pos += name[0].length
        return { type: 'backref', source: name[0] }
      }
      if (next >= '1' && next <= '9') {
        const digits = /^\\\d+/.exec(src.slice(this.pos))![0]
        this.pos += digits.length
        return { type: 'backref', source: digits }
      }
      const escape = /^\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|c[A-Za-z]|[\s\S])/.exec(src.slice(this.pos))![0]
      this.pos += escape.length
      return { type: 'char', source: escape }
    }
    if ('*+?'.includes(char) || (char === '{' && /^\{\d+(?:,\d*)?\}/.test(src.slice(this.pos)))) throw new SyntaxError(`nothing to repeat at ${this.pos}`)
    this.pos++
    return { type: 'char', source: char }
  }

  quantified(atom: Node): Node {
    const bounds = /^(?:[*+?]|\{(\d+)(?:(,)(\d*))?\})\??/.exec(this.src.slice(this.pos, this.pos + 32))
    if (!bounds) return atom
    this.pos += bounds[0].length
    const text = bounds[0]
    const lazy = text.length > 1 && text.endsWith('?')
    let min: number
    let max: number
    switch (text[0]) {
      case '*': min = 0; max = Infinity; break
      case '+': min = 1; max = Infinity; break
      case '?': min = 0; max = 1; break
      default:
        min = Number(bounds[1])
        max = bounds[2] === undefined ? min : bounds[3] === '' ? Infinity : Number(bounds[3])
    }
    return { type: 'quant', atom, min, max, lazy, source: text }
  }
}

/** A set of bytes, one flag per byte value. */
export type ByteSet = Uint8Array

const setCache = new Map<string, ByteSet>()

/** The bytes a single-char atom matches. */
export function bytesOf(atom: string): ByteSet {
  let set = setCache.get(atom)
  if (set === undefined) {
    set = new Uint8Array(256)
    const regex = new RegExp(`^(?:${atom})$`)
    for (let byte = 0; byte < 256; byte++) set[byte] = regex.test(String.fromCharCode(byte)) ? 1 : 0
    if (setCache.size > 4096) setCache.clear()
    setCache.set(atom, set)
  }
  return set
}

/** The body X of a possessive or atomic emulation `(?:(?=(?<h>X))\k<h>)`, or undefined. */
export function atomicBody(node: Node): Node | undefined {
  if (node.type !== 'group' || node.open !== '(?:') return undefined
  const body = only(node.body)
  if (body?.type !== 'seq' || body.items.length !== 2) return undefined
  const [look, reference] = body.items as [Node, Node]
  if (look.type !== 'group' || look.open !== '(?=' || reference.type !== 'backref') return undefined
  const helper = only(only(look.body))
  if (helper?.type !== 'group' || !helper.open.startsWith(HELPER_PREFIX) || reference.source !== `\\k<${helper.open.slice(3, -1)}>`) return undefined
  return helper.body
}

/** The single alternative of an alternation, or the single item of a sequence. */
export function only(node: Node | undefined): Node | undefined {
  if (node?.type === 'alt') return node.alternatives.length === 1 ? node.alternatives[0] : undefined
  if (node?.type === 'seq') return node.items.length === 1 ? node.items[0] : undefined
  return undefined
}

