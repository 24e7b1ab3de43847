import { execFileSync } from 'node:child_process'
import { randomBytes, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll } from 'vitest'

/**
 * Certificates for TLS tests, made with the `openssl` CLI (Debian package
 * `openssl`, listed in `.ci/run`): a private CA and leaf certificates it
 * issues for given DNS names. Everything is PEM strings; nothing is left on
 * disk. ECDSA P-256 keys, so each certificate takes a few milliseconds.
 *
 * @example
 * const ca = makeCa()
 * const leaf = issue(ca, ['gateway.test', '*.gateway.test'])
 * await serve(app, { tls: { cert: leaf.cert, key: leaf.key } })
 * new WebSocket('wss://127.0.0.1:8443/chat', { ca: ca.cert, servername: 'gateway.test' })
 */

/** A certificate and its private key, PEM. */
export interface CertificatePair {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  readonly cert: string
  /** Its private key, PEM (PKCS #8, `-----BEGIN PRIVATE KEY-----`). */
  readonly key: string
  /** The certificate's serial number, upper-case hex as `X509Certificate.serialNumber` and `getPeerCertificate().serialNumber` give it. */
  readonly serial: string
}

/** Options of {@link issue}. */
export interface IssueOptions {
  /** Subject common name. @default the first name */
  commonName?: string
  /** Put `names` in a subjectAltName extension; `false` leaves the certificate with its CN only. @default true */
  subjectAltNames?: boolean
  /** Serial number, hex. @default 16 random bytes */
  serial?: string
  /** Days of validity from now. @default 2 */
  days?: number
}

const CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
`

/** A self-signed CA (`CN=<name>`) that can issue leaf certificates with {@link issue}. */
export function makeCa(name = 'wsgate test CA'): CertificatePair {
  return inTempDir((dir) => {
    const config = join(dir, 'openssl.cnf')
    writeFileSync(config, CONFIG)
    const serial = randomSerial()
    openssl(
      ['req', '-x509', '-new', ...newKey(join(dir, 'ca.key')), '-out', join(dir, 'ca.pem'), '-days', '3', '-config', config, '-extensions', 'ca_ext'],
      ['-subj', subject(name), '-set_serial', `0x${serial}`],
    )
    return pair(dir, 'ca')
  })
}

/**
 * A leaf certificate for `names` (DNS names; a wildcard as `*.example.test`)
 * signed by `ca`, for server authentication, with its new key.
 */
export function issue(ca: Pick<CertificatePair, 'cert' | 'key'>, names: readonly string[], options: IssueOptions = {}): CertificatePair {
  const commonName = options.commonName ?? names[0]
  if (commonName === undefined) throw new TypeError('issue(): give at least one name or a commonName')
  return inTempDir((dir) => {
    const config = join(dir, 'openssl.cnf')
    const sans = options.subjectAltNames === false || names.length === 0 ? '' : `subjectAltName = ${names.map((name) => `DNS:${name}`).join(',')}\n`
    writeFileSync(
      config,
      `${CONFIG}[leaf_ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n${sans}`,
    )
    writeFileSync(join(dir, 'issuer.pem'), ca.cert)
    writeFileSync(join(dir, 'issuer.key'), ca.key)
    openssl(['req', '-new', ...newKey(join(dir, 'leaf.key')), '-out', join(dir, 'leaf.csr'), '-config', config], ['-subj', subject(commonName)])
    openssl([
      'x509', '-req', '-in', join(dir, 'leaf.csr'), '-CA', join(dir, 'issuer.pem'), '-CAkey', join(dir, 'issuer.key'),
      '-set_serial', `0x${options.serial ?? randomSerial()}`, '-days', String(options.days ?? 2),
      '-extfile', config, '-extensions', 'leaf_ext', '-out', join(dir, 'leaf.pem'),
    ])
    return pair(dir, 'leaf')
  })
}

/** A 16-byte serial whose top bit is clear (a serial is a positive integer, RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x10
  return bytes.toString('hex').toUpperCase()
}

function newKey(keyPath: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath]
}

function subject(commonName: string): string {
  return `/CN=${commonName.replace(/[/\\]/g, '\\$&')}`
}

function openssl(args: string[], extra: string[] = []): void {
  execFileSync('openssl', [...args, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] })
}

function pair(dir: string, name: string): CertificatePair {
  const cert = readFileSync(join(dir, `${name}.pem`), 'utf8')
  const key = readFileSync(join(dir, `${name}.key`), 'utf8')
  return { cert, key, serial: new X509Certificate(cert).serialNumber }
}

function inTempDir<T>(run: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-certs-'))
  try {
    return run(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A suite's private CA and a server certificate it issued; read them inside tests (they are made in `beforeAll`). */
export interface SuiteCertificates {
  readonly ca: CertificatePair
  readonly leaf: CertificatePair
}

/**
 * Makes a private CA and a leaf for `name` once for the suite (in
 * `beforeAll`): the TLS suites' common start.
 *
 * @example
 * const certificates = useServerCertificate('h2.gateway.test')
 * it('…', async () => startGateway(app, { tls: { cert: certificates.leaf.cert, key: certificates.leaf.key, port: 0 } }))
 */
export function useServerCertificate(name: string): SuiteCertificates {
  let made: SuiteCertificates | undefined
  beforeAll(() => {
    const ca = makeCa()
    made = { ca, leaf: issue(ca, [name]) }
  })
  const get = (): SuiteCertificates => {
    if (!made) throw new Error('useServerCertificate(): read the certificates inside a test or hook')
    return made
  }
  return {
    get ca() {
      return get().ca
    },
    get leaf() {
      return get().leaf
    },
  }
}

/**
 * A list of clean-ups for the current test, run last-first after it (the
 * `afterEach` is registered here): push a closer for whatever a test starts.
 *
 * @example
 * const cleanups = useCleanups()
 * cleanups.push(() => gateway.close())
 */
export function useCleanups(): (() => Promise<unknown> | unknown)[] {
  const cleanups: (() => Promise<unknown> | unknown)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })
  return cleanups
}
