/**
 * The published package, as a user gets it: `npm pack`, install the tarball
 * into a fresh project, run `wsgate start routes.ts` from node_modules and
 * type-check a consumer against the shipped declarations.
 *
 * The tarball is packed from a copy of the work tree, so the build that
 * `prepack` runs never touches the repository's own dist/ (bin/wsgate.js
 * prefers dist/ when it exists, and other suites may be starting it).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { cp, mkdir, mkdtemp, readFile, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'

const repo = fileURLToPath(new URL('../..', import.meta.url))

/** npm runs three times and installs a dozen packages: generous, to bound a broken run only. */
const NPM_TIMEOUT = 180_000

/**
 * Top-level entries of the work tree that no package build reads: installs,
 * build output, tarballs, benchmark results, and dot-folders (git, scratch),
 * except npm's own files.
 */
function isCopied(path: string): boolean {
  const top = path.split(sep)[0] ?? ''
  if (top.startsWith('.')) return top === '.npmignore' || top === '.npmrc'
  return !['node_modules', 'dist'].includes(top) && !path.endsWith('.tgz') && !path.startsWith(join('bench', 'results'))
}

/** What `npm pack --json` reports for one tarball (the fields used here). */
interface PackResult {
  filename: string
  size: number
  unpackedSize: number
  files: { path: string; size: number }[]
}

/** Runs a command to completion; rejects with its output when it fails. */
function run(command: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
    execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: NPM_TIMEOUT }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${error.message}\n${stdout}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}

/** Every file under `dir`, as paths relative to it with `/` separators. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
}

/** Resolves with the first JSON log line whose `msg` is `msg`; rejects if the child exits or `timeoutMs` passes first. */
function waitForLog(child: ChildProcess, output: string[], msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    const timer = setTimeout(() => fail(`no "${msg}" log line within ${timeoutMs} ms`), timeoutMs)
    const onExit = (code: number | null, signal: string | null): void => fail(`the gateway exited (code ${code}, signal ${signal}) before logging "${msg}"`)
    function fail(reason: string): void {
      clearTimeout(timer)
      child.off('exit', onExit)
      reject(new Error(`${reason}; output so far:\n${output.join('\n')}`))
    }
    child.once('exit', onExit)
    lines.on('line', (line) => {
      output.push(line)
      let parsed: Record<string, unknown>
      try {
        parsed = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      if (parsed.msg === msg) {
        clearTimeout(timer)
        child.off('exit', onExit)
        resolve(parsed)
      }
    })
  })
}

describe('the npm package', () => {
  let work: string | undefined
  let project: string
  let packed: PackResult

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'wsgate-package-'))

    // Pack a copy of the work tree; its node_modules links to the repository's (tsc for `prepack`).
    const stage = join(work, 'stage')
    await cp(repo, stage, {
      recursive: true,
      filter: (source) => isCopied(relative(repo, source)),
    })
    await symlink(join(repo, 'node_modules'), join(stage, 'node_modules'), 'dir')
    // --json keeps stdout to the report; the prepack build writes to stderr.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], stage)
    const results = JSON.parse(stdout) as PackResult[]
    expect(results).toHaveLength(1)
    packed = results[0]!

    // A user's project: ESM, wsgate and hono (which routes modules import) installed from the tarball and the registry.
    project = join(work, 'project')
    await mkdir(project)
    await writeFile(join(project, 'package.json'), `${JSON.stringify({ name: 'wsgate-package-test', private: true, type: 'module' }, null, 2)}\n`)
    const manifest = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }
    const tarball = join(work, packed.filename)
    await run('npm', ['install', tarball, `hono@${manifest.peerDependencies.hono}`, '--no-audit', '--no-fund', '--prefer-offline'], project)

    await writeFile(
      join(project, 'routes.ts'),
      [
        "import { Hono } from 'hono'",
        "import { normalizeHeaders, originCheck, websocket, type GatewayBindings } from 'wsgate'",
        "import { startEchoOrigin } from 'wsgate/node'",
        '',
        'const echo = await startEchoOrigin()',
        'const app = new Hono<{ Bindings: GatewayBindings }>()',
        // The shipped middleware run in the chain: a test client without Origin passes only because of allowMissing.
        "app.all('/echo', normalizeHeaders(), originCheck({ allowedOrigins: ['https://app.example'], allowMissing: true }), websocket(echo.url))",
        '',
        'export default app',
        '',
      ].join('\n'),
    )
  }, NPM_TIMEOUT)

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('ships compiled JavaScript with declarations, the bin and the README, and no sources or tests', async () => {
    const paths = packed.files.map((file) => file.path)
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/wsgate.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/node/index.js', 'dist/src/node/index.d.ts', 'dist/src/node/cli.js']))
    const shipped = /^(package\.json|(README|LICEN[CS]E|CHANGELOG)(\.md|\.txt)?|bin\/[^/]+\.js|dist\/(src|middleware)\/.+\.(js|d\.ts|js\.map))$/
    const stray = paths.filter((path) => !shipped.test(path))
    expect(stray, 'files outside bin/, dist/src/, dist/middleware/ and the package documents').toEqual([])
    // Every module has its declaration.
    for (const path of paths.filter((path) => path.endsWith('.js') && path.startsWith('dist/'))) {
      expect(paths, `declaration of ${path}`).toContain(path.replace(/\.js$/, '.d.ts'))
    }

    // Relative specifiers were rewritten: the installed JavaScript imports no `.ts` file.
    const installed = join(project, 'node_modules', 'wsgate')
    for (const file of (await listFiles(join(installed, 'dist'))).filter((path) => path.endsWith('.js'))) {
      const text = await readFile(join(installed, 'dist', file), 'utf8')
      expect(text, `${file} imports a .ts file`).not.toMatch(/from\s+['"]\.{1,2}\/[^'"]*\.ts['"]/)
    }

    // npm linked the command to the shipped bin.
    expect(await realpath(join(project, 'node_modules', '.bin', 'wsgate'))).toBe(await realpath(join(installed, 'bin', 'wsgate.js')))
  })

  it('runs `wsgate start routes.ts` from the installed package and relays an echo round trip', async () => {
    // `node_modules/.bin/wsgate` as a user runs it, on this Node: the shebang would pick whatever `node` is first on PATH.
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' }
    delete env.LOG_PRETTY
    delete env.PORT
    delete env.HOST
    const bin = join(project, 'node_modules', '.bin', 'wsgate')
    const child = spawn(process.execPath, [bin, 'start', 'routes.ts', '--port', '0', '--host', '127.0.0.1'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const output: string[] = []
    child.stderr!.on('data', (chunk: Buffer) => output.push(`stderr: ${chunk.toString()}`))
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    try {
      const listening = await waitForLog(child, output, 'gateway listening')
      expect(listening).toMatchObject({ name: 'wsgate', host: '127.0.0.1' })
      const port = listening.port as number
      expect(port).toBeGreaterThan(0)

      const client = new WebSocket(`ws://127.0.0.1:${port}/echo`)
      await once(client, 'open')
      const reply = once(client, 'message') as Promise<[Buffer, boolean]>
      client.send('hello through the packed wsgate')
      const [data, isBinary] = await reply
      expect(isBinary).toBe(false)
      expect(data.toString()).toBe('hello through the packed wsgate')
      client.close(1000)
      await once(client, 'close')

      expect(child.kill('SIGTERM')).toBe(true)
      const [code, signal] = await exited
      expect({ code, signal }, output.join('\n')).toEqual({ code: 0, signal: null })
      expect(output.some((line) => line.includes('"msg":"shutting down"'))).toBe(true)
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
    }
  })

  it("imports every path the README's import table lists from the installed package, each with the names it says", async () => {
    const readme = await readFile(join(repo, 'README.md'), 'utf8')
    const table = readme.slice(readme.indexOf('## Imports and bundle size'), readme.indexOf('## Deploy to a Node host'))
    const rows = [...table.matchAll(/^\| `(wsgate(?:\/[a-z-]+)?)` \| (.+) \|$/gm)].map(([, path, what]) => ({ path: path!, names: [...what!.matchAll(/`(\w+)\(\)`/g)].map((match) => match[1]!) }))
    expect(rows.map((row) => row.path)).toEqual(expect.arrayContaining(['wsgate', 'wsgate/node', 'wsgate/workers', 'wsgate/waf']))
    const script = [
      `const rows = ${JSON.stringify(rows)}`,
      'const missing = []',
      'for (const { path, names } of rows) {',
      '  const module = await import(path).catch((error) => ({ failed: error.code ?? error.message }))',
      '  if (module.failed) missing.push(`${path}: ${module.failed}`)',
      '  else for (const name of names) if (typeof module[name] !== "function") missing.push(`${path}: no ${name}()`)',
      '}',
      'console.log(JSON.stringify(missing))',
    ].join('\n')
    await writeFile(join(project, 'imports.mjs'), script)
    const { stdout } = await run(process.execPath, ['imports.mjs'], project)
    expect(JSON.parse(stdout)).toEqual([])
  })

  it('type-checks a consumer of wsgate and wsgate/node against the shipped declarations', async () => {
    await writeFile(
      join(project, 'consumer.ts'),
      [
        "import { Hono } from 'hono'",
        "import { cache, cacheBypass, jwtAuth, proxy, type GatewayBindings } from 'wsgate'",
        "import { serve, type Gateway } from 'wsgate/node'",
        '',
        'const app = new Hono<{ Bindings: GatewayBindings }>()',
        "app.all('/chat', cacheBypass(), cache(), jwtAuth({ jwksUrl: 'https://idp.example/jwks', algorithms: ['ES256'] }), proxy('ws://127.0.0.1:9001', { idleTimeout: 60_000 }))",
        'export const start = (): Promise<Gateway> => serve(app, { port: 0 })',
        '',
        // Proves the types are real, not `any`: an unused @ts-expect-error is itself an error.
        '// @ts-expect-error a target is a URL or its string',
        'proxy(9001)',
        '// @ts-expect-error jwtAuth needs its options',
        'jwtAuth()',
        '// @ts-expect-error unknown option',
        "serve(app, { prot: 0 })",
        '',
      ].join('\n'),
    )
    // A plain consumer setup: no allowImportingTsExtensions, so the `.ts`
    // specifiers kept in the declarations must resolve on their own; lib
    // check on, so the declarations themselves are checked. @types/node comes
    // from the repository instead of a second install.
    const tsconfig = {
      compilerOptions: {
        target: 'es2023',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(repo, 'node_modules', '@types')],
      },
      files: ['routes.ts', 'consumer.ts'],
    }
    await writeFile(join(project, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`)
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')
    const { stdout } = await run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], project)
    expect(stdout).toBe('')
  })
})
