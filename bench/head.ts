/**
 * Per-handshake cost of the gateway's one parse of the request head
 * (src/request-head.ts), in-process: p50 and p99 in microseconds over
 * representative heads — a browser's handshake (the common case, on the fast
 * paths), one whose path needs normalising, an absolute-form one whose Host is
 * replaced, one naming hop-by-hop headers in Connection, and a refused one
 * (the cost of building the error). It runs before every route on every
 * request, so it belongs with the handshake figures.
 *
 * Run alone: `node bench/head.ts [--rounds N]`; `npm run bench` includes it.
 */
import { parseArgs } from 'node:util'
import { GatewayError } from '../src/errors.ts'
import { parseRequestHead, type RequestHeadInput } from '../src/request-head.ts'

const BROWSER_HEADERS = [
  'Host', 'chat.example.com',
  'Connection', 'Upgrade',
  'Pragma', 'no-cache',
  'Cache-Control', 'no-cache',
  'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  'Upgrade', 'websocket',
  'Origin', 'https://chat.example.com',
  'Sec-WebSocket-Version', '13',
  'Accept-Encoding', 'gzip, deflate, br, zstd',
  'Accept-Language', 'en-US,en;q=0.9',
  'Cookie', 'session=8c1f0e6a2b; theme=dark',
  'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits',
]

const base: RequestHeadInput = {
  method: 'GET',
  target: '/chat?room=lobby',
  httpVersion: '1.1',
  rawHeaders: BROWSER_HEADERS,
  scheme: 'https',
  upgrade: true,
  maxUriLength: 8 * 1024,
  maxHeaderSize: 16 * 1024,
}

const HEADS: [label: string, head: RequestHeadInput][] = [
  ['browser handshake', base],
  ['browser handshake, Host 127.0.0.1:8080', { ...base, rawHeaders: ['Host', '127.0.0.1:8080', ...BROWSER_HEADERS.slice(2)] }],
  ['path to normalise (/a/../%63hat)', { ...base, target: '/a/../%63hat?room=lobby' }],
  ['absolute-form target', { ...base, target: 'http://chat.example.com/chat?room=lobby' }],
  ['Connection naming a header', { ...base, rawHeaders: [...BROWSER_HEADERS.slice(0, 2), 'Connection', 'Upgrade, X-Hop', 'X-Hop', '1', ...BROWSER_HEADERS.slice(4)] }],
  ['refused (two Host lines)', { ...base, rawHeaders: ['Host', 'a.example', ...BROWSER_HEADERS] }],
]

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } })
const rounds = Number(values.rounds)
/** Parses per timed batch: one parse is far below the clock's resolution. */
const BATCH = 1_000

function parseOnce(head: RequestHeadInput): void {
  try {
    parseRequestHead(head)
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error
  }
}

console.log('request head parse, µs per head (in-process, after warm-up; each sample the mean of a batch of 1,000)')
console.log(`${'head'.padEnd(40)} ${'p50'.padStart(7)} ${'p99'.padStart(7)}`)
for (const [label, head] of HEADS) {
  for (let i = 0; i < 20_000; i++) parseOnce(head)
  const samples: number[] = []
  for (let round = 0; round < rounds * 40; round++) {
    const started = performance.now()
    for (let i = 0; i < BATCH; i++) parseOnce(head)
    samples.push(((performance.now() - started) * 1000) / BATCH)
  }
  samples.sort((a, b) => a - b)
  const at = (q: number): string => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!.toFixed(2)
  console.log(`${label.padEnd(40)} ${at(0.5).padStart(7)} ${at(0.99).padStart(7)}`)
}
