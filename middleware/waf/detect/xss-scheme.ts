/**
 * Script-running URL schemes (`javascript:`, `vbscript:`, `livescript:`,
 * `data:text/html`, `data:image/svg+xml`, `data:application/xhtml+xml`) as
 * a browser reads them in a URL attribute: case-insensitive, with tabs,
 * newlines and other controls anywhere inside (URL parsing strips them)
 * and with character references (`&#106;`, `&#x6A;`, `&colon;`, `&Tab;`)
 * standing for chars, since attribute values are entity-decoded before the
 * URL is parsed. Linear: a match attempt reads at most
 * {@link MAX_SCHEME_SPAN} chars. Portable: no `node:` import.
 */

/** The longest stretch one scheme may span, obfuscation included. */
export const MAX_SCHEME_SPAN = 256

const SCRIPT_SCHEMES = ['javascript:', 'vbscript:', 'livescript:']
const DATA_SCHEME = 'data:'
const DATA_TYPES = ['text/html', 'image/svg+xml', 'application/xhtml+xml', 'text/xml']

/** Named references a scheme can be spelled with (the rest never form one). */
const NAMED: Readonly<Record<string, number>> = { colon: 0x3a, tab: 0x09, newline: 0x0a, sol: 0x2f, plus: 0x2b }

/** A cursor over a value that yields chars as a URL parser would see them. */
class UrlChars {
  pos: number
  readonly limit: number
  readonly text: string
  constructor(text: string, start: number) {
    this.text = text
    this.pos = start
    this.limit = Math.min(text.length, start + MAX_SCHEME_SPAN)
  }

  /** The next char that counts, lower-cased; -1 at the end or the span's limit. */
  next(): number {
    while (this.pos < this.limit) {
      let code = this.text.charCodeAt(this.pos++)
      if (code === 0x26) code = this.#reference()
      // URL parsing drops ASCII tab and newlines anywhere and leading controls and spaces; drop every control.
      if (code < 0x20) continue
      return code >= 0x41 && code <= 0x5a ? code | 0x20 : code
    }
    return -1
  }

  /** Decodes a character reference after `&` (at `pos`); `&` itself when there is none. */
  #reference(): number {
    const text = this.text
    let i = this.pos
    let value = -1
    if (text.charCodeAt(i) === 0x23) {
      i++
      const hex = (text.charCodeAt(i) | 0x20) === 0x78
      if (hex) i++
      const digits = i
      value = 0
      for (; i < this.limit && i - digits < 8; i++) {
        const code = text.charCodeAt(i) | 0x20
        const digit = code >= 0x30 && code <= 0x39 ? code - 0x30 : hex && code >= 0x61 && code <= 0x66 ? code - 0x57 : -1
        if (digit < 0) break
        value = value * (hex ? 16 : 10) + digit
      }
      if (i === digits) return 0x26
    } else {
      const start = i
      while (i < this.limit && i - start < 8 && ((text.charCodeAt(i) | 0x20) >= 0x61 && (text.charCodeAt(i) | 0x20) <= 0x7a)) i++
      const named = NAMED[text.slice(start, i).toLowerCase()]
      if (named === undefined) return 0x26
      value = named
    }
    if (text.charCodeAt(i) === 0x3b) i++
    this.pos = i
    return value > 0xff ? 0xff : value
  }
}

/** Whether `word` comes next from `chars`, spaces allowed before a final `:` (`javascript :`). */
function reads(chars: UrlChars, word: string): boolean {
  for (let k = 0; k < word.length; k++) {
    let code = chars.next()
    if (word.charCodeAt(k) === 0x3a) while (code === 0x20) code = chars.next()
    if (code !== word.charCodeAt(k)) return false
  }
  return true
}

/**
 * The name of the script-running scheme that starts at `start` in `text`
 * (leading spaces and controls skipped), or null.
 *
 * @example
 * schemeAt('java&#x09;script:alert(1)', 0) // 'javascript:'
 * schemeAt('https://example.com', 0) // null
 */
export function schemeAt(text: string, start: number): string | null {
  let first = start
  while (first < text.length && text.charCodeAt(first) <= 0x20) first++
  const lead = text.charCodeAt(first) | 0x20
  // Only j, v, l, d or a reference can begin one: most positions are rejected here.
  if (lead !== 0x6a && lead !== 0x76 && lead !== 0x6c && lead !== 0x64 && lead !== 0x26) return null
  for (const scheme of SCRIPT_SCHEMES) if (reads(new UrlChars(text, first), scheme)) return scheme
  const chars = new UrlChars(text, first)
  if (!reads(chars, DATA_SCHEME)) return null
  const after = chars.pos
  for (const type of DATA_TYPES) {
    const rest = new UrlChars(text, after)
    let code = rest.next()
    while (code === 0x20) code = rest.next()
    if (code === type.charCodeAt(0) && reads(rest, type.slice(1))) return `data:${type}`
  }
  return null
}
