/**
 * Hole punching with DCUtR over uTP: A and B, each behind its own router, connect through a relay
 * on the public segment; B then drives DCUtR (libp2p's, unchanged) and the two end with a direct
 * uTP connection to each other's public address, which then carries 16 MiB byte-exact. Over IPv6:
 * libp2p's DCUtR dials only public addresses, and 3fff::/20 counts as public (see topology.ts).
 * Two symmetric NATs cannot be punched: DCUtR gives up and the relayed connection keeps working.
 */

import { expect } from 'aegir/chai'
import { PORT, startBench, stopAllBenches, stopNodes } from './bench.ts'
import { deleteStale, unsupported } from './netns.ts'
import { note } from './note.ts'
import type { Bench } from './bench.ts'
import type { Message } from './channel.ts'
import type { NatKind } from './nft.ts'

const MiB = 1024 * 1024
/** DCUtR's own deadline is 5 s per attempt, up to 3 attempts after a unilateral one */
const DCUTR_MS = 30_000
const TRANSFER_MS = 60_000

interface ConnectionReport {
  id: string
  peer: string
  remoteAddr: string
  limited: boolean
  relayed: boolean
  opened: number
}

function connection (m: Message): ConnectionReport {
  return m as unknown as ConnectionReport
}

async function expectNothingEscaped (bench: Bench): Promise<void> {
  for (const worker of [bench.relay, bench.a.worker, bench.b.worker]) {
    expect(worker.uncaught(), `escaped in ${worker.name}`).to.be.empty()
  }
}

/** Dials B through the relay from A; resolves A's report of the relayed connection */
async function dialRelayed (bench: Bench): Promise<ConnectionReport> {
  // the relay by peer id alone: see circuit-over-utp.ts
  const dial = await bench.a.worker.request('dial', { addr: `/p2p/${bench.relayId}/p2p-circuit/p2p/${bench.b.peerId}` }, DCUTR_MS)
  const relayed = dial.connection as ConnectionReport
  expect(relayed.relayed, relayed.remoteAddr).to.equal(true)
  expect(relayed.limited).to.equal(true)
  return relayed
}

describe('NAT bench: hole punching (DCUtR over uTP, IPv6)', function () {
  this.timeout(120_000)

  before(async function () {
    const reason = await unsupported()
    if (reason != null) {
      note(`skipped: ${reason}`)
      this.skip()
    }
    await deleteStale()
  })

  after(async () => {
    await stopAllBenches()
  })

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

      const directA = connection(await a.worker.waitFor('connection:open', DCUTR_MS, m => m.peer === b.peerId && m.limited === false))
      const directB = connection(await b.worker.waitFor('connection:open', DCUTR_MS, m => m.peer === a.peerId && m.limited === false))
      const upgradeMs = directA.opened - relayed.opened
      const outcome = await b.worker.waitFor('dcutr', DCUTR_MS, m => m.side === 'B')
      expect(outcome.direct, String(outcome.error)).to.equal(true)

      // each side reaches the other at its public address (the router's, or the host's own
      // behind an IPv6 firewall)
      const utpAt = (address: string, peer: string): RegExp => new RegExp(`^/ip6/${address}/udp/\\d+/utp/p2p/${peer}$`)
      expect(directA.remoteAddr).to.match(utpAt(b.site.public6, b.peerId))
      expect(directB.remoteAddr).to.match(utpAt(a.site.public6, a.peerId))

      const sent = await a.worker.request('send', { peer: b.peerId, bytes: 16 * MiB, relayed: false }, TRANSFER_MS)
      expect(sent.received).to.deep.equal(sent.sent)
      const received = await b.worker.waitFor('received', TRANSFER_MS, m => m.connection === directB.id)
      expect({ bytes: received.bytes, sha256: received.sha256 }).to.deep.equal(sent.sent)
      expect(connection(sent.connection as Message).id).to.equal(directA.id)

      // one direct connection each way: simultaneous dials merged rather than doubled
      for (const [peer, other] of [[a, b], [b, a]] as const) {
        const { connections } = await peer.worker.request('connections', {}, DCUTR_MS)
        const direct = (connections as ConnectionReport[]).filter(c => c.peer === other.peerId && !c.limited)
        expect(direct, `${peer.worker.name}'s direct connections to ${other.worker.name}`).to.have.lengthOf(1)
      }
      await expectNothingEscaped(bench)
      note(`${kindA} <-> ${kindB}: direct after ${upgradeMs} ms (A ${directA.remoteAddr.replace(/\/p2p\/.*/, '')}, ` +
        `B ${directB.remoteAddr.replace(/\/p2p\/.*/, '')}); 16 MiB in ${(Number(sent.ms) / 1000).toFixed(2)} s`)
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

    const sent = await a.worker.request('send', { peer: b.peerId, bytes: 4096, relayed: true }, TRANSFER_MS)
    expect(sent.received).to.deep.equal(sent.sent)
    expect(connection(sent.connection as Message).id).to.equal(relayed.id)
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
