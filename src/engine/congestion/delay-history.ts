import { u32Lt, u32Sub } from '../seq.ts'
import type { Duration, Instant } from '../time.ts'

/** Length of one base-delay bucket (RFC 6817 keeps per-minute minima) */
export const BASE_BUCKET_US = 60_000_000
/** Buckets kept: the base delay is the minimum over roughly the last ten minutes (RFC 6817 BASE_HISTORY) */
export const BASE_BUCKETS = 10
/** Recent samples kept for the current-delay filter (RFC 6817 CURRENT_FILTER) */
export const CURRENT_SAMPLES = 4

/**
 * One-way delay history, RFC 6817 section 3.4.2, in fixed memory: a ring of per-minute minima for
 * the base delay and a short ring of recent samples for the current delay. Samples are raw 32-bit
 * wire values (the two clocks are unsynchronised, so only differences mean anything) and are
 * compared with wrap-safe arithmetic.
 */
export class DelayHistory {
  // plain arrays of doubles: typed arrays cost two extra objects each, per connection
  private readonly buckets: number[] = new Array<number>(BASE_BUCKETS).fill(0)
  private bucketCount = 0
  private bucketIndex = 0
  private bucketStartedAt = 0
  private readonly recent: number[] = new Array<number>(CURRENT_SAMPLES).fill(0)
  private recentCount = 0
  private recentIndex = 0
  private baseValue = 0

  get hasSamples (): boolean {
    return this.bucketCount > 0
  }

  /** Minimum over the whole history (wire units) */
  get base (): number {
    return this.baseValue
  }

  add (now: Instant, sample: number): void {
    if (this.bucketCount === 0) {
      this.buckets[0] = sample
      this.bucketCount = 1
      this.bucketIndex = 0
      this.bucketStartedAt = now
      this.baseValue = sample
    } else {
      if (now - this.bucketStartedAt >= BASE_BUCKET_US) {
        this.bucketIndex = (this.bucketIndex + 1) % BASE_BUCKETS
        this.bucketCount = Math.min(this.bucketCount + 1, BASE_BUCKETS)
        this.buckets[this.bucketIndex] = sample
        this.bucketStartedAt = now
        this.recomputeBase()
      } else if (u32Lt(sample, this.buckets[this.bucketIndex])) {
        this.buckets[this.bucketIndex] = sample
      }
      if (u32Lt(sample, this.baseValue)) {
        this.baseValue = sample
      }
    }
    this.recent[this.recentIndex] = sample
    this.recentIndex = (this.recentIndex + 1) % CURRENT_SAMPLES
    this.recentCount = Math.min(this.recentCount + 1, CURRENT_SAMPLES)
  }

  /** Filtered current delay above the base, µs: the minimum of the recent samples minus the base */
  queuingDelay (): Duration {
    if (this.recentCount === 0) {
      return 0
    }
    let min = this.recent[0]
    for (let i = 1; i < this.recentCount; i++) {
      if (u32Lt(this.recent[i], min)) {
        min = this.recent[i]
      }
    }
    const d = u32Sub(min, this.baseValue)
    // a sample below the base cannot happen after add(); guard against wrap confusion anyway
    return d > 0x7fffffff ? 0 : d
  }

  /**
   * Moves every stored value up by `us`: used to follow clock drift, when the peer's clock runs
   * faster than ours and our delay samples creep up for no queuing reason (libutp does the same).
   */
  shift (us: number): void {
    for (let i = 0; i < this.bucketCount; i++) {
      this.buckets[i] = (this.buckets[i] + us) >>> 0
    }
    this.baseValue = (this.baseValue + us) >>> 0
  }

  private recomputeBase (): void {
    let base = this.buckets[this.bucketIndex]
    for (let i = 0; i < this.bucketCount; i++) {
      if (u32Lt(this.buckets[i], base)) {
        base = this.buckets[i]
      }
    }
    this.baseValue = base
  }
}
