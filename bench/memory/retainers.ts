/**
 * Why objects of a kind are alive: for a few objects named `name` in a heap
 * snapshot, the shortest path of strong references from the GC roots to
 * each, as `Constructor.edge → Constructor.edge → …`. Used to find what an
 * idle connection keeps from its handshake.
 *
 *   node bench/memory/retainers.ts after.heapsnapshot NodeGatewayRuntime [samples]
 */
import { readFileSync } from 'node:fs'

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

const [path, wanted, samplesText = '3'] = process.argv.slice(2)
if (!path || !wanted) throw new TypeError('usage: retainers.ts file.heapsnapshot ConstructorName [samples]')
const snapshot = JSON.parse(readFileSync(path, 'utf8')) as Snapshot
const { meta } = snapshot.snapshot
const nodeWidth = meta.node_fields.length
const edgeWidth = meta.edge_fields.length
const nodeTypes = meta.node_types[0]
const edgeTypes = meta.edge_types[0]
const { nodes, edges, strings } = snapshot
const nodeCount = nodes.length / nodeWidth
const typeAt = meta.node_fields.indexOf('type')
const nameAt = meta.node_fields.indexOf('name')
const edgeCountAt = meta.node_fields.indexOf('edge_count')
const edgeTypeAt = meta.edge_fields.indexOf('type')
const edgeNameAt = meta.edge_fields.indexOf('name_or_index')
const edgeToAt = meta.edge_fields.indexOf('to_node')

const firstEdge = new Uint32Array(nodeCount + 1)
for (let n = 0, e = 0; n < nodeCount; n++) {
  firstEdge[n] = e
  e += nodes[n * nodeWidth + edgeCountAt]! * edgeWidth
  firstEdge[n + 1] = e
}
const nameOf = (n: number): string => `${nodeTypes[nodes[n * nodeWidth + typeAt]!]}:${strings[nodes[n * nodeWidth + nameAt]!]!.slice(0, 50)}`
const edgeLabel = (e: number): string => {
  const type = edgeTypes[edges[e + edgeTypeAt]!]!
  const name = edges[e + edgeNameAt]!
  // Indices are left out so that paths through different slots of one array group together.
  return type === 'element' || type === 'hidden' ? '[]' : `.${strings[name]}`
}

// Breadth-first from the root over strong edges: the first path found to a node is a shortest one.
const parent = new Int32Array(nodeCount).fill(-1)
const parentEdge = new Int32Array(nodeCount).fill(-1)
parent[0] = 0
let queue = [0]
while (queue.length > 0) {
  const next: number[] = []
  for (const n of queue) {
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += edgeWidth) {
      const type = edgeTypes[edges[e + edgeTypeAt]!]
      if (type === 'weak' || type === 'shortcut') continue
      const to = edges[e + edgeToAt]! / nodeWidth
      if (parent[to] !== -1) continue
      parent[to] = n
      parentEdge[to] = e
      next.push(to)
    }
  }
  queue = next
}

const matches: number[] = []
// `object:Pipe` matches that type and name; a bare name matches objects only (not the class's closure).
const [wantedType, wantedName] = wanted.includes(':') ? wanted.split(':', 2) as [string, string] : ['object', wanted]
for (let n = 0; n < nodeCount; n++) {
  if (strings[nodes[n * nodeWidth + nameAt]!] === wantedName && nodeTypes[nodes[n * nodeWidth + typeAt]!] === wantedType) matches.push(n)
}
console.log(`${matches.length} nodes named ${wanted}`)
// Paths grouped by their shape (labels without indices), most common first.
const shapes = new Map<string, number>()
for (const n of matches) {
  const steps: string[] = []
  for (let at = n; at !== 0 && parent[at] !== -1; at = parent[at]!) steps.push(`${nameOf(parent[at]!)}${edgeLabel(parentEdge[at]!)}`)
  const shape = parent[n] === -1 ? '(unreachable)' : steps.reverse().join('\n    → ')
  shapes.set(shape, (shapes.get(shape) ?? 0) + 1)
}
for (const [shape, count] of [...shapes].sort((a, b) => b[1] - a[1]).slice(0, Number(samplesText))) console.log(`${count} ×\n    ${shape}\n`)

/**
 * With a fourth argument `tree` (or `tree:k`, the k-th match): the objects first reached through the
 * first match (its subtree in the shortest-path tree), indented, with self
 * sizes: what one instance (one connection's Pipe, say) holds on its own.
 */
const treeArgument = process.argv[5]
if (treeArgument?.startsWith('tree') && matches.length > 0) {
  const children = new Map<number, number[]>()
  for (let n = 0; n < nodeCount; n++) {
    if (parent[n]! < 0 || n === 0) continue
    const list = children.get(parent[n]!) ?? []
    list.push(n)
    children.set(parent[n]!, list)
  }
  const sizeAt = meta.node_fields.indexOf('self_size')
  let total = 0
  const print = (n: number, depth: number): void => {
    const size = nodes[n * nodeWidth + sizeAt]!
    total += size
    console.log(`${'  '.repeat(depth)}${depth === 0 ? '' : edgeLabel(parentEdge[n]!)} ${nameOf(n)} ${size}`)
    for (const child of children.get(n) ?? []) print(child, depth + 1)
  }
  // `tree:k` picks the k-th match (default: the middle one).
  const index = treeArgument.includes(':') ? Number(treeArgument.split(':')[1]) : Math.floor(matches.length / 2)
  print(matches[index % matches.length]!, 0)
  console.log(`total self size: ${total} B`)
}
