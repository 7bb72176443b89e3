/**
 * The transport-level part of hole punching, over IPv4 (where libp2p's DCUtR will not go: every
 * address here is private to it): two hosts behind port-restricted NATs learn their public
 * mappings from the relay, then each dials the other's mapping from its listening port at the
 * same moment. The first SYNs meet closed NATs or cross in flight; the transport must end with
 * one connection on each side, not two and not a failure.
 */

import { expect } from 'aegir/chai'
import { asConnection, startBench, stopAllBenches, stopNodes, useBenches } from './bench.ts'
import { note } from './note.ts'
import type { ConnectionReport, Peer } from './bench.ts'

const DIAL_MS = 20_000
/** the dial time both workers are given, far enough ahead for both commands to arrive */
const START_AHEAD_MS = 500

describe('NAT bench: simultaneous uTP dial over IPv4', function () {
  this.timeout(60_000)

  useBenches()

  it('port-restricted <-> port-restricted: both dial the other\'s public mapping at once and end with one connection each', async () => {
    const bench = await startBench('port-restricted', 'port-restricted', { family: 'ip4' })
    const { a, b } = bench

    // the relay sees each host at its public mapping, as a rendezvous server would tell them
    const { connections } = await bench.relay.request('connections', {}, DIAL_MS)
    const mapping = (peer: Peer): string => {
      const seen = (connections as ConnectionReport[]).find(c => c.peer === peer.peerId)
      expect(seen?.remoteAddr).to.match(new RegExp(`^/ip4/${peer.site.public4.replaceAll('.', '\\.')}/udp/\\d+/utp/p2p/${peer.peerId}$`))
      return seen?.remoteAddr ?? ''
    }
    const at = Date.now() + START_AHEAD_MS
    const [dialA, dialB] = await Promise.all([
      a.worker.request('dial', { addr: mapping(b), at }, DIAL_MS),
      b.worker.request('dial', { addr: mapping(a), at }, DIAL_MS)
    ])
    const fromA = asConnection(dialA.connection)
    const fromB = asConnection(dialB.connection)
    const setupMs = Math.max(fromA.opened, fromB.opened) - at

    // it works both ways...
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const sent = await from.worker.request('send', { peer: to.peerId, bytes: 65536, relayed: false }, DIAL_MS)
      expect(sent.received).to.deep.equal(sent.sent)
    }
    // ...and there is one connection each, the one each dial returned
    for (const [peer, other, dialled] of [[a, b, fromA], [b, a, fromB]] as const) {
      const { connections } = await peer.worker.request('connections', {}, DIAL_MS)
      const toOther = (connections as ConnectionReport[]).filter(c => c.peer === other.peerId)
      expect(toOther.map(c => c.id), `${peer.worker.name}'s connections to ${other.worker.name}`).to.deep.equal([dialled.id])
      expect(toOther[0].remoteAddr).to.match(new RegExp(`^/ip4/${other.site.public4.replaceAll('.', '\\.')}/udp/\\d+/utp/`))
      expect(peer.worker.uncaught()).to.be.empty()
    }
    // the uTP roles decide the upgrade roles: one side ended as the accepting one
    expect([fromA.direction, fromB.direction].sort()).to.deep.equal(['inbound', 'outbound'])
    note(`both dialled at once: one connection each after ${setupMs} ms (A ${fromA.direction}, B ${fromB.direction})`)
    await stopNodes(a.worker, b.worker, bench.relay)
    await stopAllBenches()
  })
})
