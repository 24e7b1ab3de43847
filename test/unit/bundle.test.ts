/**
 * The module graph as a Workers bundler sees it (esbuild, configured as
 * wrangler runs it; bench/bundle-size.ts): a route whose chain has no
 * `waf()` leaves the WAF out even when every name comes from the root
 * `wsgate`, and each portable subpath of package.json "exports" bundles
 * without Node. Presence and absence only: sizes are the benchmark's.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bundleEntries, keepsWaf, ROUTE_MODULES, type Bundle } from '../../bench/bundle-size.ts'

const root = join(import.meta.dirname, '..', '..')

/** Strings found only in the WAF's code: the embedded baseline's component signature and the SecLang parser's error name. */
const WAF_STRINGS = ['wsgate-baseline/1', 'SecLangSyntaxError']

/**
 * Subpaths not bundled alone here: `./node` is the Node host (it imports
 * `node:` modules by design) and `./workers` the Workers host, which the
 * route modules above bundle as a Worker's entry.
 */
const RUNTIME_SUBPATHS = ['./node', './workers']

/** Which WAF strings the bundle's code holds. */
function wafStrings(bundle: Bundle): string[] {
  return WAF_STRINGS.filter((text) => bundle.code.includes(text))
}

describe('bundles of the portable chain', () => {
  it('leave the WAF out of routes whose chain has no waf(), though every name is imported from the root, and keep it in those with waf()', async () => {
    const bundles = await bundleEntries(Object.fromEntries(ROUTE_MODULES.map((route) => [route.label, route.source])))
    // Both kinds are bundled, so the checks can fail: (a) websocket() … (d) + waf(), and the Workers entry without and with it.
    expect(ROUTE_MODULES.filter((route) => route.waf).length).toBeGreaterThan(0)
    expect(ROUTE_MODULES.filter((route) => !route.waf).map((route) => route.label)).toEqual(expect.arrayContaining(['(a) websocket()', '(b) + jwtAuth()']))
    for (const route of ROUTE_MODULES) {
      const bundle = bundles[route.label]!
      expect(bundle.inputs, route.label).toContain('src/websocket.ts')
      expect(keepsWaf(bundle), `${route.label} keeps ${bundle.inputs.filter((input) => input.startsWith('middleware/waf/')).join(', ') || 'no module of middleware/waf/'}`).toBe(route.waf)
      expect(wafStrings(bundle), route.label).toEqual(route.waf ? WAF_STRINGS : [])
    }
    expect(bundles['(b) + jwtAuth()']!.inputs).toContain('middleware/jwt-auth/index.ts')
  })

  it('bundle every portable subpath of package.json "exports" without Node, and only the root and wsgate/waf carry the WAF', async () => {
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }
    const subpaths = Object.keys(manifest.exports).filter((subpath) => !RUNTIME_SUBPATHS.includes(subpath))
    expect(subpaths).toEqual(expect.arrayContaining(['.', './origins', './normalize-headers', './origin-check', './cache-bypass', './cache', './jwt-auth', './rate-limit', './waf']))
    // `export *` keeps every export of the subpath: what a bundle of all of it holds.
    const specifier = (subpath: string): string => `wsgate${subpath.slice(1)}`
    const bundles = await bundleEntries(Object.fromEntries(subpaths.map((subpath) => [subpath, `export * from '${specifier(subpath)}'\n`])))
    for (const subpath of subpaths) {
      const bundle = bundles[subpath]!
      const carriesWaf = subpath === '.' || subpath === './waf'
      expect(keepsWaf(bundle), specifier(subpath)).toBe(carriesWaf)
      expect(wafStrings(bundle), specifier(subpath)).toEqual(carriesWaf ? WAF_STRINGS : [])
    }
  })
})
