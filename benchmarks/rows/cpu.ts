/**
 * cpu: CPU seconds (user + system, `process.cpuUsage()`) per GiB moved, on each side, taken from
 * the runs of the throughput rows: the sender from its first write to its end, the receiver from
 * accepting the connection or stream to reading its end.
 */

import { failed, measured, notMeasured } from '../lib/line.ts'
import { median } from '../lib/stats.ts'
import type { TransferOutcome, TransferRun } from './transfer.ts'
import type { Line } from '../lib/line.ts'

export interface CpuSubject {
  key: string
  label: string
  outcome?: TransferOutcome
  /** the same figures of an alternative, for the note */
  reference?: { label: string, outcome?: TransferOutcome }
}

function referenceNote (ref: CpuSubject['reference'], side: 'senderCpuPerGiB' | 'receiverCpuPerGiB'): string {
  const runs = ref?.outcome?.runs.ok ?? []
  if (ref == null || runs.length === 0) {
    return ''
  }
  return `${ref.label}: ${median(runs.map(r => r[side])).toFixed(2)} s/GiB`
}

/** "GCs per run (scavenges / mark-compacts): 26 / 0, 0 / 41" */
function gcNote (runs: TransferRun[], side: 'sender' | 'receiver'): string {
  const counts = runs.map(r => side === 'sender' ? r.senderGc : r.receiverGc)
  if (counts.some(c => c == null)) {
    return ''
  }
  return `GCs per run (scavenges / mark-compacts): ${counts.map(c => `${c?.scavenges} / ${c?.markCompacts}`).join(', ')}`
}

export function cpu (subjects: CpuSubject[]): Line[] {
  const lines: Line[] = []
  for (const { key, label, outcome, reference } of subjects) {
    for (const side of ['sender', 'receiver'] as const) {
      const lineKey = `cpu-${key}-${side}`
      const lineLabel = `cpu ${label}, ${side}`
      const field = side === 'sender' ? 'senderCpuPerGiB' : 'receiverCpuPerGiB'
      if (outcome == null) {
        lines.push(notMeasured(lineKey, lineLabel, 's/GiB', `the ${label} row did not run`))
      } else if (outcome.runs.ok.length === 0) {
        lines.push(failed(lineKey, lineLabel, 's/GiB', `the ${label} row failed`))
      } else {
        const note = [referenceNote(reference, field), gcNote(outcome.runs.ok, side)].filter(s => s !== '').join('; ')
        lines.push(measured(lineKey, lineLabel, 's/GiB', outcome.runs.ok.map(r => r[field]), note))
      }
    }
  }
  return lines
}
