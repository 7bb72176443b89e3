/**
 * LEDBAT with a peer that never reports a delay (timestamp_difference always 0, as some uTP
 * implementations and middleboxes send): the controller has only losses to go by and must act
 * as a loss-based one, while its behaviour with delay samples stays as it was.
 */

import { expect } from 'aegir/chai'
import { Ledbat } from '../../src/engine/congestion/ledbat.ts'

const MSS = 1000
const RTT = 50_000
const TARGET = 100_000

function ledbat (): Ledbat {
  return new Ledbat({ mss: MSS, targetDelay: TARGET, gain: 1, maxWindow: 1000 * MSS })
}

/**
 * One round trip of a window-limited sender: the window that was open at its start is acked,
 * one packet per ACK, each carrying `delaySample` (undefined: the peer sent 0)
 */
function roundTrip (cc: Ledbat, now: number, delaySample?: number): number {
  const window = cc.window
  for (let acked = 0; acked < window; acked += MSS) {
    cc.onAck(now, { bytesAcked: MSS, delaySample, reverseDelaySample: undefined, rtt: RTT, cwndLimited: true })
  }
  return now + RTT
}

/** Slow start, without delay samples, until the window holds at least `packets` */
function growTo (cc: Ledbat, packets: number): number {
  let now = 1_000_000
  while (cc.window < packets * MSS) {
    now = roundTrip(cc, now)
  }
  return now
}

describe('LEDBAT without delay samples', () => {
  it('halves the window on a loss: an unknown queue is not an empty one', () => {
    const cc = ledbat()
    const now = growTo(cc, 32)
    const before = cc.window
    cc.onLoss(now)
    expect(cc.window).to.equal(before / 2)
    expect(cc.inSlowStart).to.equal(false)
  })

  it('grows again after a loss, by about one packet per round trip', () => {
    const cc = ledbat()
    let now = growTo(cc, 32)
    cc.onLoss(now)
    const afterLoss = cc.window
    const rounds = 10
    for (let i = 0; i < rounds; i++) {
      now = roundTrip(cc, now)
    }
    // additive increase at gain 1: one packet per round trip, give or take the per-ACK rounding
    expect(cc.window - afterLoss).to.be.within((rounds - 1) * MSS, (rounds + 1) * MSS)
    expect(cc.inSlowStart).to.equal(false)
  })

  it('does not grow when the sender is not limited by the window', () => {
    const cc = ledbat()
    const now = growTo(cc, 32)
    cc.onLoss(now)
    const afterLoss = cc.window
    cc.onAck(now, { bytesAcked: 10 * MSS, delaySample: undefined, reverseDelaySample: undefined, rtt: RTT, cwndLimited: false })
    expect(cc.window).to.equal(afterLoss)
  })

  it('ends slow start at ssthresh after a timeout', () => {
    const cc = ledbat()
    let now = growTo(cc, 64)
    const timedOut = cc.window
    cc.onTimeout(now)
    expect(cc.window).to.equal(MSS)
    expect(cc.inSlowStart).to.equal(true)
    const ssthresh = timedOut / 2
    // 1, 2, 4, ... packets: log2(ssthresh / MSS) round trips reach ssthresh; eight more would take
    // an unchecked slow start 256 times past it
    const rounds = Math.ceil(Math.log2(ssthresh / MSS)) + 8
    for (let i = 0; i < rounds; i++) {
      now = roundTrip(cc, now)
    }
    expect(cc.inSlowStart).to.equal(false)
    expect(cc.window).to.be.within(ssthresh, ssthresh + 9 * MSS)
  })

  it('still undoes a spurious cut to the window before it', () => {
    const cc = ledbat()
    const now = growTo(cc, 32)
    const before = cc.window
    cc.onLoss(now)
    cc.undoLoss(now)
    expect(cc.window).to.equal(before)
    expect(cc.inSlowStart).to.equal(true)
  })
})

describe('LEDBAT with delay samples (unchanged)', () => {
  it('cuts gently on a loss at an empty queue', () => {
    const cc = ledbat()
    let now = 1_000_000
    while (cc.window < 32 * MSS) {
      now = roundTrip(cc, now, 20_000)
    }
    const before = cc.window
    cc.onLoss(now)
    expect(cc.window).to.equal(before * 0.9)
  })

  it('halves on a loss with the queue at the target', () => {
    const cc = ledbat()
    let now = 1_000_000
    while (cc.window < 32 * MSS) {
      now = roundTrip(cc, now, 20_000)
    }
    // enough samples to fill the current-delay filter with a queue right at the target
    for (let i = 0; i < 4; i++) {
      cc.onAck(now, { bytesAcked: MSS, delaySample: 20_000 + TARGET, reverseDelaySample: undefined, rtt: 4 * TARGET, cwndLimited: true })
    }
    expect(cc.queuingDelay).to.equal(TARGET)
    const before = cc.window
    cc.onLoss(now)
    expect(cc.window).to.equal(before / 2)
  })
})
