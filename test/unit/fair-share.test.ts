import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.ts'
import { clientNetwork, ClientSlot, FairShare, type FairShareLimits } from '../../src/fair-share.ts'
import type { MaybePromise } from '../../src/limit-store.ts'
import type { HandshakeNote } from '../../src/runtime.ts'

describe('clientNetwork()', () => {
  it('keeps an IPv4 address as it is', () => {
    expect(clientNetwork('127.0.0.2', 64)).toBe('127.0.0.2')
    expect(clientNetwork('203.0.113.9', 64)).toBe('203.0.113.9')
  })

  it('counts an IPv4-mapped IPv6 address (a dual-stack socket) as the IPv4 address it carries', () => {
    expect(clientNetwork('::ffff:127.0.0.2', 64)).toBe('127.0.0.2')
    expect(clientNetwork('::FFFF:203.0.113.9', 64)).toBe('203.0.113.9')
    expect(clientNetwork('::ffff:cb00:7109', 64)).toBe('203.0.113.9')
  })

  it('counts IPv6 clients per /64 by default: two addresses of one /64 are one client, of two /64s two', () => {
    const a = clientNetwork('2001:db8:1:2:aaaa::1', 64)
    expect(a).toBe('2001:db8:1:2::/64')
    expect(clientNetwork('2001:DB8:1:2:bbbb:cccc:dddd:eeee', 64)).toBe(a)
    expect(clientNetwork('2001:db8:1:3::1', 64)).not.toBe(a)
    expect(clientNetwork('::1', 64)).toBe('::/64')
  })

  it('honours other prefixes, including 128 (every address on its own) and ones that cut a group', () => {
    expect(clientNetwork('2001:db8:1:2::1', 128)).toBe('2001:db8:1:2::1')
    expect(clientNetwork('2001:db8:1:2::1', 48)).toBe('2001:db8:1::/48')
    expect(clientNetwork('2001:db8:1:2::1', 56)).toBe('2001:db8:1::/56')
    expect(clientNetwork('2001:db8:1:2ff::1', 56)).toBe('2001:db8:1:200::/56')
  })

  it('leaves what is not an address (the empty address of a socket already gone) as it is', () => {
    expect(clientNetwork('', 64)).toBe('')
    expect(clientNetwork('not:an:address', 64)).toBe('not:an:address')
  })
})

/** Limits with every cap at `n` unless overridden. */
function limits(overrides: Partial<FairShareLimits> = {}): FairShareLimits {
  return { maxConnectionsPerClient: 2, maxHandshakesPerClient: 2, maxHandshakesPerRoute: 2, ipv6Prefix: 64, retryAfter: 5, ...overrides }
}

/** The part of a runtime FairShare reads: the client's address and the log note. */
function client(address: string): { clientAddress: string; note(note: HandshakeNote): void; notes: HandshakeNote[] } {
  const notes: HandshakeNote[] = []
  return { clientAddress: address, note: (note) => void notes.push(note), notes }
}

function admitted(result: MaybePromise<ClientSlot | GatewayError | undefined>): ClientSlot {
  expect(result).toBeInstanceOf(ClientSlot)
  return result as ClientSlot
}

function refused(result: MaybePromise<ClientSlot | GatewayError | undefined>): GatewayError {
  expect(result).toBeInstanceOf(GatewayError)
  return result as GatewayError
}

describe('FairShare', () => {
  it('admits an address up to maxConnectionsPerClient, then refuses with 429 ERR_TOO_MANY_CONNECTIONS and Retry-After, and notes why', () => {
    const share = new FairShare(limits({ maxHandshakesPerClient: 10 }))
    admitted(share.admit(client('10.0.0.1')))
    admitted(share.admit(client('::ffff:10.0.0.1')))
    const runtime = client('10.0.0.1')
    const error = refused(share.admit(runtime))
    expect(error.status).toBe(429)
    expect(error.code).toBe('ERR_TOO_MANY_CONNECTIONS')
    expect(error.headers).toEqual({ 'retry-after': '5' })
    expect(error.message).toBe('too many open connections from this address (at most 2)')
    expect(runtime.notes).toEqual([{ fairShare: { limited: 'connections', max: 2 } }])
    // Another address is counted on its own.
    admitted(share.admit(client('10.0.0.2')))
  })

  it('refuses with 429 ERR_TOO_MANY_HANDSHAKES at maxHandshakesPerClient in flight, and admits again once one is decided', () => {
    const share = new FairShare(limits({ maxConnectionsPerClient: 10 }))
    const first = admitted(share.admit(client('2001:db8::1')))
    admitted(share.admit(client('2001:db8::2')))
    const error = refused(share.admit(client('2001:db8::3')))
    expect(error.code).toBe('ERR_TOO_MANY_HANDSHAKES')
    expect(error.message).toBe('too many handshakes in progress from this address (at most 2)')
    first.releaseHandshake()
    // The handshake became a connection: its connection slot is still held.
    admitted(share.admit(client('2001:db8::4')))
    expect(share.clients).toBe(1)
  })

  it('gives each slot back once, however often it is released, and forgets an address holding nothing', () => {
    const share = new FairShare(limits())
    const first = admitted(share.admit(client('10.0.0.1')))
    const second = admitted(share.admit(client('10.0.0.1')))
    first.releaseConnection()
    first.releaseConnection()
    first.releaseHandshake()
    // One slot free, not two.
    const third = admitted(share.admit(client('10.0.0.1')))
    refused(share.admit(client('10.0.0.1')))
    second.releaseHandshake()
    second.releaseConnection()
    third.releaseConnection()
    expect(share.clients).toBe(0)
    admitted(share.admit(client('10.0.0.1')))
    admitted(share.admit(client('10.0.0.1')))
  })

  it('reads no address when both per-client caps are off', () => {
    const share = new FairShare(limits({ maxConnectionsPerClient: Infinity, maxHandshakesPerClient: Infinity }))
    const runtime = {
      get clientAddress(): string {
        throw new Error('the address was read')
      },
      note: () => {},
    }
    expect(share.admit(runtime)).toBeUndefined()
  })

  it('lets maxHandshakesPerRoute round trips to a route wait at once, refuses the next with 503 ERR_ROUTE_HANDSHAKE_LIMIT without starting it, and frees the slot however the trip ends', async () => {
    const share = new FairShare(limits({ maxHandshakesPerRoute: 1 }))
    let finish!: (value: string) => void
    const waiting = share.toOrigin('/chat', () => new Promise<string>((resolve) => (finish = resolve)))
    let started = false
    const refusal = await share
      .toOrigin('/chat', async () => {
        started = true
        return 'never'
      })
      .catch((error: unknown) => error)
    expect(started).toBe(false)
    expect(refusal).toBeInstanceOf(GatewayError)
    expect(refusal).toMatchObject({ status: 503, code: 'ERR_ROUTE_HANDSHAKE_LIMIT', headers: { 'retry-after': '5' } })
    // Another route has its own share.
    await expect(share.toOrigin('/other', async () => 'ok')).resolves.toBe('ok')

    finish('answered')
    await expect(waiting).resolves.toBe('answered')
    expect(share.routes).toBe(0)
    await expect(share.toOrigin('/chat', () => Promise.reject(new Error('origin down')))).rejects.toThrow('origin down')
    expect(share.routes).toBe(0)
    await expect(share.toOrigin('/chat', async () => 'again')).resolves.toBe('again')
  })

  it('does not count round trips when maxHandshakesPerRoute is off', async () => {
    const share = new FairShare(limits({ maxHandshakesPerRoute: Infinity }))
    const pending = [share.toOrigin('/chat', () => new Promise(() => {})), share.toOrigin('/chat', () => new Promise(() => {}))]
    expect(pending).toHaveLength(2)
    expect(share.routes).toBe(0)
    await expect(share.toOrigin('/chat', async () => 'ok')).resolves.toBe('ok')
  })
})
