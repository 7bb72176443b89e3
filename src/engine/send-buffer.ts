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

/** The array of every empty send buffer: frozen, so a write to it throws */
const NO_ITEMS: Array<OutPacket | undefined> = Object.freeze([]) as unknown as Array<OutPacket | undefined>

/**
 * The unacknowledged part of the send sequence space, `[una, nxt)`, as a queue: packet `seq`
 * sits at `head + (seq - una)`. Memory follows the packets outstanding, so an idle connection
 * holds none of its own (it shares a frozen empty one). The capacity bounds the packets in flight.
 */
export class SendBuffer {
  /** Most sequenced packets outstanding at once; well under half the 16-bit space */
  static readonly CAPACITY = 4096

  /** {@link NO_ITEMS} while empty: an idle connection holds no array of its own */
  private items: Array<OutPacket | undefined> = NO_ITEMS
  private head = 0
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
    if (this.items === NO_ITEMS) {
      this.items = []
    }
    this.items.push(pkt)
    this.nxt = seqAdd(this.nxt, 1)
    return pkt
  }

  /** The outstanding packet with this sequence number, if any */
  get (seq: number): OutPacket | undefined {
    const d = seqDiff(seq, this.una)
    if (d < 0 || d >= this.count) {
      return undefined
    }
    return this.items[this.head + d]
  }

  /** Removes and returns the oldest packet (the caller checked it is acknowledged) */
  shift (): OutPacket | undefined {
    if (this.isEmpty) {
      return undefined
    }
    const pkt = this.items[this.head]
    this.items[this.head] = undefined
    this.head++
    this.una = seqAdd(this.una, 1)
    if (this.una === this.nxt) {
      this.items = NO_ITEMS
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // drop the consumed front now and then, so the array does not grow without bound
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return pkt
  }

  clear (): void {
    this.items = NO_ITEMS
    this.head = 0
    this.una = this.nxt
  }
}
