/**
 * Acceptance: LEDBAT on a simulated 10 Mbit/s bottleneck with 20 ms one-way delay and a 500 ms
 * drop-tail queue. Figures are printed; the thresholds are the issue's.
 */

import { expect } from 'aegir/chai'
import { Link, SimNetwork } from './network.ts'
import { RenoReceiver, RenoSender } from './reno.ts'
import { UtpHost } from './utp-host.ts'
import type { Transfer } from './utp-host.ts'

const RATE = 10_000_000
const DELAY = 20_000
const QUEUE_BYTES = RATE / 8 / 2
const SECOND = 1_000_000
const FOREVER = 4 * 1024 * 1024 * 1024

interface Bench {
  net: SimNetwork
  bottleneck: Link
  t0: number
  /** a uTP bulk flow from a sender host through the bottleneck to host b */
  utp(name: string, startAt?: number): Transfer
  /** a Reno flow through the same bottleneck */
  reno(startAt: number, stopAt?: number): RenoSender
  /** the bottleneck's queuing delay sampled every 10 ms between t0 + from and t0 + to */
  sampleQueue(from: number, to: number): number[]
}

function bench (seed: number): Bench {
  const net = new SimNetwork({ seed })
  const bottleneck = new Link({ rateBps: RATE, delayUs: DELAY, queueBytes: QUEUE_BYTES }, net.prng.fork())
  const receiver = new UtpHost({ address: { host: 'b', port: 1 }, prng: net.prng.fork(), onIncoming: () => ({ send: 0, sendSeed: 0, recvSeed: 1 }) })
  receiver.listen()
  net.attach(receiver.address, receiver)
  const t0 = net.now
  let flows = 0
  const join = (host: string): void => {
    net.link(host, 'b', bottleneck)
    // a little jitter on the ACK path, so that each seed is a different run
    net.link('b', host, { delayUs: DELAY, jitterUs: 2_000 })
  }
  return {
    net,
    bottleneck,
    t0,
    utp (name, startAt = 0) {
      join(name)
      const host = new UtpHost({ address: { host: name, port: 1 }, prng: net.prng.fork() })
      net.attach(host.address, host)
      let transfer: Transfer | undefined
      const start = (now: number): void => {
        transfer = host.dial(now, receiver.address, { send: FOREVER, sendSeed: 1, recvSeed: 0 })
        net.kick()
      }
      if (startAt === 0) {
        start(t0)
      } else {
        net.at(t0 + startAt, start)
      }
      const index = flows++
      // the receiving side's transfer of this flow measures goodput
      return new Proxy({} as Transfer, {
        get (_target, prop) {
          const rx = receiver.transfers[index] ?? transfer
          return Reflect.get(rx as Transfer, prop)
        }
      })
    },
    reno (startAt, stopAt) {
      join('r')
      const sender = new RenoSender({ to: { host: 'b', port: 2 }, startAt: t0 + startAt, stopAt: stopAt == null ? undefined : t0 + stopAt })
      net.attach({ host: 'r', port: 1 }, sender)
      net.attach({ host: 'b', port: 2 }, new RenoReceiver())
      return sender
    },
    sampleQueue (from, to) {
      const samples: number[] = []
      for (let t = from; t < to; t += 10_000) {
        net.at(t0 + t, (now) => { samples.push(bottleneck.queueDelayUs(now)) })
      }
      return samples
    }
  }
}

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

function report (line: string): void {
  process.stdout.write(`      ${line}\n`)
}

describe('LEDBAT on a 10 Mbit/s, 20 ms, 500 ms drop-tail bottleneck', function () {
  this.timeout(120_000)

  it('one flow alone fills >= 90 % of the link with p95 queuing delay <= 120 ms', () => {
    for (const seed of [1, 2, 3]) {
      const b = bench(seed)
      const flow = b.utp('a')
      const from = 10 * SECOND
      const to = 60 * SECOND
      const queue = b.sampleQueue(from, to)
      b.net.runTo(b.t0 + to)
      const utilisation = flow.goodput.bitsPerSecond(b.t0 + from, b.t0 + to) / RATE
      const p50 = percentile(queue, 0.5) / 1000
      const p95 = percentile(queue, 0.95) / 1000
      report(`seed ${seed}: utilisation ${(utilisation * 100).toFixed(1)} %, queuing delay p50 ${p50.toFixed(1)} ms p95 ${p95.toFixed(1)} ms`)
      expect(utilisation, `seed=${seed}`).to.be.at.least(0.9)
      expect(p95, `seed=${seed}`).to.be.at.most(120)
    }
  })

  it('two flows share the link within 40/60', () => {
    for (const seed of [1, 2, 3]) {
      const b = bench(seed)
      // both start together: a flow that starts while another already holds the queue at the
      // target takes that queue for its base delay (RFC 6817 section 4.4, the latecomer problem)
      const f1 = b.utp('a1')
      const f2 = b.utp('a2')
      const from = 20 * SECOND
      const to = 80 * SECOND
      b.net.runTo(b.t0 + to)
      const g1 = f1.goodput.bytesBetween(b.t0 + from, b.t0 + to)
      const g2 = f2.goodput.bytesBetween(b.t0 + from, b.t0 + to)
      const share = g1 / (g1 + g2)
      const utilisation = (g1 + g2) * 8e6 / (to - from) / RATE
      report(`seed ${seed}: shares ${(share * 100).toFixed(1)} % / ${((1 - share) * 100).toFixed(1)} %, utilisation ${(utilisation * 100).toFixed(1)} %`)
      expect(share, `seed=${seed}`).to.be.within(0.4, 0.6)
    }
  })

  it('yields to a loss-based Reno flow: uTP takes at most 25 % of the link', () => {
    for (const seed of [1, 2, 3]) {
      const b = bench(seed)
      const flow = b.utp('a')
      const reno = b.reno(5 * SECOND)
      const from = 15 * SECOND
      const to = 60 * SECOND
      b.net.runTo(b.t0 + to)
      const utp = flow.goodput.bytesBetween(b.t0 + from, b.t0 + to)
      const tcp = reno.goodputBytesBetween(b.t0 + from, b.t0 + to)
      const share = utp * 8e6 / (to - from) / RATE
      const total = (utp + tcp) * 8e6 / (to - from) / RATE
      report(`seed ${seed}: uTP ${(share * 100).toFixed(1)} % of the link, Reno ${(tcp * 8e6 / (to - from) / RATE * 100).toFixed(1)} %, together ${(total * 100).toFixed(1)} %`)
      expect(share, `seed=${seed}`).to.be.at.most(0.25)
      expect(total, `seed=${seed}`).to.be.at.least(0.8)
    }
  })
})
