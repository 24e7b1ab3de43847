/**
 * The HTML side of the XSS detector: a tokenizer state machine after the
 * HTML5 one (data, tag open, tag name, attribute name, before / in quoted
 * and unquoted attribute values, markup declarations, processing
 * instructions) that reports the first thing able to run script:
 *
 * - a tag that runs or loads script or markup: script, iframe, frame,
 *   frameset, object, embed, applet, base, meta, link, style, and XML
 *   islands (xml, import); `<` and `</` may be followed by spaces, as
 *   filters that strip them leave them, and a `<` inside a tag name
 *   starts a new tag (`<scr<script>ipt>`);
 * - an event handler (`on` and three letters or more), `srcdoc` or
 *   `formaction` given a value, anywhere in a tag after a space, `/` or a
 *   quote (so also when a quoted value is broken out of);
 * - a style attribute or declaration with `expression(`, `behavior:`,
 *   `-moz-binding` or `javascript:`;
 * - an XML processing instruction (`<?xml-stylesheet …?>`, `<?import …>`).
 *
 * It can start in any of the contexts a value is pasted into: text, or an
 * attribute value unquoted, in '…' or in "…". One pass per context, a
 * bounded look-ahead at each delimiter, no regex and no allocation but a
 * tag name's compare. Portable: no `node:` import.
 */

/** Where the value is pasted. */
export const HtmlContext = { Text: 0, Unquoted: 1, SingleQuoted: 2, DoubleQuoted: 3 } as const
/** One of {@link HtmlContext}. */
export type HtmlContextType = (typeof HtmlContext)[keyof typeof HtmlContext]

const DANGEROUS_TAGS = ['script', 'iframe', 'frameset', 'frame', 'object', 'embed', 'applet', 'base', 'meta', 'link', 'style', 'xml', 'import']
const STYLE_SINKS = ['expression(', 'behavior:', '-moz-binding', 'javascript:']

function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d)
}

function isLetter(code: number): boolean {
  return (code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a
}

function isNameChar(code: number): boolean {
  return isLetter(code) || (code >= 0x30 && code <= 0x39) || code === 0x5f
}

/** Whether `text` at `at` spells `word` (lower case), ignoring ASCII case. */
function spells(text: string, at: number, word: string): boolean {
  if (at + word.length > text.length) return false
  for (let k = 0; k < word.length; k++) if ((text.charCodeAt(at + k) | (isLetter(text.charCodeAt(at + k)) ? 0x20 : 0)) !== word.charCodeAt(k)) return false
  return true
}

/** The dangerous tag named at `at` (the name must end there: `<scripts` is not `<script`), or null. */
function dangerousTagAt(text: string, at: number): string | null {
  for (const tag of DANGEROUS_TAGS) if (spells(text, at, tag) && !isNameChar(text.charCodeAt(at + tag.length))) return tag
  return null
}

/**
 * What a handler-like attribute starting at `at` is, when a value follows it
 * (`onerror =`, `srcdoc=`, `formaction=`), or null. Reads the run of
 * letters once.
 */
function handlerAt(text: string, at: number): string | null {
  let end = at
  while (end < text.length && isLetter(text.charCodeAt(end))) end++
  const length = end - at
  const handler = (length >= 5 && spells(text, at, 'on')) || (length === 6 && spells(text, at, 'srcdoc')) || (length === 10 && spells(text, at, 'formaction'))
  if (!handler) return null
  while (end < text.length && isSpace(text.charCodeAt(end))) end++
  return text.charCodeAt(end) === 0x3d ? text.slice(at, at + length).toLowerCase() : null
}

/** A style sink in `text[from, to)`, or null. */
function styleSinkIn(text: string, from: number, to: number): string | null {
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i) | 0x20
    if (code !== 0x65 && code !== 0x62 && code !== 0x2d && code !== 0x6a) continue
    for (const sink of STYLE_SINKS) if (spells(text, i, sink)) return sink
  }
  return null
}

const State = { Data: 0, Tag: 1, Unquoted: 2, Single: 3, Double: 4 } as const

/**
 * The first script-capable construct in `text` read from `context`, named
 * (`tag script`, `handler onerror`, `style expression(`, `processing instruction`), or null.
 *
 * @example
 * htmlThreat('<svg/onload=alert(1)>', HtmlContext.Text) // 'handler onload'
 * htmlThreat('" autofocus onfocus="alert(1)', HtmlContext.DoubleQuoted) // 'handler onfocus'
 */
export function htmlThreat(text: string, context: HtmlContextType): string | null {
  const length = text.length
  let state: number = context === HtmlContext.Text ? State.Data : context === HtmlContext.Unquoted ? State.Unquoted : context === HtmlContext.SingleQuoted ? State.Single : State.Double
  // Where the current attribute's value began, and whether that attribute is `style`.
  let valueStart = 0
  let style = false
  let i = 0
  while (i < length) {
    const code = text.charCodeAt(i)
    if (state === State.Data) {
      const open = text.indexOf('<', i)
      if (open < 0) return null
      let j = open + 1
      while (j < length && isSpace(text.charCodeAt(j))) j++
      const slash = text.charCodeAt(j) === 0x2f
      if (slash) for (j++; j < length && isSpace(text.charCodeAt(j)); j++);
      const tag = dangerousTagAt(text, j)
      if (tag !== null) return `tag ${tag}`
      const next = text.charCodeAt(j)
      if (next === 0x3f && isLetter(text.charCodeAt(j + 1))) return 'processing instruction'
      if (isLetter(next) && !slash) {
        // A start tag: its name, then its attributes.
        for (i = j; i < length && !isSpace(text.charCodeAt(i)) && text.charCodeAt(i) !== 0x2f && text.charCodeAt(i) !== 0x3e; i++) {
          if (text.charCodeAt(i) === 0x3c) break
        }
        if (text.charCodeAt(i) === 0x3c) continue
        state = State.Tag
        style = false
        continue
      }
      i = open + 1
      continue
    }
    if (state === State.Tag) {
      if (code === 0x3e) {
        state = State.Data
        i++
        continue
      }
      if (isSpace(code) || code === 0x2f || code === 0x22 || code === 0x27) {
        const handler = handlerAt(text, i + 1)
        if (handler !== null) return `handler ${handler}`
        i++
        continue
      }
      if (code === 0x3d) {
        // A value: its quoting decides where it ends.
        let j = i + 1
        while (j < length && isSpace(text.charCodeAt(j))) j++
        const quote = text.charCodeAt(j)
        state = quote === 0x22 ? State.Double : quote === 0x27 ? State.Single : State.Unquoted
        valueStart = quote === 0x22 || quote === 0x27 ? j + 1 : j
        i = valueStart
        continue
      }
      // An attribute name: note whether it is style.
      style = spells(text, i, 'style') && !isNameChar(text.charCodeAt(i + 5))
      while (i < length && !isSpace(text.charCodeAt(i)) && text.charCodeAt(i) !== 0x3d && text.charCodeAt(i) !== 0x3e && text.charCodeAt(i) !== 0x2f) i++
      continue
    }
    // In an attribute value.
    const closes = state === State.Double ? code === 0x22 : state === State.Single ? code === 0x27 : isSpace(code) || code === 0x3e
    if (closes) {
      if (style) {
        const sink = styleSinkIn(text, valueStart, i)
        if (sink !== null) return `style ${sink}`
      }
      style = false
      if (code === 0x3e) {
        state = State.Data
        i++
      } else {
        // The closing quote or space is also a delimiter before an attribute name: the tag state reads it next.
        state = State.Tag
      }
      continue
    }
    if (isSpace(code) || code === 0x2f || code === 0x22 || code === 0x27) {
      // A handler inside a value, as a filter that does not parse quotes sees it.
      const handler = handlerAt(text, i + 1)
      if (handler !== null) return `handler ${handler}`
    }
    i++
  }
  if (style && state !== State.Data && state !== State.Tag) return styleSinkIn(text, valueStart, length) === null ? null : 'style'
  return null
}
