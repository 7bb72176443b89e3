/**
 * LEDBAT congestion control: RFC 6817 as BEP 29 applies it.
 *
 * The window grows or shrinks in proportion to how far the measured queuing delay is from the
 * target: `cwnd += gain * MSS * off_target * bytes_acked / cwnd`, with
 * `off_target = (target - queuing_delay) / target`. Queuing delay is the filtered one-way delay
 * reported by the peer (`timestamp_difference`) minus the lowest delay seen in the last ten
 * minutes. Losses halve the window; a timeout drops it to one packet.
 */

import { DelayHistory } from './delay-history.ts'
import type { AckSample, CongestionController } from './controller.ts'
import type { Duration, Instant } from '../time.ts'

export interface LedbatInit {
  mss: number
  /** µs */
  targetDelay: Duration
  /** window growth per RTT at zero queuing delay, in packets */
  gain: number
  /** largest window, bytes */
  maxWindow: number
}

/** RFC 6817 MIN_CWND = 2 packets */
const MIN_CWND_PACKETS = 2
/** RFC 6928 initial window, in packets (conservative: 4 rather than 10 for a background protocol) */
const INITIAL_CWND_PACKETS = 4
/**
 * Slow start ends once the queuing delay passes this fraction of the target. Exiting well below
 * the target leaves room for the one RTT of doubling that is already in flight.
 */
const SLOW_START_EXIT_FRACTION = 0.4
/** Largest fraction of the window given up per RTT when the delay is above the target */
const MAX_DECREASE_PER_RTT = 0.5
/** Below this fraction of the target, the queue may be empty when a loss happens */
const LOW_DELAY_FRACTION = 0.25
/**
 * ...and it is, when the queuing delay is also below this share of the highest queuing delay seen
 * lately: a drop-tail queue smaller than the target overflows at its peak, wherever that is
 */
const PEAK_FRACTION = 0.5
/** Queuing delay that timing noise alone can show, µs: below it a queue is empty whatever the peak */
const QUEUE_NOISE_US = 2_000
/** The recent peak covers one to two periods of this length, µs */
const PEAK_PERIOD_US = 5_000_000
/** Window kept after a loss with an empty queue */
const LOW_DELAY_LOSS_FACTOR = 0.9
/**
 * Growth per RTT at an empty queue, as a multiple of the configured gain. With no queue at all,
 * nobody is competing on delay (the other flow left, or the losses are damage), and growing
 * faster there fills the link again sooner without being any harsher on a queue that exists
 */
const EMPTY_QUEUE_GAIN = 2
/** Largest clock-drift correction applied at once (libutp: 10 ms) */
const MAX_DRIFT_SHIFT_US = 10_000

export class Ledbat implements CongestionController {
  private cwnd: number
  private mss: number
  private slowStart = true
  /** slow start ends here too; set by losses so that recovery after a timeout is quick but bounded */
  private ssthresh = Infinity
  private readonly targetDelay: Duration
  private readonly gain: number
  private maxWindow: number
  private readonly ourDelay = new DelayHistory()
  private readonly theirDelay = new DelayHistory()
  private lastQueuingDelay: Duration = 0
  /** highest queuing delay of the current and of the previous peak period */
  private peakNow = 0
  private peakBefore = 0
  private peakPeriodStart = 0
  private windowBeforeCut = 0
  private slowStartBeforeCut = false
  private ssthreshBeforeCut = Infinity

  constructor (init: LedbatInit) {
    this.mss = init.mss
    this.targetDelay = init.targetDelay
    this.gain = init.gain
    this.maxWindow = init.maxWindow
    this.cwnd = INITIAL_CWND_PACKETS * init.mss
  }

  get window (): number {
    return this.cwnd
  }

  get inSlowStart (): boolean {
    return this.slowStart
  }

  get queuingDelay (): Duration {
    return this.lastQueuingDelay
  }

  setMss (mss: number): void {
    // the window's ceiling is a number of packets (the send buffer's capacity)
    this.maxWindow = this.maxWindow / this.mss * mss
    this.mss = mss
    this.cwnd = Math.max(this.cwnd, MIN_CWND_PACKETS * mss)
  }

  onAck (now: Instant, s: AckSample): void {
    if (s.reverseDelaySample != null) {
      this.trackDrift(now, s.reverseDelaySample)
    }
    if (s.delaySample != null) {
      this.ourDelay.add(now, s.delaySample)
    }
    if (s.bytesAcked <= 0) {
      return
    }
    if (!this.ourDelay.hasSamples) {
      this.onAckWithoutDelay(s)
      return
    }

    let queuing = this.ourDelay.queuingDelay()
    // the queuing delay can never exceed the round trip; a larger value is clock trouble
    if (s.rtt != null && queuing > s.rtt) {
      queuing = s.rtt
    }
    this.lastQueuingDelay = queuing
    this.trackPeak(now, queuing)

    if (this.slowStart) {
      if (queuing > this.targetDelay * SLOW_START_EXIT_FRACTION || this.cwnd >= this.ssthresh) {
        this.slowStart = false
      } else {
        if (s.cwndLimited) {
          this.cwnd = Math.min(this.maxWindow, this.cwnd + s.bytesAcked)
        }
        return
      }
    }

    let delta: number
    if (queuing <= this.targetDelay) {
      // RFC 6817 2.4.2: additive increase in proportion to the room left below the target, and
      // only when the window is what limits the sender
      const offTarget = (this.targetDelay - queuing) / this.targetDelay
      const gain = queuing < QUEUE_NOISE_US ? this.gain * EMPTY_QUEUE_GAIN : this.gain
      delta = s.cwndLimited ? gain * this.mss * offTarget * s.bytesAcked / this.cwnd : 0
    } else {
      // above the target: decrease in proportion to the window (LEDBAT++,
      // draft-irtf-iccrg-ledbat-plus-plus section 4.2), at most half per RTT. A multiplicative
      // decrease is what makes two flows that see the same delay converge to equal shares; the
      // additive one of RFC 6817 leaves them where they started
      const excess = Math.min(MAX_DECREASE_PER_RTT, (queuing - this.targetDelay) / this.targetDelay)
      delta = -excess * s.bytesAcked
    }
    this.cwnd = Math.min(this.maxWindow, Math.max(MIN_CWND_PACKETS * this.mss, this.cwnd + delta))
  }

  onLoss (now: Instant): void {
    this.windowBeforeCut = this.cwnd
    this.slowStartBeforeCut = this.slowStart
    this.ssthreshBeforeCut = this.ssthresh
    this.slowStart = false
    // a loss while the queue is empty is more likely damage than congestion: a drop-tail queue
    // overflows when full, and a full queue shows as delay, at its peak. Cut gently then, by half
    // otherwise. A queue shorter than the target (where LEDBAT competes on losses like TCP) is
    // recognised by its peak, so that such a link still sees the halving TCP would do
    this.trackPeak(now, this.lastQueuingDelay)
    const peak = Math.max(this.peakNow, this.peakBefore)
    const emptyBelow = Math.min(this.targetDelay * LOW_DELAY_FRACTION, Math.max(QUEUE_NOISE_US, peak * PEAK_FRACTION))
    // without delay samples the queue is unknown, not empty: halve, as TCP would
    const queueSeenEmpty = this.ourDelay.hasSamples && this.lastQueuingDelay < emptyBelow
    const factor = queueSeenEmpty ? LOW_DELAY_LOSS_FACTOR : 0.5
    this.cwnd = Math.max(MIN_CWND_PACKETS * this.mss, this.cwnd * factor)
    this.ssthresh = this.cwnd
  }

  undoLoss (_now: Instant): void {
    if (this.windowBeforeCut > this.cwnd) {
      this.cwnd = this.windowBeforeCut
      this.slowStart = this.slowStartBeforeCut
      this.ssthresh = this.ssthreshBeforeCut
    }
  }

  onTimeout (_now: Instant): void {
    // RFC 5681 3.1: one packet, then slow start back up to half the window that timed out
    this.ssthresh = Math.max(MIN_CWND_PACKETS * this.mss, this.cwnd / 2)
    this.cwnd = this.mss
    this.slowStart = true
  }

  /**
   * A peer that never reports a delay (timestamp_difference always 0) leaves nothing to steer by
   * but losses: fall back to Reno (RFC 5681), slow start up to ssthresh and then the configured
   * gain per RTT, so that the window neither freezes after a loss nor overshoots after a timeout
   */
  private onAckWithoutDelay (s: AckSample): void {
    if (this.slowStart && this.cwnd >= this.ssthresh) {
      this.slowStart = false
    }
    if (!s.cwndLimited) {
      return
    }
    if (this.slowStart) {
      this.cwnd = Math.min(this.maxWindow, this.ssthresh, this.cwnd + s.bytesAcked)
      if (this.cwnd >= this.ssthresh) {
        this.slowStart = false
      }
      return
    }
    this.cwnd = Math.min(this.maxWindow, this.cwnd + this.gain * this.mss * s.bytesAcked / this.cwnd)
  }

  private trackPeak (now: Instant, queuing: Duration): void {
    if (now - this.peakPeriodStart >= PEAK_PERIOD_US) {
      this.peakBefore = now - this.peakPeriodStart >= 2 * PEAK_PERIOD_US ? 0 : this.peakNow
      this.peakNow = 0
      this.peakPeriodStart = now
    }
    if (queuing > this.peakNow) {
      this.peakNow = queuing
    }
  }

  private trackDrift (now: Instant, sample: number): void {
    const before = this.theirDelay.hasSamples ? this.theirDelay.base : undefined
    this.theirDelay.add(now, sample)
    if (before == null) {
      return
    }
    const drop = (before - this.theirDelay.base) >>> 0
    if (drop > 0 && drop <= MAX_DRIFT_SHIFT_US) {
      this.ourDelay.shift(drop)
    }
  }
}
