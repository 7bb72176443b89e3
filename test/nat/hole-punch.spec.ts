/**
 * Hole punching with DCUtR over uTP: A and B, each behind its own router, connect through a relay
 * on the public segment; B then drives DCUtR (libp2p's, unchanged) and the two end with a direct
 * uTP connection to each other's public address, which then carries 16 MiB byte-exact. Over IPv6:
 * libp2p's DCUtR dials only public addresses, and 3fff::/20 counts as public (see topology.ts).
 * Two symmetric NATs cannot be punched: DCUtR gives up and the relayed connection keeps working.
 */

import { expect } from 'aegir/chai'
import { asConnection, DCUTR_MS, dialRelayed, directConnection, PORT, startBench, stopAllBenches, stopNodes, useBenches } from './bench.ts'
import { note } from './note.ts'
import type { Bench, ConnectionReport } from './bench.ts'
import type { NatKind } from './nft.ts'
import type { Digest } from '../transport/hash-stream.ts'

const MiB = 1024 * 1024
const TRANSFER_MS = 60_000

async function expectNothingEscaped (bench: Bench): Promise<void> {
  for (const worker of [bench.relay, bench.a.worker, bench.b.worker]) {
    expect(worker.uncaught(), `escaped in ${worker.name}`).to.be.empty()
  }
}

describe('NAT bench: hole punching (DCUtR over uTP, IPv6)', function () {
  this.timeout(120_000)

  useBenches()

  const pairs: Array<[NatKind, NatKind]> = [
    ['cone', 'cone'],
    ['port-restricted', 'port-restricted'],
    ['cone', 'symmetric'],
    ['symmetric', 'cone'],
    ['firewall', 'firewall']
  ]
  for (const [kindA, kindB] of pairs) {
    it(`${kindA} <-> ${kindB}: the relayed connection becomes a direct one that moves 16 MiB byte-exact`, async () => {
      const bench = await startBench(kindA, kindB)
      const { a, b } = bench
      const relayed = await dialRelayed(bench)

      const directA = await directConnection(a, b)
      const directB = await directConnection(b, a)
      const upgradeMs = directA.opened - relayed.opened
      const outcome = await b.worker.waitFor('dcutr', DCUTR_MS, m => m.side === 'B')
      expect(outcome.direct, String(outcome.error)).to.equal(true)

      // each side reaches the other at its public address (the router's, or the host's own
      // behind an IPv6 firewall)
      const utpAt = (address: string, peer: string): RegExp => new RegExp(`^/ip6/${address}/udp/\\d+/utp/p2p/${peer}$`)
      expect(directA.remoteAddr).to.match(utpAt(b.site.public6, b.peerId))
      expect(directB.remoteAddr).to.match(utpAt(a.site.public6, a.peerId))

      const sent = await a.worker.request('send', { connection: directA.id, bytes: 16 * MiB }, TRANSFER_MS)
      expect(sent.received).to.deep.equal(sent.sent)
      const received = await b.worker.waitFor('received', TRANSFER_MS, m => m.sha256 === (sent.sent as Digest).sha256)
      expect({ bytes: received.bytes, sha256: received.sha256 }).to.deep.equal(sent.sent)

      // one direct connection each way when the two dials met (crossing SYNs merge); two when
      // A's dial got through B's router (opened by B's failed unilateral dial) and was accepted
      // before B dialled: both work, DCUtR has B dial regardless
      const counts = []
      for (const [peer, other] of [[a, b], [b, a]] as const) {
        const { connections } = await peer.worker.request('connections', {}, DCUTR_MS)
        const direct = (connections as ConnectionReport[]).filter(c => c.peer === other.peerId && !c.limited)
        expect(direct, `${peer.worker.name}'s direct connections to ${other.worker.name}`).to.not.be.empty()
        counts.push(direct.length)
      }
      await expectNothingEscaped(bench)
      note(`${kindA} <-> ${kindB}: direct after ${upgradeMs} ms (A ${directA.remoteAddr.replace(/\/p2p\/.*/, '')}, ` +
        `B ${directB.remoteAddr.replace(/\/p2p\/.*/, '')}); 16 MiB in ${(Number(sent.ms) / 1000).toFixed(2)} s; ` +
        `direct connections A ${counts[0]}, B ${counts[1]}`)
      await stopNodes(a.worker, b.worker, bench.relay)
      await stopAllBenches()
    })
  }

  it('symmetric <-> symmetric: DCUtR gives up, the relayed connection keeps working, nothing hangs or escapes', async () => {
    const bench = await startBench('symmetric', 'symmetric')
    const { a, b } = bench
    const relayed = await dialRelayed(bench)
    const start = performance.now()
    const outcome = await b.worker.waitFor('dcutr', 4 * DCUTR_MS, m => m.side === 'B')
    const gaveUpMs = performance.now() - start
    expect(outcome.direct).to.equal(false)

    const sent = await a.worker.request('send', { connection: relayed.id, bytes: 4096 }, TRANSFER_MS)
    expect(sent.received).to.deep.equal(sent.sent)
    expect(asConnection(sent.connection).id).to.equal(relayed.id)
    for (const [peer, other] of [[a, b], [b, a]] as const) {
      const { connections } = await peer.worker.request('connections', {}, DCUTR_MS)
      const toOther = (connections as ConnectionReport[]).filter(c => c.peer === other.peerId)
      expect(toOther.map(c => c.relayed), `${peer.worker.name}'s connections to ${other.worker.name}`).to.deep.equal([true])
    }
    await stopNodes(a.worker, b.worker, bench.relay)
    await expectNothingEscaped(bench)
    note(`symmetric <-> symmetric: DCUtR gave up after ${(gaveUpMs / 1000).toFixed(1)} s; 4 KiB over the relay byte-exact; port ${PORT} mapped randomly by both NATs`)
    await stopAllBenches()
  })
})
