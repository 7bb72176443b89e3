/**
 * Acceptance: 4 MiB in both directions at once, byte-exact, over at least 20 seeds for each kind
 * of network misbehaviour.
 */

import { expect } from 'aegir/chai'
import { describeOutcome, runTransfer } from './scenario.ts'
import type { LinkConfig } from './network.ts'

const MiB = 1024 * 1024
const SIZE = 4 * MiB
const SEEDS = 20
/** one-way delay of every scenario: RTT 40 ms */
const DELAY = 20_000
const BASE: LinkConfig = { delayUs: DELAY, rateBps: 100e6, queueBytes: 1_000_000 }
const BURST = { enterRate: 0.01, exitRate: 0.25, maxDurationUs: 200_000 }

const SCENARIOS: Array<[string, LinkConfig]> = [
  ['clean link', {}],
  ['1 % random loss', { lossRate: 0.01 }],
  ['5 % random loss', { lossRate: 0.05 }],
  ['20 % random loss', { lossRate: 0.2 }],
  ['burst loss', { burstLoss: BURST }],
  ['10 % reordering', { reorderRate: 0.1 }],
  ['5 % duplication', { duplicateRate: 0.05 }],
  ['jitter of half the RTT', { jitterUs: DELAY }],
  ['all of these combined', { lossRate: 0.05, burstLoss: BURST, reorderRate: 0.1, duplicateRate: 0.05, jitterUs: DELAY }]
]

describe('transfers under network misbehaviour', () => {
  for (const [name, link] of SCENARIOS) {
    it(`4 MiB each way, byte-exact: ${name} (${SEEDS} seeds)`, () => {
      const durations: number[] = []
      for (let seed = 1; seed <= SEEDS; seed++) {
        const o = runTransfer({ seed, forward: { ...BASE, ...link }, aSends: SIZE, bSends: SIZE })
        const why = `${name} seed=${seed} ${describeOutcome(o)}`
        expect(o.completed, why).to.equal(true)
        expect(o.a.received, why).to.equal(SIZE)
        expect(o.b?.received, why).to.equal(SIZE)
        expect(o.a.corruptAt, why).to.equal(undefined)
        expect(o.b?.corruptAt, why).to.equal(undefined)
        expect(o.a.closed?.reason, why).to.equal('closed')
        expect(o.b?.closed?.reason, why).to.equal('closed')
        durations.push(o.durationUs)
      }
      durations.sort((x, y) => x - y)
      const median = durations[durations.length >> 1] / 1e6
      // goodput both ways together, from the median completion time
      process.stdout.write(`      ${name}: median ${median.toFixed(2)} s, ${(2 * SIZE / median / 1e6).toFixed(2)} MB/s both ways (max ${(durations[durations.length - 1] / 1e6).toFixed(2)} s)\n`)
    })
  }
})

describe('sequence number wrap', () => {
  it('moves more than 70,000 packets each way starting just below 65,535 on both sides', () => {
    // 0xfff0 for both connection ids and initial sequence numbers
    const randomBytes = (buf: Uint8Array): void => {
      for (let i = 0; i < buf.length; i += 2) {
        buf[i] = 0xff
        if (i + 1 < buf.length) {
          buf[i + 1] = 0xf0
        }
      }
    }
    const packetSize = 200
    const payload = packetSize - 26
    const size = 72_000 * payload
    const o = runTransfer({
      seed: 7,
      forward: { delayUs: 5_000, rateBps: 50e6, queueBytes: 500_000, lossRate: 0.01, reorderRate: 0.02 },
      aSends: size,
      bSends: size,
      config: { packetSize },
      randomBytes
    })
    const why = describeOutcome(o)
    expect(o.completed, why).to.equal(true)
    expect(o.a.received, why).to.equal(size)
    expect(o.b?.received, why).to.equal(size)
    expect(o.a.corruptAt, why).to.equal(undefined)
    expect(o.b?.corruptAt, why).to.equal(undefined)
    expect(o.a.entry.connection.stats.packetsSent, why).to.be.greaterThan(70_000)
    expect(o.b?.entry.connection.stats.packetsSent, why).to.be.greaterThan(70_000)
  })
})
