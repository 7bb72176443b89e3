import { seqAdd, seqDiff } from './seq.ts'
import type { PacketKind } from './packet.ts'
import type { Instant } from './time.ts'

/** A sequenced packet we sent (SYN, DATA or FIN) and that the peer has not acknowledged cumulatively */
export interface OutPacket {
  seq: number
  type: PacketKind
  payload: Uint8Array
  /** times sent; RTT is only sampled from packets sent once (Karn's rule) */
  transmissions: number
  /** time of the latest transmission */
  sentAt: Instant
  /** position of the latest transmission in the connection's send order, for loss detection */
  sendOrder: number
  /** counted in the bytes in flight */
  inFlight: boolean
  /** declared lost and waiting to be sent again */
  lost: boolean
  /** acknowledged by a selective ACK (still held until the cumulative ACK passes it) */
  sacked: boolean
}

/**
 * The unacknowledged part of the send sequence space, `[una, nxt)`, in a ring indexed by
 * sequence number. Its capacity bounds the packets in flight.
 */
export class SendBuffer {
  /** Most sequenced packets outstanding at once; well under half the 16-bit space */
  static readonly CAPACITY = 4096
  private static readonly MASK = SendBuffer.CAPACITY - 1

  private readonly ring: Array<OutPacket | undefined> = []
  /** oldest unacknowledged sequence number */
  una: number
  /** next sequence number to assign */
  nxt: number

  constructor (initialSeq: number) {
    this.una = initialSeq
    this.nxt = initialSeq
  }

  /** Packets between una and nxt */
  get count (): number {
    return seqDiff(this.nxt, this.una)
  }

  get isFull (): boolean {
    return this.count >= SendBuffer.CAPACITY - 1
  }

  get isEmpty (): boolean {
    return this.nxt === this.una
  }

  push (type: PacketKind, payload: Uint8Array): OutPacket {
    const pkt: OutPacket = {
      seq: this.nxt,
      type,
      payload,
      transmissions: 0,
      sentAt: 0,
      sendOrder: 0,
      inFlight: false,
      lost: false,
      sacked: false
    }
    this.ring[this.nxt & SendBuffer.MASK] = pkt
    this.nxt = seqAdd(this.nxt, 1)
    return pkt
  }

  /** The outstanding packet with this sequence number, if any */
  get (seq: number): OutPacket | undefined {
    const d = seqDiff(seq, this.una)
    if (d < 0 || d >= this.count) {
      return undefined
    }
    return this.ring[seq & SendBuffer.MASK]
  }

  /** Removes and returns the oldest packet (the caller checked it is acknowledged) */
  shift (): OutPacket | undefined {
    if (this.isEmpty) {
      return undefined
    }
    const idx = this.una & SendBuffer.MASK
    const pkt = this.ring[idx]
    this.ring[idx] = undefined
    this.una = seqAdd(this.una, 1)
    return pkt
  }

  clear (): void {
    this.ring.length = 0
    this.una = this.nxt
  }
}
