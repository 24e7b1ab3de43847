import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')

/**
 * Packages the portable chain may import: they run on any runtime with
 * Web-standard Request/Response (Node, Workers, Deno, Bun). Everything that
 * touches sockets or the process lives under src/node/.
 */
const PORTABLE_PACKAGES = ['hono', 'jose', 'ipaddr.js', 'lru-cache']

/** Every .ts file under `dir`, recursively, except those under `exclude`. */
async function sources(dir: string, exclude?: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true }).catch(() => [])
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .filter((file) => !exclude || !file.startsWith(exclude))
}

/** Module specifiers of every static import, export-from and dynamic import in a source text. */
function specifiers(text: string): string[] {
  const found: string[] = []
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) {
    found.push((match[1] ?? match[2] ?? match[3])!)
  }
  return found
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

describe('the portable chain', () => {
  it('finds the import statements it checks (so an empty scan cannot pass)', () => {
    expect(specifiers(`import { a } from 'hono'\nimport type { B } from './b.ts'\nexport { c } from "node:fs"\nconst d = await import('jose')`)).toEqual([
      'hono',
      './b.ts',
      'node:fs',
      'jose',
    ])
  })

  it('imports no node: module and no Node-only package outside src/node/', async () => {
    const files = [...(await sources('src', 'src/node/')), ...(await sources('middleware'))]
    expect(files.length).toBeGreaterThan(5)
    const offenders: string[] = []
    for (const file of files) {
      for (const specifier of specifiers(await readFile(join(root, file), 'utf8'))) {
        if (specifier.startsWith('.')) {
          if (specifier.includes('/node/')) offenders.push(`${file}: ${specifier}`)
          continue
        }
        if (!PORTABLE_PACKAGES.includes(packageOf(specifier))) offenders.push(`${file}: ${specifier}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it('never reaches Node by itself outside src/node/ (no getBuiltinModule, require or process): Node-only parts are injected', async () => {
    const files = [...(await sources('src', 'src/node/')), ...(await sources('middleware'))]
    const offenders: string[] = []
    for (const file of files) {
      // Code only: comments may name what is injected and why.
      const code = (await readFile(join(root, file), 'utf8')).replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, '')
      for (const match of code.matchAll(/\bgetBuiltinModule\b|\brequire\s*\(|\bprocess\s*[.?[]/g)) offenders.push(`${file}: ${match[0]}`)
    }
    expect(offenders).toEqual([])
  })
})
