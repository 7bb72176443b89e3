/** Markdown tables of the lines and the targets, as printed and as pasted into the README */

import { CATEGORIES } from './cpu-profile.ts'
import type { WorkerProfile } from './cpu-profile.ts'
import type { Line } from './line.ts'
import type { TargetResult } from './targets.ts'

export function formatNumber (x: number): string {
  const abs = Math.abs(x)
  if (abs >= 100) {
    return x.toFixed(0)
  }
  if (abs >= 10) {
    return x.toFixed(1)
  }
  return x.toFixed(2)
}

export function markdown (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const fmt = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [fmt(header), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(fmt)].join('\n')
}

export function linesTable (lines: Line[]): string {
  return markdown(['row', 'median', 'min - max', 'unit', 'notes'], lines.map((l) => {
    if (l.value == null) {
      return [l.label, '-', '-', l.unit, l.note]
    }
    const range = l.value.n > 1 ? `${formatNumber(l.value.min)} - ${formatNumber(l.value.max)}` : '(1 run)'
    return [l.label, formatNumber(l.value.median), range, l.unit, l.note]
  }))
}

export function targetsTable (results: TargetResult[]): string {
  return markdown(['target', 'measured', 'required', 'status'], results.map(r => [
    r.name,
    r.value == null ? '-' : r.value.toFixed(2),
    r.requirement,
    r.note === '' ? r.status : `${r.status} (${r.note})`
  ]))
}

/** One line per profiled worker: its busy main-thread time and the share of each category */
export function profilesTable (profiles: WorkerProfile[]): string {
  const rows = profiles.map(p => [
    p.dir,
    (p.busyMs / 1000).toFixed(2),
    ...CATEGORIES.map(c => p.busyMs > 0 ? `${(100 * p.ms[c] / p.busyMs).toFixed(1)}` : '-'),
    p.top.slice(0, 3).map(([name, ms]) => `${name} ${(100 * ms / p.busyMs).toFixed(1)}`).join('; ')
  ])
  return markdown(['worker', 'busy s', ...CATEGORIES.map(c => `${c} %`), 'top functions %'], rows)
}
