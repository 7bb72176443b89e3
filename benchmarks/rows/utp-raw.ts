/**
 * utp raw: our UtpSocket on both sides (each its own process), one connection, the whole
 * transfer one way, at the engine's default packet size (1452 B, fits a 1500-byte MTU), path MTU
 * probing off; the receiver reads through the connection's data sink. The loopback-MTU row is
 * the same with probing on: datagrams up to loopback's 65,507 bytes.
 */

import { transfer } from './transfer.ts'
import type { TransferOutcome, TransferRun } from './transfer.ts'
import type { ConnectionStats } from '../../src/index.ts'
import type { BenchOptions } from '../lib/options.ts'

const MiB = 1024 * 1024

function note (runs: TransferRun[], loopbackMtu: boolean): string {
  const stats = runs.map(r => r.sender.stats as ConnectionStats)
  const retransmits = stats.map(s => s.retransmits)
  const avgPayload = stats.map(s => s.packetsSent > 0 ? s.bytesSent / s.packetsSent : 0)
  const sizes = runs.map(r => Number(r.sender.finalPacketSize))
  const packet = loopbackMtu ? `probed up to ${Math.max(...sizes)} B` : `${Math.max(...sizes)} B`
  return `packet ${packet} (avg payload ${Math.round(Math.max(...avgPayload))} B), read through setDataSink, retransmits ${retransmits.join('/')}`
}

export async function utpRaw (options: BenchOptions, loopbackMtu = false): Promise<TransferOutcome> {
  const { packetSize, transferBytes: total } = options
  const args = { packetSize, pathMtuProbing: loopbackMtu }
  return transfer({
    key: loopbackMtu ? 'utp-raw-loopback' : 'utp-raw',
    label: `utp raw${loopbackMtu ? ', loopback MTU' : ''} (${total / MiB} MiB)`,
    receiver: { script: 'utp-receiver', args },
    sender: (ready) => ({ script: 'utp-sender', args: { ...args, port: ready.port, total } }),
    note: (runs) => note(runs, loopbackMtu)
  }, options)
}
