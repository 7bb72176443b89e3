/**
 * An idle direct connection between two port-restricted NATs whose UDP mappings expire after
 * 30 s stays up for 90 s on the transport's keep-alives alone (every 15 s by default): the nodes
 * run without libp2p's connection-monitor pings and without yamux keep-alives, so nothing else
 * crosses the NATs. Without the keep-alives the mappings would expire, and the uTP idle timeout
 * (60 s) would close the connection.
 */

import { setTimeout as delay } from 'node:timers/promises'
import { expect } from 'aegir/chai'
import { dialRelayed, directConnection, startBench, stopAllBenches, stopNodes, useBenches } from './bench.ts'
import { MAPPING_TIMEOUT_S } from './nft.ts'
import { note } from './note.ts'
import type { ConnectionReport, Peer } from './bench.ts'

const IDLE_MS = 90_000
const SEND_MS = 10_000

/** The remaining lifetime (s) of the router's conntrack entries for UDP from `from` to `to` */
function mappingTimeouts (table: string, from: string, to: string): number[] {
  return table.split('\n')
    .filter(line => line.includes(`src=${from} dst=${to} `))
    .map(line => Number(line.trim().split(/\s+/)[2]))
}

describe('NAT bench: keep-alive through NAT mappings that expire after 30 s', function () {
  this.timeout(IDLE_MS + 60_000)

  useBenches()

  it('an idle direct connection is alive after 90 s, and neither side saw it close', async () => {
    const bench = await startBench('port-restricted', 'port-restricted', { quiet: true })
    const { a, b } = bench
    await dialRelayed(bench)
    const directA = await directConnection(a, b)
    const directB = await directConnection(b, a)
    const first = await a.worker.request('send', { connection: directA.id, bytes: 4096 }, SEND_MS)
    expect(first.received).to.deep.equal(first.sent)
    // DCUtR may leave two direct connections (see hole-punch.spec.ts): each must stay up
    const direct = async (peer: Peer, other: Peer): Promise<string[]> => {
      const { connections } = await peer.worker.request('connections', {}, SEND_MS)
      return (connections as ConnectionReport[]).filter(c => c.peer === other.peerId && !c.limited).map(c => c.id)
    }
    const directIdsA = await direct(a, b)
    const directIdsB = await direct(b, a)

    // the subject of the test: 90 s with no traffic on the connection but the transport's own
    await delay(IDLE_MS)

    // the routers still map the flow, each entry younger than the 30 s timeout
    const [tableA, tableB] = await Promise.all([bench.topology.conntrack(a.site), bench.topology.conntrack(b.site)])
    const left = [
      ...mappingTimeouts(tableA, a.site.host6, b.site.public6),
      ...mappingTimeouts(tableB, b.site.host6, a.site.public6)
    ]
    expect(left, `conntrack entries A->B and B->A:\n${tableA}\n${tableB}`).to.have.lengthOf(2)
    for (const seconds of left) {
      expect(seconds).to.be.within(0, MAPPING_TIMEOUT_S)
    }

    for (const [peer, ids] of [[a, directIdsA], [b, directIdsB]] as const) {
      for (const id of ids) {
        const sent = await peer.worker.request('send', { connection: id, bytes: 4096 }, SEND_MS)
        expect(sent.received).to.deep.equal(sent.sent)
      }
      const closed = peer.worker.messages.filter(m => m.type === 'connection:close' && ids.includes(String(m.id)))
      expect(closed, `${peer.worker.name} saw a direct connection close`).to.be.empty()
      expect(peer.worker.uncaught()).to.be.empty()
    }
    expect(directIdsA).to.include(directA.id)
    expect(directIdsB).to.include(directB.id)
    note(`idle ${IDLE_MS / 1000} s through port-restricted NATs (UDP timeout ${MAPPING_TIMEOUT_S} s): alive, ` +
      `mappings with ${left.join(' and ')} s left, ${directIdsA.length} direct connection(s)`)
    await stopNodes(a.worker, b.worker, bench.relay)
    await stopAllBenches()
  })
})
