/**
 * Shared fixtures of the engine tests: seeded randomness, smoltcp-style packet helpers
 * (`send` / `expectTransmit` / `expectNothing`), a pair of {@link Connection}s driven directly
 * against each other, and a pair of {@link Endpoint}s exchanging datagrams with a transfer
 * application on top. Time is always explicit (integer µs); nothing sleeps.
 */

import { expect } from 'aegir/chai'
import { Connection } from '../../src/engine/connection.ts'
import { Endpoint } from '../../src/engine/endpoint.ts'
import { InvalidPacketError } from '../../src/engine/errors.ts'
import { decodePacket, encodePacket, PacketType, stringifyPacket } from '../../src/engine/packet.ts'
import { Prng } from '../sim/prng.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'
import type { CongestionController } from '../../src/engine/congestion/controller.ts'
import type { CloseReason, ConnectionEvent, Transmit } from '../../src/engine/connection.ts'
import type { EndpointConnection, EndpointEvent, EndpointInit, RemoteAddress } from '../../src/engine/endpoint.ts'
import type { HeaderFields, Packet, PathMtuExtension } from '../../src/engine/packet.ts'
import type { Duration, Instant } from '../../src/engine/time.ts'

// ---------------------------------------------------------------- randomness

/** A seeded stand-in for the engine's `randomBytes` (the engine draws no randomness of its own) */
export function seededRandomBytes (seed: number): (buf: Uint8Array) => void {
  const prng = new Prng(seed)
  return (buf: Uint8Array): void => {
    prng.fill(buf)
  }
}

/**
 * A `randomBytes` that hands out the given 16-bit values first (one per 2-byte request, big
 * endian, as connection ids and initial sequence numbers are read), then seeded bytes.
 */
export function scriptedRandomBytes (values: number[], seed = 1): (buf: Uint8Array) => void {
  const script = [...values]
  const prng = new Prng(seed)
  return (buf: Uint8Array): void => {
    const next = script.shift()
    if (next != null && buf.byteLength === 2) {
      buf[0] = next >> 8
      buf[1] = next
      return
    }
    prng.fill(buf)
  }
}

/** Deterministic pseudo-random bytes of a stream (the same seed always gives the same bytes) */
export function streamBytes (seed: number, n: number): Uint8Array {
  return new Prng(seed).bytes(n)
}

// ---------------------------------------------------------------- packets

/** Every field of an outgoing packet, payload and selective ACK included */
export type PacketRepr = HeaderFields & { sack?: Uint8Array, pathMtu?: PathMtuExtension, payload?: Uint8Array }

/** What a test expects of a transmitted packet: only the fields it names are compared */
export type PacketExpect = Partial<Omit<Packet, 'sack'>> & { sack?: Uint8Array | undefined }

export function concatBytes (chunks: Uint8Array[]): Uint8Array {
  let n = 0
  for (const c of chunks) {
    n += c.byteLength
  }
  const out = new Uint8Array(n)
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.byteLength
  }
  return out
}

/** The datagram of a transmit: header and payload as they go on the wire */
export function transmitBytes (t: Transmit): Uint8Array {
  return t.payload.byteLength === 0 ? t.header : concatBytes([t.header, t.payload])
}

/** Decodes a transmit, failing the test if the engine produced an invalid packet */
export function decodeTransmit (t: Transmit): Packet {
  const p = decodePacket(transmitBytes(t))
  if (p instanceof InvalidPacketError) {
    throw new Error(`the engine sent an invalid packet: ${p.message}`)
  }
  return p
}

/** Encodes then decodes, so that every packet a test sends also goes through the codec */
export function toPacket (repr: PacketRepr): Packet {
  const p = decodePacket(encodePacket(repr))
  if (p instanceof InvalidPacketError) {
    throw new Error(`test built an invalid packet: ${p.message}`)
  }
  return p
}

/** smoltcp `send!`: delivers one packet to the connection at time `t` */
export function send (conn: Connection, t: Instant, repr: PacketRepr): void {
  conn.handlePacket(t, toPacket(repr))
}

/** Every packet the connection has to send at `t` (polls until it returns undefined) */
export function recvAll (conn: Connection, t: Instant): Packet[] {
  const out: Packet[] = []
  for (let tr = conn.pollTransmit(t); tr != null; tr = conn.pollTransmit(t)) {
    out.push(decodeTransmit(tr))
    if (out.length > 100_000) {
      throw new Error('runaway pollTransmit')
    }
  }
  return out
}

function project (p: Packet, exp: PacketExpect): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(exp) as Array<keyof PacketExpect>) {
    const v = p[key]
    out[key] = v instanceof Uint8Array ? Array.from(v) : v
  }
  return out
}

function normalize (exp: PacketExpect): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(exp)) {
    out[key] = v instanceof Uint8Array ? Array.from(v) : v
  }
  return out
}

/**
 * smoltcp `recv!`: the connection sends exactly these packets at `t`, in order. Each expectation
 * names the fields it checks (spread a template to check many); `sack: undefined` checks that
 * no selective ACK was sent. Returns the decoded packets.
 */
export function expectTransmit (conn: Connection, t: Instant, expected: PacketExpect[]): Packet[] {
  const got = recvAll(conn, t)
  const listing = got.map(p => stringifyPacket(p)).join('\n  ')
  expect(got.length).to.equal(expected.length, `at t=${t} expected ${expected.length} packets, got:\n  ${listing}`)
  for (let i = 0; i < expected.length; i++) {
    expect(project(got[i], expected[i])).to.deep.equal(normalize(expected[i]), `packet ${i} at t=${t}:\n  ${listing}`)
  }
  return got
}

/** smoltcp `recv_nothing!`: the connection has nothing to send at `t` */
export function expectNothing (conn: Connection, t: Instant): void {
  const got = recvAll(conn, t)
  expect(got.map(p => stringifyPacket(p))).to.deep.equal([], `at t=${t} expected nothing to be sent`)
}

/** An event with the free-text message of `closed` left out, for deep comparisons */
export type EventSummary = { type: Exclude<ConnectionEvent['type'], 'closed'> } | { type: 'closed', reason: CloseReason }

export function summarize (ev: ConnectionEvent): EventSummary {
  return ev.type === 'closed' ? { type: 'closed', reason: ev.reason } : { type: ev.type }
}

/** Drains the connection's events */
export function drainEvents (conn: Connection): EventSummary[] {
  const out: EventSummary[] = []
  for (let ev = conn.pollEvent(); ev != null; ev = conn.pollEvent()) {
    out.push(summarize(ev))
  }
  return out
}

/** Drains an endpoint's events */
export function drainEndpointEvents (endpoint: Endpoint): EndpointEvent[] {
  const out: EndpointEvent[] = []
  for (let ev = endpoint.pollEvent(); ev != null; ev = endpoint.pollEvent()) {
    out.push(ev)
  }
  return out
}

/** Drains an endpoint's transmits, decoded, with their destinations */
export function drainEndpointTransmits (endpoint: Endpoint, t: Instant): Array<{ remote: RemoteAddress, packet: Packet }> {
  const out: Array<{ remote: RemoteAddress, packet: Packet }> = []
  for (let tr = endpoint.pollTransmit(t); tr != null; tr = endpoint.pollTransmit(t)) {
    out.push({ remote: tr.remote, packet: decodeTransmit(tr) })
    if (out.length > 100_000) {
      throw new Error('runaway pollTransmit')
    }
  }
  return out
}

/** Reads everything readable */
export function readAll (conn: Connection, t: Instant): Uint8Array {
  const chunks: Uint8Array[] = []
  for (let c = conn.read(t); c != null; c = conn.read(t)) {
    chunks.push(c)
  }
  return concatBytes(chunks)
}

// ---------------------------------------------------------------- stepping a simulation

/** A party whose timer the simulation fires: a connection or an endpoint */
interface Timed {
  pollTimeout(): Instant | undefined
  handleTimeout(now: Instant): void
}

/**
 * Two parties joined by a wire: the clock, what is on its way, and the loop that runs both from
 * wake-up to wake-up. Subclasses move what the parties send onto the wire ({@link flush}), hand
 * over what arrives ({@link deliver}) and name the parties whose timers run ({@link timers}).
 */
export abstract class WireSim<D extends { at: Instant }> {
  now: Instant
  /** what is on its way, in arrival order */
  readonly wire: D[] = []
  private readonly maxSteps: number

  constructor (now: Instant, maxSteps: number) {
    this.now = now
    this.maxSteps = maxSteps
  }

  /** Polls both parties: what they send goes on the wire */
  abstract flush (): void

  /** Puts an item on the wire, keeping arrival order (FIFO among equal times) */
  enqueue (d: D): void {
    let i = this.wire.length
    while (i > 0 && this.wire[i - 1].at > d.at) {
      i--
    }
    this.wire.splice(i, 0, d)
  }

  /** Hands one arriving item to its party, now */
  protected abstract deliver (d: D): void

  /** The parties whose timers run, in the order they are fired */
  protected abstract timers (): Timed[]

  /** Earliest time something happens: something arrives or a timer expires */
  nextWakeup (): Instant | undefined {
    let next = this.wire[0]?.at ?? Infinity
    for (const party of this.timers()) {
      next = Math.min(next, party.pollTimeout() ?? Infinity)
    }
    return next === Infinity ? undefined : next
  }

  /** Advances to the next wake-up and runs it; false when nothing is left to happen */
  step (): boolean {
    this.flush()
    const next = this.nextWakeup()
    if (next == null) {
      return false
    }
    this.now = Math.max(this.now, next)
    while (this.wire.length > 0 && this.wire[0].at <= this.now) {
      this.deliver(this.wire.shift() as D)
    }
    for (const party of this.timers()) {
      const at = party.pollTimeout()
      if (at != null && at <= this.now) {
        party.handleTimeout(this.now)
      }
    }
    this.flush()
    return true
  }

  /**
   * Steps until `done()` holds; false if it never did within `maxSteps` (default set by the
   * subclass) or everything went quiet
   */
  runUntil (done: () => boolean, maxSteps = this.maxSteps): boolean {
    for (let i = 0; i < maxSteps; i++) {
      this.flush()
      if (done()) {
        return true
      }
      if (!this.step()) {
        return done()
      }
    }
    return done()
  }
}

// ---------------------------------------------------------------- a pair of connections

export type Side = 'a' | 'b'

/**
 * Two {@link Connection}s on a simulated wire: `a` dials (made by the subclass's `connect`, given
 * to the constructor), `b` is accepted from the first SYN that reaches it, and whatever reaches `b`
 * before that is lost. Subclasses decide what travels on the wire and how the sides are polled.
 */
export abstract class ConnectionLink<D extends { at: Instant }> extends WireSim<D> {
  readonly a: Connection
  private acceptor: Connection | undefined
  /** what each side has read */
  readonly received: Record<Side, Uint8Array[]> = { a: [], b: [] }

  constructor (now: Instant, maxSteps: number, connect: (now: Instant) => Connection) {
    super(now, maxSteps)
    this.a = connect(now)
  }

  /** The accepting side; exists once a SYN has reached it */
  get b (): Connection {
    if (this.acceptor == null) {
      throw new Error('no SYN has reached the acceptor yet')
    }
    return this.acceptor
  }

  get hasAcceptor (): boolean {
    return this.acceptor != null
  }

  conn (side: Side): Connection {
    return side === 'a' ? this.a : this.b
  }

  /** `side`'s connection, or undefined while `b` has not been accepted */
  protected connOrNone (side: Side): Connection | undefined {
    return side === 'a' ? this.a : this.acceptor
  }

  /** Everything `side` has read so far */
  receivedBytes (side: Side): Uint8Array {
    return concatBytes(this.received[side])
  }

  /** The accepting side's connection, from the SYN that reached it */
  protected abstract accept (syn: Packet): Connection

  /** Hands an arriving packet to `to` */
  protected handOver (to: Side, packet: Packet): void {
    if (to === 'b' && this.acceptor == null) {
      if (packet.type === PacketType.Syn) {
        this.acceptor = this.accept(packet)
      }
      return
    }
    this.conn(to).handlePacket(this.now, packet)
  }

  protected override timers (): Timed[] {
    return this.acceptor == null ? [this.a] : [this.a, this.acceptor]
  }
}

interface InFlight {
  /** arrival time, µs */
  at: Instant
  to: Side
  packet: Packet
}

export interface ConnectionPairInit {
  /** start time, µs */
  now?: Instant
  seed?: number
  /** the initiator's receive id */
  recvId?: number
  /** settings of both connections */
  config?: Readonly<ConnectionConfig>
  /** one-way delay, µs */
  latency?: Duration
  congestionController?(): CongestionController
  /** return true to lose a packet on its way (decided when it is sent) */
  drop?(from: Side, packet: Packet): boolean
  /** read everything readable after every step (default true) */
  autoRead?: boolean
}

/**
 * Two {@link Connection}s wired back to back without an endpoint: `a` dials, `b` is accepted
 * from the first SYN that reaches it. Every `pollTransmit` output is decoded with
 * {@link decodePacket} and handed to the other side's `handlePacket` after `latency`. Tests
 * inject loss with `drop` or by editing {@link wire}.
 */
export class ConnectionPair extends ConnectionLink<InFlight> {
  readonly events: Record<Side, EventSummary[]> = { a: [], b: [] }
  /** packets each side sent, decoded */
  readonly sent: Record<Side, Packet[]> = { a: [], b: [] }
  latency: Duration
  drop?: (from: Side, packet: Packet) => boolean
  autoRead: boolean
  private readonly config: Readonly<ConnectionConfig>
  private readonly randomBytes: (buf: Uint8Array) => void
  private readonly makeController?: () => CongestionController

  constructor (config: Readonly<ConnectionConfig>, init: Omit<ConnectionPairInit, 'config'> = {}) {
    const randomBytes = seededRandomBytes(init.seed ?? 0x5eed)
    super(init.now ?? 1_000_000, 100_000, (now) => Connection.connect({
      config,
      randomBytes,
      now,
      recvId: init.recvId ?? 0x0100,
      congestionController: init.congestionController?.()
    }))
    this.config = config
    this.latency = init.latency ?? 10_000
    this.drop = init.drop
    this.autoRead = init.autoRead ?? true
    this.randomBytes = randomBytes
    this.makeController = init.congestionController
  }

  /** Polls both sides: transmits go on the wire, events are recorded, readable data is read */
  override flush (): void {
    for (const side of ['a', 'b'] as const) {
      const conn = this.connOrNone(side)
      if (conn == null) {
        continue
      }
      for (let ev = conn.pollEvent(); ev != null; ev = conn.pollEvent()) {
        this.events[side].push(summarize(ev))
      }
      if (this.autoRead) {
        for (let c = conn.read(this.now); c != null; c = conn.read(this.now)) {
          this.received[side].push(c)
        }
      }
      for (let t = conn.pollTransmit(this.now); t != null; t = conn.pollTransmit(this.now)) {
        const packet = decodeTransmit(t)
        this.sent[side].push(packet)
        if (this.drop?.(side, packet) === true) {
          continue
        }
        this.enqueue({ at: this.now + this.latency, to: side === 'a' ? 'b' : 'a', packet })
      }
    }
  }

  /** Runs everything due up to `t`, then sets the clock to `t` */
  advanceTo (t: Instant): void {
    for (let next = this.nextWakeup(); next != null && next <= t; next = this.nextWakeup()) {
      this.step()
    }
    this.now = Math.max(this.now, t)
    this.flush()
  }

  protected override accept (syn: Packet): Connection {
    return Connection.accept({
      config: this.config,
      randomBytes: this.randomBytes,
      now: this.now,
      syn,
      congestionController: this.makeController?.()
    })
  }

  protected override deliver ({ to, packet }: InFlight): void {
    this.handOver(to, packet)
  }
}

// ---------------------------------------------------------------- a pair of endpoints

/** The dialing endpoint's address */
export const ADDR_A: RemoteAddress = Object.freeze({ address: '192.0.2.1', port: 40001 })
/** The listening endpoint's address */
export const ADDR_B: RemoteAddress = Object.freeze({ address: '198.51.100.2', port: 40002 })

export function sameAddress (x: RemoteAddress, y: RemoteAddress): boolean {
  return x.address === y.address && x.port === y.port
}

export interface Datagram {
  /** arrival time, µs */
  at: Instant
  from: RemoteAddress
  to: Side
  bytes: Uint8Array
}

export interface EndpointPairInit {
  now?: Instant
  seed?: number
  latency?: Duration
  endpoint?: Partial<Omit<EndpointInit, 'randomBytes'>>
}

/**
 * Two {@link Endpoint}s, `a` at {@link ADDR_A} (dials) and `b` at {@link ADDR_B} (listens),
 * joined by a FIFO wire with a fixed one-way latency. Transfers attached with
 * {@link EndpointPair.dial} are driven by the endpoints' events.
 */
export class EndpointPair extends WireSim<Datagram> {
  readonly a: Endpoint
  readonly b: Endpoint
  latency: Duration
  /** return false to lose a datagram as it is sent */
  filter?: (d: Datagram) => boolean
  /** sees every datagram just before it is handled */
  onDeliver?: (d: Datagram) => void
  /** datagrams sent to an address that is neither endpoint */
  misrouted = 0
  /** the first connection each side saw (the dialed one, the first accepted one) */
  readonly apps: Record<Side, StreamApp | undefined> = { a: undefined, b: undefined }
  /** extra connections `b` accepted (their data is read and discarded) */
  readonly others: EndpointConnection[] = []
  private pendingApp: StreamApp | undefined

  constructor (init: EndpointPairInit = {}) {
    super(init.now ?? 1_000_000, 200_000)
    this.latency = init.latency ?? 5_000
    const seed = init.seed ?? 0x5eed
    this.a = new Endpoint({ ...init.endpoint, randomBytes: seededRandomBytes(seed) })
    this.b = new Endpoint({ ...init.endpoint, randomBytes: seededRandomBytes(seed ^ 0x5a5a5a5a) })
    this.b.listening = true
  }

  endpoint (side: Side): Endpoint {
    return side === 'a' ? this.a : this.b
  }

  /**
   * Dials from `a` and attaches stream applications to both ends. `limits` caps what each side
   * writes at first (raise {@link StreamApp.writeLimit} and call `pump` to send more).
   */
  dial (aSends: Uint8Array, bSends: Uint8Array, limits: { a?: number, b?: number } = {}): { a: StreamApp, b: StreamApp } {
    const entry = this.a.connect(this.now, ADDR_B)
    const a = new StreamApp(this.a, aSends, bSends)
    a.entry = entry
    a.writeLimit = limits.a ?? aSends.byteLength
    const b = new StreamApp(this.b, bSends, aSends)
    b.writeLimit = limits.b ?? bSends.byteLength
    this.apps.a = a
    this.apps.b = b
    this.pendingApp = b
    a.pump(this.now)
    return { a, b }
  }

  /** Moves every pending transmit of one endpoint onto the wire */
  flushSide (side: Side): void {
    const ep = this.endpoint(side)
    const from = side === 'a' ? ADDR_A : ADDR_B
    for (let t = ep.pollTransmit(this.now); t != null; t = ep.pollTransmit(this.now)) {
      let to: Side
      if (sameAddress(t.remote, ADDR_B)) {
        to = 'b'
      } else if (sameAddress(t.remote, ADDR_A)) {
        to = 'a'
      } else {
        this.misrouted++
        continue
      }
      const d: Datagram = { at: this.now + this.latency, from, to, bytes: transmitBytes(t) }
      if (this.filter?.(d) === false) {
        continue
      }
      this.wire.push(d)
    }
  }

  /** Dispatches the endpoints' events to the applications */
  drainEvents (side: Side): void {
    const ep = this.endpoint(side)
    for (let ev = ep.pollEvent(); ev != null; ev = ep.pollEvent()) {
      this.dispatch(side, ev)
    }
  }

  override flush (): void {
    for (let round = 0; round < 4; round++) {
      this.drainEvents('a')
      this.drainEvents('b')
      this.flushSide('a')
      this.flushSide('b')
    }
  }

  /** Delivers one datagram now */
  override deliver (d: Datagram): void {
    this.onDeliver?.(d)
    this.endpoint(d.to).handle(this.now, d.from, d.bytes)
  }

  protected override timers (): Timed[] {
    return [this.a, this.b]
  }

  private dispatch (side: Side, ev: EndpointEvent): void {
    if (ev.type === 'incoming') {
      if (this.pendingApp != null && side === 'b') {
        this.pendingApp.entry = ev.connection
        this.pendingApp = undefined
        this.apps.b?.pump(this.now)
      } else {
        this.others.push(ev.connection)
      }
      return
    }
    if (ev.type === 'merged' || ev.type === 'unmerged') {
      // these pairs never dial each other at once
      throw new Error('unexpected simultaneous open')
    }
    const app = this.apps[side]
    if (app?.entry === ev.connection) {
      app.handle(this.now, ev.event)
      return
    }
    // any other connection: drop what it receives
    const conn = ev.connection.connection
    let chunk = conn.read(this.now)
    while (chunk != null) {
      chunk = conn.read(this.now)
    }
    this.endpoint(side).wake(ev.connection)
  }
}

/**
 * One end of a bidirectional stream transfer over an endpoint connection: writes `out` (up to
 * {@link writeLimit}) and ends, checks that what arrives is exactly `expected`.
 */
export class StreamApp {
  entry: EndpointConnection | undefined
  readonly out: Uint8Array
  readonly expected: Uint8Array
  /** bytes of `out` the application may write so far */
  writeLimit: number
  written = 0
  endWhenDone = true
  ended = false
  received = 0
  /** first offset where the received stream differed from `expected` */
  mismatchAt: number | undefined
  connected = false
  remoteEnded = false
  closed: CloseReason | undefined
  readonly events: EventSummary[] = []
  readonly endpoint: Endpoint

  constructor (endpoint: Endpoint, out: Uint8Array, expected: Uint8Array) {
    this.endpoint = endpoint
    this.out = out
    this.expected = expected
    this.writeLimit = out.byteLength
  }

  /** Received everything, byte-exact, and saw the peer's end */
  get complete (): boolean {
    return this.remoteEnded && this.received === this.expected.byteLength && this.mismatchAt == null
  }

  pump (now: Instant): void {
    const entry = this.entry
    if (entry == null || !entry.connection.isWritable) {
      return
    }
    const limit = Math.min(this.writeLimit, this.out.byteLength)
    while (this.written < limit) {
      const n = Math.min(16 * 1024, limit - this.written)
      const ok = entry.connection.write(now, this.out.subarray(this.written, this.written + n))
      this.written += n
      if (!ok) {
        break
      }
    }
    if (this.written === this.out.byteLength && this.endWhenDone && !this.ended) {
      this.ended = true
      entry.connection.end(now)
    }
    this.endpoint.wake(entry)
  }

  handle (now: Instant, ev: ConnectionEvent): void {
    this.events.push(summarize(ev))
    const entry = this.entry as EndpointConnection
    switch (ev.type) {
      case 'connected':
        this.connected = true
        this.pump(now)
        break
      case 'writable':
        this.pump(now)
        break
      case 'readable':
        for (let c = entry.connection.read(now); c != null; c = entry.connection.read(now)) {
          this.consume(c)
        }
        this.endpoint.wake(entry)
        break
      case 'end':
        this.remoteEnded = true
        break
      case 'closed':
        this.closed = ev.reason
        break
      default:
        break
    }
  }

  /** Checks a chunk of the received stream against what was expected */
  private consume (chunk: Uint8Array): void {
    if (this.mismatchAt == null) {
      for (let i = 0; i < chunk.byteLength; i++) {
        if (this.received + i >= this.expected.byteLength || chunk[i] !== this.expected[this.received + i]) {
          this.mismatchAt = this.received + i
          break
        }
      }
    }
    this.received += chunk.byteLength
  }
}
