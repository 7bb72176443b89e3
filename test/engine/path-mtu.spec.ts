/**
 * Path MTU probing (RFC 8899 style): the codec of the path MTU extension, the search itself
 * ({@link PathMtuSearch}), and two engine connections wired back to back in memory that negotiate
 * probing in the handshake, probe with padded ST_STATEs, and raise their packet size when the
 * peer echoes a probe.
 *
 * The connection pairs here run on {@link MtuLink}, a wire like the helpers' `ConnectionPair`
 * that also lets each side have its own settings and its own path MTU cap (the owner's answer to
 * `wantsPathMtuCap`), and sees the size of every datagram, so that the "network" can drop those
 * above some size. Time is explicit (µs); nothing sleeps.
 */

import { expect } from 'aegir/chai'
import { resolveConnectionConfig } from '../../src/engine/config.ts'
import { FixedWindow } from '../../src/engine/congestion/fixed.ts'
import { Connection, ConnState, maxPayloadFor } from '../../src/engine/connection.ts'
import { Endpoint } from '../../src/engine/endpoint.ts'
import { InvalidPacketError } from '../../src/engine/errors.ts'
import {
  Extension,
  HEADER_SIZE,
  PATH_MTU_EXT_BYTES,
  PacketType,
  PathMtuKind,
  decodePacket,
  encodeHeader,
  encodePacket,
  headerSize,
  stringifyPacket
} from '../../src/engine/packet.ts'
import { MAX_PROBE_TIMEOUT_US, MAX_PROBES, MIN_PROBE_TIMEOUT_US, PathMtuSearch } from '../../src/engine/path-mtu.ts'
import { seqAdd, seqDiff } from '../../src/engine/seq.ts'
import { LOCAL_ID, LOCAL_SEQ, MSS, PEER, T1, WINDOW } from './fixtures.ts'
import {
  ADDR_A,
  ADDR_B,
  ConnectionLink,
  EndpointPair,
  decodeTransmit,
  drainEvents,
  recvAll,
  scriptedRandomBytes,
  send,
  seededRandomBytes,
  streamBytes,
  transmitBytes
} from './helpers.ts'
import type { Side } from './helpers.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'
import type { EndpointConnection, RemoteAddress } from '../../src/engine/endpoint.ts'
import type { HeaderFields, Packet, PathMtuExtension } from '../../src/engine/packet.ts'
import type { Duration, Instant } from '../../src/engine/time.ts'

const T0 = 1_000_000
const BASE = resolveConnectionConfig().packetSize
/** the probe ladder from the default packet size up to the IPv4 UDP maximum */
const FULL_LADDER = [2904, 5808, 11616, 23232, 46464, 65507]
const EMPTY = new Uint8Array(0)

function config (overrides: Partial<ConnectionConfig> = {}): Readonly<ConnectionConfig> {
  return resolveConnectionConfig(overrides)
}

const FIELDS: HeaderFields = {
  type: PacketType.State,
  connectionId: 0x1234,
  timestamp: 0x01020304,
  timestampDiff: 0x05060708,
  wndSize: 0x00100000,
  seqNr: 0xabcd,
  ackNr: 0x0102
}

function decodeOk (bytes: Uint8Array): Packet {
  const p = decodePacket(bytes)
  if (p instanceof InvalidPacketError) {
    throw new Error(`expected a valid packet: ${p.message}`)
  }
  return p
}

// ---------------------------------------------------------------- codec

/** The empty "extension bits" link put ahead of a path MTU extension that would come first */
const EXT_BITS_BYTES = 10

describe('path MTU extension codec', () => {
  for (const [name, ext] of [
    ['capable', { kind: PathMtuKind.Capable, size: 0 }],
    ['probe', { kind: PathMtuKind.Probe, size: 2904 }],
    ['echo', { kind: PathMtuKind.Echo, size: 65507 }]
  ] as Array<[string, PathMtuExtension]>) {
    it(`round-trips a lone ${name} extension, behind an empty extension-bits link that libutp accepts`, () => {
      const payload = new Uint8Array([9, 8, 7])
      const bytes = encodePacket({ ...FIELDS, pathMtu: ext, payload })
      expect(bytes.byteLength).to.equal(HEADER_SIZE + EXT_BITS_BYTES + PATH_MTU_EXT_BYTES + payload.byteLength)
      // libutp's version check takes a first extension of 3 or more for "not uTP"
      expect(bytes[1]).to.equal(2)
      // extension bits: next is the path MTU extension, length 8, all zero
      expect(Array.from(bytes.subarray(HEADER_SIZE, HEADER_SIZE + EXT_BITS_BYTES)))
        .to.deep.equal([Extension.PathMtu, 8, 0, 0, 0, 0, 0, 0, 0, 0])
      // next extension (none), length 3, kind, size big-endian
      expect(Array.from(bytes.subarray(HEADER_SIZE + EXT_BITS_BYTES, HEADER_SIZE + EXT_BITS_BYTES + PATH_MTU_EXT_BYTES)))
        .to.deep.equal([Extension.None, 3, ext.kind, ext.size >> 8, ext.size & 0xff])
      const p = decodeOk(bytes)
      expect(p.pathMtu).to.deep.equal(ext)
      expect(p.sack).to.equal(undefined)
      expect(Array.from(p.payload)).to.deep.equal([9, 8, 7])
      expect(p.seqNr).to.equal(FIELDS.seqNr)
      expect(p.ackNr).to.equal(FIELDS.ackNr)
    })
  }

  it('chains the selective ACK first and the path MTU extension after it', () => {
    const sack = new Uint8Array([0b1010_0001, 0, 0xff, 0x80])
    const ext: PathMtuExtension = { kind: PathMtuKind.Probe, size: 0x1234 }
    const payload = new Uint8Array([1, 2])
    const bytes = encodePacket({ ...FIELDS, sack, pathMtu: ext, payload })
    expect(bytes.byteLength).to.equal(headerSize(4, true) + 2)
    expect(bytes[1]).to.equal(Extension.SelectiveAck)
    // the SACK's link names the path MTU extension next
    expect(bytes[HEADER_SIZE]).to.equal(Extension.PathMtu)
    expect(bytes[HEADER_SIZE + 1]).to.equal(4)
    expect(bytes[HEADER_SIZE + 6]).to.equal(Extension.None)
    expect(bytes[HEADER_SIZE + 7]).to.equal(3)
    const p = decodeOk(bytes)
    expect(Array.from(p.sack ?? [])).to.deep.equal(Array.from(sack))
    expect(p.pathMtu).to.deep.equal(ext)
    expect(Array.from(p.payload)).to.deep.equal([1, 2])
  })

  it('reports header sizes with and without the extension, as encodeHeader writes them', () => {
    expect(headerSize(0)).to.equal(HEADER_SIZE)
    expect(headerSize(0, false)).to.equal(HEADER_SIZE)
    expect(headerSize(0, true)).to.equal(HEADER_SIZE + EXT_BITS_BYTES + 5)
    expect(headerSize(4, true)).to.equal(HEADER_SIZE + 6 + 5)
    const sack = new Uint8Array(8)
    for (const [sackBytes, withExt] of [[0, false], [0, true], [8, false], [8, true]] as Array<[number, boolean]>) {
      const out = new Uint8Array(100).fill(0xee)
      const n = encodeHeader(out, 3, FIELDS, sack, sackBytes, withExt ? { kind: PathMtuKind.Echo, size: 9000 } : undefined)
      expect(n, `sack ${sackBytes}, ext ${String(withExt)}`).to.equal(headerSize(sackBytes, withExt))
      // nothing written past the header
      expect(out[3 + n]).to.equal(0xee)
      const p = decodeOk(out.subarray(3, 3 + n))
      expect(p.pathMtu).to.deep.equal(withExt ? { kind: PathMtuKind.Echo, size: 9000 } : undefined)
      expect(p.sack?.byteLength).to.equal(sackBytes === 0 ? undefined : sackBytes)
    }
  })

  it('ignores a path MTU extension shorter than 3 bytes, and keeps decoding the chain after it', () => {
    // header -> PathMtu (2 bytes only) -> SACK (4 bytes) -> payload
    const bytes = new Uint8Array(HEADER_SIZE + 4 + 6 + 2)
    encodeHeader(bytes, 0, FIELDS)
    bytes[1] = Extension.PathMtu
    bytes.set([Extension.SelectiveAck, 2, PathMtuKind.Probe, 0x10], HEADER_SIZE)
    bytes.set([Extension.None, 4, 1, 0, 0, 0], HEADER_SIZE + 4)
    bytes.set([0xaa, 0xbb], HEADER_SIZE + 10)
    const p = decodeOk(bytes)
    expect(p.pathMtu).to.equal(undefined)
    expect(Array.from(p.sack ?? [])).to.deep.equal([1, 0, 0, 0])
    expect(Array.from(p.payload)).to.deep.equal([0xaa, 0xbb])
  })

  it('ignores an empty path MTU extension and one of an unknown kind', () => {
    for (const body of [[], [3, 0x0b, 0x58], [0xff, 0x0b, 0x58]]) {
      const bytes = new Uint8Array(HEADER_SIZE + 2 + body.length + 1)
      encodeHeader(bytes, 0, FIELDS)
      bytes[1] = Extension.PathMtu
      bytes.set([Extension.None, body.length, ...body], HEADER_SIZE)
      bytes[bytes.byteLength - 1] = 0x42
      const p = decodeOk(bytes)
      expect(p.pathMtu, `body ${JSON.stringify(body)}`).to.equal(undefined)
      expect(Array.from(p.payload), `body ${JSON.stringify(body)}`).to.deep.equal([0x42])
    }
  })

  it('rejects a path MTU extension whose length runs past the datagram, like any extension', () => {
    const bytes = new Uint8Array(HEADER_SIZE + 4)
    encodeHeader(bytes, 0, FIELDS)
    bytes[1] = Extension.PathMtu
    bytes.set([Extension.None, 3, PathMtuKind.Probe, 0x0b], HEADER_SIZE)
    expect(decodePacket(bytes)).to.be.an.instanceOf(InvalidPacketError)
  })

  it('names the extension in stringifyPacket', () => {
    const p = decodeOk(encodePacket({ ...FIELDS, pathMtu: { kind: PathMtuKind.Probe, size: 2904 } }))
    expect(stringifyPacket(p)).to.contain('pmtu=probe:2904')
    expect(stringifyPacket(decodeOk(encodePacket(FIELDS)))).to.not.contain('pmtu')
  })
})

// ---------------------------------------------------------------- the search

/** Drives a search with immediate echoes; returns the sizes it probed */
function climb (search: PathMtuSearch): number[] {
  const probed: number[] = []
  for (let i = 0; i < 100 && !search.done; i++) {
    const size = search.nextProbe(T0, 100_000)
    expect(size).to.be.above(0)
    probed.push(size)
    expect(search.onEcho(size)).to.equal(true)
  }
  return probed
}

describe('PathMtuSearch', () => {
  it('climbs by doubling from the base, then the cap', () => {
    const search = new PathMtuSearch(BASE, 65_507)
    expect(search.confirmed).to.equal(BASE)
    expect(climb(search)).to.deep.equal(FULL_LADDER)
    expect(search.done).to.equal(true)
    expect(search.confirmed).to.equal(65_507)
    expect(search.nextProbe(T0, 100_000)).to.equal(0)
  })

  it('does not probe the cap twice when a doubling reaches it exactly', () => {
    expect(climb(new PathMtuSearch(1000, 4000))).to.deep.equal([2000, 4000])
    expect(climb(new PathMtuSearch(1000, 2500))).to.deep.equal([2000, 2500])
    expect(climb(new PathMtuSearch(1000, 1500))).to.deep.equal([1500])
  })

  it('has nothing to do when the cap is not above the base', () => {
    for (const cap of [1000, 999, 0]) {
      const search = new PathMtuSearch(1000, cap)
      expect(search.done, `cap ${cap}`).to.equal(true)
      expect(search.nextProbe(T0, 100_000), `cap ${cap}`).to.equal(0)
      expect(search.confirmed).to.equal(1000)
    }
  })

  it('keeps one probe outstanding, with a deadline of the RTO clamped to [50 ms, 1 s]', () => {
    for (const [rto, wait] of [[10_000, MIN_PROBE_TIMEOUT_US], [300_000, 300_000], [5_000_000, MAX_PROBE_TIMEOUT_US]]) {
      const search = new PathMtuSearch(BASE, 65_507)
      expect(search.deadline).to.equal(Infinity)
      expect(search.nextProbe(T0, rto)).to.equal(2904)
      expect(search.outstanding).to.equal(2904)
      expect(search.deadline, `rto ${rto}`).to.equal(T0 + wait)
      expect(search.nextProbe(T0 + 1, rto), 'second probe while one is outstanding').to.equal(0)
    }
    expect(MIN_PROBE_TIMEOUT_US).to.equal(50_000)
    expect(MAX_PROBE_TIMEOUT_US).to.equal(1_000_000)
  })

  it('ignores an echo of another size or with no probe outstanding', () => {
    const search = new PathMtuSearch(BASE, 65_507)
    expect(search.onEcho(2904), 'nothing outstanding').to.equal(false)
    expect(search.nextProbe(T0, 100_000)).to.equal(2904)
    expect(search.onEcho(5808)).to.equal(false)
    expect(search.onEcho(BASE)).to.equal(false)
    expect(search.confirmed).to.equal(BASE)
    expect(search.outstanding).to.equal(2904)
    expect(search.onEcho(2904)).to.equal(true)
    expect(search.confirmed).to.equal(2904)
    expect(search.onEcho(2904), 'a duplicate echo').to.equal(false)
  })

  it('retries a size that timed out, and gives up on it after MAX_PROBES attempts, never going down', () => {
    expect(MAX_PROBES).to.equal(3)
    const search = new PathMtuSearch(BASE, 65_507)
    expect(climb2(search, 2)).to.equal(true)
    expect(search.confirmed).to.equal(5808)
    let now = T0
    for (let attempt = 1; attempt <= MAX_PROBES; attempt++) {
      expect(search.nextProbe(now, 100_000), `attempt ${attempt}`).to.equal(11616)
      const deadline = search.deadline
      search.onTimeout(deadline - 1)
      expect(search.outstanding, 'not yet timed out').to.equal(11616)
      now = deadline
      search.onTimeout(now)
      expect(search.outstanding).to.equal(0)
      expect(search.deadline).to.equal(Infinity)
      expect(search.done).to.equal(attempt === MAX_PROBES)
    }
    expect(search.confirmed).to.equal(5808)
    expect(search.nextProbe(now, 100_000)).to.equal(0)
    // a late echo of the failed size proves nothing any more
    expect(search.onEcho(11616)).to.equal(false)
    expect(search.confirmed).to.equal(5808)
  })

  it('gives every size its own MAX_PROBES attempts', () => {
    const search = new PathMtuSearch(BASE, 65_507)
    let now = T0
    // two losses, then the third attempt at 2904 gets through
    for (let i = 0; i < MAX_PROBES - 1; i++) {
      expect(search.nextProbe(now, 0)).to.equal(2904)
      now = search.deadline
      search.onTimeout(now)
    }
    expect(search.nextProbe(now, 0)).to.equal(2904)
    expect(search.onEcho(2904)).to.equal(true)
    // 5808 again fails twice and then gets through: not given up after 3 failures overall
    for (let i = 0; i < MAX_PROBES - 1; i++) {
      expect(search.nextProbe(now, 0)).to.equal(5808)
      now = search.deadline
      search.onTimeout(now)
      expect(search.done).to.equal(false)
    }
    expect(search.nextProbe(now, 0)).to.equal(5808)
    expect(search.onEcho(5808)).to.equal(true)
    expect(search.confirmed).to.equal(5808)
    expect(search.done).to.equal(false)
  })

  it('stops on demand, keeping what it confirmed', () => {
    const search = new PathMtuSearch(BASE, 65_507)
    expect(climb2(search, 1)).to.equal(true)
    expect(search.nextProbe(T0, 100_000)).to.equal(5808)
    search.stop()
    expect(search.done).to.equal(true)
    expect(search.outstanding).to.equal(0)
    expect(search.deadline).to.equal(Infinity)
    expect(search.confirmed).to.equal(2904)
    expect(search.nextProbe(T0, 100_000)).to.equal(0)
    expect(search.onEcho(5808)).to.equal(false)
  })
})

/** Confirms the first `steps` sizes of the ladder; true when all were accepted */
function climb2 (search: PathMtuSearch, steps: number): boolean {
  for (let i = 0; i < steps; i++) {
    const size = search.nextProbe(T0, 100_000)
    if (size === 0 || !search.onEcho(size)) {
      return false
    }
  }
  return true
}

// ---------------------------------------------------------------- a wire between two connections

/** A datagram one side sent */
interface Sent {
  from: Side
  /** send time, µs */
  at: Instant
  /** datagram bytes, header included */
  size: number
  packet: Packet
  /** the sender's packetSize when it sent this */
  packetSize: number
  /** the header's extension byte as it went on the wire */
  firstExtension: number
}

interface InFlight {
  at: Instant
  to: Side
  bytes: Uint8Array
}

interface MtuLinkInit {
  /** settings of the dialling side `a` */
  a?: Partial<ConnectionConfig>
  /** settings of the accepting side `b` */
  b?: Partial<ConnectionConfig>
  /** the owner's answer to `wantsPathMtuCap`, per side */
  cap?: Partial<Record<Side, number | undefined>>
  /** one-way delay, µs */
  latency?: Duration
  /**
   * bottleneck rate of each direction, bytes per µs (default: none). Datagrams queue behind each
   * other without limit, so the rate paces a transfer without losing anything.
   */
  rate?: number
  seed?: number
}

/**
 * Two connections back to back: `a` dials, `b` is accepted from the first SYN, each with its own
 * settings and cap. Every datagram is encoded and decoded on its way; `drop` loses one as it is
 * sent.
 */
class MtuLink extends ConnectionLink<InFlight> {
  readonly configs: Record<Side, Readonly<ConnectionConfig>>
  readonly caps: Record<Side, number | undefined>
  /** how often each side asked for its cap */
  readonly capRequests: Record<Side, number> = { a: 0, b: 0 }
  readonly sent: Sent[] = []
  readonly events: Record<Side, string[]> = { a: [], b: [] }
  latency: Duration
  readonly rate: number
  drop?: (s: Sent) => boolean
  private readonly randomBytes: (buf: Uint8Array) => void
  /** when each direction's bottleneck is free again */
  private readonly free: Record<Side, Instant> = { a: 0, b: 0 }

  constructor (init: MtuLinkInit = {}) {
    const configs = { a: config(init.a), b: config(init.b) }
    const randomBytes = seededRandomBytes(init.seed ?? 0x3711)
    super(T0, 200_000, (now) => Connection.connect({ config: configs.a, randomBytes, now, recvId: 0x0200 }))
    this.configs = configs
    this.caps = { a: init.cap?.a, b: init.cap?.b }
    this.latency = init.latency ?? 10_000
    this.rate = init.rate ?? Infinity
    this.randomBytes = randomBytes
  }

  /** What `from` sent, optionally of one kind of path MTU extension */
  sentBy (from: Side, kind?: number): Sent[] {
    return this.sent.filter(s => s.from === from && (kind == null || s.packet.pathMtu?.kind === kind))
  }

  dataSentBy (from: Side): Sent[] {
    return this.sent.filter(s => s.from === from && s.packet.type === PacketType.Data)
  }

  override flush (): void {
    for (const side of ['a', 'b'] as const) {
      const conn = this.connOrNone(side)
      if (conn == null) {
        continue
      }
      for (let ev = conn.pollEvent(); ev != null; ev = conn.pollEvent()) {
        this.events[side].push(ev.type === 'closed' ? `closed:${ev.reason}` : ev.type)
      }
      for (let c = conn.read(this.now); c != null; c = conn.read(this.now)) {
        this.received[side].push(c)
      }
      for (let i = 0; ; i++) {
        if (i > 100_000) {
          throw new Error('runaway pollTransmit')
        }
        // what an Endpoint does before each poll
        if (conn.wantsPathMtuCap) {
          this.capRequests[side]++
          conn.setPathMtuCap(this.caps[side])
        }
        const t = conn.pollTransmit(this.now)
        if (t == null) {
          break
        }
        const bytes = transmitBytes(t)
        const s: Sent = { from: side, at: this.now, size: bytes.byteLength, packet: decodeTransmit(t), packetSize: conn.packetSize, firstExtension: bytes[1] }
        this.sent.push(s)
        if (this.drop?.(s) === true) {
          continue
        }
        const departs = Math.max(this.now, this.free[side]) + Math.ceil(bytes.byteLength / this.rate)
        this.free[side] = departs
        // a copy: the wire must not share memory with the sender
        this.enqueue({ at: departs + this.latency, to: side === 'a' ? 'b' : 'a', bytes: bytes.slice() })
      }
    }
  }

  protected override accept (syn: Packet): Connection {
    return Connection.accept({ config: this.configs.b, randomBytes: this.randomBytes, now: this.now, syn })
  }

  protected override deliver (d: InFlight): void {
    this.handOver(d.to, decodeOk(d.bytes))
  }

  /**
   * Sends `up` from a and `down` from b (written at once, then ended) and runs until both are
   * closed; returns whether they did
   */
  transfer (up: Uint8Array, down: Uint8Array = EMPTY, maxSteps?: number): boolean {
    this.a.write(this.now, up)
    this.a.end(this.now)
    if (!this.runUntil(() => this.hasAcceptor, 100)) {
      return false
    }
    if (down.byteLength > 0) {
      this.b.write(this.now, down)
    }
    this.b.end(this.now)
    return this.runUntil(() => this.a.isClosed && this.b.isClosed, maxSteps)
  }
}

/** Each side's first datagram: the SYN and the SYN-ACK */
function handshake (link: MtuLink): Record<Side, Sent> {
  const syn = link.sent.find(s => s.from === 'a')
  const synAck = link.sent.find(s => s.from === 'b')
  if (syn == null || synAck == null) {
    throw new Error('no handshake on the wire')
  }
  expect(syn.packet.type).to.equal(PacketType.Syn)
  expect(synAck.packet.type).to.equal(PacketType.State)
  return { a: syn, b: synAck }
}

/** What `from` sent announcing that it answers probes */
function announcements (link: MtuLink, from: Side): Sent[] {
  return link.sentBy(from, PathMtuKind.Capable)
}

const MiB = 1024 * 1024

describe('path MTU probing between two connections', function () {
  this.timeout(60_000)

  it('announces itself once each way, probes the whole ladder with padded ST_STATEs and raises packetSize to the cap', () => {
    const link = new MtuLink({ cap: { a: 65_507, b: 65_507 } })
    const up = streamBytes(101, 4 * MiB)
    expect(link.transfer(up)).to.equal(true)
    expect(link.a.reason).to.equal('closed')
    expect(link.b.reason).to.equal('closed')
    expect(link.receivedBytes('b')).to.deep.equal(up)

    // each side announced once, in a packet without data; the acceptor only in answer to the
    // dialler, and the dialler probed only once it knew that the acceptor answers probes
    const [fromA] = announcements(link, 'a')
    const [fromB] = announcements(link, 'b')
    expect(announcements(link, 'a')).to.have.length(1)
    expect(announcements(link, 'b')).to.have.length(1)
    for (const s of [fromA, fromB]) {
      expect([PacketType.Syn, PacketType.State]).to.include(s.packet.type)
      expect(s.packet.payload.byteLength).to.equal(0)
      expect(s.packet.pathMtu?.size).to.equal(0)
    }
    expect(fromB.at).to.be.at.least(fromA.at + link.latency)

    // a had bulk data: it asked once for its cap and climbed the whole ladder
    expect(link.capRequests).to.deep.equal({ a: 1, b: 0 })
    expect(link.a.packetSize).to.equal(65_507)
    const probes = link.sentBy('a', PathMtuKind.Probe)
    expect(probes.map(s => s.packet.pathMtu?.size)).to.deep.equal(FULL_LADDER)
    expect(probes[0].at).to.be.at.least(fromB.at + link.latency)
    expect(link.a.stats.mtuProbes).to.equal(FULL_LADDER.length)
    const synSeq = handshake(link).a.packet.seqNr
    for (const probe of probes) {
      // a probe is an ST_STATE exactly as big as it says, padded with zeros, taking no seq_nr:
      // it carries the next one, which the next new data packet then takes
      expect(probe.packet.type).to.equal(PacketType.State)
      expect(probe.size).to.equal(probe.packet.pathMtu?.size)
      expect(probe.packet.payload.every(byte => byte === 0)).to.equal(true)
      const at = link.sent.indexOf(probe)
      const newestBefore = Math.max(0, ...link.sent.slice(0, at).filter(s => s.from === 'a' && s.packet.type === PacketType.Data).map(s => seqDiff(s.packet.seqNr, synSeq)))
      expect(seqDiff(probe.packet.seqNr, synSeq)).to.equal(newestBefore + 1)
      const nextNew = link.sent.slice(at).find(s => s.from === 'a' && s.packet.type === PacketType.Data && seqDiff(s.packet.seqNr, synSeq) > newestBefore)
      expect(nextNew?.packet.seqNr).to.equal(probe.packet.seqNr)
    }
    // b echoed each probe once, in a small ST_STATE
    const echoes = link.sentBy('b', PathMtuKind.Echo)
    expect(echoes.map(s => s.packet.pathMtu?.size)).to.deep.equal(FULL_LADDER)
    for (const echo of echoes) {
      expect(echo.packet.type).to.equal(PacketType.State)
      expect(echo.size).to.be.below(100)
    }

    // data went out bigger once probes proved it, never bigger than proven
    const data = link.dataSentBy('a')
    // (a data packet without a selective ACK leaves the 6 bytes kept for one unused)
    expect(Math.max(...data.map(s => s.size))).to.be.within(65_507 - 6, 65_507)
    for (const s of data) {
      expect(s.size, `data packet at ${s.at}`).to.be.at.most(s.packetSize)
    }
    expect(data.filter(s => s.size > BASE).length).to.be.above(data.length / 2)
    // no datagram ever exceeded the cap; nothing of b's went beyond the configured size
    expect(Math.max(...link.sentBy('a').map(s => s.size))).to.equal(65_507)
    expect(Math.max(...link.sentBy('b').map(s => s.size))).to.be.at.most(BASE)
    expect(link.b.packetSize).to.equal(BASE)
    expect(link.b.stats.mtuProbes).to.equal(0)
  })

  it('probes in both directions at once when both sides have bulk data, byte-exact both ways', () => {
    const link = new MtuLink({ cap: { a: 9000, b: 20_000 } })
    const up = streamBytes(111, 2 * MiB)
    const down = streamBytes(112, 2 * MiB)
    expect(link.transfer(up, down)).to.equal(true)
    expect(link.receivedBytes('b')).to.deep.equal(up)
    expect(link.receivedBytes('a')).to.deep.equal(down)
    expect(link.capRequests).to.deep.equal({ a: 1, b: 1 })
    expect(link.a.packetSize).to.equal(9000)
    expect(link.b.packetSize).to.equal(20_000)
    expect(link.sentBy('a', PathMtuKind.Probe).map(s => s.size)).to.deep.equal([2904, 5808, 9000])
    expect(link.sentBy('b', PathMtuKind.Probe).map(s => s.size)).to.deep.equal([2904, 5808, 11616, 20_000])
    expect(link.a.stats.fastRetransmits + link.b.stats.fastRetransmits).to.equal(0)
    expect(link.a.stats.timeouts + link.b.stats.timeouts).to.equal(0)
  })

  for (const off of ['a', 'b'] as const) {
    it(`never probes when ${off === 'a' ? 'the dialler' : 'the acceptor'} has pathMtuProbing off, and that side announces nothing`, () => {
      const link = new MtuLink({ [off]: { pathMtuProbing: false }, cap: { a: 65_507, b: 65_507 } })
      const up = streamBytes(121, MiB)
      const down = streamBytes(122, MiB)
      expect(link.transfer(up, down)).to.equal(true)
      expect(link.receivedBytes('b')).to.deep.equal(up)
      expect(link.receivedBytes('a')).to.deep.equal(down)

      // the side with probing off announces nothing, not even in its SYN or SYN-ACK (raw bytes)
      const first = handshake(link)[off]
      expect(first.packet.pathMtu).to.equal(undefined)
      expect(first.firstExtension).to.equal(Extension.None)
      expect(first.size).to.equal(HEADER_SIZE)
      expect(link.sent.filter(s => s.from === off && s.packet.pathMtu != null)).to.deep.equal([])
      // the acceptor answers an announcement, it never starts one: a capable dialler announces
      // once, unanswered; a dialler with probing off hears none
      expect(announcements(link, 'a')).to.have.length(off === 'a' ? 0 : 1)
      expect(announcements(link, 'b')).to.have.length(0)
      expect(link.sent.filter(s => s.packet.pathMtu != null && s.packet.pathMtu.kind !== PathMtuKind.Capable)).to.deep.equal([])

      expect(link.capRequests).to.deep.equal({ a: 0, b: 0 })
      for (const side of ['a', 'b'] as const) {
        expect(link.conn(side).packetSize).to.equal(BASE)
        expect(link.conn(side).stats.mtuProbes).to.equal(0)
        expect(Math.max(...link.sentBy(side).map(s => s.size))).to.be.at.most(BASE)
      }
    })
  }

  for (const [name, cap] of [['an unknown cap', undefined], ['a cap equal to packetSize', BASE], ['a cap below packetSize', 1200]] as Array<[string, number | undefined]>) {
    it(`does not probe with ${name}`, () => {
      const link = new MtuLink({ cap: { a: cap, b: cap } })
      const up = streamBytes(131, MiB)
      expect(link.transfer(up)).to.equal(true)
      expect(link.receivedBytes('b')).to.deep.equal(up)
      // asked, once: the answer ends probing for good
      expect(link.capRequests.a).to.equal(1)
      expect(link.a.stats.mtuProbes).to.equal(0)
      expect(link.a.packetSize).to.equal(BASE)
      expect(link.sentBy('a', PathMtuKind.Probe)).to.deep.equal([])
      expect(Math.max(...link.sentBy('a').map(s => s.size))).to.be.within(BASE - 6, BASE)
    })
  }

  it('does not probe for a transfer that fits in one packet', () => {
    const link = new MtuLink({ cap: { a: 65_507, b: 65_507 } })
    const up = streamBytes(141, maxPayloadFor(BASE))
    expect(link.transfer(up, streamBytes(142, 100))).to.equal(true)
    expect(link.receivedBytes('b')).to.deep.equal(up)
    expect(link.capRequests).to.deep.equal({ a: 0, b: 0 })
    expect(link.a.stats.mtuProbes).to.equal(0)
  })

  it('stops at maxPacketSize when the cap is larger', () => {
    const link = new MtuLink({ a: { maxPacketSize: 9000 }, cap: { a: 65_507, b: 65_507 } })
    const up = streamBytes(151, 2 * MiB)
    expect(link.transfer(up)).to.equal(true)
    expect(link.receivedBytes('b')).to.deep.equal(up)
    expect(link.a.packetSize).to.equal(9000)
    expect(link.sentBy('a', PathMtuKind.Probe).map(s => s.size)).to.deep.equal([2904, 5808, 9000])
    expect(Math.max(...link.sentBy('a').map(s => s.size))).to.equal(9000)
  })

  it('stops at the cap when maxPacketSize is larger, and probes from a configured packetSize', () => {
    const link = new MtuLink({ a: { packetSize: 1200, maxPacketSize: 65_507 }, cap: { a: 8000, b: 8000 } })
    const up = streamBytes(152, 2 * MiB)
    expect(link.transfer(up)).to.equal(true)
    expect(link.receivedBytes('b')).to.deep.equal(up)
    expect(link.sentBy('a', PathMtuKind.Probe).map(s => s.size)).to.deep.equal([2400, 4800, 8000])
    expect(link.a.packetSize).to.equal(8000)
  })

  // the network loses every datagram above `limit`: the search settles on the largest ladder step
  // that fits and stops after MAX_PROBES attempts at the first one that does not
  for (const [limit, settled, failed] of [
    [1500, BASE, 2904],
    [20_000, 11_616, 23_232],
    [65_506, 46_464, 65_507]
  ]) {
    it(`settles on ${settled} bytes when the path drops datagrams above ${limit}`, () => {
      // 2 MB/s: the transfer outlasts the search, failures included
      const link = new MtuLink({ cap: { a: 65_507, b: 65_507 }, rate: 2 })
      link.drop = s => s.size > limit
      const up = streamBytes(161, 4 * MiB)
      expect(link.transfer(up)).to.equal(true)
      expect(link.receivedBytes('b')).to.deep.equal(up)
      expect(link.a.packetSize).to.equal(settled)

      const probes = link.sentBy('a', PathMtuKind.Probe).map(s => s.size)
      const succeeded = FULL_LADDER.filter(size => size <= settled)
      expect(probes).to.deep.equal([...succeeded, ...Array<number>(MAX_PROBES).fill(failed)])
      expect(link.a.stats.mtuProbes).to.equal(probes.length)
      // the failed size was given up, not retried later: the transfer went on well after the last
      // attempt could have timed out
      const lastProbe = link.sentBy('a', PathMtuKind.Probe).at(-1) as Sent
      expect(link.dataSentBy('a').at(-1)?.at).to.be.above(lastProbe.at + MAX_PROBE_TIMEOUT_US)
      // no data packet was ever lost to the size limit
      const data = link.dataSentBy('a')
      expect(Math.max(...data.map(s => s.size))).to.be.within(settled - 6, settled)
      expect(data.filter(s => s.size > limit)).to.deep.equal([])
      expect(link.a.stats.fastRetransmits).to.equal(0)
      expect(link.a.stats.timeouts).to.equal(0)
    })
  }

  it('waits the probe timeout between attempts at a size that gets no echo', () => {
    const link = new MtuLink({ cap: { a: 65_507, b: 65_507 }, rate: 2 })
    link.drop = s => s.size > 3000
    expect(link.transfer(streamBytes(171, 4 * MiB))).to.equal(true)
    const failed = link.sentBy('a', PathMtuKind.Probe).filter(s => s.size === 5808)
    expect(failed).to.have.length(MAX_PROBES)
    for (let i = 1; i < failed.length; i++) {
      expect(failed[i].at - failed[i - 1].at, `gap before attempt ${i + 1}`).to.be.at.least(MIN_PROBE_TIMEOUT_US)
    }
  })

  it('routes probing through an Endpoint: the cap comes from pathMtuCap(remote), per direction', () => {
    const asked: RemoteAddress[] = []
    // both endpoints share the init: a is asked about ADDR_B, b about ADDR_A
    const pathMtuCap = (remote: RemoteAddress): number => {
      asked.push(remote)
      return remote.port === ADDR_B.port ? 9000 : 4000
    }
    const pair = new EndpointPair({ seed: 77, endpoint: { pathMtuCap } })
    const up = streamBytes(181, MiB)
    const down = streamBytes(182, MiB)
    const { a, b } = pair.dial(up, down)
    expect(pair.runUntil(() => a.closed != null && b.closed != null, 200_000)).to.equal(true)
    expect(a.complete).to.equal(true)
    expect(b.complete).to.equal(true)
    expect(asked).to.have.deep.members([ADDR_B, ADDR_A])
    expect(a.entry?.connection.packetSize).to.equal(9000)
    expect(b.entry?.connection.packetSize).to.equal(4000)
    expect(a.entry?.connection.stats.mtuProbes).to.equal(3)
    expect(b.entry?.connection.stats.mtuProbes).to.equal(2)
  })

  it('answers a connection that wants the cap in pollTransmitFor too, not only in pollTransmit', () => {
    const asked: RemoteAddress[] = []
    const pathMtuCap = (remote: RemoteAddress): number => {
      asked.push(remote)
      return 9000
    }
    const dialler = new Endpoint({ randomBytes: seededRandomBytes(79), pathMtuCap })
    const listener = new Endpoint({ randomBytes: seededRandomBytes(80) })
    listener.listening = true
    const entry = dialler.connect(0, ADDR_B)
    entry.connection.write(0, streamBytes(185, MiB))
    const sizes: number[] = []
    const accepted: EndpointConnection[] = []
    // the dialler sends through pollTransmitFor alone; the listener answers every datagram
    for (let round = 0, now = 0; round < 200 && !sizes.some(n => n > BASE); round++, now += 1_000) {
      let t
      while ((t = dialler.pollTransmitFor(now, entry)) != null) {
        sizes.push(t.header.byteLength + t.payload.byteLength)
        listener.handle(now, ADDR_A, transmitBytes(t))
      }
      while ((t = listener.pollTransmit(now)) != null) {
        dialler.handle(now, ADDR_B, transmitBytes(t))
      }
      let ev
      while ((ev = listener.pollEvent()) != null) {
        if (ev.type === 'incoming') {
          accepted.push(ev.connection)
        }
      }
      for (const conn of accepted) {
        while (conn.connection.read(now) != null) {}
      }
    }
    expect(asked).to.deep.equal([ADDR_B])
    expect(Math.max(...sizes)).to.be.above(BASE)
  })

  it('does not probe through an Endpoint without pathMtuCap', () => {
    const pair = new EndpointPair({ seed: 78 })
    const { a, b } = pair.dial(streamBytes(183, MiB), streamBytes(184, MiB))
    expect(pair.runUntil(() => a.closed != null && b.closed != null, 200_000)).to.equal(true)
    expect(a.complete).to.equal(true)
    expect(b.complete).to.equal(true)
    expect(a.entry?.connection.stats.mtuProbes).to.equal(0)
    expect(b.entry?.connection.stats.mtuProbes).to.equal(0)
    expect(a.entry?.connection.packetSize).to.equal(BASE)
  })
})

// ---------------------------------------------------------------- duplicate ACKs

describe('path MTU probes and duplicate ACKs', () => {
  // the initiator of test/engine/fixtures.ts, with the default packet size (BASE)

  /** Connected to a capable peer, with 4 data packets in flight */
  function inFlight (): Connection {
    const conn = Connection.connect({
      config: config(),
      randomBytes: scriptedRandomBytes([LOCAL_SEQ]),
      now: T0,
      recvId: LOCAL_ID,
      congestionController: new FixedWindow(WINDOW)
    })
    expect(recvAll(conn, T0).map(p => p.type)).to.deep.equal([PacketType.Syn])
    send(conn, T1, { ...PEER, pathMtu: { kind: PathMtuKind.Capable, size: 0 } })
    expect(drainEvents(conn)).to.deep.equal([{ type: 'connected' }])
    expect(conn.state).to.equal(ConnState.Connected)
    recvAll(conn, T1)
    conn.write(T1, streamBytes(191, 4 * MSS))
    const data = recvAll(conn, T1)
    expect(data.map(p => p.type)).to.deep.equal([PacketType.Data, PacketType.Data, PacketType.Data, PacketType.Data])
    return conn
  }

  it('counts three plain duplicate ACKs as a loss (the control case)', () => {
    const conn = inFlight()
    for (let i = 0; i < 3; i++) {
      send(conn, T1 + 1000 + i, PEER)
    }
    expect(conn.stats.fastRetransmits).to.equal(1)
    const out = recvAll(conn, T1 + 2000)
    expect(out.map(p => [p.type, p.seqNr])).to.deep.include([PacketType.Data, seqAdd(LOCAL_SEQ, 1)])
  })

  for (const [name, ext] of [
    ['probes', { kind: PathMtuKind.Probe, size: 2904 }],
    ['echoes', { kind: PathMtuKind.Echo, size: 2904 }]
  ] as Array<[string, PathMtuExtension]>) {
    it(`does not count ${name} acknowledging nothing new as duplicate ACKs`, () => {
      const conn = inFlight()
      for (let i = 0; i < 5; i++) {
        send(conn, T1 + 1000 + i, {
          ...PEER,
          pathMtu: ext,
          payload: ext.kind === PathMtuKind.Probe ? new Uint8Array(2904 - headerSize(0, true)) : EMPTY
        })
      }
      expect(conn.stats.fastRetransmits).to.equal(0)
      const out = recvAll(conn, T1 + 2000)
      expect(out.filter(p => p.type === PacketType.Data).map(p => stringifyPacket(p))).to.deep.equal([])
      if (ext.kind === PathMtuKind.Probe) {
        // each probe is answered with an echo; its padding is not data
        expect(out.length).to.be.at.least(1)
        expect(out.every(p => p.type === PacketType.State && p.pathMtu?.kind === PathMtuKind.Echo && p.pathMtu.size === 2904)).to.equal(true)
        expect(conn.read(T1 + 2000)).to.equal(undefined)
        expect(conn.stats.bytesReceived).to.equal(0)
      }
    })
  }
})

// ---------------------------------------------------------------- black hole

describe('path MTU black hole', function () {
  this.timeout(60_000)

  it('goes back to the configured packetSize after two timeouts in a row at a raised size, and stops probing', () => {
    const link = new MtuLink({ cap: { a: 65_507, b: 65_507 } })
    let blackHole = false
    link.drop = s => blackHole && s.size > BASE
    link.a.write(link.now, streamBytes(201, 8 * MiB))
    link.a.end(link.now)

    expect(link.runUntil(() => link.a.packetSize === 65_507, 100_000), 'probing reached the cap').to.equal(true)
    // let some big data packets be acknowledged first, then the path shrinks
    const dataAtCap = (): number => link.dataSentBy('a').filter(s => s.size > 65_507 - 8).length
    expect(link.runUntil(() => dataAtCap() >= 20, 100_000)).to.equal(true)
    blackHole = true
    const holeAt = link.now
    const timeoutsBefore = link.a.stats.timeouts
    const probesBefore = link.a.stats.mtuProbes

    expect(link.runUntil(() => link.a.packetSize !== 65_507, 100_000), 'packetSize reverted').to.equal(true)
    expect(link.a.packetSize).to.equal(BASE)
    // on the second timeout in a row, not the first
    expect(link.a.stats.timeouts - timeoutsBefore).to.equal(2)
    expect(link.a.state).to.not.equal(ConnState.Closed)
    const revertedAt = link.now
    expect(revertedAt).to.be.above(holeAt)

    // the kernel now fragments what is too big (or the path heals): the big packets already built
    // get through, and everything cut after the revert is within the configured size
    blackHole = false
    const up = streamBytes(201, 8 * MiB)
    expect(link.runUntil(() => link.hasAcceptor && link.receivedBytes('b').byteLength === up.byteLength, 200_000)).to.equal(true)
    link.b.end(link.now)
    expect(link.runUntil(() => link.a.isClosed && link.b.isClosed, 100_000)).to.equal(true)
    expect(link.receivedBytes('b')).to.deep.equal(up)
    expect(link.a.reason).to.equal('closed')

    const seqsBefore = new Set(link.dataSentBy('a').filter(s => s.at < revertedAt).map(s => s.packet.seqNr))
    const fresh = link.dataSentBy('a').filter(s => s.at >= revertedAt && !seqsBefore.has(s.packet.seqNr))
    expect(fresh.length).to.be.above(100)
    expect(Math.max(...fresh.map(s => s.size))).to.be.at.most(BASE)
    // probing stopped for good
    expect(link.a.stats.mtuProbes).to.equal(probesBefore)
    expect(link.a.packetSize).to.equal(BASE)
  })

  it('keeps a raised packetSize through a single timeout', () => {
    const link = new MtuLink({ cap: { a: 9000, b: 9000 } })
    const up = streamBytes(211, 4 * MiB)
    // once armed, a's data is lost until its retransmission timer fires; the retransmission passes
    const armed = { timeouts: -1 }
    link.drop = s => s.from === 'a' && s.packet.type === PacketType.Data && link.a.stats.timeouts === armed.timeouts
    link.a.write(link.now, up)
    link.a.end(link.now)
    expect(link.runUntil(() => link.a.packetSize === 9000, 100_000)).to.equal(true)
    armed.timeouts = link.a.stats.timeouts
    const timeoutsBefore = armed.timeouts
    expect(link.runUntil(() => link.a.stats.timeouts > timeoutsBefore, 100_000)).to.equal(true)
    expect(link.runUntil(() => link.hasAcceptor && link.receivedBytes('b').byteLength === up.byteLength, 200_000)).to.equal(true)
    expect(link.a.stats.timeouts - timeoutsBefore).to.equal(1)
    expect(link.a.packetSize).to.equal(9000)
    expect(link.receivedBytes('b')).to.deep.equal(up)
  })
})
