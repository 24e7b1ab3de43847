import type { Socket } from 'node:net'

/**
 * Reading a socket that Node created (one the HTTP server accepted, plain or
 * TLS) into a caller's buffer instead of a fresh one per read.
 *
 * Node gives each read of a socket made without `onread` a new ArrayBuffer
 * (64 KiB when the peer streams). The client → origin half of a pipe is
 * such a socket: at stream rates those are hundreds of MB/s of external
 * memory awaiting collection, which measured as most of the gateway's RSS
 * growth under four 64 KiB streams (`process.memoryUsage().arrayBuffers`
 * swinging between 24 and 86 MiB). `net.connect({ onread })` avoids it for
 * sockets the gateway makes (the origin side, origin/raw.ts), but a server
 * takes no `onread` for the sockets it accepts.
 *
 * What `onread` does is small and stable since Node 12: the socket keeps
 * the buffer and callback under three private symbols (`kBuffer`,
 * `kBufferCb`, `kBufferGen`, set on every `net.Socket` at construction),
 * and its handle is told to read into the buffer (`useUserBuffer`). Node's
 * read path then calls `socket[kBufferCb](length, buffer)` with the socket
 * as `this`, stops reading when it returns false, and `socket.resume()`
 * starts reading again. This does the same on an accepted socket, found by
 * the symbols' descriptions; on a Node where they are not found it does
 * nothing and returns false, and the caller keeps reading `'data'` events.
 */

/** Node's private `onread` slots on a `net.Socket`. */
interface OnreadSymbols {
  readonly buffer: symbol
  readonly callback: symbol
}

/** Looked up on the first socket (undefined until then); null when this Node has no such slots. */
let symbols: OnreadSymbols | null | undefined

function onreadSymbols(socket: object): OnreadSymbols | null {
  if (symbols !== undefined) return symbols
  const byName = new Map<string | undefined, symbol>()
  for (const symbol of Object.getOwnPropertySymbols(socket)) byName.set(symbol.description, symbol)
  const buffer = byName.get('kBuffer')
  const callback = byName.get('kBufferCb')
  // kBufferGen must be there too (and stays null: the buffer is fixed), or this is not the layout described above.
  symbols = buffer && callback && byName.has('kBufferGen') ? { buffer, callback } : null
  return symbols
}

/** A socket's handle, as far as this needs it. */
interface ReadHandle {
  useUserBuffer?: (buffer: Uint8Array) => void
}

/**
 * From now on `socket`'s reads land in `buffer` and are handed to
 * `callback` (with the socket as `this`): `bytes[0, length)`, valid until it
 * returns; returning false stops reading until `socket.resume()`. Bytes the
 * socket had already read before still come as `'data'` events once it
 * flows, so keep a `'data'` listener too. Returns false, changing nothing,
 * when Node offers no way to do it (the caller then reads `'data'` events
 * only), the socket already reads into a buffer of its own, or it is not a
 * socket at all (a pipe's HTTP/2 endpoint: no handle).
 *
 * `buffer` may be shared by many sockets: the event loop runs one read
 * callback at a time, and each must copy out what it keeps before it
 * returns.
 *
 * @example
 * readInto(client, SHARED_READ_BUFFER, function onClientRead(length, bytes) { return writeCopy(origin, bytes, length) })
 * client.on('data', (chunk) => origin.write(chunk)) // what was read before the switch
 */
export function readInto(socket: object, buffer: Buffer, callback: (this: Socket, length: number, bytes: Buffer) => boolean): boolean {
  const handle = (socket as { _handle?: ReadHandle | null })._handle
  if (typeof handle?.useUserBuffer !== 'function') return false
  const slots = onreadSymbols(socket)
  if (!slots) return false
  const record = socket as unknown as Record<symbol, unknown>
  if (record[slots.buffer]) return false
  handle.useUserBuffer(buffer)
  record[slots.buffer] = buffer
  record[slots.callback] = callback
  return true
}
