import { WITH_CHANGES, type RequestChanges } from '../forward.ts'
import { HeadHeaders } from '../head-headers.ts'

/**
 * The chain's `Request` on the Node upgrade path, built lazily: what a
 * handshake's chain reads (`method`, `url`, `headers`) is answered from the
 * parsed head; a real `Request` is made only when something else is asked
 * (`signal`, `clone()`, `cache`, …), and answers from then on. An upgrade
 * has no body, so `body` is null and `bodyUsed` false without one.
 *
 * Why: on a handshake the undici `Request` and its header list cost more
 * than the rest of the chain's own work on an empty chain (each line
 * validated and copied through WebIDL conversions, an AbortController, the
 * URL parsed again), and most chains read three names. @hono/node-server
 * builds its requests the same way.
 *
 * `instanceof Request` holds and every member of `Request` is there;
 * `new Request(c.req.raw, init)` works through the global `Request`, which
 * this module extends to take a stand-in (see `followGlobalRequest`).
 * A middleware that changes the request still calls
 * `replaceRequest(c, changes)`, as the README says, which keeps it lazy.
 */
export class HeadRequest {
  // Every other member of Request is handed to materialize()'s Request (see standInFor).
  readonly #url: string
  readonly #method: string
  readonly #headers: HeadHeaders
  #real: Request | undefined

  /** `headers`: the list this request alone holds. */
  constructor(url: string, method: string, headers: HeadHeaders) {
    this.#url = url
    this.#method = method
    this.#headers = headers
  }

  get url(): string {
    return this.#url
  }

  get method(): string {
    return this.#method
  }

  get headers(): Headers {
    return this.#real ? this.#real.headers : (this.#headers as unknown as Headers)
  }

  get body(): null {
    return null
  }

  get bodyUsed(): boolean {
    return false
  }

  /** The real `Request`, made once; its header list becomes this one's. */
  materialize(): Request {
    if (this.#real) return this.#real
    const real = new Request(this.#url, { method: this.#method })
    this.#headers.adopt(real.headers)
    return (this.#real = real)
  }

  /** A copy with `changes` applied, as lazy as this one: what `replaceRequest()` makes of an upgrade's request. */
  [WITH_CHANGES](changes: RequestChanges): Request {
    // As `new Request(current, { headers })` would: the list is copied (the middleware's own object stays its own),
    // and a URL is parsed and serialised (a string that is no URL is the TypeError Request throws).
    const headers = HeadHeaders.of(changes.headers ?? this.headers)
    const url = changes.url === undefined ? this.#url : typeof changes.url === 'string' ? new URL(changes.url).href : changes.url.href
    return new HeadRequest(url, this.#method, headers) as unknown as Request
  }
}

/** The global `Request` as HeadRequest last saw it: its own subclass of whatever was there (see {@link followGlobalRequest}). */
let parent: typeof Request | undefined

/**
 * Makes the global `Request` one that takes a HeadRequest as its input, and
 * HeadRequest a stand-in for it. `new Request(c.req.raw, init)` is how
 * Hono users copy a request, and undici's constructor cannot read a
 * stand-in: the subclass hands it the real request instead, as
 * @hono/node-server's own `Request` does for its lazy requests (it swaps
 * the global when its listener is made, after this module loaded, and may
 * again; so this runs whenever the global is not the one made here).
 * `instanceof` answers as the class it extends does.
 */
function followGlobalRequest(): void {
  const Base = globalThis.Request
  class Request extends Base {
    constructor(input: RequestInfo | URL, init?: RequestInit) {
      super(input instanceof HeadRequest ? input.materialize() : input, init)
    }

    static override [Symbol.hasInstance](value: unknown): boolean {
      return Function.prototype[Symbol.hasInstance].call(Base, value)
    }
  }
  Object.defineProperty(globalThis, 'Request', { value: Request, writable: true, configurable: true })
  parent = Request
  standInFor(HeadRequest, Request)
}

/**
 * The chain's request for an upgrade: `url` (the head's normalised URL),
 * `method` and the head's lines, which are checked here as `Headers` would
 * check them (400 `ERR_HANDSHAKE_MALFORMED`).
 *
 * @example
 * const request = toHeadRequest(head.url, 'GET', head.headers)
 * request.headers.get('sec-websocket-key')
 */
export function toHeadRequest(url: string, method: string, lines: readonly string[]): Request {
  if (parent !== globalThis.Request) followGlobalRequest()
  return new HeadRequest(url, method, HeadHeaders.fromRequestLines(lines)) as unknown as Request
}

/** A stand-in that can make the real object it stands for. */
interface Materializes<Real extends object> {
  materialize(): Real
}

/**
 * Makes `stand-in instanceof base` hold and hands each member of `base`'s
 * prototype chain that `standIn` does not define itself (getters and
 * methods, string- or symbol-keyed) to the materialized object. Call again
 * when `base` changes (a global replaced by a subclass): members already
 * handed over stay, since they work for any subclass of the same base.
 */
function standInFor<Real extends object>(standIn: { prototype: Materializes<Real> }, base: { prototype: Real }): void {
  const target = standIn.prototype
  Object.setPrototypeOf(target, base.prototype)
  for (let proto: object | null = base.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Reflect.ownKeys(proto)) {
      if (key === 'constructor' || Object.prototype.hasOwnProperty.call(target, key)) continue
      const descriptor = Object.getOwnPropertyDescriptor(proto, key)!
      if (descriptor.get) {
        const getter = descriptor.get
        Object.defineProperty(target, key, {
          configurable: true,
          get(this: Materializes<Real>) {
            return getter.call(this.materialize())
          },
        })
      } else if (typeof descriptor.value === 'function') {
        const method = descriptor.value as (...args: unknown[]) => unknown
        Object.defineProperty(target, key, {
          configurable: true,
          writable: true,
          value(this: Materializes<Real>, ...args: unknown[]) {
            return method.apply(this.materialize(), args)
          },
        })
      } else {
        // Plain values (Symbol.toStringTag): the same on the stand-in.
        Object.defineProperty(target, key, descriptor)
      }
    }
  }
}
