/**
 * The bench's setup step for the anchors that come from Debian (nginx,
 * HAProxy, ModSecurity): install the packages when a file they provide is
 * missing, as root; otherwise say which target is skipped and why.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** What {@link ensureDebianPackages} needs to know. */
export interface DebianRequirement {
  /** The bench target(s) that need the packages, for the log line: `the haproxy target`. */
  target: string
  /** Debian packages to install, e.g. `['haproxy']`. */
  packages: string[]
  /** Files the packages provide: all present means installed. */
  files: string[]
}

/**
 * Makes sure every file of `requirement` exists, installing its packages
 * with `apt-get install --no-install-recommends` when one is missing. Needs
 * root; never starts a service (the packages' postinst may try: there is no
 * init system here, and the harness runs its own instances only). Returns
 * false, after one log line saying why, when the target has to be skipped.
 */
export function ensureDebianPackages(requirement: DebianRequirement, log: (line: string) => void): boolean {
  const present = (): boolean => requirement.files.every((file) => existsSync(file))
  if (present()) return true
  const list = requirement.packages.join(' ')
  if (process.getuid?.() !== 0) {
    log(`${list} not installed and this is not root: skipping ${requirement.target} (apt-get install ${list} to include it)`)
    return false
  }
  log(`installing ${list} (apt-get install -y --no-install-recommends ${list})…`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = (): void => void execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...requirement.packages], { stdio: 'ignore', env })
  try {
    install()
  } catch {
    // A fresh machine has no package lists yet.
    try {
      execFileSync('apt-get', ['update'], { stdio: 'ignore', env })
      install()
    } catch (error) {
      log(`could not install ${list} (${error instanceof Error ? error.message.split('\n')[0] : String(error)}): skipping ${requirement.target}`)
      return false
    }
  }
  if (present()) return true
  log(`${list} installed but ${requirement.files.filter((file) => !existsSync(file)).join(', ')} still missing: skipping ${requirement.target}`)
  return false
}

/** The installed version of a Debian package (`dpkg-query`), or undefined. */
export function debianVersion(packageName: string): string | undefined {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', packageName], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined
  } catch {
    return undefined
  }
}
