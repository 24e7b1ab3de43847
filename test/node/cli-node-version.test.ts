/**
 * `wsgate` on a Node older than package.json's "engines" says so, rather
 * than failing later on the routes module ('Unknown file extension ".ts"').
 * An older Node is stood in for by a preload that rewrites
 * `process.versions.node` (each child runs to its own end).
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const engines = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node

/** Runs `wsgate args…` as if on Node `version`: exit code and stderr. */
function asNode(version: string, args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const preload = `data:text/javascript,Object.defineProperty(process.versions,"node",{value:"${version}"})`
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', preload, 'bin/wsgate.js', ...args], { cwd: root, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stderr, stdout })
    })
  })
}

describe('wsgate on an old Node', () => {
  it(`refuses a Node older than "engines" (${engines}) with one line naming both versions`, async () => {
    expect(engines).toBe('>=22.18')
    const old = await asNode('22.17.1', ['check', 'routes/index.ts'])
    expect(old.code).toBe(1)
    expect(old.stderr.trim()).toBe(`wsgate: needs Node.js 22.18 or later (it runs a .ts routes module by stripping its types); this is v22.17.1 (${process.execPath})`)
    expect((await asNode('20.20.2', ['--version'])).code).toBe(1)
  })

  it('runs on the oldest Node "engines" allows', async () => {
    const oldest = await asNode('22.18.0', ['--version'])
    expect(oldest.stderr).toBe('')
    expect(oldest.code).toBe(0)
    expect(oldest.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })
})
