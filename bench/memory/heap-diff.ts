/**
 * Compares two V8 heap snapshots by constructor: how many objects of each
 * kind the second holds beyond the first, and their self size, divided by
 * a connection count. Run on the snapshots `bench/memory/idle.ts --snapshot`
 * writes before and after opening its idle connections:
 *
 *   node bench/memory/heap-diff.ts before.heapsnapshot after.heapsnapshot 2000 [top]
 */
import { readFileSync } from 'node:fs'

/** The parts of a `.heapsnapshot` file this reads. */
interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

/** Per kind (`type:name`): objects and bytes of self size. */
export type HeapCensus = Map<string, { count: number; bytes: number }>

/** Counts a snapshot's objects by type and constructor (closures by function name, strings and arrays by type). */
export function census(path: string): HeapCensus {
  const snapshot = JSON.parse(readFileSync(path, 'utf8')) as Snapshot
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const result: HeapCensus = new Map()
  const { nodes, strings } = snapshot
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!
    // Strings and numbers are named by their content: counted by type alone.
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'code' || type === 'object shape'
    const key = named ? `${type}:${strings[nodes[i + nameAt]!]!.slice(0, 60)}` : type
    const entry = result.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += nodes[i + sizeAt]!
    result.set(key, entry)
  }
  return result
}

/** The kinds that grew from `before` to `after`, per unit of `per`, largest first. */
export function diff(before: HeapCensus, after: HeapCensus, per: number): { kind: string; count: number; bytes: number }[] {
  const rows: { kind: string; count: number; bytes: number }[] = []
  for (const [kind, { count, bytes }] of after) {
    const was = before.get(kind) ?? { count: 0, bytes: 0 }
    rows.push({ kind, count: (count - was.count) / per, bytes: (bytes - was.bytes) / per })
  }
  return rows.sort((a, b) => b.bytes - a.bytes)
}

if (import.meta.main) {
  const [beforePath, afterPath, perText = '1', topText = '40'] = process.argv.slice(2)
  if (!beforePath || !afterPath) throw new TypeError('usage: heap-diff.ts before.heapsnapshot after.heapsnapshot [per] [top]')
  const per = Number(perText)
  const rows = diff(census(beforePath), census(afterPath), per)
  const total = rows.reduce((sum, row) => sum + row.bytes, 0)
  console.log(`heap self size per unit: ${total.toFixed(0)} B (${per} units)`)
  for (const row of rows.slice(0, Number(topText))) {
    if (Math.abs(row.bytes) < 1) continue
    console.log(`${row.bytes.toFixed(1).padStart(9)} B  ${row.count.toFixed(2).padStart(7)} ×  ${row.kind}`)
  }
}
