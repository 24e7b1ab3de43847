/**
 * The engine's warm-up: a rule set evaluated on two handshakes when `waf()`
 * starts, so that V8 compiles the rule set's regexes before the first
 * client's handshake rather than on it.
 */
import type { RuleSet } from '../rules/rule.ts'
import { PRIMITIVES } from '../primitives.ts'
import type { HandshakeFacts } from '../types.ts'
import { evaluate } from './engine.ts'

/**
 * Handshakes evaluated once at start. V8 compiles a regex on its first use:
 * without this the first client's evaluation compiles the CRS's, about
 * 40 ms, most of the default budget (and all of it on a busy host). The
 * prefilter is off for them, or most regexes would not run.
 */
const WARM_UP: readonly HandshakeFacts[] = [
  {
    method: 'GET',
    rawTarget: '/ws?room=lobby&token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln&v=2',
    protocol: 'HTTP/1.1',
    headers: [
      ['Host', 'app.example.com'],
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'],
      ['Origin', 'https://app.example.com'],
      ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits'],
      ['Accept-Encoding', 'gzip, deflate, br'],
      ['Accept-Language', 'en-US,en;q=0.9'],
      ['Cookie', 'sid=4f2a9c81; theme=dark; _ga=GA1.2.1536829182.1718012345'],
    ],
    remoteAddress: '192.0.2.10',
  },
  {
    method: 'GET',
    rawTarget: `/ws/a/../b%2e%2e?q=%3Cb%3E'%22;--%20(1)&x[]=%u0041&y=a%26b`,
    protocol: 'HTTP/1.1',
    headers: [
      ['Host', '192.0.2.1'],
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['Referer', 'https://app.example.com/?a=1&b=<x>'],
      ['Cookie', 'a=%27; b="c"'],
    ],
    remoteAddress: '::1',
  },
]

/** Evaluates `ruleSet` on {@link WARM_UP}'s handshakes: detection only, no budget, no function rules, no prefilter. */
export function warmUp(ruleSet: RuleSet): void {
  for (const facts of WARM_UP) {
    evaluate(ruleSet, facts, PRIMITIVES.buildCollections(facts), { detectionOnly: true, budgetMs: Number.POSITIVE_INFINITY, onBudgetExceeded: 'pass', now: () => 0, skipFunctionRules: true, noPrefilter: true })
  }
}

