import { once } from 'node:events'
import net from 'node:net'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { acceptKey } from '../helpers/origins.ts'
import { handshakeRequest, readHead, TEST_KEY } from '../helpers/raw-client.ts'
import { useResources } from '../helpers/resources.ts'

// An origin may send any number of 1xx interim answers before its final one
// (RFC 9110 §15.2), all in one read: the raw connector
// (src/node/origin/raw.ts) must skip them one after the other, never by a
// call per answer (a 64 KiB read holds 4,096 of the smallest), which ran a
// gateway out of stack and killed the process. The gateway runs in a worker
// with a small stack, where a call per answer overflows it.

const { rawOrigin, track } = useResources()

/** The smallest interim answer: 16 bytes. */
const INTERIM = 'HTTP/1.1 100\r\n\r\n'

/** Starts a gateway with `/raw` to `target` in a worker with a 512 KiB stack; resolves with its port. */
async function gatewayInSmallStack(target: string): Promise<{ worker: Worker; port: number }> {
  // The modules themselves, not the packages' indexes: Node strips their types as it loads them in the worker.
  const serveModule = new URL('../../src/node/serve.ts', import.meta.url).href
  const logModule = new URL('../../src/node/log.ts', import.meta.url).href
  const websocketModule = new URL('../../src/websocket.ts', import.meta.url).href
  const honoModule = import.meta.resolve('hono')
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    ;(async () => {
      const { Hono } = await import(workerData.honoModule)
      const { websocket } = await import(workerData.websocketModule)
      const { serve } = await import(workerData.serveModule)
      const { createLogger } = await import(workerData.logModule)
      const app = new Hono()
      app.all('/raw', websocket(workerData.target))
      const gateway = await serve(app, { port: 0, host: '127.0.0.1', logger: createLogger({ level: 'silent' }) })
      parentPort.postMessage(gateway.port)
      parentPort.once('message', () => void gateway.close().then(() => process.exit(0)))
    })()
  `
  const worker = new Worker(code, { eval: true, workerData: { target, serveModule, logModule, websocketModule, honoModule }, resourceLimits: { stackSizeMb: 0.5 } })
  worker.on('error', () => {})
  const [port] = (await once(worker, 'message')) as [number]
  return { worker, port }
}

describe('1xx interim answers in one read', () => {
  it('skips 4,096 of them before the 101 without running out of stack, and upgrades', async () => {
    const origin = await rawOrigin((connection) => {
      const key = connection.headers['sec-websocket-key'] ?? ''
      const final = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`
      connection.socket.write(INTERIM.repeat(4096) + final)
    })
    const { worker, port } = await gatewayInSmallStack(origin.url)
    const exited = once(worker, 'exit')
    try {
      const socket = track(net.connect(port, '127.0.0.1'))
      socket.on('error', () => {})
      await once(socket, 'connect')
      socket.write(handshakeRequest('/raw'))
      const { head } = await readHead(socket)
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
      expect(head).toContain(`sec-websocket-accept: ${acceptKey(TEST_KEY)}`)
      socket.destroy()
    } finally {
      worker.postMessage('close')
      await exited
    }
  })
})
