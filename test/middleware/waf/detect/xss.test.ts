import { describe, expect, it } from 'vitest'
import { HtmlContext, htmlThreat } from '../../../../middleware/waf/detect/xss-html.ts'
import { schemeAt } from '../../../../middleware/waf/detect/xss-scheme.ts'
import { detectXss, xssThreat } from '../../../../middleware/waf/detect/xss.ts'

describe('the HTML state machine', () => {
  it.each([
    ['<script>alert(1)</script>', HtmlContext.Text, 'tag script'],
    ['< script >', HtmlContext.Text, 'tag script'],
    ['<scr<script>ipt>', HtmlContext.Text, 'tag script'],
    ['<img src=x onerror=alert(1)>', HtmlContext.Text, 'handler onerror'],
    ['<svg/onload=alert(1)>', HtmlContext.Text, 'handler onload'],
    ['<iframe srcdoc="&lt;script&gt;">', HtmlContext.Text, 'tag iframe'],
    ['<button formaction=javascript:alert(1)>', HtmlContext.Text, 'handler formaction'],
    ['<div style="width: expression(alert(1))">', HtmlContext.Text, 'style expression('],
    ['<?xml-stylesheet type="text/xsl" href="//evil/x.xsl"?>', HtmlContext.Text, 'processing instruction'],
    ['x autofocus onfocus=alert(1)', HtmlContext.Unquoted, 'handler onfocus'],
    ['" onmouseover="alert(1)', HtmlContext.DoubleQuoted, 'handler onmouseover'],
    ["' onmouseover='alert(1)", HtmlContext.SingleQuoted, 'handler onmouseover'],
    ['"><script>alert(1)</script>', HtmlContext.DoubleQuoted, 'tag script'],
  ])('finds a threat in %j from context %i', (text, context, threat) => {
    expect(htmlThreat(text, context)).toBe(threat)
  })

  it('does not see a handler in text outside a tag', () => {
    expect(htmlThreat('" onmouseover="alert(1)', HtmlContext.Text)).toBeNull()
    expect(htmlThreat('turn on the light', HtmlContext.Unquoted)).toBeNull()
  })
})

describe('script-running URL schemes', () => {
  it.each([
    ['javascript:alert(1)', 'javascript:'],
    ['JaVaScRiPt:alert(1)', 'javascript:'],
    ['java\tscript:alert(1)', 'javascript:'],
    ['  \njavascript :alert(1)', 'javascript:'],
    ['&#106;avascript&colon;alert(1)', 'javascript:'],
    ['&#x6A;ava&Tab;script:alert(1)', 'javascript:'],
    ['vbscript:msgbox(1)', 'vbscript:'],
    ['data:text/html;base64,PHNjcmlwdD4=', 'data:text/html'],
    ['data: image/svg+xml,<svg onload=alert(1)>', 'data:image/svg+xml'],
  ])('reads %j as %s', (text, scheme) => {
    expect(schemeAt(text, 0)).toBe(scheme)
  })

  it.each(['https://example.com/', 'data:image/png;base64,iVBOR', 'java script', 'jav&#x61;'])('leaves %j alone', (text) => {
    expect(schemeAt(text, 0)).toBeNull()
  })

  it('finds a scheme where a URL can begin in a value, not inside a word', () => {
    expect(xssThreat('<a href="javascript:alert(1)">x</a>')).toBe('scheme javascript:')
    expect(xssThreat('notjavascript:1')).toBeNull()
  })
})

describe('detectXss', () => {
  it.each(['Tom & Jerry <3', 'a < b and c > d', "it's \"fine\"", '{"a":"<b>bold</b>"}', 'https://example.com/?a=1&b=2', 'hello world', '550e8400-e29b-41d4-a716-446655440000',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36', 'dGhlIHNhbXBsZSBub25jZQ==', 'I love <b>bold</b> and <i>italic</i>'])('leaves the benign %j alone', (text) => {
    expect(detectXss(text)).toBe(false)
  })

  it('reads a 200 KB value of tag openers, quotes and entities in linear time', () => {
    const text = '<a "\' on&#106;j\tv'.repeat(12_000)
    const started = performance.now()
    detectXss(text)
    expect(performance.now() - started).toBeLessThan(500)
  })
})
