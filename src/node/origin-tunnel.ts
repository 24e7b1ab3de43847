import type { Socket } from 'node:net'
import type { OriginTunnel } from '../runtime.ts'

/** An upgraded origin socket, plus the bytes the origin sent right after its 101. */
export class NodeOriginTunnel implements OriginTunnel {
  readonly socket: Socket
  readonly head: Buffer

  constructor(socket: Socket, head: Buffer) {
    this.socket = socket
    this.head = head
  }

  close(): void {
    this.socket.destroy()
  }
}
