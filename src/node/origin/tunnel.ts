import type { Socket } from 'node:net'
import type { OriginTunnel } from '../../runtime.ts'

/** What an upgraded origin connection hands to the pipe to relay the origin's bytes, when its connector reads them itself. */
export interface OriginRelay {
  /**
   * Starts writing the origin's bytes to `client`. A write that fills the
   * client's buffer pauses the origin socket; the pipe resumes it on the
   * client's `'drain'` and ends the client on the origin's `'end'`.
   */
  start(client: Socket): void
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
