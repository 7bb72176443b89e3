/**
 * Regressions for suspected defects of the engine that a review could not confirm, each confirmed
 * by a scripted peer (packets built by hand against one connection) or a pair of connections.
 * Every test failed before its fix.
 */

import { expect } from 'aegir/chai'
import { resolveConnectionConfig } from '../../src/engine/config.ts'
import { FixedWindow } from '../../src/engine/congestion/fixed.ts'
import { ConnState, maxPayloadFor } from '../../src/engine/connection.ts'
import { connected, dataOffsets, local, MSS, PEER, RTT, T1, WINDOW } from './fixtures.ts'
import {
  ConnectionPair,
  expectNothing,
  readAll,
  recvAll,
  send,
  streamBytes
} from './helpers.ts'
import type { EventSummary } from './helpers.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'

function config (overrides: Partial<ConnectionConfig> = {}): Readonly<ConnectionConfig> {
  return resolveConnectionConfig({ pathMtuProbing: false, tailLossProbe: false, ...overrides })
}

function sawEnd (events: EventSummary[]): boolean {
  return events.some(e => e.type === 'end')
}

/** A fixed window that counts the cuts it was asked to undo */
class UndoCounter extends FixedWindow {
  undos = 0

  override undoLoss (): void {
    this.undos++
  }
}

describe('suspicion regressions', () => {
  describe('window probes', () => {
    it('sends nothing past the peer\'s window once a probe timer has fired with nothing to send', () => {
      const conn = connected(config())
      // the peer's window is closed: the write waits for a window probe
      let t = T1 + 1000
      send(conn, t, { ...PEER, wndSize: 0 })
      conn.write(t, streamBytes(1, 500))
      expectNothing(conn, t)
      const probeDue = t + conn.retransmissionTimeout

      // a small window update lets the write out; the ACK of it leaves a window too small to use
      t += 1000
      send(conn, t, { ...PEER, wndSize: 600 })
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1])
      t += RTT
      send(conn, t, { ...PEER, ackNr: local(1), wndSize: 100 })
      expectNothing(conn, t)

      // where the probe was due, nothing waits to be sent
      conn.handleTimeout(probeDue)
      expectNothing(conn, probeDue)

      // the window opens by one packet: one packet goes, not a second beyond the window
      t = probeDue + 1000
      send(conn, t, { ...PEER, ackNr: local(1), wndSize: MSS })
      conn.write(t, streamBytes(2, 3 * MSS))
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([2])
      expect(conn.flight).to.equal(MSS)
    })

    it('probes a window the peer closed on packets in flight with the oldest packet alone, every time', () => {
      const conn = connected(config())
      // a recovery first: local(1) is lost and resent, which leaves an allowance to resend past
      // the window unused
      conn.write(T1, streamBytes(3, 4 * MSS))
      expect(dataOffsets(recvAll(conn, T1))).to.deep.equal([1, 2, 3, 4])
      let t = T1 + RTT
      send(conn, t, { ...PEER, sack: new Uint8Array([0b111, 0, 0, 0]) })
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1])
      t += RTT
      send(conn, t, { ...PEER, ackNr: local(4) })
      expectNothing(conn, t)

      // three more packets: the peer takes the first and closes its window, the other two are
      // dropped (a receiver that shrank its window, or one that was overrun)
      conn.write(t, streamBytes(4, 3 * MSS))
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([5, 6, 7])
      t += RTT
      send(conn, t, { ...PEER, ackNr: local(5), wndSize: 0 })
      expectNothing(conn, t)

      // every retransmission timeout is a window probe: the oldest packet, alone, no window cut
      for (let i = 0; i < 3; i++) {
        const at = conn.pollTimeout() as number
        conn.handleTimeout(at)
        expect(dataOffsets(recvAll(conn, at)), `probe ${i}`).to.deep.equal([6])
        send(conn, at + RTT, { ...PEER, ackNr: local(5), wndSize: 0 })
        t = at + RTT
      }
      expect(conn.stats.windowCuts).to.equal(1)

      // the window opens: the rest goes
      t += 1000
      send(conn, t, { ...PEER, ackNr: local(5), wndSize: WINDOW })
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([7])
      send(conn, t + RTT, { ...PEER, ackNr: local(7) })
      expect(conn.bufferedAmount).to.equal(0)
    })
  })

  describe('loss recovery', () => {
    it('does not undo an old window cut for a spurious retransmission after the sequence numbers wrap', () => {
      const packetSize = 150
      const mss = maxPayloadFor(packetSize)
      const cc = new UndoCounter(WINDOW)
      const conn = connected(config({ packetSize, tailLossProbe: true }), { cc })

      // local(1) is lost and cuts the window; its retransmission arrives
      let t = T1 + 1000
      conn.write(t, new Uint8Array(4 * mss))
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1, 2, 3, 4])
      t += RTT
      send(conn, t, { ...PEER, sack: new Uint8Array([0b111, 0, 0, 0]) })
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1])
      t += RTT
      send(conn, t, { ...PEER, ackNr: local(4) })
      expect(conn.stats.windowCuts).to.equal(1)

      // the rest of the sequence space goes without loss, in batches
      for (let sent = 4; sent < 0x10000;) {
        const n = Math.min(2000, 0x10000 - sent)
        conn.write(t, new Uint8Array(n * mss))
        const batch = recvAll(conn, t)
        expect(batch).to.have.length(n)
        sent += n
        t += RTT
        send(conn, t, { ...PEER, ackNr: batch[n - 1].seqNr })
      }
      expect(conn.nextSeqNr).to.equal(local(1))

      // the next packet takes the seq_nr of the one that caused the cut; the tail loss probe resends
      // it and the ACK of the first transmission comes right after: spurious, but no cut to undo
      conn.write(t, new Uint8Array(mss))
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1])
      const probeAt = conn.pollTimeout() as number
      conn.handleTimeout(probeAt)
      expect(dataOffsets(recvAll(conn, probeAt))).to.deep.equal([1])
      send(conn, probeAt + 1000, { ...PEER, ackNr: local(1) })
      expect(conn.stats.spuriousRetransmits).to.equal(1)
      expect(cc.undos).to.equal(0)
      expect(conn.stats.windowCuts).to.equal(1)
    })

    it('does not give up on retransmission timeouts that ACKs of new data separate', () => {
      const conn = connected(config({ maxRetransmits: 3, keepAliveInterval: 0 }))
      conn.write(T1, streamBytes(5, 8 * MSS))
      expect(dataOffsets(recvAll(conn, T1))).to.have.length(8)

      // heavy loss: every timeout resends what is in flight and only the oldest gets through; its
      // ACK moves una on, but gives no RTT sample (it was retransmitted)
      for (let i = 1; i <= 6; i++) {
        const at = conn.pollTimeout() as number
        conn.handleTimeout(at)
        const resent = dataOffsets(recvAll(conn, at))
        expect(resent[0], `timeout ${i}`).to.equal(i)
        send(conn, at + RTT, { ...PEER, ackNr: local(i) })
        expect(conn.state, `timeout ${i}`).to.equal(ConnState.Connected)
      }
      expect(conn.stats.timeouts).to.equal(6)

      // the loss ends
      const t = conn.pollTimeout() as number
      conn.handleTimeout(t)
      expect(dataOffsets(recvAll(conn, t))).to.deep.equal([7, 8])
      send(conn, t + RTT, { ...PEER, ackNr: local(8) })
      expect(conn.bufferedAmount).to.equal(0)
      expect(conn.reason).to.equal(undefined)
    })
  })

  describe('teardown', () => {
    it('keeps a fully received stream readable when the connection times out after the peer\'s FIN (pair)', () => {
      const pair = new ConnectionPair(config(), { autoRead: false, seed: 7 })
      expect(pair.runUntil(() => pair.hasAcceptor && pair.b.isConfirmed)).to.equal(true)
      const data = streamBytes(6, 100_000)
      pair.b.write(pair.now, data)
      pair.b.end(pair.now)
      expect(pair.runUntil(() => sawEnd(pair.events.a) && pair.b.bufferedAmount === 0)).to.equal(true)
      expect(pair.a.readableLength).to.equal(data.byteLength)

      // the peer vanishes while the reader is slow, and we still had something to say
      pair.drop = () => true
      pair.a.write(pair.now, streamBytes(7, 1000))
      expect(pair.runUntil(() => pair.a.reason != null)).to.equal(true)
      expect(pair.a.reason).to.equal('timed-out')
      expect(readAll(pair.a, pair.now)).to.deep.equal(data)
    })
  })
})
