/**
 * Acceptance: a reader that stops reading makes the sender stop at the advertised window with
 * memory bounded, and the transfer completes when the reader resumes.
 */

import { expect } from 'aegir/chai'
import { SimNetwork } from './network.ts'
import { UtpHost } from './utp-host.ts'

const MiB = 1024 * 1024
const SECOND = 1_000_000

describe('flow control', () => {
  for (const seed of [1, 2, 3]) {
    it(`a paused reader stops the sender at its window; resuming completes the transfer (seed ${seed})`, () => {
      const recvBufferSize = 256 * 1024
      const sendBufferSize = 128 * 1024
      const size = 8 * MiB
      const net = new SimNetwork({ seed })
      net.connect('a', 'b', { delayUs: 10_000, rateBps: 50e6, queueBytes: 200_000, lossRate: 0.01 })
      const config = { recvBufferSize, sendBufferSize }
      const b = new UtpHost({
        address: { host: 'b', port: 1 },
        prng: net.prng.fork(),
        config,
        onIncoming: () => ({ send: 0, sendSeed: 0, recvSeed: seed, paused: true })
      })
      const a = new UtpHost({ address: { host: 'a', port: 1 }, prng: net.prng.fork(), config })
      net.attach(a.address, a)
      net.attach(b.address, b)
      b.listen()
      const sender = a.dial(net.now, b.address, { send: size, sendSeed: seed, recvSeed: 0 })
      net.kick()

      // let the reader sit for longer than the idle timeout would allow a silent peer, and longer
      // than the retransmission timeouts would take to give up if probes counted as losses
      const pausedFor = 200 * SECOND
      const peak = { unread: 0, buffered: 0 }
      const sample = (): void => {
        peak.unread = Math.max(peak.unread, b.transfers[0]?.entry.connection.readableLength ?? 0)
        peak.buffered = Math.max(peak.buffered, sender.entry.connection.bufferedAmount)
      }
      for (let t = SECOND; t <= pausedFor; t += 100_000) {
        net.at(net.now + t, sample)
      }
      const start = net.now
      net.runTo(start + pausedFor)
      const receiver = b.transfers[0]
      const rx = receiver.entry.connection
      const why = `seed=${seed} unread=${rx.readableLength} window=${rx.receiveWindow} sent=${sender.sent} stats=${JSON.stringify(sender.entry.connection.stats)}`
      expect(receiver.received, why).to.equal(0)
      // the receiver holds at most its buffer, the sender at most its buffer plus one write
      expect(peak.unread, why).to.be.at.most(recvBufferSize)
      expect(peak.unread, why).to.be.greaterThan(recvBufferSize - 2 * 1452)
      expect(rx.receiveWindow, why).to.be.lessThan(1452)
      expect(peak.buffered, why).to.be.at.most(sendBufferSize + 16 * 1024)
      expect(sender.sent, why).to.be.lessThan(recvBufferSize + sendBufferSize + 64 * 1024)
      // both sides are still alive: window probes keep the connection open
      expect(sender.closed, why).to.equal(undefined)
      expect(receiver.closed, why).to.equal(undefined)

      receiver.resume(net.now)
      net.kick()
      const done = net.runUntil(() => sender.done && receiver.done, net.now + 120 * SECOND)
      expect(done, why).to.equal(true)
      expect(receiver.received, why).to.equal(size)
      expect(receiver.corruptAt, why).to.equal(undefined)
      expect(sender.closed?.reason, why).to.equal('closed')
      expect(receiver.closed?.reason, why).to.equal('closed')
    })
  }
})
