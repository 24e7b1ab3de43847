import v8 from 'node:v8'

/**
 * V8 flag that re-runs a regular expression on its linear-time engine once
 * backtracking gets excessive (after `--regexp-backtracks-before-fallback`,
 * 50,000 by default), instead of backtracking for seconds or minutes.
 */
const LINEAR_FALLBACK_FLAG = '--enable-experimental-regexp-engine-on-excessive-backtracks'

let enabled = false

/**
 * Bounds the cost of pathological regular expressions in this process. The
 * gateway runs untrusted input through many regexes at handshake time (the
 * WAF runs the CRS's), and some CRS patterns backtrack catastrophically in
 * V8, where PCRE has match limits: rule 932110 took 94 s on a value of 4,000
 * newlines, a one-request denial of service on a synchronous event loop.
 * With the linear fallback the same match takes milliseconds. The flag acts
 * on regexes compiled before it was set, too; patterns with lookarounds or
 * back-references cannot fall back and stay the WAF's time budget's concern.
 */
export function guardRegExpBacktracking(): void {
  if (enabled) return
  v8.setFlagsFromString(LINEAR_FALLBACK_FLAG)
  enabled = true
}
