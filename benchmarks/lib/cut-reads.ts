/**
 * For the reference row `libp2p tcp, reads cut to <n> B`: this process's TCP sockets hand each
 * read to their listeners as pieces of one uTP packet's payload, each copied into a buffer of its
 * own, the way node:dgram hands over datagrams. libp2p (Noise, Yamux) then does its per-chunk work
 * on as many chunks as over uTP, while TCP still does the transport's work in the kernel: the
 * starting point of an estimate of what libp2p can reach over node:dgram (benchmarks/ANALYSIS.md).
 */

import { Socket } from 'node:net'
import { Uint8ArrayList } from 'uint8arraylist'

export function cutTcpReads (pieceSize: number): void {
  const emit = Socket.prototype.emit as (this: Socket, event: string | symbol, ...args: any[]) => boolean
  Socket.prototype.emit = function (this: Socket, event: string | symbol, ...args: any[]): boolean {
    const data = args[0]
    // TCP connections only (they have a remote port): the worker's stdin is a net.Socket too
    if (event !== 'data' || this.remotePort == null || !(data instanceof Uint8Array) || data.byteLength <= pieceSize) {
      return emit.call(this, event, ...args)
    }
    const pieces = new Uint8ArrayList()
    for (let offset = 0; offset < data.byteLength; offset += pieceSize) {
      // a copy outside Buffer's shared pool: each datagram node:dgram delivers is an allocation of
      // its own, and the garbage collector is paced by those
      const piece = data.subarray(offset, Math.min(offset + pieceSize, data.byteLength))
      const copy = Buffer.allocUnsafeSlow(piece.byteLength)
      copy.set(piece)
      pieces.append(copy)
    }
    return emit.call(this, event, pieces)
  } as typeof Socket.prototype.emit
}
