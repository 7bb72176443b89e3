/**
 * @packageDocumentation
 *
 * `libp2p-utp/socket`: uTP sockets and connections without the libp2p transport, for applications
 * that speak uTP directly (BitTorrent-style peers, libutp's users). It loads the engine, the socket
 * layer and the two libp2p packages they log and fail through (`@libp2p/logger`,
 * `@libp2p/interface`), not the transport, multiaddr or `@libp2p/utils`. Node allocates one buffer
 * per received datagram, and the major collections those buffers bring on mark the whole
 * JavaScript heap, so a receiving process pays for what it holds (benchmarks/ANALYSIS.md, Ceilings).
 *
 * @example
 *
 * ```TypeScript
 * import { UtpSocket } from 'libp2p-utp/socket'
 *
 * const socket = new UtpSocket()
 * await socket.bind(0, '127.0.0.1')
 * const conn = await socket.connect(4000, '127.0.0.1')
 * conn.end('hello')
 * ```
 */

export { UtpSocket } from './utp-socket.ts'
export { UtpConnection } from './utp-connection.ts'
export { ConnectionRefusedError, ConnectionResetError, ConnectionTimeoutError, DialSendError, SocketStateError } from './errors.ts'
export { InvalidConfigError } from '../engine/errors.ts'
export type { UtpSocketOptions, UtpSocketEvents, SocketAddress } from './utp-socket.ts'
export type { DataSink, UtpConnectionOptions } from './utp-connection.ts'
export type { ConnectionStats } from '../engine/connection.ts'
