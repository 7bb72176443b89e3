/**
 * libp2p utp / tcp / quic: two libp2p nodes (each its own process) with Noise and Yamux over our
 * uTP transport or `@libp2p/tcp`, or over `@chainsafe/libp2p-quic` (its own TLS and streams), one
 * stream, the whole transfer one way. Without a loadable quic package the quic row is not measured.
 */

import { HEADER_SIZE } from '../../src/index.ts'
import { notMeasured } from '../lib/line.ts'
import { quicMissing } from '../lib/quic-install.ts'
import { median } from '../lib/stats.ts'
import { transfer } from './transfer.ts'
import type { TransferOutcome } from './transfer.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { BenchOptions } from '../lib/options.ts'

const MiB = 1024 * 1024

function note (transport: Libp2pTransport, options: BenchOptions): string {
  const notes: Record<Libp2pTransport, string> = {
    utp: `+ Noise + Yamux, packet ${options.packetSize} B`,
    tcp: '+ Noise + Yamux',
    quic: 'TLS 1.3 + QUIC streams (quinn, in Rust), default flow-control windows'
  }
  return notes[transport]
}

/**
 * `loopbackMtu`: the separate loopback-MTU row, uTP with path MTU probing on (datagrams up to
 * 65,507 bytes); the headline rows keep to packets that fit a 1500-byte MTU
 */
export async function libp2pBulk (transport: Libp2pTransport, options: BenchOptions, loopbackMtu = false): Promise<TransferOutcome> {
  const total = options.transferBytes
  const key = `libp2p-${transport}${loopbackMtu ? '-loopback' : ''}`
  const label = `libp2p ${transport}${loopbackMtu ? ', loopback MTU' : ''} (${total / MiB} MiB)`
  const missing = transport === 'quic' ? await quicMissing() : undefined
  if (missing != null) {
    return { line: notMeasured(key, label, 'MB/s', missing), runs: { ok: [], failures: [] } }
  }
  return transfer({
    key,
    label,
    receiver: { script: 'libp2p-server', args: { transport, loopbackMtu } },
    sender: (ready) => ({ script: 'libp2p-bulk-client', args: { transport, addr: ready.addr, total, loopbackMtu } }),
    note: () => loopbackMtu ? '+ Noise + Yamux, path MTU probing up to 65,507 B datagrams' : note(transport, options)
  }, options)
}

/**
 * The reference row: libp2p over TCP, but the receiver hands libp2p each read in pieces of one uTP
 * packet's payload (lib/cut-reads.ts). `tcp` is the libp2p tcp row of the same run, for the ratio.
 */
export async function libp2pTcpCutReads (options: BenchOptions, tcp?: TransferOutcome): Promise<TransferOutcome> {
  const total = options.transferBytes
  const pieceSize = options.packetSize - HEADER_SIZE
  return transfer({
    key: 'libp2p-tcp-cut',
    label: `libp2p tcp, reads cut to ${pieceSize} B (${total / MiB} MiB)`,
    receiver: { script: 'libp2p-server', args: { transport: 'tcp', cutReads: pieceSize } },
    sender: (ready) => ({ script: 'libp2p-bulk-client', args: { transport: 'tcp', addr: ready.addr, total } }),
    note: (runs) => {
      const tcpRuns = tcp?.runs.ok ?? []
      const ratio = tcpRuns.length === 0 ? '' : `, ${(median(runs.map(r => r.mbPerSecond)) / median(tcpRuns.map(r => r.mbPerSecond))).toFixed(2)} x libp2p tcp`
      return `reference: + Noise + Yamux, each read handed to libp2p as ${pieceSize}-byte copies, one per uTP packet's payload${ratio}`
    }
  }, options)
}
