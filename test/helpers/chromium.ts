import { createHash, createPublicKey } from 'node:crypto'
import { chromium, type Browser } from 'playwright-core'

/** `--ignore-certificate-errors-spki-list`'s format: base64 of the SHA-256 of the DER SubjectPublicKeyInfo. */
export function spkiHash(certificate: string): string {
  const spki = createPublicKey(certificate).export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(spki).digest('base64')
}

/**
 * Debian's Chromium, headless, trusting exactly one leaf certificate (by its
 * key's SPKI hash: Chromium honours the list only with a user data
 * directory, which playwright always passes) and resolving `host` to
 * 127.0.0.1, so the page is loaded by name with real SNI.
 */
export function launchChromium(leafCertificate: string, host: string): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${spkiHash(leafCertificate)}`, `--host-resolver-rules=MAP ${host} 127.0.0.1`],
  })
}
