/** The network bench's table: one line per scenario and stack, with its targets and whether they were met */

import { formatNumber, markdown } from '../../lib/table.ts'
import type { NetRow } from './row.ts'
import type { Scenario } from './scenarios.ts'

export function status (row: NetRow): string {
  if (row.failure != null) {
    return `failed: ${row.failure}`
  }
  if (row.targets.length === 0) {
    return row.stack === 'utp' ? '-' : 'reference'
  }
  const missed = row.targets.filter(t => !t.met).map(t => t.requirement)
  return missed.length === 0 ? 'met' : `not met (${missed.join(', ')})`
}

export function scenarioLegend (scenarios: readonly Scenario[]): string {
  return scenarios.map(s => `- ${s.name}: ${s.title}`).join('\n')
}

export function netTable (rows: NetRow[]): string {
  return markdown(
    ['scenario', 'stack', 'goodput % of link', 'delay p50 / p95 ms', 'other', 'targets', 'status', 'notes'],
    rows.map(r => [
      r.scenario,
      r.stack,
      r.goodputPct == null ? '-' : formatNumber(r.goodputPct),
      r.delay == null ? '-' : `${formatNumber(r.delay.p50)} / ${formatNumber(r.delay.p95)}`,
      r.other === '' ? '-' : r.other,
      r.targets.length === 0 ? '-' : r.targets.map(t => t.requirement).join(', '),
      status(r),
      [r.integrity ?? '', ...r.notes].filter(n => n !== '').join('; ')
    ])
  )
}
