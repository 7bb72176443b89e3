/**
 * Round-trip time estimator and retransmission timeout, RFC 6298.
 *
 * BEP 29 / libutp use `timeout = max(rtt + 4 * rtt_var, 1000 ms)`; the floor here is configurable
 * and defaults far lower (see `config.ts`), because a 1 s floor makes every tail loss cost a second.
 */

import type { Duration } from './time.ts'

/** RFC 6298 (2.4): RTO when no sample exists yet (1 s) */
export const INITIAL_RTO_US = 1_000_000

export class RttEstimator {
  /** smoothed RTT, µs; undefined until the first sample */
  private srttUs: number | undefined
  private rttVarUs = 0
  private rtoUs: number
  private backoffs = 0
  private minRttUs = Infinity
  private readonly minRtoUs: number
  private readonly maxRtoUs: number

  constructor (minRtoUs: Duration, maxRtoUs: Duration, initialRtoUs: Duration = INITIAL_RTO_US) {
    this.minRtoUs = minRtoUs
    this.maxRtoUs = maxRtoUs
    this.rtoUs = initialRtoUs
  }

  /** Feeds one RTT measurement from a packet that was transmitted exactly once (Karn's rule) */
  update (sampleUs: Duration): void {
    if (sampleUs < 0) {
      return
    }
    if (sampleUs < this.minRttUs) {
      this.minRttUs = sampleUs
    }
    if (this.srttUs == null) {
      // RFC 6298 (2.2): first measurement
      this.srttUs = sampleUs
      this.rttVarUs = sampleUs / 2
    } else {
      // RFC 6298 (2.3): beta = 1/4, alpha = 1/8
      this.rttVarUs = 0.75 * this.rttVarUs + 0.25 * Math.abs(this.srttUs - sampleUs)
      this.srttUs = 0.875 * this.srttUs + 0.125 * sampleUs
    }
    this.backoffs = 0
    this.rtoUs = this.bound(this.srttUs + Math.max(4 * this.rttVarUs, 1_000))
  }

  /**
   * An ACK acknowledged new data: the timeouts so far no longer count as in a row. The backed-off
   * timeout stays until the next RTT sample (Karn's algorithm, RFC 6298 section 3 and the note after 5.7)
   */
  noteProgress (): void {
    this.backoffs = 0
  }

  /** RFC 6298 (5.5): doubles the timeout after it fired */
  backoff (): void {
    this.backoffs++
    this.rtoUs = this.bound(this.rtoUs * 2)
  }

  /** Current retransmission timeout, µs */
  get rto (): Duration {
    return Math.round(this.rtoUs)
  }

  /** Smoothed RTT, µs, or undefined before the first sample */
  get srtt (): Duration | undefined {
    return this.srttUs == null ? undefined : Math.round(this.srttUs)
  }

  get rttVar (): Duration {
    return Math.round(this.rttVarUs)
  }

  /** Smallest RTT ever measured, µs, or undefined */
  get minRtt (): Duration | undefined {
    return this.minRttUs === Infinity ? undefined : this.minRttUs
  }

  /** Timeouts in a row since the last RTT sample or ACK of new data */
  get consecutiveBackoffs (): number {
    return this.backoffs
  }

  private bound (us: number): number {
    return Math.min(this.maxRtoUs, Math.max(this.minRtoUs, us))
  }
}
