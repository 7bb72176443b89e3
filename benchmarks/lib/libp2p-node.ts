/**
 * The libp2p nodes of the libp2p rows: one transport (our uTP or `@libp2p/tcp`), Noise, Yamux and
 * nothing else (no identify, no ping), listening on 127.0.0.1, with the connection manager's
 * per-host rate limits lifted so that the connect row's rapid dials are never refused.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { utp } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'

export type Libp2pTransport = 'utp' | 'tcp'

export const BULK_PROTOCOL = '/bench/bulk/1.0.0'
export const ECHO_PROTOCOL = '/bench/echo/1.0.0'

function listenAddress (transport: Libp2pTransport): string {
  return transport === 'utp' ? '/ip4/127.0.0.1/udp/0/utp' : '/ip4/127.0.0.1/tcp/0'
}

export async function createBenchNode (transport: Libp2pTransport): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: [listenAddress(transport)] },
    transports: [transport === 'utp' ? utp() : tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      inboundConnectionThreshold: 1_000_000,
      maxIncomingPendingConnections: 1_000
    }
  })
}
