import { TypedEventEmitter } from '@libp2p/interface'
import { getThinWaistAddresses } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { toUtpAddress, toUtpMultiaddr } from './addresses.ts'
import { prepareMultiaddrConnection } from './maconn.ts'
import type { PreparedMultiaddrConnection } from './maconn.ts'
import type { SocketPool } from './socket-pool.ts'
import type { UtpConnection } from '../socket/utp-connection.ts'
import type { UtpSocket } from '../socket/utp-socket.ts'
import type { ComponentLogger, CounterGroup, Listener, ListenerEvents, Logger, MultiaddrConnection, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface UtpListenerInit {
  upgrader: Upgrader
  pool: SocketPool
  logger: ComponentLogger
  inactivityTimeout?: number
  metrics?: CounterGroup
}

type Status =
  | { code: 'inactive' }
  /** `settled` once listen() has its socket, or gave it back because close() came meanwhile */
  | { code: 'binding', settled: Promise<void> }
  | { code: 'active', socket: UtpSocket, listeningAddr: Multiaddr, port: number, onConnection(conn: UtpConnection): void }
  | { code: 'closed' }

/**
 * Listens on one `/ipX/<addr>/udp/<port>/utp` address: binds a UDP socket for it (shared with
 * dials from the same family) and upgrades every accepted uTP connection.
 */
export class UtpListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private readonly init: UtpListenerInit
  private readonly log: Logger
  private status: Status = { code: 'inactive' }
  private readonly connections = new Set<MultiaddrConnection>()
  private readonly shutdown = new AbortController()
  private closing: Promise<void> | undefined

  constructor (init: UtpListenerInit) {
    super()
    this.init = init
    this.log = init.logger.forComponent('libp2p:utp:listener')
  }

  async listen (ma: Multiaddr): Promise<void> {
    if (this.status.code !== 'inactive') {
      throw new Error(`listener is ${this.status.code}, it can listen once`)
    }
    const { host, port, type } = toUtpAddress(ma)
    const settled = Promise.withResolvers<void>()
    const status: Status = { code: 'binding', settled: settled.promise }
    this.status = status
    let socket: UtpSocket
    try {
      socket = await this.init.pool.listen(type, host, port)
      if (this.status !== status) {
        // closed while the socket was binding: close() waits for this
        await this.init.pool.unlisten(socket)
        return
      }
    } catch (err) {
      if (this.status === status) {
        this.status = { code: 'inactive' }
      }
      throw err
    } finally {
      settled.resolve()
    }
    const bound = socket.address().port
    // `/udp/0` becomes the port the kernel chose, before anyone hears of the address
    const listeningAddr = toUtpMultiaddr(host, bound)
    const onConnection = (conn: UtpConnection): void => { this.onAccepted(conn, listeningAddr) }
    this.status = { code: 'active', socket, listeningAddr, port: bound, onConnection }
    socket.on('connection', onConnection)
    this.log('listening on %a', listeningAddr)
    this.safeDispatchEvent('listening')
  }

  getAddrs (): Multiaddr[] {
    if (this.status.code !== 'active') {
      return []
    }
    const { listeningAddr, port } = this.status
    return getThinWaistAddresses(listeningAddr, port).map(ma => multiaddr(`${ma.toString()}/utp`))
  }

  updateAnnounceAddrs (): void {}

  /** Every close() waits for the first one's work: a second call made during it resolved at once */
  async close (): Promise<void> {
    this.closing ??= this.closeOnce()
    await this.closing
  }

  private async closeOnce (): Promise<void> {
    if (this.status.code === 'binding') {
      const { settled } = this.status
      this.status = { code: 'closed' }
      this.shutdown.abort()
      await settled
      this.safeDispatchEvent('close')
      return
    }
    if (this.status.code !== 'active') {
      this.status = { code: 'closed' }
      return
    }
    const { socket, onConnection } = this.status
    this.status = { code: 'closed' }
    // the socket may listen again, for another listener (SocketPool.listen)
    socket.off('connection', onConnection)
    this.shutdown.abort()
    for (const conn of this.connections) {
      conn.abort(new Error('listener closed'))
    }
    await this.init.pool.unlisten(socket)
    this.safeDispatchEvent('close')
  }

  /**
   * libp2p holds few upgrade slots (`maxIncomingPendingConnections`, 10 by default) for up to
   * 10 s each: a bare SYN, which anyone can spoof from any address, must not take one. The upgrade
   * starts once the initiator has answered from its address (its ACK of our SYN-ACK). Its
   * `MultiaddrConnection` is built meanwhile: done at the answer, it held up the upgrade, and with
   * it the initiator's first message, by about 0.05 ms here. That costs a spoofed SYN a few KiB
   * more until its half-open connection times out, bounded by the socket's half-open limit.
   */
  private onAccepted (connection: UtpConnection, localAddr: Multiaddr): void {
    // a half-open connection that times out errors before anyone upgraded it (this listener stays:
    // a stream must never emit 'error' with nobody listening)
    connection.on('error', (err) => {
      this.log('%s connection from %s:%d closed - %e', connection.confirmed ? 'accepted' : 'half-open', connection.remoteAddress, connection.remotePort, err)
    })
    const prepared = this.prepare(connection, localAddr)
    if (prepared == null) {
      return
    }
    if (connection.confirmed) {
      this.upgrade(connection, prepared)
      return
    }
    // our own dial to this peer may take it over (simultaneous open): it is that dial's to upgrade
    const onClaimed = (): void => { connection.off('confirmed', onConfirmed) }
    const onConfirmed = (): void => {
      connection.off('claimed', onClaimed)
      this.upgrade(connection, prepared)
    }
    connection.once('confirmed', onConfirmed)
    connection.once('claimed', onClaimed)
  }

  private prepare (connection: UtpConnection, localAddr: Multiaddr): PreparedMultiaddrConnection | undefined {
    let remoteAddr: Multiaddr
    try {
      remoteAddr = toUtpMultiaddr(connection.remoteAddress, connection.remotePort)
    } catch (err: any) {
      this.log.error('cannot express %s:%d as a multiaddr - %e', connection.remoteAddress, connection.remotePort, err)
      connection.destroy(err)
      return undefined
    }
    return prepareMultiaddrConnection({
      remoteAddr,
      localAddr,
      direction: 'inbound',
      inactivityTimeout: this.init.inactivityTimeout,
      metrics: this.init.metrics,
      metricPrefix: 'inbound ',
      log: this.log.newScope('connection')
    })
  }

  private upgrade (connection: UtpConnection, prepared: PreparedMultiaddrConnection): void {
    if (this.status.code !== 'active' || connection.destroyed) {
      connection.destroy()
      return
    }
    const maConn = prepared.attach(connection)
    this.connections.add(maConn)
    maConn.addEventListener('close', () => { this.connections.delete(maConn) }, { once: true })
    const signal = this.init.upgrader.createInboundAbortSignal(this.shutdown.signal)
    this.init.upgrader.upgradeInbound(maConn, { signal })
      .catch((err) => {
        this.log.error('inbound connection from %a failed to upgrade - %e', maConn.remoteAddr, err)
        maConn.abort(err)
      })
      .finally(() => {
        signal.clear()
      })
  }
}
