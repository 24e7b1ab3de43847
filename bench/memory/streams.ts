/**
 * RSS under streaming: four connections sending 64 KiB frames as fast as
 * backpressure allows through the target, the origin echoing every byte (so
 * both directions carry a full stream). The target's RSS is sampled every
 * 100 ms; reported per run: its idle RSS (after a warm-up), the median and
 * peak during the streams above it, MiB/s echoed back, and the target's CPU
 * seconds per GiB. Targets alternate their order each repetition. Run under
 * the shared measurement lock:
 *
 *   flock /tmp/wsgate-bench.lock node bench/memory/streams.ts --targets empty,empty@/tmp/other-tree --reps 3
 *   … --pingpong --connections 50 --size 32   one 32-byte frame in flight per connection: CPU per message
 */
import type net from 'node:net'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { cpuSeconds } from '../proc.ts'
import { maskedFrame } from '../wire.ts'
import { closeConnection, openMany } from './client.ts'
import { headersFor, parseTarget, pinProcesses, startShared, startTarget, type Shared, type TargetSpec } from './targets.ts'

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'bare,empty' },
    reps: { type: 'string', default: '3' },
    connections: { type: 'string', default: '4' },
    size: { type: 'string', default: String(64 * 1024) },
    seconds: { type: 'string', default: '8' },
    'node-args': { type: 'string', default: '' },
    /** The target alone on the last core, the origin and the load on core 0 (as `npm run bench` does). */
    pin: { type: 'boolean', default: false },
    /** Print the gateway's process.memoryUsage() (GET /__bench) every second of the window. */
    'memory-usage': { type: 'boolean', default: false },
    /** Each connection sends its next frame once the last one is back (CPU per message) instead of streaming. */
    pingpong: { type: 'boolean', default: false },
  },
})
const targets = values.targets.split(',').map(parseTarget)
const reps = Number(values.reps)
const frame = maskedFrame(Number(values.size))
const durationMs = Number(values.seconds) * 1000
const nodeArgs = values['node-args'].split(' ').filter(Boolean)

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function rssOf(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? 0) * 1024
}

interface Sample {
  target: string
  idle: number
  /** RSS above idle while streaming: median and peak of the 100 ms samples. */
  median: number
  peak: number
  mibPerSec: number
  cpuPerGiB: number
  /** Frames echoed per second, and the target's CPU µs per frame echoed. */
  framesPerSec: number
  cpuMicrosPerFrame: number
}

/** Streams on `sockets` until `stop()` (or, with `--pingpong`, one frame in flight per socket); counts what came back. */
function stream(sockets: net.Socket[]): { received: () => number; stop: () => void } {
  let running = true
  let received = 0
  for (const socket of sockets) {
    if (values.pingpong) {
      let pending = 0
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length
        pending -= chunk.length
        if (pending === 0 && running) {
          pending = frame.length
          socket.write(frame)
        }
      })
      socket.resume()
      pending = frame.length
      socket.write(frame)
      continue
    }
    const pump = (): void => {
      while (running && socket.write(frame));
    }
    socket.on('drain', pump)
    socket.on('data', (chunk: Buffer) => void (received += chunk.length))
    socket.resume()
    pump()
  }
  return { received: () => received, stop: () => void (running = false) }
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

async function measure(target: TargetSpec, shared: Shared): Promise<Sample> {
  const running = await startTarget(target, shared, nodeArgs)
  const headers = headersFor(target.name, shared)
  try {
    const warm = await openMany(50, 10, running.port, '/bench', headers)
    await Promise.all(warm.map(closeConnection))
    await sleep(1000)
    const idle = rssOf(running.pid)
    const sockets = await openMany(Number(values.connections), 4, running.port, '/bench', headers)
    const flow = stream(sockets)
    // The first second fills the buffers and grows the heap to its working size; then the window.
    await sleep(1000)
    const cpuStart = cpuSeconds([running.pid])
    const bytesStart = flow.received()
    const started = performance.now()
    const samples: number[] = []
    while (performance.now() - started < durationMs) {
      await sleep(100)
      samples.push(rssOf(running.pid) - idle)
      if (values['memory-usage'] && target.name !== 'bare' && samples.length % 10 === 0) {
        const { memory } = (await (await fetch(`http://127.0.0.1:${running.port}/__bench`)).json()) as { memory: Record<string, number> }
        console.log(`  ${target.label} ${Object.entries(memory).map(([name, value]) => `${name} ${mib(value)}`).join(', ')} MiB`)
      }
    }
    const seconds = (performance.now() - started) / 1000
    const bytes = flow.received() - bytesStart
    const cpu = cpuSeconds([running.pid]) - cpuStart
    flow.stop()
    for (const socket of sockets) socket.destroy()
    const frames = bytes / frame.length
    return {
      target: target.label,
      idle,
      median: median(samples),
      peak: Math.max(...samples),
      mibPerSec: bytes / seconds / 2 ** 20,
      cpuPerGiB: cpu / (bytes / 2 ** 30),
      framesPerSec: frames / seconds,
      cpuMicrosPerFrame: (cpu * 1e6) / frames,
    }
  } finally {
    await running.stop()
  }
}

if (values.pin) pinProcesses()
const shared = await startShared()
const results: Sample[] = []
try {
  for (let rep = 0; rep < reps; rep++) {
    for (const target of rep % 2 === 0 ? targets : [...targets].reverse()) {
      const sample = await measure(target, shared)
      results.push(sample)
      console.log(JSON.stringify({ rep, ...sample }))
    }
  }
} finally {
  await shared.stop()
}
const range = (numbers: number[], format: (value: number) => string): string => `${format(median(numbers))} [${format(Math.min(...numbers))}–${format(Math.max(...numbers))}]`
console.log(`\n${values.connections} streams of ${frame.length}-byte frames, echoed, ${values.seconds} s, ${reps} repetitions: median [min–max]`)
for (const { label } of targets) {
  const mine = results.filter((sample) => sample.target === label)
  console.log(
    `${label}: RSS above idle median ${range(mine.map((s) => s.median), mib)} MiB, peak ${range(mine.map((s) => s.peak), mib)} MiB; ` +
      `idle ${range(mine.map((s) => s.idle), mib)} MiB; ${range(mine.map((s) => s.mibPerSec), (v) => v.toFixed(0))} MiB/s; ` +
      `CPU ${range(mine.map((s) => s.cpuPerGiB), (v) => v.toFixed(2))} s/GiB; ` +
      `${range(mine.map((s) => s.framesPerSec), (v) => v.toFixed(0))} frames/s, CPU ${range(mine.map((s) => s.cpuMicrosPerFrame), (v) => v.toFixed(2))} µs/frame`,
  )
}
