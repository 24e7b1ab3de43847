import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { closedLine, closedLines, logsWith, waitFor, type TestGateway } from '../helpers/gateway.ts'
import { switchingProtocols, type RawOriginConnection } from '../helpers/origins.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { closeClient, dropClient, useResources } from '../helpers/resources.ts'

// Everything a test starts, stopped in afterEach (gateways are checked for leaks first).
const { gatewayWith, wsOrigin, rawOrigin, track, open, clients } = useResources()

/**
 * Runs `tick` every 100 ms for 3 s (twice a 1.5 s idleTimeout) and checks
 * that `client` stayed open meanwhile and that no connection of `gateway`
 * ended.
 */
async function expectOpenWhileTicking(gateway: TestGateway, client: WebSocket, tick: () => void): Promise<void> {
  const { closedEarly } = await whileTicking(client, 100, 3_000, tick)
  expect(closedEarly).toBe(false)
  expect(client.readyState).toBe(WebSocket.OPEN)
  expect(closedLines(gateway)).toHaveLength(0)
}

/**
 * Runs `tick` every `everyMs` for `forMs` (traffic generation, not a wait on
 * a gateway timer) and reports whether `client` closed meanwhile.
 */
async function whileTicking(client: WebSocket, everyMs: number, forMs: number, tick: () => void): Promise<{ closedEarly: boolean }> {
  let closedEarly = false
  const onClose = (): void => {
    closedEarly = true
  }
  client.once('close', onClose)
  const started = Date.now()
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (closedEarly || Date.now() - started >= forMs) {
        clearInterval(timer)
        resolve()
        return
      }
      tick()
    }, everyMs)
  })
  client.off('close', onClose)
  return { closedEarly }
}

describe('idle timeout', () => {
  it('closes a connection with no traffic after the gateway idleTimeout and logs closedBy gateway, cause idle', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': [origin.url] }, { idleTimeout: 300 })
    const client = await open(`${gateway.wsUrl}/echo`)
    const originSide = origin.sockets[0]!
    const originClosed = once(originSide, 'close')
    const [code] = (await once(client, 'close')) as [number, Buffer]
    await originClosed
    // The gateway sends both peers a close frame: 1001 going away (the close frames' own bytes are counted).
    expect(code).toBe(1001)
    expect(await closedLine(gateway, '/echo')).toMatchObject({ closedBy: 'gateway', closeCause: 'idle', closeCode: 1001, closeReason: 'idle timeout' })
  })

  it('closes an idle connection after the route idleTimeout, which overrides the longer gateway idleTimeout', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith(
      { '/short': [origin.url, { idleTimeout: 300 }], '/default': [origin.url] },
      { idleTimeout: 60_000 },
    )
    const short = await open(`${gateway.wsUrl}/short`)
    const other = await open(`${gateway.wsUrl}/default`)
    await once(short, 'close')
    expect((await closedLine(gateway, '/short')).closeCause).toBe('idle')
    // The route's value applies to its own route only.
    expect(other.readyState).toBe(WebSocket.OPEN)
    expect(closedLines(gateway, '/default')).toHaveLength(0)
    await dropClient(other)
    expect((await closedLine(gateway, '/default')).closedBy).toBe('client')
  })

  it('keeps an idle connection open under a longer route idleTimeout while the gateway idleTimeout closes another', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/long': [origin.url, { idleTimeout: 60_000 }], '/default': [origin.url] }, { idleTimeout: 300 })
    const long = await open(`${gateway.wsUrl}/long`)
    const other = await open(`${gateway.wsUrl}/default`)
    await once(other, 'close')
    expect((await closedLine(gateway, '/default')).closeCause).toBe('idle')
    // Opened first, idle just as long, yet still open: the route's longer value won.
    expect(long.readyState).toBe(WebSocket.OPEN)
    expect(closedLines(gateway, '/long')).toHaveLength(0)
    await dropClient(long)
    expect((await closedLine(gateway, '/long')).closedBy).toBe('client')
  })

  it('keeps a connection open while messages flow both ways far more often than idleTimeout', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': [origin.url] }, { idleTimeout: 1_500 })
    const client = await open(`${gateway.wsUrl}/echo`)
    let echoes = 0
    client.on('message', () => echoes++)
    // Twice the idle timeout of traffic, a message every 100 ms.
    await expectOpenWhileTicking(gateway, client, () => client.send('tick'))
    expect(echoes).toBeGreaterThan(10)
    await dropClient(client)
    expect((await closedLine(gateway, '/echo')).closedBy).toBe('client')
  })

  it('counts client-to-origin traffic alone as activity', async () => {
    let received = 0
    // This origin never answers, so only the client → origin direction carries bytes.
    const origin = await wsOrigin((socket) => socket.on('message', () => received++))
    const gateway = await gatewayWith({ '/sink': [origin.url] }, { idleTimeout: 1_500 })
    const client = await open(`${gateway.wsUrl}/sink`)
    await expectOpenWhileTicking(gateway, client, () => client.send('tick'))
    expect(received).toBeGreaterThan(10)
    await dropClient(client)
    const line = await closedLine(gateway, '/sink')
    expect(line.closedBy).toBe('client')
    // Not a byte went origin → client, yet the connection stayed open.
    expect(line.bytesFromOrigin).toBe(0)
  })

  it('counts origin-to-client traffic alone as activity', async () => {
    // This origin talks every 100 ms and the client never sends until it closes.
    const origin = await wsOrigin((socket) => {
      const timer = setInterval(() => socket.send('news'), 100)
      socket.once('close', () => clearInterval(timer))
    })
    const gateway = await gatewayWith({ '/feed': [origin.url] }, { idleTimeout: 1_500 })
    const client = await open(`${gateway.wsUrl}/feed`)
    let received = 0
    client.on('message', () => received++)
    await expectOpenWhileTicking(gateway, client, () => {})
    expect(received).toBeGreaterThan(10)
    await dropClient(client)
    const line = await closedLine(gateway, '/feed')
    // Frames still in flight to a dropped client may come back as a reset: either way the client ended it.
    expect(line.closedBy === 'client' || line.error === 'client ECONNRESET', `closedBy ${String(line.closedBy)}`).toBe(true)
    // Not a byte went client → origin, yet the connection stayed open.
    expect(line.bytesFromClient).toBe(0)
  })
})

describe('max lifetime', () => {
  /** Sends a message every 50 ms until the client closes; resolves with the close code. */
  async function chatUntilClosed(client: WebSocket): Promise<number> {
    const timer = setInterval(() => client.send('still here'), 50)
    try {
      const [code] = (await once(client, 'close')) as [number, Buffer]
      return code
    } finally {
      clearInterval(timer)
    }
  }

  it('closes an active connection at the gateway maxLifetime and logs closedBy gateway, cause lifetime', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': [origin.url] }, { maxLifetime: 400, lifetimeJitter: 0, idleTimeout: 60_000 })
    const client = await open(`${gateway.wsUrl}/echo`)
    expect(await chatUntilClosed(client)).toBe(1001)
    const line = await closedLine(gateway, '/echo')
    expect(line.closeCause).toBe('lifetime')
    // It was busy until the end: traffic does not extend a lifetime.
    expect(line.bytesFromClient).toBeGreaterThan(0)
    expect(line.bytesFromOrigin).toBeGreaterThan(0)
  })

  it('closes an active connection at the route maxLifetime, which overrides the gateway maxLifetime, and leaves other routes open', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith(
      { '/short': [origin.url, { maxLifetime: 400, lifetimeJitter: 0 }], '/default': [origin.url] },
      { idleTimeout: 60_000 },
    )
    const other = await open(`${gateway.wsUrl}/default`)
    const short = await open(`${gateway.wsUrl}/short`)
    expect(await chatUntilClosed(short)).toBe(1001)
    expect((await closedLine(gateway, '/short')).closeCause).toBe('lifetime')
    // Opened earlier and still open: the gateway's lifetime (4 h by default) holds there.
    expect(other.readyState).toBe(WebSocket.OPEN)
    await dropClient(other)
    expect((await closedLine(gateway, '/default')).closedBy).toBe('client')
  })

  it('keeps a connection under a longer route maxLifetime open while the gateway maxLifetime closes another', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith(
      { '/long': [origin.url, { maxLifetime: 3_600_000 }], '/default': [origin.url] },
      { maxLifetime: 400, lifetimeJitter: 0, idleTimeout: 60_000 },
    )
    const long = await open(`${gateway.wsUrl}/long`)
    const other = await open(`${gateway.wsUrl}/default`)
    expect(await chatUntilClosed(other)).toBe(1001)
    expect((await closedLine(gateway, '/default')).closeCause).toBe('lifetime')
    expect(long.readyState).toBe(WebSocket.OPEN)
    await dropClient(long)
    expect((await closedLine(gateway, '/long')).closedBy).toBe('client')
  })
})

describe('connection cap', () => {
  /**
   * These tests fill the gateway's cap of 2 from one client address through
   * one route: that client's and that route's fair shares (10 % of the cap,
   * so 1, by default) are raised to the whole cap. The shares have their own
   * tests in fair-share.test.ts.
   */
  const ONE_CLIENT_MAY_FILL = { maxConnectionsPerClient: 2, maxHandshakesPerRoute: 2 } as const

  /** A raw handshake to the gateway, answered and closed (a rejection). */
  function rejectedHandshake(gateway: TestGateway, path: string): ReturnType<typeof rawExchange> {
    return rawExchange(gateway.port, handshakeRequest(path))
  }

  it('rejects the handshake beyond the gateway maxConnections with 503, Retry-After and ERR_CONNECTION_LIMIT', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': [origin.url] }, { maxConnections: 2, ...ONE_CLIENT_MAY_FILL, retryAfter: 7 })
    await open(`${gateway.wsUrl}/echo`)
    await open(`${gateway.wsUrl}/echo`)
    const response = await rejectedHandshake(gateway, '/echo')
    expect(response.status).toBe(503)
    expect(response.headers['retry-after']).toBe('7')
    expect(response.headers['x-wsgate-error']).toBe('ERR_CONNECTION_LIMIT')
    expect(response.body).toMatch(/connection limit/)
    // The rejected client never reached the origin.
    expect(origin.sockets).toHaveLength(2)
    expect(logsWith(gateway, 'handshake rejected')).toEqual([expect.objectContaining({ status: 503, code: 'ERR_CONNECTION_LIMIT' })])
    for (const client of clients) await closeClient(client, 1000)
  })

  it('accepts a new connection under the gateway maxConnections once an open one has closed', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/echo': [origin.url] }, { maxConnections: 2, ...ONE_CLIENT_MAY_FILL })
    const first = await open(`${gateway.wsUrl}/echo`)
    await open(`${gateway.wsUrl}/echo`)
    expect((await rejectedHandshake(gateway, '/echo')).status).toBe(503)
    await closeClient(first, 1000)
    await waitFor(() => gateway.connections === 1, 5_000, 'the closed connection to leave the count')
    const third = await open(`${gateway.wsUrl}/echo`)
    expect(third.readyState).toBe(WebSocket.OPEN)
    expect(gateway.connections).toBe(2)
    for (const client of clients) await closeClient(client, 1000)
  })

  it('counts handshakes still waiting for the origin against the gateway maxConnections', async () => {
    const pending: RawOriginConnection[] = []
    // This origin holds every upgrade until the test answers it.
    const origin = await rawOrigin((connection) => pending.push(connection))
    const gateway = await gatewayWith({ '/slow': [origin.url] }, { maxConnections: 2, ...ONE_CLIENT_MAY_FILL })
    const waiting = [new WebSocket(`${gateway.wsUrl}/slow`), new WebSocket(`${gateway.wsUrl}/slow`)]
    for (const client of waiting) {
      track(client)
      client.on('error', () => {})
    }
    await waitFor(() => pending.length === 2, 5_000, 'both upgrades to reach the origin')
    expect(gateway.connections).toBe(0)
    const response = await rejectedHandshake(gateway, '/slow')
    expect(response.status).toBe(503)
    expect(response.headers['x-wsgate-error']).toBe('ERR_CONNECTION_LIMIT')
    // Once answered, the two held handshakes complete.
    const opened = waiting.map((client) => once(client, 'open'))
    for (const connection of pending) connection.socket.write(switchingProtocols(connection))
    await Promise.all(opened)
    expect(gateway.connections).toBe(2)
    for (const client of waiting) await dropClient(client)
  })

  it('rejects the handshake beyond the route maxConnections with 503, the route Retry-After and ERR_CONNECTION_LIMIT', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/capped': [origin.url, { maxConnections: 1, retryAfter: 3 }] })
    await open(`${gateway.wsUrl}/capped`)
    const response = await rejectedHandshake(gateway, '/capped')
    expect(response.status).toBe(503)
    expect(response.headers['retry-after']).toBe('3')
    expect(response.headers['x-wsgate-error']).toBe('ERR_CONNECTION_LIMIT')
    expect(response.body).toMatch(/route connection limit/)
    expect(origin.sockets).toHaveLength(1)
    expect(logsWith(gateway, 'handshake rejected')).toEqual([
      expect.objectContaining({ route: '/capped', status: 503, code: 'ERR_CONNECTION_LIMIT' }),
    ])
    for (const client of clients) await closeClient(client, 1000)
  })

  it('accepts a new connection on a capped route once its open one has closed', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/capped': [origin.url, { maxConnections: 1 }] })
    const first = await open(`${gateway.wsUrl}/capped`)
    expect((await rejectedHandshake(gateway, '/capped')).status).toBe(503)
    await closeClient(first, 1000)
    await waitFor(() => gateway.connections === 0, 5_000, 'the closed connection to leave the count')
    const second = await open(`${gateway.wsUrl}/capped`)
    expect(second.readyState).toBe(WebSocket.OPEN)
    await closeClient(second, 1000)
  })

  it('leaves other routes unaffected when one route is at its maxConnections', async () => {
    const origin = await wsOrigin()
    const gateway = await gatewayWith({ '/capped': [origin.url, { maxConnections: 1 }], '/free': [origin.url] })
    await open(`${gateway.wsUrl}/capped`)
    expect((await rejectedHandshake(gateway, '/capped')).status).toBe(503)
    const free = [await open(`${gateway.wsUrl}/free`), await open(`${gateway.wsUrl}/free`), await open(`${gateway.wsUrl}/free`)]
    for (const client of free) expect(client.readyState).toBe(WebSocket.OPEN)
    expect(gateway.connections).toBe(4)
    for (const client of clients) await closeClient(client, 1000)
  })

  it('releases the route slot when the origin refuses the upgrade', async () => {
    let answered = 0
    // The first upgrade is refused with 404, later ones accepted.
    const origin = await rawOrigin((connection) => {
      if (answered++ === 0) connection.socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
      else connection.socket.write(switchingProtocols(connection))
    })
    const gateway = await gatewayWith({ '/capped': [origin.url, { maxConnections: 1 }] })
    expect((await rawExchange(gateway.port, handshakeRequest('/capped'))).status).toBe(404)
    const client = await open(`${gateway.wsUrl}/capped`)
    expect(client.readyState).toBe(WebSocket.OPEN)
    await dropClient(client)
  })

  it('releases the route and gateway slots when the client leaves during the handshake', async () => {
    const pending: RawOriginConnection[] = []
    const origin = await rawOrigin((connection) => {
      // The first upgrade is held (its client leaves meanwhile), later ones accepted.
      if (pending.push(connection) > 1) connection.socket.write(switchingProtocols(connection))
    })
    const gateway = await gatewayWith({ '/capped': [origin.url, { maxConnections: 1 }] }, { maxConnections: 1 })
    const leaving = new WebSocket(`${gateway.wsUrl}/capped`)
    leaving.on('error', () => {})
    await waitFor(() => pending.length === 1, 5_000, 'the upgrade to reach the origin')
    leaving.terminate()
    // The gateway drops the origin attempt and logs the abandoned handshake.
    await waitFor(() => logsWith(gateway, 'handshake rejected').length === 1, 5_000, 'the abandoned handshake to be logged')
    expect(logsWith(gateway, 'handshake rejected')[0]).toMatchObject({ route: '/capped', status: 499 })
    const client = await open(`${gateway.wsUrl}/capped`)
    expect(client.readyState).toBe(WebSocket.OPEN)
    await dropClient(client)
  })
})
