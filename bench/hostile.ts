/**
 * The check a WAF target passes before it is measured: a handshake carrying
 * a textbook SQL injection must be refused with 403. A WAF that lets it
 * through (rule engine off, rules not loaded, paranoia or threshold wrong)
 * would be measured doing less than the CRS at PL1 does, and its figure
 * would mean nothing.
 */
import net from 'node:net'
import { freshKey, handshakeRequest, headEnd } from './wire.ts'

/** The hostile query: `?id=1' OR 1=1--`, percent-encoded as a client sends it (a raw space ends the request line). */
export const HOSTILE_QUERY = '?id=1%27%20OR%201%3D1--'

/** The status a WAF answers the hostile handshake with. */
export const HOSTILE_STATUS = 403

/** How long the answer may take, ms. */
const TIMEOUT_MS = 10_000

/**
 * Sends an otherwise ordinary upgrade request for `path` + {@link HOSTILE_QUERY}
 * (a fresh key, as the measured handshakes carry) to 127.0.0.1:`port` and
 * resolves with the status of the answer's head (101 when it went through);
 * rejects when no head comes back.
 */
export function hostileHandshakeStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  const request = handshakeRequest(`${path}${HOSTILE_QUERY}`, port, headers, freshKey())
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(request))
    let buffered = Buffer.alloc(0)
    const finish = (error: Error | undefined, status?: number): void => {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(status!)
    }
    const timer = setTimeout(() => finish(new Error(`no answer to the hostile handshake within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (headEnd(buffered) < 0) return
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(buffered.toString('latin1', 0, 16))
      finish(status ? undefined : new Error(`not an HTTP answer: ${JSON.stringify(buffered.toString('latin1', 0, 40))}`), Number(status?.[1]))
    })
    socket.on('error', (error) => finish(new Error(`hostile handshake: ${(error as NodeJS.ErrnoException).code ?? error.message}`)))
    socket.on('close', () => finish(new Error('closed before answering the hostile handshake')))
  })
}
