import { describe, expect, it } from 'vitest'
import { DASHBOARD_CONTENT_SECURITY_POLICY, DASHBOARD_HTML, dashboard } from '../../src/node/admin/dashboard.ts'
import { DASHBOARD_APP, DASHBOARD_LIBRARY } from '../../src/node/admin/dashboard-script.ts'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}
interface Group {
  key: string
  labels: Record<string, string>
  value: number
}
type Reading = Record<'connections' | 'handshakes' | 'wafBlocks' | 'authFailures' | 'bytes' | 'origins', Group[]>
interface Row {
  key: string
  series: string | null
  state?: string
  cells: { column: string; text: string }[]
}
interface PanelView {
  headline: { id: string; value: string; label: string }[]
  rows: Row[]
  point: Record<string, number | null>
}
type View = Record<'connections' | 'handshakes' | 'refusals' | 'bytes' | 'origins', PanelView>

/** The page's pure functions, run from the very text the page inlines. */
interface Library {
  parseMetrics(text: string): Sample[]
  readMetrics(samples: Sample[]): Reading
  buildView(previous: Reading | null, current: Reading, seconds: number): View
  chartModel(points: Record<string, number | null>[], ceiling?: (x: number) => number): { lines: { name: string; values: (number | null)[] }[]; max: number }
  linePoints(values: (number | null)[], max: number, width: number, height: number): string[]
  niceCeiling(x: number): number
  niceBytesCeiling(x: number): number
  formatCount(n: number): string
  formatRate(n: number | null): string
  formatBytes(n: number): string
  formatBytesRate(n: number | null): string
  formatDuration(ms: number): string
  tokenFromHash(hash: string): string | null
  HISTORY_POINTS: number
}

const names = 'parseMetrics, readMetrics, buildView, chartModel, linePoints, niceCeiling, niceBytesCeiling, formatCount, formatRate, formatBytes, formatBytesRate, formatDuration, tokenFromHash, HISTORY_POINTS'
const library = new Function(`${DASHBOARD_LIBRARY}\nreturn { ${names} }`)() as Library

/** prom-client's exposition of a gateway with two routes, refusals of each kind and one origin pool. */
const SCRAPE_1 = `# HELP wsgate_connections_open WebSocket connections open now.
# TYPE wsgate_connections_open gauge
wsgate_connections_open{route="/chat",origin="ws://10.0.0.5:9001"} 2
wsgate_connections_open{route="/chat",origin="ws://10.0.0.6:9001"} 1
wsgate_connections_open{route="/feed/*",origin="ws://10.0.0.7:9002"} 4

# HELP wsgate_handshakes_total Handshakes by outcome.
# TYPE wsgate_handshakes_total counter
wsgate_handshakes_total{route="/chat",status="101",code=""} 10
wsgate_handshakes_total{route="/feed/*",status="101",code=""} 5
wsgate_handshakes_total{route="/secure",status="401",code="ERR_JWT_MISSING"} 3
wsgate_handshakes_total{route="/guarded",status="403",code="ERR_WAF_BLOCKED"} 2
wsgate_handshakes_total{route="",status="400",code="ERR_HANDSHAKE_INVALID_KEY"} 1
# TYPE wsgate_handshake_duration_seconds histogram
wsgate_handshake_duration_seconds_bucket{le="0.005",route="/chat"} 8
wsgate_handshake_duration_seconds_bucket{le="+Inf",route="/chat"} 10
wsgate_handshake_duration_seconds_sum{route="/chat"} 0.031
wsgate_handshake_duration_seconds_count{route="/chat"} 10
# TYPE wsgate_bytes_total counter
wsgate_bytes_total{route="/chat",direction="client_to_origin"} 1000
wsgate_bytes_total{route="/feed/*",direction="client_to_origin"} 24
wsgate_bytes_total{route="/chat",direction="origin_to_client"} 4096
# TYPE wsgate_waf_blocks_total counter
wsgate_waf_blocks_total{route="/guarded",rule_family="sqli"} 2
# TYPE wsgate_auth_failures_total counter
wsgate_auth_failures_total{route="/secure",code="ERR_JWT_MISSING"} 3
# TYPE wsgate_origin_up gauge
wsgate_origin_up{route="/chat",origin="ws://10.0.0.5:9001"} 1
wsgate_origin_up{route="/chat",origin="ws://10.0.0.6:9001"} 0
process_cpu_seconds_total 0.52 1712000000000
nodejs_eventloop_lag_seconds NaN
`

/** The same gateway 2 s later: more handshakes and bytes, a new 403 family, /chat's second origin back up. */
const SCRAPE_2 = SCRAPE_1.replace('status="101",code=""} 10', 'status="101",code=""} 14')
  .replace('status="401",code="ERR_JWT_MISSING"} 3', 'status="401",code="ERR_JWT_MISSING"} 4')
  .replace('wsgate_auth_failures_total{route="/secure",code="ERR_JWT_MISSING"} 3', 'wsgate_auth_failures_total{route="/secure",code="ERR_JWT_MISSING"} 4')
  .replace('direction="client_to_origin"} 1000', 'direction="client_to_origin"} 3048')
  .replace('rule_family="sqli"} 2', 'rule_family="sqli"} 2\nwsgate_waf_blocks_total{route="/guarded",rule_family="xss"} 1')
  .replace('origin="ws://10.0.0.6:9001"} 0', 'origin="ws://10.0.0.6:9001"} 1')

function cellText(row: Row | undefined, column: string): string | undefined {
  return row?.cells.find((cell) => cell.column === column)?.text
}

describe('the dashboard page text', () => {
  it('inlines one script and one style that the CSP admits by hash, with no unsafe-inline and no other source', () => {
    expect(DASHBOARD_HTML.match(/<script>/g)).toHaveLength(1)
    expect(DASHBOARD_HTML.match(/<style>/g)).toHaveLength(1)
    expect(`${DASHBOARD_LIBRARY}${DASHBOARD_APP}`).not.toMatch(/<\/script|<!--|`/i)
    expect(DASHBOARD_HTML).not.toMatch(/\s(src|href)="(?!data:)/)
    expect(DASHBOARD_HTML).not.toMatch(/\son[a-z]+=/)
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]{43}='; style-src 'sha256-[A-Za-z0-9+/]{43}='; connect-src 'self'; img-src 'self' data:/)
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).not.toContain('unsafe')
  })

  it('is answered as UTF-8 HTML with the CSP, no-store and nosniff, the same body every time', async () => {
    const handler = dashboard()
    const [first, second] = [handler(), handler()]
    expect(first.status).toBe(200)
    expect(first.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(first.headers.get('content-security-policy')).toBe(DASHBOARD_CONTENT_SECURITY_POLICY)
    expect(first.headers.get('cache-control')).toBe('no-store')
    expect(first.headers.get('x-content-type-options')).toBe('nosniff')
    expect(await first.text()).toBe(DASHBOARD_HTML)
    expect(await second.text()).toBe(DASHBOARD_HTML)
  })
})

describe('parseMetrics', () => {
  it('reads every sample of a prom-client exposition: labels, floats, NaN, +Inf, a trailing timestamp; skips HELP, TYPE and blank lines', () => {
    const samples = library.parseMetrics(SCRAPE_1)
    expect(samples).toHaveLength(21)
    expect(samples[0]).toEqual({ name: 'wsgate_connections_open', labels: { route: '/chat', origin: 'ws://10.0.0.5:9001' }, value: 2 })
    expect(samples.find((s) => s.name === 'process_cpu_seconds_total')?.value).toBe(0.52)
    expect(samples.find((s) => s.name === 'nodejs_eventloop_lag_seconds')?.value).toBeNaN()
    expect(samples.find((s) => s.labels.le === '+Inf')?.value).toBe(10)
    expect(library.parseMetrics('up +Inf\ndown -Inf\n')).toEqual([
      { name: 'up', labels: {}, value: Infinity },
      { name: 'down', labels: {}, value: -Infinity },
    ])
  })

  it('unescapes \\\\, \\" and \\n in label values, and takes commas, braces and = inside quotes as text', () => {
    const [sample] = library.parseMetrics('m{a="x\\\\y",b="say \\"hi\\"",c="one\\ntwo",d="{,=}"} 1\r\n')
    expect(sample?.labels).toEqual({ a: 'x\\y', b: 'say "hi"', c: 'one\ntwo', d: '{,=}' })
  })

  it('accepts spaces inside the braces and a trailing comma, as the format allows', () => {
    expect(library.parseMetrics('m{ a="1" , b="2", } 3')).toEqual([{ name: 'm', labels: { a: '1', b: '2' }, value: 3 }])
  })

  it('skips malformed lines and keeps the good ones around them', () => {
    const text = ['good 1', 'm{a="unterminated} 1', 'm{a=1} 1', 'm{1a="x"} 1', 'm{a="x"', 'no_value', 'm{a="x"} notanumber', '9bad 1', 'm{a="x"}} 1', 'also_good{a="b"} 2'].join('\n')
    expect(library.parseMetrics(text).map((s) => s.name)).toEqual(['good', 'also_good'])
  })

  it('keeps a label named __proto__ as a plain label', () => {
    const [sample] = library.parseMetrics('m{__proto__="x"} 1')
    expect(Object.keys(sample!.labels)).toEqual(['__proto__'])
  })
})

describe('readMetrics and buildView', () => {
  const first = library.readMetrics(library.parseMetrics(SCRAPE_1))
  const second = library.readMetrics(library.parseMetrics(SCRAPE_2))

  it('sums open connections per route over its origins', () => {
    const view = library.buildView(null, first, 0)
    expect(view.connections.rows.map((row) => [row.key, cellText(row, 'open')])).toEqual([
      ['/chat', '3'],
      ['/feed/*', '4'],
    ])
    expect(view.connections.headline).toEqual([{ id: 'connections-total', value: '7', label: 'open connections' }])
    expect(view.connections.point).toEqual({ '/chat': 3, '/feed/*': 4 })
  })

  it('shows totals but no rate on the first reading, and no chart point for rates', () => {
    const view = library.buildView(null, first, 0)
    const refused = view.handshakes.rows.find((row) => row.key === '401 · ERR_JWT_MISSING')
    expect(cellText(refused, 'total')).toBe('3')
    expect(cellText(refused, 'rate')).toBe('—')
    expect(view.handshakes.headline.find((figure) => figure.id === 'handshakes-refused')?.value).toBe('6')
    expect(view.handshakes.point).toEqual({ '101 upgraded': null, '4xx refused': null })
    expect(view.refusals.point).toEqual({ 'WAF blocks': null, 'auth failures': null })
    expect(view.bytes.headline.map((figure) => figure.value)).toEqual(['—', '—'])
  })

  it('gives per-second rates between two readings, by status and code and by status class', () => {
    const view = library.buildView(first, second, 2)
    const upgraded = view.handshakes.rows.filter((row) => row.series === '101 upgraded')
    expect(upgraded.map((row) => [cellText(row, 'status'), cellText(row, 'code'), cellText(row, 'rate'), cellText(row, 'total')])).toEqual([['101', '—', '2/s', '19']])
    expect(view.handshakes.point).toEqual({ '101 upgraded': 2, '4xx refused': 0.5 })
    expect(view.handshakes.headline[0]).toEqual({ id: 'handshakes-rate', value: '2.5/s', label: 'handshakes' })
  })

  it('lists WAF blocks by route and rule family and auth failures by route and code, a new series counted from 0', () => {
    const view = library.buildView(first, second, 2)
    expect(view.refusals.rows.map((row) => row.cells.map((cell) => cell.text))).toEqual([
      ['WAF', '/guarded', 'sqli', '0/s', '2'],
      ['WAF', '/guarded', 'xss', '0.5/s', '1'],
      ['auth', '/secure', 'ERR_JWT_MISSING', '0.5/s', '4'],
    ])
    expect(view.refusals.headline).toEqual([
      { id: 'waf-total', value: '3', label: 'WAF blocks' },
      { id: 'auth-total', value: '4', label: 'auth failures' },
    ])
  })

  it('gives bytes per second each way, summed over routes', () => {
    const view = library.buildView(first, second, 2)
    expect(view.bytes.rows.map((row) => row.cells.map((cell) => cell.text))).toEqual([
      ['client → origin', '1 KiB/s', '3 KiB'],
      ['origin → client', '0 B/s', '4 KiB'],
    ])
    expect(view.bytes.point).toEqual({ 'client → origin': 1024, 'origin → client': 0 })
  })

  it('treats a counter that went down as reset, as Prometheus rate() does', () => {
    const restarted = library.readMetrics(library.parseMetrics('wsgate_handshakes_total{route="/chat",status="101",code=""} 3\n'))
    const view = library.buildView(first, restarted, 1)
    expect(view.handshakes.point).toEqual({ '101 upgraded': 3 })
  })

  it('shows each origin up or down, and counts them', () => {
    const before = library.buildView(null, first, 0)
    expect(before.origins.rows.map((row) => [cellText(row, 'origin'), row.state])).toEqual([
      ['ws://10.0.0.5:9001', 'up'],
      ['ws://10.0.0.6:9001', 'down'],
    ])
    expect(before.origins.headline[0]?.value).toBe('1 of 2')
    expect(library.buildView(first, second, 2).origins.point).toEqual({ up: 2, down: 0 })
    expect(library.buildView(null, library.readMetrics([]), 0).origins.point).toEqual({})
  })
})

describe('chart geometry', () => {
  it('rounds the top of the scale up to 1, 2 or 5 times a power of ten', () => {
    expect([0, 0.3, 1, 1.5, 2, 3, 7, 10, 11, 4500, NaN].map(library.niceCeiling)).toEqual([1, 0.5, 1, 2, 2, 5, 10, 10, 20, 5000, 1])
  })

  it('rounds a bytes scale in binary units: 150 KiB/s tops out at 200 KiB/s', () => {
    expect([0, 700, 150 * 1024, 3 * 1024 ** 2].map(library.niceBytesCeiling)).toEqual([1, 1000, 200 * 1024, 5 * 1024 ** 2])
    expect(library.chartModel([{ up: 150 * 1024 }], library.niceBytesCeiling).max).toBe(200 * 1024)
  })

  it('puts the newest point at the right edge, splits the line at missing values and clamps to the scale', () => {
    const step = 300 / (library.HISTORY_POINTS - 1)
    expect(library.linePoints([0, 5, 10], 10, 300, 80)).toEqual([
      `${Math.round((300 - 2 * step) * 100) / 100},80 ${Math.round((300 - step) * 100) / 100},40 300,0`,
    ])
    expect(library.linePoints([1, null, 20, -3], 10, 300, 80)).toEqual([`${Math.round((300 - 3 * step) * 100) / 100},72`, `${Math.round((300 - step) * 100) / 100},0 300,80`])
    expect(library.linePoints([null, null], 10, 300, 80)).toEqual([])
  })

  it('draws at most six lines, the largest now on their own and the rest summed as other', () => {
    const point = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((name, index) => [name, index + 1]))
    const model = library.chartModel([{ a: 1 }, point])
    expect(model.lines.map((line) => line.name)).toEqual(['d', 'e', 'f', 'g', 'h', 'other'])
    expect(model.lines.at(-1)?.values).toEqual([1, 1 + 2 + 3])
    expect(model.lines[0]?.values).toEqual([null, 4])
    expect(model.max).toBe(10)
  })
})

describe('formats', () => {
  it('writes counts, rates, bytes and ages with their units', () => {
    expect([0, 7, 1234567].map(library.formatCount)).toEqual(['0', '7', '1,234,567'])
    expect([null, 0, 0.25, 3, 12.4, 999.6, 1234, 2_500_000].map(library.formatRate)).toEqual(['—', '0/s', '0.3/s', '3/s', '12/s', '1 k/s', '1.2 k/s', '2.5 M/s'])
    expect([0, 1023, 1024, 1536, 10 * 1024 * 1024, 5 * 1024 ** 3].map(library.formatBytes)).toEqual(['0 B', '1023 B', '1 KiB', '1.5 KiB', '10 MiB', '5 GiB'])
    expect(library.formatBytesRate(null)).toBe('—')
    expect([850, 12_000, 184_000, 7_500_000, 3 * 86_400_000 + 4 * 3_600_000, -1].map(library.formatDuration)).toEqual(['850 ms', '12 s', '3 min 4 s', '2 h 5 min', '3 d 4 h', '—'])
  })
})

describe('tokenFromHash', () => {
  it('reads the token of #token=…, percent-decoded, keeping + and / of a base64 token', () => {
    expect(library.tokenFromHash('#token=s3cret')).toBe('s3cret')
    expect(library.tokenFromHash('#token=a+b/c==')).toBe('a+b/c==')
    expect(library.tokenFromHash('#view=x&token=p%20q')).toBe('p q')
    expect(library.tokenFromHash('')).toBeNull()
    expect(library.tokenFromHash('#token=')).toBeNull()
    expect(library.tokenFromHash('#token=%E0%A4%A')).toBeNull()
  })
})
