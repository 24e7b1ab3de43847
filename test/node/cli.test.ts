/**
 * The `wsgate` command as an operator runs it: `node bin/wsgate.js …` as a
 * child process (each one this suite spawned, ended by its own PID), with
 * routes modules written to a temporary directory that import wsgate and
 * Hono by absolute URL.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Hono } from 'hono'
import { afterAll, describe, expect, it } from 'vitest'
import { DEFAULT_SEMI_SPACE_MIB, websocket, jwtAuth, http as httpRoute, type GatewayBindings } from '../../src/index.ts'
import { checkReport, listenError, startLine, wantsStartLine } from '../../src/node/cli-report.ts'
import { formatRoute, summarizeRoutes } from '../../src/node/route-summary.ts'
import { runWsgate as wsgate, startCliGateway } from '../helpers/cli-gateway.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
const dir = mkdtempSync(join(tmpdir(), 'wsgate-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Imports a routes module written here needs: wsgate's sources and the repository's Hono, by absolute URL. */
const IMPORTS = [
  `import { Hono } from '${import.meta.resolve('hono')}'`,
  `import { websocket, waf, jwtAuth, http } from '${pathToFileURL(join(root, 'src/index.ts')).href}'`,
].join('\n')

/** Writes a routes module (the imports above, then `body`) and returns its path. */
function routesFile(name: string, body: string): string {
  const file = join(dir, name)
  writeFileSync(file, `${IMPORTS}\n${body}\n`)
  return file
}

const GOOD_ROUTES = `
const app = new Hono()
app.all('/echo', websocket('ws://127.0.0.1:9'))
app.all('/guarded', waf(), websocket('ws://127.0.0.1:9'))
app.get('/api/*', http('http://127.0.0.1:9'))
export default app`

describe('wsgate --version and --help', () => {
  it('prints the package version for --version and -v', async () => {
    for (const flag of ['--version', '-v']) {
      const { code, stdout } = await wsgate([flag])
      expect(code).toBe(0)
      expect(stdout.trim()).toBe(version)
    }
  })

  it('lists the commands and every option in --help, and answers a missing command with the usage and exit code 2', async () => {
    const help = await wsgate(['--help'])
    expect(help.code).toBe(0)
    for (const text of ['wsgate start <routes-module>', 'wsgate check <routes-module>', '--version', '--admin-port', '--request-timeout <ms>', '--h2, --no-h2', 'SIGHUP imports <routes-module> again', 'LOG_FORMAT']) {
      expect(help.stdout).toContain(text)
    }
    const bare = await wsgate([])
    expect(bare.code).toBe(2)
    expect(bare.stdout).toContain('Usage: wsgate start')
  })

  it('names an unknown option and where the list is', async () => {
    const { code, stderr } = await wsgate(['start', 'routes/index.ts', '--prot', '8080'])
    expect(code).toBe(1)
    expect(stderr.trim()).toBe('wsgate: unknown option --prot; wsgate --help lists them')
  })
})

describe('wsgate check', () => {
  it('loads the routes module, prints its routes and the WAF load report, and exits 0 without listening', async () => {
    const file = routesFile('good.ts', GOOD_ROUTES)
    const { code, stdout, stderr } = await wsgate(['check', file])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const lines = stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`${file}: 3 routes, every factory ran`)
    expect(lines.slice(1, 4)).toEqual(['  ALL /echo websocket()', '  ALL /guarded waf() → websocket()', '  GET /api/* http()'])
    expect(lines[4]).toMatch(/^waf\(\) on \/guarded: baseline: \d+ rules loaded/)
    expect(stdout).not.toContain('gateway listening')
  })

  it('exits 0 even when the routes module starts servers of its own (the repository example starts an echo origin)', async () => {
    const { code, stdout } = await wsgate(['check', 'routes/index.ts'])
    expect(code).toBe(0)
    expect(stdout).toContain('ALL /echo websocket()')
  })

  it('prints the warnings of risky settings', async () => {
    const file = routesFile('risky.ts', `
const app = new Hono()
app.all('/secure', jwtAuth({ jwksUrl: 'https://idp.example/jwks', algorithms: ['RS256'], requireExpiration: false }), websocket('ws://127.0.0.1:9'))
export default app`)
    const { code, stdout } = await wsgate(['check', file])
    expect(code).toBe(0)
    expect(stdout).toContain('1 warning')
    expect(stdout).toMatch(/^warning: jwtAuth\(\) on \/secure: requireExpiration is false/m)
  })

  it('exits 1 naming the file, the line and the option when a factory refuses an option', async () => {
    const file = routesFile('bad-option.ts', `
const app = new Hono()
app.all('/x', websocket('ws://127.0.0.1:9', { idleTimeout: -5 }))
export default app`)
    const { code, stdout, stderr } = await wsgate(['check', file])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr.trim()).toBe(`wsgate: ${file}:5: websocket(): idleTimeout must be a positive number of ms up to 2147483647 (24.8 days), got -5`)
  })

  it('exits 1 naming the flag when a flag is bad', async () => {
    const file = routesFile('good-for-flags.ts', GOOD_ROUTES)
    const { code, stderr } = await wsgate(['check', file, '--max-connections', 'lots'])
    expect(code).toBe(1)
    expect(stderr.trim()).toBe('wsgate: --max-connections expects a number, got "lots"')
  })

  it('names the missing routes file, not a file of its own', async () => {
    const { code, stderr } = await wsgate(['check', 'routes/nope.ts'])
    expect(code).toBe(1)
    expect(stderr).toContain(`wsgate: routes/nope.ts: no such routes module (looked for ${join(root, 'routes/nope.ts')})`)
    expect(stderr).not.toContain('cli.ts')
    // start says the same.
    expect((await wsgate(['start', 'routes/nope.ts', '--port', '0'])).stderr).toContain('routes/nope.ts: no such routes module')
  })

  it('says where TypeScript syntax is that Node cannot strip, and what to do', async () => {
    const file = routesFile('enum.ts', `
enum Mode { Echo, Chat }
const app = new Hono()
export default app`)
    const { code, stderr } = await wsgate(['check', file])
    expect(code).toBe(1)
    const [first, source, caret] = stderr.trimEnd().split('\n')
    expect(first).toBe(
      `wsgate: ${file}:4: TypeScript enum is not supported in strip-only mode: Node runs .ts files by stripping their types and cannot strip this; ` +
        'write it as plain JavaScript with types (a const object instead of an enum, a field assigned in the constructor instead of a parameter property), or compile the module with tsc first',
    )
    expect(source).toBe('  enum Mode { Echo, Chat }')
    expect(caret).toMatch(/^ {2}\^+$/)
  })

  it('says where TypeScript does not parse', async () => {
    const file = routesFile('broken.ts', `const app: Hono = \nexport default app`)
    const { code, stderr } = await wsgate(['check', file])
    expect(code).toBe(1)
    expect(stderr).toMatch(new RegExp(`^wsgate: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: invalid TypeScript: `))
  })

  it('names the module whose top-level await never settles, with exit code 1 (Node ends such a process with 13)', async () => {
    const file = routesFile('never.ts', 'await new Promise(() => {})\nexport default new Hono()')
    const { code, stderr } = await wsgate(['check', file])
    expect(code).toBe(1)
    expect(stderr.trimEnd().split('\n').at(-1)).toBe(
      `wsgate: ${file}: never finished loading: a top-level await in it (or in a module it imports) waits for a promise that nothing settles`,
    )
  })

  it('says an import of a name a module does not export is that, not a syntax error, and names the module when its default export throws', async () => {
    const missing = routesFile('missing-export.ts', `import { nope } from '${pathToFileURL(join(root, 'src/index.ts')).href}'\nexport default nope`)
    const first = (await wsgate(['check', missing])).stderr.split('\n')[0]
    expect(first).toBe(`wsgate: ${missing}:3: The requested module '${pathToFileURL(join(root, 'src/index.ts')).href}' does not provide an export named 'nope'`)
    const getter = routesFile('getter.ts', "export default { get fetch() { throw new Error('no app yet') } }")
    const { code, stderr } = await wsgate(['check', getter])
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`wsgate: ${getter}:3: no app yet`)
  })

  it('refuses a module whose default export is not an app', async () => {
    const file = routesFile('no-app.ts', 'export default { routes: [] }')
    const { code, stderr } = await wsgate(['check', file])
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`wsgate: ${file} must default-export a Hono app (an object with fetch()), e.g. export default app`)
  })
})

describe('wsgate start', () => {
  it('says which port is in use and how to pick another', async () => {
    const holder = net.createServer().listen(0, '127.0.0.1')
    await once(holder, 'listening')
    const { port } = holder.address() as net.AddressInfo
    try {
      const file = routesFile('busy.ts', GOOD_ROUTES)
      const plain = await wsgate(['start', file, '--port', String(port)])
      expect(plain.code).toBe(1)
      expect(plain.stderr.trim()).toBe(
        `wsgate: port ${port} on 127.0.0.1 is already in use (EADDRINUSE): another process listens there (ss -ltnp 'sport = :${port}' shows which); ` +
          'stop it, or pick another port with --port <n> (or PORT), 0 for any free one',
      )
      const admin = await wsgate(['start', file, '--port', '0', '--admin-port', String(port)])
      expect(admin.code).toBe(1)
      expect(admin.stderr).toContain(`port ${port} on 127.0.0.1 is already in use (EADDRINUSE)`)
      expect(admin.stderr).toContain('pick another port with --admin-port <n>, 0 for any free one')
    } finally {
      holder.close()
    }
  })

  it('writes JSON lines only when stdout is not a terminal', async () => {
    const gateway = await startCliGateway(routesFile('json.ts', GOOD_ROUTES), ['--port', '0'])
    try {
      expect(gateway.lines.every((line) => typeof line.level === 'number')).toBe(true)
    } finally {
      await gateway.stop()
    }
  })

  it.skipIf(!existsSync('/proc/self/cmdline'))("runs with V8's young generation capped, same PID, unless NODE_OPTIONS or the command line sets it", async () => {
    const commandLine = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
    const file = routesFile('semi-space.ts', GOOD_ROUTES)
    const capped = await startCliGateway(file, ['--port', '0'])
    try {
      expect(commandLine(capped.pid)).toContain(`--max-semi-space-size=${DEFAULT_SEMI_SPACE_MIB}`)
    } finally {
      await capped.stop()
    }
    const chosen = await startCliGateway(file, ['--port', '0'], { env: { NODE_OPTIONS: '--max-semi-space-size=32' } })
    try {
      expect(commandLine(chosen.pid).join(' ')).not.toContain('--max-semi-space-size')
    } finally {
      await chosen.stop()
    }
  })

  it.skipIf(!existsSync('/usr/bin/script'))('prints one human line with its URLs and routes on a terminal, none with LOG_FORMAT=json', async () => {
    const file = routesFile('tty.ts', GOOD_ROUTES)
    /** Runs the gateway under script(1)'s pseudo-terminal until `found` matches its output, then stops it by PID. */
    const onTerminal = async (env: string, found: RegExp): Promise<string> => {
      const command = `${env} LOG_LEVEL=info exec ${process.execPath} bin/wsgate.js start ${file} --port 0 --admin-port 0`
      const child = spawn('/usr/bin/script', ['-qefc', command, '/dev/null'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
      try {
        const deadline = Date.now() + 20_000
        while (!found.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 20))
        return out
      } finally {
        // script runs the gateway in its own session: SIGTERM to script hangs it up, and the gateway drains and exits.
        if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM')
        await once(child, 'exit')
      }
    }
    const human = await onTerminal('', /^wsgate .*$/m)
    const line = /^wsgate .*$/m.exec(human)![0].trim()
    expect(line).toMatch(
      new RegExp(`^wsgate ${version.replace(/\./g, '\\.')} on ws://127\\.0\\.0\\.1:\\d+, admin http://127\\.0\\.0\\.1:\\d+ — 3 routes: ALL /echo websocket\\(\\) \\| ALL /guarded waf\\(\\) → websocket\\(\\) \\| GET /api/\\* http\\(\\)$`),
    )
    const json = await onTerminal('LOG_FORMAT=json', /"gateway listening"/)
    expect(json).toContain('"gateway listening"')
    expect(json).not.toMatch(/^wsgate /m)
  })
})

describe('what the CLI prints, as functions', () => {
  const app = new Hono<{ Bindings: GatewayBindings }>()
  const sub = new Hono<{ Bindings: GatewayBindings }>()
  sub.onError((error, c) => c.text(error.message, 500))
  sub.get('/status', httpRoute('http://127.0.0.1:9'))
  app.use('*', async (_c, next) => next())
  app.all('/chat', jwtAuth({ jwksUrl: 'https://idp.example/jwks', algorithms: ['RS256'] }), websocket('ws://127.0.0.1:9'))
  app.route('/api', sub)
  app.get('/health', (c) => c.text('ok'))

  it('prints the start line on a terminal unless LOG_FORMAT=json, and never without one', () => {
    expect(wantsStartLine(true, {})).toBe(true)
    expect(wantsStartLine(true, { LOG_FORMAT: 'pretty' })).toBe(true)
    expect(wantsStartLine(true, { LOG_FORMAT: 'JSON' })).toBe(false)
    expect(wantsStartLine(false, {})).toBe(false)
  })

  it('names every route with its method, path, middleware and the handler that answers, through mounted sub-apps', () => {
    expect(summarizeRoutes(app).map(formatRoute)).toEqual(['ALL /* anonymous (middleware)', 'ALL /chat jwtAuth() → websocket()', 'GET /api/status http()', 'GET /health anonymous'])
  })

  it('lists the plain, TLS and admin URLs it serves', () => {
    const both = startLine({ url: 'http://127.0.0.1:8080', tlsUrl: 'https://127.0.0.1:8443', adminUrl: 'http://127.0.0.1:9090' }, app, '1.2.3')
    expect(both).toBe(
      'wsgate 1.2.3 on ws://127.0.0.1:8080, wss://127.0.0.1:8443, admin http://127.0.0.1:9090 — 4 routes: ALL /* anonymous (middleware) | ALL /chat jwtAuth() → websocket() | GET /api/status http() | GET /health anonymous',
    )
    // The plain listener off: url is the TLS one's.
    expect(startLine({ url: 'https://127.0.0.1:8443', tlsUrl: 'https://127.0.0.1:8443', adminUrl: undefined }, new Hono(), '1.2.3')).toBe('wsgate 1.2.3 on wss://127.0.0.1:8443 — no routes (every request gets 404)')
  })

  it("reports what a module's middleware loaded", () => {
    expect(checkReport('routes.ts', app).split('\n')[0]).toBe('routes.ts: 4 routes, every factory ran')
  })

  it('turns EACCES on a low port and EADDRNOTAVAIL into what to do', () => {
    const ports = { port: 80, tlsPort: 443, host: '0.0.0.0' }
    expect(listenError(Object.assign(new Error('listen EACCES'), { code: 'EACCES', port: 443 }), ports)?.message).toBe(
      'port 443 on 0.0.0.0 needs privileges to bind (EACCES): give the process CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE), ' +
        'or use a port above 1023 with --tls-port <n> and forward to it',
    )
    expect(listenError(Object.assign(new Error('listen EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL', port: 80, address: '10.9.9.9' }), ports)?.message).toBe(
      '10.9.9.9 is not an address of this machine (EADDRNOTAVAIL): give one of its addresses with --host <addr>, or 0.0.0.0 for all of them',
    )
    expect(listenError(new Error('something else'), ports)).toBeUndefined()
  })

  it('says which host flag named a host that does not resolve', () => {
    const notFound = (hostname: string): Error => Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname })
    const ports = { port: 8080, host: 'gw.invalid', adminPort: 9090, adminHost: 'admin.invalid' }
    expect(listenError(notFound('gw.invalid'), ports)?.message).toBe(
      'gw.invalid does not resolve to an address (getaddrinfo ENOTFOUND): give --host an address of this machine (127.0.0.1, or 0.0.0.0 for all of them) or a name that resolves to one',
    )
    expect(listenError(notFound('admin.invalid'), ports)?.message).toContain('give --admin-host an address of this machine')
  })
})
