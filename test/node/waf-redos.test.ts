import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const probe = join(import.meta.dirname, '..', 'fixtures', 'waf-redos-probe.ts')
const linear = join(import.meta.dirname, '..', 'fixtures', 'waf-redos-linear.ts')

interface Result {
  padding: string
  where: 'header' | 'query' | 'cookie'
  attack: number | null
  blocked: boolean
  matched: number[]
  ms: number
}

describe('the WAF on values crafted to make the CRS regexes backtrack', () => {
  it('translates all but four CRS patterns into ones V8 can fall back to its linear-time engine for', async () => {
    const { stdout } = await run(process.execPath, [linear], { timeout: 60_000 })
    // 920600 and 920201 are anchored at the start (one start position), 953120 is a response rule;
    // 942130 keeps its lookaheads and back-references but not the leading loop that made it quadratic.
    expect((JSON.parse(stdout) as string[]).sort()).toEqual(['920201 (chained)', '920600', '942130', '953120'])
  })

  it('inspects handshakes carrying 16 KB runs of the worst inputs in a header, the query and a cookie, and still finds an attack after them', async () => {
    // Before the regex rewrites, one of these values (16 KB of "select dump " against CRS 942480)
    // kept a single regex busy for minutes: the child would not return and execFile's timeout would
    // fail the test. Termination is the assertion; the timeout is far beyond the seconds it takes.
    const { stdout } = await run(process.execPath, [probe], { timeout: 240_000, maxBuffer: 1 << 24 })
    const results = JSON.parse(stdout) as Result[]
    // 16 paddings in 3 placements (a line break only in the query), each alone and with an XSS
    // attack after it, and in the query and a cookie with an SQL injection after it.
    expect(results).toHaveLength((15 * 3 + 1) * 2 + (15 * 2 + 1))
    for (const result of results.filter((item) => item.attack !== null)) {
      expect({ ...result, ms: undefined }, `${result.attack} after ${JSON.stringify(result.padding)} in the ${result.where}`).toMatchObject({ blocked: true, matched: expect.arrayContaining([result.attack]) })
    }
  }, 300_000)
})
