import type { Duration, Instant } from '../time.ts'

/** What the connection tells its congestion controller about an acknowledgement */
export interface AckSample {
  /** payload bytes newly acknowledged (cumulatively or selectively) */
  bytesAcked: number
  /**
   * The peer's measurement of our one-way delay from this ACK's `timestamp_difference`, µs
   * modulo 2^32, or undefined when the packet carried none
   */
  delaySample: number | undefined
  /** Our own one-way delay measurement of the peer's packet (receive time minus its timestamp), µs modulo 2^32 */
  reverseDelaySample: number | undefined
  /** smoothed RTT, µs, when known */
  rtt: Duration | undefined
  /** the sender was limited by the congestion window since the previous ACK */
  cwndLimited: boolean
}

/** A congestion controller: a window in bytes that ACKs, losses and timeouts move */
export interface CongestionController {
  /** Congestion window, bytes */
  readonly window: number
  /** Slow start is still running */
  readonly inSlowStart: boolean
  /** Latest queuing-delay estimate, µs (for logs and tests) */
  readonly queuingDelay: Duration
  onAck (now: Instant, sample: AckSample): void
  /** A loss was detected by duplicate or selective ACKs; the caller limits this to once per RTT */
  onLoss (now: Instant): void
  /** The latest loss proved spurious (the packet was only reordered): restore the window it cut */
  undoLoss (now: Instant): void
  /** The retransmission timer fired */
  onTimeout (now: Instant): void
  /** The packet size changed (path MTU) */
  setMss (mss: number): void
}
