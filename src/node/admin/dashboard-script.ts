/**
 * The admin dashboard's script, as the JavaScript text the page inlines.
 *
 * It is kept as text, not as TypeScript functions turned into text with
 * `Function.prototype.toString()`, because the page must survive whatever
 * the server's own code goes through: Node's type stripping, `tsc` for the
 * package, vitest's transform, a user's bundler with `keepNames` (which puts
 * `__name()` calls inside function bodies) or a minifier (which renames the
 * functions one body calls). A string literal is the one form all of them
 * leave alone, so the text tested here is the text a browser runs.
 *
 * Two parts: {@link DASHBOARD_LIBRARY}, pure functions (the Prometheus text
 * parser, the figures and rates each panel shows, chart geometry, number
 * formats) that test/unit/dashboard-script.test.ts runs in Node, and
 * {@link DASHBOARD_APP}, which polls the admin endpoints and draws the page.
 * Neither uses a backtick, `${` or `</script`, so both fit in an inline
 * script element and in this module's `String.raw` literals.
 */

/**
 * The dashboard's pure functions, as JavaScript text: no DOM, no fetch, no
 * clock. Evaluated on its own (`new Function(DASHBOARD_LIBRARY + 'return
 * { parseMetrics }')`) it defines `parseMetrics`, `readMetrics`, `buildView`,
 * `chartModel`, `linePoints`, `niceCeiling`, `tokenFromHash` and the
 * `format*` functions; the page runs it before {@link DASHBOARD_APP}.
 *
 * @example
 * ```ts
 * const { parseMetrics } = new Function(`${DASHBOARD_LIBRARY}\nreturn { parseMetrics }`)()
 * parseMetrics('wsgate_connections_open{route="/chat",origin="ws://o"} 2\n')
 * // → [{ name: 'wsgate_connections_open', labels: { route: '/chat', origin: 'ws://o' }, value: 2 }]
 * ```
 */
export const DASHBOARD_LIBRARY = String.raw`'use strict'

/* Points each chart keeps: two minutes at one reading a second. */
const HISTORY_POINTS = 120
/* Lines one chart draws; beyond that the smallest are summed into "other". */
const MAX_SERIES = 6
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/* A sample value of the text format: a float, NaN, +Inf or -Inf; null when it is none. */
function parseValue(token) {
  if (token === undefined || token === '') return null
  if (token === '+Inf' || token === 'Inf') return Infinity
  if (token === '-Inf') return -Infinity
  if (token === 'NaN') return NaN
  const value = Number(token)
  return Number.isNaN(value) ? null : value
}

/*
 * One line of the Prometheus text format (version 0.0.4):
 * name{label="value",...} value [timestamp]. Label values escape \\, \" and
 * \n. Comments, blank and malformed lines give null: one odd line must not
 * blank the whole page.
 */
function parseSampleLine(line) {
  const text = line.trim()
  if (text === '' || text[0] === '#') return null
  const nameEnd = text.search(/[{\s]/)
  if (nameEnd <= 0) return null
  const name = text.slice(0, nameEnd)
  if (!METRIC_NAME.test(name)) return null
  const labels = Object.create(null)
  let at = nameEnd
  if (text[at] === '{') {
    at++
    for (;;) {
      while (text[at] === ' ') at++
      if (text[at] === '}') { at++; break }
      const equals = text.indexOf('=', at)
      if (equals < 0) return null
      const key = text.slice(at, equals).trim()
      if (!LABEL_NAME.test(key)) return null
      at = equals + 1
      while (text[at] === ' ') at++
      if (text[at] !== '"') return null
      at++
      let value = ''
      for (;;) {
        if (at >= text.length) return null
        const char = text[at]
        if (char === '"') { at++; break }
        if (char === '\\') {
          if (at + 1 >= text.length) return null
          const escaped = text[at + 1]
          value += escaped === 'n' ? '\n' : escaped
          at += 2
          continue
        }
        value += char
        at++
      }
      labels[key] = value
      while (text[at] === ' ') at++
      if (text[at] === ',') { at++; continue }
      if (text[at] === '}') { at++; break }
      return null
    }
  }
  const value = parseValue(text.slice(at).trim().split(/\s+/)[0])
  return value === null ? null : { name: name, labels: labels, value: value }
}

/* Every sample of a Prometheus text exposition, in order: [{ name, labels, value }]. */
function parseMetrics(text) {
  const samples = []
  for (const line of text.split('\n')) {
    const sample = parseSampleLine(line)
    if (sample) samples.push(sample)
  }
  return samples
}

/*
 * The samples of one metric summed over every label but keys:
 * [{ key, labels, value }], key naming the label values, sorted by key.
 */
function sumBy(samples, name, keys) {
  const groups = new Map()
  for (const sample of samples) {
    if (sample.name !== name) continue
    const values = keys.map(function (label) { return sample.labels[label] === undefined ? '' : sample.labels[label] })
    const key = values.join(' · ')
    const group = groups.get(key)
    if (group) group.value += sample.value
    else {
      const labels = {}
      keys.forEach(function (label, index) { labels[label] = values[index] })
      groups.set(key, { key: key, labels: labels, value: sample.value })
    }
  }
  return Array.from(groups.values()).sort(function (a, b) { return a.key < b.key ? -1 : a.key > b.key ? 1 : 0 })
}

/* The figures of one scrape the page shows, summed to the labels it shows them by. */
function readMetrics(samples) {
  return {
    connections: sumBy(samples, 'wsgate_connections_open', ['route']),
    handshakes: sumBy(samples, 'wsgate_handshakes_total', ['status', 'code']),
    wafBlocks: sumBy(samples, 'wsgate_waf_blocks_total', ['route', 'rule_family']),
    authFailures: sumBy(samples, 'wsgate_auth_failures_total', ['route', 'code']),
    bytes: sumBy(samples, 'wsgate_bytes_total', ['direction']),
    origins: sumBy(samples, 'wsgate_origin_up', ['route', 'origin']),
  }
}

function total(groups) {
  return groups.reduce(function (sum, group) { return sum + group.value }, 0)
}

/*
 * Per-second rate of each counter group since the previous reading, or null
 * without one. A series the previous reading lacked started from 0 (counters
 * appear at their first increment); a counter that went down was reset (the
 * gateway restarted) and counts from 0 again, as Prometheus's rate() does.
 */
function withRates(previous, current, seconds) {
  const before = new Map((previous || []).map(function (group) { return [group.key, group.value] }))
  return current.map(function (group) {
    if (!previous || !(seconds > 0)) return { key: group.key, labels: group.labels, value: group.value, rate: null }
    const last = before.has(group.key) ? before.get(group.key) : 0
    const increase = group.value >= last ? group.value - last : group.value
    return { key: group.key, labels: group.labels, value: group.value, rate: increase / seconds }
  })
}

function sumRates(groups) {
  if (groups.some(function (group) { return group.rate === null })) return null
  return groups.reduce(function (sum, group) { return sum + group.rate }, 0)
}

/* "101" → "1xx": handshake outcomes are charted by status class. */
function statusClass(status) {
  return /^[1-5][0-9][0-9]$/.test(status) ? status[0] + 'xx' : 'other'
}

const CLASS_NAMES = { '1xx': '101 upgraded', '2xx': '2xx', '3xx': '3xx', '4xx': '4xx refused', '5xx': '5xx failed', other: 'other' }
const DIRECTION_NAMES = { client_to_origin: 'client → origin', origin_to_client: 'origin → client' }

function cell(column, text) {
  return { column: column, text: text }
}

/* The refusal panel's rows of one kind: route, reason (the label named), rate, total. */
function refusalRows(groups, kind, series, reasonLabel) {
  return groups.map(function (group) {
    const cells = [cell('kind', kind), cell('route', group.labels.route), cell('reason', group.labels[reasonLabel] || '—'), cell('rate', formatRate(group.rate)), cell('total', formatCount(group.value))]
    return { key: kind + ' ' + group.key, series: series, cells: cells }
  })
}

/*
 * What each panel shows for one reading, given the one before it (null for
 * the first) and the seconds between them: per panel the headline figures,
 * the table rows (each with a stable key) and the chart point (series name →
 * number, null where a rate has no previous reading yet).
 */
function buildView(previous, current, seconds) {
  const prior = previous || {}
  const handshakes = withRates(prior.handshakes, current.handshakes, seconds)
  const wafBlocks = withRates(prior.wafBlocks, current.wafBlocks, seconds)
  const authFailures = withRates(prior.authFailures, current.authFailures, seconds)
  const bytes = withRates(prior.bytes, current.bytes, seconds)

  const byClass = {}
  for (const group of handshakes) {
    const name = CLASS_NAMES[statusClass(group.labels.status)]
    byClass[name] = group.rate === null ? null : (byClass[name] || 0) + group.rate
  }
  const refused = handshakes.filter(function (group) { return /^[45]/.test(group.labels.status) })
  const upCount = current.origins.filter(function (group) { return group.value > 0 }).length
  const directionPoint = {}
  for (const group of bytes) directionPoint[DIRECTION_NAMES[group.labels.direction] || group.labels.direction] = group.rate

  return {
    connections: {
      headline: [{ id: 'connections-total', value: formatCount(total(current.connections)), label: 'open connections' }],
      rows: current.connections.map(function (group) {
        return { key: group.labels.route, series: group.labels.route, cells: [cell('route', group.labels.route), cell('open', formatCount(group.value))] }
      }),
      point: Object.fromEntries(current.connections.map(function (group) { return [group.labels.route, group.value] })),
    },
    handshakes: {
      headline: [
        { id: 'handshakes-rate', value: formatRate(sumRates(handshakes)), label: 'handshakes' },
        { id: 'handshakes-refused', value: formatCount(total(refused)), label: 'not upgraded (4xx, 5xx) in all' },
      ],
      rows: handshakes.map(function (group) {
        return {
          key: group.key,
          series: CLASS_NAMES[statusClass(group.labels.status)],
          cells: [cell('status', group.labels.status), cell('code', group.labels.code || '—'), cell('rate', formatRate(group.rate)), cell('total', formatCount(group.value))],
        }
      }),
      point: byClass,
    },
    refusals: {
      headline: [
        { id: 'waf-total', value: formatCount(total(wafBlocks)), label: 'WAF blocks' },
        { id: 'auth-total', value: formatCount(total(authFailures)), label: 'auth failures' },
      ],
      rows: refusalRows(wafBlocks, 'WAF', 'WAF blocks', 'rule_family').concat(refusalRows(authFailures, 'auth', 'auth failures', 'code')),
      point: { 'WAF blocks': sumRates(wafBlocks), 'auth failures': sumRates(authFailures) },
    },
    bytes: {
      headline: bytes.map(function (group) {
        return { id: 'bytes-' + group.labels.direction, value: formatBytesRate(group.rate), label: DIRECTION_NAMES[group.labels.direction] || group.labels.direction }
      }),
      rows: bytes.map(function (group) {
        const name = DIRECTION_NAMES[group.labels.direction] || group.labels.direction
        return { key: group.labels.direction, series: name, cells: [cell('direction', name), cell('rate', formatBytesRate(group.rate)), cell('total', formatBytes(group.value))] }
      }),
      point: directionPoint,
    },
    origins: {
      headline: [{ id: 'origins-up', value: upCount + ' of ' + current.origins.length, label: 'origins up' }],
      rows: current.origins.map(function (group) {
        const up = group.value > 0
        return { key: group.key, series: null, state: up ? 'up' : 'down', cells: [cell('route', group.labels.route), cell('origin', group.labels.origin), cell('state', up ? 'up' : 'down')] }
      }),
      point: current.origins.length === 0 ? {} : { up: upCount, down: current.origins.length - upCount },
    },
  }
}

/*
 * The lines of one chart from its points (oldest first): at most MAX_SERIES
 * names, sorted; with more, the largest now keep their own line and the rest
 * are summed into "other". max is a round number at or above every value,
 * by ceiling (niceCeiling unless given).
 */
function chartModel(points, ceiling) {
  const names = new Set()
  for (const point of points) for (const name of Object.keys(point)) names.add(name)
  const latest = points.length > 0 ? points[points.length - 1] : {}
  let kept = Array.from(names).sort()
  let other = []
  if (kept.length > MAX_SERIES) {
    const ranked = kept.slice().sort(function (a, b) { return (latest[b] || 0) - (latest[a] || 0) })
    kept = ranked.slice(0, MAX_SERIES - 1).sort()
    other = ranked.slice(MAX_SERIES - 1)
  }
  const lines = kept.map(function (name) {
    return { name: name, values: points.map(function (point) { return point[name] === undefined ? null : point[name] }) }
  })
  if (other.length > 0) {
    lines.push({
      name: 'other',
      values: points.map(function (point) {
        let sum = null
        for (const name of other) if (typeof point[name] === 'number') sum = (sum || 0) + point[name]
        return sum
      }),
    })
  }
  let largest = 0
  for (const line of lines) for (const value of line.values) if (typeof value === 'number' && Number.isFinite(value) && value > largest) largest = value
  return { lines: lines, max: (ceiling || niceCeiling)(largest) }
}

/* The smallest of 1, 2 or 5 × 10^n at or above x (1 for nothing to show): the chart's top. */
function niceCeiling(x) {
  if (!(x > 0)) return 1
  const power = Math.pow(10, Math.floor(Math.log10(x)))
  const fraction = x / power
  const step = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
  return step * power
}

/* niceCeiling in binary units, so that a bytes chart tops out at 200 KiB, not 195 KiB (200,000 bytes). */
function niceBytesCeiling(x) {
  let unit = 1
  while (x / unit >= 1024) unit *= 1024
  return niceCeiling(x / unit) * unit
}

/*
 * An SVG polyline's points for values (oldest first), the newest at the
 * right edge and HISTORY_POINTS spanning the width; nulls leave a gap by
 * splitting the line into runs: one "x,y x,y" string per run.
 */
function linePoints(values, max, width, height) {
  const step = width / (HISTORY_POINTS - 1)
  const runs = []
  let run = []
  values.forEach(function (value, index) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      if (run.length > 0) runs.push(run.join(' '))
      run = []
      return
    }
    const x = width - (values.length - 1 - index) * step
    const y = height - (Math.min(Math.max(value, 0), max) / max) * height
    run.push(round2(x) + ',' + round2(y))
  })
  if (run.length > 0) runs.push(run.join(' '))
  return runs
}

function round2(n) {
  return Math.round(n * 100) / 100
}

/* A count as text: 12,345. */
function formatCount(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n)
}

/* A number with about two significant figures beyond the units: 0.5, 12, 1.2 k, 3.4 M. */
function formatNumber(n) {
  const size = Math.abs(n)
  if (size === 0) return '0'
  if (size < 10) return String(Math.round(n * 10) / 10)
  /* 999.5 and up would round to 1000: written 1 k instead. */
  if (size < 999.5) return String(Math.round(n))
  const units = ['k', 'M', 'G', 'T']
  let scaled = n
  let unit = ''
  for (const next of units) {
    if (Math.abs(scaled) < 999.5) break
    scaled /= 1000
    unit = next
  }
  return (Math.abs(scaled) < 10 ? Math.round(scaled * 10) / 10 : Math.round(scaled)) + ' ' + unit
}

/* A per-second rate with its unit, or a dash before the second reading. */
function formatRate(n) {
  return n === null || n === undefined ? '—' : formatNumber(n) + '/s'
}

/* Bytes in binary units: 512 B, 1.5 KiB, 20 MiB. */
function formatBytes(n) {
  if (!Number.isFinite(n)) return String(n)
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let scaled = n
  let index = 0
  while (Math.abs(scaled) >= 1024 && index < units.length - 1) {
    scaled /= 1024
    index++
  }
  const shown = index === 0 ? Math.round(scaled) : Math.abs(scaled) < 10 ? Math.round(scaled * 10) / 10 : Math.round(scaled)
  return shown + ' ' + units[index]
}

/* Bytes per second, or a dash before the second reading. */
function formatBytesRate(n) {
  return n === null || n === undefined ? '—' : formatBytes(n) + '/s'
}

/* An age in the two largest units that matter: 850 ms, 12 s, 3 min 4 s, 2 h 5 min, 3 d 4 h. */
function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—'
  if (ms < 1000) return Math.round(ms) + ' ms'
  const seconds = Math.floor(ms / 1000)
  if (seconds < 60) return seconds + ' s'
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return minutes + ' min ' + (seconds % 60) + ' s'
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return hours + ' h ' + (minutes % 60) + ' min'
  return Math.floor(hours / 24) + ' d ' + (hours % 24) + ' h'
}

/*
 * The admin token of a location.hash such as "#token=abc", or null. Read by
 * hand, not with URLSearchParams, which would turn a base64 "+" into a space.
 */
function tokenFromHash(hash) {
  for (const part of hash.replace(/^#/, '').split('&')) {
    if (part.slice(0, 6) !== 'token=') continue
    try {
      const token = decodeURIComponent(part.slice(6))
      return token === '' ? null : token
    } catch (error) {
      return null
    }
  }
  return null
}
`

/**
 * The dashboard's browser side, as JavaScript text run after
 * {@link DASHBOARD_LIBRARY}: builds the panels, polls `./metrics` and
 * `./connections` every second (relative URLs, so the page also works behind
 * a proxy that mounts the admin listener under a path), sends the admin
 * token as `Authorization: Bearer` (taken from `#token=…`, then kept in the
 * tab's sessionStorage and removed from the address bar), and closes a
 * connection with `DELETE ./connections/:id`.
 *
 * @example
 * ```ts
 * const page = `<script>${DASHBOARD_LIBRARY}\n${DASHBOARD_APP}</script>`
 * ```
 */
export const DASHBOARD_APP = String.raw`
/* One reading a second: the rates are per second, and a human watching wants no more. */
const REFRESH_MS = 1000
/*
 * Rates are taken over the last five readings: over one second, counters
 * that move by a handshake or two zig-zag between 0 and 2/s.
 */
const RATE_WINDOW = 5
/* Rows of the connection table per page. */
const PAGE_SIZE = 50
const TOKEN_KEY = 'wsgate.adminToken'
const SVG_NS = 'http://www.w3.org/2000/svg'
const CHART_WIDTH = 300
const CHART_HEIGHT = 80

/*
 * The panels in page order. scale writes a chart value with its unit; rates
 * marks a panel of per-second rates; each column is [heading, the
 * data-column of its cells] (buildView's cell names).
 */
const PANELS = [
  { id: 'connections', title: 'Open connections', scale: function (n) { return formatCount(n) + ' open' }, columns: [['route', 'route'], ['open', 'open']], empty: 'No connection yet.' },
  { id: 'handshakes', rates: true, title: 'Handshakes per second', scale: formatRate, columns: [['status', 'status'], ['code', 'code'], ['per second', 'rate'], ['total', 'total']], empty: 'No handshake yet.' },
  { id: 'refusals', rates: true, title: 'WAF and auth refusals', scale: formatRate, columns: [['kind', 'kind'], ['route', 'route'], ['rule family or code', 'reason'], ['per second', 'rate'], ['total', 'total']], empty: 'Nothing refused yet.' },
  { id: 'bytes', rates: true, title: 'Bytes per second', scale: formatBytesRate, ceiling: niceBytesCeiling, columns: [['direction', 'direction'], ['per second', 'rate'], ['total', 'total']], empty: 'No byte relayed yet.' },
  { id: 'origins', title: 'Origin health', scale: function (n) { return formatCount(n) + (n === 1 ? ' origin' : ' origins') }, columns: [['route', 'route'], ['origin', 'origin'], ['state', 'state']], empty: 'No origin reported yet.' },
]

const state = {
  token: null,
  /* The last RATE_WINDOW readings, { reading, at }, oldest first. */
  readings: [],
  histories: {},
  offset: 0,
  tableRequests: 0,
  timer: 0,
}

function element(tag, attributes, children) {
  const node = document.createElement(tag)
  for (const name of Object.keys(attributes || {})) {
    if (name === 'text') node.textContent = attributes[name]
    else node.setAttribute(name, attributes[name])
  }
  for (const child of children || []) node.append(child)
  return node
}

function svgElement(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag)
  for (const name of Object.keys(attributes)) node.setAttribute(name, attributes[name])
  return node
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text
}

/* Builds one panel: heading, headline figures, chart with its scale, table. */
function buildPanel(panel) {
  const headingId = 'h-' + panel.id
  const chart = svgElement('svg', { viewBox: '0 0 ' + CHART_WIDTH + ' ' + CHART_HEIGHT, preserveAspectRatio: 'none', role: 'img', class: 'chart' })
  const header = element('tr', {}, panel.columns.map(function (column) { return element('th', { scope: 'col', 'data-column': column[1], text: column[0] }) }))
  const section = element('section', { class: 'panel', id: 'panel-' + panel.id, 'aria-labelledby': headingId }, [
    element('h2', { id: headingId, text: panel.title }),
    element('p', { class: 'headline' }),
    element('figure', {}, [
      chart,
      element('figcaption', { class: 'scale' }, [element('span', { class: 'top' }), element('span', { text: panel.rates ? 'last 2 min, rates over ' + RATE_WINDOW + ' s' : 'last 2 min' })]),
    ]),
    element('table', { class: 'figures' }, [
      element('caption', { class: 'visually-hidden', text: panel.title + ': now' }),
      element('thead', {}, [header]),
      element('tbody'),
    ]),
  ])
  state.histories[panel.id] = []
  return section
}

function renderHeadline(container, figures) {
  const wanted = figures.map(function (figure) { return figure.id })
  for (const child of Array.from(container.children)) if (wanted.indexOf(child.dataset.figure) < 0) child.remove()
  figures.forEach(function (figure, index) {
    let node = container.querySelector('[data-figure="' + figure.id + '"]')
    if (!node) {
      node = element('span', { class: 'figure', 'data-figure': figure.id }, [element('span', { class: 'value' }), ' ', element('span', { class: 'label' })])
    }
    if (container.children[index] !== node) container.insertBefore(node, container.children[index] || null)
    setText(node.querySelector('.value'), figure.value)
    setText(node.querySelector('.label'), figure.label)
  })
}

/* Keyed update of a table body, so a row keeps its nodes (and focus) from one second to the next. */
function renderRows(tbody, rows, columns, emptyText, renderRow) {
  if (rows.length === 0) {
    if (!tbody.querySelector('.empty')) tbody.replaceChildren(element('tr', { class: 'empty' }, [element('td', { colspan: String(columns), text: emptyText })]))
    return
  }
  const existing = new Map()
  for (const row of Array.from(tbody.children)) {
    if (row.dataset.key === undefined) row.remove()
    else existing.set(row.dataset.key, row)
  }
  rows.forEach(function (row, index) {
    let node = existing.get(row.key)
    existing.delete(row.key)
    if (!node) {
      node = element('tr')
      node.dataset.key = row.key
    }
    renderRow(node, row)
    if (tbody.children[index] !== node) tbody.insertBefore(node, tbody.children[index] || null)
  })
  for (const node of existing.values()) node.remove()
}

function renderCells(tr, cells) {
  cells.forEach(function (cell, index) {
    let node = tr.children[index]
    if (!node) {
      node = element(index === 0 ? 'th' : 'td', index === 0 ? { scope: 'row' } : {})
      node.dataset.column = cell.column
      tr.append(node)
    }
    setText(node, cell.text)
  })
}

function renderChart(panel, section, history) {
  const model = chartModel(history, panel.ceiling)
  const svg = section.querySelector('svg')
  const shapes = []
  for (const fraction of [0.5, 1]) {
    const y = String(CHART_HEIGHT - fraction * CHART_HEIGHT + 0.5)
    shapes.push(svgElement('line', { x1: '0', x2: String(CHART_WIDTH), y1: y, y2: y, class: 'grid' }))
  }
  const legend = {}
  model.lines.forEach(function (line, index) {
    legend[line.name] = index
    for (const points of linePoints(line.values, model.max, CHART_WIDTH, CHART_HEIGHT)) {
      shapes.push(svgElement('polyline', { points: points, class: 'line s' + index, 'vector-effect': 'non-scaling-stroke' }))
    }
  })
  svg.replaceChildren.apply(svg, shapes)
  const now = model.lines.map(function (line) {
    const value = line.values[line.values.length - 1]
    return line.name + ' ' + (typeof value === 'number' ? panel.scale(value) : 'no reading yet')
  })
  svg.setAttribute('aria-label', panel.title + ' over the last 2 minutes, scale 0 to ' + panel.scale(model.max) + (now.length > 0 ? '; now ' + now.join(', ') : ''))
  setText(section.querySelector('.scale .top'), 'top line ' + panel.scale(model.max))
  return legend
}

function renderPanel(panel, view) {
  const section = document.getElementById('panel-' + panel.id)
  const points = state.histories[panel.id]
  points.push(view.point)
  if (points.length > HISTORY_POINTS) points.shift()
  renderHeadline(section.querySelector('.headline'), view.headline)
  const legend = renderChart(panel, section, points)
  renderRows(section.querySelector('tbody'), view.rows, panel.columns.length, panel.empty, function (tr, row) {
    renderCells(tr, row.cells)
    const first = tr.children[0]
    const index = row.series === null ? undefined : legend[row.series] === undefined ? legend.other : legend[row.series]
    first.className = index === undefined ? '' : 'swatch s' + index
    if (row.state) tr.className = 'state-' + row.state
  })
}

function authHeaders() {
  return state.token ? { Authorization: 'Bearer ' + state.token } : {}
}

/* A GET of one admin endpoint; an error names the path and status. */
async function get(path) {
  const response = await fetch(path, { headers: authHeaders(), cache: 'no-store' })
  if (!response.ok) {
    const error = new Error(path.replace(/^\.\//, '/').replace(/\?.*$/, '') + ': HTTP ' + response.status + ' ' + response.statusText)
    error.status = response.status
    throw error
  }
  return response
}

function connectionCells(connection) {
  return [
    cell('id', String(connection.id)),
    cell('route', connection.route || '—'),
    cell('origin', connection.origin || '—'),
    cell('client', connection.client || '—'),
    cell('subject', connection.subject || '—'),
    cell('age', formatDuration(connection.ageMs)),
    cell('from-client', formatBytes(connection.bytesFromClient)),
    cell('from-origin', formatBytes(connection.bytesFromOrigin)),
  ]
}

async function closeConnection(id, button) {
  button.disabled = true
  button.textContent = 'Closing…'
  try {
    const response = await fetch('./connections/' + encodeURIComponent(id), { method: 'DELETE', headers: authHeaders() })
    if (response.status !== 204 && response.status !== 404) throw new Error('closing connection ' + id + ': HTTP ' + response.status)
    showProblem('')
  } catch (error) {
    button.disabled = false
    button.textContent = 'Close'
    showProblem(error.message)
  }
  reloadTable()
}

function renderConnections(page) {
  const tbody = document.querySelector('#connections tbody')
  const rows = page.connections.map(function (connection) { return { key: String(connection.id), connection: connection } })
  renderRows(tbody, rows, 9, 'No open connection.', function (tr, row) {
    renderCells(tr, connectionCells(row.connection))
    if (tr.children.length === 8) {
      const button = element('button', { type: 'button', class: 'close', text: 'Close', 'aria-label': 'Close connection ' + row.key })
      button.addEventListener('click', function () { closeConnection(row.key, button) })
      tr.append(element('td', {}, [button]))
    }
  })
  const first = page.total === 0 ? 0 : state.offset + 1
  const last = state.offset + page.connections.length
  setText(document.getElementById('connections-count'), formatCount(page.total) + ' open')
  setText(document.getElementById('page-info'), page.total === 0 ? '' : 'rows ' + first + '–' + last + ' of ' + formatCount(page.total))
  document.getElementById('previous-page').disabled = state.offset === 0
  document.getElementById('next-page').disabled = last >= page.total
  if (page.total > 0 && state.offset >= page.total) {
    state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE)
    reloadTable()
  }
}

function showProblem(text) {
  setText(document.getElementById('problem'), text)
}

/* Shows what failed, and the token form when an endpoint answered 401. */
function reportProblems(errors) {
  const unauthorized = errors.some(function (error) { return error.status === 401 })
  document.getElementById('token-form').hidden = !unauthorized
  showProblem(errors.map(function (error) { return String(error && error.message || error) }).join('; ') + (unauthorized ? ' (this admin listener needs its token: open /#token=… or enter it below)' : ''))
}

/*
 * Fetches and draws one page of the connection table. Also run on its own
 * after a Close or a page change, so it numbers its requests and draws only
 * the latest answer: an older one arriving late must not bring a closed
 * connection back.
 */
async function loadTable() {
  const sequence = ++state.tableRequests
  const response = await get('./connections?limit=' + PAGE_SIZE + '&offset=' + state.offset)
  const page = await response.json()
  if (sequence === state.tableRequests) renderConnections(page)
}

/*
 * One reading: /metrics for the panels and the table, every REFRESH_MS. Only
 * this loop reads /metrics, so rates are always taken over about a second,
 * never over the few milliseconds between a Close and the next reading.
 */
async function refresh() {
  clearTimeout(state.timer)
  const started = Date.now()
  try {
    const results = await Promise.allSettled([get('./metrics').then(function (response) { return response.text() }), loadTable()])
    reportProblems(results.filter(function (result) { return result.status === 'rejected' }).map(function (result) { return result.reason }))
    if (results[0].status === 'fulfilled') {
      const now = Date.now()
      const reading = readMetrics(parseMetrics(results[0].value))
      const oldest = state.readings[0]
      const view = buildView(oldest ? oldest.reading : null, reading, oldest ? (now - oldest.at) / 1000 : 0)
      state.readings.push({ reading: reading, at: now })
      if (state.readings.length > RATE_WINDOW) state.readings.shift()
      for (const panel of PANELS) renderPanel(panel, view[panel.id])
      setText(document.getElementById('updated'), 'updated ' + new Date(now).toLocaleTimeString())
    }
  } catch (error) {
    reportProblems([error])
  } finally {
    /* A refresh started by the token form may overlap the loop's: the later to end sets the one timer. */
    clearTimeout(state.timer)
    state.timer = setTimeout(refresh, Math.max(0, REFRESH_MS - (Date.now() - started)))
  }
}

/* Redraws the table now (after a Close or a page change), reporting a failure. */
function reloadTable() {
  loadTable().catch(function (error) { reportProblems([error]) })
}

function start() {
  const fromHash = tokenFromHash(location.hash)
  if (fromHash !== null) {
    state.token = fromHash
    try { sessionStorage.setItem(TOKEN_KEY, fromHash) } catch (error) { /* storage off: the token lives as long as the page */ }
    history.replaceState(null, '', location.pathname + location.search)
  } else {
    try { state.token = sessionStorage.getItem(TOKEN_KEY) } catch (error) { state.token = null }
  }
  const panels = document.getElementById('panels')
  for (const panel of PANELS) panels.append(buildPanel(panel))
  document.getElementById('token-form').addEventListener('submit', function (event) {
    event.preventDefault()
    const input = document.getElementById('token-input')
    state.token = input.value || null
    input.value = ''
    try { sessionStorage.setItem(TOKEN_KEY, state.token || '') } catch (error) { /* see above */ }
    refresh()
  })
  document.getElementById('previous-page').addEventListener('click', function () {
    state.offset = Math.max(0, state.offset - PAGE_SIZE)
    reloadTable()
  })
  document.getElementById('next-page').addEventListener('click', function () {
    state.offset += PAGE_SIZE
    reloadTable()
  })
  refresh()
}

start()
`
