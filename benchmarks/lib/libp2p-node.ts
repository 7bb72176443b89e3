/**
 * The libp2p nodes of the libp2p rows: one transport (our uTP, `@libp2p/tcp` or
 * `@chainsafe/libp2p-quic`; the connect row's nodes have all of them), Noise, Yamux and nothing
 * else (no identify, no ping), listening on 127.0.0.1, with the connection manager's per-host
 * rate limits lifted so that the connect row's rapid dials are never refused. QUIC brings its own TLS 1.3 and streams: libp2p does not use
 * Noise or Yamux on its connections.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { utp } from '../../src/index.ts'
import { loadQuic } from './quic.ts'
import type { TransportFactory } from './quic.ts'
import type { Libp2p } from '@libp2p/interface'

export type Libp2pTransport = 'utp' | 'tcp' | 'quic'

export const BULK_PROTOCOL = '/bench/bulk/1.0.0'
export const ECHO_PROTOCOL = '/bench/echo/1.0.0'

const LISTEN_ADDRESS: Record<Libp2pTransport, string> = {
  utp: '/ip4/127.0.0.1/udp/0/utp',
  tcp: '/ip4/127.0.0.1/tcp/0',
  quic: '/ip4/127.0.0.1/udp/0/quic-v1'
}

async function transportFactory (transport: Libp2pTransport, loopbackMtu: boolean): Promise<TransportFactory> {
  if (transport === 'quic') {
    // installed on demand outside the project's lockfile (quic-install.ts)
    return (await loadQuic()).quic()
  }
  // headline rows keep to 1500-byte-MTU packets; the loopback-MTU row lets probing go up to 64 KiB
  return transport === 'utp' ? utp({ pathMtuProbing: loopbackMtu }) : tcp()
}

export async function createBenchNode (transport: Libp2pTransport | Libp2pTransport[], loopbackMtu = false): Promise<Libp2p> {
  const transports = Array.isArray(transport) ? transport : [transport]
  return createLibp2p({
    addresses: { listen: transports.map(t => LISTEN_ADDRESS[t]) },
    transports: await Promise.all(transports.map(async t => transportFactory(t, loopbackMtu))),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      inboundConnectionThreshold: 1_000_000,
      maxIncomingPendingConnections: 1_000
    }
  })
}

/** The one of a node's listening addresses that `transport` dials */
export function addressFor (addrs: string[], transport: Libp2pTransport): string {
  const protocol = { utp: '/utp', tcp: '/tcp/', quic: '/quic-v1' }[transport]
  const addr = addrs.find(a => a.includes(protocol))
  if (addr == null) {
    throw new Error(`no ${transport} address among ${addrs.join(', ')}`)
  }
  return addr
}

/**
 * The turns of the connect and rtt rows, without end: blocks of `block` turns per transport, the
 * blocks of each round in the next of the transports' possible orders (where one round ends with
 * the transport the next begins with, that block is twice as long)
 */
export function * turns (transports: Libp2pTransport[], block: number): Generator<Libp2pTransport> {
  const orders = permutations(transports)
  for (let round = 0; ; round++) {
    for (const transport of orders[round % orders.length]) {
      for (let i = 0; i < block; i++) {
        yield transport
      }
    }
  }
}

/** Every order of `items` */
function permutations<T> (items: T[]): T[][] {
  if (items.length <= 1) {
    return [items]
  }
  return items.flatMap((first, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(rest => [first, ...rest]))
}
