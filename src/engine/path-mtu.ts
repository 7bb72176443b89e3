/**
 * Path MTU search for one direction of a connection, in the manner of RFC 8899 (packetization
 * layer path MTU discovery): probes are separate datagrams that carry no stream data, so a probe
 * that is too big costs nothing but itself. uTP cannot re-split a sequenced packet, so data only
 * ever goes out at a size a probe has already proven.
 *
 * The search climbs a ladder of sizes (doubling from the base, then the cap) and stops at the
 * first size that fails `MAX_PROBES` times. Climbing, never descending, matters on Linux: once an
 * ICMP "fragmentation needed" has taught the kernel a smaller path MTU, it fragments larger
 * datagrams itself instead of dropping them, and a probe sent below a failed size could then
 * succeed only thanks to fragmentation.
 */

import type { Duration, Instant } from './time.ts'

/** RFC 8899 MAX_PROBES: attempts at one size before it counts as too big */
export const MAX_PROBES = 3
/** Shortest wait for a probe's echo, µs (the echo is sent at once, but may queue behind data) */
export const MIN_PROBE_TIMEOUT_US = 50_000
/** Longest wait for a probe's echo, µs */
export const MAX_PROBE_TIMEOUT_US = 1_000_000

export class PathMtuSearch {
  /** largest datagram size proven to arrive whole */
  confirmed: number
  /** size of the probe awaiting its echo, or 0 */
  outstanding = 0
  /** when the outstanding probe counts as lost */
  deadline = Infinity
  private readonly ladder: number[]
  private step = 0
  private attempts = 0

  constructor (base: number, cap: number) {
    this.confirmed = base
    this.ladder = []
    for (let size = base * 2; size < cap; size *= 2) {
      this.ladder.push(size)
    }
    if (cap > base) {
      this.ladder.push(cap)
    }
  }

  /** Nothing is left to try */
  get done (): boolean {
    return this.step >= this.ladder.length
  }

  /** Size of the probe to send now, or 0 when none is due */
  nextProbe (now: Instant, rto: Duration): number {
    if (this.outstanding !== 0 || this.done) {
      return 0
    }
    this.outstanding = this.ladder[this.step]
    this.attempts++
    this.deadline = now + Math.min(MAX_PROBE_TIMEOUT_US, Math.max(MIN_PROBE_TIMEOUT_US, rto))
    return this.outstanding
  }

  /** An echo arrived; returns true when it proved a larger size than before */
  onEcho (size: number): boolean {
    if (this.outstanding === 0 || size !== this.outstanding) {
      return false
    }
    this.confirmed = size
    this.outstanding = 0
    this.deadline = Infinity
    this.step++
    this.attempts = 0
    return true
  }

  /** The outstanding probe's echo did not come in time */
  onTimeout (now: Instant): void {
    if (this.outstanding === 0 || now < this.deadline) {
      return
    }
    this.outstanding = 0
    this.deadline = Infinity
    if (this.attempts >= MAX_PROBES) {
      // stop here: see the module comment for why the search never goes back down
      this.step = this.ladder.length
    }
  }

  /** Gives up on larger sizes (a black hole appeared after a size was confirmed) */
  stop (): void {
    this.outstanding = 0
    this.deadline = Infinity
    this.step = this.ladder.length
  }
}
