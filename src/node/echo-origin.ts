import { once } from 'node:events'
import { WebSocketServer } from 'ws'

/**
 * Largest message the echo origin takes, bytes (1 MiB): a bigger one is
 * closed with 1009. `ws` takes 100 MiB by default, and with
 * permessage-deflate a client can send that as a few hundred KiB that the
 * origin inflates, holds and compresses back: in `npm start` that memory
 * is the gateway's own process.
 */
export const ECHO_MAX_PAYLOAD = 1024 * 1024

/**
 * Bytes of echoes waiting for one client to read them (1 MiB) beyond which
 * the echo origin stops reading that client until they are written out.
 * `ws` buffers every send without bound: a client that sends without
 * reading would otherwise grow the process by what it sends (gigabytes
 * within seconds over loopback).
 */
export const ECHO_HIGH_WATER = 1024 * 1024

/** Options of {@link startEchoOrigin}. */
export interface EchoOriginOptions {
  /** @default 0 (a free port) */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
  /** Largest message, bytes; a bigger one is closed with 1009. @default {@link ECHO_MAX_PAYLOAD} (1 MiB) */
  maxPayload?: number
}

/** A running echo origin. */
export interface EchoOrigin {
  /** `ws://host:port`, ready to pass to `websocket()`. */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/**
 * A WebSocket echo server (the `ws` library): every message comes back as
 * it was sent, text as text, binary as binary; permessage-deflate is offered
 * so the extension can be tried end to end. It is the demo origin that
 * `npm start` embeds, and handy in tests. Its server does not keep the
 * process alive on its own. A client that does not read its echoes is not
 * read either once {@link ECHO_HIGH_WATER} of them wait, and a message
 * above `maxPayload` closes the connection (1009): what one client makes
 * it hold is bounded.
 *
 * @example
 * const echo = await startEchoOrigin()
 * app.all('/echo', websocket(echo.url))
 */
export async function startEchoOrigin(options: EchoOriginOptions = {}): Promise<EchoOrigin> {
  const server = new WebSocketServer({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    perMessageDeflate: true,
    maxPayload: options.maxPayload ?? ECHO_MAX_PAYLOAD,
    handleProtocols: (offered) => offered.values().next().value ?? false,
  })
  server.on('connection', (socket) => {
    // Each send's callback comes once its bytes are handed to the socket: the first that finds the backlog
    // below the mark reads the client again.
    const sent = (): void => {
      if (socket.isPaused && socket.bufferedAmount < ECHO_HIGH_WATER) socket.resume()
    }
    socket.on('message', (data, isBinary) => {
      socket.send(data, { binary: isBinary }, sent)
      if (socket.bufferedAmount >= ECHO_HIGH_WATER) socket.pause()
    })
    socket.on('error', () => socket.terminate())
  })
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  // @ts-expect-error -- ws keeps its http.Server in a private field; unref lets a gateway exit without closing it.
  server._server?.unref()
  const host = options.host ?? '127.0.0.1'
  return {
    // An IPv6 address goes in brackets (ws://[::1]:port): bare, its colons would read as the port's.
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: async () => {
      for (const client of server.clients) client.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
