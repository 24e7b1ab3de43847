import { describe, expect, it } from 'vitest'
import { assertOriginTls, tlsWarnings, type OriginTls } from '../../src/origin-tls.ts'
import { makeCa } from '../helpers/certificates.ts'

// The route-time half of TLS to origins (src/origin-tls.ts): a bad `tls`
// option fails when the route is defined, naming the option; a risky one
// gets its start-up warning. No sockets.

describe('assertOriginTls()', () => {
  const ca = makeCa().cert

  it('accepts nothing, an empty object, and every field set as documented', () => {
    expect(() => assertOriginTls(undefined, 'websocket()')).not.toThrow()
    expect(() => assertOriginTls({}, 'websocket()')).not.toThrow()
    expect(() => assertOriginTls({ ca, servername: 'chat.internal', rejectUnauthorized: true }, 'websocket()')).not.toThrow()
    expect(() => assertOriginTls({ ca: [ca, ca], servername: '10.0.0.5' }, 'http()')).not.toThrow()
    expect(() => assertOriginTls({ servername: '::1' }, 'http()')).not.toThrow()
  })

  it.each<[string, unknown, RegExp]>([
    ['a string instead of an object', 'insecure', /^websocket\(\): tls must be an object/],
    ['a file path as ca', { ca: '/etc/ssl/ca.pem' }, /^websocket\(\): tls\.ca must be PEM certificate text .*readFileSync/],
    ['an empty ca list', { ca: [] }, /^websocket\(\): tls\.ca is an empty list/],
    ['a Buffer in the ca list', { ca: [Buffer.from('x')] }, /^websocket\(\): tls\.ca must be PEM/],
    ['a servername with a port', { servername: 'chat.internal:443' }, /^websocket\(\): tls\.servername must be a host name or IP address/],
    ['a servername with a scheme', { servername: 'https://chat.internal' }, /^websocket\(\): tls\.servername/],
    ['an empty servername', { servername: '' }, /^websocket\(\): tls\.servername/],
    ['rejectUnauthorized as a string', { rejectUnauthorized: 'false' }, /^websocket\(\): tls\.rejectUnauthorized must be true or false/],
  ])('throws a TypeError naming the option for %s', (_name, tls, message) => {
    expect(() => assertOriginTls(tls as OriginTls, 'websocket()')).toThrow(TypeError)
    expect(() => assertOriginTls(tls as OriginTls, 'websocket()')).toThrow(message)
  })
})

describe('tlsWarnings()', () => {
  it('warns once for rejectUnauthorized false, and not otherwise', () => {
    expect(tlsWarnings({ rejectUnauthorized: false })).toEqual([
      "tls.rejectUnauthorized is false: the origin's certificate is not verified, so anyone on the path to the origin can pose as it and read the traffic (for tests only)",
    ])
    expect(tlsWarnings({ rejectUnauthorized: true })).toEqual([])
    expect(tlsWarnings({ servername: 'chat.internal' })).toEqual([])
    expect(tlsWarnings(undefined)).toEqual([])
  })
})
