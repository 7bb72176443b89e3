/**
 * One UDP socket that carries any number of uTP connections, inbound and outbound, and passes
 * every datagram that is not uTP to the application. The engine ({@link Endpoint}) does the
 * protocol; this class owns the `node:dgram` socket, the clock and one timer for all connections.
 *
 * The datagrams of one poll phase of the event loop are all fed to the engine before their ACKs
 * go out, so those are coalesced, and their events are delivered first, so that what the handlers
 * write at once carries the ACK. Writes go out after the microtasks of the moment they were made,
 * as TCP with Nagle off does (a reply leaves while the application is still busy with the rest of
 * its turn), except the partial last packet of a bulk write, which waits for the end of the turn
 * when a full packet is already in flight. A dial's SYN leaves at once, and so does what a
 * connection's `flushWrites()` asks for (the libp2p transport, after each message). The
 * handshake's answers leave when they help the dial most: the SYN-ACK as the SYN is read, before
 * the rest of the poll phase and the 'connection' handler; the dialler's ACK of it before the dial
 * resolves, so that the accepting side is confirmed while the dialler's caller sets up.
 */

import { createSocket } from 'node:dgram'
import { lookup as dnsLookup } from 'node:dns'
import { EventEmitter } from 'node:events'
import { isIP } from 'node:net'
import { AbortError } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { Endpoint } from '../engine/endpoint.ts'
import { PacketType } from '../engine/packet.ts'
import { ConnectionRefusedError, ConnectionResetError, DialSendError, SocketStateError } from './errors.ts'
import { MAX_TIMER_MS } from './max-timer.ts'
import { socketEngineConfig } from './options.ts'
import { PathMtuCaps } from './path-mtu-cap.ts'
import { randomPool } from './random-pool.ts'
import { probeUnreachable } from './unreachable-probe.ts'
import { UtpConnection } from './utp-connection.ts'
import type { ConnectionCarrier, UtpConnectionOptions } from './utp-connection.ts'
import type { ConnectionConfig } from '../engine/config.ts'
import type { EndpointConnection, EndpointEvent, EndpointTransmit } from '../engine/endpoint.ts'
import type { AbortOptions, Logger } from '@libp2p/interface'
import type { RemoteInfo, Socket } from 'node:dgram'

export interface UtpSocketOptions {
  /** address family (default 'udp4') */
  type?: 'udp4' | 'udp6'
  /**
   * Kernel receive and send buffer sizes for the UDP socket, in bytes (default 4 MiB, clamped by
   * the kernel's limits). The kernel default (about 208 KiB) drops bursts at loopback speeds.
   */
  udpBufferSize?: number
  /** largest datagram sent, bytes (default 1452: fits a 1500-byte MTU over IPv6 and IPv4) */
  packetSize?: number
  /**
   * Path MTU probing: a connection with bulk data to send probes for larger datagrams, with
   * probes that carry no data, up to the outgoing interface's MTU and `maxPacketSize`, between
   * two peers of this implementation (other peers never see a probe). `true` (the default) probes
   * only towards loopback addresses (up to 65,507-byte datagrams); `'all-paths'` also probes paths
   * that leave the host, up to the smallest MTU of this host's interfaces, at a risk: Linux
   * fragments a datagram larger than a path MTU it learnt from ICMP instead of dropping it, so a
   * probe too big for a router on the way (a PPPoE or VPN link) can still arrive, in fragments,
   * and the connection then sends fragmented datagrams. `false`: every datagram stays within
   * `packetSize`.
   */
  pathMtuProbing?: boolean | 'all-paths'
  /** largest datagram path MTU probing may settle on, bytes (default 65,507) */
  maxPacketSize?: number
  /** per-connection receive buffer, bytes (default 4 MiB): unread plus out-of-order data, and the most the peer may have in flight */
  recvBufferSize?: number
  /** per-connection send buffer, bytes (default 1 MiB, and never less than 64 packets) */
  sendBufferSize?: number
  /** LEDBAT target queuing delay, ms (default 100) */
  targetDelay?: number
  /** a dial fails after this long without an answer, ms (default 10,000) */
  connectTimeout?: number
  /** a connection closes when nothing arrives for this long, ms (default 60,000; 0 disables) */
  idleTimeout?: number
  /** a keep-alive goes out after this long without sending, ms (default 15,000; 0 disables) */
  keepAliveInterval?: number
  /**
   * Accepted connections that may be half-open at once (default 1,024); further SYNs are dropped
   * until some of them confirm or time out
   */
  maxHalfOpen?: number
  /**
   * Probe the destination of a dial still unanswered after 25 ms from a throwaway connected UDP
   * socket, so that a dial to a port where nobody listens fails within about 25 ms with
   * {@link ConnectionRefusedError} when the host answers with ICMP port-unreachable, instead of
   * waiting out `connectTimeout` (default true)
   */
  probeUnreachable?: boolean
  /**
   * Simultaneous open (default true): a dial towards an address and port whose SYN crosses ours,
   * or whose connection was accepted but not yet confirmed, ends in that one connection instead of
   * two. The dial then resolves with the accepting side (`initiator` false), and an accepted
   * connection taken over this way emits `'claimed'`. NAT hole punching relies on it.
   */
  simultaneousOpen?: boolean
  /** stream options of every connection */
  connection?: UtpConnectionOptions
  /** engine settings not covered above, in the engine's units (µs) */
  engine?: Partial<ConnectionConfig>
  log?: Logger
}

export interface UtpSocketEvents {
  connection: [UtpConnection]
  message: [Buffer, RemoteInfo]
  listening: []
  error: [Error]
  close: []
}

export interface SocketAddress {
  address: string
  family: string
  port: number
}

const DEFAULT_UDP_BUFFER = 4 * 1024 * 1024
/** how long a dial listens for ICMP port-unreachable on its probe socket */
const PROBE_WAIT_MS = 2_000
/**
 * A dial probes for ICMP port-unreachable only if it has no answer after this long: most dials
 * complete first (on a LAN or loopback, well within it) and never pay for the throwaway socket
 */
const PROBE_DELAY_MS = 25
const MS = 1000
/**
 * Send errors of a full buffer: a lost SYN, which its retransmission recovers from, even when no
 * SYN of the dial has left yet (any other refusal fails such a dial: see synFailed)
 */
const TRANSIENT_SEND_ERRORS = new Set(['ENOBUFS', 'EAGAIN', 'EWOULDBLOCK', 'ENOMEM', 'EINTR'])

export class UtpSocket extends EventEmitter<UtpSocketEvents> implements ConnectionCarrier {
  readonly type: 'udp4' | 'udp6'
  private readonly dgram: Socket
  private readonly endpoint: Endpoint
  private readonly log: Logger
  private readonly connectionOptions: UtpConnectionOptions
  private readonly udpBufferSize: number
  private readonly probe: boolean
  private readonly simultaneousOpen: boolean
  private readonly streams = new Map<EndpointConnection, UtpConnection>()
  private bound = false
  private closed = false
  private closing: Promise<void> | undefined
  private binding: Promise<void> | undefined
  private refed = true
  /** close()'s wait for the connections still delivering, while it runs */
  private graceTimer: NodeJS.Timeout | undefined
  private flushScheduled = false
  private flushQueued = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private timerAt = Infinity
  /** datagrams handed to `dgram.send()` while closing whose callback has not run yet */
  private sendsInFlight = 0
  /**
   * the dial that came back for a connection that replaced it after a forged SYN (see
   * restoreDial), as it resolves once connected
   */
  private readonly restoredDials = new WeakMap<UtpConnection, Promise<UtpConnection>>()
  /** connections that replaced a dial, whose connect() waits for the peer to confirm them, with its options */
  private readonly awaitingProof = new WeakMap<UtpConnection, AbortOptions>()
  /** SYNs of a dial that the kernel refused or dropped (see synFailed) */
  private readonly synSendFailures = new WeakMap<EndpointConnection, number>()
  /** set while `close()` waits for the engine to hold no connection */
  private onConnectionsClosed: (() => void) | undefined
  private onSendsDone: (() => void) | undefined

  /** @throws {InvalidConfigError} for an option out of range or of the wrong type */
  constructor (options: UtpSocketOptions = {}) {
    super()
    const config = socketEngineConfig(options)
    this.type = options.type ?? 'udp4'
    this.log = options.log ?? logger('libp2p:utp:socket')
    this.connectionOptions = options.connection ?? {}
    this.udpBufferSize = options.udpBufferSize ?? DEFAULT_UDP_BUFFER
    this.probe = options.probeUnreachable ?? true
    this.simultaneousOpen = options.simultaneousOpen ?? true
    const caps = new PathMtuCaps(undefined, undefined, options.pathMtuProbing === 'all-paths')
    this.endpoint = new Endpoint({
      randomBytes: (buf) => { randomPool.fill(buf) },
      allocate: (size) => Buffer.allocUnsafe(size),
      maxHalfOpen: options.maxHalfOpen,
      simultaneousOpen: this.simultaneousOpen,
      pathMtuCap: (remote) => caps.capFor(remote.address),
      log: this.log,
      // a scoped logger costs about 2.6 KiB per connection: only when logging is on
      connectionLog: (remote, recvId) => this.log.enabled ? this.log.newScope(`${remote.address}:${remote.port}#${recvId}`) : this.log,
      config
    })
    this.dgram = createSocket({ type: this.type, ipv6Only: this.type === 'udp6', lookup: literalLookup })
    this.dgram.on('message', (msg, rinfo) => { this.onMessage(msg, rinfo) })
    this.dgram.on('error', (err) => { this.onError(err) })
  }

  /** Binds the UDP socket; port 0 or none picks an ephemeral port */
  async bind (port = 0, host?: string): Promise<void> {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`port must be an integer in [0, 65535], got ${port}`)
    }
    if (this.closed) {
      throw new SocketStateError('socket is closed')
    }
    if (this.bound || this.binding != null) {
      throw new SocketStateError('socket is already bound')
    }
    this.binding = this.doBind(port, host)
    try {
      await this.binding
    } finally {
      this.binding = undefined
    }
  }

  /** Waits for a bind under way, or binds to an ephemeral port on every interface */
  private async ensureBound (): Promise<void> {
    if (this.binding != null) {
      await this.binding
    } else if (!this.bound) {
      await this.bind()
    }
  }

  private async doBind (port: number, host?: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        this.dgram.off('error', settle)
        this.dgram.off('close', onClose)
        if (err != null) {
          reject(err)
        } else {
          resolve()
        }
      }
      // closed while a host name resolves: node:dgram then never calls back
      const onClose = (): void => { settle(new SocketStateError('socket closed while binding')) }
      this.dgram.once('error', settle)
      this.dgram.once('close', onClose)
      this.dgram.bind(port, host ?? (this.type === 'udp6' ? '::' : '0.0.0.0'), () => { settle() })
    })
    this.bound = true
    this.sizeBuffers()
    this.log('bound %s:%d', this.address().address, this.address().port)
  }

  address (): SocketAddress {
    if (!this.bound) {
      throw new SocketStateError('socket is not bound')
    }
    return this.dgram.address()
  }

  /** Accepts incoming connections from now on (emitted as 'connection') */
  listen (): void {
    this.assertRunning()
    this.endpoint.listening = true
    this.emit('listening')
  }

  /** Stops accepting; established connections are not affected */
  unlisten (): void {
    this.endpoint.listening = false
  }

  get listening (): boolean {
    return this.endpoint.listening
  }

  /** Number of live connections (including those closing) */
  get connectionCount (): number {
    return this.endpoint.size
  }

  /** Opens a connection from this socket's port; resolves once the handshake completes */
  async connect (port: number, host: string, options: AbortOptions = {}): Promise<UtpConnection> {
    options.signal?.throwIfAborted()
    // before binding: a dial that cannot go anywhere must not leave the socket bound to a random port
    validatePort(port)
    validateHost(host, this.type)
    if (this.binding != null || !this.bound) {
      await this.ensureBound()
      options.signal?.throwIfAborted()
    }
    // from here to the SYN nothing waits: on a bound socket the SYN has left when this call
    // returns (unless the dial takes over a connection the peer opened to us), before the
    // caller's next steps (libp2p builds its connection object meanwhile)
    this.assertRunning()
    const remote = { address: host, port }
    const claimed = this.claimUnconfirmed(remote)
    if (claimed != null) {
      this.log('dial to %s:%d takes over the connection it opened to us', host, port)
      if (await this.proven(claimed, options.signal)) {
        return claimed
      }
      // a SYN from that address that nothing followed: forged, or the peer gave up
      this.log('the connection %s:%d opened to us closed unconfirmed: dialling', host, port)
    }
    // a dial that merged into the peer's crossing SYN is kept only once the peer confirms it: a
    // forged SYN could win the crossing, and then the peer answers our SYN-ACK with ST_RESET
    for (let attempt = 0; attempt < 2; attempt++) {
      let conn: UtpConnection | undefined = await this.dial(remote, options)
      while (conn != null && !conn.initiator) {
        if (await this.proven(conn, options.signal)) {
          return conn
        }
        // the peer answered our own SYN instead, or reset the connection: the SYN that won the
        // crossing was forged, and the dial came back (connected, or still waiting for its SYN-ACK)
        const restoring = this.restoredDials.get(conn)
        const restored = restoring == null ? undefined : await restoring
        conn = restored == null || restored.destroyed ? undefined : restored
      }
      if (conn != null) {
        return conn
      }
      this.log('the connection %s:%d merged into closed unconfirmed: dialling again', host, port)
    }
    throw new ConnectionResetError(`connection to ${host}:${port} closed before the peer confirmed it`)
  }

  /** An accepted connection from `remote` not yet confirmed, taken over for a dial to it */
  private claimUnconfirmed (remote: { address: string, port: number }): UtpConnection | undefined {
    if (!this.simultaneousOpen) {
      return undefined
    }
    const entry = this.endpoint.unconfirmedFrom(remote)
    const stream = entry == null ? undefined : this.streams.get(entry)
    if (entry == null || stream == null || stream.destroyed) {
      return undefined
    }
    this.endpoint.claim(entry)
    stream.emit('claimed')
    return stream
  }

  /**
   * Resolves true once the peer confirms `conn`, our accepting side of its connection (it proved
   * it receives at its address), false if the connection closes first
   */
  private async proven (conn: UtpConnection, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted === true) {
      // aborted between the merge and this wait: no 'abort' event comes any more
      throw abortDial(conn)
    }
    if (conn.confirmed) {
      return true
    }
    if (conn.destroyed) {
      return false
    }
    return new Promise<boolean>((resolve, reject) => {
      const done = (): void => {
        conn.off('confirmed', onConfirmed)
        conn.off('close', onClose)
        conn.off('error', onError)
        signal?.removeEventListener('abort', onAbort)
      }
      const onConfirmed = (): void => {
        done()
        holdErrors(conn)
        resolve(true)
      }
      const onClose = (): void => { done(); resolve(false) }
      // 'close' follows and says it
      const onError = (): void => {}
      const onAbort = (): void => {
        done()
        reject(abortDial(conn))
      }
      conn.once('confirmed', onConfirmed)
      conn.once('close', onClose)
      conn.on('error', onError)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Sends a SYN (or merges with a crossing one); resolves once connected */
  private async dial (remote: { address: string, port: number }, options: AbortOptions): Promise<UtpConnection> {
    options.signal?.throwIfAborted()
    // connect() dials again after a merged or claimed connection closed unconfirmed, which close() may have caused
    this.assertRunning()
    const entry = this.endpoint.connect(this.now(), remote)
    const conn = this.adopt(entry)
    this.endpoint.wake(entry)
    // the SYN goes now, not after whatever the caller and the microtask queue do next: the
    // handshake is a round trip the whole dial waits for. Only this connection's: others may be
    // waiting for their handlers to answer with their ACKs.
    this.sendNow(entry)
    this.flushSoon()
    return this.established(conn, remote, options)
  }

  /**
   * Resolves once the dial `conn` is connected, or with the connection it merged into; a dial
   * restored after a forged crossing (see {@link restoreDial}) may still be waiting for its SYN-ACK
   */
  private async established (conn: UtpConnection, remote: { address: string, port: number }, options: AbortOptions): Promise<UtpConnection> {
    if (conn.connected) {
      return conn
    }
    if (conn.destroyed) {
      throw new SocketStateError('connection closed before it was established')
    }
    if (options.signal?.aborted === true) {
      // a restored dial, whose connect() was aborted while it waited for the replacement
      throw abortDial(conn)
    }
    const { address: host, port } = remote
    return new Promise<UtpConnection>((resolve, reject) => {
      let probeTimer: ReturnType<typeof setTimeout> | undefined
      // the probe's socket waits up to PROBE_WAIT_MS for an ICMP error: not past the dial. Made
      // only for a probe: aborting a controller costs about 35 us here (its AbortError), which
      // every dial paid between its SYN-ACK and its caller
      let probeEnd: AbortController | undefined
      const done = (): void => {
        clearTimeout(probeTimer)
        probeEnd?.abort()
        conn.off('connect', onConnect)
        conn.off('error', onError)
        conn.off('close', onClose)
        conn.off('merged', onMerged)
        options.signal?.removeEventListener('abort', onAbort)
      }
      const onConnect = (): void => {
        done()
        holdErrors(conn)
        resolve(conn)
      }
      const onMerged = (merged: UtpConnection): void => {
        done()
        conn.discard()
        holdErrors(merged)
        // connect() waits for the peer to confirm it (proven()), from a microtask on: an
        // 'unmerged' in the flush that delivered this must still find the dial a taker
        this.awaitingProof.set(merged, options)
        resolve(merged)
      }
      const onError = (err: Error): void => { done(); reject(err) }
      const onClose = (): void => { done(); reject(new SocketStateError('connection closed before it was established')) }
      const onAbort = (): void => {
        done()
        reject(abortDial(conn))
      }
      conn.once('connect', onConnect)
      conn.once('merged', onMerged)
      conn.once('error', onError)
      conn.once('close', onClose)
      options.signal?.addEventListener('abort', onAbort, { once: true })
      if (this.probe) {
        probeTimer = setTimeout(() => {
          probeEnd = new AbortController()
          void probeUnreachable(this.type, host, port, PROBE_WAIT_MS, probeEnd.signal).then((refused) => {
            if (refused && !conn.connected && !conn.destroyed) {
              conn.destroy(new ConnectionRefusedError(`connection to ${host}:${port} refused: port unreachable`))
            }
          })
        }, PROBE_DELAY_MS)
        probeTimer.unref()
      }
    })
  }

  /** Sends a raw (non-uTP) datagram from this socket's port */
  async send (buf: Uint8Array, port: number, host: string): Promise<void> {
    this.assertRunning()
    // bound by us, as connect() binds: node:dgram would bind implicitly, behind this socket's back
    await this.ensureBound()
    this.assertRunning()
    await new Promise<void>((resolve, reject) => {
      this.dgram.send(buf, port, host, (err) => { if (err != null) { reject(err) } else { resolve() } })
    })
  }

  /**
   * Ends every connection gracefully (waiting at most `graceMs` for them), resets what is left,
   * then frees the port
   */
  async close (graceMs = 2_000): Promise<void> {
    if (typeof graceMs !== 'number' || Number.isNaN(graceMs) || graceMs < 0) {
      throw new RangeError(`graceMs must be a number of ms, at least 0, got ${String(graceMs)}`)
    }
    this.closing ??= this.shutdown(graceMs)
    await this.closing
  }

  private async shutdown (graceMs: number): Promise<void> {
    this.endpoint.listening = false
    for (const s of this.streams.values()) {
      if (!s.destroyed) {
        s.on('error', () => {})
        if (!s.connected) {
          // a dial still waiting for its SYN-ACK fails, as it would have before its SYN left
          // (connect() sends it at once): nothing was written on it, and waiting for an answer
          // would hold close() for its whole grace when nobody answers
          s.destroy(new SocketStateError('socket closed'))
          continue
        }
        // read on, so that the peer's FIN gets through (and our own follows)
        s.resume()
        s.resumeData()
        s.end()
      }
    }
    await this.connectionsClosed(graceMs)
    this.flush()
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    // `dgram.close()` drops sends still in flight, and with them the last FINs and resets
    if (this.sendsInFlight > 0) {
      await new Promise<void>((resolve) => { this.onSendsDone = resolve })
    }
    // closed even when never bound or when binding failed: the handle may hold a descriptor
    await new Promise<void>((resolve) => {
      try {
        this.dgram.close(() => { resolve() })
      } catch {
        resolve()
      }
    })
    this.emit('close')
  }

  /**
   * Resolves once every connection handed out has closed in the engine: those ended above, and
   * those destroyed without an error that still deliver what was written, then FIN, in the
   * background (lingering ones count as closed; accepted ones not handed out yet are reset at the
   * next flush). Past `graceMs`, the rest are reset, so that their peers learn at once.
   */
  private async connectionsClosed (graceMs: number): Promise<void> {
    if (this.streams.size === 0) {
      return
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.graceTimer = undefined
        this.onConnectionsClosed = undefined
        const now = this.now()
        for (const [entry, stream] of this.streams) {
          if (stream.destroyed) {
            entry.connection.reset(now)
            this.endpoint.wake(entry)
          } else {
            stream.destroy(new SocketStateError('socket closed'))
          }
        }
        resolve()
      }, Math.min(MAX_TIMER_MS, graceMs))
      // an unref'd socket keeps nothing alive, its close included: a peer gone silent would
      // otherwise hold the process for the whole grace
      if (!this.refed) {
        timer.unref()
      }
      this.graceTimer = timer
      this.onConnectionsClosed = () => {
        this.graceTimer = undefined
        clearTimeout(timer)
        resolve()
      }
    })
  }

  /** Keeps the process alive while the socket is open (the default) */
  ref (): this {
    this.refed = true
    this.dgram.ref()
    this.timer?.ref()
    this.graceTimer?.ref()
    return this
  }

  /** Lets the process exit while the socket is open */
  unref (): this {
    this.refed = false
    this.dgram.unref()
    this.timer?.unref()
    this.graceTimer?.unref()
    return this
  }

  // ------------------------------------------------------------- ConnectionCarrier

  now (): number {
    return Math.floor(performance.now() * MS)
  }

  wake (entry: EndpointConnection): void {
    this.endpoint.wake(entry)
    this.flushSoon()
  }

  /**
   * Sends what `entry`'s writes made sendable, now, the partial last packet included unless a
   * full packet was already in flight before them (a bulk transfer, whose tails wait to be
   * filled). Only sends: no events are delivered here, so the caller (in the middle of its own
   * write) is never re-entered. The connection stays marked, and whatever marked it (a write's
   * wake, a datagram's arrival) queued a flush, which re-arms the timer and keeps a held tail.
   */
  sendNow (entry: EndpointConnection): void {
    if (this.closed) {
      return
    }
    const now = this.now()
    const hold = entry.connection.fullPacketInFlight
    let t
    while ((t = this.endpoint.pollTransmitFor(now, entry, hold)) != null) {
      this.sendDatagram(t)
    }
  }

  // -------------------------------------------------------------

  private onMessage (msg: Buffer, rinfo: RemoteInfo): void {
    if (rinfo.port === 0) {
      // spoofed or broken: nothing can be sent back to port 0
      return
    }
    const result = this.endpoint.handle(this.now(), rinfo, msg)
    if (result === 'not-utp') {
      this.emit('message', msg, rinfo)
      return
    }
    // the SYN-ACK, and the ACK of a SYN-ACK, go now, not after the rest of this poll phase's
    // datagrams and the delivery of the connection to the application: the whole dial waits for
    // them. The ACK does not wait for the dial's caller to write: a libp2p listener upgrades only
    // a confirmed connection, and confirmed sooner it sets up while the dialler does (waiting to
    // ride with the dialler's first data cost about 0.1-0.2 ms per libp2p dial here; sending it
    // here rather than at the flush after the poll phase saves about 0.035 ms more)
    const accepted = this.endpoint.takeAccepted()
    const connected = accepted == null ? this.endpoint.takeConnected() : undefined
    const answered = accepted ?? connected
    if (answered != null) {
      this.sendNow(answered)
    }
    if (connected != null) {
      // our dial is open: its caller hears of it now, not after the rest of the poll phase (the
      // transport's part of a libp2p dial went from 0.48-0.51 to 0.42-0.45 ms here, with the SYN
      // sent within connect()). Once per dial: the datagrams after it still wait for the flush
      // that delivers a poll phase's data together
      this.flush()
      return
    }
    this.scheduleFlush()
  }

  private onError (err: Error): void {
    this.log.error('socket error - %e', err)
    if (this.listenerCount('error') > 0) {
      this.emit('error', err)
    }
  }

  /** After the datagrams of this poll phase: all of them are in the engine, one ACK covers them */
  private scheduleFlush (): void {
    if (this.flushScheduled || this.closed) {
      return
    }
    this.flushScheduled = true
    setImmediate(this.scheduledFlush)
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false
    this.flush()
  }

  /**
   * After the microtasks queued so far: the writes of one synchronous run (a Noise frame's length
   * and ciphertext) share a packet, and the packet leaves before the writer's promise chains run
   * on. A peer on another core starts on it meanwhile; waiting for the whole microtask queue
   * instead cost about 10 us per request and answer over libp2p.
   */
  private flushSoon (): void {
    if (this.flushQueued || this.closed) {
      return
    }
    this.flushQueued = true
    queueMicrotask(this.queuedFlush)
  }

  private readonly queuedFlush = (): void => {
    this.flushQueued = false
    // the tail of a bulk write waits for the end of the turn, when more writes may have filled it
    this.flush(true)
  }

  /**
   * Delivers the engine's events, then sends what it has and re-arms the timer: what the handlers
   * write at once rides with the ACK of what they were given
   */
  private flush (holdPartial = false): void {
    if (this.closed) {
      return
    }
    try {
      this.dispatchEvents()
    } finally {
      // a handler that throws must not leave ACKs, data or a held tail behind
      this.transmit(holdPartial)
      if (holdPartial && this.endpoint.hasHeldPackets) {
        this.scheduleFlush()
      }
      this.armTimer()
    }
  }

  private transmit (holdPartial = false): void {
    const now = this.now()
    let t
    while ((t = this.endpoint.pollTransmit(now, holdPartial)) != null) {
      this.sendDatagram(t)
    }
  }

  private sendDatagram (t: EndpointTransmit): void {
    const list = t.payload.byteLength > 0 ? [t.header, t.payload] : t.header
    // a send error (EHOSTUNREACH, ENOBUFS...) is a loss the protocol recovers from: without a
    // callback node:dgram drops it, and saves a request object per datagram. Only the datagrams
    // sent while closing are counted, so that the port closes after they are out; one that
    // libuv queued earlier (a full kernel buffer) and that is still queued then is dropped.
    const counted = this.closing != null
    if (counted) {
      this.sendsInFlight++
    }
    // a SYN (type in the header's high nibble) is no such loss when the kernel refuses it: its
    // dial fails with the cause (synFailed). Only SYNs pay for a callback of their own.
    const syn = t.header[0] >> 4 === PacketType.Syn
    // a SYN's connection id is its dial's recv_id (BEP 29 header, bytes 2-3). The kernel may
    // report on it after that dial is gone and a new one drew the same id: the report is the
    // dial's own, found now, not whatever holds its id then
    const dial = syn ? this.endpoint.connectionAt(t.remote, (t.header[2] << 8) | t.header[3]) : undefined
    let callback: ((err: Error | null) => void) | undefined = counted ? this.onSent : undefined
    if (dial != null) {
      callback = this.onSynSent(dial, counted)
    }
    try {
      this.dgram.send(list, t.remote.port, t.remote.address, callback)
    } catch (err: any) {
      // never an exception out of the event loop
      if (counted) {
        this.onSent()
      }
      if (dial != null) {
        // not from inside the caller's poll of the engine
        process.nextTick(() => { this.synFailed(dial, err) })
      }
      this.log.error('could not send to %s:%d - %e', t.remote.address, t.remote.port, err)
    }
  }

  private onSynSent (dial: EndpointConnection, counted: boolean): (err: Error | null) => void {
    return (err) => {
      if (counted) {
        this.onSent()
      }
      if (err != null) {
        this.synFailed(dial, err)
      }
    }
  }

  /**
   * The kernel refused a dial's SYN (EACCES for a broadcast address, ENETUNREACH, EINVAL...): a dial
   * none of whose SYNs left fails now with that cause instead of resending the SYN until the
   * connect deadline. Only that dial: the socket carries on.
   */
  private synFailed (entry: EndpointConnection, err: Error & { code?: unknown }): void {
    const remote = entry.remote
    const stream = this.streams.get(entry)
    // a dial that lost a crossing is out of the connection table but keeps its stream: only the
    // dial the table still holds fails
    if (this.endpoint.connectionAt(remote, entry.connection.recvId) !== entry || stream == null || stream.connected || stream.destroyed) {
      return
    }
    const failures = (this.synSendFailures.get(entry) ?? 0) + 1
    this.synSendFailures.set(entry, failures)
    const transient = typeof err.code === 'string' && TRANSIENT_SEND_ERRORS.has(err.code)
    // as a TCP connect: only a dial none of whose SYNs ever left fails. Once one has, a refused
    // resend is a loss (a full conntrack table gives EPERM for a while, a route comes and goes)
    // and the next resend may get through; the SYNs so far are the dial's packets sent
    if (transient || failures < entry.connection.stats.packetsSent) {
      this.log('SYN to %s:%d not sent - %e', remote.address, remote.port, err)
      return
    }
    this.log('SYN to %s:%d refused - %e', remote.address, remote.port, err)
    stream.destroy(new DialSendError(remote.address, remote.port, err))
  }

  private dispatchEvents (): void {
    try {
      this.deliverEvents()
    } finally {
      // even when a handler threw: close() must not wait out its grace for connections that closed
      if (this.onConnectionsClosed != null && this.streams.size === 0) {
        const closed = this.onConnectionsClosed
        this.onConnectionsClosed = undefined
        closed()
      }
    }
  }

  private deliverEvents (): void {
    let ev: EndpointEvent | undefined
    while ((ev = this.endpoint.pollEvent()) != null) {
      if (ev.type === 'incoming') {
        const conn = this.adopt(ev.connection)
        if (this.closing != null) {
          // accepted just before close() stopped accepting: nobody would end it, and the port closes
          refuse(conn, new SocketStateError('socket closed'))
          continue
        }
        try {
          this.emit('connection', conn)
        } catch (err: any) {
          // a throwing 'connection' handler must not take the event loop down with it
          this.log.error('connection handler threw - %e', err)
          refuse(conn, err)
        }
        continue
      }
      if (ev.type === 'merged') {
        const dial = this.streams.get(ev.dial)
        this.streams.delete(ev.dial)
        const merged = this.adopt(ev.connection)
        if (this.closing != null) {
          refuse(merged, new SocketStateError('socket closed'))
          // its dial fails as a dial that the socket's close ends
          dial?.discard()
          continue
        }
        if (dial == null || dial.listenerCount('merged') === 0) {
          // the dial was given up (aborted) before the merge reached it
          refuse(merged, new SocketStateError('dial given up before it merged'))
          continue
        }
        dial.emit('merged', merged)
        continue
      }
      if (ev.type === 'unmerged') {
        this.restoreDial(ev.dial, ev.connection)
        continue
      }
      const stream = this.streams.get(ev.connection)
      if (stream == null) {
        continue
      }
      if (ev.event.type === 'closed') {
        this.streams.delete(ev.connection)
      }
      stream.handleEvent(ev.event)
    }
  }

  /**
   * The peer answered a dial that had lost a crossing, or reset the connection that replaced it,
   * before confirming that connection: the SYN that won was forged. The dial, connected or still
   * waiting for its SYN-ACK, goes to the connect() that waits for that replacement to be confirmed,
   * and the replacement is reset (its SYN-ACK went to a peer that never dialled)
   */
  private restoreDial (dial: EndpointConnection, replacement: EndpointConnection): void {
    const restored = this.adopt(dial)
    const replaced = this.streams.get(replacement)
    const options = replaced == null ? undefined : this.awaitingProof.get(replaced)
    if (this.closing != null || replaced == null || replaced.destroyed || options == null) {
      refuse(restored, new SocketStateError('dial given up before its peer answered it'))
      return
    }
    // waited on from now: a dial still waiting for its SYN-ACK may merge again in this same flush
    const connected = this.established(restored, dial.remote, options)
    // connect() awaits it once the replacement has closed; an abort rejects both
    connected.catch(() => {})
    this.restoredDials.set(replaced, connected)
    holdErrors(restored)
    refuse(replaced, new ConnectionResetError(`connection from ${dial.remote.address}:${dial.remote.port} forged: its SYN won a crossing with our dial`))
  }

  /** a counted send (see {@link sendDatagram}) is out or failed: either way it is no longer pending */
  private readonly onSent = (): void => {
    if (--this.sendsInFlight === 0 && this.onSendsDone != null) {
      const done = this.onSendsDone
      this.onSendsDone = undefined
      done()
    }
  }

  private armTimer (): void {
    const at = this.endpoint.pollTimeout()
    if (at == null) {
      clearTimeout(this.timer)
      this.timer = undefined
      this.timerAt = Infinity
      return
    }
    if (this.timer != null && at >= this.timerAt) {
      // an earlier or equal wake-up is already armed; it re-arms for the rest
      return
    }
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timerAt = Infinity
      this.endpoint.handleTimeout(this.now())
      this.flush()
    }, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil((at - this.now()) / MS))))
    if (!this.refed) {
      this.timer.unref()
    }
  }

  private adopt (entry: EndpointConnection): UtpConnection {
    const conn = new UtpConnection(this, entry, this.connectionOptions)
    entry.owner = conn
    this.streams.set(entry, conn)
    return conn
  }

  private sizeBuffers (): void {
    for (const [set, get] of [
      [(n: number) => { this.dgram.setRecvBufferSize(n) }, () => this.dgram.getRecvBufferSize()],
      [(n: number) => { this.dgram.setSendBufferSize(n) }, () => this.dgram.getSendBufferSize()]
    ] as const) {
      try {
        set(this.udpBufferSize)
      } catch (err: any) {
        this.log('could not set UDP buffer to %d bytes (kept %d) - %e', this.udpBufferSize, get(), err)
      }
    }
  }

  private assertRunning (): void {
    if (this.closed || this.closing != null) {
      throw new SocketStateError('socket is closed')
    }
  }
}

/**
 * Resets a connection whose dial was aborted and returns the error for the caller's rejection.
 * ST_RESET: a graceful end would keep resending the SYN until the connect deadline.
 */
function abortDial (conn: UtpConnection): AbortError {
  const err = new AbortError('dial aborted')
  // the rejection reports it; the stream's own error event has nobody to tell
  conn.on('error', () => {})
  conn.destroy(err)
  return err
}

/** Resets a connection nobody will take; its error has no one to hear it */
function refuse (conn: UtpConnection, err: Error): void {
  conn.on('error', () => {})
  conn.destroy(err)
}

/**
 * An error in the same turn as the resolution (a reset right after the SYN-ACK) is emitted before
 * the caller's await resumes: hold it for one turn; the caller finds the stream destroyed
 */
function holdErrors (conn: UtpConnection): void {
  const hold = (): void => {}
  conn.on('error', hold)
  setImmediate(() => { conn.off('error', hold) })
}

/**
 * `dgram.send()` resolves its destination on every call; through `dns.lookup` even an IP literal
 * (every address the engine sends to) costs a validation, a regular expression and a deferred
 * callback per datagram. IP literals answer at once; names still go to `dns.lookup`.
 */
function literalLookup (hostname: string, options: any, callback: (...args: any[]) => void): void {
  const family = isIP(hostname)
  if (family !== 0) {
    callback(null, hostname, family)
    return
  }
  dnsLookup(hostname, options, callback)
}

function validateHost (host: string, type: 'udp4' | 'udp6'): void {
  const family = isIP(host)
  if (family === 0) {
    throw new TypeError(`host must be an IP address literal, got ${JSON.stringify(host)}`)
  }
  if ((family === 4) !== (type === 'udp4')) {
    throw new TypeError(`cannot reach IPv${family} address ${host} from a ${type} socket`)
  }
}

function validatePort (port: number): void {
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new RangeError(`port must be an integer in [1, 65535], got ${port}`)
  }
}
