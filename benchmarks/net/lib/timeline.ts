/**
 * Windows cut out of a run's timeline: a flow's goodput between two instants (from the
 * receiver's wall-clock bins), its throughput in fixed bins, its longest stall, and the queuing
 * delays of the probes sent in a window.
 */

import { percentile } from '../../lib/stats.ts'
import type { ReceivedFlow } from './flow.ts'

/** Bytes the receiver read in [fromMs, toMs), to the resolution of its bins */
export function bytesBetween (flow: ReceivedFlow, fromMs: number, toMs: number): number {
  let bytes = 0
  flow.bins.forEach((b, i) => {
    const binStart = (flow.firstBin + i) * flow.binMs
    if (binStart >= fromMs && binStart < toMs) {
      bytes += b
    }
  })
  return bytes
}

/** Goodput in Mbit/s (10^6 bits) over [fromMs, toMs) */
export function goodputMbit (flow: ReceivedFlow, fromMs: number, toMs: number): number {
  return bytesBetween(flow, fromMs, toMs) * 8 / ((toMs - fromMs) / 1000) / 1e6
}

/** Goodput in Mbit/s in consecutive bins of `binMs` from `fromMs` to `toMs` */
export function binnedMbit (flow: ReceivedFlow, fromMs: number, toMs: number, binMs: number): number[] {
  const out: number[] = []
  for (let t = fromMs; t + binMs <= toMs; t += binMs) {
    out.push(goodputMbit(flow, t, t + binMs))
  }
  return out
}

/** The longest time in [fromMs, toMs) in which nothing arrived, in ms */
export function longestStallMs (flow: ReceivedFlow, fromMs: number, toMs: number): number {
  let longest = 0
  let last = fromMs
  flow.bins.forEach((b, i) => {
    const binStart = (flow.firstBin + i) * flow.binMs
    if (b > 0 && binStart >= fromMs && binStart < toMs) {
      longest = Math.max(longest, binStart - last)
      last = binStart + flow.binMs
    }
  })
  return Math.max(longest, toMs - last)
}

export interface DelaySummary {
  p50: number
  p95: number
  /** probes sent in the window that came back */
  samples: number
}

/** Queuing delay (round trip minus the idle round trip) of the probes sent in [fromMs, toMs) */
export function queuingDelay (probes: Array<[number, number]>, idleRttMs: number, fromMs: number, toMs: number): DelaySummary | undefined {
  const delays = probes.filter(([sent]) => sent >= fromMs && sent < toMs).map(([, rtt]) => rtt - idleRttMs)
  if (delays.length === 0) {
    return undefined
  }
  return { p50: percentile(delays, 50), p95: percentile(delays, 95), samples: delays.length }
}
