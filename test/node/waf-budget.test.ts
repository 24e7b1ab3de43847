import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { waf, type CustomRuleFunction } from '../../middleware/waf/index.ts'
import { websocket, type GatewayBindings } from '../../src/index.ts'
import WebSocket from 'ws'
import { useResources } from '../helpers/resources.ts'

// waf()'s budget on the Node host: a wall-clock overrun is confirmed on the thread's CPU clock, so a
// handshake whose evaluation was only delayed (the process descheduled on a busy host) is not refused.

const { gateway, wsOrigin } = useResources()

/** A rule that holds the thread for `ms` without using CPU, as a descheduled process would be. */
function stalls(ms: number): CustomRuleFunction {
  return () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
    return null
  }
}

/** A rule that uses `ms` of this thread's CPU (counted on the CPU clock: a loaded machine makes it take longer, not less). */
function burns(ms: number): CustomRuleFunction {
  const cpuMs = (): number => {
    const { user, system } = process.threadCpuUsage()
    return (user + system) / 1000
  }
  return () => {
    const until = cpuMs() + ms
    while (cpuMs() < until) {
      // spin
    }
    return null
  }
}

async function statusWith(rules: CustomRuleFunction[]): Promise<number> {
  const origin = await wsOrigin()
  const app = new Hono<{ Bindings: GatewayBindings }>().get('/chat', waf({ rules, budgetMs: 40 }), websocket(origin.url))
  const running = await gateway(app)
  const client = new WebSocket(`${running.wsUrl}/chat`)
  return new Promise((resolve, reject) => {
    client.once('open', () => {
      client.close()
      resolve(101)
    })
    client.once('unexpected-response', (request, response) => {
      request.destroy()
      resolve(response.statusCode ?? 0)
    })
    client.once('error', reject)
  })
}

describe('waf() budget on the Node host', () => {
  it('lets a handshake through whose evaluation ran past the budget on the wall clock only (the thread stalled, not busy)', async () => {
    expect(await statusWith([stalls(60), stalls(60)])).toBe(101)
  })

  it('still refuses one whose rules use the budget in CPU after the wall clock ran past it (fail closed)', async () => {
    expect(await statusWith([burns(60), burns(60)])).toBe(403)
  })
})
