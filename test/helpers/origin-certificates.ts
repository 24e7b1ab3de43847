import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CertificatePair } from './certificates.ts'

/**
 * Origin certificates that `certificates.ts` (`makeCa()`, `issue()`) does
 * not make, with the same tools and shapes (the `openssl` CLI, ECDSA P-256,
 * PEM strings, nothing left on disk).
 */

/**
 * A leaf signed by `ca` whose subjectAltName lists IP addresses
 * (`IP:127.0.0.1`) beside DNS names, for origins addressed by IP (verified
 * against the IP SANs, with no SNI).
 *
 * @example
 * const leaf = issueWithSans(ca, ['IP:127.0.0.1', 'DNS:origin.test'])
 */
export function issueWithSans(ca: Pick<CertificatePair, 'cert' | 'key'>, sans: readonly string[], days = 2): Pick<CertificatePair, 'cert' | 'key'> {
  for (const san of sans) {
    if (!/^(DNS|IP):[^,\s]+$/.test(san)) throw new TypeError(`issueWithSans(): "${san}" is not DNS:<name> or IP:<address>`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-origin-certs-'))
  try {
    const file = (name: string): string => join(dir, name)
    writeFileSync(
      file('ext.cnf'),
      `basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = ${sans.join(',')}\n`,
    )
    writeFileSync(file('issuer.pem'), ca.cert)
    writeFileSync(file('issuer.key'), ca.key)
    const commonName = sans[0]!.slice(sans[0]!.indexOf(':') + 1)
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', `/CN=${commonName}`])
    const serial = randomBytes(16)
    serial[0] = (serial[0]! & 0x7f) | 0x10
    openssl([
      'x509', '-req', '-in', file('leaf.csr'), '-CA', file('issuer.pem'), '-CAkey', file('issuer.key'),
      '-set_serial', `0x${serial.toString('hex')}`, '-days', String(days), '-extfile', file('ext.cnf'), '-out', file('leaf.pem'),
    ])
    return { cert: readFileSync(file('leaf.pem'), 'utf8'), key: readFileSync(file('leaf.key'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A self-signed server certificate for `sans` (`DNS:…`/`IP:…`), issued by
 * nobody: what a verifying client rejects as DEPTH_ZERO_SELF_SIGNED_CERT.
 * (A CA from `makeCa()` served as a leaf is refused for its key usage,
 * INVALID_PURPOSE, before that.)
 *
 * @example
 * const pair = selfSignedLeaf(['DNS:localhost'])
 */
export function selfSignedLeaf(sans: readonly string[]): Pick<CertificatePair, 'cert' | 'key'> {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-origin-certs-'))
  try {
    const file = (name: string): string => join(dir, name)
    writeFileSync(
      file('req.cnf'),
      `[req]\ndistinguished_name = dn\nx509_extensions = leaf\nprompt = no\n[dn]\nCN = ${sans[0]!.slice(sans[0]!.indexOf(':') + 1)}\n` +
        `[leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = ${sans.join(',')}\n`,
    )
    openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file('leaf.key'), '-out', file('leaf.pem'), '-days', '2', '-config', file('req.cnf')])
    return { cert: readFileSync(file('leaf.pem'), 'utf8'), key: readFileSync(file('leaf.key'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}
