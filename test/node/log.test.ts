import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BatchedWriter } from '../../src/node/log.ts'
import { waitFor } from '../helpers/gateway.ts'

/** A connected pair of Unix sockets: the writer gets the client's descriptor (not a regular file), the test reads the server side. */
async function socketPair(): Promise<{ fd: number; reader: net.Socket; received: () => string; close(): void }> {
  const path = join(fs.mkdtempSync(join(tmpdir(), 'wsgate-log-')), 'sock')
  const server = net.createServer().listen(path)
  await once(server, 'listening')
  const accepted = once(server, 'connection') as Promise<[net.Socket]>
  // Half-open allowed: the client's descriptor stays open when the reader goes (a write then meets EPIPE, not a closed fd).
  const client = net.connect({ path, allowHalfOpen: true })
  client.on('error', () => {})
  await once(client, 'connect')
  const [reader] = await accepted
  let text = ''
  // Decoded as a stream: a multi-byte character may be split between two reads.
  reader.setEncoding('utf8')
  reader.on('data', (chunk: string) => (text += chunk))
  const fd = (client as net.Socket & { _handle: { fd: number } })._handle.fd
  return {
    fd,
    reader,
    received: () => text,
    close: () => {
      client.destroy()
      reader.destroy()
      server.close()
    },
  }
}

const cleanups: (() => void)[] = []
afterEach(() => {
  vi.restoreAllMocks()
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** A regular file opened for appending, removed after the test. */
function logFile(): { file: string; fd: number } {
  const dir = fs.mkdtempSync(join(tmpdir(), 'wsgate-log-'))
  const file = join(dir, 'out.log')
  const fd = fs.openSync(file, 'a')
  cleanups.push(() => {
    fs.closeSync(fd)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return { file, fd }
}

/** `count` JSON lines of about `size` bytes each. */
function lines(count: number, size = 300): string[] {
  return Array.from({ length: count }, (_, index) => `${JSON.stringify({ n: index, pad: 'x'.repeat(size) })}\n`)
}

describe('BatchedWriter', () => {
  it('writes whole lines, in order, at most one batch per write, to a socket', async () => {
    const pair = await socketPair()
    cleanups.push(pair.close)
    const writes: number[] = []
    const write = fs.write
    vi.spyOn(fs, 'write').mockImplementation(((...args: Parameters<typeof fs.write>) => {
      const buffer = args[1] as unknown as Buffer
      writes.push(buffer.length)
      expect(buffer.toString().endsWith('\n')).toBe(true)
      return (write as (...args: unknown[]) => void)(...args)
    }) as typeof fs.write)
    const writer = new BatchedWriter(pair.fd, { batchBytes: 4096 })
    const sent = lines(100)
    for (const line of sent) writer.write(line)
    await new Promise<void>((resolve) => writer.flush(() => resolve()))
    await waitFor(() => pair.received().length === sent.join('').length, 5_000, 'every line to arrive')
    expect(pair.received()).toBe(sent.join(''))
    expect(writes.length).toBeGreaterThan(1)
    expect(Math.max(...writes)).toBeLessThanOrEqual(4096)
  })

  it('keeps every byte and the order of lines of every size, multi-byte text included, across many batches', async () => {
    // Lines shorter and longer than a batch, with UTF-8 text: the batches are encoded in place and their buffers reused.
    const sent = Array.from({ length: 400 }, (_, index) => `${JSON.stringify({ n: index, text: 'é✓'.repeat(index % 7 === 0 ? 900 : index % 50) })}\n`)
    const { file, fd } = logFile()
    const toFile = new BatchedWriter(fd, { batchBytes: 1024, flushInterval: 60_000 })
    const pair = await socketPair()
    cleanups.push(pair.close)
    const toSocket = new BatchedWriter(pair.fd, { batchBytes: 1024, flushInterval: 60_000 })
    for (const line of sent) {
      toFile.write(line)
      toSocket.write(line)
    }
    await Promise.all([toFile, toSocket].map((writer) => new Promise<void>((resolve) => writer.flush(() => resolve()))))
    expect(fs.readFileSync(file, 'utf8')).toBe(sent.join(''))
    await waitFor(() => pair.received().length === sent.join('').length, 5_000, 'every line to reach the socket')
    expect(pair.received()).toBe(sent.join(''))
    expect(toFile.bufferedBytes + toSocket.bufferedBytes).toBe(0)
  })

  it('writes a full batch to a regular file at once, and the rest after the flush interval', async () => {
    const { file, fd } = logFile()
    const writer = new BatchedWriter(fd, { batchBytes: 1024, flushInterval: 20 })
    const sent = lines(5)
    for (const line of sent.slice(0, 4)) writer.write(line)
    // Over 1 KiB held: the first three lines (a batch, whole lines) are in the file before write() returned.
    expect(fs.readFileSync(file, 'utf8')).toBe(sent.slice(0, 3).join(''))
    writer.write(sent[4]!)
    await waitFor(() => fs.readFileSync(file, 'utf8') === sent.join(''), 5_000, 'the rest after the interval')
    expect(writer.bufferedBytes).toBe(0)
  })

  it('batches up to 64 KiB to a regular file by default, and 4 KiB to a socket', async () => {
    const { file, fd } = logFile()
    const toFile = new BatchedWriter(fd, { flushInterval: 60_000 })
    const sent = lines(250)
    let bytes = 0
    let index = 0
    // 32 KiB held: past a pipe's batch, short of a file's; nothing is written yet.
    while (bytes < 32 * 1024) {
      const line = sent[index++]!
      toFile.write(line)
      bytes += Buffer.byteLength(line)
    }
    expect(fs.statSync(file).size).toBe(0)
    while (index < sent.length) toFile.write(sent[index++]!)
    const written = fs.statSync(file).size
    expect(written).toBeGreaterThan(32 * 1024)
    expect(written).toBeLessThanOrEqual(64 * 1024)
    expect(fs.readFileSync(file, 'utf8')).toBe(sent.join('').slice(0, written))

    const pair = await socketPair()
    cleanups.push(pair.close)
    const toSocket = new BatchedWriter(pair.fd, { flushInterval: 60_000 })
    for (const line of lines(20)) toSocket.write(line)
    // 20 lines of ~320 bytes: at least one 4 KiB batch has gone without waiting for the interval.
    await waitFor(() => pair.received().length > 0, 5_000, 'a 4 KiB batch to reach the socket')
    expect(pair.received().length).toBeLessThanOrEqual(4096)
    toSocket.flush()
  })
  it('holds lines while the reader does not keep up, drops what exceeds its bound, and says how many once lines get through again', async () => {
    const pair = await socketPair()
    cleanups.push(pair.close)
    pair.reader.pause()
    const writer = new BatchedWriter(pair.fd, { batchBytes: 4096, maxBufferedBytes: 64 * 1024 })
    let dropped = 0
    // Far more than the socket's buffers and the writer's bound together.
    for (const line of lines(20_000)) if (!writer.write(line)) dropped++
    expect(dropped).toBeGreaterThan(0)
    pair.reader.resume()
    await waitFor(() => writer.bufferedBytes === 0, 10_000, 'the held lines to be written')
    writer.write(`${JSON.stringify({ last: true })}\n`)
    await new Promise<void>((resolve) => writer.flush(() => resolve()))
    await waitFor(() => pair.received().endsWith('{"last":true}\n'), 5_000, 'the last line')
    const received = pair.received().trimEnd().split('\n')
    const note = JSON.parse(received.at(-2)!) as { msg: string; dropped: number; level: number }
    expect(note).toMatchObject({ msg: 'log lines dropped: stdout did not keep up', dropped, level: 40 })
    // Every line that got through is whole.
    for (const line of received) expect(() => JSON.parse(line)).not.toThrow()
  })

  it('stops writing, without throwing, once the reader has gone', async () => {
    const pair = await socketPair()
    cleanups.push(pair.close)
    const writer = new BatchedWriter(pair.fd, { batchBytes: 1024 })
    pair.reader.destroy()
    await once(pair.reader, 'close')
    const failed = await new Promise<Error | undefined>((resolve) => {
      for (const line of lines(20)) writer.write(line)
      writer.flush(resolve)
    })
    expect((failed as NodeJS.ErrnoException | undefined)?.code).toMatch(/EPIPE|ECONNRESET/)
    expect(writer.write('{"after":true}\n')).toBe(false)
  })

  it('writes the lines it still holds when the process exits', async () => {
    const script = `
      import { createLogger } from './src/node/log.ts'
      const logger = createLogger({ level: 'info' })
      for (let i = 0; i < 3; i++) logger.info({ i }, 'before exit')
      process.exit(0)
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_FORMAT: 'json' } })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const [code] = (await once(child, 'exit')) as [number]
    expect(code).toBe(0)
    expect(out.trim().split('\n').map((line) => (JSON.parse(line) as { i: number }).i)).toEqual([0, 1, 2])
  })
})
