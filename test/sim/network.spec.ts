import { expect } from 'aegir/chai'
import { Link, SimNetwork } from './network.ts'
import { Prng } from './prng.ts'
import { RenoReceiver, RenoSender } from './reno.ts'
import type { LinkConfig, SimAddress, SimNode } from './network.ts'

interface Arrival { t: number, from: SimAddress, seq: number, bytes: Uint8Array }

/** Records every datagram it receives; reads a uint32 sequence number at offset 0. */
class Sink implements SimNode {
  readonly arrivals: Arrival[] = []

  receive (now: number, from: SimAddress, bytes: Uint8Array): void {
    const seq = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0) : -1
    this.arrivals.push({ t: now, from, seq, bytes })
  }

  pollTransmit (): undefined {
    return undefined
  }

  pollTimeout (): undefined {
    return undefined
  }

  handleTimeout (): void {}
}

interface PacerInit {
  to: SimAddress
  count: number
  /** time of the first datagram, µs */
  start: number
  /** gap between datagrams, µs (0 = all at once) */
  intervalUs: number
  /** datagram size, or a function of the index */
  size?: number | ((i: number) => number)
  /** fill the rest of the datagram (after the uint32 index) with a pattern derived from the index */
  pattern?: boolean
}

/** Sends datagram i (uint32 i at offset 0) at start + i * intervalUs, driven by its own timeout. */
class Pacer implements SimNode {
  readonly sent: Array<{ t: number, bytes: Uint8Array }> = []
  private i = 0
  private readonly init: PacerInit

  constructor (init: PacerInit) {
    this.init = init
  }

  private due (i: number): number {
    return this.init.start + i * this.init.intervalUs
  }

  receive (): void {}

  pollTransmit (now: number): { to: SimAddress, bytes: Uint8Array } | undefined {
    const { count, size, to, pattern } = this.init
    if (this.i >= count || this.due(this.i) > now) {
      return undefined
    }
    const i = this.i++
    const len = typeof size === 'function' ? size(i) : (size ?? 100)
    const bytes = new Uint8Array(len)
    new DataView(bytes.buffer).setUint32(0, i)
    if (pattern === true) {
      for (let j = 4; j < len; j++) {
        bytes[j] = (i * 31 + j * 7) & 0xff
      }
    }
    this.sent.push({ t: now, bytes })
    return { to, bytes }
  }

  pollTimeout (): number | undefined {
    return this.i < this.init.count ? this.due(this.i) : undefined
  }

  handleTimeout (): void {}
}

/** Sends every datagram straight back to where it came from. */
class Echo implements SimNode {
  received = 0
  private readonly out: Array<{ to: SimAddress, bytes: Uint8Array }> = []

  receive (now: number, from: SimAddress, bytes: Uint8Array): void {
    this.received++
    this.out.push({ to: from, bytes })
  }

  pollTransmit (): { to: SimAddress, bytes: Uint8Array } | undefined {
    return this.out.shift()
  }

  pollTimeout (): undefined {
    return undefined
  }

  handleTimeout (): void {}
}

const A: SimAddress = { host: 'a', port: 1000 }
const B: SimAddress = { host: 'b', port: 2000 }
const T0 = 1_000_000

/** One Pacer at A sending to one Sink at B over a link with `config`; returns what arrived. */
function oneWay (seed: number, config: LinkConfig, pacer: Omit<PacerInit, 'to'>, deadline = Infinity): { net: SimNetwork, link: Link, sink: Sink, src: Pacer } {
  const net = new SimNetwork({ seed })
  const link = net.link('a', 'b', config)
  const sink = new Sink()
  const src = new Pacer({ ...pacer, to: B })
  net.attach(A, src)
  net.attach(B, sink)
  net.runUntil(() => false, deadline)
  return { net, link, sink, src }
}

function countOutOfOrder (seqs: number[]): number {
  let max = -1
  let n = 0
  for (const s of seqs) {
    if (s < max) {
      n++
    } else {
      max = s
    }
  }
  return n
}

describe('sim/prng', () => {
  it('repeats for a seed and differs between seeds', () => {
    const draw = (seed: number): number[] => {
      const p = new Prng(seed)
      return Array.from({ length: 8 }, () => p.u32())
    }
    expect(draw(1)).to.deep.equal(draw(1))
    expect(draw(1)).to.not.deep.equal(draw(2))
    expect(new Prng(7).bytes(13)).to.deep.equal(new Prng(7).bytes(13))
  })

  it('draws uniformly in range', () => {
    const p = new Prng(99)
    const buckets = new Array(10).fill(0)
    let outside = 0
    for (let i = 0; i < 100_000; i++) {
      const x = p.next()
      if (!(x >= 0 && x < 1)) {
        outside++
      }
      buckets[p.int(10)]++
    }
    expect(outside).to.equal(0)
    for (const b of buckets) {
      expect(b).to.be.within(9_500, 10_500)
    }
    const bytes = p.bytes(1_000_003)
    let sum = 0
    for (const b of bytes) {
      sum += b
    }
    expect(sum / bytes.length).to.be.within(126.5, 128.5)
  })

  it('forks an independent stream', () => {
    const p = new Prng(5)
    const child = p.fork()
    const a = Array.from({ length: 4 }, () => p.u32())
    const b = Array.from({ length: 4 }, () => child.u32())
    expect(a).to.not.deep.equal(b)
    const again = new Prng(5).fork()
    expect(Array.from({ length: 4 }, () => again.u32())).to.deep.equal(b)
  })
})

describe('sim/network', () => {
  describe('determinism', () => {
    const messy: LinkConfig = {
      delayUs: 5_000,
      jitterUs: 2_000,
      lossRate: 0.05,
      burstLoss: { enterRate: 0.01, exitRate: 0.3 },
      duplicateRate: 0.05,
      reorderRate: 0.05,
      corruptRate: 0.05,
      rateBps: 2_000_000,
      queueBytes: 20_000
    }

    function trace (seed: number): string[] {
      const net = new SimNetwork({ seed })
      net.connect('a', 'b', messy)
      const echo = new Echo()
      net.attach(A, new Pacer({ to: B, count: 3_000, start: T0, intervalUs: 300, size: 500, pattern: true }))
      net.attach(B, echo)
      const out: string[] = []
      net.tap = (now, from, to, bytes) => {
        out.push(`${now} ${from.host}>${to.host} ${bytes.length} ${bytes.join(',')}`)
        return undefined
      }
      net.runUntil(() => false, T0 + 10_000_000)
      return [...out, `echo=${echo.received}`, `end=${net.now}`]
    }

    it('gives the same run for the same seed', () => {
      const a = trace(42)
      const b = trace(42)
      expect(a.length).to.be.greaterThan(3_000)
      expect(a).to.deep.equal(b)
    })

    it('gives different runs for different seeds', () => {
      expect(trace(42)).to.not.deep.equal(trace(43))
    })

    it('delivers the same bytes at the same times for the same seed', () => {
      const run = (seed: number): Arrival[] => oneWay(seed, messy, { count: 2_000, start: T0, intervalUs: 250, size: 300, pattern: true }).sink.arrivals
      const a = run(7)
      const b = run(7)
      expect(a.map(x => [x.t, x.seq])).to.deep.equal(b.map(x => [x.t, x.seq]))
      expect(a.map(x => Array.from(x.bytes))).to.deep.equal(b.map(x => Array.from(x.bytes)))
      expect(run(8).map(x => [x.t, x.seq])).to.not.deep.equal(a.map(x => [x.t, x.seq]))
    })
  })

  describe('timing', () => {
    it('delays by exactly delayUs on a clean link', () => {
      const { sink, src } = oneWay(1, { delayUs: 12_345 }, { count: 100, start: T0 + 10, intervalUs: 1_000 })
      expect(sink.arrivals.length).to.equal(100)
      sink.arrivals.forEach((a, i) => {
        expect(a.seq).to.equal(i)
        expect(a.t - src.sent[i].t).to.equal(12_345)
        expect(a.from).to.deep.equal(A)
      })
    })

    it('delivers asynchronously at zero delay on an unconfigured link', () => {
      const net = new SimNetwork({ seed: 1 })
      const sink = new Sink()
      net.attach(A, new Pacer({ to: B, count: 3, start: 0, intervalUs: 0 }))
      net.attach(B, sink)
      net.kick()
      expect(sink.arrivals.length).to.equal(0)
      expect(net.pending()).to.equal(3)
      net.runTo(net.now)
      expect(sink.arrivals.map(a => [a.t, a.seq])).to.deep.equal([[T0, 0], [T0, 1], [T0, 2]])
      expect(net.link('a', 'b').stats.delivered).to.equal(3)
    })

    it('keeps order under jitter', () => {
      const { sink, src } = oneWay(3, { delayUs: 10_000, jitterUs: 5_000 }, { count: 10_000, start: T0, intervalUs: 100 })
      expect(sink.arrivals.length).to.equal(10_000)
      expect(countOutOfOrder(sink.arrivals.map(a => a.seq))).to.equal(0)
      // packets closer than the jitter bunch up behind the slowest one, so the delay grows
      const delays = sink.arrivals.map(a => a.t - src.sent[a.seq].t)
      expect(Math.min(...delays)).to.be.at.least(10_000)
      expect(Math.max(...delays)).to.be.at.most(15_000)
    })

    it('spreads delays uniformly over the jitter', () => {
      const { sink, src } = oneWay(3, { delayUs: 10_000, jitterUs: 5_000 }, { count: 2_000, start: T0, intervalUs: 20_000 })
      const delays = sink.arrivals.map(a => a.t - src.sent[a.seq].t)
      expect(Math.min(...delays)).to.be.within(10_000, 10_050)
      expect(Math.max(...delays)).to.be.within(14_950, 15_000)
      const mean = delays.reduce((x, y) => x + y, 0) / delays.length
      expect(mean).to.be.within(12_400, 12_600)
    })

    it('reorders when configured', () => {
      const { sink, link } = oneWay(4, { delayUs: 10_000, reorderRate: 0.05 }, { count: 20_000, start: T0, intervalUs: 100 })
      expect(sink.arrivals.length).to.equal(20_000)
      const late = countOutOfOrder(sink.arrivals.map(a => a.seq))
      expect(late / 20_000).to.be.within(0.04, 0.06)
      expect(link.stats.delivered).to.equal(20_000)
    })
  })

  describe('impairments', () => {
    it('loses packets at the configured rate', () => {
      for (const seed of [11, 12]) {
        const { sink, link } = oneWay(seed, { delayUs: 1_000, lossRate: 0.1 }, { count: 100_000, start: T0, intervalUs: 10 })
        const rate = 1 - sink.arrivals.length / 100_000
        expect(rate, `seed ${seed}`).to.be.within(0.095, 0.105)
        expect(link.stats.dropped, `seed ${seed}`).to.equal(100_000 - sink.arrivals.length)
        expect(link.stats.sent, `seed ${seed}`).to.equal(100_000)
      }
    })

    it('loses packets in bursts with Gilbert-Elliott loss', () => {
      const { sink, link } = oneWay(13, { burstLoss: { enterRate: 0.01, exitRate: 0.25 } }, { count: 100_000, start: T0, intervalUs: 10 })
      const got = new Uint8Array(100_000)
      for (const a of sink.arrivals) {
        got[a.seq] = 1
      }
      let runs = 0
      let lost = 0
      for (let i = 0; i < got.length; i++) {
        if (got[i] === 0) {
          lost++
          if (i === 0 || got[i - 1] === 1) {
            runs++
          }
        }
      }
      // stationary loss rate 0.01 / 0.26 = 3.85 %, mean burst 1 / 0.25 = 4 packets
      expect(lost / 100_000).to.be.within(0.031, 0.046)
      expect(lost / runs).to.be.within(3.4, 4.6)
      expect(link.stats.dropped).to.equal(lost)
    })

    it('duplicates packets', () => {
      const { sink, link } = oneWay(14, { delayUs: 1_000, duplicateRate: 0.1 }, { count: 20_000, start: T0, intervalUs: 100, pattern: true, size: 64 })
      const extra = sink.arrivals.length - 20_000
      expect(extra / 20_000).to.be.within(0.09, 0.11)
      expect(link.stats.duplicated).to.equal(extra)
      let checked = 0
      for (let i = 1; i < sink.arrivals.length; i++) {
        const prev = sink.arrivals[i - 1]
        const cur = sink.arrivals[i]
        if (cur.seq === prev.seq) {
          expect(cur.t).to.equal(prev.t + 1)
          expect(cur.bytes).to.deep.equal(prev.bytes)
          expect(cur.bytes.buffer).to.not.equal(prev.bytes.buffer)
          checked++
        }
      }
      expect(checked).to.equal(extra)
    })

    it('corrupts a copy, never the sender buffer', () => {
      const { sink, src, link } = oneWay(15, { corruptRate: 0.2 }, { count: 10_000, start: T0, intervalUs: 100, pattern: true, size: 200 })
      expect(sink.arrivals.length).to.equal(10_000)
      let differ = 0
      sink.arrivals.forEach((a, i) => {
        const original = src.sent[i].bytes
        expect(a.bytes).to.not.equal(original)
        // the sender's buffer still holds what it wrote
        const view = new DataView(original.buffer)
        expect(view.getUint32(0)).to.equal(i)
        for (let j = 4; j < original.length; j++) {
          if (original[j] !== ((i * 31 + j * 7) & 0xff)) {
            expect.fail(`sender buffer ${i} changed at ${j}`)
          }
        }
        if (a.bytes.some((b, j) => b !== original[j])) {
          differ++
        }
      })
      expect(differ).to.equal(link.stats.corrupted)
      expect(differ / 10_000).to.be.within(0.18, 0.22)
    })

    it('drops datagrams above maxDatagramSize', () => {
      const { sink, link } = oneWay(16, { maxDatagramSize: 1_400 }, { count: 1_000, start: T0, intervalUs: 10, size: i => i % 2 === 0 ? 1_000 : 1_500 })
      expect(sink.arrivals.length).to.equal(500)
      expect(sink.arrivals.every(a => a.bytes.length === 1_000)).to.equal(true)
      expect(link.stats.oversizeDrops).to.equal(500)
    })

    it('lets a tap drop a chosen datagram', () => {
      const net = new SimNetwork({ seed: 17 })
      const sink = new Sink()
      net.attach(A, new Pacer({ to: B, count: 10, start: T0, intervalUs: 10 }))
      net.attach(B, sink)
      const seen: number[] = []
      net.tap = (now, from, to, bytes) => {
        const seq = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)
        seen.push(seq)
        return seq === 0 ? 'drop' : undefined
      }
      net.runTo(T0 + 1_000)
      expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(sink.arrivals.map(a => a.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(net.stats.tapDrops).to.equal(1)
    })

    it('counts datagrams to an address with no node', () => {
      const net = new SimNetwork({ seed: 18 })
      net.attach(A, new Pacer({ to: { host: 'b', port: 9 }, count: 5, start: T0, intervalUs: 10 }))
      net.attach(B, new Sink())
      net.runTo(T0 + 1_000)
      expect(net.stats.noNode).to.equal(5)
    })

    it('applies setConfig to datagrams sent afterwards', () => {
      const net = new SimNetwork({ seed: 19 })
      const link = net.link('a', 'b', { delayUs: 1_000 })
      const sink = new Sink()
      const src = new Pacer({ to: B, count: 20, start: T0, intervalUs: 1_000 })
      net.attach(A, src)
      net.attach(B, sink)
      net.at(T0 + 9_500, () => { link.setConfig({ delayUs: 3_000 }) })
      net.runTo(T0 + 100_000)
      expect(sink.arrivals.map(a => a.t - src.sent[a.seq].t)).to.deep.equal([...new Array(10).fill(1_000), ...new Array(10).fill(3_000)])
    })
  })

  describe('bottleneck', () => {
    it('serialises at rateBps and drops the tail of a full queue', () => {
      // 1250-byte datagrams take 1 ms at 10 Mbit/s; offer one every 0.5 ms (twice the rate) for 10 s
      const rate = 10_000_000
      const { sink, link, src } = oneWay(20, { rateBps: rate, delayUs: 20_000, queueBytes: 50_000 }, { count: 20_000, start: T0, intervalUs: 500, size: 1_250 })
      const t0 = T0 + 1_000_000
      const t1 = T0 + 9_000_000
      const bytes = sink.arrivals.filter(a => a.t > t0 && a.t <= t1).reduce((n, a) => n + a.bytes.length, 0)
      const bps = bytes * 8e6 / (t1 - t0)
      expect(bps / rate).to.be.within(0.99, 1.01)
      expect(link.stats.queueDrops).to.be.within(9_900, 10_100)
      expect(link.stats.queueDrops + sink.arrivals.length).to.equal(20_000)
      // never more than queueBytes (40 ms at this rate) of queueing, and the queue did fill
      const queueing = sink.arrivals.map(a => a.t - src.sent[a.seq].t - 20_000)
      expect(Math.max(...queueing)).to.be.within(39_000, 41_000)
      expect(countOutOfOrder(sink.arrivals.map(a => a.seq))).to.equal(0)
    })

    it('reports the queue delay', () => {
      const net = new SimNetwork({ seed: 21 })
      const link = net.link('a', 'b', { rateBps: 1_000_000, delayUs: 5_000 })
      const sink = new Sink()
      net.attach(A, new Pacer({ to: B, count: 10, start: T0, intervalUs: 0, size: 1_250 }))
      net.attach(B, sink)
      const seen: number[] = []
      net.at(T0, now => seen.push(link.queueDelayUs(now)))
      net.at(T0 + 30_000, now => seen.push(link.queueDelayUs(now)))
      net.at(T0 + 200_000, now => seen.push(link.queueDelayUs(now)))
      net.runTo(T0 + 1_000_000)
      // 10 x 1250 B at 1 Mbit/s = 10 x 10 ms; the pacer fires before the first callback
      expect(seen).to.deep.equal([100_000, 70_000, 0])
      expect(sink.arrivals.map(a => a.t - T0)).to.deep.equal(Array.from({ length: 10 }, (_, i) => (i + 1) * 10_000 + 5_000))
    })

    it('shares one Link between host pairs', () => {
      const net = new SimNetwork({ seed: 22 })
      const shared = new Link({ rateBps: 1_000_000, queueBytes: 1_000_000 }, net.prng.fork())
      net.link('a', 'b', shared)
      net.link('c', 'b', shared)
      const sinkA = new Sink()
      const sinkC = new Sink()
      net.attach(A, new Pacer({ to: B, count: 100, start: T0, intervalUs: 0, size: 1_250 }))
      net.attach({ host: 'c', port: 1 }, new Pacer({ to: { host: 'b', port: 3 }, count: 100, start: T0, intervalUs: 0, size: 1_250 }))
      net.attach(B, sinkA)
      net.attach({ host: 'b', port: 3 }, sinkC)
      net.runTo(T0 + 10_000_000)
      // 200 x 10 ms back to back: the last arrival is at 2 s
      const last = Math.max(sinkA.arrivals[99].t, sinkC.arrivals[99].t)
      expect(last - T0).to.equal(2_000_000)
      expect(shared.stats.delivered).to.equal(200)
    })
  })

  describe('scheduling', () => {
    it('runs at() callbacks in time order, FIFO on ties, with events', () => {
      const net = new SimNetwork({ seed: 23 })
      const order: string[] = []
      net.at(T0 + 20, () => order.push('c'))
      net.at(T0 + 10, () => order.push('a'))
      net.at(T0 + 10, now => order.push(`b@${now - T0}`))
      net.at(0, now => order.push(`past@${now - T0}`))
      net.runTo(T0 + 15)
      expect(order).to.deep.equal(['past@0', 'a', 'b@10'])
      expect(net.now).to.equal(T0 + 15)
      net.runTo(T0 + 100)
      expect(order).to.deep.equal(['past@0', 'a', 'b@10', 'c'])
    })

    it('returns from runUntil on done, on deadline and when idle', () => {
      const net = new SimNetwork({ seed: 24 })
      const sink = new Sink()
      net.link('a', 'b', { delayUs: 1_000 })
      net.attach(A, new Pacer({ to: B, count: 10, start: T0, intervalUs: 10_000 }))
      net.attach(B, sink)
      expect(net.runUntil(() => sink.arrivals.length === 3, T0 + 1_000_000)).to.equal(true)
      expect(net.now).to.equal(T0 + 21_000)
      expect(net.runUntil(() => false, T0 + 50_000)).to.equal(false)
      expect(net.now).to.equal(T0 + 50_000)
      expect(sink.arrivals.length).to.equal(5)
      expect(net.runUntil(() => false, T0 + 10_000_000)).to.equal(false)
      expect(net.now).to.equal(T0 + 91_000)
      expect(sink.arrivals.length).to.equal(10)
    })

    it('handles a timeout in the past at the current time', () => {
      const net = new SimNetwork({ seed: 25 })
      const calls: number[] = []
      let due: number | undefined = 5
      net.attach(A, {
        receive () {},
        pollTransmit () { return undefined },
        pollTimeout () { return due },
        handleTimeout (now) { calls.push(now); due = undefined }
      })
      net.runTo(T0 + 1)
      expect(calls).to.deep.equal([T0])
    })

    it('throws, naming the node, when a node keeps reporting a past timeout', () => {
      const net = new SimNetwork({ seed: 26 })
      net.attach({ host: 'stuck', port: 7 }, {
        receive () {},
        pollTransmit () { return undefined },
        pollTimeout () { return T0 - 1 },
        handleTimeout () {}
      })
      expect(() => net.runTo(T0 + 1_000)).to.throw(/stuck:7/)
    })

    it('throws after maxSteps instead of hanging', () => {
      // two echo nodes on ideal (zero delay) links bounce one datagram forever at the same instant
      const net = new SimNetwork({ seed: 28, maxSteps: 10_000 })
      const echoA = new Echo()
      net.attach(A, echoA)
      net.attach(B, new Echo())
      net.at(T0, () => { echoA.receive(T0, B, new Uint8Array(4)) })
      expect(() => net.runTo(T0 + 1)).to.throw(/10000 steps/)
    })
  })

  describe('reno', () => {
    it('fills a 10 Mbit/s, 20 ms, 100 ms-queue bottleneck to >= 80 %', () => {
      const rate = 10_000_000
      const net = new SimNetwork({ seed: 30 })
      net.link('a', 'b', { rateBps: rate, delayUs: 20_000, queueBytes: rate / 8 / 10 })
      net.link('b', 'a', { rateBps: rate, delayUs: 20_000, queueBytes: rate / 8 / 10 })
      const sender = new RenoSender({ to: B, startAt: T0 })
      const receiver = new RenoReceiver()
      net.attach(A, sender)
      net.attach(B, receiver)
      const end = T0 + 30_000_000
      net.runTo(end)
      const utilisation = sender.goodputBytesBetween(T0, end) * 8e6 / (end - T0) / rate
      expect(utilisation).to.be.at.least(0.8)
      expect(utilisation).to.be.at.most(1)
      expect(receiver.goodputBytesBetween(T0, end)).to.be.at.least(sender.goodputBytesBetween(T0, end))
      // it did probe into loss and recover
      expect(sender.stats.fastRetransmits + sender.stats.timeouts).to.be.greaterThan(0)
    })

    it('starts and stops on time and shares a bottleneck', () => {
      const rate = 10_000_000
      const net = new SimNetwork({ seed: 31 })
      const bottleneck = new Link({ rateBps: rate, delayUs: 10_000, queueBytes: 100_000 }, net.prng.fork())
      net.link('a', 'b', bottleneck)
      net.link('c', 'b', bottleneck)
      net.link('b', 'a', { delayUs: 10_000 })
      net.link('b', 'c', { delayUs: 10_000 })
      const s1 = new RenoSender({ to: B })
      const s2 = new RenoSender({ to: { host: 'b', port: 2001 }, startAt: T0 + 5_000_000, stopAt: T0 + 25_000_000 })
      net.attach(A, s1)
      net.attach({ host: 'c', port: 1 }, s2)
      net.attach(B, new RenoReceiver())
      net.attach({ host: 'b', port: 2001 }, new RenoReceiver())
      net.runTo(T0 + 30_000_000)
      expect(s2.goodputBytesBetween(0, T0 + 5_000_000)).to.equal(0)
      expect(s2.goodputBytesBetween(T0 + 26_000_000, T0 + 30_000_000)).to.equal(0)
      const both = s1.goodputBytesBetween(T0 + 10_000_000, T0 + 25_000_000) + s2.goodputBytesBetween(T0 + 10_000_000, T0 + 25_000_000)
      expect(both * 8e6 / 15_000_000 / rate).to.be.at.least(0.8)
      const share = s2.goodputBytesBetween(T0 + 10_000_000, T0 + 25_000_000) / both
      expect(share).to.be.within(0.2, 0.8)
    })
  })

  it('moves events quickly', function () {
    this.timeout(10_000)
    const net = new SimNetwork({ seed: 40 })
    net.connect('a', 'b', { delayUs: 1_000, jitterUs: 100 })
    const echoA = new Echo()
    const echoB = new Echo()
    net.attach(A, echoA)
    net.attach(B, echoB)
    // 100 datagrams bouncing between two echo nodes
    net.at(T0, () => {
      for (let i = 0; i < 100; i++) {
        echoA.receive(T0, B, new Uint8Array(100))
      }
    })
    const started = performance.now()
    net.runUntil(() => net.stats.steps >= 500_000, Infinity)
    const seconds = (performance.now() - started) / 1000
    expect(echoA.received + echoB.received).to.be.at.least(500_000)
    // a loose floor so slow CI machines pass; expect well over 1 M/s on a laptop
    expect(500_000 / seconds).to.be.at.least(200_000)
  })
})
