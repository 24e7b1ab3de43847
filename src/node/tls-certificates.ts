import { createPrivateKey, X509Certificate } from 'node:crypto'
import { watch, type FSWatcher } from 'node:fs'
import { readFile, realpath, stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { createSecureContext, type SecureContext, type Server as TlsServer } from 'node:tls'
import { DEFAULT_CERTIFICATE_RELOAD_DELAY } from '../defaults.ts'
import type { Logger } from './log.ts'

/**
 * One certificate and its private key. Each is PEM text or the path of a
 * PEM file: a string that contains `-----BEGIN` is PEM text, any other
 * string a path (relative to the working directory). The certificate may
 * be followed by its intermediates (a full chain), leaf first.
 */
export interface TlsCertificate {
  /** The certificate (chain), PEM text or a file path. */
  cert: string
  /** Its private key, PEM text or a file path (unencrypted). */
  key: string
}

/**
 * The certificates a TLS listener serves, loaded and ready: a secure context
 * per certificate, indexed by the DNS names each certificate holds.
 */
interface CertificateSet {
  /** The first certificate's, for clients without SNI or with a name no certificate holds. */
  readonly fallback: LoadedCertificate
  /** Exact names (lower case) to their context; the first certificate that holds a name wins. */
  readonly exact: ReadonlyMap<string, SecureContext>
  /** Wildcard names by the part after `*.` (`*.example.com` under `example.com`). */
  readonly wildcard: ReadonlyMap<string, SecureContext>
  /** Every name served, in the order of the certificates. */
  readonly names: readonly string[]
  /** Each certificate's serial number (hex), in order. */
  readonly serials: readonly string[]
  /** Every certificate, in order. */
  readonly certificates: readonly LoadedCertificate[]
}

interface LoadedCertificate {
  readonly cert: string
  readonly key: string
  readonly context: SecureContext
  readonly names: readonly string[]
  readonly serial: string
  /** The option that gave it (`tls`, `tls.certificates[1]`). */
  readonly option: string
  readonly validFrom: Date
  readonly validTo: Date
}

/** Marks PEM text, as opposed to a file path. */
const PEM_MARKER = '-----BEGIN'

/**
 * The certificates of the TLS listener: loaded (and checked) at start,
 * handed to the server by SNI, and reloaded without a restart. A reload
 * builds new secure contexts and swaps them in; the server is not
 * restarted, and connections already established keep the session they
 * made. A reload that fails keeps the current certificates.
 *
 * @example
 * const certificates = new TlsCertificates([{ cert: 'cert.pem', key: 'key.pem' }], logger)
 * await certificates.load() // TypeError naming the option when a file is bad
 * const server = https.createServer({ ...certificates.serverOptions() })
 * certificates.attach(server)
 * certificates.watch()
 * process.on('SIGHUP', () => void certificates.reload())
 */
export class TlsCertificates {
  readonly #specs: readonly TlsCertificate[]
  readonly #options: readonly string[]
  readonly #logger: Logger
  readonly #servers = new Set<TlsServer>()
  #current: CertificateSet | undefined
  #reloading: Promise<boolean> = Promise.resolve(true)
  #watchers: FSWatcher[] = []
  #timer: NodeJS.Timeout | undefined
  /** What each file path resolved to when the files were last read, loaded or not (see {@link fingerprint}). */
  #readFrom = new Map<string, string>()
  /** A watched file itself changed since the last reload: reload, whatever the paths resolve to. */
  #reloadDue = false

  /**
   * `specs` as `resolveServeSettings()` checked them: at least one, each
   * with a cert and a key; `options` names each one's option in errors.
   */
  constructor(specs: readonly TlsCertificate[], logger: Logger, options: readonly string[] = specs.map((_, index) => `tls.certificates[${index}]`)) {
    this.#specs = specs
    this.#options = options
    this.#logger = logger
  }

  /**
   * Loads every certificate; throws a `TypeError` naming the option
   * (`tls.cert`, `tls.certificates[1].key`) when a file cannot be read, a
   * PEM does not parse, or a key does not belong to its certificate.
   */
  async load(): Promise<void> {
    const from = await this.#fingerprints()
    this.#current = await loadSet(this.#specs, this.#options)
    this.#readFrom = from
    this.#warnOutOfDate(this.#current)
  }

  /**
   * One `warn` line per certificate that clients will refuse because of its
   * dates (expired, or not valid yet): legal to serve, but every client
   * that checks will fail its handshake.
   */
  #warnOutOfDate(set: CertificateSet, now = Date.now()): void {
    for (const certificate of set.certificates) {
      const { option, names, validFrom, validTo } = certificate
      if (validTo.getTime() < now) {
        this.#logger.warn({ option, names, validTo: validTo.toISOString() }, `serve(): ${option}.cert expired at ${validTo.toISOString()}; clients will refuse it`)
      } else if (validFrom.getTime() > now) {
        this.#logger.warn({ option, names, validFrom: validFrom.toISOString() }, `serve(): ${option}.cert is not valid before ${validFrom.toISOString()}; clients will refuse it until then`)
      }
    }
  }

  /** DNS names served, in order (the first certificate's first). */
  get names(): readonly string[] {
    return this.#set().names
  }

  /** The serial numbers (hex) of the certificates served, in order. */
  get serials(): readonly string[] {
    return this.#set().serials
  }

  /**
   * Options for `https.createServer()`: the first certificate as the
   * default, an `SNICallback` that reads the current contexts, and ALPN:
   * `h2` then `http/1.1` with `http2` (a client offering both gets h2, whose
   * WebSockets are RFC 8441's extended CONNECT), else `http/1.1` only.
   */
  serverOptions(http2 = false): { cert: string; key: string; SNICallback: (servername: string, callback: (error: Error | null, context?: SecureContext) => void) => void; ALPNProtocols: string[] } {
    const { fallback } = this.#set()
    return {
      cert: fallback.cert,
      key: fallback.key,
      SNICallback: (servername, callback) => callback(null, this.contextFor(servername)),
      ALPNProtocols: http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    }
  }

  /** Has `server`'s default context (clients without SNI) follow reloads. */
  attach(server: TlsServer): void {
    this.#servers.add(server)
  }

  /**
   * The secure context for an SNI name: a certificate holding the name
   * exactly, else one holding a wildcard for it (RFC 6125 §6.4.3: `*` is
   * the whole left-most label and stands for exactly one label), else the
   * first certificate.
   */
  contextFor(servername: string): SecureContext {
    const set = this.#set()
    const name = servername.toLowerCase().replace(/\.$/, '')
    const exact = set.exact.get(name)
    if (exact) return exact
    const dot = name.indexOf('.')
    return (dot > 0 && set.wildcard.get(name.slice(dot + 1))) || set.fallback.context
  }

  /**
   * Reads every certificate again and, when all load, serves them to new
   * connections; logs one `info` line with the names served. When one
   * fails, the current certificates stay and one `warn` line says why.
   * Resolves `true` when the new certificates are served, `false` when the
   * reload failed; never rejects. Reloads run one at a time.
   */
  reload(): Promise<boolean> {
    this.#reloading = this.#reloading.then(() => this.#reloadNow())
    return this.#reloading
  }

  async #reloadNow(): Promise<boolean> {
    // Taken before the files are read: a change in between makes the next look reload once more, never miss one.
    const from = await this.#fingerprints()
    // A failed read counts too: the same bad files are not read again on every other change beside them.
    this.#readFrom = from
    let set: CertificateSet
    try {
      set = await loadSet(this.#specs, this.#options)
    } catch (error) {
      this.#logger.warn({ reason: error instanceof Error ? error.message : String(error) }, 'certificate reload failed; serving the current certificates')
      return false
    }
    this.#current = set
    this.#warnOutOfDate(set)
    for (const server of this.#servers) server.setSecureContext({ cert: set.fallback.cert, key: set.fallback.key })
    this.#logger.info({ names: set.names, serials: set.serials }, 'certificates reloaded')
    return true
  }

  /**
   * Reloads when a certificate or key given as a path changes, once the
   * files have been quiet for `delay` ms. Watches the files' directories,
   * so a file replaced by a rename (as renewal tools and symlink swaps do)
   * is seen too, and so is a symlink the paths resolve through swapped for
   * another (Kubernetes publishes a renewed secret by renaming its `..data`
   * link: no event names the files): on any other entry's change the paths
   * are resolved again, and a new target, size or mtime reloads. Nothing to
   * watch when every PEM was given as text.
   */
  watch(delay = DEFAULT_CERTIFICATE_RELOAD_DELAY): void {
    const files = new Map<string, Set<string>>()
    for (const spec of this.#specs) {
      for (const value of [spec.cert, spec.key]) {
        if (value.includes(PEM_MARKER)) continue
        const path = resolve(value)
        const names = files.get(dirname(path)) ?? new Set<string>()
        names.add(basename(path))
        files.set(dirname(path), names)
      }
    }
    for (const [directory, names] of files) {
      try {
        const watcher = watch(directory, { persistent: false }, (_event, filename) => {
          this.#schedule(delay, filename === null || names.has(String(filename)))
        })
        watcher.on('error', (error) => this.#logger.warn({ directory, reason: error.message }, 'certificate watch stopped'))
        this.#watchers.push(watcher)
      } catch (error) {
        this.#logger.warn({ directory, reason: error instanceof Error ? error.message : String(error) }, 'certificate files not watched; reload with SIGHUP')
      }
    }
  }

  /** Looks again once changes have been quiet for `delay` ms: reloads when `ours` (a watched file changed) or the paths resolve elsewhere. */
  #schedule(delay: number, ours: boolean): void {
    if (ours) this.#reloadDue = true
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#afterChange()
    }, delay)
    this.#timer.unref()
  }

  async #afterChange(): Promise<void> {
    const due = this.#reloadDue
    this.#reloadDue = false
    if (due || (await this.#resolveElsewhere())) await this.reload()
  }

  /** Whether a file path now resolves to another file, or its file changed, since the files were last read. */
  async #resolveElsewhere(): Promise<boolean> {
    const now = await this.#fingerprints()
    for (const [path, print] of now) if (this.#readFrom.get(path) !== print) return true
    return false
  }

  /** {@link fingerprint} of every certificate and key given as a path. */
  async #fingerprints(): Promise<Map<string, string>> {
    const prints = new Map<string, string>()
    for (const spec of this.#specs) {
      for (const value of [spec.cert, spec.key]) if (!value.includes(PEM_MARKER)) prints.set(value, await fingerprint(value))
    }
    return prints
  }

  /** Stops watching; the current contexts stay usable until the server closes. */
  close(): void {
    clearTimeout(this.#timer)
    for (const watcher of this.#watchers) watcher.close()
    this.#watchers = []
  }

  #set(): CertificateSet {
    if (!this.#current) throw new Error('TlsCertificates: load() first')
    return this.#current
  }
}

/** Loads every certificate; the first failure throws a TypeError naming its option. */
async function loadSet(specs: readonly TlsCertificate[], options: readonly string[]): Promise<CertificateSet> {
  const loaded = await Promise.all(specs.map((spec, index) => loadOne(spec, options[index] ?? `tls.certificates[${index}]`)))
  const exact = new Map<string, SecureContext>()
  const wildcard = new Map<string, SecureContext>()
  const names: string[] = []
  for (const certificate of loaded) {
    for (const name of certificate.names) {
      names.push(name)
      if (name.startsWith('*.')) {
        if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), certificate.context)
      } else if (!exact.has(name)) exact.set(name, certificate.context)
    }
  }
  return { fallback: loaded[0]!, exact, wildcard, names, serials: loaded.map((certificate) => certificate.serial), certificates: loaded }
}

async function loadOne(spec: TlsCertificate, option: string): Promise<LoadedCertificate> {
  const [cert, key] = await Promise.all([readPem(spec.cert, `${option}.cert`), readPem(spec.key, `${option}.key`)])
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (error) {
    throw new TypeError(`serve(): ${option}.cert is not a PEM certificate (${reason(error)})`)
  }
  let privateKey: ReturnType<typeof createPrivateKey>
  try {
    privateKey = createPrivateKey(key)
  } catch (error) {
    throw new TypeError(`serve(): ${option}.key is not a PEM private key (${reason(error)}); an encrypted key must be decrypted first`)
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TypeError(`serve(): ${option}.key does not belong to ${option}.cert (${x509.subject.replace(/\n/g, ', ')}); give the key the certificate was issued for`)
  }
  let context: SecureContext
  try {
    context = createSecureContext({ cert, key })
  } catch (error) {
    throw new TypeError(`serve(): ${option} cannot be used for TLS (${reason(error)})`)
  }
  return {
    cert,
    key,
    context,
    names: certificateNames(x509),
    serial: x509.serialNumber,
    option,
    validFrom: new Date(x509.validFrom),
    validTo: new Date(x509.validTo),
  }
}

/**
 * What a path resolves to, as one string: the real path (through every
 * symlink), inode, size and mtime; `missing` when it cannot be resolved.
 */
async function fingerprint(path: string): Promise<string> {
  try {
    const real = await realpath(path)
    const { ino, size, mtimeMs } = await stat(real)
    return `${real}\0${ino}\0${size}\0${mtimeMs}`
  } catch {
    return 'missing'
  }
}

/** PEM text as given, or a file's content; a TypeError naming the option when the file cannot be read. */
async function readPem(value: string, option: string): Promise<string> {
  if (value.includes(PEM_MARKER)) return value
  try {
    return await readFile(value, 'utf8')
  } catch (error) {
    throw new TypeError(`serve(): ${option}: cannot read ${value} (${(error as NodeJS.ErrnoException).code ?? reason(error)}); give a PEM file path or PEM text`)
  }
}

/**
 * The DNS names a certificate is for, lower case: its subjectAltName DNS
 * entries, else its subject's CN (RFC 6125 §6.4.4: the CN counts only when
 * there is no DNS name).
 */
export function certificateNames(x509: X509Certificate): string[] {
  const names: string[] = []
  // "DNS:a.example, DNS:*.b.example, IP Address:…"; DNS names hold no comma, so a quoted entry is never one.
  for (const match of (x509.subjectAltName ?? '').matchAll(/(?:^|, )DNS:([^,"\s]+)/g)) names.push(match[1]!.toLowerCase())
  if (names.length > 0) return names
  const commonName = /^CN=(.+)$/m.exec(x509.subject)?.[1]
  return commonName ? [commonName.toLowerCase()] : []
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
