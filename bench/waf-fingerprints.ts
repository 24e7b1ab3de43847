/**
 * Regenerates the SQL injection detector's fingerprint set,
 * `middleware/waf/detect/sqli-fingerprints.ts`, from the project's corpora
 * (`test/fixtures/waf/detect-corpora.ts`: the attack corpus's cases that
 * libinjection flagged, `SQLI_SHAPES`, less everything the benign corpus
 * and `SQLI_LOOKALIKES` produce; see `middleware/waf/detect/derive.ts`).
 *
 * `node bench/waf-fingerprints.ts` writes the file and lists the positives
 * left uncovered; `--check` writes nothing and exits 1 when the committed
 * file differs (test/middleware/waf/detect/derive.test.ts checks the same).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { deriveFingerprints } from '../middleware/waf/detect/derive.ts'
import { sqliDerivationInput } from '../test/fixtures/waf/detect-corpora.ts'

/** Where the set lives. */
export const FINGERPRINTS_FILE = new URL('../middleware/waf/detect/sqli-fingerprints.ts', import.meta.url)

/** The file's text for a set of fingerprints. */
export function fingerprintsModule(fingerprints: readonly string[]): string {
  const lines = ['/**', ' * The SQL injection fingerprints (see `sqli-types.ts` for the letters),', ' * derived from the corpora by `bench/waf-fingerprints.ts`: regenerate, do', ' * not edit. Portable: no `node:` import.', ' */', '', '/** Fingerprints that flag a value as SQL injection. */', 'export const SQLI_FINGERPRINTS: readonly string[] = [']
  for (let i = 0; i < fingerprints.length; i += 8) lines.push(`  ${fingerprints.slice(i, i + 8).map((item) => JSON.stringify(item)).join(', ')},`)
  lines.push(']', '')
  return lines.join('\n')
}

if (import.meta.main) {
  const { fingerprints, uncovered } = deriveFingerprints(sqliDerivationInput())
  const text = fingerprintsModule(fingerprints)
  if (process.argv.includes('--check')) {
    const same = readFileSync(FINGERPRINTS_FILE, 'utf8') === text
    console.log(same ? 'sqli-fingerprints.ts is up to date' : 'sqli-fingerprints.ts differs from what the corpora derive: run node bench/waf-fingerprints.ts')
    process.exitCode = same ? 0 : 1
  } else {
    writeFileSync(FINGERPRINTS_FILE, text)
    console.log(`wrote ${fingerprints.length} fingerprints to ${FINGERPRINTS_FILE.pathname}`)
  }
  if (uncovered.length > 0) console.log(`positives no fingerprint covers: ${uncovered.join(', ')}`)
}
