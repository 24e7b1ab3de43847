/**
 * XSS detection: a value is XSS when, pasted into HTML, it would run
 * script in one of the contexts it could land in: as text, as an attribute
 * value unquoted, in '…' or in "…" (`xss-html.ts`), or as a URL (a
 * script-running scheme at its start or after a space, quote, `=`, `(` or
 * `<`, `xss-scheme.ts`). Portable: no `node:` import.
 */
import { HtmlContext, htmlThreat } from './xss-html.ts'
import { schemeAt } from './xss-scheme.ts'

/** Chars after which a URL can begin: an attribute's `=` or quote, a space, `url(`, a tag. */
function beginsUrl(code: number): boolean {
  return code <= 0x20 || code === 0x22 || code === 0x27 || code === 0x3d || code === 0x28 || code === 0x3c || code === 0x60
}

/** The first script-running scheme in `text` where a URL can begin, or null. */
function urlThreat(text: string): string | null {
  for (let i = 0; i < text.length; i++) {
    if (i > 0 && !beginsUrl(text.charCodeAt(i - 1))) continue
    const scheme = schemeAt(text, i)
    if (scheme !== null) return `scheme ${scheme}`
  }
  return null
}

/** Whether `text` holds a char every threat needs ('<', '=', ':' or '&'). */
function mayThreaten(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x3c || code === 0x3d || code === 0x3a || code === 0x26) return true
  }
  return false
}

/**
 * What in `text` would run script (`tag script`, `handler onerror`,
 * `scheme javascript:`, …), or null when nothing would.
 *
 * @example
 * xssThreat('<img src=x onerror=alert(1)>') // 'handler onerror'
 * xssThreat('Tom & Jerry <3') // null
 */
export function xssThreat(text: string): string | null {
  // Every threat needs one of these: a tag or PI '<', an attribute's '=', a scheme's ':' (or '&' spelling it).
  // Most benign values (ids, tokens, user agents) hold none and cost one scan per char.
  if (!mayThreaten(text)) return null
  const threat = htmlThreat(text, HtmlContext.Text) ?? urlThreat(text) ?? htmlThreat(text, HtmlContext.Unquoted)
  if (threat !== null) return threat
  if (text.includes('"')) {
    const quoted = htmlThreat(text, HtmlContext.DoubleQuoted)
    if (quoted !== null) return quoted
  }
  return text.includes("'") ? htmlThreat(text, HtmlContext.SingleQuoted) : null
}

/**
 * Whether `text` would run script in some HTML context (see {@link xssThreat}).
 *
 * @example
 * detectXss('"><script>alert(1)</script>') // true
 */
export function detectXss(text: string): boolean {
  return xssThreat(text) !== null
}
