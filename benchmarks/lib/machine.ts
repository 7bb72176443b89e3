/** What the results were measured on, for the JSON file and the README */

import { readFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'

function readSysctl (path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim())
  } catch {
    return undefined
  }
}

export interface MachineInfo {
  cpu: string
  cores: number
  memoryGiB: number
  kernel: string
  node: string
  rmemMax?: number
  wmemMax?: number
}

export function machineInfo (): MachineInfo {
  const list = cpus()
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    rmemMax: readSysctl('/proc/sys/net/core/rmem_max'),
    wmemMax: readSysctl('/proc/sys/net/core/wmem_max')
  }
}

export function describeMachine (m: MachineInfo): string {
  const buffers = m.rmemMax == null ? '' : `, net.core.rmem_max ${m.rmemMax}`
  return `${m.cores} x ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}${buffers}`
}
