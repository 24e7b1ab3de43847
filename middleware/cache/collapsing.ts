/**
 * Request collapsing: concurrent misses for one key wait for the first one's answer instead of each going to
 * the origin (RFC 9111 §4: a cache may reuse a response it receives while requests wait for it).
 * @module
 */

/** How a wait for the request in flight ended. */
export type WaitOutcome = 'stored' | 'not-stored' | 'timeout'

/** The request in flight for a key, and how many wait for it. */
interface Flight {
  readonly settled: Promise<boolean>
  readonly settle: (stored: boolean) => void
  waiters: number
}

/**
 * The requests in flight to the origin, one per key (method, URL and implicit key; `Vary` is checked when a
 * waiter looks the stored response up). A waiter is never handed the leader's response itself: it looks in
 * the store again once the leader's response is stored, so it only ever gets what the store would give it —
 * a response storable by a shared cache whose `Vary` matches its own request, fresh enough for it.
 */
export class InFlight {
  private readonly flights = new Map<string, Flight>()
  private readonly maxWait: number
  private readonly maxWaiters: number

  /**
   * @param maxWait longest a request waits, in ms, before going to the origin itself
   * @param maxWaiters requests that may wait for one key; more go to the origin without waiting
   */
  constructor(maxWait: number, maxWaiters: number) {
    this.maxWait = maxWait
    this.maxWaiters = maxWaiters
  }

  /**
   * Makes this request the one in flight for `key` if none is, returning the function to call once its
   * response is stored (`true`) or will not be (`false`); `undefined` when another one already leads.
   */
  lead(key: string): ((stored: boolean) => void) | undefined {
    if (this.flights.has(key)) return undefined
    let resolve!: (stored: boolean) => void
    const settled = new Promise<boolean>((done) => (resolve = done))
    let done = false
    const flight: Flight = {
      settled,
      waiters: 0,
      settle: (stored) => {
        if (done) return
        done = true
        if (this.flights.get(key) === flight) this.flights.delete(key)
        resolve(stored)
      },
    }
    this.flights.set(key, flight)
    return flight.settle
  }

  /**
   * Waits for the request in flight for `key`, at most until `deadline` (ms on `Date.now()`); `undefined`
   * at once when none is in flight, collapsing is off, or too many wait already.
   */
  wait(key: string, deadline: number): Promise<WaitOutcome> | undefined {
    const flight = this.flights.get(key)
    const left = deadline - Date.now()
    if (!flight || left <= 0 || flight.waiters >= this.maxWaiters) return undefined
    flight.waiters++
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<WaitOutcome>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), left)
    })
    return Promise.race([flight.settled.then((stored): WaitOutcome => (stored ? 'stored' : 'not-stored')), timeout]).finally(() => {
      clearTimeout(timer)
      flight.waiters--
    })
  }

  /** The deadline of a wait starting now. */
  deadline(): number {
    return Date.now() + this.maxWait
  }

  /** Whether collapsing is on. */
  get enabled(): boolean {
    return this.maxWait > 0 && this.maxWaiters > 0
  }
}
