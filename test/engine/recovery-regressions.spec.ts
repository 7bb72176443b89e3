/**
 * Regressions for two suspected defects of loss recovery, each confirmed by a scripted peer
 * (packets built by hand against one connection, on the fake clock). Every test failed before
 * its fix.
 */

import { expect } from 'aegir/chai'
import { resolveConnectionConfig } from '../../src/engine/config.ts'
import { connected, dataOffsets, local, MSS, PEER, RTT, T1 } from './fixtures.ts'
import { recvAll, send, streamBytes } from './helpers.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'
import type { CongestionController } from '../../src/engine/congestion/controller.ts'
import type { Instant } from '../../src/engine/time.ts'

function config (overrides: Partial<ConnectionConfig> = {}): Readonly<ConnectionConfig> {
  return resolveConnectionConfig({ pathMtuProbing: false, tailLossProbe: false, ...overrides })
}

/**
 * Reno's moves on a window counted in packets, and nothing else: a loss halves the window, a
 * timeout leaves one packet, an undo restores the window the cut started from. ACKs do not grow
 * it, so every window a test sees is one these moves made.
 */
class RenoMoves implements CongestionController {
  readonly inSlowStart = false
  readonly queuingDelay = 0
  window: number
  undos = 0
  private beforeCut = 0

  constructor (packets: number) {
    this.window = packets * MSS
  }

  onAck (): void {}

  onLoss (): void {
    this.beforeCut = this.window
    this.window = Math.max(2 * MSS, this.window / 2)
  }

  undoLoss (): void {
    this.undos++
    this.window = Math.max(this.window, this.beforeCut)
  }

  onTimeout (): void {
    this.window = MSS
  }

  setMss (): void {}
}

/** Fires the retransmission timer, which must be the next timer due */
function timeout (conn: ReturnType<typeof connected>, at: Instant): void {
  expect(conn.pollTimeout()).to.equal(at)
  const before = conn.stats.timeouts
  conn.handleTimeout(at)
  expect(conn.stats.timeouts).to.equal(before + 1)
}

/**
 * Four packets out at `t`, then a SACK of the last three: local(1) goes out again as a fast
 * retransmission and the window is cut to four packets. Returns the time of that SACK.
 */
function fastRetransmitOfFirst (conn: ReturnType<typeof connected>, cc: RenoMoves, t: Instant, seed: number): Instant {
  conn.write(t, streamBytes(seed, 4 * MSS))
  expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1, 2, 3, 4])
  t += RTT
  send(conn, t, { ...PEER, sack: new Uint8Array([0b111, 0, 0, 0]) })
  expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1])
  expect(cc.window).to.equal(4 * MSS)
  return t
}

describe('loss recovery regressions', () => {
  it('sends one packet after a timeout, whatever allowance an earlier recovery left unused', () => {
    const cc = new RenoMoves(8)
    const conn = connected(config(), { cc })

    // local(1) is lost; the halved window has room for its retransmission, so the allowance to
    // resend past the window that the loss granted goes unused
    let t = T1 + 1000
    t = fastRetransmitOfFirst(conn, cc, t, 1)
    t += RTT
    send(conn, t, { ...PEER, ackNr: local(4) })
    expect(conn.bufferedAmount).to.equal(0)

    // a window's worth later, nothing comes back: the timeout leaves a window of one packet
    conn.write(t, streamBytes(2, 4 * MSS))
    expect(dataOffsets(recvAll(conn, t))).to.deep.equal([5, 6, 7, 8])
    const at = t + conn.retransmissionTimeout
    timeout(conn, at)
    expect(cc.window).to.equal(MSS)
    expect(dataOffsets(recvAll(conn, at))).to.deep.equal([5])
    expect(conn.flight).to.equal(MSS)
  })

  it('does not undo a fast retransmit\'s cut for an ACK that may answer that very retransmission, after a timeout resent the packet', () => {
    const cc = new RenoMoves(8)
    const conn = connected(config(), { cc })

    // local(1) is lost: fast retransmit, the window is halved
    let t = T1 + 1000
    conn.write(t, streamBytes(3, 4 * MSS))
    expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1, 2, 3, 4])
    const at = t + conn.retransmissionTimeout
    t += RTT
    send(conn, t, { ...PEER, sack: new Uint8Array([0b111, 0, 0, 0]) })
    expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1])
    expect(conn.stats.windowCuts).to.equal(1)

    // its retransmission is not acknowledged in time: the timeout sends it a third time
    timeout(conn, at)
    expect(dataOffsets(recvAll(conn, at))).to.deep.equal([1])
    expect(cc.window).to.equal(MSS)

    // an ACK right after is too soon for the third transmission: it answers the original or the
    // fast retransmission, and nothing tells which. If the fast retransmission, the loss was real
    send(conn, at + 1000, { ...PEER, ackNr: local(4) })
    expect(conn.bufferedAmount).to.equal(0)
    expect(conn.stats.spuriousRetransmits).to.equal(1)
    expect(cc.undos).to.equal(0)
    expect(cc.window).to.equal(MSS)
    expect(conn.stats.windowCuts).to.equal(2)
  })

  it('does not undo a fast retransmit\'s cut for an ACK that may answer that very retransmission, after a tail loss probe resent the packet', () => {
    const cc = new RenoMoves(8)
    const conn = connected(config({ tailLossProbe: true }), { cc })

    // local(1) is lost: fast retransmit, the window is halved
    let t = T1 + 1000
    t = fastRetransmitOfFirst(conn, cc, t, 5)

    // no answer for two RTTs: the tail loss probe sends it a third time
    t = conn.pollTimeout() as number
    conn.handleTimeout(t)
    expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1])
    expect(conn.stats.tailProbes).to.equal(1)

    // an ACK right after answers the original or the fast retransmission, and nothing tells which
    send(conn, t + 1000, { ...PEER, ackNr: local(4) })
    expect(conn.bufferedAmount).to.equal(0)
    expect(conn.stats.spuriousRetransmits).to.equal(1)
    expect(cc.undos).to.equal(0)
    expect(cc.window).to.equal(4 * MSS)
  })

  it('still undoes a fast retransmit\'s cut when the ACK can only answer the original', () => {
    const cc = new RenoMoves(8)
    const conn = connected(config(), { cc })

    let t = T1 + 1000
    t = fastRetransmitOfFirst(conn, cc, t, 6)

    // local(1) was only late: its ACK comes sooner than any round trip after the retransmission
    send(conn, t + 1000, { ...PEER, ackNr: local(4) })
    expect(conn.stats.spuriousRetransmits).to.equal(1)
    expect(cc.undos).to.equal(1)
    expect(cc.window).to.equal(8 * MSS)
    expect(conn.stats.windowCuts).to.equal(0)
  })

  it('does not undo a cut made before a timeout when another packet proves it spurious: the timeout stands', () => {
    const cc = new RenoMoves(8)
    const conn = connected(config({ tailLossProbe: true }), { cc })

    // six packets; nothing comes back, and the tail loss probe resends local(1), without a cut
    let t = T1 + 1000
    conn.write(t, streamBytes(4, 6 * MSS))
    expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1, 2, 3, 4, 5, 6])
    const at = t + conn.retransmissionTimeout
    t = conn.pollTimeout() as number
    expect(t).to.be.below(at)
    conn.handleTimeout(t)
    expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1])
    expect(conn.stats.tailProbes).to.equal(1)

    // late ACKs (a delay spike) report local(3..5) just before the timeout: local(2) was sent
    // three packets before the newest acknowledged one, and is presumed lost. local(1), resent
    // since, is not. The cut is for local(2)
    t = at - 5000
    send(conn, t, { ...PEER, sack: new Uint8Array([0b1110, 0, 0, 0]) })
    expect(dataOffsets(recvAll(conn, t))).to.deep.equal([2])
    expect(conn.stats.windowCuts).to.equal(1)

    // local(1) still has no answer: a real timeout, one packet of window
    timeout(conn, at)
    expect(dataOffsets(recvAll(conn, at))[0]).to.equal(1)
    expect(cc.window).to.equal(MSS)

    // the original local(2) arrives, too soon after its retransmission to be that: the fast
    // retransmit was spurious, but local(1) is still missing and the timeout's window stands
    send(conn, at + 1000, { ...PEER, sack: new Uint8Array([0b1111, 0, 0, 0]) })
    expect(conn.stats.spuriousRetransmits).to.equal(1)
    expect(cc.undos).to.equal(0)
    expect(cc.window).to.equal(MSS)
  })

  it('takes no selective marks from an ACK behind the cumulative point: no resend per stale ACK', () => {
    // one corrupted (or forged) ack_nr moved una past a packet the peer never got; its later ACKs,
    // all behind una, carry a mask read against their own ack_nr that covers una. Each resent una
    // at once, the duplicate drew an immediate ACK, and so on: 150 packets a second each way,
    // unpaced, until the connection timed out (found by fuzzing, helper 59)
    const conn = connected(config())
    let t = T1
    conn.write(t, streamBytes(7, 4 * MSS))
    expect(dataOffsets(recvAll(conn, t))).to.deep.equal([1, 2, 3, 4])
    t += RTT
    send(conn, t, { ...PEER, ackNr: local(2) })
    for (let i = 0; i < 5; i++) {
      t += RTT
      // behind una (local(3)); bit 0 names ack_nr + 2 = local(3)
      send(conn, t, { ...PEER, ackNr: local(1), sack: new Uint8Array([0b1, 0, 0, 0]) })
      expect(dataOffsets(recvAll(conn, t)), `stale ACK ${i}`).to.deep.equal([])
    }
  })
})
