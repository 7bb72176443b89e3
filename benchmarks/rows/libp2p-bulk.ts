/**
 * libp2p utp / libp2p tcp: two libp2p nodes (each its own process) with Noise and Yamux over our
 * uTP transport or `@libp2p/tcp`, one stream, the whole transfer one way.
 */

import { transfer } from './transfer.ts'
import type { TransferOutcome } from './transfer.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { BenchOptions } from '../lib/options.ts'

const MiB = 1024 * 1024

export async function libp2pBulk (transport: Libp2pTransport, options: BenchOptions): Promise<TransferOutcome> {
  const total = options.transferBytes
  return transfer({
    key: `libp2p-${transport}`,
    label: `libp2p ${transport} (${total / MiB} MiB)`,
    receiver: { script: 'libp2p-server', args: { transport } },
    sender: (ready) => ({ script: 'libp2p-bulk-client', args: { transport, addr: ready.addr, total } }),
    note: () => transport === 'utp' ? `+ Noise + Yamux, packet ${options.packetSize} B` : '+ Noise + Yamux'
  }, options)
}
