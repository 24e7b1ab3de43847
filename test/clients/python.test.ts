import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { ECHO_ROUTE, startClientGateway, type ClientGateway } from '../helpers/client-gateway.ts'
import { expectCompressed, headLine, MESSAGES, PORTABLE_MESSAGES } from '../helpers/client-traffic.ts'
import { closedLine, logsWith } from '../helpers/gateway.ts'

/**
 * A client that is not JavaScript: Python's `websockets` (Debian's
 * python3-websockets, listed in .ci/run) runs test/fixtures/clients/
 * websockets_client.py, which checks its echoes and the extension itself
 * and exits non-zero on any mismatch. Debian's interpreter by its path:
 * the package installs into /usr/lib/python3/dist-packages, which another
 * python3 on PATH (pyenv, a venv) does not see. Without it, or without the
 * module, the test fails (spawn ENOENT, or the script's ImportError).
 */

const PYTHON = '/usr/bin/python3'
const SCRIPT = fileURLToPath(new URL('../fixtures/clients/websockets_client.py', import.meta.url))

/** What the script prints when every check passed. */
interface PythonReport {
  extensions: string
  negotiated: string[]
  requestId: string | null
  echoed: number
  closeCode: number
  websockets: string
}

let started: ClientGateway | undefined

afterEach(async () => {
  await started?.close()
  started = undefined
})

/** Runs the script with `job` on stdin; resolves with its exit code and output. The child is killed (by its handle) if the test ends first. */
async function runScript(job: unknown): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] })
  try {
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>
    child.stdin.end(JSON.stringify(job))
    // An 'error' (ENOENT: no /usr/bin/python3) rejects here, failing the test.
    const [code] = await Promise.race([exited, once(child, 'error').then(([error]) => Promise.reject(error as Error))])
    return { code, stdout, stderr }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

describe("Python's websockets through wsgate", () => {
  it('negotiates permessage-deflate with the origin end to end and gets every text and binary message back byte-exact, compressed both ways on the wire', async () => {
    started = await startClientGateway()
    const { gateway, origin } = started
    const token = await started.token('python-client')

    const result = await runScript({ url: `${gateway.wsUrl}${ECHO_ROUTE}`, token, messages: PORTABLE_MESSAGES })
    expect(result.stderr, 'the script found no mismatch').toBe('')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout) as PythonReport

    expect(report).toMatchObject({ negotiated: ['permessage-deflate'], echoed: MESSAGES.length, closeCode: 1000 })
    const [upgrade] = origin.upgrades
    expect(upgrade!.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate\b/)
    expect(upgrade!.extensions).toBe('permessage-deflate')
    // The origin's answer reached the client as the origin wrote it; the token did not reach the origin.
    expect(report.extensions).toBe(headLine(upgrade!.answer, 'sec-websocket-extensions'))
    expect(upgrade!.headers.authorization).toBeUndefined()

    const line = await closedLine(gateway, ECHO_ROUTE)
    expect(line.reqId).toBe(report.requestId)
    expect(line).toMatchObject({ closedBy: 'client', closeCode: 1000 })
    expectCompressed(line.bytesFromClient, 'client to origin')
    expectCompressed(line.bytesFromOrigin, 'origin to client')
    expect(logsWith(gateway, 'handshake accepted')[0]).toMatchObject({ jwt: { source: 'header', sub: 'python-client' } })
  })
})
