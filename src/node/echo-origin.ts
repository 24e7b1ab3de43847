import { once } from 'node:events'
import { WebSocketServer } from 'ws'

/** Options of {@link startEchoOrigin}. */
export interface EchoOriginOptions {
  /** @default 0 (a free port) */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
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
 * process alive on its own.
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
    handleProtocols: (offered) => offered.values().next().value ?? false,
  })
  server.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
    socket.on('error', () => socket.terminate())
  })
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  // @ts-expect-error -- ws keeps its http.Server in a private field; unref lets a gateway exit without closing it.
  server._server?.unref()
  return {
    url: `ws://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    close: async () => {
      for (const client of server.clients) client.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
