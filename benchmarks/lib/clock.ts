/**
 * Clocks shared by the workers: a wall clock in milliseconds that processes on one machine can
 * compare with each other, and CPU time of this process.
 */

/** Milliseconds since the epoch with sub-millisecond resolution; comparable across processes */
export function wallClockMs (): number {
  return performance.timeOrigin + performance.now()
}

/** User plus system CPU time of this process, in seconds */
export function cpuSeconds (): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}
