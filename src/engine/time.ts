/**
 * Time in the engine is an integer count of microseconds on a monotonic clock, passed in by the
 * caller as `now`. JavaScript numbers hold such counts exactly for about 285 years. Only the
 * socket layer reads a real clock.
 */
export type Instant = number

/** A span of time in microseconds */
export type Duration = number

/** The 32-bit `timestamp_microseconds` that BEP 29 puts on the wire */
export function wireTimestamp (now: Instant): number {
  return now >>> 0
}
