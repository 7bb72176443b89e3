/**
 * utp raw: our UtpSocket on both sides (each its own process), one connection, the whole
 * transfer one way, at the engine's default packet size (1452 B, fits a 1500-byte MTU).
 */

import { transfer } from './transfer.ts'
import type { TransferOutcome, TransferRun } from './transfer.ts'
import type { ConnectionStats } from '../../src/index.ts'
import type { BenchOptions } from '../lib/options.ts'

const MiB = 1024 * 1024

function note (packetSize: number, runs: TransferRun[]): string {
  const stats = runs.map(r => r.sender.stats as ConnectionStats)
  const retransmits = stats.map(s => s.retransmits)
  const avgPayload = stats.map(s => s.packetsSent > 0 ? s.bytesSent / s.packetsSent : 0)
  return `packet ${packetSize} B (avg payload ${Math.round(Math.max(...avgPayload))} B), retransmits ${retransmits.join('/')}`
}

export async function utpRaw (options: BenchOptions): Promise<TransferOutcome> {
  const { packetSize, transferBytes: total } = options
  return transfer({
    key: 'utp-raw',
    label: `utp raw (${total / MiB} MiB)`,
    receiver: { script: 'utp-receiver', args: { packetSize } },
    sender: (ready) => ({ script: 'utp-sender', args: { port: ready.port, total, packetSize } }),
    note: (runs) => note(packetSize, runs)
  }, options)
}
