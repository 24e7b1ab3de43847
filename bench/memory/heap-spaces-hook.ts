/**
 * Preloaded into a target (`--node-args "--import ./bench/memory/heap-spaces-hook.ts"`):
 * on SIGWINCH it prints one line to stderr with each V8 heap space's size,
 * used and committed-but-free bytes, so a probe can tell the young
 * generation's growth from the old generation's and from native memory.
 */
import v8 from 'node:v8'

process.on('SIGWINCH', () => {
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)
  const spaces = v8.getHeapSpaceStatistics().map((space) => `${space.space_name.replace('_space', '')} ${mib(space.space_size)}/${mib(space.space_used_size)}`)
  process.stderr.write(`heap spaces (MiB size/used): ${spaces.join(', ')}\n`)
})
