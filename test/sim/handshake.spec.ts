/**
 * Acceptance point "Handshake under loss": uTP endpoints on the simulated network, with chosen
 * handshake datagrams dropped by the network tap. Every scenario has an explicit seed (quoted in
 * every assertion message), checks the bytes that arrive, and checks that both endpoints forget
 * everything once the connections are over.
 */

import { expect } from 'aegir/chai'
import { decodePacket, encodePacket, PacketType } from '../../src/engine/packet.ts'
import { Prng } from './prng.ts'
import { ByteStream } from './utp-host.ts'
import { A, B, bulk, DELAY, dump, expectClosed, expectDelivered, expectForgotten, MS, RTT, S, sent, world } from './world.ts'
import type { SimAddress, SimNode } from './network.ts'
import type { Transfer, TransferInit } from './utp-host.ts'
import type { Wire, World } from './world.ts'
import type { Packet } from '../../src/engine/packet.ts'

/** a SYN's first retransmission timeout (RFC 6298 initial RTO) and the one after one backoff */
const SYN_RTO_1 = S
const SYN_RTO_2 = 2 * S

/**
 * Dials B from A with `aInit` and runs until both transfers are done or `within` has passed;
 * checks that B accepted the connection
 */
function dialAndRun (w: World, aInit: TransferInit, within = 60 * S, accepted = 'B accepted no connection'): { start: number, ta: Transfer, tb: Transfer } {
  const start = w.net.now
  const ta = w.a.dial(start, B, aInit)
  w.net.runUntil(() => ta.done && w.b.transfers[0]?.done, start + within)
  const tb = w.b.transfers[0]
  expect(tb, w.msg(accepted)).to.not.equal(undefined)
  return { start, ta, tb }
}

/**
 * Both sides closed gracefully with the whole stream of the other (B's side is left out when
 * `bReceives` is, the test having checked it already), then both endpoints forget everything
 */
function expectCompleted (w: World, ta: Transfer, tb: Transfer, aReceives: number, bReceives?: number): void {
  expectClosed(w, ta, 'closed', 'A')
  expectClosed(w, tb, 'closed', 'B')
  expectDelivered(w, ta, aReceives, 'A')
  if (bReceives != null) {
    expectDelivered(w, tb, bReceives, 'B')
  }
  expectForgotten(w)
}

/** Dials B from A with a small transfer and runs until the dial fails with `reason` */
function failedDial (w: World, reason: string): { start: number, ta: Transfer } {
  const start = w.net.now
  const ta = w.a.dial(start, B, { send: 1000, sendSeed: 1, recvSeed: 2 })
  w.net.runUntil(() => ta.done, start + 60 * S)
  expectClosed(w, ta, reason, 'A')
  return { start, ta }
}

/** A dropped its failed dial at once: no connection, no deadline */
function expectDialDropped (w: World): void {
  expect(w.a.endpoint.size, w.msg('A forgets the dial at once')).to.equal(0)
  expect(w.a.endpoint.pollTimeout(), w.msg('A has no deadline left')).to.equal(undefined)
}

/** B's half-open connection timed out at `deadline` and B forgot it */
function expectHandshakeTimedOut (w: World, tb: Transfer, deadline: number): void {
  expectClosed(w, tb, 'timed-out', 'B')
  expect(tb.closed?.at, w.msg('closed at the handshake deadline')).to.be.within(deadline, deadline + MS)
  expect(w.b.endpoint.size, w.msg('B forgot the connection')).to.equal(0)
  expect(w.b.endpoint.halfOpen, w.msg('B counts nothing half-open')).to.equal(0)
}

/** Drops the first `n` datagrams matching `match` */
function dropFirst (n: number, match: (w: Wire) => boolean): (w: Wire) => boolean {
  let left = n
  return (w) => {
    if (left > 0 && match(w)) {
      left--
      return true
    }
    return false
  }
}

/**
 * The acceptor's SYN-ACK: an ST_STATE from B acknowledging A's first SYN (not B's answer to A's
 * path MTU announcement, an ST_STATE that may acknowledge only the SYN too)
 */
function isSynAck (w: World, e: Wire): boolean {
  const syn = w.wire.find(x => x.from === A.host && x.p.type === PacketType.Syn)
  return syn != null && e.from === B.host && e.p.type === PacketType.State && e.p.ackNr === syn.p.seqNr && e.p.pathMtu == null
}

/** Every SYN-ACK B sent, dropped or not */
function synAcksOf (w: World): Wire[] {
  return w.wire.filter(e => isSynAck(w, e))
}

/** The first SYN-ACK is the dropped one, and every SYN-ACK carries its seq_nr */
function expectSynAckRepeated (w: World, synAcks: Wire[]): void {
  expect(synAcks[0].dropped, w.msg('the first SYN-ACK is the dropped one')).to.equal(true)
  expect(synAcks.map(e => e.p.seqNr), w.msg('every SYN-ACK carries the same seq_nr')).to.deep.equal(synAcks.map(() => synAcks[0].p.seqNr))
}

/** A node that sends one prepared datagram at a given time and records what it gets back */
class OneShot implements SimNode {
  readonly received: Packet[] = []
  private done = false
  private readonly to: SimAddress
  private readonly bytes: Uint8Array
  private readonly at: number

  constructor (to: SimAddress, bytes: Uint8Array, at: number) {
    this.to = to
    this.bytes = bytes
    this.at = at
  }

  receive (now: number, from: SimAddress, bytes: Uint8Array): void {
    const p = decodePacket(bytes)
    if (!(p instanceof Error)) {
      this.received.push(p)
    }
  }

  pollTransmit (now: number): { to: SimAddress, bytes: Uint8Array } | undefined {
    if (this.done || now < this.at) {
      return undefined
    }
    this.done = true
    return { to: this.to, bytes: this.bytes }
  }

  pollTimeout (): number | undefined {
    return this.done ? undefined : this.at
  }

  handleTimeout (): void {}
}

function fakeSyn (prng: Prng): Uint8Array {
  return encodePacket({
    type: PacketType.Syn,
    connectionId: prng.int(0x10000),
    timestamp: 0,
    timestampDiff: 0,
    wndSize: 1 << 20,
    seqNr: prng.int(0x10000),
    ackNr: 0
  })
}

describe('sim/handshake: handshake under loss', function () {
  describe('lost SYN', () => {
    for (const lost of [1, 2]) {
      it(`connects after ${lost} lost SYN${lost > 1 ? 's' : ''}, backing off the RTO`, () => {
        const seed = 1100 + lost
        const { aInit, bInit } = bulk(seed, 60_000, 40_000)
        const w = world(seed, { onIncoming: () => bInit })
        w.drop = dropFirst(lost, e => e.from === A.host && e.p.type === PacketType.Syn)
        const { start, ta, tb } = dialAndRun(w, aInit)

        // SYNs go out at 0, 1 s, 1 s + 2 s: the first RTO is 1 s and it doubles
        const syns = sent(w, A, PacketType.Syn)
        const expectedTimes = [0, SYN_RTO_1, SYN_RTO_1 + SYN_RTO_2].slice(0, lost + 1)
        expect(syns.map(e => e.t - start), w.msg('SYN transmission times')).to.deep.equal(expectedTimes)
        expect(new Set(syns.map(e => e.p.seqNr)).size, w.msg('a retransmitted SYN keeps its seq_nr')).to.equal(1)
        const connectAt = expectedTimes[lost] + RTT
        expect(ta.connectedAt, w.msg('A connected')).to.be.a('number')
        const connectedAfter = (ta.connectedAt ?? 0) - start
        expect(connectedAfter, w.msg('A connects one RTT after the SYN that got through')).to.be.within(connectAt, connectAt + MS)

        expectCompleted(w, ta, tb, 40_000, 60_000)
      })
    }
  })

  describe('lost SYN-ACK', () => {
    it('the initiator sends first: its SYN retransmission brings back the same SYN-ACK', () => {
      const seed = 1201
      // B answers only once it has all of A's data
      const aInit: TransferInit = { send: 80_000, sendSeed: seed + 1, recvSeed: seed + 2 }
      const bInit: TransferInit = { send: 0, sendSeed: seed + 2, recvSeed: seed + 1, endWhenDone: false }
      const w = world(seed, { onIncoming: () => bInit })
      w.drop = dropFirst(1, e => isSynAck(w, e))
      const start = w.net.now
      const ta = w.a.dial(start, B, aInit)
      w.net.runUntil(() => w.b.transfers[0]?.remoteEnded, start + 30 * S)
      const tb = w.b.transfers[0]
      expect(tb?.remoteEnded, w.msg(`B did not get A's whole stream${dump(w)}`)).to.equal(true)
      expectDelivered(w, tb, 80_000, 'B')

      // the reply, then B ends
      const conn = tb.entry.connection
      conn.write(w.net.now, new ByteStream(seed + 2).next(30_000))
      conn.end(w.net.now)
      w.b.endpoint.wake(tb.entry)
      w.net.runUntil(() => ta.done && tb.done, w.net.now + 30 * S)

      const synAcks = synAcksOf(w)
      expect(synAcks.length, w.msg('SYN-ACKs sent')).to.be.greaterThanOrEqual(2)
      expectSynAckRepeated(w, synAcks)
      const syns = sent(w, A, PacketType.Syn)
      expect(syns.length, w.msg('A retransmitted its SYN once')).to.equal(2)
      expect(syns[1].t - start, w.msg('the SYN is retransmitted after the initial RTO')).to.equal(SYN_RTO_1)
      expect((ta.connectedAt ?? 0) - start, w.msg('A connects one RTT after its second SYN')).to.be.within(SYN_RTO_1 + RTT, SYN_RTO_1 + RTT + MS)

      expectCompleted(w, ta, tb, 30_000)
    })

    it('the acceptor sends first: no byte is lost or duplicated', () => {
      const seed = 1202
      const { aInit, bInit } = bulk(seed, 0, 150_000)
      const w = world(seed, { onIncoming: () => bInit })
      w.drop = dropFirst(1, e => isSynAck(w, e))
      const { ta, tb } = dialAndRun(w, aInit)

      const synAcks = synAcksOf(w)
      expect(synAcks.length, w.msg(`SYN-ACKs sent${dump(w)}`)).to.be.greaterThanOrEqual(2)
      expectSynAckRepeated(w, synAcks)

      expectCompleted(w, ta, tb, 150_000, 0)
    })

    it('the acceptor\'s data reaches the initiator before any SYN-ACK: no byte is lost or duplicated', () => {
      const seed = 1203
      const { aInit, bInit } = bulk(seed, 50_000, 200_000)
      const w = world(seed, { onIncoming: () => bInit })
      w.drop = dropFirst(1, e => isSynAck(w, e))
      const { start, ta, tb } = dialAndRun(w, aInit)

      // links have a fixed delay: the order B sends in is the order A receives in
      const fromB = w.wire.filter(e => e.from === B.host && !e.dropped)
      expect(fromB[0]?.p.type, w.msg(`the first packet from B that reaches A is data${dump(w)}`)).to.equal(PacketType.Data)
      const firstSynAck = fromB.find(e => isSynAck(w, e))
      expect(firstSynAck, w.msg('a SYN-ACK reached A')).to.not.equal(undefined)
      const firstData = fromB.find(e => e.p.type === PacketType.Data)
      expect(firstData?.t, w.msg('data from B before the SYN-ACK')).to.be.below(firstSynAck?.t ?? 0)
      // early data makes A ask for the SYN-ACK again at once instead of waiting for its RTO
      expect((ta.connectedAt ?? Infinity) - start, w.msg('A connects without waiting for the SYN RTO')).to.be.below(SYN_RTO_1)

      expectCompleted(w, ta, tb, 200_000, 50_000)
    })

    it('survives every SYN-ACK but the last being lost while the acceptor sends', () => {
      const seed = 1204
      const { aInit, bInit } = bulk(seed, 30_000, 120_000)
      const w = world(seed, { onIncoming: () => bInit })
      w.drop = dropFirst(3, e => isSynAck(w, e))
      const { ta, tb } = dialAndRun(w, aInit)
      const synAcks = synAcksOf(w)
      expect(synAcks.filter(e => e.dropped).length, w.msg('three SYN-ACKs were dropped')).to.equal(3)
      expect(new Set(synAcks.map(e => e.p.seqNr)).size, w.msg('every SYN-ACK carries the same seq_nr')).to.equal(1)

      expectCompleted(w, ta, tb, 120_000, 30_000)
    })
  })

  describe('failed dials', () => {
    it('times out at the connect deadline when nothing is at the address', () => {
      const seed = 1301
      const w = world(seed, { attachB: false })
      const { start, ta } = failedDial(w, 'timed-out')
      const deadline = start + w.a.endpoint.config.connectTimeout
      expect(w.a.endpoint.config.connectTimeout, w.msg('default connect timeout')).to.equal(10 * S)
      expect(ta.closed?.at, w.msg('closed at the connect deadline')).to.be.within(deadline, deadline + MS)
      expect(ta.connected, w.msg('never connected')).to.equal(false)
      // SYN at 0, 1, 3, 7 s (RTO 1, 2, 4 s); the next would be at 15 s, after the deadline
      expect(sent(w, A, PacketType.Syn).map(e => e.t - start), w.msg('SYN transmission times')).to.deep.equal([0, S, 3 * S, 7 * S])
      expectDialDropped(w)
      expectForgotten(w)
    })

    it('times out at a configured connect deadline when the peer drops everything', () => {
      const seed = 1302
      const w = world(seed, { config: { connectTimeout: 2_500_000 } })
      w.drop = (e) => e.to === B.host
      const { start, ta } = failedDial(w, 'timed-out')
      const deadline = start + 2_500_000
      expect(ta.closed?.at, w.msg('closed at the connect deadline')).to.be.within(deadline, deadline + MS)
      expect(sent(w, A, PacketType.Syn).map(e => e.t - start), w.msg('SYN transmission times')).to.deep.equal([0, S])
      expect(w.b.accepted.length, w.msg('B saw nothing')).to.equal(0)
      expectDialDropped(w)
      expectForgotten(w)
    })

    it('is refused within one RTT by a host that is not listening', () => {
      const seed = 1303
      const w = world(seed, { listen: false })
      const { start, ta } = failedDial(w, 'refused')
      expect((ta.closed?.at ?? Infinity) - start, w.msg('refused within one RTT')).to.be.within(RTT, RTT + MS)
      const resets = sent(w, B, PacketType.Reset)
      expect(resets.length, w.msg('B answered the SYN with one ST_RESET')).to.equal(1)
      expect(sent(w, A, PacketType.Syn).length, w.msg('A sent one SYN')).to.equal(1)
      expect(w.a.endpoint.size, w.msg('A forgets the dial at once')).to.equal(0)
      expect(w.b.endpoint.size, w.msg('B allocated nothing')).to.equal(0)
      expect(w.b.accepted.length, w.msg('B accepted nothing')).to.equal(0)
      expectForgotten(w)
    })
  })

  describe('half-open connections', () => {
    it('reclaims a connection opened by a lone SYN after handshakeTimeout', () => {
      const seed = 1401
      const w = world(seed, { onIncoming: () => ({ send: 0, sendSeed: 1, recvSeed: 2, endWhenDone: false }) })
      const C: SimAddress = { host: '10.0.0.3', port: 6000 }
      const start = w.net.now
      const fake = new OneShot(B, fakeSyn(new Prng(seed)), start)
      w.net.connect(C.host, B.host, { delayUs: DELAY })
      w.net.attach(C, fake)
      w.net.runTo(start + S)
      expect(w.b.endpoint.size, w.msg('B holds the half-open connection')).to.equal(1)
      expect(w.b.endpoint.halfOpen, w.msg('B counts it half-open')).to.equal(1)
      expect(fake.received.map(p => p.type), w.msg('the fake initiator got a SYN-ACK')).to.deep.equal([PacketType.State])

      const tb = w.b.transfers[0]
      w.net.runUntil(() => tb.done, start + 60 * S)
      expectHandshakeTimedOut(w, tb, start + DELAY + w.b.endpoint.config.handshakeTimeout)
      expect(w.b.endpoint.pollTimeout(), w.msg('B has no deadline left')).to.equal(undefined)
      expectForgotten(w)
    })

    it('reclaims an accepted connection whose initiator goes silent after its SYN', () => {
      const seed = 1402
      const config = { handshakeTimeout: 3 * S, idleTimeout: 20 * S, keepAliveInterval: 0 }
      const bInit: TransferInit = { send: 0, sendSeed: seed + 2, recvSeed: seed + 1, endWhenDone: false }
      const w = world(seed, { config, onIncoming: () => bInit })
      // everything from A after its first SYN is lost
      w.drop = (e) => e.from === A.host && w.wire.some(x => x.from === A.host && x.p.type === PacketType.Syn)
      const start = w.net.now
      const ta = w.a.dial(start, B, { send: 20_000, sendSeed: seed + 1, recvSeed: seed + 2 })
      w.net.runUntil(() => w.b.transfers[0]?.done, start + 60 * S)
      const tb = w.b.transfers[0]
      expect(tb, w.msg('B accepted the SYN')).to.not.equal(undefined)
      expectHandshakeTimedOut(w, tb, start + DELAY + 3 * S)
      expect(ta.connected, w.msg('A got the SYN-ACK')).to.equal(true)

      // A never hears from B again: it gives up too (retransmissions or idle timeout)
      w.net.runUntil(() => ta.done, start + 300 * S)
      expect(ta.closed?.reason, w.msg('A gives up')).to.be.oneOf(['timed-out', 'reset'])
      expect(tb.received, w.msg('B received nothing')).to.equal(0)
      expectForgotten(w)
    })

    it('holds at most maxHalfOpen half-open connections', () => {
      const seed = 1403
      const bInit: TransferInit = { send: 10_000, sendSeed: seed + 2, recvSeed: seed + 1 }
      // only the real initiator (A) gets an application; the fakes stay half-open
      const w = world(seed, { maxHalfOpen: 5, onIncoming: (entry) => entry.remote.address === A.host ? bInit : undefined })
      const prng = new Prng(seed)
      const start = w.net.now
      w.net.connect('10.0.0.3', B.host, { delayUs: DELAY })
      const fakes: OneShot[] = []
      for (let i = 0; i < 20; i++) {
        const fake = new OneShot(B, fakeSyn(prng), start + i * MS)
        fakes.push(fake)
        w.net.attach({ host: '10.0.0.3', port: 7000 + i }, fake)
      }
      let most = 0
      for (let t = start; t <= start + S; t += 500) {
        w.net.runTo(t)
        most = Math.max(most, w.b.endpoint.halfOpen, w.b.endpoint.size)
      }
      expect(most, w.msg('most half-open connections held at once')).to.equal(5)
      expect(w.b.endpoint.halfOpen, w.msg('half-open connections after 20 SYNs')).to.equal(5)
      expect(w.b.accepted.length, w.msg('connections accepted')).to.equal(5)
      expect(fakes.filter(f => f.received.length > 0).length, w.msg('SYNs answered')).to.equal(5)

      // once they time out the endpoint accepts again
      w.net.runTo(start + w.b.endpoint.config.handshakeTimeout + S)
      expect(w.b.endpoint.halfOpen, w.msg('half-open connections reclaimed')).to.equal(0)
      expect(w.b.endpoint.size, w.msg('connections reclaimed')).to.equal(0)
      const { ta, tb } = dialAndRun(w, { send: 10_000, sendSeed: seed + 1, recvSeed: seed + 2 }, 30 * S, 'B accepted A after the cap freed up')
      expectCompleted(w, ta, tb, 10_000, 10_000)
    })
  })
})
