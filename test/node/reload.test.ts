/**
 * Reloading the routes without a restart: `SIGHUP` to `wsgate start`
 * (which imports the routes module again and calls
 * `gateway.reloadRoutes()`), and `reloadRoutes()` itself. Every process
 * here is one this suite spawned, ended by its own PID.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import net from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Hono } from 'hono'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { origins, websocket, type GatewayBindings } from '../../src/index.ts'
import { startCliGateway, type CliGateway } from '../helpers/cli-gateway.ts'
import { logsWith } from '../helpers/gateway.ts'
import { handshakeRequest, readHead } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const resources = useResources()
const dir = mkdtempSync(join(tmpdir(), 'wsgate-reload-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const running: CliGateway[] = []
afterEach(async () => {
  for (const gateway of running.splice(0)) await gateway.stop()
})

/** A routes module serving `/ws` from `origin` (the same file rewritten: reloads read it again). */
function writeRoutes(file: string, body: string): void {
  writeFileSync(
    file,
    [`import { Hono } from '${import.meta.resolve('hono')}'`, `import { websocket } from '${pathToFileURL(join(root, 'src/index.ts')).href}'`, 'const app = new Hono()', body, 'export default app', ''].join('\n'),
  )
}

/** An origin that answers every message with its own name, so a reply tells which origin a connection reached. */
async function namedOrigin(name: string): Promise<string> {
  const origin = await resources.wsOrigin((socket) => socket.on('message', (data) => socket.send(`${name}:${String(data)}`)))
  return origin.url
}

/** The reply to one message on an open client. */
async function ask(client: WebSocket, text: string): Promise<string> {
  const reply = once(client, 'message') as Promise<[Buffer]>
  client.send(text)
  return String((await reply)[0])
}

/** Opens a client through the CLI gateway's `/ws`. */
async function connect(gateway: CliGateway): Promise<WebSocket> {
  const client = resources.track(new WebSocket(`ws://127.0.0.1:${gateway.port}/ws`))
  client.on('error', () => {})
  await once(client, 'open')
  return client
}

/** Sends SIGHUP (by PID) and waits for the reload's outcome line: the `n`th `routes reloaded` or `routes reload failed`. */
async function hangUp(gateway: CliGateway, n: number): Promise<Record<string, unknown>> {
  process.kill(gateway.pid, 'SIGHUP')
  return gateway.waitForLine((line) => (line.msg === 'routes reloaded' || line.msg.startsWith('routes reload failed')) && line.reload === n, 10_000, `reload ${n}'s outcome`)
}

describe('SIGHUP reloads the routes module', () => {
  it('sends new connections to the new routes, keeps an open one where it was, and keeps the routes when the module fails to load', async () => {
    const [first, second] = await Promise.all([namedOrigin('first'), namedOrigin('second')])
    const file = join(dir, 'routes.ts')
    writeRoutes(file, `app.all('/ws', websocket('${first}'))`)
    const gateway = await startCliGateway(file, ['--port', '0'])
    running.push(gateway)

    const before = await connect(gateway)
    expect(await ask(before, 'hello')).toBe('first:hello')

    writeRoutes(file, `app.all('/ws', websocket('${second}'))`)
    expect(await hangUp(gateway, 1)).toMatchObject({ level: 30, msg: 'routes reloaded', module: file, routes: 1 })
    const after = await connect(gateway)
    expect(await ask(after, 'hello')).toBe('second:hello')
    // The connection opened before the reload still goes where it went.
    expect(await ask(before, 'still there?')).toBe('first:still there?')

    // A factory that refuses its option: the reload fails, and the routes stay.
    writeRoutes(file, `app.all('/ws', websocket('${first}', { idleTimeout: -1 }))`)
    const refused = await hangUp(gateway, 2)
    expect(refused).toMatchObject({ level: 40, msg: 'routes reload failed; serving the current routes', module: file })
    expect(refused.reason).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: websocket\\(\\): idleTimeout must be`))
    expect(await ask(await connect(gateway), 'again')).toBe('second:again')

    // TypeScript Node cannot strip: the same.
    writeRoutes(file, `enum Broken { Yes }\napp.all('/ws', websocket('${first}'))`)
    expect((await hangUp(gateway, 3)).reason).toMatch(/TypeScript enum is not supported in strip-only mode/)
    expect(await ask(await connect(gateway), 'and again')).toBe('second:and again')
    expect(await ask(before, 'bye')).toBe('first:bye')
  })
})

describe('SIGHUP while the gateway drains', () => {
  it('is skipped: the routes module is not run again for routes that would never serve', async () => {
    const origin = await namedOrigin('only')
    const file = join(dir, 'draining-routes.ts')
    // The module counts its own runs in a file beside it: a reload that ran it would add a line.
    const runs = join(dir, 'draining-runs.txt')
    writeRoutes(file, `import { appendFileSync } from 'node:fs'\nappendFileSync('${runs}', 'run\\n')\napp.all('/ws', websocket('${origin}'))`)
    const gateway = await startCliGateway(file, ['--port', '0', '--drain-timeout', '5000'])
    running.push(gateway)
    // A client that never answers the drain's close frame keeps the gateway draining for closeGrace (5 s).
    const held = resources.track(net.connect(gateway.port, '127.0.0.1'))
    held.on('error', () => {})
    held.write(handshakeRequest('/ws'))
    expect((await readHead(held)).head).toMatch(/^HTTP\/1\.1 101 /)

    process.kill(gateway.pid, 'SIGTERM')
    await gateway.waitForLine((line) => line.msg === 'gateway draining', 10_000, 'the drain')
    process.kill(gateway.pid, 'SIGHUP')
    await gateway.waitForLine((line) => line.msg === 'reload skipped: the gateway is stopping', 10_000, 'the skipped reload')
    expect(gateway.lines.filter((line) => line.msg === 'reloading routes' || line.msg.startsWith('routes reload'))).toEqual([])
    expect(readFileSync(runs, 'utf8')).toBe('run\n')
  })
})

describe('SIGHUP while the gateway starts', () => {
  it('does not kill it (systemctl reload right after a start): the reload runs once the gateway is up', async () => {
    const origin = await namedOrigin('only')
    const file = join(dir, 'slow-routes.ts')
    // A module that takes a second to load, and says when it has begun: the signal comes while the CLI waits for it.
    writeRoutes(file, [`console.log(JSON.stringify({ msg: 'routes module loading' }))`, 'await new Promise((resolve) => setTimeout(resolve, 1_000))', `app.all('/ws', websocket('${origin}'))`].join('\n'))
    const child = resources.track(
      spawn(process.execPath, ['bin/wsgate.js', 'start', file, '--port', '0'], { cwd: root, env: { ...process.env, LOG_LEVEL: 'info', LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'ignore'] }),
    )
    const lines: { msg: string; [field: string]: unknown }[] = []
    const waiters = new Set<() => void>()
    createInterface({ input: child.stdout! }).on('line', (text) => {
      lines.push(JSON.parse(text) as { msg: string })
      for (const waiter of waiters) waiter()
    })
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    /** Resolves when a line with `msg` has come, or with the exit when the process died first. */
    const lineOrExit = (msg: string): Promise<unknown> =>
      Promise.race([
        exited,
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (lines.some((line) => line.msg === msg)) resolve()
          }
          waiters.add(check)
          check()
        }),
      ])
    await lineOrExit('routes module loading')
    process.kill(child.pid!, 'SIGHUP')
    await lineOrExit('routes reloaded')
    expect(child.signalCode, 'killed by the SIGHUP').toBeNull()
    expect(lines.find((line) => line.msg === 'routes reloaded')).toMatchObject({ module: file, reload: 1, routes: 1 })
    process.kill(child.pid!, 'SIGTERM')
    expect(await exited).toEqual([0, null])
  })
})

describe('gateway.reloadRoutes()', () => {
  it('serves the new app to requests after the call, starts its pools and stops the old ones (a shared pool keeps running)', async () => {
    const [first, second] = await Promise.all([namedOrigin('first'), namedOrigin('second')])
    const only = origins([first], { probe: false })
    const next = origins([second], { probe: false })
    const shared = origins([first, second], { probe: false })
    const spies = [only, next, shared].map((pool) => ({ start: vi.spyOn(pool, 'start'), stop: vi.spyOn(pool, 'stop') }))

    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/ws', websocket(only))
    app.all('/both', websocket(shared))
    const gateway = await resources.gateway(app)
    const [onlySpy, nextSpy, sharedSpy] = spies
    expect(onlySpy!.start).toHaveBeenCalledTimes(1)
    expect(sharedSpy!.start).toHaveBeenCalledTimes(1)

    const reloaded = new Hono<{ Bindings: GatewayBindings }>()
    reloaded.all('/ws', websocket(next))
    reloaded.all('/both', websocket(shared))
    gateway.reloadRoutes(reloaded)
    expect(nextSpy!.start).toHaveBeenCalledTimes(1)
    expect(onlySpy!.stop).toHaveBeenCalledTimes(1)
    // Started by the new app before the old one let go of it: still running.
    expect(sharedSpy!.start).toHaveBeenCalledTimes(2)
    expect(sharedSpy!.stop).toHaveBeenCalledTimes(1)

    const client = await resources.open(`${gateway.wsUrl}/ws`)
    expect(await ask(client, 'hi')).toBe('second:hi')
    expect(() => gateway.reloadRoutes({} as Hono)).toThrow(TypeError)
    expect(logsWith(gateway, 'handshake accepted')).toHaveLength(1)
  })
})
