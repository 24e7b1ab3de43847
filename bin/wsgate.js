#!/usr/bin/env node
// The `wsgate` command. An installed package runs its compiled JavaScript
// (Node does not strip types under node_modules); a checkout of the
// repository runs the TypeScript sources directly on Node >= 22.18.
import { existsSync } from 'node:fs'

const compiled = new URL('../dist/src/node/cli.js', import.meta.url)
const source = new URL('../src/node/cli.ts', import.meta.url)
const { main } = await import(existsSync(compiled) ? compiled.href : source.href)
try {
  await main(process.argv.slice(2))
} catch (error) {
  console.error(`wsgate: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
