import { ByteQueue } from './byte-queue.ts'
import { seqAdd, seqDiff } from './seq.ts'

/** What {@link RecvBuffer.insert} did with a packet */
export const InsertResult = {
  /** in order: delivered, and possibly more after it from the reorder buffer */
  InOrder: 0,
  /** ahead of a gap: held in the reorder buffer */
  OutOfOrder: 1,
  /** already received */
  Duplicate: 2,
  /** too far ahead, or no room in the receive buffer */
  Dropped: 3
} as const

export type InsertOutcome = typeof InsertResult[keyof typeof InsertResult]

const EMPTY = new Uint8Array(0)

/**
 * Receive side of a connection: the in-order bytes the application has not read yet, and the
 * packets that arrived ahead of a gap. Both count against one byte budget, which is what the
 * advertised window shows the peer.
 */
export class RecvBuffer {
  /** Furthest ahead of the next expected packet that a packet is kept */
  static readonly REORDER_CAPACITY = 4096

  /** last sequence number delivered in order (BEP 29 `ack_nr`) */
  ackNr: number
  private readonly readable = new ByteQueue()
  /** packets held ahead of a gap, by sequence number; created on the first gap */
  private reorder: Map<number, Uint8Array> | undefined
  private reorderBytes = 0
  private reorderCount = 0
  /** highest sequence number held in the reorder buffer (valid when reorderCount > 0) */
  private highest = 0
  private readonly capacity: number

  constructor (ackNr: number, capacity: number) {
    this.ackNr = ackNr
    this.capacity = capacity
  }

  /** Bytes delivered in order and not read yet */
  get unread (): number {
    return this.readable.length
  }

  /** Packets held ahead of a gap */
  get outOfOrder (): number {
    return this.reorderCount
  }

  /** Bytes the peer may still send: BEP 29 `wnd_size` */
  get window (): number {
    return Math.max(0, this.capacity - this.readable.length - this.reorderBytes)
  }

  /**
   * Places a packet's payload. `isFin` packets take a sequence number and carry no payload
   * that matters to ordering (a FIN may carry data; it is delivered).
   */
  insert (seq: number, payload: Uint8Array): InsertOutcome {
    const d = seqDiff(seq, this.ackNr)
    if (d <= 0) {
      return InsertResult.Duplicate
    }
    if (d >= RecvBuffer.REORDER_CAPACITY) {
      return InsertResult.Dropped
    }
    if (d === 1) {
      // the packet that fills the gap is taken even when the packets held after it have used up the
      // window: it makes them readable at once, where dropping it would wedge the connection (the
      // peer cannot send it smaller). Not once that put us over capacity, until the reader catches
      // up: the buffer stays under capacity plus one packet
      if (payload.byteLength > this.window && (this.reorderCount === 0 || this.readable.length + this.reorderBytes > this.capacity)) {
        return InsertResult.Dropped
      }
      this.readable.push(payload)
      this.ackNr = seq
      this.drainReorder()
      return InsertResult.InOrder
    }
    if (payload.byteLength > this.window) {
      return InsertResult.Dropped
    }
    this.reorder ??= new Map()
    if (this.reorder.has(seq)) {
      return InsertResult.Duplicate
    }
    this.reorder.set(seq, payload.byteLength === 0 ? EMPTY : payload)
    this.reorderBytes += payload.byteLength
    if (this.reorderCount === 0 || seqDiff(seq, this.highest) > 0) {
      this.highest = seq
    }
    this.reorderCount++
    return InsertResult.OutOfOrder
  }

  /** Next chunk of in-order data, at most `max` bytes */
  read (max?: number): Uint8Array | undefined {
    return this.readable.shift(max)
  }

  /**
   * Selective ACK mask for the packets held: bit i is `ackNr + 2 + i`. Written into `out`;
   * returns the mask length in bytes, a multiple of 4 and at most `maxBytes`, or 0 when nothing
   * is held.
   */
  writeSack (out: Uint8Array, maxBytes: number): number {
    if (this.reorderCount === 0) {
      return 0
    }
    const span = seqDiff(this.highest, this.ackNr) - 1
    const len = Math.min(maxBytes, Math.ceil(span / 32) * 4)
    out.fill(0, 0, len)
    const bits = len * 8
    const base = seqAdd(this.ackNr, 2)
    const held = this.reorder
    for (let i = 0; i < bits; i++) {
      if (held?.has(seqAdd(base, i)) === true) {
        out[i >> 3] |= 1 << (i & 7)
      }
    }
    return len
  }

  clear (): void {
    this.readable.clear()
    this.reorder = undefined
    this.reorderBytes = 0
    this.reorderCount = 0
  }

  private drainReorder (): void {
    while (this.reorderCount > 0 && this.reorder != null) {
      const next = seqAdd(this.ackNr, 1)
      const payload = this.reorder.get(next)
      if (payload == null) {
        return
      }
      this.reorder.delete(next)
      this.reorderCount--
      this.reorderBytes -= payload.byteLength
      this.readable.push(payload)
      this.ackNr = next
    }
    if (this.reorderCount === 0) {
      this.reorder = undefined
    }
  }
}
