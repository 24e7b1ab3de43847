import type { Socket } from 'node:net'
import type { OriginTunnel } from '../../runtime.ts'

/** Where a relay hands the origin's bytes: the pipe, which follows their frames and writes them to the client. */
export interface OriginSink {
  /**
   * Takes `bytes[0, length)`, read from the origin into a buffer that is
   * reused as soon as this returns (so the sink copies what it keeps).
   * Returns false when the origin must pause (the client's buffer is full);
   * the pipe resumes it on the client's `'drain'`.
   */
  relayFromOrigin(bytes: Buffer, length: number): boolean
}

/** What an upgraded origin connection hands to the pipe to relay the origin's bytes, when its connector reads them itself. */
export interface OriginRelay {
  /**
   * Starts handing the origin's bytes to `sink` (the pipe), the ones read
   * before the pipe started first. The pipe ends the client on the origin's
   * `'end'`.
   */
  start(sink: OriginSink): void
}

/**
 * An upgraded origin socket, the bytes the origin sent right after its 101,
 * and, from the raw connector, the relay that reads the socket (the pipe
 * reads other sockets itself).
 */
export class NodeOriginTunnel implements OriginTunnel {
  readonly socket: Socket
  readonly head: Buffer
  readonly relay: OriginRelay | undefined

  constructor(socket: Socket, head: Buffer, relay?: OriginRelay) {
    this.socket = socket
    this.head = head
    this.relay = relay
  }

  close(): void {
    this.socket.destroy()
  }
}
