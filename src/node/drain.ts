import { GatewayError } from '../errors.ts'

/**
 * A `Set` that tells when it has become empty: the gateway's open pipes,
 * which a draining or closing gateway waits out. `whenEmpty()` resolves at
 * once when nothing is in it, else at the `delete()` or `clear()` that
 * empties it.
 *
 * @example
 * const pipes = new WatchedSet<Pipe>()
 * await pipes.whenEmpty() // after the last pipe's onEnd deleted it
 */
export class WatchedSet<T> extends Set<T> {
  #waiters: (() => void)[] = []

  /** Resolves once the set is empty (at once if it is). */
  whenEmpty(): Promise<void> {
    if (this.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  override delete(value: T): boolean {
    const deleted = super.delete(value)
    if (deleted && this.size === 0) this.#wake()
    return deleted
  }

  override clear(): void {
    super.clear()
    this.#wake()
  }

  #wake(): void {
    for (const resolve of this.#waiters.splice(0)) resolve()
  }
}

/**
 * Calls `each` on every item of `items` in order, spread evenly over
 * `window` ms: the first at once, the i-th (from 0) at `i * window / n`,
 * so the last comes one step before the window ends. Resolves after the
 * last call, or at once when `signal` aborts (the rest are not called).
 * Due times are counted from the start, not chained from timer to timer,
 * so late timers do not stretch the window; items due in the same
 * millisecond are handled in one timer callback.
 *
 * @example
 * // 3,000 connections over 30 s: one every 10 ms, oldest first.
 * await spreadOver([...gateway.pipes], 30_000, (pipe) => pipe.close('drain'), abort.signal)
 */
export function spreadOver<T>(items: readonly T[], window: number, each: (item: T) => void, signal?: AbortSignal): Promise<void> {
  const count = items.length
  return new Promise((resolve) => {
    const started = performance.now()
    let next = 0
    let timer: NodeJS.Timeout | undefined
    const stop = (): void => {
      clearTimeout(timer)
      resolve()
    }
    const tick = (): void => {
      if (signal?.aborted) return stop()
      // Items due by now: the i-th is due at i * window / count.
      const elapsed = performance.now() - started
      const due = Math.min(count, Math.floor((elapsed * count) / window) + 1)
      while (next < due) each(items[next++]!)
      if (next >= count) {
        signal?.removeEventListener('abort', stop)
        return resolve()
      }
      timer = setTimeout(tick, Math.max(1, started + (next * window) / count - performance.now()))
    }
    signal?.addEventListener('abort', stop, { once: true })
    if (count === 0) {
      signal?.removeEventListener('abort', stop)
      return resolve()
    }
    tick()
  })
}

/**
 * The answer to a handshake or plain request that reaches a draining
 * gateway: 503 `ERR_GATEWAY_DRAINING` with `Retry-After`, so a client (or
 * a load balancer) tries again elsewhere or a little later.
 *
 * @example
 * if (state.draining) return drainingError(settings.retryAfter).getResponse()
 */
export function drainingError(retryAfter: number): GatewayError {
  return new GatewayError(503, 'ERR_GATEWAY_DRAINING', 'gateway is shutting down, retry later', {
    headers: { 'retry-after': String(retryAfter) },
  })
}
