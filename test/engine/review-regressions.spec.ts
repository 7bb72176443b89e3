/**
 * Regressions for defects a review of the engine found, each pinned where it lives (packets built
 * by hand against one connection) and, where the defect only bites in combination, end to end
 * over a lossless or scripted wire. Every test failed before its fix.
 */

import { expect } from 'aegir/chai'
import { resolveConnectionConfig } from '../../src/engine/config.ts'
import { FixedWindow } from '../../src/engine/congestion/fixed.ts'
import { Connection, ConnState, maxPayloadFor } from '../../src/engine/connection.ts'
import { PacketType } from '../../src/engine/packet.ts'
import { InsertResult, RecvBuffer } from '../../src/engine/recv-buffer.ts'
import { seqAdd, seqDiff } from '../../src/engine/seq.ts'
import { ACCEPT_SEQ, connected, dataOffsets, EMPTY, local, LOCAL_SEQ, MSS, PEER, remote, RTT, SYN, SYN_ID, SYN_SEQ, T0, T1, WINDOW } from './fixtures.ts'
import {
  ConnectionPair,
  concatBytes,
  drainEvents,
  expectNothing,
  expectTransmit,
  readAll,
  recvAll,
  scriptedRandomBytes,
  seededRandomBytes,
  send,
  streamBytes,
  toPacket
} from './helpers.ts'
import type { PacketExpect, PacketRepr } from './helpers.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'
import type { Packet } from '../../src/engine/packet.ts'

/** what the initiator sends to the acceptor under test after its SYN */
const INIT: PacketRepr = { ...SYN, type: PacketType.State, connectionId: SYN_ID + 1, seqNr: seqAdd(SYN_SEQ, 1), ackNr: seqAdd(ACCEPT_SEQ, -1) }

const SYN_ACK: PacketExpect = { type: PacketType.State, connectionId: SYN_ID, seqNr: ACCEPT_SEQ, ackNr: SYN_SEQ, sack: undefined, payload: EMPTY }

function config (overrides: Partial<ConnectionConfig> = {}): Readonly<ConnectionConfig> {
  return resolveConnectionConfig({ pathMtuProbing: false, ...overrides })
}

function initiated (n: number): number {
  return seqAdd(SYN_SEQ, n)
}

/** SYN_RECV acceptor: the SYN-ACK has gone out at T0 */
function synRecv (cfg: Readonly<ConnectionConfig>): Connection {
  const conn = Connection.accept({ config: cfg, randomBytes: scriptedRandomBytes([ACCEPT_SEQ]), now: T0, syn: toPacket(SYN), congestionController: new FixedWindow(WINDOW) })
  expectTransmit(conn, T0, [SYN_ACK])
  return conn
}

/** Two connections joined directly, for scripts that hold and reorder packets by hand */
class Lockstep {
  now = T0
  readonly a: Connection
  b: Connection | undefined
  readonly readA: Uint8Array[] = []
  readonly readB: Uint8Array[] = []
  private readonly cfg: Readonly<ConnectionConfig>
  private readonly randomBytes: (buf: Uint8Array) => void
  private readonly window: number

  constructor (cfg: Readonly<ConnectionConfig>, seed: number, window = WINDOW) {
    this.cfg = cfg
    this.randomBytes = seededRandomBytes(seed)
    this.window = window
    this.a = Connection.connect({ config: cfg, randomBytes: this.randomBytes, now: this.now, recvId: 1000, congestionController: new FixedWindow(window) })
  }

  accept (syn: Packet): Connection {
    this.b = Connection.accept({ config: this.cfg, randomBytes: this.randomBytes, now: this.now, syn, congestionController: new FixedWindow(this.window) })
    return this.b
  }

  /** What `conn` sends now, after reading what it can; its events are dropped */
  poll (conn: Connection): Packet[] {
    this.read(conn)
    drainEvents(conn)
    return recvAll(conn, this.now)
  }

  /** Keeps what `conn` can read */
  read (conn: Connection): void {
    const chunk = readAll(conn, this.now)
    if (chunk.byteLength > 0) {
      (conn === this.a ? this.readA : this.readB).push(chunk)
    }
  }

  deliver (to: Connection, packets: Packet[]): void {
    for (const p of packets) {
      to.handlePacket(this.now, p)
    }
  }

  /** A lossless wire with no delay, in steps of `step` µs */
  run (duration: number, step = 10_000): void {
    const b = this.b as Connection
    for (const end = this.now + duration; this.now < end;) {
      this.now += step
      this.a.handleTimeout(this.now)
      b.handleTimeout(this.now)
      this.deliver(b, this.poll(this.a))
      this.deliver(this.a, this.poll(b))
    }
  }
}

describe('review regressions', () => {
  describe('selective ACKs', () => {
    it('resends the SYN-ACK without a selective ACK: its ack_nr is not the base the mask is read against', () => {
      const conn = synRecv(config())
      const t = T0 + RTT
      // initiated(1) arrives, initiated(2) is lost, initiated(3) is held out of order
      send(conn, t, { ...INIT, type: PacketType.Data, seqNr: initiated(1), payload: streamBytes(1, 100) })
      send(conn, t, { ...INIT, type: PacketType.Data, seqNr: initiated(3), payload: streamBytes(3, 100) })
      expectTransmit(conn, t, [{ type: PacketType.State, ackNr: initiated(1), sack: new Uint8Array([1, 0, 0, 0]) }])

      // a delayed duplicate SYN: the same SYN-ACK, ack_nr = SYN seq, and no mask (read against the
      // SYN's seq, bit 0 would acknowledge initiated(2))
      send(conn, t + 1000, SYN)
      expectTransmit(conn, t + 1000, [SYN_ACK])

      // ACKs of the current ack_nr still carry it
      send(conn, t + 2000, { ...INIT, type: PacketType.Data, seqNr: initiated(3), payload: streamBytes(3, 100) })
      expectTransmit(conn, t + 2000, [{ type: PacketType.State, ackNr: initiated(1), sack: new Uint8Array([1, 0, 0, 0]) }])
    })

    it('resends a packet marked selectively acknowledged once the cumulative ACK stops right before it (a stale or reneged mark)', () => {
      const conn = connected(config({ tailLossProbe: false }))
      const data = streamBytes(7, 3 * MSS)
      conn.write(T1, data)
      expect(dataOffsets(recvAll(conn, T1), LOCAL_SEQ)).to.deep.equal([1, 2, 3])

      // local(1) acknowledged, and local(3) selectively: the peer does not really hold it
      const t = T1 + RTT
      send(conn, t, { ...PEER, ackNr: local(1), sack: new Uint8Array([1, 0, 0, 0]) })
      expectNothing(conn, t)

      // the timeout resends what is not marked
      const rto = conn.pollTimeout() as number
      conn.handleTimeout(rto)
      expectTransmit(conn, rto, [{ type: PacketType.Data, seqNr: local(2), payload: data.subarray(MSS, 2 * MSS) }])

      // the peer acknowledges local(2) and no further: no selective ACK can cover the packet after
      // ack_nr, so the mark on local(3) is stale, and it goes again at once rather than never
      send(conn, rto + RTT, { ...PEER, ackNr: local(2) })
      expectTransmit(conn, rto + RTT, [{ type: PacketType.Data, seqNr: local(3), payload: data.subarray(2 * MSS) }])
      send(conn, rto + 2 * RTT, { ...PEER, ackNr: local(3) })
      expect(conn.bufferedAmount).to.equal(0)
    })

    it('completes a transfer when a delayed duplicate SYN arrives while data is held out of order', () => {
      const pair = new ConnectionPair(config())
      expect(pair.runUntil(() => pair.hasAcceptor && pair.b.isConfirmed)).to.equal(true)
      const syn = pair.sent.a[0]
      expect(syn.type).to.equal(PacketType.Syn)

      // the second data packet is lost once
      const lost = seqAdd(pair.a.initialSeqNr, 2)
      let dropped = false
      pair.drop = (from, p) => {
        if (from === 'a' && p.type === PacketType.Data && p.seqNr === lost && !dropped) {
          dropped = true
          return true
        }
        return false
      }
      const data = streamBytes(11, 3 * MSS)
      pair.a.write(pair.now, data)
      expect(pair.runUntil(() => pair.b.stats.outOfOrderReceived > 0)).to.equal(true)

      // the duplicate SYN reaches the acceptor now, its answer goes back with the ACK
      pair.b.handlePacket(pair.now, syn)
      pair.flush()
      expect(pair.runUntil(() => pair.receivedBytes('b').byteLength === data.byteLength, 2_000)).to.equal(true)
      expect(pair.receivedBytes('b')).to.deep.equal(data)
    })
  })

  describe('flow control', () => {
    it('takes the peer\'s window only from its newest packet, by ack_nr and then seq_nr', () => {
      const conn = connected(config({ tailLossProbe: false }))
      const data = streamBytes(5, 6 * MSS)
      conn.write(T1, data.subarray(0, 2 * MSS))
      expect(dataOffsets(recvAll(conn, T1), LOCAL_SEQ)).to.deep.equal([1, 2])

      // the peer's ACK of local(2) closing its window overtakes its ACK of local(1)
      let t = T1 + RTT
      send(conn, t, { ...PEER, ackNr: local(2), wndSize: 0 })
      conn.write(t, data.subarray(2 * MSS))
      expectNothing(conn, t)
      t += 1000
      send(conn, t, { ...PEER, ackNr: local(1), wndSize: WINDOW })
      expectNothing(conn, t)

      // the same ack_nr: its data packet remote(0) is overtaken by its ST_STATE of seq remote(1)
      t += 1000
      send(conn, t, { ...PEER, seqNr: remote(1), ackNr: local(2), wndSize: 0 })
      send(conn, t, { ...PEER, type: PacketType.Data, seqNr: remote(0), ackNr: local(2), wndSize: WINDOW, payload: streamBytes(6, 10) })
      expect(recvAll(conn, t).filter(p => p.type === PacketType.Data)).to.deep.equal([])

      // a window update (ack_nr and seq_nr as before) is taken
      t += 1000
      send(conn, t, { ...PEER, seqNr: remote(1), ackNr: local(2), wndSize: WINDOW })
      expect(dataOffsets(recvAll(conn, t), LOCAL_SEQ)).to.deep.equal([3, 4, 5, 6])
    })

    it('takes the packet that fills the gap even when packets held after it have used up the window', () => {
      const buf = new RecvBuffer(100, 4096)
      expect(buf.insert(102, new Uint8Array(2000))).to.equal(InsertResult.OutOfOrder)
      expect(buf.insert(104, new Uint8Array(1800))).to.equal(InsertResult.OutOfOrder)
      expect(buf.window).to.equal(296)

      expect(buf.insert(101, new Uint8Array(1000))).to.equal(InsertResult.InOrder)
      expect(buf.ackNr).to.equal(102)
      expect(buf.unread).to.equal(3000)
      // over capacity now, by less than a packet: nothing more until the reader catches up
      expect(buf.window).to.equal(0)
      expect(buf.insert(103, new Uint8Array(1000))).to.equal(InsertResult.Dropped)
      for (let chunk = buf.read(); chunk != null; chunk = buf.read()) {
        expect(chunk.byteLength).to.be.greaterThan(0)
      }
      expect(buf.insert(103, new Uint8Array(1000))).to.equal(InsertResult.InOrder)
      expect(buf.ackNr).to.equal(104)
      expect(buf.unread).to.equal(2800)
    })

    it('does not wedge when a stale ACK reopens the window and held data fills the receive buffer', () => {
      const net = new Lockstep(config({ recvBufferSize: 16 * 1024, tailLossProbe: false }), 5)
      const [syn] = net.poll(net.a)
      const b = net.accept(syn)
      net.now += RTT
      net.deliver(net.a, net.poll(b))
      net.now += RTT
      net.deliver(b, net.poll(net.a))
      net.poll(b)

      const data = streamBytes(9, 200_000)
      net.a.write(net.now, data)
      net.now += RTT
      const burst = net.poll(net.a).filter(p => p.type === PacketType.Data)
      expect(burst.length).to.be.greaterThan(8)

      // the first packet arrives and is acknowledged late; the second is lost, the rest is held
      net.now += RTT
      net.deliver(b, burst.slice(0, 1))
      net.read(b)
      net.now += 6_000
      b.handleTimeout(net.now)
      const lateAck = net.poll(b)
      expect(lateAck).to.have.length(1)
      net.deliver(b, burst.slice(2))
      net.read(b)
      net.now += RTT
      net.deliver(net.a, net.poll(b))
      const resent = net.poll(net.a)
      expect(resent.map(p => p.seqNr)).to.include(burst[1].seqNr)

      // the retransmission is lost too, then the late ACK arrives
      net.now += RTT
      net.deliver(b, resent.filter(p => p.seqNr !== burst[1].seqNr))
      net.read(b)
      net.now += RTT
      net.deliver(net.a, lateAck)
      net.now += RTT
      net.deliver(b, net.poll(net.a))
      net.read(b)

      net.run(30_000_000)
      expect(concatBytes(net.readB)).to.deep.equal(data)
    })
  })

  describe('handshake', () => {
    it('sends the SYN-ACK as the keep-alive before the initiator has confirmed', () => {
      const cfg = config({ keepAliveInterval: 3_000_000 })
      const conn = synRecv(cfg)
      conn.write(T0, streamBytes(3, 2 * MSS))
      expectTransmit(conn, T0, [{ type: PacketType.Data, seqNr: ACCEPT_SEQ }, { type: PacketType.Data, seqNr: seqAdd(ACCEPT_SEQ, 1) }])

      const states: Packet[] = []
      for (let t = conn.pollTimeout(); t != null && conn.state !== ConnState.Closed; t = conn.pollTimeout()) {
        conn.handleTimeout(t)
        states.push(...recvAll(conn, t).filter(p => p.type === PacketType.State))
      }
      expect(states).to.not.deep.equal([])
      for (const p of states) {
        expect({ seqNr: p.seqNr, ackNr: p.ackNr, sack: p.sack }).to.deep.equal({ seqNr: ACCEPT_SEQ, ackNr: SYN_SEQ, sack: undefined })
      }
    })

    it('delivers the acceptor\'s first data when its SYN-ACKs are lost and a keep-alive comes first', () => {
      const net = new Lockstep(config({ keepAliveInterval: 3_000_000 }), 11)
      const greeting = streamBytes(13, 2000)
      for (let step = 0; step < 1500; step++) {
        net.now += 10_000
        net.a.handleTimeout(net.now)
        net.b?.handleTimeout(net.now)
        for (const p of net.poll(net.a)) {
          if (net.b == null && p.type === PacketType.Syn) {
            // the acceptor speaks first
            net.accept(p).write(net.now, greeting)
          } else {
            net.b?.handlePacket(net.now, p)
          }
        }
        if (net.b != null) {
          const b = net.b
          // every SYN-ACK is lost for the first 6 s
          net.deliver(net.a, net.poll(b).filter(p => !(p.type === PacketType.State && p.seqNr === b.initialSeqNr && net.now < 6_000_000)))
        }
      }
      expect(net.a.state).to.equal(ConnState.Connected)
      expect(concatBytes(net.readA)).to.deep.equal(greeting)
    })
  })

  describe('loss detection and recovery', () => {
    it('detects losses only within the selective ACK\'s reach with an initial sequence number in the upper half', () => {
      const isn = 0x9000
      const conn = connected(config({ tailLossProbe: false }), { isn })
      conn.write(T1, new Uint8Array(MSS * 100))
      expect(recvAll(conn, T1).filter(p => p.type === PacketType.Data)).to.have.length(100)
      const at = (i: number): number => seqAdd(isn, 1 + i)
      const mask = new Uint8Array([0xff, 0xff, 0xff, 0xff])

      // packet 0 lost, 1..32 selectively acknowledged
      let t = T1 + 5 * RTT
      send(conn, t, { ...PEER, ackNr: isn, sack: mask })
      expect(dataOffsets(recvAll(conn, t), at(0))).to.deep.equal([0])

      // 0..40 acknowledged, 41 lost, 42..73 selectively acknowledged: 74..99 are beyond the mask
      t += 5 * RTT
      send(conn, t, { ...PEER, ackNr: at(40), sack: mask })
      expect(dataOffsets(recvAll(conn, t), at(0))).to.deep.equal([41])
      expect(conn.stats.fastRetransmits).to.equal(2)
    })

    it('still cuts the window for a loss more than half the sequence space after the last cut', () => {
      const cfg = config({ packetSize: 150, tailLossProbe: false })
      const pair = new ConnectionPair(cfg, { congestionController: () => new FixedWindow(64 * maxPayloadFor(150)) })
      expect(pair.runUntil(() => pair.hasAcceptor && pair.b.isConfirmed)).to.equal(true)
      const N = 40_000
      const count = { sent: 0 }
      pair.drop = (from, p) => from === 'a' && p.type === PacketType.Data && ++count.sent === N
      const chunk = new Uint8Array(64 * 1024)
      expect(pair.runUntil(() => {
        if (pair.a.bufferedAmount < 2 * chunk.byteLength) {
          pair.a.write(pair.now, chunk)
        }
        pair.received.b.length = 0
        return count.sent >= N + 200
      })).to.equal(true)
      expect(pair.a.stats.fastRetransmits).to.equal(1)
      expect(pair.a.stats.windowCuts).to.equal(1)
    })
  })

  describe('resets', () => {
    it('takes an ST_RESET only if its ack_nr lies between the last acknowledged packet and the next', () => {
      const conn = connected(config())
      // idle: everything acknowledged up to local(0), the SYN; the next packet is local(1)
      for (const ackNr of [local(-1), local(-100), local(-4000), local(2)]) {
        send(conn, T1 + RTT, { ...PEER, type: PacketType.Reset, ackNr })
        expect(conn.state).to.equal(ConnState.Connected, `ack_nr local(${seqDiff(ackNr, LOCAL_SEQ)})`)
      }
      // what a peer resetting its side sends (its ack_nr) closes it
      send(conn, T1 + RTT, { ...PEER, type: PacketType.Reset, ackNr: local(0) })
      expect(drainEvents(conn)).to.deep.equal([{ type: 'closed', reason: 'reset' }])
    })

    it('takes an ST_RESET answering a packet still in flight', () => {
      const conn = connected(config({ tailLossProbe: false }))
      conn.write(T1, streamBytes(3, 3 * MSS))
      expect(dataOffsets(recvAll(conn, T1))).to.deep.equal([1, 2, 3])
      send(conn, T1 + RTT, { ...PEER, type: PacketType.Reset, ackNr: local(3) })
      expect(drainEvents(conn)).to.deep.equal([{ type: 'closed', reason: 'reset' }])
    })
  })

  describe('duplicate ACKs (RFC 5681)', () => {
    /** CONNECTED, the peer's window closed and one probe (local(1)) in flight */
    function probing (): { conn: Connection, t: number } {
      const conn = connected(config())
      const t = T1 + 1000
      send(conn, t, { ...PEER, wndSize: 0 })
      conn.write(t, streamBytes(2, 5 * MSS))
      expectNothing(conn, t)
      const probeAt = conn.pollTimeout() as number
      conn.handleTimeout(probeAt)
      expectTransmit(conn, probeAt, [{ type: PacketType.Data, seqNr: local(1) }])
      return { conn, t: probeAt + RTT }
    }

    it('does not count identical ACKs of a closed window as duplicates', () => {
      const { conn, t } = probing()
      for (let i = 0; i < 3; i++) {
        send(conn, t + i, { ...PEER, wndSize: 0 })
      }
      expectNothing(conn, t + 3)
      expect(conn.stats.fastRetransmits).to.equal(0)
      expect(conn.stats.windowCuts).to.equal(0)
    })

    it('does not count identical ACKs of a window too small for the oldest packet as duplicates', () => {
      const { conn, t } = probing()
      for (let i = 0; i < 3; i++) {
        send(conn, t + i, { ...PEER, wndSize: 100 })
      }
      expect(recvAll(conn, t + 3).filter(p => p.seqNr === local(1))).to.deep.equal([])
      expect(conn.stats.fastRetransmits).to.equal(0)
      expect(conn.stats.windowCuts).to.equal(0)
    })

    it('does not count ACKs that change the window as duplicates', () => {
      const conn = connected(config())
      conn.write(T1, streamBytes(4, 3 * MSS))
      expect(dataOffsets(recvAll(conn, T1), LOCAL_SEQ)).to.deep.equal([1, 2, 3])
      const t = T1 + RTT
      for (let i = 0; i < 3; i++) {
        send(conn, t, { ...PEER, wndSize: WINDOW - i * MSS })
      }
      expectNothing(conn, t)
      expect(conn.stats.fastRetransmits).to.equal(0)
    })

    it('probes a window that closes again from one RTO, not from where the last closed-window episode left off', () => {
      const conn = connected(config({ tailLossProbe: false }))
      /** The wait the engine arms after the first probe timeout of a closed-window episode */
      const episode = (t: number, seed: number): number => {
        conn.write(t, streamBytes(seed, MSS))
        expect(recvAll(conn, t).filter(p => p.type === PacketType.Data)).to.have.lengthOf(1)
        // the peer answers, its window closed on the packet in flight
        send(conn, t + RTT, { ...PEER, ackNr: seqAdd(conn.nextSeqNr, -2), wndSize: 0 })
        let at = conn.pollTimeout() as number
        conn.handleTimeout(at)
        recvAll(conn, at)
        const first = (conn.pollTimeout() as number) - at
        // probed three more times: the waits back off
        for (let i = 0; i < 3; i++) {
          send(conn, at + RTT, { ...PEER, ackNr: seqAdd(conn.nextSeqNr, -2), wndSize: 0 })
          at = conn.pollTimeout() as number
          conn.handleTimeout(at)
          recvAll(conn, at)
        }
        // then the window opens and the packet is acknowledged
        send(conn, at + RTT, { ...PEER, ackNr: seqAdd(conn.nextSeqNr, -1) })
        expect(conn.bufferedAmount).to.equal(0)
        return first
      }
      const rto = conn.retransmissionTimeout
      const firstEpisode = episode(T1, 1)
      expect(conn.retransmissionTimeout).to.equal(rto)
      const secondEpisode = episode(T1 + 60_000_000, 2)
      expect(secondEpisode).to.equal(firstEpisode)
    })

    it('neither fast-retransmits nor cuts the window while probing a receive window the reader keeps closed (pair)', () => {
      const pair = new ConnectionPair(config({ recvBufferSize: 64 * 1024 }), { autoRead: false, seed: 3 })
      expect(pair.runUntil(() => pair.hasAcceptor && pair.b.isConfirmed)).to.equal(true)
      pair.a.write(pair.now, new Uint8Array(1 << 20))
      pair.flush()
      // long enough for the probes to back off past twice the RTO
      pair.advanceTo(pair.now + 10_000_000)
      expect(pair.b.receiveWindow).to.equal(0)
      expect(pair.a.stats.timeouts).to.be.greaterThan(4)
      expect(pair.a.stats.fastRetransmits).to.equal(0)
      expect(pair.a.stats.windowCuts).to.equal(0)
    })
  })
})
