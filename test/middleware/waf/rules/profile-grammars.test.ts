import { describe, expect, it } from 'vitest'
import { buildCollections } from '../../../../middleware/waf/engine/collections.ts'
import * as grammars from '../../../../middleware/waf/rules/profile-grammars.ts'
import { HANDSHAKE_PROFILE } from '../../../../middleware/waf/rules/profile.ts'
import { WEBSOCKET_KEY_PATTERN } from '../../../../src/handshake.ts'
import { REALTIME } from '../../../fixtures/waf/realtime.ts'

/** Values that no grammar of the profile may accept: what attack rules exist for. */
const HOSTILE = [
  "1' OR '1'='1",
  '1 UNION SELECT 1',
  '1;DROP TABLE users',
  '../../etc/passwd',
  '..',
  '() { :; }; id',
  '$(id)',
  '`id`',
  '<script>alert(1)</script>',
  'javascript:alert(1)',
  'O:8:"stdClass":0:{}',
  '${jndi:ldap://x/a}',
  'java.lang.Runtime.getRuntime().exec("id")',
  '%27',
  '&#39;',
  '\\x27',
  'a b',
  'a\r\nb',
  '',
]

describe('the profile grammars', () => {
  it('accept no hostile value', () => {
    for (const [name, grammar] of Object.entries(grammars)) {
      expect(HOSTILE.filter((value) => grammar.test(value)), name).toEqual([])
    }
  })

  it('accept every value of their target in the realtime corpus that is what the grammar describes', () => {
    // Parameter names are generic (`id`, `t`, `token`): a value outside the grammar is inspected as usual, which is the point.
    // These must all match: the protocol headers, and the framework parameters on the frameworks' own paths.
    const misses: string[] = []
    for (const { id, app, facts } of REALTIME) {
      const headers = buildCollections(facts).get('REQUEST_HEADERS') ?? []
      const args = buildCollections(facts).get('ARGS') ?? []
      for (const item of headers) {
        if (/^sec-websocket-(?:key|version|extensions|protocol)$/i.test(item.name)) {
          const exclusion = HANDSHAKE_PROFILE.find((e) => e.kind === 'grammar' && e.key.toLowerCase() === item.name.toLowerCase())
          if (exclusion?.kind === 'grammar' && !exclusion.grammar.test(item.value)) misses.push(`${id} ${item.name}: ${item.value}`)
        }
      }
      const frameworkArgs: Record<string, readonly string[]> = { 'socket.io': ['EIO', 'transport', 'sid', 't'], signalr: ['id', 'negotiateVersion', 'access_token'], 'azure-signalr': ['id', 'negotiateVersion', 'access_token'], phoenix: ['vsn'], 'phoenix-liveview': ['vsn', '_csrf_token'], jupyter: ['session_id'], 'vite-hmr': ['token'] }
      for (const name of frameworkArgs[app] ?? []) {
        for (const item of args.filter((arg) => arg.name === name)) {
          const matching = HANDSHAKE_PROFILE.filter((e) => e.kind === 'grammar' && e.collection === 'ARGS' && e.key === name)
          if (!matching.some((e) => e.kind === 'grammar' && e.grammar.test(item.value))) misses.push(`${id} ${name}: ${item.value}`)
        }
      }
    }
    expect(misses).toEqual([])
  })

  it('take Sec-WebSocket-Key by the handshake validator\'s own pattern, not a copy of it', () => {
    expect(grammars.WEBSOCKET_KEY).toBe(WEBSOCKET_KEY_PATTERN)
  })

  it('read subprotocol and extension lists as RFC 6455 writes them', () => {
    for (const value of ['graphql-transport-ws', 'v12.stomp, v11.stomp, v10.stomp', 'actioncable-v1-json, actioncable-unsupported', 'v1.kernel.websocket.jupyter.org', 'mqttv3.1', 'wamp.2.json,wamp.2.msgpack']) {
      expect(grammars.WEBSOCKET_PROTOCOL.test(value), value).toBe(true)
    }
    for (const value of ['.hidden', 'a..b', 'a,,b', 'a/b', 'a:b', "a'b", 'a"b']) expect(grammars.WEBSOCKET_PROTOCOL.test(value), value).toBe(false)
    for (const value of ['permessage-deflate', 'permessage-deflate; client_max_window_bits', 'permessage-deflate; client_max_window_bits=15; server_no_context_takeover, x-webkit-deflate-frame', 'permessage-deflate; client_max_window_bits="10"']) {
      expect(grammars.WEBSOCKET_EXTENSIONS.test(value), value).toBe(true)
    }
    for (const value of ['permessage-deflate;', 'a; b="c d"', 'a; b=c.d', 'a;;b']) expect(grammars.WEBSOCKET_EXTENSIONS.test(value), value).toBe(false)
  })

  it('are anchored', () => {
    for (const [name, grammar] of Object.entries(grammars)) expect(grammar.source.startsWith('^') && grammar.source.endsWith('$'), name).toBe(true)
  })
})
