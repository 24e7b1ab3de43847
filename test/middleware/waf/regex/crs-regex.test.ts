import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MODSECURITY_RX, translateRegex } from '../../../../middleware/waf/regex/regex.ts'

/** Where Debian's modsecurity-crs package (CRS 3.3.4) installs the rules; CI installs it with apt. */
const CRS_RULES = '/usr/share/modsecurity-crs/rules'

interface RxRule {
  file: string
  /** The rule's id, or the id of the chain's first rule for a chained rule without one. */
  id: string
  pattern: string
}

/**
 * Every `@rx` parameter of the CRS rule files: continuation lines joined,
 * comments skipped, the quoted operator of each `SecRule` taken with `\"`
 * unescaped (as the SecLang parser does). Files are read as latin1 so that
 * non-ASCII bytes reach the translator as bytes, as PCRE sees them.
 */
function crsRxRules(): RxRule[] {
  const rules: RxRule[] = []
  for (const file of readdirSync(CRS_RULES).filter((name) => name.endsWith('.conf')).sort()) {
    const text = readFileSync(join(CRS_RULES, file), 'latin1').replace(/\\\r?\n/g, '')
    let chainHead = ''
    for (const line of text.split('\n')) {
      const trimmed = line.trim()
      if (!trimmed.startsWith('SecRule')) continue
      const operator = /^SecRule\s+\S+\s+"((?:[^"\\]|\\.)*)"/.exec(trimmed)
      if (!operator) throw new Error(`${file}: cannot read the operator of ${trimmed.slice(0, 80)}`)
      const id = /\bid:'?(\d+)/.exec(trimmed)?.[1]
      if (id) chainHead = id
      const rx = /^!?@rx\s([\s\S]*)$/.exec(operator[1]!.replace(/\\"/g, '"'))
      if (rx) rules.push({ file, id: id ?? `${chainHead} (chained)`, pattern: rx[1]! })
    }
  }
  return rules
}

describe('the CRS @rx patterns', () => {
  it('are installed (apt-get install modsecurity-crs)', () => {
    expect(existsSync(CRS_RULES), `${CRS_RULES} is missing: install the CRS with "apt-get install modsecurity-crs"`).toBe(true)
  })

  it('all translate to JavaScript, or the failing rule ids are listed with the construct', () => {
    const rules = crsRxRules()
    // CRS 3.3.4 has 265 @rx operators (including chained rules and response rules).
    expect(rules.length).toBeGreaterThanOrEqual(250)
    const failures = rules.flatMap(({ file, id, pattern }) => {
      const result = translateRegex(pattern, MODSECURITY_RX)
      return 'error' in result ? [`${file} ${id}: ${result.error}`] : []
    })
    expect(failures).toEqual([])
  })

  it('run against attack and benign values without throwing, and catch the attacks their rules name', () => {
    const rules = crsRxRules()
    const compiled = new Map(rules.map(({ id, pattern }) => {
      const result = translateRegex(pattern, MODSECURITY_RX)
      if ('error' in result) throw new Error(result.error)
      return [id, result.regex] as const
    }))
    const samples = ['', 'hello world', '<script>alert(1)</script>', "' or 1=1--", '../../../etc/passwd', ';cat /etc/passwd', 'a'.repeat(2000)]
    for (const regex of compiled.values()) for (const sample of samples) expect(typeof regex.test(sample)).toBe('boolean')
    // A few rules against payloads from their own descriptions.
    expect(compiled.get('941110')!.test('<script>alert(1)</script>')).toBe(true) // XSS filter category 1: script tag
    expect(compiled.get('930100')!.test('..%2f..%2fetc')).toBe(true) // path traversal, encoded
    expect(compiled.get('942190')!.test("1' union select 1,2--".toLowerCase())).toBe(true) // MSSQL code execution and information gathering
    expect(compiled.get('920350')!.test('127.0.0.1:8080')).toBe(true) // Host header is a numeric IP address
    expect(compiled.get('920350')!.test('example.com')).toBe(false)
  })
})
