import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const probe = join(import.meta.dirname, '..', 'fixtures', 'regexp-guard-probe.ts')

describe('the regexp backtracking guard', () => {
  it('lets a catastrophically backtracking match over thousands of characters finish, with the right answer', async () => {
    // /^(a|a?)+$/ on 5,000 "a"s and a "!" has 2^5000 backtracking paths: without the guard the
    // child never returns and execFile's timeout fails the test; with it the match completes.
    const { stdout } = await run(process.execPath, [probe, '5000', 'guarded'], { timeout: 60_000 })
    expect(JSON.parse(stdout)).toMatchObject({ matched: false })
  })
})
