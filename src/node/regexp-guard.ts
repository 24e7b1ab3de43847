import v8 from 'node:v8'

/**
 * V8 flag that re-runs a regular expression on its linear-time engine once
 * backtracking gets excessive (after `--regexp-backtracks-before-fallback`),
 * instead of backtracking for seconds or minutes.
 */
const LINEAR_FALLBACK_FLAG = '--enable-experimental-regexp-engine-on-excessive-backtracks'

/**
 * Backtracks before the fallback, instead of V8's 50,000. The count is of
 * backtracks, not of steps: between two of them a CRS pattern can scan far
 * ahead, and at 50,000 CRS 942370 spent 0.6 s on 16 KB of `--` (941160 0.5 s
 * on `<!--`) before falling back to a linear engine that takes 2–8 ms. At
 * 1,000 no CRS rule spends more than ~55 ms on any 16 KB value
 * `bench/redos.ts` tries (~22 ms at 300, but then benign handshakes fall
 * back three times as often, and the linear engine recompiles the pattern
 * each time: +6 % on the benign corpus's median evaluation).
 */
const BACKTRACKS_BEFORE_FALLBACK = 1_000

let enabled = false

/**
 * Bounds the cost of pathological regular expressions in this process. The
 * gateway runs untrusted input through many regexes at handshake time (the
 * WAF runs the CRS's), and some CRS patterns backtrack catastrophically in
 * V8, where PCRE has match limits: rule 932110 took 94 s on a value of 4,000
 * newlines, a one-request denial of service on a synchronous event loop.
 * With the linear fallback the same match takes milliseconds. The flag acts
 * on regexes compiled before it was set, too. Patterns with lookaheads,
 * back-references or counted repeats above 16 cannot fall back; the WAF's
 * translation keeps those out of the CRS where it can (`regex-linear.ts`).
 */
export function guardRegExpBacktracking(): void {
  if (enabled) return
  v8.setFlagsFromString(LINEAR_FALLBACK_FLAG)
  v8.setFlagsFromString(`--regexp-backtracks-before-fallback=${BACKTRACKS_BEFORE_FALLBACK}`)
  enabled = true
}
