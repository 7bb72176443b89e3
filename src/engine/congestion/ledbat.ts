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
  private readonly maxWindow: number
  private readonly ourDelay = new DelayHistory()
  private readonly theirDelay = new DelayHistory()
  private lastQueuingDelay: Duration = 0
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
      // no delay information at all (a peer that leaves timestamp_difference at 0): behave like
      // slow start capped by losses, never grow blindly past the initial window
      if (s.cwndLimited && this.slowStart) {
        this.cwnd = Math.min(this.maxWindow, this.cwnd + s.bytesAcked)
      }
      return
    }

    let queuing = this.ourDelay.queuingDelay()
    // the queuing delay can never exceed the round trip; a larger value is clock trouble
    if (s.rtt != null && queuing > s.rtt) {
      queuing = s.rtt
    }
    this.lastQueuingDelay = queuing

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

    const offTarget = (this.targetDelay - queuing) / this.targetDelay
    let delta = this.gain * this.mss * offTarget * s.bytesAcked / this.cwnd
    if (delta > 0 && !s.cwndLimited) {
      // RFC 6817 2.4.2: grow only when the window is what limits the sender
      delta = 0
    }
    this.cwnd = Math.min(this.maxWindow, Math.max(MIN_CWND_PACKETS * this.mss, this.cwnd + delta))
  }

  onLoss (_now: Instant): void {
    this.windowBeforeCut = this.cwnd
    this.slowStartBeforeCut = this.slowStart
    this.ssthreshBeforeCut = this.ssthresh
    this.slowStart = false
    this.cwnd = Math.max(MIN_CWND_PACKETS * this.mss, this.cwnd / 2)
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
