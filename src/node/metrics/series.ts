/**
 * Where the per-handshake and per-connection counts are kept between two
 * scrapes: each series is a cell found by its label values through nested
 * `Map`s, and the cells are copied into their prom-client metric when it is
 * scraped (its `collect()`). prom-client's own `inc()`/`observe()` build a
 * label object, validate it and concatenate a hash string per call, then
 * look that string up in a dictionary object; here a count is two or three
 * `Map` lookups on values the caller already holds (a route pattern, a
 * status number, a code constant) and one addition. The export is the
 * same: the same series, in the order they were first counted, with the
 * same values (a histogram's sum adds the same numbers in the same order).
 *
 * There is one cell per exported series and nothing else: the cells are
 * bounded exactly as the series are (routes × statuses × codes).
 * @module
 */
import type { Counter, Histogram, LabelValues } from 'prom-client'

/** One series of a counter: its labels (made once, when it is first counted) and its count. */
interface CounterCell {
  readonly labels: LabelValues<string>
  value: number
}

/** The label object of a new series, from the values it is found by. */
type LabelsOf<A, B, C> = (a: A, b: B, c: C) => LabelValues<string>

/**
 * The series of a counter with three labels, found by three values (strings
 * or numbers, as the caller has them: a status or close code need not be
 * made a string per count).
 *
 * @example
 * const closes = new CounterSeries<string, string, number | undefined>((route, cause, code) => ({ route, cause, code: code === undefined ? '' : String(code) }))
 * closes.inc('/chat/:room', 'client', 1000)
 * // in the prom-client Counter's collect(): closes.copyTo(this)
 */
export class CounterSeries<A, B, C> {
  readonly #byA = new Map<A, Map<B, Map<C, CounterCell>>>()
  /** Every cell, in the order its series was first counted (the export's order). */
  readonly #cells: CounterCell[] = []
  readonly #labelsOf: LabelsOf<A, B, C>

  /** `labelsOf`: the label object of the series of (a, b, c), called once per series. */
  constructor(labelsOf: LabelsOf<A, B, C>) {
    this.#labelsOf = labelsOf
  }

  /** Adds one to the series of (a, b, c). */
  inc(a: A, b: B, c: C): void {
    let byB = this.#byA.get(a)
    if (byB === undefined) this.#byA.set(a, (byB = new Map()))
    let byC = byB.get(b)
    if (byC === undefined) byB.set(b, (byC = new Map()))
    const cell = byC.get(c)
    if (cell !== undefined) {
      cell.value += 1
      return
    }
    const created: CounterCell = { labels: this.#labelsOf(a, b, c), value: 1 }
    byC.set(c, created)
    this.#cells.push(created)
  }

  /** Puts the counts into `counter` (from its `collect()`): what it held is replaced. */
  copyTo(counter: Counter<string>): void {
    counter.reset()
    for (const cell of this.#cells) counter.inc(cell.labels, cell.value)
  }
}

/** One series of a histogram: its labels, the count of each bucket (not cumulative), the sum and the count. */
interface HistogramCell {
  readonly labels: LabelValues<string>
  readonly buckets: number[]
  sum: number
  count: number
}

/** What prom-client keeps of one histogram series (`zero()` makes it; its export reads it). */
interface PromHistogramEntry {
  bucketValues: Record<number, number>
  sum: number
  count: number
}

/**
 * The series of a histogram with one label (the route), found by its value.
 * Observations are placed as prom-client places them: in the first bucket
 * whose upper bound is at least the value, in none (only `+Inf`, the count)
 * past the last.
 *
 * @example
 * const durations = new HistogramSeries('route', [1, 5, 15])
 * durations.observe('/chat/:room', 2.5)
 * // in the prom-client Histogram's collect(): durations.copyTo(this)
 */
export class HistogramSeries {
  readonly #labelName: string
  readonly #bounds: readonly number[]
  readonly #byValue = new Map<string, HistogramCell>()
  /** Every cell, in the order its series was first observed. */
  readonly #cells: HistogramCell[] = []

  /** `labelName`: the one label; `bounds`: the histogram's buckets, ascending, as it was made with. */
  constructor(labelName: string, bounds: readonly number[]) {
    this.#labelName = labelName
    this.#bounds = bounds
  }

  /** Observes `value` in the series whose label is `label`. */
  observe(label: string, value: number): void {
    // As prom-client: a value that is not a finite number is refused, not counted.
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`)
    let cell = this.#byValue.get(label)
    if (cell === undefined) {
      cell = { labels: { [this.#labelName]: label }, buckets: new Array<number>(this.#bounds.length).fill(0), sum: 0, count: 0 }
      this.#byValue.set(label, cell)
      this.#cells.push(cell)
    }
    const bounds = this.#bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        cell.buckets[i]! += 1
        break
      }
    }
    cell.sum += value
    cell.count += 1
  }

  /** Puts the series into `histogram` (from its `collect()`): what it held is replaced. */
  copyTo(histogram: Histogram<string>): void {
    histogram.reset()
    const bounds = this.#bounds
    for (const cell of this.#cells) histogram.zero(cell.labels)
    // zero() adds one entry per series, in the cells' order; prom-client exports each entry's bucketValues, sum and count.
    const entries = Object.values((histogram as unknown as { hashMap: Record<string, PromHistogramEntry> }).hashMap)
    for (let i = 0; i < this.#cells.length; i++) {
      const cell = this.#cells[i]!
      const entry = entries[i]!
      for (let b = 0; b < bounds.length; b++) entry.bucketValues[bounds[b]!] = cell.buckets[b]!
      entry.sum = cell.sum
      entry.count = cell.count
    }
  }
}
