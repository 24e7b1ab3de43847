/**
 * Failover before the answer: one request's attempts over a pool's origins,
 * shared by `websocket()` and `http()`. Portable: no `node:` import.
 */
import type { Context } from 'hono'
import { GatewayError } from '../errors.ts'
import type { OriginPool, PoolOrigin } from './pool.ts'

/** Codes of a connection that failed before any answer: the origin is tried no more, the next one is. */
const CONNECT_FAILURES: ReadonlySet<string> = new Set(['ERR_ORIGIN_UNAVAILABLE', 'ERR_ORIGIN_TIMEOUT', 'ERR_ORIGIN_TLS'])

/**
 * Whether `error` is a refused, reset, timed-out or TLS-failed connection to an origin (the connectors' 502/504).
 *
 * @example
 * isConnectFailure(new GatewayError(504, 'ERR_ORIGIN_TIMEOUT', 'origin did not answer')) // true
 */
export function isConnectFailure(error: unknown): error is GatewayError {
  return error instanceof GatewayError && CONNECT_FAILURES.has(error.code)
}

/** How one request goes through a pool. */
export interface Attempts {
  /** Time for all attempts together, ms; each attempt gets what is left (the first gets all of it). */
  budget: number
  /** Whether a failed attempt may be followed by another (false: one attempt, still counted for passive health). */
  retry: boolean
  /** True once the client has gone away: its failure is not the origin's, and nothing is retried. */
  clientGone: () => boolean
  /** Records the origin about to be tried (the log line names the one actually used). */
  note: (origin: PoolOrigin, failed: readonly FailedAttempt[] | undefined) => void
}

/** A failed attempt, for the log line. */
export interface FailedAttempt {
  origin: string
  code: string
  reason: string
}

/**
 * Runs `attempt` on the pool's pick, and on a connect failure (502
 * ERR_ORIGIN_UNAVAILABLE, 504 ERR_ORIGIN_TIMEOUT, 502 ERR_ORIGIN_TLS) on the
 * next eligible origin, at most `pool.retries` more times and only while
 * time is left. Each failure counts against its origin's health. Throws 503
 * ERR_ORIGIN_DOWN at once when every origin is down, else the last
 * failure (naming how many origins were tried when more than one was).
 * Anything else `attempt` throws passes through untouched.
 *
 * @example
 * const { origin, value } = await throughPool(pool, c, { budget: 10_000, retry: true, clientGone, note }, (origin, timeout) => connect(origin, timeout))
 */
export async function throughPool<T>(
  pool: OriginPool,
  c: Context,
  attempts: Attempts,
  attempt: (origin: PoolOrigin, timeout: number) => Promise<T>,
): Promise<{ origin: PoolOrigin; value: T }> {
  const key = pool.fixed ? undefined : pool.keyOf(c)
  let origin = pool.pick(key)
  if (!origin) throw pool.downError()
  const started = Date.now()
  let timeout = attempts.budget
  let tried: PoolOrigin[] | undefined
  let failed: FailedAttempt[] | undefined
  for (;;) {
    const current = origin
    attempts.note(current, failed)
    // Counted from the pick to the answer, so least-connections spreads a burst of handshakes.
    current.pending++
    try {
      return { origin, value: await attempt(origin, timeout) }
    } catch (error) {
      // An answer that is not HTTP (another protocol on the port, a broken head) is the origin's failure, but it
      // has answered: counted for passive health, not retried elsewhere.
      if (error instanceof GatewayError && error.code === 'ERR_ORIGIN_BAD_HANDSHAKE' && !attempts.clientGone()) pool.failed(origin, `${error.code}: ${error.message}`)
      if (!isConnectFailure(error) || attempts.clientGone()) throw error
      pool.failed(origin, `${error.code}: ${error.message}`)
      ;(failed ??= []).push({ origin: origin.label, code: error.code, reason: error.message })
      ;(tried ??= []).push(origin)
      timeout = attempts.budget - (Date.now() - started)
      const next = attempts.retry && tried.length <= pool.retries && timeout >= 1 ? pool.pick(key, tried) : undefined
      if (!next) {
        attempts.note(origin, failed)
        throw tried.length > 1 ? new GatewayError(error.status as 502, error.code, `${error.message}; ${tried.length} origins tried`, { cause: error, headers: error.headers }) : error
      }
      origin = next
    } finally {
      current.pending--
    }
  }
}
