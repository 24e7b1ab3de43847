/**
 * What `wsgate start` and `wsgate check` make of flag and environment
 * values an operator gets wrong: each refused with a one-line reason in the
 * command line's words (the flag, or the variable), and `check` refusing
 * what `start` would. Each `wsgate` child is ended by its own PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { pino } from 'pino'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { inFlagTerms, serveOptions } from '../../src/node/cli.ts'
import { resolveServeSettings } from '../../src/node/settings.ts'
import { runWsgate as wsgate, startCliGateway } from '../helpers/cli-gateway.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'wsgate-flags-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A routes module with one WebSocket route, importing wsgate and Hono by absolute URL. */
const routes = join(dir, 'routes.ts')
writeFileSync(
  routes,
  [
    `import { Hono } from '${import.meta.resolve('hono')}'`,
    `import { websocket } from '${pathToFileURL(join(root, 'src/index.ts')).href}'`,
    'const app = new Hono()',
    "app.all('/echo', websocket('ws://127.0.0.1:9'))",
    'export default app',
  ].join('\n'),
)

/** `wsgate check routes.ts args…`: expects exit code 1 and returns the one stderr line. */
async function refused(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { code, stdout, stderr } = await wsgate(['check', routes, ...args], env)
  expect(stdout).toBe('')
  expect(code).toBe(1)
  return stderr.trim()
}

const logger = pino({ enabled: false })

describe('flag values', () => {
  it('takes a number in plain decimal digits only: not 1e3, 0x50, 10s, padded or Infinity', () => {
    expect(serveOptions({ port: '8081', 'idle-timeout': '1500' }, logger)).toMatchObject({ port: 8081, idleTimeout: 1500 })
    for (const value of ['1e3', '0x50', ' 80', '+80']) {
      expect(() => serveOptions({ port: value }, logger)).toThrow(`--port expects a number in plain decimal digits (e.g. 1000), got "${value}"`)
    }
    expect(() => serveOptions({ 'max-connections': '10k' }, logger)).toThrow('--max-connections expects a number, got "10k"')
    expect(() => serveOptions({ 'max-lifetime': 'Infinity' }, logger)).toThrow('--max-lifetime expects a number, got "Infinity"')
    expect(() => serveOptions({ 'idle-timeout': '10s' }, logger)).toThrow('--idle-timeout expects a number, got "10s"')
  })

  it('refuses an empty value, a flag given twice and a stray argument, naming each', async () => {
    expect(await refused(['--host', ''])).toBe('wsgate: --host needs a value, got an empty one')
    expect(await refused(['--port='])).toBe('wsgate: --port needs a value, got an empty one')
    expect(await refused(['--max-connections', ''])).toBe('wsgate: --max-connections needs a value, got an empty one')
    expect(await refused(['--port', '80', '--port', '81'])).toBe('wsgate: --port is given twice ("80", then "81"); give it once')
    expect(await refused(['8080'])).toBe('wsgate: unexpected argument "8080" after the routes module; options start with --, e.g. --port 8080')
  })

  it("says serve()'s range errors in the command line's words: the flag, or the variable that set it", async () => {
    expect(await refused(['--max-connections', '0'])).toBe('wsgate: --max-connections must be a positive integer, got 0')
    expect(await refused(['--max-connections-per-client', '0'])).toBe('wsgate: --max-connections-per-client must be a positive integer, or off for no cap, got 0')
    expect(await refused(['--port=-1'])).toBe("wsgate: --port must be an integer from 0 to 65535 or 'off', got -1")
    expect(await refused([], { PORT: '99999' })).toBe("wsgate: PORT must be an integer from 0 to 65535 or 'off', got 99999")
    expect(await refused([], { PORT: '1e3' })).toBe('wsgate: PORT expects a number in plain decimal digits (e.g. 1000), got "1e3"')
    expect(await refused(['--request-timeout', '5000'])).toBe(
      "wsgate: --request-timeout (5000 ms) is shorter than --handshake-timeout (10000 ms), which bounds a request's headers alone; give it at least as much",
    )
  })

  it('leaves any other error as it was', () => {
    const other = new TypeError('websocket(): idleTimeout must be a positive number')
    expect(inFlagTerms(other, {})).toBe(other)
    expect((inFlagTerms(new TypeError('serve(): tls.port and port are both 8443; give the TLS listener a port of its own'), {}) as Error).message).toBe(
      '--tls-port and --port are both 8443; give the TLS listener a port of its own',
    )
    expect((inFlagTerms(new TypeError('serve(): tls.certificates[1].key: cannot read k.pem (ENOENT)'), {}) as Error).message).toBe('--tls-key #2: cannot read k.pem (ENOENT)')
  })
})

describe('wsgate check refuses what wsgate start would', () => {
  it('checks --workers, the shared store URL and its lease without connecting', async () => {
    expect(await refused(['--workers', '0'])).toBe('wsgate: --workers expects a number of processes from 1 to 1024, or auto (one per core), got "0"')
    expect(await refused(['--redis', 'http://127.0.0.1:6379'])).toBe('wsgate: --redis expects a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379, got "http://127.0.0.1:6379"')
    expect(await refused([], { WSGATE_REDIS_URL: '127.0.0.1:6379' })).toBe('wsgate: WSGATE_REDIS_URL expects a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379, got "127.0.0.1:6379"')
    expect(await refused(['--redis', 'redis://127.0.0.1:1', '--redis-lease-ttl', '5'])).toBe('wsgate: --redis-lease-ttl must be a whole number of ms from 300 to 3600000 (1 h), got 5')
  })
})

describe('LOG_LEVEL', () => {
  it('refuses a level pino does not have, naming the variable, in check as in start; an empty one is the default', async () => {
    expect(await refused([], { LOG_LEVEL: 'verbose' })).toBe('wsgate: LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"')
    const start = await wsgate(['start', routes, '--port', '0'], { LOG_LEVEL: '10' })
    expect(start.code).toBe(1)
    expect(start.stderr.trim()).toBe('wsgate: LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "10"')
    const empty = await startCliGateway(routes, ['--port', '0'], { env: { LOG_LEVEL: '' } })
    try {
      expect(empty.lines.find((line) => line.msg === 'gateway listening')?.level).toBe(30)
    } finally {
      await empty.stop()
    }
    expect((await wsgate(['check', routes], { LOG_LEVEL: 'DEBUG' })).code).toBe(0)
  })
})

describe('wsgate check and the warnings of start', () => {
  it('prints what start would warn about its settings, in flag terms', async () => {
    const { code, stdout } = await wsgate(['check', routes, '--max-connections-per-client', 'off', '--admin-port', '0', '--admin-host', '0.0.0.0'])
    expect(code).toBe(0)
    const lines = stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`${routes}: 1 route, every factory ran, 2 warnings`)
    expect(lines.slice(-2)).toEqual([
      'warning: --max-connections-per-client is off: one client address may hold every connection of the gateway and lock every other client out',
      'warning: the admin listener binds 0.0.0.0 without a token: anyone who reaches it can list clients and close connections; set WSGATE_ADMIN_TOKEN or give --admin-host 127.0.0.1',
    ])
  })

  it("says --port off without TLS in the command line's words", async () => {
    expect(await refused(['--port', 'off'])).toBe("wsgate: --port is 'off' and there is no tls listener: at least one must listen; give --tls-cert and --tls-key, or a port")
  })
})

describe('wsgate start --workers with a bad flag', () => {
  it('exits 1 with the reason before it forks, instead of replacing workers that each fail on it', async () => {
    const { code, stderr, stdout } = await wsgate(['start', routes, '--port', '0', '--workers', '2', '--max-connections', 'lots'], { LOG_LEVEL: 'info' })
    expect(stderr.trim()).toBe('wsgate: --max-connections expects a number, got "lots"')
    expect(code).toBe(1)
    expect(stdout).not.toContain('worker started')
  })
})

describe('an empty HOST or PORT', () => {
  const saved = { HOST: process.env.HOST, PORT: process.env.PORT }
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })

  it('is no setting: the defaults, not every interface (Node binds all for an empty host) nor a random port', () => {
    process.env.HOST = ''
    process.env.PORT = ''
    const options = serveOptions({}, logger)
    expect(options.host).toBe('127.0.0.1')
    expect(options.port).toBeUndefined()
  })

  it('serve() refuses an empty host rather than bind every interface', () => {
    expect(() => resolveServeSettings({ host: '' })).toThrow(`serve(): host must be an address to bind, e.g. '127.0.0.1' (or '0.0.0.0' for every interface), got ""`)
    expect(() => resolveServeSettings({ host: ' ' })).toThrow('serve(): host must be an address to bind')
  })

  it('wsgate start with HOST= listens on 127.0.0.1', async () => {
    const gateway = await startCliGateway(routes, ['--port', '0'], { env: { HOST: '' } })
    try {
      expect(gateway.lines.find((line) => line.msg === 'gateway listening')?.host).toBe('127.0.0.1')
    } finally {
      await gateway.stop()
    }
  })
})

describe('wsgate without a command it knows', () => {
  it('prints the usage and says what was wrong on stderr, with exit code 2', async () => {
    const typo = await wsgate(['strat', routes])
    expect(typo.code).toBe(2)
    expect(typo.stdout).toContain('Usage: wsgate start')
    expect(typo.stderr.trim()).toBe('wsgate: unknown command "strat"; the commands are start and check')
    const bare = await wsgate(['start'])
    expect(bare.code).toBe(2)
    expect(bare.stderr.trim()).toBe('wsgate: start needs the routes module: wsgate start <routes-module>')
  })
})
