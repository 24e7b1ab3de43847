#!/usr/bin/env node
// The `wsgate` command. A checkout of the repository runs the TypeScript
// sources directly (Node >= 22.18 strips types), so a stale dist/ never hides
// an edit; an installed package has no src/ and runs its compiled JavaScript
// (Node does not strip types under node_modules).
import { existsSync } from 'node:fs'

// package.json "engines": Node strips the types of a .ts routes module from 22.18 on. An older Node would fail later
// and elsewhere ('Unknown file extension ".ts"'), never saying that the Node is the problem.
const MINIMUM_NODE = [22, 18]
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < MINIMUM_NODE[0] || (major === MINIMUM_NODE[0] && minor < MINIMUM_NODE[1])) {
  console.error(`wsgate: needs Node.js ${MINIMUM_NODE.join('.')} or later (it runs a .ts routes module by stripping its types); this is v${process.versions.node} (${process.execPath})`)
  process.exit(1)
}

const root = existsSync(new URL('../src/node/cli.ts', import.meta.url)) ? '../src/' : '../dist/src/'
const extension = root === '../src/' ? 'ts' : 'js'

// `wsgate start` runs with V8's young generation capped (DEFAULT_SEMI_SPACE_MIB: why, in src/defaults.ts).
// Node reads the flag at start only: re-execute once with it, same PID, unless it is set already.
if (process.argv[2] === 'start' && typeof process.execve === 'function') {
  const flag = '--max-semi-space-size'
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((arg) => arg.startsWith(flag))
  if (!given) {
    const { DEFAULT_SEMI_SPACE_MIB } = await import(new URL(`${root}defaults.${extension}`, import.meta.url).href)
    process.execve(process.execPath, [process.execPath, `${flag}=${DEFAULT_SEMI_SPACE_MIB}`, ...process.execArgv, ...process.argv.slice(1)], process.env)
  }
}

const { main } = await import(new URL(`${root}node/cli.${extension}`, import.meta.url).href)
try {
  await main(process.argv.slice(2))
} catch (error) {
  console.error(`wsgate: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
