/**
 * One line of the results table: a measured value (median, min, max over runs) or the reason it
 * was not measured. Rows produce lines; ratios, the table and the JSON file read them.
 */

import { summarize } from './stats.ts'
import type { Summary } from './stats.ts'

export interface Line {
  /** stable identifier, used by the ratios and in the JSON file */
  key: string
  label: string
  status: 'ok' | 'failed' | 'not measured'
  unit: string
  value?: Summary
  /** details: packet size, loss, failed runs... or the reason it failed */
  note: string
  /** every run's raw figures */
  runs?: unknown[]
}

export function measured (key: string, label: string, unit: string, values: number[], note = '', runs?: unknown[]): Line {
  return { key, label, status: 'ok', unit, value: summarize(values), note, runs }
}

export function failed (key: string, label: string, unit: string, reason: string): Line {
  return { key, label, status: 'failed', unit, note: `failed: ${reason}` }
}

export function notMeasured (key: string, label: string, unit: string, reason: string): Line {
  return { key, label, status: 'not measured', unit, note: `not measured: ${reason}` }
}

/** The outcome of repeating a measurement: the runs that worked and why the others did not */
export interface Repeated<T> {
  ok: T[]
  failures: string[]
}

/** Runs `fn` `n` times one after another; a run that throws is recorded, not fatal */
export async function repeat<T> (n: number, fn: (run: number) => Promise<T>): Promise<Repeated<T>> {
  const ok: T[] = []
  const failures: string[] = []
  for (let run = 0; run < n; run++) {
    try {
      ok.push(await fn(run))
    } catch (err: any) {
      failures.push(String(err?.message ?? err))
    }
  }
  return { ok, failures }
}

/** "2 of 3 runs failed: ..." for notes, or '' */
export function failureNote (r: Repeated<unknown>): string {
  if (r.failures.length === 0) {
    return ''
  }
  return `${r.failures.length} of ${r.failures.length + r.ok.length} runs failed: ${r.failures[0]}`
}
