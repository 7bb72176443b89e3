/**
 * @packageDocumentation
 *
 * uTP, the Micro Transport Protocol (BEP 29) with LEDBAT congestion control (RFC 6817), in
 * TypeScript.
 *
 * The protocol engine is sans-IO: {@link Endpoint} demultiplexes datagrams to {@link Connection}s
 * and takes the time as an argument, so it runs unchanged on a real UDP socket or on a simulated
 * network.
 *
 * @example
 *
 * ```TypeScript
 * import { Endpoint } from 'libp2p-utp'
 * import { randomFillSync } from 'node:crypto'
 *
 * const endpoint = new Endpoint({ randomBytes: (buf) => { randomFillSync(buf) } })
 * const now = Math.floor(performance.now() * 1000)
 * const conn = endpoint.connect(now, { address: '127.0.0.1', port: 4000 })
 * let datagram
 * while ((datagram = endpoint.pollTransmit(now)) != null) {
 *   // send datagram.header followed by datagram.payload to datagram.remote
 * }
 * ```
 */

import { UtpTransport } from './transport/transport.ts'
import type { UtpComponents, UtpOptions } from './transport/transport.ts'
import type { Transport } from '@libp2p/interface'

export { UtpSocket } from './socket/utp-socket.ts'
export { UTP } from './transport/matcher.ts'
export { UtpTransport } from './transport/transport.ts'
export type { UtpOptions, UtpComponents, UtpDialEvents } from './transport/transport.ts'
export { UtpConnection } from './socket/utp-connection.ts'
export { relayedOverUtp, relayById } from './hole-punching/relayed-over-utp.ts'
export { utpObservedAddresses } from './hole-punching/observed-addresses.ts'
export type { UtpObservedAddressesInit, UtpObservedAddressesComponents, ObservedAddressManager } from './hole-punching/observed-addresses.ts'
export { ConnectionRefusedError, ConnectionResetError, ConnectionTimeoutError, DialSendError, SocketStateError } from './socket/errors.ts'
export { Endpoint, DEFAULT_MAX_HALF_OPEN, DEFAULT_RESET_RATE } from './engine/endpoint.ts'
export { Connection, ConnState, stateName } from './engine/connection.ts'
export { defaultConnectionConfig, resolveConnectionConfig } from './engine/config.ts'
export { decodePacket, encodePacket, encodeHeader, headerSize, looksLikeUtp, stringifyPacket, PacketType, HEADER_SIZE } from './engine/packet.ts'
export { InvalidPacketError, InvalidConfigError, ConnectionStateError } from './engine/errors.ts'
export type { UtpSocketOptions, UtpSocketEvents, SocketAddress } from './socket/utp-socket.ts'
export type { DataSink, UtpConnectionOptions } from './socket/utp-connection.ts'
export type { EndpointInit, EndpointConnection, EndpointEvent, EndpointTransmit, HandleResult, RemoteAddress } from './engine/endpoint.ts'
export type { CloseReason, ConnectionEvent, ConnectionStats, ConnectionState, Transmit } from './engine/connection.ts'
export type { ConnectionConfig } from './engine/config.ts'
export type { Packet, PacketKind, HeaderFields } from './engine/packet.ts'
export type { CongestionController, AckSample } from './engine/congestion/controller.ts'

/**
 * The uTP transport for js-libp2p: `/ip4/<addr>/udp/<port>/utp` and `/ip6/<addr>/udp/<port>/utp`
 *
 * @example
 *
 * ```TypeScript
 * import { noise } from '@chainsafe/libp2p-noise'
 * import { yamux } from '@chainsafe/libp2p-yamux'
 * import { createLibp2p } from 'libp2p'
 * import { utp } from 'libp2p-utp'
 *
 * const node = await createLibp2p({
 *   addresses: { listen: ['/ip4/0.0.0.0/udp/0/utp'] },
 *   transports: [utp()],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()]
 * })
 * ```
 */
export function utp (init: UtpOptions = {}): (components: UtpComponents) => Transport {
  return (components: UtpComponents) => new UtpTransport(components, init)
}
