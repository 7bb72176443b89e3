/** Writes one run's results to benchmarks/results/<timestamp>.json */

import { rename, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
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
}

/** Returns the path written */
export async function writeResults (results: Results): Promise<string> {
  const name = results.date.replace(/[:.]/g, '-')
  const path = fileURLToPath(new URL(`../results/${name}.json`, import.meta.url))
  // written whole or not at all
  await writeFile(`${path}.tmp`, `${JSON.stringify(results, null, 2)}\n`)
  await rename(`${path}.tmp`, path)
  return path
}
