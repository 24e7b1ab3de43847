#!/usr/bin/env node
// The `wsgate` command. A checkout of the repository runs the TypeScript
// sources directly (Node >= 22.18 strips types), so a stale dist/ never hides
// an edit; an installed package has no src/ and runs its compiled JavaScript
// (Node does not strip types under node_modules).
import { existsSync } from 'node:fs'

const source = new URL('../src/node/cli.ts', import.meta.url)
const compiled = new URL('../dist/src/node/cli.js', import.meta.url)
const { main } = await import(existsSync(source) ? source.href : compiled.href)
try {
  await main(process.argv.slice(2))
} catch (error) {
  console.error(`wsgate: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
