/**
 * Two `UtpSocket`s on 127.0.0.1 with one connection between them, and the libp2p connection the
 * transport would make of either end.
 */

import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { pEvent } from 'p-event'
import { UtpSocket } from '../../src/index.ts'
import { prepareMultiaddrConnection } from '../../src/transport/maconn.ts'
import type { UtpConnection, UtpSocketOptions } from '../../src/index.ts'
import type { PreparedMultiaddrConnection } from '../../src/transport/maconn.ts'
import type { MultiaddrConnection } from '@libp2p/interface'

export const PACKET_SIZE = 1452

export interface Pair {
  a: UtpSocket
  b: UtpSocket
  /** dialled from a */
  x: UtpConnection
  /** accepted by b */
  y: UtpConnection
}

/**
 * Two sockets bound on 127.0.0.1, `b` listening, not yet connected: the shared options (1452-byte
 * packets, no path MTU probing) with `options` on top for both and `bOptions` for `b`
 */
export async function listeningPair (options: UtpSocketOptions = {}, bOptions: UtpSocketOptions = {}): Promise<{ a: UtpSocket, b: UtpSocket }> {
  const shared = { packetSize: PACKET_SIZE, pathMtuProbing: false, ...options }
  const a = new UtpSocket(shared)
  const b = new UtpSocket({ ...shared, ...bOptions })
  await a.bind(0, '127.0.0.1')
  await b.bind(0, '127.0.0.1')
  b.listen()
  return { a, b }
}

/** `b` listens with `bOptions` on top of the shared ones (1452-byte packets, no path MTU probing) */
export async function connectedPair (bOptions: UtpSocketOptions = {}): Promise<Pair> {
  const { a, b } = await listeningPair({}, bOptions)
  const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
  const x = await a.connect(b.address().port, '127.0.0.1')
  return { a, b, x, y: await accepted }
}

/** A libp2p connection to 127.0.0.1:`remotePort` as the transport prepares it, to attach to a uTP connection */
export function preparedLibp2pConnection (remotePort: number, direction: 'inbound' | 'outbound'): PreparedMultiaddrConnection {
  return prepareMultiaddrConnection({
    remoteAddr: multiaddr(`/ip4/127.0.0.1/udp/${remotePort}/utp`),
    direction,
    log: logger('test:pair')
  })
}

/** `conn` as the libp2p transport hands it to libp2p */
export function libp2pConnection (conn: UtpConnection, direction: 'inbound' | 'outbound'): MultiaddrConnection {
  return preparedLibp2pConnection(conn.remotePort, direction).attach(conn)
}

/** Closes both sockets of a pair, if there is one */
export async function closePair (pair: Pair | undefined): Promise<void> {
  await pair?.a.close()
  await pair?.b.close()
}
