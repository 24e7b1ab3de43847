import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import { samples } from '../helpers/admin.ts'
import { freePort } from '../helpers/ports.ts'
import { handshakeRequest, rawExchange } from '../helpers/raw-client.ts'
import { closeClient, openClient, useResources } from '../helpers/resources.ts'

// What the metrics say after gateway.reloadRoutes() (SIGHUP): counters keep
// their counts, and gauges describe the routes served now.

const { gateway: gatewayServing, wsOrigin, track } = useResources()

describe('wsgate_origin_up after a reload', () => {
  it("drops a removed route's plain target and keeps the routes still served", async () => {
    const origin = await wsOrigin()
    const dead = `ws://127.0.0.1:${await freePort()}`
    const app = new Hono<{ Bindings: GatewayBindings }>()
    app.all('/kept', websocket(origin.url))
    app.all('/removed', websocket(dead))
    const gateway = await gatewayServing(app, { metrics: true })
    await closeClient(track(await openClient(`${gateway.wsUrl}/kept`)))
    expect((await rawExchange(gateway.port, handshakeRequest('/removed'))).status).toBe(502)
    const before = samples(await gateway.metrics!.metrics(), 'wsgate_origin_up')
    expect(before).toEqual([
      { labels: { route: '/kept', origin: origin.url }, value: 1 },
      { labels: { route: '/removed', origin: dead }, value: 0 },
    ])

    const reloaded = new Hono<{ Bindings: GatewayBindings }>()
    reloaded.all('/kept', websocket(origin.url))
    gateway.reloadRoutes(reloaded)
    const text = await gateway.metrics!.metrics()
    expect(samples(text, 'wsgate_origin_up')).toEqual([{ labels: { route: '/kept', origin: origin.url }, value: 1 }])
    // The counters keep what they counted before the reload.
    expect(samples(text, 'wsgate_handshakes_total').map(({ labels }) => labels.route).sort()).toEqual(['/kept', '/removed'])
  })
})
