import { AbortError, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { raceSignal } from 'race-signal'
import { ConnectionResetError } from '../socket/errors.ts'
import { checkTimeoutMs, socketEngineConfig } from '../socket/options.ts'
import { isDialable, toDialAddress } from './addresses.ts'
import { UtpListener } from './listener.ts'
import { prepareMultiaddrConnection } from './maconn.ts'
import { UTP } from './matcher.ts'
import { SocketPool } from './socket-pool.ts'
import type { PreparedMultiaddrConnection } from './maconn.ts'
import type { UtpSocketOptions } from '../socket/utp-socket.ts'
import type { ComponentLogger, Connection, OutboundConnectionUpgradeEvents, CounterGroup, CreateListenerOptions, DialTransportOptions, Listener, Logger, Metrics, Startable, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ProgressEvent } from 'progress-events'

export interface UtpOptions extends Omit<UtpSocketOptions, 'type' | 'log'> {
  /** close an inbound connection when no data moved for this long, ms (default 2 minutes) */
  inboundInactivityTimeout?: number
  /** close an outbound connection when no data moved for this long, ms (default 2 minutes) */
  outboundInactivityTimeout?: number
}

export interface UtpComponents {
  logger: ComponentLogger
  metrics?: Metrics
}

export type UtpDialEvents =
  OutboundConnectionUpgradeEvents |
  ProgressEvent<'utp:open-connection'>

interface UtpMetrics {
  events: CounterGroup
  errors: CounterGroup
}

export class UtpTransport implements Transport<UtpDialEvents>, Startable {
  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = '@libp2p/utp'
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport']

  private readonly options: UtpOptions
  private readonly components: UtpComponents
  private readonly log: Logger
  private readonly pool: SocketPool
  private readonly metrics?: UtpMetrics

  /** @throws {InvalidConfigError} for an option out of range or of the wrong type, at once rather than at the first listen or dial */
  constructor (components: UtpComponents, options: UtpOptions = {}) {
    socketEngineConfig(options)
    for (const key of ['inboundInactivityTimeout', 'outboundInactivityTimeout'] as const) {
      checkTimeoutMs(key, options[key], '0 or Infinity: none')
    }
    this.components = components
    this.options = options
    this.log = components.logger.forComponent('libp2p:utp')
    this.pool = new SocketPool({ ...options, log: components.logger.forComponent('libp2p:utp:socket') }, this.log)
    if (components.metrics != null) {
      this.metrics = {
        events: components.metrics.registerCounterGroup('libp2p_utp_dialer_events_total', {
          label: 'event',
          help: 'Total count of uTP dialer events by type'
        }),
        errors: components.metrics.registerCounterGroup('libp2p_utp_dialer_errors_total', {
          label: 'event',
          help: 'Total count of uTP dialer errors by type'
        })
      }
    }
  }

  /**
   * Between `start()` and `afterStart()`: libp2p may dial then (a dial queued while it stopped,
   * a reconnect), before its transport manager listens, which it does in `afterStart()`. Such a
   * dial waits: from an ephemeral socket, it would keep that port for good, and a relay would
   * observe the port nobody listens on, which hole punching then aims at.
   */
  private starting: PromiseWithResolvers<void> | undefined

  async start (): Promise<void> {
    this.starting ??= Promise.withResolvers()
  }

  /**
   * The transport manager's `afterStart()`, which libp2p calls before ours (components in the
   * order they were made, each until its first await), has asked the listeners to listen: their
   * sockets are in the pool, binding, and dials wait for them there
   */
  async afterStart (): Promise<void> {
    this.starting?.resolve()
    this.starting = undefined
  }

  async stop (): Promise<void> {
    // a start that failed before afterStart() stops the node: nothing is waited for any more
    this.starting?.resolve()
    this.starting = undefined
  }

  /**
   * Frees the UDP sockets once the node has stopped. Not in `stop()`: that runs alongside the
   * connection manager's, which closes every connection gracefully (yamux GoAway, then FIN), and
   * closing the sockets under it resets them instead. By now they are closed, or delivering
   * what was written and their FIN in the background, which each socket waits for (briefly)
   * before it closes.
   */
  async afterStop (): Promise<void> {
    await this.pool.closeAll()
  }

  async dial (ma: Multiaddr, options: DialTransportOptions<UtpDialEvents>): Promise<Connection> {
    options.signal?.throwIfAborted()
    const { host, port, type } = toDialAddress(ma)
    options.onProgress?.(new CustomProgressEvent('utp:open-connection'))
    if (this.starting != null) {
      await raceSignal(this.starting.promise, options.signal, { translateError: () => new AbortError('dial aborted') })
    }
    const socket = await this.pool.forDial(type, host)
    const connecting = socket.connect(port, host, { signal: options.signal })
    // built while the handshake is under way (on a bound socket `connect()` has sent the SYN by
    // now, unless it takes over a connection the peer opened to us): built after it, it held up
    // the upgrade by about 0.04 ms here
    let outbound: PreparedMultiaddrConnection
    try {
      outbound = this.prepare(ma, 'outbound')
    } catch (err: any) {
      // the handshake goes on without a caller: end what it ends with
      connecting.then((c) => { c.destroy() }, () => {})
      void this.pool.release(socket)
      throw err
    }
    let connection
    try {
      connection = await connecting
    } catch (err: any) {
      void this.pool.release(socket)
      this.metrics?.errors.increment({ [err.name === 'AbortError' ? 'abort' : 'connect']: true })
      this.log('dial to %a failed - %e', ma, err)
      throw err
    }
    if (connection.destroyed) {
      // reset in the same turn as the SYN-ACK (the socket held the error for us)
      void this.pool.release(socket)
      throw connection.errored ?? new ConnectionResetError(`connection to ${host}:${port} closed as it opened`)
    }
    connection.once('close', () => { void this.pool.release(socket) })
    this.metrics?.events.increment({ connect: true })
    // the muxer picks its role (yamux: client or server) from the direction, as the upgrade does below
    const maConn = (connection.initiator ? outbound : this.prepare(ma, 'inbound')).attach(connection)
    try {
      // the uTP roles decide who speaks first: a dial that met the peer's own dial (simultaneous
      // open, as DCUtR has both sides do) may have become the accepting side, and DCUtR's
      // `initiator: false` may have ended up with the SYN that won; both ends must agree
      return await options.upgrader.upgradeOutbound(maConn, { ...options, initiator: connection.initiator })
    } catch (err: any) {
      this.metrics?.errors.increment({ outbound_upgrade: true })
      maConn.abort(err)
      throw err
    }
  }

  private prepare (remoteAddr: Multiaddr, direction: 'inbound' | 'outbound'): PreparedMultiaddrConnection {
    return prepareMultiaddrConnection({
      remoteAddr,
      direction,
      inactivityTimeout: this.options.outboundInactivityTimeout,
      metrics: this.metrics?.events,
      metricPrefix: 'outbound ',
      log: this.log.newScope('connection')
    })
  }

  createListener (options: CreateListenerOptions): Listener {
    return new UtpListener({
      upgrader: options.upgrader,
      pool: this.pool,
      logger: this.components.logger,
      inactivityTimeout: this.options.inboundInactivityTimeout,
      metrics: this.metrics?.events
    })
  }

  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(ma => UTP.exactMatch(ma))
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.listenFilter(multiaddrs).filter(isDialable)
  }
}
