/**
 * The evasion corpus of `modsecurity-parity.test.ts`: attack payloads (and
 * one benign value) under encodings that WAF evasions use, in each place a
 * handshake carries them (the path included). Generated, not listed, so that the expected
 * verdicts (`modsecurity-3.0.9-crs-3.3.4.json`, keyed by case name) stay
 * the only data. The verdicts were recorded from Debian's nginx with
 * libmodsecurity 3.0.9 and the same CRS 3.3.4 (`SecRuleEngine On`, the
 * paranoia level set as `waf()` sets it, JSON audit log for the rule ids);
 * only the cases on which nginx accepted the request are recorded.
 */

/** One request of the corpus. */
export interface EvasionCase {
  /** `pl<N> <location> <encoding> <payload as JSON>`: the key of the recorded verdict. */
  name: string
  paranoia: 1 | 2
  target: string
  headers: [name: string, value: string][]
}

const PAYLOADS: readonly string[] = [
  "1' or '1'='1", '1 union select 1,2,3--', "'; exec xp_cmdshell 'dir'--", "' or sleep(5)#",
  '<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '<svg/onload=alert(1)>',
  '../../../etc/passwd', '..\\..\\windows\\win.ini', ';cat /etc/passwd', '$(whoami)', "<?php system('id'); ?>", '${jndi:ldap://x/a}', 'hello world',
]

/** Percent-encoding as a browser's `encodeURIComponent`, plus the quote and parentheses it leaves. */
const encode = (text: string): string => encodeURIComponent(text).replace(/'/g, '%27').replace(/\(/g, '%28').replace(/\)/g, '%29')

const ENCODINGS: readonly [name: string, apply: (text: string) => string][] = [
  ['url', encode],
  ['double', (text) => encode(encode(text))],
  ['u', (text) => [...text].map((c) => (/[a-z0-9]/i.test(c) ? c : '%u00' + c.charCodeAt(0).toString(16).padStart(2, '0'))).join('')],
  ['overlong', (text) => [...text].map((c) => (/[a-z0-9 ]/i.test(c) ? c : '%c0%' + (0x80 | (c.charCodeAt(0) & 0x3f)).toString(16))).join('').replace(/ /g, '+')],
  ['fullwidth', (text) => [...text].map((c) => (/[<>'"()/;.]/.test(c) ? encodeURIComponent(String.fromCharCode(0xfee0 + c.charCodeAt(0))) : encode(c))).join('')],
  ['upper', (text) => encode(text.toUpperCase())],
  ['plus', (text) => encode(text).replace(/%20/g, '+')],
  ['null', (text) => encode(text).replace(/%20/g, '%00%20')],
  ['tab', (text) => encode(text).replace(/%20/g, '%09')],
  ['html', (text) => encode([...text].map((c) => (/[a-z0-9 ]/i.test(c) ? c : `&#${c.charCodeAt(0)};`)).join(''))],
  ['htmlhex', (text) => encode([...text].map((c) => (/[a-z0-9 ]/i.test(c) ? c : `&#x${c.charCodeAt(0).toString(16)};`)).join(''))],
  ['comment', (text) => encode(text.replace(/ /g, '/**/'))],
]

const BROWSER: [string, string][] = [['User-Agent', 'Mozilla/5.0'], ['Accept', '*/*']]

const LOCATIONS: readonly [name: string, header: boolean, place: (value: string) => Pick<EvasionCase, 'target' | 'headers'>][] = [
  ['arg', false, (value) => ({ target: `/chat?q=${value}`, headers: BROWSER })],
  ['path', false, (value) => ({ target: `/chat/${value}?x=1`, headers: BROWSER })],
  ['argname', false, (value) => ({ target: `/chat?${value}=1`, headers: BROWSER })],
  ['hpp', false, (value) => ({ target: `/chat?q=1&q=${value}`, headers: BROWSER })],
  ['cookie', true, (value) => ({ target: '/chat', headers: [...BROWSER, ['Cookie', `a=1; s=${value}`]] })],
  ['cookie-second-header', true, (value) => ({ target: '/chat', headers: [...BROWSER, ['Cookie', 'a=1'], ['cookie', `s=${value}`]] })],
  ['user-agent-lowercase-name', true, (value) => ({ target: '/chat', headers: [['user-agent', value], ['Accept', '*/*']] })],
  ['referer', true, (value) => ({ target: '/chat', headers: [...BROWSER, ['Referer', value]] })],
  ['other-header', true, (value) => ({ target: '/chat', headers: [...BROWSER, ['X-Foo', value]] })],
]

/** Every case, at paranoia 1 and 2. A header carries the `url` payload as typed (headers are not URL-decoded). */
export function evasionCases(): EvasionCase[] {
  const cases: EvasionCase[] = []
  for (const paranoia of [1, 2] as const) {
    for (const [location, header, place] of LOCATIONS) {
      for (const [encoding, apply] of ENCODINGS) {
        for (const payload of PAYLOADS) {
          const value = header && encoding === 'url' ? payload : apply(payload)
          cases.push({ name: `pl${paranoia} ${location} ${encoding} ${JSON.stringify(payload)}`, paranoia, ...place(value) })
        }
      }
    }
  }
  return cases
}
