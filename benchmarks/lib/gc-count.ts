/**
 * Garbage collections of this process by kind. Which of two modes V8's collector settles in
 * during a transfer (young-generation scavenges, or a mark-compact every few MB, set off by the
 * ArrayBuffers of received data reaching a low limit) can raise the libp2p rows' receiver CPU per
 * GiB by half (benchmarks/ANALYSIS.md), so each run's counts go into the results.
 */

import { PerformanceObserver, constants } from 'node:perf_hooks'
import type { PerformanceEntry } from 'node:perf_hooks'

export interface GcCounts {
  scavenges: number
  markCompacts: number
}

let counted: GcCounts | undefined

/** The counts so far; the first call starts counting */
export function gcCounts (): GcCounts {
  if (counted == null) {
    const counts: GcCounts = { scavenges: 0, markCompacts: 0 }
    counted = counts
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind
        // incremental marking steps (kind 8) belong to the mark-compact they lead to, and minor
        // mark-sweep (kind 2) runs only under --minor-ms: neither is counted
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
          counts.scavenges++
        } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
          counts.markCompacts++
        }
      }
    }).observe({ entryTypes: ['gc'] })
  }
  return { ...counted }
}

/**
 * The collections since `start` (from {@link gcCounts}). Node reports a collection two
 * `setImmediate` turns after it ran, so those of the last turns before either call count on the
 * wrong side: one or two out of tens.
 */
export function gcSince (start: GcCounts): GcCounts {
  const now = gcCounts()
  return { scavenges: now.scavenges - start.scavenges, markCompacts: now.markCompacts - start.markCompacts }
}
