/**
 * Acceptance point "Teardown": FIN exchange under loss, half-close, idle timeout, keep-alive and
 * resets, between uTP endpoints on the simulated network. Every scenario has an explicit seed
 * (quoted in every assertion message), checks the bytes that arrive, and checks that both
 * endpoints forget everything once the connections are over.
 */

import { expect } from 'aegir/chai'
import { ConnState } from '../../src/engine/connection.ts'
import { PacketType } from '../../src/engine/packet.ts'
import { ByteStream } from './utp-host.ts'
import { A, B, bulk, DELAY, dump, expectClosed, expectDelivered, expectForgotten, MS, RTT, S, sent, world as simWorld } from './world.ts'
import type { SimAddress } from './network.ts'
import type { Transfer, TransferInit, UtpHost } from './utp-host.ts'
import type { Wire, World, WorldInit } from './world.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'

/** The teardown world: failure dumps leave the data out, the control packets are what matter */
function world (seed: number, init: WorldInit = {}): World {
  return simWorld(seed, { ...init, dumpData: false })
}

/** What arrived is a prefix of the stream, with nothing repeated (for connections cut short) */
function expectPrefix (w: World, t: Transfer, size: number, side: string): void {
  expect(t.corruptAt, w.msg(`${side}: received stream differs at byte ${String(t.corruptAt)}`)).to.equal(undefined)
  expect(t.received, w.msg(`${side}: bytes received`)).to.be.at.most(size)
}

/** The first ST_FIN `from` sent, dropped or not */
function finOf (w: World, from: SimAddress): Wire | undefined {
  return w.wire.find(e => e.from === from.host && e.p.type === PacketType.Fin)
}

/** An ST_STATE from the other side acknowledging `from`'s FIN */
function isFinAck (w: World, e: Wire, from: SimAddress): boolean {
  const fin = finOf(w, from)
  return fin != null && e.from !== from.host && e.p.type === PacketType.State && e.p.ackNr === fin.p.seqNr
}

/** Dials A to B with transfers on both sides; B's transfer shows up once B accepts */
function start (w: World, aInit: TransferInit): { ta: Transfer, tb(): Transfer | undefined } {
  const ta = w.a.dial(w.net.now, B, aInit)
  return { ta, tb: () => w.b.transfers[0] }
}

/** Aborts a connection from the application, as the socket layer would */
function resetFrom (host: UtpHost, t: Transfer, now: number): void {
  t.entry.connection.reset(now)
  host.endpoint.wake(t.entry)
  host.process(now)
}

/** Ends a side from the application, as the socket layer would */
function endFrom (host: UtpHost, t: Transfer, now: number): void {
  t.entry.connection.end(now)
  host.endpoint.wake(t.entry)
}

const LOSSES = ['nothing', 'FIN', 'ACK of FIN', 'FIN and its ACK'] as const
type Loss = typeof LOSSES[number]

describe('sim/teardown', function () {
  describe('FIN exchange with the first transmission of FINs and their ACKs lost', () => {
    const A_SENDS = 40_000
    const B_SENDS = 30_000
    /** bound on the time from the last data byte delivered to both sides closed */
    const CLOSE_BOUND = 15 * S

    for (let i = 0; i < LOSSES.length; i++) {
      for (let j = 0; j < LOSSES.length; j++) {
        const lossA: Loss = LOSSES[i]
        const lossB: Loss = LOSSES[j]
        it(`A loses ${lossA}, B loses ${lossB}`, () => {
          const seed = 2000 + i * 4 + j
          const { aInit, bInit } = bulk(seed, A_SENDS, B_SENDS)
          const w = world(seed, { onIncoming: () => bInit })
          const wanted = {
            finA: lossA === 'FIN' || lossA === 'FIN and its ACK' ? 1 : 0,
            ackA: lossA === 'ACK of FIN' || lossA === 'FIN and its ACK' ? 1 : 0,
            finB: lossB === 'FIN' || lossB === 'FIN and its ACK' ? 1 : 0,
            ackB: lossB === 'ACK of FIN' || lossB === 'FIN and its ACK' ? 1 : 0
          }
          const dropped = { finA: 0, ackA: 0, finB: 0, ackB: 0 }
          const matchers: Record<keyof typeof dropped, (e: Wire) => boolean> = {
            finA: e => e.from === A.host && e.p.type === PacketType.Fin,
            ackA: e => isFinAck(w, e, A),
            finB: e => e.from === B.host && e.p.type === PacketType.Fin,
            ackB: e => isFinAck(w, e, B)
          }
          w.drop = (e) => {
            for (const key of Object.keys(matchers) as Array<keyof typeof dropped>) {
              if (dropped[key] < wanted[key] && matchers[key](e)) {
                dropped[key]++
                return true
              }
            }
            return false
          }
          const { ta, tb } = start(w, aInit)
          w.net.runUntil(() => ta.received === B_SENDS && tb()?.received === A_SENDS, w.net.now + 30 * S)
          expect(ta.received + (tb()?.received ?? 0), w.msg(`all data delivered${dump(w)}`)).to.equal(A_SENDS + B_SENDS)
          const dataDone = w.net.now

          w.net.runUntil(() => ta.done && tb()?.done === true, dataDone + CLOSE_BOUND)
          expect(dropped, w.msg(`the datagrams meant to be lost were${dump(w)}`)).to.deep.equal(wanted)
          expectClosed(w, ta, 'closed', 'A')
          expectClosed(w, tb(), 'closed', 'B')
          expect(Math.max(ta.closed?.at ?? Infinity, tb()?.closed?.at ?? Infinity) - dataDone, w.msg('close time after the last data')).to.be.at.most(CLOSE_BOUND)
          expectDelivered(w, ta, B_SENDS, 'A')
          expectDelivered(w, tb() as Transfer, A_SENDS, 'B')
          expect(sent(w, A, PacketType.Reset).length + sent(w, B, PacketType.Reset).length, w.msg(`no ST_RESET in a graceful close${dump(w)}`)).to.equal(0)
          expectForgotten(w)
        })
      }
    }
  })

  it('half-close: the side that did not end keeps sending, then ends too', () => {
    const seed = 2101
    const aInit: TransferInit = { send: 10_000, sendSeed: seed + 1, recvSeed: seed + 2 }
    const bInit: TransferInit = { send: 0, sendSeed: seed + 2, recvSeed: seed + 1, endWhenDone: false }
    const w = world(seed, { onIncoming: () => bInit })
    const { ta, tb } = start(w, aInit)
    // A's data and FIN arrive, and B acknowledges the FIN
    w.net.runUntil(() => tb()?.remoteEnded === true && w.wire.some(e => isFinAck(w, e, A)), w.net.now + 10 * S)
    w.net.runTo(w.net.now + 2 * S)
    const b = tb() as Transfer
    expect(b.remoteEnded, w.msg('B saw the end of A\'s stream')).to.equal(true)
    expectDelivered(w, b, 10_000, 'B')
    expect(ta.done, w.msg('A is still open after ending its side')).to.equal(false)
    expect(b.done, w.msg('B is still open')).to.equal(false)
    expect(ta.entry.connection.state, w.msg('A is in FIN_SENT')).to.equal(ConnState.FinSent)
    expect(b.entry.connection.isWritable, w.msg('B may still write')).to.equal(true)

    // B sends its stream now, long after A ended, then ends
    const halfClosedAt = w.net.now
    const conn = b.entry.connection
    conn.write(w.net.now, new ByteStream(seed + 2).next(200_000))
    endFrom(w.b, b, w.net.now)
    w.net.runUntil(() => ta.done && b.done, w.net.now + 30 * S)
    expectClosed(w, ta, 'closed', 'A')
    expectClosed(w, b, 'closed', 'B')
    expectDelivered(w, ta, 200_000, 'A')
    const finA = finOf(w, A)
    expect(w.wire.filter(e => e.from === A.host && e.t > (finA?.t ?? 0) && (e.p.type === PacketType.Data)).length,
      w.msg('A sends no data after its FIN')).to.equal(0)
    expect(w.wire.filter(e => e.from === B.host && e.t >= halfClosedAt && e.p.type === PacketType.Data).length,
      w.msg('B sends its data after the half-close')).to.be.greaterThan(100)
    expectForgotten(w)
  })

  it('closes with timed-out about idleTimeout after the last packet received', () => {
    const seed = 2201
    const config = { idleTimeout: 5 * S, keepAliveInterval: 0 }
    const { aInit, bInit } = bulk(seed, 5_000, 5_000, false)
    const w = world(seed, { config, onIncoming: () => bInit })
    const { ta, tb } = start(w, aInit)
    w.net.runUntil(() => ta.received === 5_000 && tb()?.received === 5_000, w.net.now + 10 * S)
    // quiet for a second, then the link loses everything
    w.net.runTo(w.net.now + S)
    const quietAt = w.net.now
    expect(w.wire.filter(e => e.t > quietAt - S + 10 * MS).length, w.msg('the connection is quiet')).to.equal(0)
    expect(ta.done || tb()?.done, w.msg('still open while quiet')).to.equal(false)
    w.drop = () => true
    w.net.runUntil(() => ta.done && tb()?.done === true, quietAt + 30 * S)
    expectClosed(w, ta, 'timed-out', 'A')
    expectClosed(w, tb(), 'timed-out', 'B')
    for (const [name, t, from] of [['A', ta, B], ['B', tb() as Transfer, A]] as const) {
      const last = w.wire.filter(e => e.from === from.host && !e.dropped).at(-1) as Wire
      const lastReceived = last.t + DELAY
      expect((t.closed?.at ?? Infinity) - lastReceived, w.msg(`${name} closes idleTimeout after its last packet received`)).to.be.within(5 * S, 5 * S + MS)
    }
    expectDelivered(w, ta, 5_000, 'A')
    expectDelivered(w, tb() as Transfer, 5_000, 'B')
    expectForgotten(w)
  })

  describe('keep-alive', () => {
    it('keeps an idle connection open beyond the idle timeout', () => {
      const seed = 2301
      const config = { idleTimeout: 5 * S, keepAliveInterval: S }
      const { aInit, bInit } = bulk(seed, 0, 0, false)
      const w = world(seed, { config, onIncoming: () => bInit })
      const { ta, tb } = start(w, aInit)
      const t0 = w.net.now
      w.net.runTo(t0 + 30 * S)
      expect(ta.connected, w.msg('A connected')).to.equal(true)
      expect(ta.done, w.msg(`A still open after 30 s (${ta.closed?.reason ?? ''})`)).to.equal(false)
      expect(tb()?.done, w.msg(`B still open after 30 s (${tb()?.closed?.reason ?? ''})`)).to.equal(false)
      expect(w.b.endpoint.halfOpen, w.msg('the keep-alive confirmed the handshake')).to.equal(0)
      for (const [name, from] of [['A', A], ['B', B]] as const) {
        const keepAlives = w.wire.filter(e => e.from === from.host && e.p.type === PacketType.State && e.t > t0 + 2 * S)
        expect(keepAlives.length, w.msg(`${name} sends a keep-alive about every second`)).to.be.within(25, 30)
      }

      // then a graceful close
      const b = tb() as Transfer
      endFrom(w.a, ta, w.net.now)
      endFrom(w.b, b, w.net.now)
      w.net.runUntil(() => ta.done && b.done, w.net.now + 15 * S)
      expectClosed(w, ta, 'closed', 'A')
      expectClosed(w, b, 'closed', 'B')
      expectDelivered(w, ta, 0, 'A')
      expectDelivered(w, b, 0, 'B')
      expectForgotten(w)
    })

    it('without keep-alive the same idle connection times out', () => {
      const seed = 2302
      const config = { idleTimeout: 5 * S, keepAliveInterval: 0 }
      const { aInit, bInit } = bulk(seed, 0, 0, false)
      const w = world(seed, { config, onIncoming: () => bInit })
      const { ta, tb } = start(w, aInit)
      const t0 = w.net.now
      w.net.runUntil(() => ta.done && tb()?.done === true, t0 + 30 * S)
      expectClosed(w, ta, 'timed-out', 'A')
      expectClosed(w, tb(), 'timed-out', 'B')
      // the acceptor last heard the initiator's ACK of the SYN-ACK (which announces path MTU
      // probing), the initiator the acceptor's answer to that announcement, one RTT later
      expect((tb()?.closed?.at ?? Infinity) - t0, w.msg('B closes idleTimeout after the ACK of its SYN-ACK')).to.be.within(5 * S + RTT + DELAY, 5 * S + RTT + DELAY + MS)
      expect((ta.closed?.at ?? Infinity) - t0, w.msg('A closes idleTimeout after the answer to its announcement')).to.be.within(5 * S + 2 * RTT, 5 * S + 2 * RTT + MS)
      expectForgotten(w)
    })
  })

  describe('reset', () => {
    for (const resetter of ['A', 'B'] as const) {
      it(`surfaces an ST_RESET from ${resetter} as 'reset' at the peer, 'aborted' at ${resetter}`, () => {
        const seed = resetter === 'A' ? 2401 : 2402
        const { aInit, bInit } = bulk(seed, 500_000, 500_000)
        const w = world(seed, { onIncoming: () => bInit })
        const { ta, tb } = start(w, aInit)
        const resetAt = w.net.now + 300 * MS
        w.net.runTo(resetAt)
        const b = tb() as Transfer
        expect(ta.received < 500_000 && b.received < 500_000, w.msg('the reset comes mid-transfer')).to.equal(true)
        const [host, mine, peer] = resetter === 'A' ? [w.a, ta, b] : [w.b, b, ta]
        resetFrom(host, mine, w.net.now)
        w.net.runUntil(() => ta.done && b.done, resetAt + 10 * S)
        expectClosed(w, mine, 'aborted', resetter)
        expectClosed(w, peer, 'reset', resetter === 'A' ? 'B' : 'A')
        expect(mine.closed?.at, w.msg('the resetting side closes at once')).to.equal(resetAt)
        expect(peer.closed?.at, w.msg('the peer closes when the ST_RESET arrives')).to.be.within(resetAt + DELAY, resetAt + DELAY + MS)
        expect(sent(w, resetter === 'A' ? A : B, PacketType.Reset).length, w.msg('one ST_RESET from the resetting side')).to.be.at.least(1)
        expectPrefix(w, ta, 500_000, 'A')
        expectPrefix(w, b, 500_000, 'B')
        expectForgotten(w)
      })
    }

    const lostRstCases: Array<{ name: string, seed: number, config: Partial<ConnectionConfig>, sending: boolean, reasons: string[], bound: number }> = [
      // B's next data packet reaches an endpoint that forgot the connection: it answers ST_RESET
      { name: 'while the peer is sending', seed: 2501, config: {}, sending: true, reasons: ['reset'], bound: 2 * S },
      // B's next keep-alive (15 s by default) gets the ST_RESET answer
      { name: 'while the peer is idle, keep-alive on', seed: 2502, config: {}, sending: false, reasons: ['reset'], bound: 15 * S + RTT + MS },
      // B hears nothing and gives up after idleTimeout
      { name: 'while the peer is idle, keep-alive off', seed: 2503, config: { idleTimeout: 5 * S, keepAliveInterval: 0 }, sending: false, reasons: ['timed-out'], bound: 5 * S + MS }
    ]
    for (const c of lostRstCases) {
      it(`the peer still closes when the ST_RESET is lost, ${c.name}`, () => {
        const seed = c.seed
        const { aInit, bInit } = c.sending ? bulk(seed, 0, 2_000_000) : bulk(seed, 1_000, 1_000, false)
        const w = world(seed, { config: c.config, onIncoming: () => bInit })
        const { ta, tb } = start(w, aInit)
        if (c.sending) {
          w.net.runUntil(() => ta.received > 200_000, w.net.now + 10 * S)
        } else {
          w.net.runUntil(() => tb()?.received === 1_000 && ta.received === 1_000, w.net.now + 10 * S)
          w.net.runTo(w.net.now + 200 * MS)
        }
        const b = tb() as Transfer
        expect(b.done || ta.done, w.msg('open before the reset')).to.equal(false)
        const resetAt = w.net.now
        let rstDropped = 0
        w.drop = (e) => {
          if (e.from === A.host && e.p.type === PacketType.Reset && rstDropped === 0) {
            rstDropped++
            return true
          }
          return false
        }
        resetFrom(w.a, ta, resetAt)
        w.net.runUntil(() => b.done, resetAt + 60 * S)
        expect(rstDropped, w.msg('A\'s ST_RESET was lost')).to.equal(1)
        expectClosed(w, ta, 'aborted', 'A')
        expect(b.closed?.reason, w.msg(`B closes (${b.closed?.message ?? 'still open'})${dump(w)}`)).to.be.oneOf(c.reasons)
        expect((b.closed?.at ?? Infinity) - resetAt, w.msg('B closes within the bound')).to.be.at.most(c.bound)
        expectPrefix(w, ta, c.sending ? 2_000_000 : 1_000, 'A')
        expectPrefix(w, b, c.sending ? 0 : 1_000, 'B')
        expectForgotten(w)
      })
    }
  })
})
