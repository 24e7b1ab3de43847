/**
 * The admin listener's dashboard: `GET /` answers one self-contained HTML
 * page (inline style and script, nothing from a CDN, no build step) that
 * polls the listener's own `/metrics` and `/connections` every second and
 * draws connections per route, handshake outcomes, WAF and auth refusals,
 * bytes per second and origin health, with the live connection table and a
 * Close button per row (`DELETE /connections/:id`).
 *
 * The page is a string constant of this module, not a `.html` file beside
 * it: `tsc` copies no `.html` to `dist/`, and the package ships `dist/src/`.
 */
import { createHash } from 'node:crypto'
import { DASHBOARD_APP, DASHBOARD_LIBRARY } from './dashboard-script.ts'

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --panel: #fff; --fg: #1b1f24; --muted: #57606a; --rule: #d0d7de; --grid: #e4e8ec; --bad: #b3261e; --good: #1a7f37;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --panel: #161b22; --fg: #e6edf3; --muted: #9da7b3; --rule: #30363d; --grid: #262c34; --bad: #ff7b72; --good: #3fb950; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1rem; padding: .75rem 1.25rem; border-bottom: 1px solid var(--rule); background: var(--panel); }
h1 { font-size: 1.15rem; margin: 0; }
h2 { font-size: .95rem; margin: 0 0 .35rem; }
#updated { color: var(--muted); margin: 0; font-variant-numeric: tabular-nums; }
#problem { color: var(--bad); margin: 0; font-weight: 600; }
#problem:empty { display: none; }
main { padding: 1rem 1.25rem 2rem; }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: 0 0 1rem; }
form[hidden] { display: none; }
input { font: inherit; padding: .25rem .4rem; }
button { font: inherit; padding: .15rem .6rem; cursor: pointer; }
button:disabled { cursor: default; }
#panels { display: grid; grid-template-columns: repeat(auto-fill, minmax(24rem, 1fr)); gap: 1rem; }
.panel, .connections { background: var(--panel); border: 1px solid var(--rule); border-radius: 6px; padding: .75rem .9rem; }
.headline { display: flex; flex-wrap: wrap; gap: .2rem 1rem; margin: 0 0 .4rem; min-height: 1.6em; }
.figure .value { font-size: 1.35rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.figure .label { color: var(--muted); }
figure { margin: 0; }
.chart { display: block; width: 100%; height: 5rem; border-bottom: 1px solid var(--rule); }
.chart .grid { stroke: var(--grid); stroke-width: 1; vector-effect: non-scaling-stroke; }
.chart .line { fill: none; stroke: var(--c); stroke-width: 2; stroke-linejoin: round; }
.scale { display: flex; justify-content: space-between; color: var(--muted); font-size: .8rem; margin: .15rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .2rem .6rem .2rem 0; border-bottom: 1px solid var(--grid); vertical-align: top; overflow-wrap: break-word; }
th:last-child, td:last-child { padding-right: 0; }
thead th { color: var(--muted); font-weight: 500; font-size: .8rem; }
[data-column=open], [data-column=rate], [data-column=total], [data-column=age], [data-column=from-client], [data-column=from-origin] { text-align: right; white-space: nowrap; }
tbody th { font-weight: 500; }
.swatch { white-space: nowrap; }
.empty td { color: var(--muted); }
.swatch::before { content: ""; display: inline-block; width: .7em; height: .7em; margin-right: .4em; border-radius: 2px; background: var(--c); }
.s0 { --c: #0072b2; } .s1 { --c: #e69f00; } .s2 { --c: #009e73; } .s3 { --c: #cc79a7; } .s4 { --c: #56b4e9; } .s5 { --c: #d55e00; }
.state-down td[data-column=state] { color: var(--bad); font-weight: 600; }
.state-up td[data-column=state] { color: var(--good); }
.connections { margin-top: 1rem; }
.table-scroll { overflow-x: auto; }
.connections table { min-width: 50rem; }
.connections h2 span { color: var(--muted); font-weight: 400; }
nav { display: flex; gap: .75rem; align-items: center; margin-top: .5rem; color: var(--muted); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`

const SCRIPT = `${DASHBOARD_LIBRARY}\n${DASHBOARD_APP}`

/**
 * The dashboard page: UTF-8 HTML with its style and script inline. It
 * fetches nothing but `./metrics`, `./connections` and
 * `DELETE ./connections/:id` on the listener that served it.
 *
 * @example
 * ```ts
 * adminApp.get('/', (c) => c.html(DASHBOARD_HTML))   // without the CSP: use dashboard() instead
 * ```
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>wsgate dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>wsgate dashboard</h1>
<p id="updated">waiting for the first reading…</p>
<p id="problem" role="status"></p>
</header>
<main>
<form id="token-form" hidden>
<label for="token-input">Admin token</label>
<input id="token-input" type="password" autocomplete="off" spellcheck="false">
<button type="submit">Use token</button>
</form>
<div id="panels"></div>
<section class="connections" aria-labelledby="h-connections-table">
<h2 id="h-connections-table">Live connections <span id="connections-count"></span></h2>
<div class="table-scroll">
<table id="connections">
<caption class="visually-hidden">Open WebSocket connections, one row each, with a button to close it</caption>
<thead><tr><th scope="col">id</th><th scope="col">route</th><th scope="col">origin</th><th scope="col">client</th><th scope="col">subject</th><th scope="col" data-column="age">age</th><th scope="col" data-column="from-client">bytes from client</th><th scope="col" data-column="from-origin">bytes from origin</th><th scope="col"><span class="visually-hidden">action</span></th></tr></thead>
<tbody></tbody>
</table>
</div>
<nav aria-label="Connection table pages"><button type="button" id="previous-page" disabled>Previous</button><span id="page-info"></span><button type="button" id="next-page" disabled>Next</button></nav>
</section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`

/** A CSP hash source for an inline element's text: CSP hashes its UTF-8 bytes. */
function hashSource(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
}

/**
 * The page's `Content-Security-Policy`: nothing loads by default; the one
 * inline script and style element run because their SHA-256 hashes are
 * listed (no `'unsafe-inline'`, so an injected element or attribute would
 * not); fetches go to the page's own origin only; no frame may embed it
 * (the Close buttons must not be clickjacked), no form posts anywhere.
 *
 * @example
 * ```ts
 * // A proxy in front of the admin listener must pass the header through unchanged.
 * expect(response.headers.get('content-security-policy')).toBe(DASHBOARD_CONTENT_SECURITY_POLICY)
 * ```
 */
export const DASHBOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${hashSource(SCRIPT)}`,
  `style-src ${hashSource(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/**
 * The response headers of the page: its type, the CSP, no caching, no
 * sniffing, no referrer, no framing.
 *
 * @example
 * ```ts
 * http.createServer((request, response) => response.writeHead(200, DASHBOARD_HEADERS).end(DASHBOARD_HTML))
 * ```
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': DASHBOARD_CONTENT_SECURITY_POLICY,
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
})

/**
 * A handler answering the dashboard page with {@link DASHBOARD_HEADERS}. It
 * reads nothing of the request, so it fits a Hono route (`HEAD` included, as
 * Hono answers it from the `GET` route) or any fetch-style server. The page
 * holds no secret and is served without the admin token; the endpoints it
 * polls ask for the token it sends.
 *
 * @example
 * ```ts
 * const admin = new Hono()
 * admin.get('/', dashboard())
 * ```
 */
export function dashboard(): () => Response {
  const body = new TextEncoder().encode(DASHBOARD_HTML)
  return function dashboard() {
    return new Response(body, { headers: DASHBOARD_HEADERS })
  }
}
