/**
 * One uTP connection as a sans-IO state machine (BEP 29).
 *
 * Reading list: BEP 29 (the wire protocol), RFC 6817 (LEDBAT), RFC 6298 (retransmission timer),
 * RFC 6675 (loss recovery from selective ACKs), RFC 5681 (fast retransmit).
 *
 * Calling protocol. Inputs are {@link Connection.handlePacket}, {@link Connection.handleTimeout}
 * and the application commands {@link Connection.write}, {@link Connection.end},
 * {@link Connection.reset} and {@link Connection.read}. After each input, call
 * {@link Connection.pollTransmit} and {@link Connection.pollEvent} until they return undefined (in
 * either order: events first lets what their handlers write carry the ACK), then
 * {@link Connection.pollTimeout}. `now` (integer microseconds, monotonic) must
 * never go backwards. A spurious `handleTimeout` does nothing.
 *
 * The connection never throws on input from the network: bad packets are dropped (with a trace
 * log) or answered with an ACK. Only application misuse (writing after `end()`) throws.
 */

import { ByteQueue } from './byte-queue.ts'
import { Ledbat } from './congestion/ledbat.ts'
import { ConnectionStateError } from './errors.ts'
import { encodeHeader, headerSize, HEADER_SIZE, MAX_SACK_BYTES, PacketType, PathMtuKind, stringifyPacket } from './packet.ts'
import { PathMtuSearch } from './path-mtu.ts'
import { InsertResult, RecvBuffer } from './recv-buffer.ts'
import { RttEstimator } from './rtt.ts'
import { SendBuffer } from './send-buffer.ts'
import { seqAdd, seqDiff, u32Sub } from './seq.ts'
import { wireTimestamp } from './time.ts'
import { ALL_TIMERS, Timer, timerName, TimerTable } from './timer.ts'
import type { ConnectionConfig } from './config.ts'
import type { CongestionController } from './congestion/controller.ts'
import type { Packet, PacketKind, PathMtuExtension } from './packet.ts'
import type { OutPacket } from './send-buffer.ts'
import type { Duration, Instant } from './time.ts'

/** Connection states, named after BEP 29 / libutp */
export const ConnState = {
  /** we sent a SYN and wait for the SYN-ACK */
  SynSent: 0,
  /** we accepted a SYN; the initiator has not sent anything else yet */
  SynRecv: 1,
  /** handshake complete */
  Connected: 2,
  /** the application ended its side; our FIN is queued or sent */
  FinSent: 3,
  /** both sides finished; kept briefly to re-acknowledge a retransmitted FIN */
  Linger: 4,
  /** gone; nothing more will be sent */
  Closed: 5
} as const

export type ConnectionState = typeof ConnState[keyof typeof ConnState]

const STATE_NAMES = ['SYN_SENT', 'SYN_RECV', 'CONNECTED', 'FIN_SENT', 'LINGER', 'CLOSED']

export function stateName (state: ConnectionState): string {
  return STATE_NAMES[state]
}

/** Why a connection closed */
export type CloseReason =
  /** both sides finished and every byte was acknowledged */
  | 'closed'
  /** the peer stopped answering (connect deadline, half-open timeout, retransmissions, idle) */
  | 'timed-out'
  /** the peer sent ST_RESET on an established connection */
  | 'reset'
  /** the peer answered our SYN with ST_RESET */
  | 'refused'
  /** the application called `reset()` */
  | 'aborted'

export type ConnectionEvent =
  | { type: 'connected' }
  /** in-order data is waiting in {@link Connection.read} */
  | { type: 'readable' }
  /** after `write()` returned false: a quarter of the send buffer (at most 256 KiB) is free again */
  | { type: 'writable' }
  /** the peer finished sending and every byte it sent is readable */
  | { type: 'end' }
  /** accepting side: the initiator answered from its address, so it is not a spoofed SYN */
  | { type: 'confirmed' }
  /** the peer acknowledged everything we wrote, our FIN included */
  | { type: 'flushed' }
  | { type: 'closed', reason: CloseReason, message: string }

/** One datagram to send: header and payload are separate so the payload is never copied */
export interface Transmit {
  header: Uint8Array
  payload: Uint8Array
}

export interface ConnectionStats {
  packetsSent: number
  packetsReceived: number
  bytesSent: number
  bytesReceived: number
  retransmits: number
  fastRetransmits: number
  timeouts: number
  duplicatesReceived: number
  outOfOrderReceived: number
  acksSent: number
  windowCuts: number
  spuriousRetransmits: number
  tailProbes: number
  /** path MTU probes sent */
  mtuProbes: number
}

export interface TraceLogger {
  (formatter: string, ...args: any[]): void
  trace: ((formatter: string, ...args: any[]) => void) & { enabled?: boolean }
  enabled?: boolean
}

export interface ConnectionInit {
  config: Readonly<ConnectionConfig>
  /** fills a buffer with cryptographically strong random bytes */
  randomBytes(buf: Uint8Array): void
  now: Instant
  /**
   * Allocates the header of each outgoing datagram (default `new Uint8Array`): Node.js's pooled
   * `Buffer.allocUnsafe` is taken by `node:dgram` as it is, where a small Uint8Array has to be
   * moved off the V8 heap first
   */
  allocate?(size: number): Uint8Array
  log?: TraceLogger
  /** replaces LEDBAT (tests use a fixed window) */
  congestionController?: CongestionController
}

export interface ConnectInit extends ConnectionInit {
  /** the connection id we receive on; the peer sends with it and we send with `recvId + 1` */
  recvId: number
}

export interface AcceptInit extends ConnectionInit {
  syn: Packet
}

/** The send buffer holds at least this many packets, whatever their size */
const SEND_BUFFER_PACKETS = 64
/** Most free room in the send buffer a blocked writer waits for (see `writableRoom`), bytes */
const WRITABLE_ROOM_MAX = 256 * 1024
/** Packets kept from the acceptor while the SYN-ACK is still missing (it may send first) */
const MAX_EARLY_PACKETS = 16
/** RFC 6675 DupThresh: a packet is lost once three packets sent after it were acknowledged */
const DUP_THRESH = 3
/** An ACK this soon after a retransmission (as a fraction of the minimum RTT) must answer the original */
const SPURIOUS_RTT_FRACTION = 0.75
/** Unacknowledged packets held back by a delayed ACK */
const ACK_EVERY_PACKETS = 2
/** In SYN_RECV, before the initiator confirms its address, send at most this many packets (anti-amplification) */
const SYN_RECV_MAX_PACKETS = 2
/** Shortest wait before a tail loss probe, µs (RFC 8985 suggests 10 ms) */
const MIN_TAIL_PROBE_US = 10_000
/** Longest wait between two probes of a closed receive window */
const MAX_PROBE_INTERVAL_US = 2_000_000
/** `timestamp_difference` value some peers send when they have none (uTorrent); ignore it */
const BOGUS_TIMESTAMP_DIFF = 0x7fffffff
/** A fully closed connection is kept this many RTOs to re-acknowledge a retransmitted FIN */
const LINGER_RTOS = 4
const MIN_LINGER_US = 1_000_000
const MAX_LINGER_US = 10_000_000
/** Smallest payload the peer's window cuts packets to (RFC 879's default TCP MSS) */
const MIN_WINDOW_BOUND_PAYLOAD = 536

const NOOP_LOG: TraceLogger = Object.assign(() => {}, { trace: () => {}, enabled: false })

export class Connection {
  readonly recvId: number
  readonly sendId: number
  readonly isInitiator: boolean
  readonly stats: ConnectionStats = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    duplicatesReceived: 0,
    outOfOrderReceived: 0,
    acksSent: 0,
    windowCuts: 0,
    spuriousRetransmits: 0,
    tailProbes: 0,
    mtuProbes: 0
  }

  private stateValue: ConnectionState
  private readonly config: Readonly<ConnectionConfig>
  private readonly allocate: (size: number) => Uint8Array
  private readonly log: TraceLogger
  private readonly timers = new TimerTable()
  private readonly rtt: RttEstimator
  private readonly cc: CongestionController
  /** {@link NO_EVENTS} while none are queued: an idle connection holds no array of its own */
  private events: ConnectionEvent[] = NO_EVENTS

  // --- send side
  private readonly out: SendBuffer
  private readonly writeQueue = new ByteQueue()
  /** payload bytes of sequenced packets not yet cumulatively acknowledged */
  private unackedBytes = 0
  private bytesInFlight = 0
  private lostCount = 0
  private sendOrder = 0
  private maxPayload: number
  /** largest datagram we send now: the configured size, or what path MTU probing proved */
  private packetSizeValue: number
  private peerWindow: number
  /** largest window the peer has advertised, or 0 before its first: new packets take at most half of it */
  private peerMaxWindow = 0
  /** ack_nr and seq_nr of the packet `peerWindow` came from (see {@link updatePeerWindow}) */
  private windowAckNr: number
  private windowSeqNr: number
  private endQueued = false
  private finSeq: number | undefined
  private finAcked = false
  /** the sequence number beyond which a loss starts a new window cut (one cut per RTT) */
  private recoveryPoint: number
  private dupAcks = 0
  /** RACK state: the most recently sent packet that was acknowledged, and its round trip */
  private rackOrder = -1
  private rackRtt = 0
  /** furthest sequence number an ACK has reported on (ack_nr + 1 + its selective ACK's reach) */
  private reportableEnd: number
  /** RACK reordering window, µs: 0 until the path shows reordering */
  private reorderWindow = 0
  /** first packet of the loss that caused the latest window cut, to undo the cut if it proves spurious */
  private lastCutSeq: number | undefined
  private cwndLimited = false
  private writeBlocked = false
  private probeAllowed = false
  /** retransmissions allowed beyond the congestion window during loss recovery */
  private recoverySends = 0
  /** the tail probe fired and no ACK has made progress since */
  private tailProbeUsed = false
  /** window probes sent in a row to a peer whose receive window is closed */
  private probes = 0
  private lastReceivedAt = 0
  private resetPending = false

  // --- receive side
  private readonly recv: RecvBuffer
  private remoteFinSeq: number | undefined
  private remoteEnded = false
  /** microseconds between the peer's timestamp and our receipt of its latest packet (wire value) */
  private replyMicro = 0
  private ackNow = false
  private unackedPackets = 0
  private lastAdvertisedWindow: number
  private readablePending = false

  // --- handshake
  /** SYN_SENT: acceptor packets that came before the SYN-ACK */
  private earlyPackets: Packet[] | undefined
  /** acceptor: sequence number of the initiator's SYN, answered by the stored SYN-ACK */
  private readonly synSeq: number | undefined
  /** acceptor: our initial sequence number, the seq_nr of the SYN-ACK */
  private readonly isn: number
  private synAckPending = false
  /** SYN_SENT: the SYN was resent at once because acceptor data showed the SYN-ACK lost (done once) */
  private earlySynResent = false
  /** the peer proved it receives at its address (a valid SYN-ACK, or a valid packet after our SYN-ACK) */
  private confirmed = false

  private closeReason: CloseReason | undefined
  private partialHeldValue = false

  // --- path MTU
  /** the peer announced in the handshake that it echoes path MTU probes */
  private peerEchoesProbes = false
  /** an ST_STATE announcing that we answer probes is due (initiator: at once; acceptor: in reply) */
  private announcePending = false
  /** size of a probe from the peer to echo, or 0 */
  private echoSize = 0
  private mtuPhase: MtuPhaseValue = MtuPhase.Idle
  private mtuSearch: PathMtuSearch | undefined

  private constructor (init: ConnectionInit, recvId: number, sendId: number, initiator: boolean, isn: number, ackNr: number, synSeq?: number) {
    this.config = init.config
    this.allocate = init.allocate ?? allocateBytes
    this.log = init.log ?? NOOP_LOG
    this.recvId = recvId
    this.sendId = sendId
    this.isInitiator = initiator
    this.isn = isn
    this.synSeq = synSeq
    this.stateValue = initiator ? ConnState.SynSent : ConnState.SynRecv
    this.rtt = new RttEstimator(init.config.minRto, init.config.maxRto)
    this.packetSizeValue = init.config.packetSize
    this.maxPayload = maxPayloadFor(init.config.packetSize)
    this.cc = init.congestionController ?? new Ledbat({
      mss: this.maxPayload,
      targetDelay: init.config.targetDelay,
      gain: init.config.gain,
      maxWindow: (SendBuffer.CAPACITY - 2) * this.maxPayload
    })
    this.out = new SendBuffer(isn)
    this.recoveryPoint = isn
    // in our sequence space from the start: a 0 would compare as ahead of an ISN in the upper half
    this.reportableEnd = isn
    this.recv = new RecvBuffer(ackNr, init.config.recvBufferSize)
    this.lastAdvertisedWindow = this.recv.window
    this.peerWindow = init.config.recvBufferSize
    // nothing of ours acknowledged yet; the acceptor has the SYN's window
    this.windowAckNr = seqAdd(isn, -1)
    this.windowSeqNr = ackNr
  }

  /** Opens a connection: queues the SYN. Poll it out with {@link pollTransmit}. */
  static connect (init: ConnectInit): Connection {
    const isn = randomU16(init.randomBytes)
    const conn = new Connection(init, init.recvId, (init.recvId + 1) & 0xffff, true, isn, 0)
    const syn = conn.out.push(PacketType.Syn, new Uint8Array(0))
    syn.lost = true
    conn.lostCount = 1
    conn.timers.set(Timer.Handshake, init.now + init.config.connectTimeout)
    conn.log('connect recv_id=%d isn=%d', conn.recvId, isn)
    return conn
  }

  /**
   * Accepts a SYN. The connection may send data at once; the SYN-ACK (an ST_STATE carrying our
   * initial sequence number) goes out first and is resent unchanged for every duplicate SYN.
   */
  static accept (init: AcceptInit): Connection {
    const syn = init.syn
    const isn = randomU16(init.randomBytes)
    const conn = new Connection(init, (syn.connectionId + 1) & 0xffff, syn.connectionId, false, isn, syn.seqNr, syn.seqNr)
    conn.peerWindow = syn.wndSize
    conn.notePeerMaxWindow(syn.wndSize)
    conn.replyMicro = u32Sub(wireTimestamp(init.now), syn.timestamp)
    conn.synAckPending = true
    conn.timers.set(Timer.Handshake, init.now + init.config.handshakeTimeout)
    conn.touchReceived(init.now)
    conn.log('accept recv_id=%d isn=%d syn_seq=%d', conn.recvId, isn, syn.seqNr)
    conn.queueEvent({ type: 'connected' })
    return conn
  }

  get state (): ConnectionState {
    return this.stateValue
  }

  /** Closed, with nothing left to send: the owner may forget the connection */
  get isDrained (): boolean {
    return this.stateValue === ConnState.Closed && !this.resetPending
  }

  /** The peer has shown it receives at its address (SYN-ACK received, or a packet after ours) */
  get isConfirmed (): boolean {
    return this.confirmed
  }

  get isClosed (): boolean {
    return this.stateValue >= ConnState.Linger
  }

  /** Bytes written and not yet acknowledged by the peer */
  get bufferedAmount (): number {
    return this.writeQueue.length + this.unackedBytes
  }

  /**
   * Bytes written and unacknowledged above which `write()` asks the caller to wait: the configured
   * send buffer, or {@link SEND_BUFFER_PACKETS} packets once path MTU probing has raised the
   * packet size (1 MiB is 16 packets of 64 KiB: the window could never open past it)
   */
  private get sendLimit (): number {
    return Math.max(this.config.sendBufferSize, SEND_BUFFER_PACKETS * this.maxPayload)
  }

  /**
   * Free room in the send buffer that a blocked writer waits for before `writable`: a quarter of
   * the buffer, at most {@link WRITABLE_ROOM_MAX}. Waking the writer on every ACK that frees a few
   * packets costs a writer that queues ahead (libp2p does, up to Yamux's window) a pass over its
   * whole queue per wake-up, for a few kilobytes each.
   */
  private get writableRoom (): number {
    return Math.min(this.sendLimit / 4, WRITABLE_ROOM_MAX)
  }

  /** Bytes received in order and not yet read */
  get readableLength (): number {
    return this.recv.unread
  }

  /** The application may still write */
  get isWritable (): boolean {
    return !this.endQueued && this.stateValue < ConnState.FinSent
  }

  /**
   * The datagram size this connection sends with now, bytes (path MTU probing may have raised
   * it); a payload is also bounded by half the peer's largest window (see payloadFor)
   */
  get packetSize (): number {
    return this.packetSizeValue
  }

  /**
   * Path MTU probing wants to start and needs the largest datagram the path may carry: the owner
   * answers with {@link setPathMtuCap}
   */
  get wantsPathMtuCap (): boolean {
    return this.mtuPhase === MtuPhase.WantsCap
  }

  /**
   * The largest datagram the path towards the peer may carry (the outgoing interface's MTU minus
   * IP and UDP headers), or undefined when unknown: probing then stays at the configured size
   */
  setPathMtuCap (cap: number | undefined): void {
    if (this.mtuPhase !== MtuPhase.WantsCap) {
      return
    }
    const limit = Math.min(cap ?? 0, this.config.maxPacketSize)
    if (limit <= this.packetSizeValue) {
      this.mtuPhase = MtuPhase.Done
      return
    }
    this.mtuSearch = new PathMtuSearch(this.packetSizeValue, limit)
    this.mtuPhase = MtuPhase.Searching
    this.log('path MTU: probing from %d up to %d bytes', this.packetSizeValue, limit)
  }

  /** Our initial sequence number (the SYN's seq_nr on the dialling side) */
  get initialSeqNr (): number {
    return this.isn
  }

  get congestionWindow (): number {
    return this.cc.window
  }

  get queuingDelay (): Duration {
    return this.cc.queuingDelay
  }

  get smoothedRtt (): Duration | undefined {
    return this.rtt.srtt
  }

  get retransmissionTimeout (): Duration {
    return this.rtt.rto
  }

  get flight (): number {
    return this.bytesInFlight
  }

  /** A full packet's worth is unacknowledged: a `holdPartial` poll would keep a partial packet back */
  get fullPacketInFlight (): boolean {
    return this.bytesInFlight >= this.maxPayload
  }

  get receiveWindow (): number {
    return this.recv.window
  }

  // ---------------------------------------------------------------- application commands

  /** Throws what {@link write} would throw now */
  assertWritable (): void {
    if (!this.isWritable) {
      throw new ConnectionStateError(`cannot write in state ${stateName(this.stateValue)}${this.endQueued ? ' after end()' : ''}`)
    }
  }

  /**
   * Queues bytes to send. Every byte is kept (none is ever dropped); the return value says whether
   * the caller may keep writing (false once the send buffer is full: wait for `writable`).
   */
  write (now: Instant, bytes: Uint8Array): boolean {
    this.assertWritable()
    this.writeQueue.push(bytes)
    const ok = this.bufferedAmount < this.sendLimit
    if (!ok) {
      this.writeBlocked = true
    }
    return ok
  }

  /** Finishes our side: a FIN follows the last written byte. Reading goes on until the peer's FIN. */
  end (now: Instant): void {
    if (this.endQueued || this.stateValue >= ConnState.Linger) {
      return
    }
    this.endQueued = true
    if (this.stateValue === ConnState.Connected || this.stateValue === ConnState.SynRecv) {
      this.setState(ConnState.FinSent)
    }
  }

  /** Aborts: sends ST_RESET and closes at once with reason `aborted` */
  reset (now: Instant): void {
    if (this.stateValue >= ConnState.Linger) {
      return
    }
    this.resetPending = true
    this.close('aborted', 'reset by the application')
  }

  /** Takes the next chunk of in-order received data (at most `max` bytes) */
  read (now: Instant, max?: number): Uint8Array | undefined {
    const chunk = this.recv.read(max)
    if (chunk == null) {
      return undefined
    }
    if (this.stateValue < ConnState.Linger && this.recv.window - this.lastAdvertisedWindow >= this.config.recvBufferSize / 4) {
      // the window grew by a quarter of the buffer since we last advertised it: tell the sender,
      // it may be held by the smaller window (a batch of large packets is acknowledged before
      // the reader takes it, so the ACK advertises the buffer minus the batch)
      this.ackNow = true
    }
    return chunk
  }

  // ---------------------------------------------------------------- inputs

  handlePacket (now: Instant, p: Packet): void {
    if (this.stateValue === ConnState.Closed) {
      return
    }
    this.stats.packetsReceived++
    if (this.log.trace.enabled === true) {
      this.log.trace('recv %s', stringifyPacket(p))
    }

    if (p.type === PacketType.Reset) {
      this.handleReset(p)
      return
    }

    if (p.type === PacketType.Syn) {
      this.handleDuplicateSyn(now, p)
      return
    }

    if (this.stateValue === ConnState.SynSent) {
      if (!this.handleSynSentPacket(now, p)) {
        return
      }
    }

    if ((p.type === PacketType.Data || p.type === PacketType.Fin) && seqDiff(p.seqNr, this.recv.ackNr) >= RecvBuffer.REORDER_CAPACITY) {
      // far beyond anything we could hold: forged or broken; libutp drops these whole too
      this.log.trace('drop: seq_nr %d beyond the reorder window after %d', p.seqNr, this.recv.ackNr)
      return
    }
    if (!this.acceptsAck(p.ackNr)) {
      this.log.trace('drop: ack_nr %d outside [%d, %d]', p.ackNr, seqAdd(this.out.una, -1), seqAdd(this.out.nxt, -1))
      return
    }

    this.touchReceived(now)
    this.replyMicro = u32Sub(wireTimestamp(now), p.timestamp)

    this.confirm()

    this.processAck(now, p)
    // after the ACK: duplicate ACK detection compares the window with the one before
    this.updatePeerWindow(p)
    this.handlePathMtu(p)

    // processAck may have closed the connection
    if ((this.stateValue as ConnectionState) === ConnState.Closed) {
      return
    }
    if (p.type === PacketType.Data || p.type === PacketType.Fin) {
      this.processData(now, p)
    }
    if (this.peerWindow >= this.maxPayload || this.bytesInFlight > 0) {
      this.timers.stop(Timer.WindowProbe)
    }
    this.checkFinished(now)

    if (this.confirmed && this.earlyPackets != null) {
      // the SYN-ACK has placed the acceptor's sequence space: now the early data fits
      const early = this.earlyPackets
      this.earlyPackets = undefined
      for (const e of early) {
        this.handlePacket(now, e)
      }
    }
  }

  /**
   * Takes the peer's window from its newest packets only: a reordered older one (a late ACK, a
   * resent SYN-ACK) would bring back a window the peer has since changed, and a window it has
   * since closed would have us send what it drops. ack_nr orders the peer's packets as
   * they were sent (it never goes back; a retransmission carries an old seq_nr but the current
   * ack_nr), and seq_nr those with the same ack_nr: RFC 9293's SND.WL1 and SND.WL2 check, with
   * the two numbers in the other order.
   */
  private updatePeerWindow (p: Packet): void {
    const d = seqDiff(p.ackNr, this.windowAckNr)
    if (d < 0 || (d === 0 && seqDiff(p.seqNr, this.windowSeqNr) < 0)) {
      return
    }
    this.windowAckNr = p.ackNr
    this.windowSeqNr = p.seqNr
    this.peerWindow = p.wndSize
    this.notePeerMaxWindow(p.wndSize)
  }

  private notePeerMaxWindow (window: number): void {
    if (window <= this.peerMaxWindow) {
      return
    }
    this.peerMaxWindow = window
    if (this.payloadFor(this.packetSizeValue) !== this.maxPayload) {
      this.applyPacketSize(this.packetSizeValue)
    }
  }

  /** A valid packet from the initiator after our SYN-ACK proves its address: the handshake is complete */
  private confirm (): void {
    if (this.confirmed) {
      return
    }
    this.confirmed = true
    this.timers.stop(Timer.Handshake)
    if (this.stateValue === ConnState.SynRecv) {
      this.setState(ConnState.Connected)
    }
    this.queueEvent({ type: 'confirmed' })
  }

  /** BEP 29: a duplicate SYN means our SYN-ACK was lost; answer with the very same one */
  private handleDuplicateSyn (now: Instant, p: Packet): void {
    if (!this.isInitiator && p.seqNr === this.synSeq && this.stateValue < ConnState.Linger) {
      this.synAckPending = true
      this.touchReceived(now)
    }
  }

  /** ack_nr must acknowledge something we really sent: blind injection and reflection defence */
  private acceptsAck (ackNr: number): boolean {
    const ahead = seqDiff(ackNr, seqAdd(this.out.nxt, -1))
    const behind = seqDiff(ackNr, seqAdd(this.out.una, -1))
    // before confirmation nothing of ours was acknowledged: only [una - 1, nxt - 1] is plausible, so a
    // blind guess cannot confirm a spoofed half-open connection (1 in 16 would pass the wide range)
    return ahead <= 0 && behind >= (this.confirmed ? -SendBuffer.CAPACITY : 0)
  }

  handleTimeout (now: Instant): void {
    for (const timer of ALL_TIMERS) {
      if (!this.timers.isExpired(timer, now)) {
        continue
      }
      this.timers.stop(timer)
      this.log.trace('timeout timer=%s', timerName(timer))
      switch (timer) {
        case Timer.Retransmit:
          this.onRetransmitTimeout(now)
          break
        case Timer.DelayedAck:
          this.ackNow = true
          break
        case Timer.KeepAlive:
          this.onKeepAlive()
          break
        case Timer.Idle:
          this.close('timed-out', `nothing received for ${Math.round(this.config.idleTimeout / 1000)} ms`)
          break
        case Timer.Linger:
          this.setState(ConnState.Closed)
          break
        case Timer.Handshake:
          this.close('timed-out', this.isInitiator && this.stateValue === ConnState.SynSent
            ? `no answer to SYN within ${Math.round(this.config.connectTimeout / 1000)} ms`
            : `half-open connection not confirmed within ${Math.round(this.config.handshakeTimeout / 1000)} ms`)
          break
        case Timer.WindowProbe:
          this.probeAllowed = true
          break
        case Timer.Reorder:
          this.detectLosses(now)
          break
        case Timer.TailProbe:
          this.onTailProbe()
          break
        case Timer.PathMtu:
          this.mtuSearch?.onTimeout(now)
          if (this.mtuSearch?.done === true) {
            this.finishMtuSearch()
          }
          break
        default:
          break
      }
      if (this.stateValue === ConnState.Closed && !this.resetPending) {
        return
      }
    }
  }

  private onKeepAlive (): void {
    if (!this.isInitiator && !this.confirmed) {
      // the initiator may still wait for the SYN-ACK, and would take any other ST_STATE
      // acknowledging its SYN for it, with the wrong seq_nr (ours moved on with our data)
      this.synAckPending = true
    } else {
      this.ackNow = true
    }
  }

  // ---------------------------------------------------------------- outputs

  /**
   * The next datagram to send, or undefined. With `holdPartial`, a data packet shorter than the
   * packet size waits while a full packet's worth is unacknowledged (see {@link partialHeld}):
   * a caller that sends at every write would otherwise cut the tail of each write into a packet
   * of its own during a bulk transfer, which costs a datagram each with 64 KiB packets.
   */
  pollTransmit (now: Instant, holdPartial = false): Transmit | undefined {
    this.partialHeldValue = false
    if (this.resetPending) {
      this.resetPending = false
      return this.buildControl(now, PacketType.Reset, this.out.nxt)
    }
    if (this.stateValue === ConnState.Closed) {
      return undefined
    }
    if (this.synAckPending) {
      this.synAckPending = false
      return this.buildControl(now, PacketType.State, this.isn, this.synSeq)
    }
    if (this.stateValue === ConnState.SynSent) {
      const syn = this.out.get(this.out.una)
      if (syn?.lost === true) {
        return this.transmitPacket(now, syn)
      }
      return undefined
    }
    if (this.echoSize !== 0) {
      const size = this.echoSize
      this.echoSize = 0
      return this.build(now, PacketType.State, this.out.nxt, this.recv.ackNr, EMPTY, MAX_SACK_BYTES, { kind: PathMtuKind.Echo, size })
    }
    if (this.mtuPhase === MtuPhase.Searching && this.stateValue !== ConnState.Linger) {
      const probe = this.nextMtuProbe(now)
      if (probe != null) {
        return probe
      }
    }
    if (this.stateValue !== ConnState.Linger) {
      const pkt = this.nextToSend(now, holdPartial)
      if (pkt != null) {
        return this.transmitPacket(now, pkt)
      }
    }
    // after the data: what the initiator wrote before the SYN-ACK came goes ahead of the
    // announcement (and carries the ACK of the SYN-ACK, which the announcement otherwise is)
    if (this.announcePending) {
      this.announcePending = false
      this.stats.acksSent++
      return this.buildControl(now, PacketType.State, this.out.nxt, this.recv.ackNr, CAPABLE)
    }
    if (this.ackNow) {
      this.stats.acksSent++
      return this.buildControl(now, PacketType.State, this.out.nxt)
    }
    return undefined
  }

  /** Earliest time {@link handleTimeout} must be called, or undefined */
  pollTimeout (): Instant | undefined {
    return this.timers.next()
  }

  private queueEvent (ev: ConnectionEvent): void {
    if (this.events === NO_EVENTS) {
      this.events = []
    }
    this.events.push(ev)
  }

  pollEvent (): ConnectionEvent | undefined {
    if (this.events.length === 0) {
      return undefined
    }
    const ev = this.events.shift()
    if (this.events.length === 0) {
      this.events = NO_EVENTS
    }
    if (ev?.type === 'readable') {
      this.readablePending = false
    }
    return ev
  }

  /** The last `holdPartial` poll kept a partial data packet back (it may have returned an ACK instead) */
  get partialHeld (): boolean {
    return this.partialHeldValue
  }

  get hasEvents (): boolean {
    return this.events.length > 0
  }

  // ---------------------------------------------------------------- handshake

  /** SYN_SENT: returns true when the packet completed the handshake and should be processed further */
  private handleSynSentPacket (now: Instant, p: Packet): boolean {
    const synSeq = this.out.una
    if (p.ackNr !== synSeq) {
      return false
    }
    if (p.type !== PacketType.State) {
      // the acceptor sent data first and its SYN-ACK was lost: keep the data, and ask for the
      // SYN-ACK again at once rather than after a retransmission timeout. The acceptor's first
      // sequence number is only known from the SYN-ACK, so the data cannot be placed yet.
      this.earlyPackets ??= []
      if (this.earlyPackets.length < MAX_EARLY_PACKETS) {
        this.earlyPackets.push(p)
      }
      const syn = this.out.get(synSeq)
      if (syn != null && !syn.lost && !this.earlySynResent) {
        this.earlySynResent = true
        this.markLost(syn)
      }
      return false
    }
    // SYN-ACK: BEP 29, the acceptor's data starts at the SYN-ACK's seq_nr
    this.recv.ackNr = seqAdd(p.seqNr, -1)
    // announce path MTU probing after the handshake, in an ST_STATE of its own, not in the SYN:
    // libutp (as shipped in utp-native) ignores a SYN that carries an unknown extension, and reads
    // past it in an ST_STATE. It is the ACK of the SYN-ACK, or follows the data written before it
    // came (which acknowledges the SYN-ACK)
    this.announcePending = this.config.pathMtuProbing
    this.timers.stop(Timer.Handshake)
    this.setState(this.endQueued ? ConnState.FinSent : ConnState.Connected)
    this.queueEvent({ type: 'connected' })
    this.confirmed = true
    // acknowledge the SYN-ACK even with nothing to send: that confirms us to the acceptor (our
    // first data would too, but an application may wait for the other side to speak first, and a
    // dial that merged into our SYN waits for this to prove our SYN was not forged)
    this.ackNow = true
    return true
  }

  // ---------------------------------------------------------------- acknowledgements

  private processAck (now: Instant, p: Packet): void {
    const ack = ACK_SCRATCH
    ack.bytes = 0
    ack.rttSample = -1
    ack.newestOrder = -1
    ack.newestSentAt = 0
    ack.spurious = false
    ack.undo = false

    const advanced = this.ackCumulative(now, p)
    // an ACK from before our cumulative point (reordered, or its ack_nr was corrupted or forged)
    // reads its mask against a sequence space since moved on: its marks would land on una, which
    // dropStaleSack then resends at once, and the duplicate's immediate ACK repeated that without
    // end, unpaced (about 150 full packets a second each way after one corrupted ack_nr)
    if (p.sack != null && seqDiff(p.ackNr, seqAdd(this.out.una, -1)) >= 0) {
      this.ackSelective(now, p.ackNr, p.sack)
    }
    this.dropStaleSack()
    this.noteReach(p)

    if (ack.rttSample >= 0) {
      this.rtt.update(ack.rttSample)
    }
    if (ack.spurious) {
      this.onSpuriousRetransmit(now, ack.undo)
    }
    if (this.lastCutSeq !== undefined && seqDiff(this.lastCutSeq, this.out.una) < 0) {
      // the packet of the cut is acknowledged: nothing can prove the cut spurious any more, and an
      // unrelated packet takes its seq_nr after the sequence numbers wrap
      this.lastCutSeq = undefined
    }
    if (ack.newestOrder > this.rackOrder) {
      this.rackOrder = ack.newestOrder
      this.rackRtt = now - ack.newestSentAt
    }
    if (ack.newestOrder >= 0) {
      this.detectLosses(now)
    }
    if (ack.bytes > 0 && this.lostCount > 0) {
      this.recoverySends = 1
    }

    const delaySample = p.timestampDiff === 0 || p.timestampDiff === BOGUS_TIMESTAMP_DIFF ? undefined : p.timestampDiff
    this.cc.onAck(now, {
      bytesAcked: ack.bytes,
      delaySample,
      reverseDelaySample: p.timestamp === 0 ? undefined : this.replyMicro,
      rtt: this.rtt.srtt,
      cwndLimited: this.cwndLimited
    })
    if (ack.bytes > 0) {
      this.cwndLimited = false
    }

    if (this.out.isEmpty) {
      this.timers.stop(Timer.Retransmit)
      this.timers.stop(Timer.Reorder)
      this.timers.stop(Timer.TailProbe)
    } else if (advanced) {
      // RFC 6298 (5.3): restart the timer when new data is acknowledged
      this.timers.set(Timer.Retransmit, now + this.rtt.rto)
    }
    if (ack.bytes > 0) {
      this.tailProbeUsed = false
      this.armTailProbe(now, true)
    }

    if (this.writeBlocked && this.bufferedAmount <= this.sendLimit - this.writableRoom && this.isWritable) {
      this.writeBlocked = false
      this.queueEvent({ type: 'writable' })
    }
  }

  /** The cumulative part of an ACK; returns true when it acknowledged something new */
  private ackCumulative (now: Instant, p: Packet): boolean {
    const ackNr = p.ackNr
    if (seqDiff(ackNr, this.out.una) >= 0) {
      while (!this.out.isEmpty && seqDiff(ackNr, this.out.una) >= 0) {
        const pkt = this.out.shift() as OutPacket
        if (!pkt.sacked) {
          this.noteAcked(now, pkt)
        }
        this.forget(pkt)
        if (pkt.type === PacketType.Fin) {
          this.finAcked = true
          this.queueEvent({ type: 'flushed' })
        }
      }
      this.dupAcks = 0
      // timeouts on either side of an ACK of new data are not in a row (as TCP counts them for its
      // retransmission limit, RFC 1122 4.2.3.5): retransmitted packets give no RTT sample (Karn),
      // so under heavy loss only this keeps a connection that makes progress from reaching
      // maxRetransmits. A closed-window episode is over too: the next one probes from one RTO
      this.rtt.noteProgress()
      this.probes = 0
      if (seqDiff(this.recoveryPoint, this.out.una) < 0) {
        // recovery is over: keep the point at una, since one left behind would compare as ahead
        // again half the sequence circle later and suppress every window cut for as long
        this.recoveryPoint = this.out.una
      }
      return true
    }
    if (ackNr === seqAdd(this.out.una, -1) && p.type === PacketType.State && this.bytesInFlight > 0 && p.sack == null && p.pathMtu == null && p.wndSize === this.peerWindow) {
      // RFC 5681 duplicate ACK: a pure ACK (a SACK says more) that moves neither una nor the window.
      // One whose window is closed to the oldest packet answers a window probe: no sign of loss
      const first = this.out.get(this.out.una) as OutPacket
      if (p.wndSize > 0 && p.wndSize >= first.payload.byteLength && ++this.dupAcks === DUP_THRESH) {
        if (!first.lost && !first.sacked) {
          this.markLost(first)
          this.recoverySends = 1
          this.stats.fastRetransmits++
          this.onCongestionSignal(now, first.seq)
        }
      }
    }
    return false
  }

  /**
   * A selective ACK starts past the packet after ack_nr, so the packet at una can never carry a
   * valid mark: one there is stale (a mask read against another ack_nr) or reneged, and would keep
   * the packet from ever being sent again (RFC 6675 5.1; Linux treats it as reneging too). Marks
   * further on stay: forgetting them all at a timeout would credit their bytes a second time.
   */
  private dropStaleSack (): void {
    const first = this.out.get(this.out.una)
    if (first?.sacked === true) {
      first.sacked = false
      this.markLost(first)
    }
  }

  /** The selective part: bit i acknowledges `ack_nr + 2 + i` */
  private ackSelective (now: Instant, ackNr: number, sack: Uint8Array): void {
    const bits = sack.byteLength * 8
    const base = seqAdd(ackNr, 2)
    for (let i = 0; i < bits; i++) {
      if ((sack[i >> 3] & (1 << (i & 7))) === 0) {
        continue
      }
      const seq = seqAdd(base, i)
      if (seqDiff(seq, this.out.nxt) >= 0) {
        break
      }
      const pkt = this.out.get(seq)
      if (pkt == null || pkt.sacked) {
        continue
      }
      pkt.sacked = true
      this.noteAcked(now, pkt)
      if (pkt.inFlight) {
        pkt.inFlight = false
        this.bytesInFlight -= pkt.payload.byteLength
      }
      if (pkt.lost) {
        pkt.lost = false
        this.lostCount--
      }
    }
  }

  /** Extends how far the peer's ACKs have reported on our sequence space */
  private noteReach (p: Packet): void {
    const reach = seqAdd(p.ackNr, 1 + 8 * (p.sack?.byteLength ?? 0))
    if (seqDiff(reach, this.reportableEnd) > 0 || seqDiff(this.reportableEnd, this.out.una) < 0) {
      this.reportableEnd = reach
    }
  }

  /** Accounts one packet newly acknowledged (cumulatively or selectively) */
  private noteAcked (now: Instant, pkt: OutPacket): void {
    const ack = ACK_SCRATCH
    ack.bytes += pkt.payload.byteLength
    if (pkt.transmissions !== 1) {
      // an ACK sooner than any round trip after the retransmission answers the original: the
      // packet was reordered, not lost (Eifel-style detection, RFC 3522, by timing)
      const minRtt = this.rtt.minRtt
      if (minRtt != null && now - pkt.sentAt < minRtt * SPURIOUS_RTT_FRACTION) {
        ack.spurious = true
        // only if the retransmission of the cut is the only one: after another (a tail probe, a
        // timeout), an early ACK may answer the retransmission of the cut, which repaired a real loss
        if (pkt.seq === this.lastCutSeq && pkt.transmissions === 2) {
          ack.undo = true
        }
        // RFC 8985 6.2: this ACK says nothing about when the retransmission was delivered; taking
        // its send time as the newest delivery would make everything sent before it look lost
        return
      }
    }
    if (pkt.sendOrder > ack.newestOrder) {
      ack.newestOrder = pkt.sendOrder
      ack.newestSentAt = pkt.sentAt
      // RTT: only from the packet that triggered this ACK, the most recently sent one, and only
      // if it went out once (Karn). An older packet acknowledged now may have waited behind a hole.
      ack.rttSample = pkt.transmissions === 1 ? now - pkt.sentAt : -1
    }
  }

  /**
   * Loss detection. Until reordering has been seen: RFC 6675 DupThresh, a packet is lost once a
   * packet sent three transmissions after it was acknowledged. Once the path has shown
   * reordering: RACK (RFC 8985), a packet is lost once a packet sent more than a reordering
   * window after it was acknowledged, or when the window has passed since, checked by a timer.
   */
  private detectLosses (now: Instant): void {
    let firstLost: number | undefined
    let nextCheck = Infinity
    const useTime = this.reorderWindow > 0
    // only packets the peer's ACKs can speak of: libutp's selective ACK covers 32 packets, and a
    // packet beyond it may well have arrived
    const end = this.reportableEnd
    for (let seq = this.out.una; seqDiff(seq, this.out.nxt) < 0 && seqDiff(seq, end) <= 0; seq = seqAdd(seq, 1)) {
      const pkt = this.out.get(seq) as OutPacket
      if (pkt.sacked || pkt.lost || !pkt.inFlight) {
        continue
      }
      if (pkt.sendOrder >= this.rackOrder) {
        if (pkt.transmissions === 1) {
          // first transmissions go out in sequence order: nothing later was sent earlier
          break
        }
        continue
      }
      let lost: boolean
      if (useTime) {
        const deadline = pkt.sentAt + this.rackRtt + this.reorderWindow
        lost = deadline <= now
        if (!lost && deadline < nextCheck) {
          nextCheck = deadline
        }
      } else {
        lost = this.rackOrder - pkt.sendOrder >= DUP_THRESH
      }
      if (lost) {
        this.markLost(pkt)
        this.stats.fastRetransmits++
        firstLost ??= pkt.seq
      }
    }
    if (nextCheck !== Infinity) {
      this.timers.set(Timer.Reorder, nextCheck)
    } else {
      this.timers.stop(Timer.Reorder)
    }
    if (firstLost != null) {
      this.recoverySends = 1
      this.onCongestionSignal(now, firstLost)
    }
  }

  /**
   * Tail loss probe (RFC 8985 section 7): when ACKs stop coming with data in flight, the loss is
   * at the tail, or the peer cannot tell us about it (libutp acknowledges streamed data with DATA
   * packets that carry no selective ACK, and its selective ACK reaches only 32 packets). Rather
   * than wait out the retransmission timeout (250 ms at least), resend the oldest unacknowledged
   * packet after about two RTTs, once, without cutting the window: if it was the hole, the
   * cumulative ACK jumps.
   */
  private armTailProbe (now: Instant, restart: boolean): void {
    const srtt = this.rtt.srtt
    if (srtt == null || this.tailProbeUsed || !this.config.tailLossProbe || this.stateValue === ConnState.SynSent) {
      return
    }
    if (!restart && this.timers.isSet(Timer.TailProbe)) {
      return
    }
    const at = now + Math.max(2 * srtt + this.config.delayedAck, MIN_TAIL_PROBE_US)
    const rto = this.timers.get(Timer.Retransmit)
    if (rto == null || at < rto) {
      this.timers.set(Timer.TailProbe, at)
    }
  }

  private onTailProbe (): void {
    this.tailProbeUsed = true
    for (let seq = this.out.una; seqDiff(seq, this.out.nxt) < 0; seq = seqAdd(seq, 1)) {
      const pkt = this.out.get(seq) as OutPacket
      if (pkt.sacked) {
        continue
      }
      if (!pkt.lost) {
        this.markLost(pkt)
        this.stats.tailProbes++
      }
      this.recoverySends = Math.max(this.recoverySends, 1)
      return
    }
  }

  /** A retransmission that caused a window cut proved spurious: undo the cut, tolerate more reordering */
  private onSpuriousRetransmit (now: Instant, undo: boolean): void {
    this.stats.spuriousRetransmits++
    this.widenReorderWindow()
    if (undo && this.lastCutSeq != null) {
      this.lastCutSeq = undefined
      this.cc.undoLoss(now)
      this.stats.windowCuts--
    }
  }

  private widenReorderWindow (): void {
    const minRtt = this.rtt.minRtt ?? 0
    const cap = Math.max(minRtt, this.rtt.srtt ?? 0)
    this.reorderWindow = Math.min(cap, this.reorderWindow + Math.max(1_000, minRtt / 4))
  }

  /** At most one window cut per round trip: losses of packets sent before the last cut are part of it */
  private onCongestionSignal (now: Instant, lostSeq: number): void {
    if (seqDiff(lostSeq, this.recoveryPoint) < 0) {
      return
    }
    this.recoveryPoint = this.out.nxt
    this.lastCutSeq = lostSeq
    this.cc.onLoss(now)
    this.stats.windowCuts++
  }

  private markLost (pkt: OutPacket): void {
    if (pkt.inFlight) {
      pkt.inFlight = false
      this.bytesInFlight -= pkt.payload.byteLength
    }
    if (!pkt.lost) {
      pkt.lost = true
      this.lostCount++
    }
  }

  /** Presumes every packet not selectively acknowledged lost */
  private markAllLost (): void {
    for (let seq = this.out.una; seqDiff(seq, this.out.nxt) < 0; seq = seqAdd(seq, 1)) {
      const pkt = this.out.get(seq) as OutPacket
      if (!pkt.sacked) {
        this.markLost(pkt)
      }
    }
  }

  /**
   * SYN_SENT: sends the SYN again now. A SYN from the peer we are dialling shows that its side
   * (its NAT, its firewall) now lets our packets in: waiting out the retransmission timer would
   * add a second to every hole punch.
   */
  resendSyn (): void {
    if (this.stateValue !== ConnState.SynSent) {
      return
    }
    const syn = this.out.get(this.out.una)
    if (syn != null) {
      this.markLost(syn)
    }
  }

  /** Drops a cumulatively acknowledged packet from the accounting */
  private forget (pkt: OutPacket): void {
    if (pkt.inFlight) {
      this.bytesInFlight -= pkt.payload.byteLength
    }
    if (pkt.lost) {
      this.lostCount--
    }
    this.unackedBytes -= pkt.payload.byteLength
  }

  /** Wait before the next probe of a closed window: the RTO at first, doubling with each probe */
  private probeInterval (): number {
    return Math.min(MAX_PROBE_INTERVAL_US, this.rtt.rto * 2 ** Math.min(this.probes, 10))
  }

  private onRetransmitTimeout (now: Instant): void {
    if (this.out.isEmpty) {
      return
    }
    this.stats.timeouts++
    if (this.stateValue === ConnState.SynSent) {
      // the connect deadline (Timer.Handshake) bounds SYN retransmissions
      this.rtt.backoff()
      const syn = this.out.get(this.out.una) as OutPacket
      this.markLost(syn)
      return
    }
    const first = this.out.get(this.out.una) as OutPacket
    // the peer answered the previous probe if something came after it was sent, a wait ago
    if (first.payload.byteLength > this.peerWindow && now - this.lastReceivedAt <= this.probeInterval() + this.rtt.rto) {
      // the peer answers but its receive window is closed: this was a window probe, not a loss.
      // Probe again, backing off to at most MAX_PROBE_INTERVAL_US, without giving up or cutting the window.
      // Packets after the first cannot be held by a closed window either: left in flight, they
      // would keep the first from going out as the probe (Linux also marks them all lost when a
      // receiver shrinks its window, tcp_retransmit_timer). The probe is that one packet alone
      this.probes++
      this.markAllLost()
      this.recoverySends = 0
      this.timers.set(Timer.Retransmit, now + this.probeInterval())
      return
    }
    this.probes = 0
    if (this.rtt.consecutiveBackoffs >= 1 && first.payload.byteLength > maxPayloadFor(this.config.packetSize)) {
      // a packet larger than the configured size timed out twice in a row: the path may have
      // changed under us (RFC 8899 black hole detection). New packets go back to the configured
      // size; those already built keep theirs (uTP cannot re-split them) and get through only if
      // the kernel fragments them
      this.log('path MTU: timeouts at %d bytes, back to %d', this.packetSizeValue, this.config.packetSize)
      this.mtuSearch?.stop()
      this.finishMtuSearch()
      this.applyPacketSize(this.config.packetSize)
    }
    if (this.rtt.consecutiveBackoffs >= this.config.maxRetransmits) {
      this.close('timed-out', `no acknowledgement after ${this.rtt.consecutiveBackoffs + 1} retransmissions`)
      return
    }
    this.rtt.backoff()
    this.cc.onTimeout(now)
    this.stats.windowCuts++
    // they go out again as the window (back to one packet) allows, oldest first: an allowance an
    // earlier recovery left unused would send a second one (RFC 5681 3.1, Linux's cwnd of in-flight + 1)
    this.markAllLost()
    this.recoverySends = 0
    // an earlier cut proved spurious now says nothing of the timeout (another packet may be the one
    // that timed out): its undo would also undo the timeout's window. Linux, in its loss state,
    // undoes only on an ACK that moves una and answers an original transmission
    this.lastCutSeq = undefined
    this.recoveryPoint = this.out.nxt
    this.dupAcks = 0
  }

  // ---------------------------------------------------------------- received data

  private processData (now: Instant, p: Packet): void {
    if (p.type === PacketType.Fin && this.remoteFinSeq == null) {
      if (seqDiff(p.seqNr, this.recv.ackNr) > 0) {
        this.remoteFinSeq = p.seqNr
      }
    }
    if (this.remoteFinSeq != null && seqDiff(p.seqNr, this.remoteFinSeq) > 0) {
      // nothing follows a FIN
      this.ackNow = true
      return
    }
    const before = this.recv.unread
    const result = this.recv.insert(p.seqNr, p.payload)
    switch (result) {
      case InsertResult.InOrder:
        this.stats.bytesReceived += p.payload.byteLength
        if (this.recv.unread > before && !this.readablePending) {
          this.readablePending = true
          this.queueEvent({ type: 'readable' })
        }
        if (this.remoteFinSeq != null && this.recv.ackNr === this.remoteFinSeq && !this.remoteEnded) {
          this.remoteEnded = true
          this.queueEvent({ type: 'end' })
          this.ackNow = true
        }
        if (this.recv.outOfOrder > 0 || ++this.unackedPackets >= ACK_EVERY_PACKETS || this.config.delayedAck === 0) {
          this.ackNow = true
        } else if (!this.timers.isSet(Timer.DelayedAck)) {
          this.timers.set(Timer.DelayedAck, now + this.config.delayedAck)
        }
        break
      case InsertResult.OutOfOrder:
        this.stats.bytesReceived += p.payload.byteLength
        this.stats.outOfOrderReceived++
        this.ackNow = true
        break
      case InsertResult.Duplicate:
        this.stats.duplicatesReceived++
        this.ackNow = true
        break
      default:
        // dropped: no room, or too far ahead; the ACK shows the sender where we are
        this.ackNow = true
        break
    }
  }

  private handleReset (p: Packet): void {
    // the RST must name this connection (checked by the endpoint) and acknowledge what we sent and
    // the peer has not acknowledged yet: libutp answers an unknown packet with ack_nr = its seq_nr
    // (una to nxt, nxt for an ST_STATE), a peer that resets a live connection with its ack_nr (from
    // una - 1). Anything wider lets blind resets through: the send buffer's 4096 packets let one
    // in about 500,000 guesses close an idle connection
    if (seqDiff(p.ackNr, this.out.nxt) > 0 || seqDiff(p.ackNr, seqAdd(this.out.una, -1)) < 0) {
      this.log.trace('drop: RST ack_nr %d does not match our sequence space', p.ackNr)
      return
    }
    if (this.stateValue === ConnState.SynSent) {
      this.close('refused', 'connection refused by the peer (ST_RESET)')
      return
    }
    if (this.remoteEnded && this.writeQueue.length === 0 && this.unackedBytes === 0) {
      // the peer finished, has all our data, and forgot the connection before acknowledging our
      // FIN: that is a graceful close that lost its last ACK
      this.close('closed', 'peer closed (ST_RESET after FIN)')
      return
    }
    this.close('reset', 'connection reset by the peer (ST_RESET)')
  }

  // ---------------------------------------------------------------- sending

  /** The next sequenced packet the windows allow, creating it from written data if needed */
  private nextToSend (now: Instant, holdPartial: boolean): OutPacket | undefined {
    const windowLimit = Math.min(this.cc.window, this.peerWindow)
    const synRecvLimited = !this.confirmed && this.out.count >= SYN_RECV_MAX_PACKETS

    // retransmissions first, oldest first
    if (this.lostCount > 0) {
      for (let seq = this.out.una; seqDiff(seq, this.out.nxt) < 0; seq = seqAdd(seq, 1)) {
        const pkt = this.out.get(seq) as OutPacket
        if (!pkt.lost) {
          continue
        }
        if (this.bytesInFlight === 0 || this.bytesInFlight + pkt.payload.byteLength <= windowLimit || this.takeProbe()) {
          return pkt
        }
        if (this.recoverySends > 0) {
          // RFC 6675 (4.3), RFC 6937: the first retransmission of a recovery, and one per ACK that
          // reports delivered data, go out whatever the window
          this.recoverySends--
          return pkt
        }
        this.noteBlocked(now, windowLimit)
        return undefined
      }
    }

    if (synRecvLimited || this.out.isFull) {
      return undefined
    }

    const pending = this.writeQueue.length
    if (pending > this.maxPayload) {
      this.noteBulk()
    }
    if (pending > 0) {
      if (this.holdsTail(holdPartial, pending)) {
        return undefined
      }
      const room = windowLimit - this.bytesInFlight
      let size = Math.min(this.maxPayload, pending)
      if (room < size) {
        if (this.bytesInFlight === 0 && room > 0) {
          // nothing in flight: send what fits rather than stall
          size = room
        } else if (this.takeProbe()) {
          size = Math.min(size, this.maxPayload)
        } else {
          this.noteBlocked(now, windowLimit)
          return undefined
        }
      }
      const payload = this.writeQueue.take(size)
      this.unackedBytes += payload.byteLength
      return this.out.push(PacketType.Data, payload)
    }

    if (this.endQueued && this.finSeq == null) {
      const fin = this.out.push(PacketType.Fin, new Uint8Array(0))
      this.finSeq = fin.seq
      return fin
    }
    return undefined
  }

  /** A partial packet waits while a full packet's worth is unacknowledged (see {@link pollTransmit}) */
  private holdsTail (holdPartial: boolean, pending: number): boolean {
    this.partialHeldValue = holdPartial && pending < this.maxPayload && this.bytesInFlight >= this.maxPayload
    return this.partialHeldValue
  }

  /** Records why sending stopped: growth is only allowed when the congestion window is the limit */
  private noteBlocked (now: Instant, windowLimit: number): void {
    if (windowLimit === this.cc.window) {
      this.cwndLimited = true
    } else if (this.bytesInFlight === 0 && !this.timers.isSet(Timer.WindowProbe)) {
      // the peer's window is closed and nothing is in flight to bring an update: probe later
      this.timers.set(Timer.WindowProbe, now + this.rtt.rto)
    }
  }

  private takeProbe (): boolean {
    if (!this.probeAllowed) {
      return false
    }
    this.probeAllowed = false
    return true
  }

  private transmitPacket (now: Instant, pkt: OutPacket): Transmit {
    if (pkt.transmissions > 0) {
      this.stats.retransmits++
    }
    if (pkt.lost) {
      pkt.lost = false
      this.lostCount--
    }
    pkt.transmissions++
    pkt.sentAt = now
    pkt.sendOrder = ++this.sendOrder
    if (!pkt.inFlight) {
      pkt.inFlight = true
      this.bytesInFlight += pkt.payload.byteLength
    }
    // a packet in flight brings the peer's next window: no window probe is due. A probe timer left
    // running, or an allowance it left unused, would later let a packet past the window
    this.probeAllowed = false
    this.timers.stop(Timer.WindowProbe)
    if (!this.timers.isSet(Timer.Retransmit)) {
      this.timers.set(Timer.Retransmit, now + this.rtt.rto)
    }
    this.armTailProbe(now, false)
    this.stats.bytesSent += pkt.payload.byteLength
    const sackRoom = this.packetSizeValue - HEADER_SIZE - 2 - pkt.payload.byteLength
    return this.build(now, pkt.type, pkt.seq, this.recv.ackNr, pkt.payload, Math.min(MAX_SACK_BYTES, sackRoom - (sackRoom % 4)))
  }

  private buildControl (now: Instant, type: PacketKind, seq: number, ackNr = this.recv.ackNr, pathMtu?: PathMtuExtension): Transmit {
    return this.build(now, type, seq, ackNr, EMPTY, MAX_SACK_BYTES, pathMtu)
  }

  /**
   * The next path MTU probe, if one is due: an ST_STATE (it also acknowledges, as any) padded to
   * the size under test. It takes no sequence number, so its loss costs nothing but itself.
   */
  private nextMtuProbe (now: Instant): Transmit | undefined {
    const search = this.mtuSearch
    if (search == null || !this.confirmed || this.stateValue > ConnState.FinSent) {
      return undefined
    }
    if (this.maxPayload < maxPayloadFor(this.packetSizeValue)) {
      // the peer's window already cuts packets below the proven size (payloadFor): a larger one
      // could not be filled, and its probes would be pure overhead. The search resumes if it grows
      return undefined
    }
    const size = search.nextProbe(now, this.rtt.rto)
    if (size === 0) {
      return undefined
    }
    this.timers.set(Timer.PathMtu, search.deadline)
    this.stats.mtuProbes++
    this.log.trace('path MTU: probe %d bytes', size)
    return this.build(now, PacketType.State, this.out.nxt, this.recv.ackNr, EMPTY, MAX_SACK_BYTES, { kind: PathMtuKind.Probe, size }, size)
  }

  private handlePathMtu (p: Packet): void {
    const ext = p.pathMtu
    if (ext == null || p.type !== PacketType.State) {
      return
    }
    if (ext.kind === PathMtuKind.Capable && this.config.pathMtuProbing && !this.peerEchoesProbes) {
      this.peerEchoesProbes = true
      if (!this.isInitiator) {
        // the initiator announced first: answer in kind
        this.announcePending = true
      }
    } else if (ext.kind === PathMtuKind.Probe && this.config.pathMtuProbing && ext.size === headerSize(p.sack?.byteLength ?? 0, true) + p.payload.byteLength) {
      // echoed (at once, from pollTransmit) only when the datagram really was that long
      this.echoSize = ext.size
    } else if (ext.kind === PathMtuKind.Echo && this.mtuSearch?.onEcho(ext.size) === true) {
      this.timers.stop(Timer.PathMtu)
      this.log('path MTU: %d bytes get through', ext.size)
      this.applyPacketSize(ext.size)
      if (this.mtuSearch.done) {
        this.finishMtuSearch()
      }
    }
  }

  /** Bulk data waits to be sent: worth finding out whether larger packets get through */
  private noteBulk (): void {
    if (this.mtuPhase === MtuPhase.Idle && this.peerEchoesProbes && this.confirmed) {
      this.mtuPhase = MtuPhase.WantsCap
    }
  }

  private finishMtuSearch (): void {
    this.mtuPhase = MtuPhase.Done
    this.timers.stop(Timer.PathMtu)
  }

  /** New packets are cut to `size`; packets already built keep their size (uTP cannot re-split them) */
  private applyPacketSize (size: number): void {
    this.packetSizeValue = size
    this.maxPayload = this.payloadFor(size)
    this.cc.setMss(this.maxPayload)
  }

  /**
   * Payload of a new packet with datagrams of `size`, bounded to half the peer's largest window
   * (as Linux bounds its MSS, tcp_bound_to_half_wnd). A packet that takes the whole window goes
   * alone, and the receiver holds its ACK for a second packet that cannot come: every window
   * then waits out the delayed ACK (4 KiB windows with 64 KiB loopback packets moved 4 KiB per 5 ms)
   */
  private payloadFor (size: number): number {
    const payload = maxPayloadFor(size)
    if (this.peerMaxWindow === 0) {
      return payload
    }
    return Math.min(payload, Math.max(MIN_WINDOW_BOUND_PAYLOAD, Math.floor(this.peerMaxWindow / 2)))
  }

  private build (now: Instant, type: PacketKind, seq: number, ackNr: number, payload: Uint8Array, maxSack: number, pathMtu?: PathMtuExtension, padTo = 0): Transmit {
    // the mask is relative to our current ack_nr: a packet acknowledging anything else (the resent
    // SYN-ACK) would make the peer read it against the wrong base and skip an unreceived packet
    const sackBytes = type === PacketType.Syn || type === PacketType.Reset || maxSack < 4 || ackNr !== this.recv.ackNr
      ? 0
      : this.recv.writeSack(SACK_SCRATCH, maxSack)
    const window = this.recv.window
    const fields = {
      type,
      connectionId: type === PacketType.Syn ? this.recvId : this.sendId,
      timestamp: wireTimestamp(now),
      timestampDiff: this.replyMicro,
      wndSize: window,
      seqNr: seq,
      ackNr: type === PacketType.Syn ? 0 : ackNr
    }
    const header = this.allocate(headerSize(sackBytes, pathMtu != null))
    encodeHeader(header, 0, fields, SACK_SCRATCH, sackBytes, pathMtu)
    if (padTo > header.byteLength) {
      payload = padding(padTo - header.byteLength)
    }
    this.lastAdvertisedWindow = window
    this.ackNow = false
    this.unackedPackets = 0
    this.timers.stop(Timer.DelayedAck)
    if (this.config.keepAliveInterval > 0 && this.stateValue < ConnState.Linger) {
      this.timers.set(Timer.KeepAlive, now + this.config.keepAliveInterval)
    }
    this.stats.packetsSent++
    if (this.log.trace.enabled === true) {
      this.log.trace('send %s', stringifyPacket({ ...fields, sack: sackBytes > 0 ? SACK_SCRATCH.subarray(0, sackBytes) : undefined, pathMtu, payload }))
    }
    return { header, payload }
  }

  // ---------------------------------------------------------------- lifecycle

  private touchReceived (now: Instant): void {
    this.lastReceivedAt = now
    if (this.config.idleTimeout > 0 && this.stateValue < ConnState.Linger) {
      this.timers.set(Timer.Idle, now + this.config.idleTimeout)
    }
  }

  /** Both directions finished and acknowledged: linger, then close */
  private checkFinished (now: Instant): void {
    if (this.stateValue !== ConnState.FinSent || !this.finAcked || !this.remoteEnded) {
      return
    }
    const linger = Math.min(MAX_LINGER_US, Math.max(MIN_LINGER_US, LINGER_RTOS * this.rtt.rto))
    this.timers.stopAll()
    this.timers.set(Timer.Linger, now + linger)
    this.setState(ConnState.Linger)
    // the send side is done; received data stays readable until the application takes it
    this.releaseSendBuffers()
    this.closeReason = 'closed'
    this.queueEvent({ type: 'closed', reason: 'closed', message: 'both sides finished' })
  }

  private close (reason: CloseReason, message: string): void {
    if (this.stateValue === ConnState.Closed) {
      return
    }
    const wasLingering = this.stateValue === ConnState.Linger
    this.timers.stopAll()
    this.setState(ConnState.Closed)
    this.releaseSendBuffers()
    if (reason !== 'closed' && !(reason === 'timed-out' && this.remoteEnded)) {
      // an abortive close discards what was not read, as TCP does on RST. Not a timeout after the
      // peer's FIN: what it sent is complete and was announced readable ('end'); only our direction failed
      this.recv.clear()
    }
    if (!wasLingering) {
      this.closeReason = reason
      this.log('closed reason=%s: %s', reason, message)
      this.queueEvent({ type: 'closed', reason, message })
    }
  }

  private releaseSendBuffers (): void {
    this.writeQueue.clear()
    this.out.clear()
    this.unackedBytes = 0
    this.bytesInFlight = 0
    this.lostCount = 0
    this.earlyPackets = undefined
  }

  /** Last sequence number received in order (BEP 29 `ack_nr`) */
  get ackNr (): number {
    return this.recv.ackNr
  }

  /** Sequence number the next sequenced packet would take */
  get nextSeqNr (): number {
    return this.out.nxt
  }

  /** Why the connection closed, once it has */
  get reason (): CloseReason | undefined {
    return this.closeReason
  }

  private setState (next: ConnectionState): void {
    if (next === this.stateValue) {
      return
    }
    this.log('state=%s=>%s', stateName(this.stateValue), stateName(next))
    this.stateValue = next
  }
}

const EMPTY = new Uint8Array(0)
/**
 * What one ACK acknowledged, filled while it is processed: shared by every connection (processing
 * is synchronous and never nested), since one object per connection costs memory per connection
 */
const ACK_SCRATCH = { bytes: 0, rttSample: -1, newestOrder: -1, newestSentAt: 0, spurious: false, undo: false }
const CAPABLE: PathMtuExtension = Object.freeze({ kind: PathMtuKind.Capable, size: 0 })

/** Where path MTU probing stands on our sending side */
const MtuPhase = {
  /** not needed yet: no bulk data has waited to be sent */
  Idle: 0,
  /** wants the path's cap from the owner ({@link Connection.setPathMtuCap}) */
  WantsCap: 1,
  Searching: 2,
  /** finished, not possible, or given up */
  Done: 3
} as const

type MtuPhaseValue = typeof MtuPhase[keyof typeof MtuPhase]

let paddingBytes: Uint8Array | undefined

/** Zero bytes to pad a probe with: one shared buffer, never written after it is made */
function padding (n: number): Uint8Array {
  paddingBytes ??= new Uint8Array(65_507)
  return paddingBytes.subarray(0, n)
}

/** Selective ACK mask being encoded: shared, since encoding is synchronous and copies it out */
const SACK_SCRATCH = new Uint8Array(MAX_SACK_BYTES)

/** Payload bytes per packet: the datagram minus the header and room for a 4-byte selective ACK */
export function maxPayloadFor (packetSize: number): number {
  return packetSize - HEADER_SIZE - 2 - 4
}

/** The event queue of every connection with no event queued: frozen, so a write to it throws */
const NO_EVENTS: ConnectionEvent[] = Object.freeze([]) as unknown as ConnectionEvent[]

function allocateBytes (size: number): Uint8Array {
  return new Uint8Array(size)
}

function randomU16 (randomBytes: (buf: Uint8Array) => void): number {
  const b = new Uint8Array(2)
  randomBytes(b)
  return (b[0] << 8) | b[1]
}
