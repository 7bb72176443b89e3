/** Writes one run's results to benchmarks/results/<prefix><timestamp>.json */

import { rename, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { WorkerProfile } from './cpu-profile.ts'
import type { Line } from './line.ts'
import type { MachineInfo } from './machine.ts'
import type { BenchOptions } from './options.ts'
import type { TargetResult } from './targets.ts'

export interface Results {
  date: string
  durationSeconds: number
  machine: MachineInfo
  options: BenchOptions
  lines: Line[]
  targets: TargetResult[]
  /** with `--cpu-prof`: where each worker's main thread spent its time */
  profiles?: WorkerProfile[]
}

/** Puts each array of plain numbers on one line: long series stay readable and small */
function compactNumberArrays (json: string): string {
  return json.replace(/\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g, (_, inner: string) => `[${inner.replace(/\s+/g, '')}]`)
}

/** Writes `data` as benchmarks/results/<prefix><date>.json and returns the path */
export async function writeResultsFile (prefix: string, date: string, data: unknown): Promise<string> {
  const name = `${prefix}${date.replace(/[:.]/g, '-')}`
  const path = fileURLToPath(new URL(`../results/${name}.json`, import.meta.url))
  // written whole or not at all
  await writeFile(`${path}.tmp`, `${compactNumberArrays(JSON.stringify(data, null, 2))}\n`)
  await rename(`${path}.tmp`, path)
  return path
}

/** Returns the path written */
export async function writeResults (results: Results): Promise<string> {
  return writeResultsFile('', results.date, results)
}
