/**
 * Which transformation chains leave a text as it was, up to ASCII case, told
 * from the chars the text holds: the prefilter's literal index ignores ASCII
 * case (`literal-index.ts`), so such a chain's output holds exactly the
 * literals the untransformed text holds, and the engine can answer "does it
 * hold one of this operator's literals?" from the one scan of the text it
 * makes anyway, without running the chain. On a benign handshake most
 * values are plain (a `Sec-WebSocket-Key` is base64, a cookie is a token,
 * `Accept-Language` is letters, `-`, `,`, `;`, `=` and `.`), and most rules
 * skip most values that way: what a first-seen value costs drops from a
 * dozen chains and their scans to one scan.
 *
 * Each supported transformation has the set of chars that can make it
 * change anything but ASCII case (its hazards: `%` and `+` for
 * `urlDecode`, `&` for `htmlEntityDecode`, …), read off its
 * implementation; a text holding none of a chain's hazards comes out of
 * every step of it equal up to case (case changes only letters, which are
 * nobody's hazard, so each step sees a text with the same hazards). A
 * function this table does not know (a test's stand-in, `base64Decode`,
 * `sha1`) has every hazard, so no text is plain for a chain that has it.
 * `test/middleware/waf/prefilter/plain-texts.test.ts` checks every entry against its
 * transformation on random texts.
 *
 * Portable: no `node:` import.
 */
import { TRANSFORMATIONS } from '../transformations/index.ts'
import type { Transformation } from '../types.ts'

/** The printable ASCII chars some transformation treats specially, one bit each (by position). */
const HAZARD_CHARS = '%+&\\/."\'^ ,;*<-#'
/** Control chars, DEL and everything above 0x7E (whitespace, NUL, UTF-8 bytes, NBSP): one bit for them all. */
const ODD = 1 << HAZARD_CHARS.length
/** Set for every text, even the empty one: a transformation with all hazards is never a no-op. */
const ANY = ODD << 1

/** Hazard bit per printable ASCII char (0 for the harmless ones). */
const CHAR_BITS = new Int32Array(0x7f)
for (let i = 0; i < HAZARD_CHARS.length; i++) CHAR_BITS[HAZARD_CHARS.charCodeAt(i)] = 1 << i

/** The hazard bits of `chars`, with {@link ODD} when `odd`. */
function hazards(chars: string, odd = false): number {
  let mask = odd ? ODD : 0
  for (let i = 0; i < chars.length; i++) {
    const bit = CHAR_BITS[chars.charCodeAt(i)]
    if (!bit) throw new Error(`plain-texts: ${JSON.stringify(chars[i])} is not in HAZARD_CHARS`)
    mask |= bit
  }
  return mask
}

/** What can make each known transformation change more than ASCII case (`transformations/*.ts`). */
const KNOWN: [name: string, hazards: number][] = [
  ['none', 0],
  // ASCII letters only; Latin-1 letters are left alone.
  ['lowercase', 0],
  ['uppercase', 0],
  ['urldecode', hazards('%+')],
  ['urldecodeuni', hazards('%+')],
  ['htmlentitydecode', hazards('&')],
  ['jsdecode', hazards('\\')],
  ['cssdecode', hazards('\\')],
  ['escapeseqdecode', hazards('\\')],
  // Multi-byte sequences start above 0x7F.
  ['utf8tounicode', hazards('', true)],
  ['removenulls', hazards('', true)],
  ['replacenulls', hazards('', true)],
  // Whitespace: space, \t–\r and NBSP (0xA0).
  ['removewhitespace', hazards(' ', true)],
  ['compresswhitespace', hazards(' ', true)],
  ['trim', hazards(' ', true)],
  ['trimleft', hazards(' ', true)],
  ['trimright', hazards(' ', true)],
  ['replacecomments', hazards('/')],
  ['removecomments', hazards('/<-#')],
  ['normalisepath', hazards('/.')],
  ['normalisepathwin', hazards('/.\\')],
  // Deletes quotes, `\` and `^`, squeezes spaces, commas, semicolons and \t\r\n, and lower-cases the rest.
  ['cmdline', hazards('"\'\\^ ,;', true)],
]

const BY_FUNCTION = new Map<Transformation, number>(KNOWN.map(([name, mask]) => [TRANSFORMATIONS[name]!, mask]))

/**
 * The hazards of a transformation: every bit for one this module does not
 * know.
 */
export function transformationHazards(transformation: Transformation): number {
  return BY_FUNCTION.get(transformation) ?? -1
}

/**
 * The hazards `text` holds; a chain whose hazards (the OR of its steps')
 * share no bit with them leaves the text as it was, up to ASCII case.
 *
 * @example
 * (textHazards('dGhlIHNhbXBsZQ==') & transformationHazards(TRANSFORMATIONS.urldecodeuni!)) === 0 // true
 * (textHazards('a%20b') & transformationHazards(TRANSFORMATIONS.urldecodeuni!)) === 0 // false
 */
export function textHazards(text: string): number {
  let mask = ANY
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    mask |= code < 0x20 || code >= 0x7f ? ODD : CHAR_BITS[code]!
  }
  return mask
}

/** For tests: the known transformations' names and the chars (printable ASCII) each leaves alone, and whether it leaves the odd ones alone. */
export function harmlessChars(): { name: string; chars: string; odd: boolean }[] {
  return KNOWN.map(([name, mask]) => {
    let chars = ''
    for (let code = 0x20; code < 0x7f; code++) if ((CHAR_BITS[code]! & mask) === 0) chars += String.fromCharCode(code)
    return { name, chars, odd: (mask & ODD) === 0 }
  })
}
