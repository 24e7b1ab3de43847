/**
 * Escapes in the PCRE → JavaScript translation (`regex.ts`): what follows a
 * backslash outside a class (set escapes as byte-mode sets, anchors,
 * `\Q…\E`, back-references), and the single-char escapes both outside and
 * inside a class (`\n`, `\x{HH}`, `\o{}`, octal, `\cX`), refusing code
 * points above 0xFF and the escapes PCRE has and JavaScript cannot express.
 * Functions of the {@link Translator}'s state.
 *
 * Portable: no `node:` import.
 */
import { HORIZONTAL_SPACE, SPACE, VERTICAL_SPACE, classSource } from './regex-classes.ts'
import { backReference, groupReference } from './regex-groups.ts'
import type { Translator } from './regex-translator.ts'

/** Emits what follows a backslash outside a class. */
export function escape(t: Translator, caseless: boolean): void {
  const char = t.src[t.pos]
  if (char === undefined) t.fail('\\ at end of pattern')
  t.pos++
  switch (char) {
    case 'd': case 'D': case 'w': case 'W': case 'b': case 'B':
      t.out += '\\' + char
      return
    case 's': t.out += classSource(SPACE, false); return
    case 'S': t.out += classSource(SPACE, true); return
    case 'h': t.out += classSource(HORIZONTAL_SPACE, false); return
    case 'H': t.out += classSource(HORIZONTAL_SPACE, true); return
    case 'v': t.out += classSource(VERTICAL_SPACE, false); return
    case 'V': t.out += classSource(VERTICAL_SPACE, true); return
    case 'R': t.out += `(?:\\r\\n|${classSource(VERTICAL_SPACE, false)})`; return
    case 'N':
      if (t.src[t.pos] === '{') t.fail('\\N{name}')
      t.out += '[^\\n]'
      return
    case 'A': case 'G': t.out += '^'; return
    case 'z': t.out += '$'; return
    case 'Z': t.out += '(?=\\n?$)'; return
    case 'Q': {
      const end = t.src.indexOf('\\E', t.pos)
      const text = end < 0 ? t.src.slice(t.pos) : t.src.slice(t.pos, end)
      t.pos = end < 0 ? t.src.length : end + 2
      // Each quoted char is its own atom, so a following quantifier applies to the last one only.
      for (const quoted of text) t.out += t.char(quoted.charCodeAt(0), caseless)
      return
    }
    case 'E': return
    case 'g': backReference(t, groupReference(t), caseless); return
    case 'k': {
      const name = /^(?:<(\w+)>|'(\w+)'|\{(\w+)\})/.exec(t.src.slice(t.pos))
      if (!name) t.fail('\\k without a group name')
      t.pos += name[0].length
      backReference(t, name[1] ?? name[2] ?? name[3]!, caseless)
      return
    }
    default:
  }
  if (char >= '1' && char <= '9') {
    const digits = /^\d*/.exec(t.src.slice(t.pos))![0]
    const number = Number(char + digits)
    if (number < 10 || number <= t.groupCount) {
      t.pos += digits.length
      backReference(t, number, caseless)
      return
    }
  }
  t.out += t.char(escapedChar(t, char, false), caseless)
}

/**
 * The char code a single-char escape stands for (`\n`, `\x41`, `\101`,
 * `\cA`, `\*`…), reading any digits after `char` (already consumed).
 * In a class, digits are always octal and `\b` is backspace.
 */
export function escapedChar(t: Translator, char: string, inClass: boolean): number {
  switch (char) {
    case 'a': return 0x07
    case 'e': return 0x1b
    case 'f': return 0x0c
    case 'n': return 0x0a
    case 'r': return 0x0d
    case 't': return 0x09
    case 'b': if (inClass) return 0x08; break
    case 'c': {
      const next = t.src[t.pos]
      if (next === undefined) t.fail('\\c at end of pattern')
      t.pos++
      return next.toUpperCase().charCodeAt(0) ^ 0x40
    }
    case 'x': {
      const braced = /^\{([0-9a-fA-F]+)\}/.exec(t.src.slice(t.pos))
      const plain = /^[0-9a-fA-F]{0,2}/.exec(t.src.slice(t.pos))![0]
      const digits = braced ? braced[1]! : plain
      t.pos += braced ? braced[0].length : plain.length
      return byte(t, digits === '' ? 0 : Number.parseInt(digits, 16), `\\x{${digits}}`)
    }
    case 'o': {
      const braced = /^\{([0-7]+)\}/.exec(t.src.slice(t.pos))
      if (!braced) t.fail('\\o without {octal digits}')
      t.pos += braced[0].length
      return byte(t, Number.parseInt(braced[1]!, 8), `\\o{${braced[1]!}}`)
    }
    default:
  }
  if (char >= '0' && char <= '7') {
    const digits = /^[0-7]{0,2}/.exec(t.src.slice(t.pos))![0]
    t.pos += digits.length
    return byte(t, Number.parseInt(char + digits, 8), `\\${char}${digits}`)
  }
  if (/[A-Za-z0-9]/.test(char)) {
    if (inClass && (char === '8' || char === '9')) return char.charCodeAt(0)
    const named: Record<string, string> = { K: 'match start reset \\K', X: 'extended grapheme \\X', C: 'single code unit \\C', p: 'Unicode property \\p', P: 'Unicode property \\P', u: '\\u', U: '\\U', L: '\\L', l: '\\l' }
    t.fail(named[char] ?? `unknown escape \\${char}`)
  }
  return char.charCodeAt(0)
}

/** A char value that must fit in a byte (PCRE refuses larger ones outside UTF mode). */
function byte(t: Translator, value: number, text: string): number {
  if (value > 0xff) t.fail(`code point above 0xFF (${text}) in byte mode`)
  return value
}
