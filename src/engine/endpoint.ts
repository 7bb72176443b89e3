/**
 * The sans-IO side of one UDP socket: demultiplexes datagrams to connections by (remote address,
 * connection id), accepts SYNs when listening, answers strays with a rate-limited ST_RESET and
 * keeps every connection's deadline in one heap, so the owner needs a single timer.
 *
 * Calling protocol (the same as {@link Connection}): after {@link Endpoint.handle},
 * {@link Endpoint.handleTimeout}, {@link Endpoint.connect} or any application command on a
 * connection, drain {@link Endpoint.pollTransmit} and {@link Endpoint.pollEvent}, then read
 * {@link Endpoint.pollTimeout}. Draining the events first lets what their handlers write at once
 * carry the ACK that would otherwise go out alone.
 */

import { resolveConnectionConfig } from './config.ts'
import { Connection, ConnState } from './connection.ts'
import { DeadlineHeap } from './deadline-heap.ts'
import { InvalidConfigError, InvalidPacketError } from './errors.ts'
import { decodePacket, encodePacket, PacketType } from './packet.ts'
import { wireTimestamp } from './time.ts'
import type { ConnectionConfig } from './config.ts'
import type { CongestionController } from './congestion/controller.ts'
import type { ConnectionEvent, ConnectionInit, TraceLogger, Transmit } from './connection.ts'
import type { HeapEntry } from './deadline-heap.ts'
import type { Packet } from './packet.ts'
import type { Duration, Instant } from './time.ts'

/** dials that lost a crossing kept at once, waiting for their replacements to be confirmed */
const MAX_LOST_DIALS = 256
/**
 * A SYN from a peer within this many handshake round trips after our dial to it connected is
 * taken for the losing SYN of the crossing that connection came from, overtaken by the packets
 * sent after it, and dropped. Both SYNs left before the crossing's SYN-ACK: only reordering on
 * the path puts the loser's behind it, by a fraction of a round trip. A second connection the
 * peer means (a dial-back, a restart) comes later than that, after a round trip of its own at least
 */
const LATE_CROSSING_SYN_RTTS = 2
/** the shortest such window, µs (a loopback round trip is tens of µs) */
const MIN_LATE_CROSSING_SYN_US = 5_000
/** the longest, µs */
const MAX_LATE_CROSSING_SYN_US = 2_000_000
/** peers whose dial connected within such a window that are remembered at most */
const MAX_RECENT_DIALS = 4096

/** A peer's UDP address; `address` is an IP literal */
export interface RemoteAddress {
  address: string
  port: number
}

export interface EndpointInit {
  /** fills a buffer with cryptographically strong random bytes */
  randomBytes(buf: Uint8Array): void
  /** allocates the header of each outgoing datagram (see {@link ConnectionInit.allocate}) */
  allocate?: ConnectionInit['allocate']
  /** settings for every connection of this endpoint */
  config?: Partial<ConnectionConfig>
  /**
   * Most accepted connections that may be half-open (SYN seen, not yet confirmed by a second
   * packet from the initiator) at once; further SYNs are dropped until some confirm or time out.
   */
  maxHalfOpen?: number
  /** ST_RESET answers to unknown packets allowed per second (a burst of as many is allowed) */
  resetRate?: number
  /**
   * Merge crossing SYNs into one connection (default true): when a SYN arrives from the address
   * and port we are dialling, the SYN with the lower (connection id, sequence number) wins on both
   * sides. Ours winning, theirs is dropped and ours resent at once; theirs winning, our dial
   * becomes the accepting side of their connection (a `merged` event). NAT hole punching has both
   * peers dial each other at the same moment and needs one connection out of it.
   */
  simultaneousOpen?: boolean
  /**
   * Largest datagram (uTP header included) the path to `remote` may carry without IP
   * fragmentation, as far as this host can tell (the outgoing interface's MTU minus the IP and UDP
   * headers), or undefined when unknown. Path MTU probing never goes above it. Asked only when a
   * connection starts probing (it has bulk data to send); without it, no connection probes.
   */
  pathMtuCap?(remote: RemoteAddress): number | undefined
  log?: TraceLogger
  /** per-connection logger factory */
  connectionLog?(remote: RemoteAddress, recvId: number): TraceLogger
  /** replaces LEDBAT for every connection (tests) */
  congestionController?(): CongestionController
}

export const DEFAULT_MAX_HALF_OPEN = 1024
export const DEFAULT_RESET_RATE = 100

/** A connection with its place in the endpoint */
export interface EndpointConnection extends HeapEntry {
  readonly connection: Connection
  readonly remote: RemoteAddress
  readonly key: string
  /** when the entry was made: for a dial, when its first SYN left */
  readonly openedAt: Instant
  halfOpen: boolean
  /** our dial, still waiting for its SYN-ACK (indexed for crossing SYNs) */
  dialling: boolean
  /** an accepted connection that replaced our dial in a crossing: that dial, kept until this one is confirmed */
  lostDial?: EndpointConnection
  /** arbitrary owner data (the socket layer hangs its stream here) */
  owner?: unknown
}

export type EndpointEvent =
  | { type: 'incoming', connection: EndpointConnection }
  /** our dial `dial` lost a SYN crossing: `connection` (accepting side) replaces it, unless 'unmerged' follows */
  | { type: 'merged', dial: EndpointConnection, connection: EndpointConnection }
  /**
   * the peer answered `dial` after all (its SYN-ACK, or its first data when the SYN-ACK was lost),
   * or reset `connection`, which replaced it, before confirming it: the SYN that won the crossing
   * was forged (or the peer gave up its own dial). `dial` is back, connected, or still dialling
   * (its 'connected' event follows, or its 'closed' one); reset `connection` if it is still open
   */
  | { type: 'unmerged', dial: EndpointConnection, connection: EndpointConnection }
  | { type: 'connection', connection: EndpointConnection, event: ConnectionEvent }

/** What {@link Endpoint.handle} did with a datagram */
export type HandleResult =
  /** not a uTP packet: the caller may hand it to another protocol sharing the port */
  | 'not-utp'
  /** delivered to a connection or accepted as a new one */
  | 'handled'
  /** a uTP packet that belongs nowhere (answered with ST_RESET when the rate allows) */
  | 'unknown'
  /** a SYN refused: not listening, or too many half-open connections */
  | 'refused'

export interface EndpointTransmit extends Transmit {
  remote: RemoteAddress
}

/**
 * What is left of a gracefully closed connection (TCP's TIME-WAIT): enough to acknowledge a
 * retransmitted FIN whose ACK was lost, instead of answering it with ST_RESET.
 */
interface ClosedConnection {
  sendId: number
  seqNr: number
  ackNr: number
  expiresAt: Instant
}

interface StrayReply {
  remote: RemoteAddress
  bytes: Uint8Array
}

const NOOP_LOG: TraceLogger = Object.assign(() => {}, { trace: () => {}, enabled: false })
const EMPTY = new Uint8Array(0)
/** Attempts at finding a free connection id for a dial before giving up */
const ID_ATTEMPTS = 64
/** How long a gracefully closed connection is remembered, µs (longer than a peer's FIN retransmissions last) */
export const TIME_WAIT_US = 60_000_000
/** Most closed connections remembered; the oldest is forgotten first */
export const MAX_TIME_WAIT = 4096

export class Endpoint {
  listening = false
  readonly config: Readonly<ConnectionConfig>
  private readonly randomBytes: (buf: Uint8Array) => void
  private readonly allocate: ((size: number) => Uint8Array) | undefined
  private readonly log: TraceLogger
  private readonly connectionLog?: (remote: RemoteAddress, recvId: number) => TraceLogger
  private readonly makeController?: () => CongestionController
  private readonly pathMtuCap?: (remote: RemoteAddress) => number | undefined
  /**
   * Connections by remote address, then by `port * 65536 + recv_id`: the lookup done for every
   * datagram allocates nothing (a string key per datagram did)
   */
  private readonly connections = new ConnectionTable()
  /** dials still waiting for their SYN-ACK, by remote: a crossing SYN is looked up here */
  private readonly dialling = new RemoteIndex()
  /** accepted connections the initiator has not confirmed yet, by remote: a dial may take one over */
  private readonly unconfirmed = new RemoteIndex()
  private readonly heap = new DeadlineHeap<EndpointConnection>()
  private readonly dirty = new Set<EndpointConnection>()
  /** connections that kept a partial packet back in a `holdPartial` poll */
  private readonly held = new Set<EndpointConnection>()
  private readonly withEvents = new Set<EndpointConnection>()
  private readonly events: EndpointEvent[] = []
  /**
   * Dials that lost a SYN crossing, by their key, kept until the connection that replaced them is
   * confirmed or closes: anyone can forge a SYN that wins a crossing, and then only the peer tells,
   * by answering our own SYN or resetting the replacement (the peer of a real crossing does
   * neither). A replacement the peer reset takes its dial back to dialling (see refresh).
   */
  private readonly lostDials = new Map<string, { dial: EndpointConnection, merged: EndpointConnection }>()
  /** until when a SYN from each peer is taken for a late crossing SYN (simultaneous open only), oldest first */
  private readonly lateSynUntil = new Map<string, Instant>()
  private readonly strays: StrayReply[] = []
  private readonly timeWait = new Map<string, ClosedConnection>()
  /** the latest `now` seen, for bookkeeping done outside an input */
  private lastNow = 0
  /** the connection the datagram being handled accepted, until taken (see {@link takeAccepted}) */
  private accepted: EndpointConnection | undefined
  /** the dial the datagram being handled connected, until taken (see {@link takeConnected}) */
  private connected: EndpointConnection | undefined
  private readonly maxHalfOpen: number
  private halfOpenCount = 0
  private readonly resetRate: number
  private readonly simultaneousOpen: boolean
  private resetTokens: number
  private resetRefilledAt = 0

  constructor (init: EndpointInit) {
    this.randomBytes = init.randomBytes
    this.allocate = init.allocate
    this.config = resolveConnectionConfig(init.config)
    this.log = init.log ?? NOOP_LOG
    this.connectionLog = init.connectionLog
    this.makeController = init.congestionController
    this.pathMtuCap = init.pathMtuCap
    this.maxHalfOpen = init.maxHalfOpen ?? DEFAULT_MAX_HALF_OPEN
    this.resetRate = init.resetRate ?? DEFAULT_RESET_RATE
    this.resetTokens = this.resetRate
    this.simultaneousOpen = init.simultaneousOpen ?? true
    if (!Number.isInteger(this.maxHalfOpen) || this.maxHalfOpen < 0) {
      throw new InvalidConfigError(`maxHalfOpen must be a non-negative integer, got ${this.maxHalfOpen}`)
    }
  }

  /** Live connections (including lingering ones) */
  get size (): number {
    return this.connections.size
  }

  /** Gracefully closed connections remembered to acknowledge a late FIN */
  get closedRemembered (): number {
    return this.timeWait.size
  }

  /** Accepted connections not yet confirmed by the initiator */
  get halfOpen (): number {
    return this.halfOpenCount
  }

  all (): IterableIterator<EndpointConnection> {
    return this.connections.values()
  }

  /** The connection `remote` reaches with `recvId` (our id: what its packets carry, and a dial's SYN) */
  connectionAt (remote: RemoteAddress, recvId: number): EndpointConnection | undefined {
    return this.connections.get(remote, recvId)
  }

  /**
   * A connection accepted from `remote` that the initiator has not confirmed yet: a dial towards
   * `remote` may take it over instead of sending a SYN that would cross it (simultaneous open)
   */
  unconfirmedFrom (remote: RemoteAddress): EndpointConnection | undefined {
    return this.unconfirmed.find(remote, isUnconfirmedAcceptor)
  }

  /** A dial took `entry` over (see {@link unconfirmedFrom}): no other dial may take it */
  claim (entry: EndpointConnection): void {
    this.unconfirmed.delete(entry)
  }

  /** Opens a connection to `remote`; its SYN comes out of {@link pollTransmit} */
  connect (now: Instant, remote: RemoteAddress): EndpointConnection {
    const idBytes = new Uint8Array(2)
    for (let attempt = 0; attempt < ID_ATTEMPTS; attempt++) {
      this.randomBytes(idBytes)
      const recvId = (idBytes[0] << 8) | idBytes[1]
      // keep clear of ids one away too: RSTs are matched on recv_id, recv_id + 1 and recv_id - 1
      if (this.idInUse(remote, recvId - 1) || this.idInUse(remote, recvId) || this.idInUse(remote, recvId + 1) || this.idInUse(remote, recvId + 2)) {
        continue
      }
      const connection = Connection.connect({
        config: this.config,
        randomBytes: this.randomBytes,
        allocate: this.allocate,
        now,
        recvId,
        log: this.connectionLog?.(remote, recvId),
        congestionController: this.makeController?.()
      })
      const entry = this.add(remote, recvId, connection, now)
      if (this.simultaneousOpen) {
        entry.dialling = true
        this.dialling.add(entry)
      }
      this.touch(entry)
      return entry
    }
    throw new InvalidConfigError(`no free connection id towards ${remote.address}:${remote.port}`)
  }

  /** Feeds one received datagram */
  handle (now: Instant, remote: RemoteAddress, bytes: Uint8Array): HandleResult {
    this.lastNow = now
    this.accepted = undefined
    this.connected = undefined
    const packet = decodePacket(bytes)
    if (packet instanceof InvalidPacketError) {
      return 'not-utp'
    }
    if (packet.type === PacketType.Syn) {
      return this.handleSyn(now, remote, packet)
    }
    const entry = this.lookup(remote, packet)
    if (entry == null) {
      if (this.restoreLostDial(now, remote, packet)) {
        return 'handled'
      }
      if (this.answerClosed(now, remote, packet)) {
        return 'handled'
      }
      this.log.trace('drop: no connection %s:%d id=%d type=%d', remote.address, remote.port, packet.connectionId, packet.type)
      if (packet.type !== PacketType.Reset) {
        this.replyReset(now, remote, packet)
      }
      return 'unknown'
    }
    const before = entry.connection.state
    entry.connection.handlePacket(now, packet)
    const after = entry.connection.state
    // FinSent: a dial whose application ended its side before the SYN-ACK came
    if (before === ConnState.SynSent && (after === ConnState.Connected || after === ConnState.FinSent)) {
      this.connected = entry
      if (this.simultaneousOpen) {
        // no RTT sample when the SYN went out twice (Karn: resent at a crossing, or after a
        // timeout); the time since the first one bounds the round trip
        this.noteDialConnected(now, remote, entry.connection.smoothedRtt ?? now - entry.openedAt)
      }
    }
    this.touch(entry)
    return 'handled'
  }

  /** Runs every connection whose deadline has passed */
  handleTimeout (now: Instant): void {
    this.lastNow = now
    while (true) {
      const entry = this.heap.peek()
      if (entry == null || entry.deadline > now) {
        return
      }
      // remove first: touch() puts it back with its new deadline
      this.heap.remove(entry)
      entry.connection.handleTimeout(now)
      this.touch(entry)
    }
  }

  /** Marks a connection as possibly having work after an application command (write, end, read, reset) */
  wake (entry: EndpointConnection): void {
    this.touch(entry)
  }

  /**
   * The next datagram to send, or undefined. `holdPartial` (see {@link Connection.pollTransmit})
   * lets a caller that polls at every write keep the tails of bulk writes back; it must poll
   * without it later, while {@link hasHeldPackets}.
   */
  pollTransmit (now: Instant, holdPartial = false): EndpointTransmit | undefined {
    this.lastNow = now
    const stray = this.strays.shift()
    if (stray != null) {
      return { remote: stray.remote, header: stray.bytes, payload: EMPTY }
    }
    if (!holdPartial && this.held.size > 0) {
      for (const entry of this.held) {
        this.dirty.add(entry)
      }
      this.held.clear()
    }
    for (const entry of this.dirty) {
      this.answerPathMtuCap(entry)
      const t = entry.connection.pollTransmit(now, holdPartial)
      if (t != null) {
        return { remote: entry.remote, header: t.header, payload: t.payload }
      }
      this.dirty.delete(entry)
      if (entry.connection.partialHeld) {
        this.held.add(entry)
      }
      this.refresh(entry)
    }
    return undefined
  }

  /**
   * The next datagram of `entry` alone, ahead of the other connections' (a dial's SYN, the SYN-ACK
   * and the ACK of it, which the whole dial waits for; a message the application just handed
   * over). The connection stays marked: a later {@link pollTransmit} still visits it, and keeps
   * track of a tail that `holdPartial` held back.
   */
  pollTransmitFor (now: Instant, entry: EndpointConnection, holdPartial = false): EndpointTransmit | undefined {
    this.lastNow = now
    this.answerPathMtuCap(entry)
    const t = entry.connection.pollTransmit(now, holdPartial)
    return t == null ? undefined : { remote: entry.remote, header: t.header, payload: t.payload }
  }

  private answerPathMtuCap (entry: EndpointConnection): void {
    if (entry.connection.wantsPathMtuCap) {
      entry.connection.setPathMtuCap(this.pathMtuCap?.(entry.remote))
    }
  }

  /**
   * Some connection kept a packet back in a `holdPartial` poll (it may have sent it since, in a
   * later one: the next poll without `holdPartial` finds out)
   */
  get hasHeldPackets (): boolean {
    return this.held.size > 0
  }

  /**
   * The connection that the last {@link handle} accepted (its datagram was a new SYN, or one that
   * crossed our dial and won), once: its SYN-ACK may be sent ahead of everything else with
   * {@link pollTransmitFor}, since the dialler waits for it. The 'incoming' (or 'merged') event
   * comes through {@link pollEvent} all the same.
   */
  takeAccepted (): EndpointConnection | undefined {
    const entry = this.accepted
    this.accepted = undefined
    return entry
  }

  /**
   * The dial that the last {@link handle} connected (its datagram was the SYN-ACK), once: its ACK
   * may be sent ahead of everything else with {@link pollTransmitFor}, since the peer's listener
   * waits for it (it confirms our address). The 'connected' event comes through
   * {@link pollEvent} all the same.
   */
  takeConnected (): EndpointConnection | undefined {
    const entry = this.connected
    this.connected = undefined
    return entry
  }

  pollTimeout (): Instant | undefined {
    return this.heap.peek()?.deadline
  }

  pollEvent (): EndpointEvent | undefined {
    const ev = this.events.shift()
    if (ev != null) {
      return ev
    }
    for (const entry of this.withEvents) {
      const event = entry.connection.pollEvent()
      if (event != null) {
        return { type: 'connection', connection: entry, event }
      }
      this.withEvents.delete(entry)
      this.refresh(entry)
    }
    return undefined
  }

  // ----------------------------------------------------------------

  private handleSyn (now: Instant, remote: RemoteAddress, syn: Packet): HandleResult {
    const recvId = (syn.connectionId + 1) & 0xffff
    // the peer may reuse the ids of a connection that closed
    this.timeWait.delete(keyOf(remote, recvId))
    const existing = this.connections.get(remote, recvId)
    // our own SYN come back (a dial to our own port) crosses nothing: answered as any SYN, it
    // connects the dial to ourselves, as a TCP connect to its own listener does. Taken for a
    // crossing SYN, it won by the tie-break, was resent, came back, and so on until the deadline
    const ownSyn = this.isOwnSyn(remote, syn)
    const dial = this.simultaneousOpen && !ownSyn ? this.dialTowards(remote) : undefined
    if (dial != null && (existing == null || existing === dial)) {
      return this.crossSyns(now, remote, syn, dial)
    }
    if (existing != null) {
      if (!existing.connection.isInitiator) {
        // a retransmitted SYN: the connection answers with its stored SYN-ACK
        existing.connection.handlePacket(now, syn)
        this.touch(existing)
        return 'handled'
      }
      this.log.trace('drop: SYN id=%d collides with an outgoing connection', syn.connectionId)
      return 'unknown'
    }
    if (!this.listening) {
      this.replyReset(now, remote, syn)
      return 'refused'
    }
    if (this.simultaneousOpen && !ownSyn && this.isLateCrossingSyn(now, remote)) {
      // the peer's SYN that lost the crossing, overtaken by the packets after it: the peer has
      // taken ours in its place. Answered, it reached that peer's lost dial, which took it for
      // proof that the winning SYN was forged while its replacement waited for our first packet,
      // and reset the real connection. A peer that does mean a second connection sends its SYN again
      this.log('drop: SYN from %s:%d right after our dial to it connected: late crossing SYN', remote.address, remote.port)
      return 'refused'
    }
    if (this.halfOpenCount >= this.maxHalfOpen) {
      this.log('drop: SYN from %s:%d, %d connections already half-open', remote.address, remote.port, this.halfOpenCount)
      return 'refused'
    }
    this.accepted = this.accept(now, remote, syn)
    this.events.push({ type: 'incoming', connection: this.accepted })
    return 'handled'
  }

  private accept (now: Instant, remote: RemoteAddress, syn: Packet): EndpointConnection {
    const recvId = (syn.connectionId + 1) & 0xffff
    const connection = Connection.accept({
      config: this.config,
      randomBytes: this.randomBytes,
      allocate: this.allocate,
      now,
      syn,
      log: this.connectionLog?.(remote, recvId),
      congestionController: this.makeController?.()
    })
    const entry = this.add(remote, recvId, connection, now)
    entry.halfOpen = true
    this.halfOpenCount++
    if (this.simultaneousOpen) {
      this.unconfirmed.add(entry)
    }
    this.touch(entry)
    return entry
  }

  private noteDialConnected (now: Instant, remote: RemoteAddress, rtt: Duration): void {
    const key = remoteKey(remote)
    const window = Math.min(MAX_LATE_CROSSING_SYN_US, Math.max(MIN_LATE_CROSSING_SYN_US, LATE_CROSSING_SYN_RTTS * rtt))
    this.lateSynUntil.delete(key)
    this.lateSynUntil.set(key, now + window)
    // oldest first (nearly in expiry order): drop the expired, and past the cap the oldest
    for (const [k, until] of this.lateSynUntil) {
      if (until >= now && this.lateSynUntil.size <= MAX_RECENT_DIALS) {
        break
      }
      this.lateSynUntil.delete(k)
    }
  }

  private isLateCrossingSyn (now: Instant, remote: RemoteAddress): boolean {
    const until = this.lateSynUntil.get(remoteKey(remote))
    return until != null && now <= until
  }

  /** `syn` is the SYN of our own dial to `remote` (the same connection id and sequence number) */
  private isOwnSyn (remote: RemoteAddress, syn: Packet): boolean {
    const own = this.connections.get(remote, syn.connectionId)?.connection
    return own != null && own.isInitiator && own.state === ConnState.SynSent && own.initialSeqNr === syn.seqNr
  }

  /** Our dial to `remote` still waiting for its SYN-ACK, if any */
  private dialTowards (remote: RemoteAddress): EndpointConnection | undefined {
    return this.dialling.find(remote, isDialling)
  }

  /**
   * Both sides sent a SYN. Each side sees the other's SYN (or only one side does, when a NAT
   * dropped the first SYN), and both apply the same order, so they agree on one connection
   * without another round trip.
   */
  private crossSyns (now: Instant, remote: RemoteAddress, syn: Packet, dial: EndpointConnection): HandleResult {
    const ours = dial.connection
    const oursFirst = ours.recvId !== syn.connectionId
      ? ours.recvId < syn.connectionId
      : ours.initialSeqNr <= syn.seqNr
    if (oursFirst) {
      this.log('SYN from %s:%d crosses our dial: ours wins, resent', remote.address, remote.port)
      ours.resendSyn()
      this.touch(dial)
      return 'handled'
    }
    this.log('SYN from %s:%d crosses our dial: theirs wins, our dial accepts it', remote.address, remote.port)
    // our dial leaves the tables, silent (no more SYNs), but is kept in lostDials until the
    // replacement is confirmed: a SYN-ACK to it would show that the winning SYN was forged
    this.heap.remove(dial)
    this.dirty.delete(dial)
    this.held.delete(dial)
    this.withEvents.delete(dial)
    this.connections.delete(dial.remote, ours.recvId)
    dial.dialling = false
    this.dialling.delete(dial)
    const merged = this.accept(now, remote, syn)
    this.accepted = merged
    // already our dial's: no other dial may take it over
    this.unconfirmed.delete(merged)
    if (this.lostDials.size < MAX_LOST_DIALS) {
      this.lostDials.set(dial.key, { dial, merged })
      merged.lostDial = dial
    }
    this.events.push({ type: 'merged', dial, connection: merged })
    return 'handled'
  }

  /**
   * The SYN-ACK of a dial that lost a crossing, while the connection that replaced it is still
   * unconfirmed: the winning SYN was forged. The dial comes back, connected; the socket resets the
   * other. Forgetting the dial instead answered the genuine SYN-ACK with ST_RESET: one forged SYN
   * from the peer's address killed a dial.
   */
  private restoreLostDial (now: Instant, remote: RemoteAddress, packet: Packet): boolean {
    const lost = this.lostDials.get(keyOf(remote, packet.connectionId))
    if (lost == null) {
      return false
    }
    // a lost dial stays only while its replacement is unconfirmed and open (see refresh)
    const { dial, merged } = lost
    // the SYN-ACK, or the acceptor's first data (or FIN) when its SYN-ACK was lost: either
    // acknowledges our SYN, which only the peer saw. The dial keeps data and asks for the SYN-ACK
    // again (Connection.handleSynSentPacket)
    const answer = packet.type === PacketType.State || packet.type === PacketType.Data || packet.type === PacketType.Fin
    if (!answer || packet.ackNr !== dial.connection.initialSeqNr || this.connections.get(remote, dial.connection.recvId) != null) {
      return false
    }
    this.lostDials.delete(dial.key)
    merged.lostDial = undefined
    this.log('answer from %s:%d to the dial that lost a crossing: the winning SYN was forged', remote.address, remote.port)
    this.connections.set(dial.remote, dial.connection.recvId, dial)
    dial.connection.handlePacket(now, packet)
    if (dial.connection.state === ConnState.Connected || dial.connection.state === ConnState.FinSent) {
      this.connected = dial
    }
    this.bringBack(dial, merged)
    return true
  }

  /**
   * The peer reset the unconfirmed connection that replaced `dial`: the peer of a real crossing
   * waits for that connection's SYN-ACK, so the winning SYN was forged (or the peer gave its dial
   * up). That reset can overtake the peer's SYN-ACK to our own SYN (our SYN delayed or lost, the
   * network reordering): the dial goes on, and resends its SYN at once, which the peer answers
   * with its SYN-ACK (again). It keeps its own connect deadline, so nothing answering it ends it.
   */
  private resumeLostDial (dial: EndpointConnection, merged: EndpointConnection): void {
    if (dial.connection.state !== ConnState.SynSent || this.connections.get(dial.remote, dial.connection.recvId) != null) {
      return
    }
    this.log('the connection that replaced our dial to %s:%d was reset by the peer: the dial goes on', dial.remote.address, dial.remote.port)
    this.connections.set(dial.remote, dial.connection.recvId, dial)
    dial.connection.resendSyn()
    this.bringBack(dial, merged)
  }

  /** A lost dial is live again (see {@link restoreLostDial}, {@link resumeLostDial}) */
  private bringBack (dial: EndpointConnection, merged: EndpointConnection): void {
    if (dial.connection.state === ConnState.SynSent) {
      // still waiting for its SYN-ACK: a SYN of a real crossing must find it
      dial.dialling = true
      this.dialling.add(dial)
    }
    this.touch(dial)
    this.events.push({ type: 'unmerged', dial, connection: merged })
  }

  private lookup (remote: RemoteAddress, p: Packet): EndpointConnection | undefined {
    const id = p.connectionId
    const direct = this.connections.get(remote, id)
    if (direct != null || p.type !== PacketType.Reset) {
      return direct
    }
    // a peer that lost the connection answers with the id we sent with (our send id)
    const acceptor = this.connections.get(remote, (id + 1) & 0xffff)
    if (acceptor?.connection.sendId === id) {
      return acceptor
    }
    const initiator = this.connections.get(remote, (id - 1) & 0xffff)
    if (initiator?.connection.sendId === id) {
      return initiator
    }
    return undefined
  }

  private replyReset (now: Instant, remote: RemoteAddress, p: Packet): void {
    const elapsed = now - this.resetRefilledAt
    if (elapsed > 0) {
      this.resetTokens = Math.min(this.resetRate, this.resetTokens + elapsed * this.resetRate / 1_000_000)
      this.resetRefilledAt = now
    }
    if (this.resetTokens < 1) {
      return
    }
    this.resetTokens--
    const seq = new Uint8Array(2)
    this.randomBytes(seq)
    this.strays.push({
      remote,
      bytes: encodePacket({
        type: PacketType.Reset,
        connectionId: p.connectionId,
        timestamp: wireTimestamp(now),
        timestampDiff: 0,
        wndSize: 0,
        seqNr: (seq[0] << 8) | seq[1],
        ackNr: p.seqNr
      })
    })
  }

  private idInUse (remote: RemoteAddress, id: number): boolean {
    const key = keyOf(remote, id & 0xffff)
    // a dial that lost a crossing keeps its id: the peer's answer to its SYN must find it
    return this.connections.get(remote, id & 0xffff) != null || this.timeWait.has(key) || this.lostDials.has(key)
  }

  /** A packet for a connection that closed gracefully: acknowledge its FIN again, quietly */
  private answerClosed (now: Instant, remote: RemoteAddress, p: Packet): boolean {
    const key = keyOf(remote, p.connectionId)
    const closed = this.timeWait.get(key)
    if (closed == null) {
      return false
    }
    if (closed.expiresAt <= now || p.type === PacketType.Reset) {
      this.timeWait.delete(key)
      return p.type === PacketType.Reset
    }
    if (p.type === PacketType.Data || p.type === PacketType.Fin) {
      this.strays.push({
        remote,
        bytes: encodePacket({
          type: PacketType.State,
          connectionId: closed.sendId,
          timestamp: wireTimestamp(now),
          timestampDiff: 0,
          wndSize: this.config.recvBufferSize,
          seqNr: closed.seqNr,
          ackNr: closed.ackNr
        })
      })
    }
    return true
  }

  private rememberClosed (entry: EndpointConnection): void {
    const conn = entry.connection
    if (conn.reason !== 'closed') {
      return
    }
    const now = this.lastNow
    for (const [key, closed] of this.timeWait) {
      if (closed.expiresAt > now && this.timeWait.size < MAX_TIME_WAIT) {
        break
      }
      this.timeWait.delete(key)
    }
    this.timeWait.set(entry.key, { sendId: conn.sendId, seqNr: conn.nextSeqNr, ackNr: conn.ackNr, expiresAt: now + TIME_WAIT_US })
  }

  private add (remote: RemoteAddress, recvId: number, connection: Connection, now: Instant): EndpointConnection {
    const entry: EndpointConnection = {
      connection,
      remote: { address: remote.address, port: remote.port },
      key: keyOf(remote, recvId),
      openedAt: now,
      halfOpen: false,
      dialling: false,
      deadline: Infinity,
      heapIndex: -1
    }
    this.connections.set(entry.remote, recvId, entry)
    return entry
  }

  /** After any input to a connection: it may have packets, events and a new deadline */
  private touch (entry: EndpointConnection): void {
    this.dirty.add(entry)
    if (entry.connection.hasEvents) {
      this.withEvents.add(entry)
    }
    this.refresh(entry)
  }

  private refresh (entry: EndpointConnection): void {
    const conn = entry.connection
    if (entry.lostDial != null && (conn.isConfirmed || conn.isClosed)) {
      // a real crossing (the peer confirmed the replacement), or the replacement is gone: the
      // dial it replaced is let go, unless the peer reset the replacement unconfirmed
      const dial = entry.lostDial
      if (this.lostDials.get(dial.key)?.dial === dial) {
        this.lostDials.delete(dial.key)
      }
      entry.lostDial = undefined
      if (!conn.isConfirmed && conn.reason === 'reset') {
        this.resumeLostDial(dial, entry)
      }
    }
    if (entry.halfOpen && (conn.isConfirmed || conn.isClosed)) {
      entry.halfOpen = false
      this.halfOpenCount--
      this.unconfirmed.delete(entry)
    }
    if (entry.dialling && conn.state !== ConnState.SynSent) {
      entry.dialling = false
      this.dialling.delete(entry)
    }
    if (conn.hasEvents) {
      this.withEvents.add(entry)
    }
    if (conn.isDrained && !conn.hasEvents && !this.dirty.has(entry)) {
      this.heap.remove(entry)
      this.withEvents.delete(entry)
      this.held.delete(entry)
      if (this.connections.get(entry.remote, entry.connection.recvId) === entry) {
        this.connections.delete(entry.remote, entry.connection.recvId)
        this.dialling.delete(entry)
        this.unconfirmed.delete(entry)
        this.rememberClosed(entry)
      }
      return
    }
    this.heap.update(entry, conn.pollTimeout() ?? Infinity)
  }
}

/** Connections by (address, port, receive id), in nested maps with numeric inner keys */
class ConnectionTable {
  private readonly byAddress = new Map<string, Map<number, EndpointConnection>>()
  size = 0

  get (remote: RemoteAddress, id: number): EndpointConnection | undefined {
    return this.byAddress.get(remote.address)?.get(remote.port * 0x10000 + id)
  }

  set (remote: RemoteAddress, id: number, entry: EndpointConnection): void {
    let byPortAndId = this.byAddress.get(remote.address)
    if (byPortAndId == null) {
      byPortAndId = new Map()
      this.byAddress.set(remote.address, byPortAndId)
    }
    const key = remote.port * 0x10000 + id
    if (!byPortAndId.has(key)) {
      this.size++
    }
    byPortAndId.set(key, entry)
  }

  delete (remote: RemoteAddress, id: number): void {
    const byPortAndId = this.byAddress.get(remote.address)
    if (byPortAndId?.delete(remote.port * 0x10000 + id) === true) {
      this.size--
      if (byPortAndId.size === 0) {
        this.byAddress.delete(remote.address)
      }
    }
  }

  * values (): IterableIterator<EndpointConnection> {
    for (const byPortAndId of this.byAddress.values()) {
      yield * byPortAndId.values()
    }
  }
}

/**
 * A few connections per remote address and port, found without walking every connection to that
 * address (a server may hold thousands from one address). Entries leave when they stop being what
 * they were indexed for; lookups check anyway.
 */
class RemoteIndex {
  private readonly byRemote = new Map<string, Set<EndpointConnection>>()

  add (entry: EndpointConnection): void {
    const key = remoteKey(entry.remote)
    let set = this.byRemote.get(key)
    if (set == null) {
      set = new Set()
      this.byRemote.set(key, set)
    }
    set.add(entry)
  }

  delete (entry: EndpointConnection): void {
    const key = remoteKey(entry.remote)
    const set = this.byRemote.get(key)
    if (set?.delete(entry) === true && set.size === 0) {
      this.byRemote.delete(key)
    }
  }

  /** The first entry for `remote` that still `matches`; those that no longer do are dropped */
  find (remote: RemoteAddress, matches: (entry: EndpointConnection) => boolean): EndpointConnection | undefined {
    const key = remoteKey(remote)
    const set = this.byRemote.get(key)
    if (set == null) {
      return undefined
    }
    for (const entry of set) {
      if (matches(entry)) {
        return entry
      }
      set.delete(entry)
    }
    this.byRemote.delete(key)
    return undefined
  }
}

function isDialling (entry: EndpointConnection): boolean {
  return entry.connection.state === ConnState.SynSent
}

function isUnconfirmedAcceptor (entry: EndpointConnection): boolean {
  const conn = entry.connection
  return !conn.isInitiator && !conn.isConfirmed && !conn.isClosed
}

function remoteKey (remote: RemoteAddress): string {
  return `${remote.address}|${remote.port}`
}

function keyOf (remote: RemoteAddress, id: number): string {
  return `${remote.address}|${remote.port}|${id}`
}
