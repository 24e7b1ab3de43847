import { mulberry32 } from './random.ts'

/**
 * A seeded mutation fuzzer over valid WebSocket handshakes: every case is a
 * function of (seed, index) alone, so a failing case is replayed from the
 * two numbers printed with it.
 */

/** A uniform source in [0, 1). */
export type Random = () => number

/** One fuzz case: the bytes sent, and the mutations that made them (for the failure message). */
export interface FuzzCase {
  index: number
  seed: number
  bytes: Buffer
  mutations: string[]
}

/** Bytes that parsers and routers treat specially; inserted more often than noise. */
const INTERESTING = ['\r', '\n', '\0', ' ', '\t', ':', '/', '\\', '%', '@', '?', '#', '.', ';', ',', '=', '"', '\x7f', '\x80', '\xff', '\x0b', '\x0c']

/** Values a mutation may put in a header, in place of its own. */
const HOSTILE_VALUES: Record<string, string[]> = {
  host: ['evil/echo?', 'a@b', 'user:pw@127.0.0.1', '256.0.0.1', '127.1', '0x7f.0.0.1', '[::1', '[fe80::1%25eth0]', '', 'a b', 'h\xe9', '127.0.0.1:99999', 'example.com:', '[::1]:80', 'EXAMPLE.com'],
  connection: ['upgrade, x y', 'upgrade, @', 'Upgrade, keep-alive', 'keep-alive', 'upgrade,,', 'close, upgrade', ''],
  upgrade: ['websocket, h2c', 'h2c', 'WebSocket', 'websocket/13', 'web socket', ''],
  'sec-websocket-key': ['', 'dGhlIHNhbXBsZSBub25jZQ', 'dGhlIHNhbXBsZSBub25jZQ==,dGhlIHNhbXBsZSBub25jZQ==', 'AAAAAAAAAAAAAAAAAAAAAA==', 'not base64!!!!!!!!!!!=='],
  'sec-websocket-version': ['8', '13, 13', '', '013', '14'],
}

/** Whole header lines a mutation may add. */
const HOSTILE_LINES = [
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip',
  'Content-Length: 5',
  'Content-Length: 0',
  'Content-Length: -1',
  'Content-Length: 0, 0',
  'Expect: 100-continue',
  'Host: 127.0.0.1',
  'Host: admin.internal',
  'Connection: x-user',
  'X-Forwarded-Host: evil',
  'Upgrade: h2c',
]

/** Request lines a mutation may put in place of the template's. */
const REQUEST_LINES = (target: string): string[] => [
  `GET ${target} HTTP/1.0`,
  `GET ${target} HTTP/2.0`,
  `GET ${target} HTTP/1.2`,
  `POST ${target} HTTP/1.1`,
  `TRACE ${target} HTTP/1.1`,
  `CONNECT ${target} HTTP/1.1`,
  `OPTIONS * HTTP/1.1`,
  `GET * HTTP/1.1`,
  `GET 127.0.0.1:80 HTTP/1.1`,
  `GET ws://127.0.0.1${target} HTTP/1.1`,
  `GET http://u:p@127.0.0.1${target} HTTP/1.1`,
  `GET ${target}#frag HTTP/1.1`,
  `GET /x/..%2fecho HTTP/1.1`,
  `GET /..;/echo HTTP/1.1`,
  `GET /ec%zzho HTTP/1.1`,
  `GET /x/../echo HTTP/1.1`,
  `GET //echo HTTP/1.1`,
  `GET /%65cho HTTP/1.1`,
  `GET ${target}`,
  `GET  ${target} HTTP/1.1`,
]

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!
}

function int(random: Random, below: number): number {
  return Math.floor(random() * below)
}

/** Splits a head (without the blank line) into lines on CRLF; a mutation may have made other line ends, kept inside lines. */
function linesOf(text: string): string[] {
  return text.split('\r\n')
}

type Mutation = (text: string, random: Random) => [text: string, label: string]

/** The head's text and what follows the blank line; a mutation works on the head when it still has one. */
function withHead(text: string, change: (lines: string[]) => [string[], string]): [string, string] {
  const end = text.indexOf('\r\n\r\n')
  const headText = end < 0 ? text : text.slice(0, end)
  const tail = end < 0 ? '' : text.slice(end)
  const [lines, label] = change(linesOf(headText))
  return [lines.join('\r\n') + tail, label]
}

const MUTATIONS: [weight: number, mutation: Mutation][] = [
  [
    3,
    (text, random) => {
      const at = int(random, text.length)
      const bit = 1 << int(random, 8)
      return [text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ bit) + text.slice(at + 1), `flip bit ${bit} at ${at}`]
    },
  ],
  [
    3,
    (text, random) => {
      const at = int(random, text.length + 1)
      const byte = random() < 0.7 ? pick(random, INTERESTING) : String.fromCharCode(int(random, 256))
      return [text.slice(0, at) + byte + text.slice(at), `insert ${JSON.stringify(byte)} at ${at}`]
    },
  ],
  [
    2,
    (text, random) => {
      const at = int(random, text.length)
      const count = 1 + int(random, 3)
      return [text.slice(0, at) + text.slice(at + count), `delete ${count} at ${at}`]
    },
  ],
  [
    2,
    (text, random) =>
      withHead(text, (lines) => {
        if (lines.length < 2) return [lines, 'duplicate nothing']
        const at = 1 + int(random, lines.length - 1)
        const copy = [...lines]
        copy.splice(random() < 0.5 ? at + 1 : lines.length, 0, lines[at]!)
        return [copy, `duplicate header ${JSON.stringify(lines[at])}`]
      }),
  ],
  [
    2,
    (text, random) =>
      withHead(text, (lines) => {
        const headers = lines.slice(1)
        for (let i = headers.length - 1; i > 0; i--) {
          const j = int(random, i + 1)
          ;[headers[i], headers[j]] = [headers[j]!, headers[i]!]
        }
        return [[lines[0]!, ...headers], 'reorder headers']
      }),
  ],
  [
    3,
    (text, random) =>
      withHead(text, (lines) => {
        const at = int(random, lines.length)
        const line = lines[at]!
        const where = int(random, line.length + 1)
        const injected = pick(random, ['\r', '\n', '\0', '\r\n ', '\r\n\t', '\n ', '\r\n', ' \r\n'])
        const copy = [...lines]
        copy[at] = line.slice(0, where) + injected + line.slice(where)
        return [copy, `inject ${JSON.stringify(injected)} in line ${at} at ${where}`]
      }),
  ],
  [
    1,
    (text, random) =>
      withHead(text, (lines) => {
        const kind = int(random, 4)
        const copy = [...lines]
        if (kind === 0) {
          // A target around the 8 KiB limit.
          const [method, target, version] = (copy[0] ?? '').split(' ')
          const size = 8_150 + int(random, 100)
          const padded = `${target ?? '/echo'}${(target ?? '').includes('?') ? '&' : '?'}pad=`
          copy[0] = `${method} ${padded}${'a'.repeat(Math.max(0, size - padded.length))} ${version}`
          return [copy, `target of ${size} bytes`]
        }
        if (kind === 1) {
          const size = 15_900 + int(random, 600)
          copy.push(`X-Pad: ${'p'.repeat(size)}`)
          return [copy, `header of ${size} bytes`]
        }
        if (kind === 2) {
          const size = 1_000 + int(random, 9_000)
          copy.push(`X-${'n'.repeat(size)}: v`)
          return [copy, `header name of ${size} bytes`]
        }
        const count = 100 + int(random, 300)
        for (let i = 0; i < count; i++) copy.push(`X-Many-${i}: ${i}`)
        return [copy, `${count} more headers`]
      }),
  ],
  [
    2,
    (text, random) =>
      withHead(text, (lines) => {
        const copy = [...lines]
        const name = pick(random, Object.keys(HOSTILE_VALUES))
        const value = pick(random, HOSTILE_VALUES[name]!)
        const at = copy.findIndex((line, i) => i > 0 && line.slice(0, line.indexOf(':')).trim().toLowerCase() === name)
        if (at < 0) copy.push(`${name}: ${value}`)
        else copy[at] = `${copy[at]!.slice(0, copy[at]!.indexOf(':'))}: ${value}`
        return [copy, `${name}: ${JSON.stringify(value)}`]
      }),
  ],
  [
    1,
    (text, random) =>
      withHead(text, (lines) => {
        const line = pick(random, HOSTILE_LINES)
        return [[...lines, line], `add ${JSON.stringify(line)}`]
      }),
  ],
  [
    1,
    (text, random) =>
      withHead(text, (lines) => {
        const target = (lines[0] ?? '').split(' ')[1] ?? '/echo'
        const line = pick(random, REQUEST_LINES(target))
        return [[line, ...lines.slice(1)], `request line ${JSON.stringify(line)}`]
      }),
  ],
  [
    1,
    (text, random) => {
      const body = pick(random, ['hello', '5\r\nhello\r\n0\r\n\r\n', 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'])
      return [text + body, `append ${JSON.stringify(body)}`]
    },
  ],
]

const TOTAL_WEIGHT = MUTATIONS.reduce((sum, [weight]) => sum + weight, 0)

function pickMutation(random: Random): Mutation {
  let roll = random() * TOTAL_WEIGHT
  for (const [weight, mutation] of MUTATIONS) {
    roll -= weight
    if (roll < 0) return mutation
  }
  return MUTATIONS[0]![1]
}

/**
 * Case `index` of the run with `seed`: one of `templates` with one to three
 * mutations. Depends on nothing but the two numbers.
 */
export function fuzzCase(seed: number, index: number, templates: readonly string[]): FuzzCase {
  const caseSeed = (Math.imul(seed, 0x9e3779b1) + index) >>> 0
  const random = mulberry32(caseSeed)
  let text = pick(random, templates)
  const mutations: string[] = []
  const count = 1 + int(random, 3)
  for (let i = 0; i < count; i++) {
    const [next, label] = pickMutation(random)(text, random)
    text = next
    mutations.push(label)
  }
  return { index, seed, bytes: Buffer.from(text, 'latin1'), mutations }
}
