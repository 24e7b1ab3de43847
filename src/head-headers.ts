import { GatewayError } from './errors.ts'
import { forwardsToOrigin, HTTP_TOKEN } from './headers.ts'

/**
 * A header list kept as the flat `name, value, …` lines it came from (a
 * request head's, an origin's 101), answering as a `Headers` does. Building
 * a `Headers` validates and copies each line through the Fetch API's WebIDL
 * machinery, and on a WebSocket handshake that is most of the work done
 * with headers: the chain reads a few names, the list is forwarded once,
 * the origin's answer is checked and relayed once. Every call works on the
 * lines; when a real `Request` is made from them (`adopt()`), its `Headers`
 * answers everything after.
 *
 * `instanceof Headers` holds. Iteration order and value joining are the
 * Fetch standard's, as undici's `Headers` does them: names lower-cased and
 * sorted, repeated lines joined with `, ` (`; ` for `cookie`), each
 * `set-cookie` on its own.
 */
export class HeadHeaders {
  /** The lines; `#owned` false while they may be another list's too (copy on write). Empty once `#native` exists. */
  #lines: string[]
  #owned: boolean
  #native: Headers | undefined
  /** The sorted, joined entries, made on the first iteration after a change. */
  #entries: [string, string][] | undefined

  /**
   * Lines checked as `Headers` would check them: a name that is not a token,
   * a value with NUL, CR, LF or a character beyond a byte is 400
   * `ERR_HANDSHAKE_MALFORMED` (the request head's lines: a client sent
   * them); values are trimmed of HTTP whitespace as `Headers` stores them.
   */
  static fromRequestLines(lines: readonly string[]): HeadHeaders {
    let normalised: string[] | undefined
    for (let i = 0; i < lines.length; i += 2) {
      if (!HTTP_TOKEN.test(lines[i]!)) throw malformed()
      const value = lines[i + 1]!
      const trimmed = trimHttpWhitespace(value)
      if (INVALID_VALUE.test(trimmed)) throw malformed()
      if (trimmed !== value) (normalised ??= lines.slice())[i + 1] = trimmed
    }
    return new HeadHeaders(normalised ?? (lines as string[]), normalised !== undefined)
  }

  /** Lines a parser already held to the Fetch API's rules (token names; trimmed values without NUL, CR or LF), e.g. an origin's response head. */
  static fromCheckedLines(lines: string[]): HeadHeaders {
    return new HeadHeaders(lines, false)
  }

  private constructor(lines: string[], owned: boolean) {
    this.#lines = lines
    this.#owned = owned
  }

  /** An independent list with the same lines (a request copied by `replaceRequest()` with a new URL only). */
  copy(): HeadHeaders {
    if (this.#native) return HeadHeaders.of(this.#native)
    // Both now share the lines: whichever changes first copies them.
    this.#owned = false
    return new HeadHeaders(this.#lines, false)
  }

  /** Lines equal to `headers` and independent of it, whichever kind of list it is (a Headers' entries are valid already). */
  static of(headers: Headers): HeadHeaders {
    const source = headers as unknown as HeadHeaders | Headers
    if (source instanceof HeadHeaders) return source.copy()
    const lines: string[] = []
    for (const [name, value] of source) lines.push(name, value)
    return new HeadHeaders(lines, true)
  }

  /**
   * What `forwardHeaders()` makes of this list, as lines: every entry but the
   * hop-by-hop ones, and `host` replaced by `host` when given.
   */
  forwarded(host: string | undefined): HeadHeaders {
    const lines: string[] = []
    // The joined entries, each re-trimmed: what appending them to a new Headers made of them (an empty line's
    // join ends in a space), so the origin gets the same lines whichever kind of list the chain left.
    for (const [name, value] of this.#native ?? this.#sorted()) if (forwardsToOrigin(name, host !== undefined)) lines.push(name, trimHttpWhitespace(value))
    if (host !== undefined) lines.push('host', host)
    return new HeadHeaders(lines, true)
  }

  /**
   * The real `Headers` from here on, for a request or response made from
   * these lines: its list becomes this one's, so a change through either is
   * seen by both.
   */
  adopt(headers: Headers): void {
    this.#fill(headers)
    this.#native = headers
    this.#lines = []
    this.#entries = undefined
  }

  /** Appends the current list to `headers`. */
  #fill(headers: Headers): void {
    if (this.#native) {
      for (const [name, value] of this.#native) headers.append(name, value)
      return
    }
    const lines = this.#lines
    for (let i = 0; i < lines.length; i += 2) headers.append(lines[i]!, lines[i + 1]!)
  }

  get(name: string): string | null {
    if (this.#native) return this.#native.get(name)
    const lower = lowerName(name)
    const lines = this.#lines
    let value: string | null = null
    for (let i = 0; i < lines.length; i += 2) {
      const line = lines[i]!
      if (line.length === lower.length && (line === lower || line.toLowerCase() === lower)) {
        value = value === null ? lines[i + 1]! : value + (lower === 'cookie' ? '; ' : ', ') + lines[i + 1]!
      }
    }
    return value
  }

  has(name: string): boolean {
    if (this.#native) return this.#native.has(name)
    return this.#holds(lowerName(name))
  }

  /** Whether a line has the lower-cased `name`. */
  #holds(lower: string): boolean {
    const lines = this.#lines
    for (let i = 0; i < lines.length; i += 2) {
      const line = lines[i]!
      if (line.length === lower.length && (line === lower || line.toLowerCase() === lower)) return true
    }
    return false
  }

  getSetCookie(): string[] {
    if (this.#native) return this.#native.getSetCookie()
    const cookies: string[] = []
    const lines = this.#lines
    for (let i = 0; i < lines.length; i += 2) if (lines[i]!.toLowerCase() === 'set-cookie') cookies.push(lines[i + 1]!)
    return cookies
  }

  /** Kept as a line (checked and normalised as `Headers.append` does it, with its TypeError). */
  append(name: string, value: string): void {
    if (this.#native) return this.#native.append(name, value)
    const trimmed = checkedValue(name, value)
    if (!this.#owned) {
      this.#lines = this.#lines.slice()
      this.#owned = true
    }
    this.#lines.push(name, trimmed)
    this.#entries = undefined
  }

  /** Every line of `name` replaced by one (checked as `Headers.set` does it). */
  set(name: string, value: string): void {
    if (this.#native) return this.#native.set(name, value)
    const trimmed = checkedValue(name, value)
    this.#remove(lowerName(name))
    this.#lines.push(name, trimmed)
  }

  delete(name: string): void {
    if (this.#native) return this.#native.delete(name)
    const lower = lowerName(name)
    // Nothing to drop (the usual case, e.g. the gateway's own names on an origin's 101): the lines stay as they are, uncopied.
    if (this.#holds(lower)) this.#remove(lower)
  }

  /** Drops every line of a lower-cased `name`, leaving the list owned (ready for a push). */
  #remove(lower: string): void {
    const lines = this.#lines
    const kept: string[] = []
    for (let i = 0; i < lines.length; i += 2) {
      const line = lines[i]!
      if (!(line.length === lower.length && (line === lower || line.toLowerCase() === lower))) kept.push(line, lines[i + 1]!)
    }
    this.#lines = kept
    this.#owned = true
    this.#entries = undefined
  }

  entries(): HeadersIterator<[string, string]> {
    return this.#native ? this.#native.entries() : this.#iterate(ENTRY)
  }

  keys(): HeadersIterator<string> {
    return this.#native ? this.#native.keys() : this.#iterate(KEY)
  }

  values(): HeadersIterator<string> {
    return this.#native ? this.#native.values() : this.#iterate(VALUE)
  }

  /** As `Headers.forEach`: `this` is `globalThis` unless given, and a line the callback appends is visited too. */
  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg: unknown = globalThis): void {
    for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this as unknown as Headers)
  }

  [Symbol.iterator](): HeadersIterator<[string, string]> {
    return this.entries()
  }

  /**
   * Live, as a `Headers` iterator is: each step reads the list as it is
   * then (a line appended meanwhile is seen), by position; each entry a
   * fresh pair, so writing to one changes nothing.
   */
  *#iterate<T>(pick: (entry: [string, string]) => T): HeadersIterator<T> {
    for (let at = 0; ; at++) {
      const entries = this.#native ? [...this.#native] : this.#sorted()
      if (at >= entries.length) return undefined
      yield pick(entries[at]!)
    }
  }

  /** The Fetch standard's "sort and combine": lower-cased names in order, repeated lines joined, each set-cookie apart. */
  #sorted(): [string, string][] {
    if (this.#entries) return this.#entries
    const lines = this.#lines
    const entries: [string, string][] = []
    // Stable either way: a repeated name's lines stay in arrival order next to each other. Names are ASCII tokens:
    // code-unit order is byte order. A usual list (a list built from another's iteration arrives sorted but for a
    // line or two at its end) is sorted by insertion as it is read; a long one by Array#sort, since insertion is
    // quadratic and a client can send a couple of thousand short lines in reverse order within the head's size limit.
    const short = lines.length <= 2 * INSERTION_SORT_MAX
    for (let i = 0; i < lines.length; i += 2) {
      const entry: [string, string] = [lines[i]!.toLowerCase(), lines[i + 1]!]
      let at = entries.length
      if (short) while (at > 0 && entries[at - 1]![0] > entry[0]) at--
      if (at === entries.length) entries.push(entry)
      else entries.splice(at, 0, entry)
    }
    if (!short) entries.sort(byName)
    let kept = 0
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      const previous = kept > 0 ? entries[kept - 1]! : undefined
      if (previous !== undefined && previous[0] === entry[0] && entry[0] !== 'set-cookie') {
        previous[1] += (entry[0] === 'cookie' ? '; ' : ', ') + entry[1]
      } else {
        entries[kept++] = entry
      }
    }
    entries.length = kept
    return (this.#entries = entries)
  }
}
Object.setPrototypeOf(HeadHeaders.prototype, Headers.prototype)
Object.defineProperty(HeadHeaders.prototype, Symbol.toStringTag, { value: 'Headers', configurable: true })
// Node's inspector for Headers reads undici's private list, which a HeadHeaders has not: print the entries.
Object.defineProperty(HeadHeaders.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  configurable: true,
  value(this: HeadHeaders, depth: number | null, options: object, inspect: (value: unknown, options: object) => string): string {
    return `HeadHeaders ${inspect(Object.fromEntries(this as unknown as Headers), { ...options, depth: depth === null ? null : depth - 1 })}`
  },
})

function ENTRY(entry: [string, string]): [string, string] {
  return [entry[0], entry[1]]
}

function KEY(entry: [string, string]): string {
  return entry[0]
}

function VALUE(entry: [string, string]): string {
  return entry[1]
}

/** Lists up to this many lines are sorted by insertion; longer ones by Array#sort (see `#sorted`). */
const INSERTION_SORT_MAX = 32

function byName(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
}

/** NUL, CR or LF (Fetch standard, "header value"), or a character beyond a byte (WebIDL ByteString): what `Headers` refuses in a value. */
const INVALID_VALUE = /[\0\r\n\u0100-\uffff]/


/** A name given to `get`/`has`/`append`, lower-cased; a TypeError for anything `Headers` refuses, as it throws one. */
function lowerName(name: string): string {
  const text = String(name)
  if (!HTTP_TOKEN.test(text)) throw new TypeError(`Headers: invalid header name ${JSON.stringify(text)}`)
  return text.toLowerCase()
}

/** A name and value as `Headers` would take them: the value normalised, a TypeError for either refused. */
function checkedValue(name: string, value: string): string {
  lowerName(name)
  const trimmed = trimHttpWhitespace(String(value))
  if (INVALID_VALUE.test(trimmed)) throw new TypeError(`Headers: invalid value for ${JSON.stringify(String(name))}`)
  return trimmed
}

/**
 * An empty header list of `source`'s kind: lines when `source` is lines, so
 * that a middleware building the list to forward keeps the cheap kind.
 */
export function emptyHeadersLike(source: Headers): Headers {
  return source instanceof HeadHeaders ? (HeadHeaders.fromCheckedLines([]) as unknown as Headers) : new Headers()
}

/** A copy of `source`, of its kind (see {@link emptyHeadersLike}): `new Headers(source)` for a real one. */
export function copyHeaders(source: Headers): Headers {
  return source instanceof HeadHeaders ? (source.copy() as unknown as Headers) : new Headers(source)
}

/** Strips leading and trailing HTTP whitespace (HTAB, LF, CR, SP), as `Headers` normalises a value. */
function trimHttpWhitespace(value: string): string {
  let start = 0
  let end = value.length
  while (start < end && isHttpWhitespace(value.charCodeAt(start))) start++
  while (end > start && isHttpWhitespace(value.charCodeAt(end - 1))) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}

function isHttpWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d
}

function malformed(): GatewayError {
  return new GatewayError(400, 'ERR_HANDSHAKE_MALFORMED', 'malformed header name or value')
}
