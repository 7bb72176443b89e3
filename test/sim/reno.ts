/**
 * A loss-based AIMD bulk flow (TCP Reno / NewReno-like) for the simulated network, so that tests
 * can run a uTP (LEDBAT) flow against a competing "TCP" flow over a shared bottleneck.
 *
 * Wire format (big endian), our own, not TCP:
 * - data: `type=0 (u8) | seq (u32) | sent timestamp µs (f64) | zero padding` to `packetSize` bytes
 * - ack:  `type=1 (u8) | next expected seq (u32) | echoed timestamp µs (f64) | zero padding` to 40 bytes
 *
 * Sequence numbers count packets from 0. An ACK carries the cumulative "next expected" sequence
 * number (every packet below it arrived) and echoes the timestamp of the packet that triggered it.
 * The receiver buffers out-of-order packets and sends one ACK per data packet.
 *
 * Sender (packet-counting, no SACK):
 * - slow start: cwnd += 1 per ACKed packet (at most 2 per ACK, RFC 3465) below ssthresh;
 * congestion avoidance: cwnd += 1/cwnd per ACKed packet above it. Initial ssthresh is infinite.
 * - on the third duplicate ACK: fast retransmit and NewReno fast recovery (RFC 5681, RFC 6582):
 * ssthresh = flight / 2, cwnd = ssthresh + 3, +1 per further duplicate ACK, a partial ACK
 * retransmits the next hole; at most one cut per window of data.
 * - RFC 6298 RTO (min 200 ms like Linux, doubled on each timeout, restarted on new data, on a
 * fast retransmit and on the first partial ACK only): cwnd = 1, ssthresh = flight / 2 unless this
 * loss episode already halved it, and go back N to the first unACKed packet.
 *
 * @module
 */

import type { SimAddress, SimNode } from './network.ts'

const TYPE_DATA = 0
const TYPE_ACK = 1
/** bytes of our header in a data packet: type, seq, timestamp */
export const RENO_HEADER_BYTES = 13
/** size of an ACK datagram, about a TCP/IP header */
export const RENO_ACK_BYTES = 40

/** RFC 6298 (2.4) says 1 s; Linux uses 200 ms. We use 200 ms. */
const MIN_RTO_US = 200_000
/** RFC 6298 (2.1): initial RTO 1 s */
const INITIAL_RTO_US = 1_000_000
/** RFC 6298 (2.5) allows a maximum of at least 60 s */
const MAX_RTO_US = 60_000_000
/** clock granularity G of RFC 6298 (2.3) */
const CLOCK_GRANULARITY_US = 1000
const DUP_ACK_THRESHOLD = 3

/** Cumulative byte counter with (time, total) samples, to compute goodput over any window. */
export class ByteCounter {
  total = 0
  private readonly times: number[] = []
  private readonly totals: number[] = []

  add (now: number, bytes: number): void {
    this.total += bytes
    const n = this.times.length
    if (n > 0 && this.times[n - 1] === now) {
      this.totals[n - 1] = this.total
    } else {
      this.times.push(now)
      this.totals.push(this.total)
    }
  }

  /** Total counted at or before time `t`. */
  totalAt (t: number): number {
    // last sample with time <= t
    let lo = 0
    let hi = this.times.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.times[mid] <= t) {
        lo = mid + 1
      } else {
        hi = mid
      }
    }
    return lo === 0 ? 0 : this.totals[lo - 1]
  }

  /** Bytes counted in the interval (t0, t1]. */
  bytesBetween (t0: number, t1: number): number {
    return this.totalAt(t1) - this.totalAt(t0)
  }

  /** Average rate in bits per second over (t0, t1]. */
  bitsPerSecond (t0: number, t1: number): number {
    return this.bytesBetween(t0, t1) * 8e6 / (t1 - t0)
  }
}

export interface RenoSenderOptions {
  /** address of the RenoReceiver */
  to: SimAddress
  /** start sending at this time, µs (default: at once) */
  startAt?: number
  /** send no new data at or after this time, µs (retransmissions continue); default never */
  stopAt?: number
  /** datagram size in bytes including our 13-byte header (default 1500) */
  packetSize?: number
}

export class RenoSender implements SimNode {
  readonly to: SimAddress
  readonly startAt: number
  readonly stopAt: number
  readonly packetSize: number
  /** goodput: payload bytes (packetSize - header) cumulatively ACKed, with time samples */
  readonly acked = new ByteCounter()

  /** congestion window, packets */
  cwnd = 1
  /** slow start threshold, packets */
  ssthresh = Infinity
  srttUs: number | undefined
  rttVarUs = 0
  rtoUs = INITIAL_RTO_US
  /** counters for tests */
  readonly stats = { sent: 0, retransmits: 0, fastRetransmits: 0, timeouts: 0 }

  /** lowest sequence number not yet ACKed */
  private sndUna = 0
  /** next sequence number to send (go-back-N after a timeout moves it back) */
  private nextSeq = 0
  /** one more than the highest sequence number ever sent */
  private highSent = 0
  private dupAcks = 0
  private inRecovery = false
  private partialAckSeen = false
  /** highest seq sent when the last recovery or timeout started; no new cut until it is ACKed */
  private recover = -1
  private rtoAt: number | undefined
  private started = false
  private readonly retransmitQueue: number[] = []

  constructor (options: RenoSenderOptions) {
    this.to = options.to
    this.startAt = options.startAt ?? 0
    this.stopAt = options.stopAt ?? Infinity
    this.packetSize = options.packetSize ?? 1500
    if (this.packetSize < RENO_HEADER_BYTES) {
      throw new RangeError(`packetSize must be at least ${RENO_HEADER_BYTES}, got ${this.packetSize}`)
    }
  }

  /** payload bytes cumulatively ACKed */
  get bytesAcked (): number {
    return this.acked.total
  }

  /** payload bytes ACKed in the interval (t0, t1] */
  goodputBytesBetween (t0: number, t1: number): number {
    return this.acked.bytesBetween(t0, t1)
  }

  /** packets in flight (sent and neither ACKed nor given up by a timeout) */
  get flight (): number {
    return this.nextSeq - this.sndUna
  }

  receive (now: number, from: SimAddress, bytes: Uint8Array): void {
    if (bytes.length < RENO_HEADER_BYTES || bytes[0] !== TYPE_ACK) {
      return
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const ack = view.getUint32(1)
    const echo = view.getFloat64(5)
    if (ack > this.highSent) {
      return
    }
    if (ack > this.sndUna) {
      const newly = ack - this.sndUna
      this.acked.add(now, newly * (this.packetSize - RENO_HEADER_BYTES))
      this.sndUna = ack
      if (this.nextSeq < ack) {
        this.nextSeq = ack
      }
      this.updateRtt(now - echo)
      if (this.inRecovery) {
        if (ack > this.recover) {
          // full ACK: leave recovery, RFC 6582 (3.2 step 3) option 1, which avoids a burst
          this.inRecovery = false
          this.dupAcks = 0
          this.cwnd = Math.min(this.ssthresh, Math.max(this.flight, 1) + 1)
        } else {
          // partial ACK: the next hole was lost too; retransmit it and deflate the window by
          // what was ACKed (RFC 6582 3.2 step 4). "Impatient" variant: restart the timer on the
          // first partial ACK only, so recovering many holes ends in a timeout
          this.retransmitQueue.push(this.sndUna)
          this.cwnd = Math.max(this.cwnd - newly + 1, 1)
          if (!this.partialAckSeen) {
            this.partialAckSeen = true
            this.rtoAt = now + this.rtoUs
          }
          return
        }
      } else {
        this.dupAcks = 0
        if (this.cwnd < this.ssthresh) {
          // slow start, with RFC 3465's limit L = 2 packets per ACK so that a jump over
          // out-of-order packets does not turn into a burst
          this.cwnd += Math.min(newly, 2)
        } else {
          this.cwnd += newly / this.cwnd
        }
      }
      this.rtoAt = this.flight > 0 ? now + this.rtoUs : undefined
      return
    }
    if (ack === this.sndUna && this.flight > 0) {
      if (this.inRecovery) {
        // each duplicate ACK means a packet left the network (RFC 5681 3.2 step 4)
        this.cwnd += 1
        return
      }
      this.dupAcks++
      if (this.dupAcks === DUP_ACK_THRESHOLD && ack > this.recover) {
        // fast retransmit (RFC 5681 3.2 steps 2 and 3)
        this.stats.fastRetransmits++
        this.ssthresh = Math.max(this.flight / 2, 2)
        this.cwnd = this.ssthresh + DUP_ACK_THRESHOLD
        this.inRecovery = true
        this.partialAckSeen = false
        this.recover = this.highSent - 1
        this.retransmitQueue.push(this.sndUna)
        // the retransmission needs a full RTT of its own
        this.rtoAt = now + this.rtoUs
      }
    }
  }

  pollTransmit (now: number): { to: SimAddress, bytes: Uint8Array } | undefined {
    if (!this.started) {
      return undefined
    }
    while (this.retransmitQueue.length > 0) {
      const seq = this.retransmitQueue.shift() as number
      if (seq < this.sndUna) {
        continue
      }
      this.stats.retransmits++
      return this.emit(now, seq)
    }
    if (this.flight < Math.floor(this.cwnd) && (this.nextSeq < this.highSent || now < this.stopAt)) {
      const seq = this.nextSeq++
      if (seq < this.highSent) {
        this.stats.retransmits++
      } else {
        this.highSent = seq + 1
      }
      return this.emit(now, seq)
    }
    return undefined
  }

  pollTimeout (): number | undefined {
    if (!this.started) {
      return this.startAt
    }
    return this.rtoAt
  }

  handleTimeout (now: number): void {
    if (!this.started) {
      if (now >= this.startAt) {
        this.started = true
      }
      return
    }
    if (this.rtoAt == null || now < this.rtoAt) {
      return
    }
    this.rtoAt = undefined
    if (this.sndUna >= this.highSent) {
      return
    }
    this.stats.timeouts++
    // RFC 5681 (4): halve, but not again for a loss episode that already halved the window
    // (a timeout during fast recovery, or a repeated timeout): the flight may be inflated by then
    if (!this.inRecovery && this.sndUna > this.recover) {
      this.ssthresh = Math.max(this.flight / 2, 2)
    }
    this.cwnd = 1
    this.inRecovery = false
    this.dupAcks = 0
    this.recover = this.highSent - 1
    this.retransmitQueue.length = 0
    // go back N: resend from the first unACKed packet
    this.nextSeq = this.sndUna
    this.rtoUs = Math.min(this.rtoUs * 2, MAX_RTO_US)
  }

  private emit (now: number, seq: number): { to: SimAddress, bytes: Uint8Array } {
    const bytes = new Uint8Array(this.packetSize)
    const view = new DataView(bytes.buffer)
    bytes[0] = TYPE_DATA
    view.setUint32(1, seq)
    view.setFloat64(5, now)
    this.stats.sent++
    if (this.rtoAt == null) {
      this.rtoAt = now + this.rtoUs
    }
    return { to: this.to, bytes }
  }

  /** RFC 6298 (2.2), (2.3) */
  private updateRtt (sampleUs: number): void {
    if (!(sampleUs >= 0)) {
      return
    }
    if (this.srttUs == null) {
      this.srttUs = sampleUs
      this.rttVarUs = sampleUs / 2
    } else {
      this.rttVarUs = 0.75 * this.rttVarUs + 0.25 * Math.abs(this.srttUs - sampleUs)
      this.srttUs = 0.875 * this.srttUs + 0.125 * sampleUs
    }
    const rto = this.srttUs + Math.max(CLOCK_GRANULARITY_US, 4 * this.rttVarUs)
    this.rtoUs = Math.min(Math.max(Math.ceil(rto), MIN_RTO_US), MAX_RTO_US)
  }
}

export class RenoReceiver implements SimNode {
  /** payload bytes delivered in order, with time samples */
  readonly delivered = new ByteCounter()
  readonly stats = { received: 0, duplicates: 0, outOfOrder: 0 }

  private expected = 0
  private readonly outOfOrder = new Set<number>()
  private readonly acks: Array<{ to: SimAddress, bytes: Uint8Array }> = []
  private ackHead = 0

  /** payload bytes delivered in order */
  get bytesDelivered (): number {
    return this.delivered.total
  }

  /** payload bytes delivered in order in the interval (t0, t1] */
  goodputBytesBetween (t0: number, t1: number): number {
    return this.delivered.bytesBetween(t0, t1)
  }

  receive (now: number, from: SimAddress, bytes: Uint8Array): void {
    if (bytes.length < RENO_HEADER_BYTES || bytes[0] !== TYPE_DATA) {
      return
    }
    this.stats.received++
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const seq = view.getUint32(1)
    const ts = view.getFloat64(5)
    const payload = bytes.length - RENO_HEADER_BYTES
    if (seq === this.expected) {
      let n = 1
      this.expected++
      while (this.outOfOrder.delete(this.expected)) {
        this.expected++
        n++
      }
      this.delivered.add(now, n * payload)
    } else if (seq > this.expected && !this.outOfOrder.has(seq)) {
      this.stats.outOfOrder++
      this.outOfOrder.add(seq)
    } else {
      this.stats.duplicates++
    }
    const ack = new Uint8Array(RENO_ACK_BYTES)
    const ackView = new DataView(ack.buffer)
    ack[0] = TYPE_ACK
    ackView.setUint32(1, this.expected)
    ackView.setFloat64(5, ts)
    this.acks.push({ to: from, bytes: ack })
  }

  pollTransmit (now: number): { to: SimAddress, bytes: Uint8Array } | undefined {
    if (this.ackHead < this.acks.length) {
      const tx = this.acks[this.ackHead++]
      if (this.ackHead === this.acks.length) {
        this.acks.length = 0
        this.ackHead = 0
      }
      return tx
    }
    return undefined
  }

  pollTimeout (): number | undefined {
    return undefined
  }

  handleTimeout (now: number): void {}
}
