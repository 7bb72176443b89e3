/**
 * The targets of the benchmark issue, checked as ratios of medians measured in the same run (and
 * one absolute bound). A target whose figures are missing is 'not measured', with the reason.
 */

import type { Line } from './line.ts'

export interface Target {
  name: string
  /** key of the measured line */
  numerator: string
  /** key of the line it is divided by; none for an absolute bound */
  denominator?: string
  op: '>=' | '<='
  bound: number
}

export interface TargetResult {
  name: string
  value?: number
  requirement: string
  status: 'met' | 'not met' | 'not measured'
  note: string
}

export const TARGETS: Target[] = [
  { name: 'utp raw / udp-limit', numerator: 'utp-raw', denominator: 'udp-limit', op: '>=', bound: 0.85 },
  { name: 'utp raw / libutp raw', numerator: 'utp-raw', denominator: 'libutp-raw', op: '>=', bound: 1.2 },
  { name: 'libp2p utp / libp2p tcp', numerator: 'libp2p-utp', denominator: 'libp2p-tcp', op: '>=', bound: 0.6 },
  { name: 'libp2p utp / libp2p quic', numerator: 'libp2p-utp', denominator: 'libp2p-quic', op: '>=', bound: 2 },
  { name: 'connect utp / tcp', numerator: 'connect-utp', denominator: 'connect-tcp', op: '<=', bound: 1.0 },
  { name: 'rtt utp / tcp', numerator: 'rtt-utp', denominator: 'rtt-tcp', op: '<=', bound: 1.2 },
  { name: 'many: KiB per idle conn', numerator: 'many-memory', op: '<=', bound: 8 },
  { name: 'utp raw loopback-MTU / libutp raw', numerator: 'utp-raw-loopback', denominator: 'libutp-raw', op: '>=', bound: 3 },
  { name: 'libp2p utp loopback-MTU / libp2p tcp', numerator: 'libp2p-utp-loopback', denominator: 'libp2p-tcp', op: '>=', bound: 1.0 }
]

function medianOf (lines: Line[], key: string): number | string {
  const line = lines.find(l => l.key === key)
  if (line == null) {
    return `${key} did not run`
  }
  if (line.value == null) {
    return `${key} ${line.status}`
  }
  return line.value.median
}

export function evaluateTargets (lines: Line[], targets = TARGETS): TargetResult[] {
  return targets.map((t) => {
    const requirement = `${t.op} ${t.bound}`
    const num = medianOf(lines, t.numerator)
    const den = t.denominator == null ? 1 : medianOf(lines, t.denominator)
    if (typeof num === 'string' || typeof den === 'string') {
      return { name: t.name, requirement, status: 'not measured', note: typeof num === 'string' ? num : String(den) }
    }
    const value = num / den
    const met = t.op === '>=' ? value >= t.bound : value <= t.bound
    return { name: t.name, value, requirement, status: met ? 'met' : 'not met', note: '' }
  })
}
