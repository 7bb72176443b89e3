/**
 * One hole-punching scenario: the network (topology.ts), a relay on the public segment, and a
 * libp2p node on each host (worker.ts), started and connected to the relay. B holds a reservation
 * on the relay; both have had the relay's observation of their address confirmed (see
 * src/hole-punching/observed-addresses.ts) before the scenario is handed over. Stopping tears everything down.
 */

import { expect } from 'aegir/chai'
import { deleteStale, unsupported } from './netns.ts'
import { note } from './note.ts'
import { RELAY4, RELAY6, buildTopology } from './topology.ts'
import { WorkerProcess } from './worker-process.ts'
import type { Message } from './channel.ts'
import type { NatKind } from './nft.ts'
import type { Site, Topology } from './topology.ts'
import type { PeerConfig } from './worker.ts'

/** every node listens on this UDP port, for IPv4 and IPv6 */
export const PORT = 4001
/** starting a node takes a while on a busy 2-core machine */
const START_MS = 30_000
const STOP_MS = 10_000
/** DCUtR's own deadline is 5 s per attempt, up to 3 attempts after a unilateral one */
export const DCUTR_MS = 30_000

/** a worker's description of a connection (worker.ts) */
export interface ConnectionReport {
  id: string
  peer: string
  remoteAddr: string
  direction: 'inbound' | 'outbound'
  limited: boolean
  relayed: boolean
  opened: number
}

export function asConnection (value: unknown): ConnectionReport {
  return value as ConnectionReport
}

export interface Peer {
  worker: WorkerProcess
  peerId: string
  site: Site
}

export interface Bench {
  topology: Topology
  relay: WorkerProcess
  relayId: string
  /** the relay's IPv6 and IPv4 addresses, with its peer id */
  relayAddr6: string
  relayAddr4: string
  /** dials through the relay (the outbound side of the relayed connection) */
  a: Peer
  /** listens through the relay */
  b: Peer
}

export interface BenchOptions {
  /** only the transport's keep-alives on idle connections (see PeerConfig) */
  quiet?: boolean
  /** the relay address the peers use; default IPv6 */
  family?: 'ip4' | 'ip6'
}

const running = new Set<{ topology: Topology, workers: WorkerProcess[] }>()

/** Builds the network for routers of kinds `a` and `b` and starts the three nodes */
export async function startBench (a: NatKind, b: NatKind, options: BenchOptions = {}): Promise<Bench> {
  const topology = await buildTopology(a, b)
  const workers: WorkerProcess[] = []
  running.add({ topology, workers })
  const spawn = (name: string, ns: string, config: PeerConfig): WorkerProcess => {
    const worker = new WorkerProcess(name, ns, './worker.ts', config)
    workers.push(worker)
    return worker
  }

  const relay = spawn('relay', topology.relayNs, {
    name: 'relay',
    listen: [`/ip6/${RELAY6}/udp/${PORT}/utp`, `/ip4/${RELAY4}/udp/${PORT}/utp`],
    relayServer: true,
    quiet: options.quiet
  })
  const relayId = String((await relay.waitFor('ready', START_MS)).peerId)
  const relayAddr6 = `/ip6/${RELAY6}/udp/${PORT}/utp/p2p/${relayId}`
  const relayAddr4 = `/ip4/${RELAY4}/udp/${PORT}/utp/p2p/${relayId}`
  const family = options.family ?? 'ip6'

  const peer = async (name: string, site: Site, reserve: boolean): Promise<Peer> => {
    const worker = spawn(name, site.hostNs, {
      name,
      listen: [`/ip6/${site.host6}/udp/${PORT}/utp`, `/ip4/${site.host4}/udp/${PORT}/utp`],
      relay: family === 'ip6' ? relayAddr6 : relayAddr4,
      reserve,
      quiet: options.quiet
    })
    const peerId = String((await worker.waitFor('ready', START_MS)).peerId)
    if (family === 'ip6') {
      // IPv4 addresses here are private to libp2p: nothing to confirm
      await worker.waitFor('public', START_MS)
    }
    return { worker, peerId, site }
  }
  const [peerA, peerB] = await Promise.all([peer('a', topology.a, false), peer('b', topology.b, true)])
  return { topology, relay, relayId, relayAddr6, relayAddr4, a: peerA, b: peerB }
}

/** Dials B through the relay from A; resolves A's report of the relayed connection */
export async function dialRelayed (bench: Bench): Promise<ConnectionReport> {
  // the relay by peer id alone: see src/hole-punching/relayed-over-utp.ts
  const dial = await bench.a.worker.request('dial', { addr: `/p2p/${bench.relayId}/p2p-circuit/p2p/${bench.b.peerId}` }, DCUTR_MS)
  const relayed = asConnection(dial.connection)
  expect(relayed.relayed, relayed.remoteAddr).to.equal(true)
  expect(relayed.limited).to.equal(true)
  return relayed
}

/** The first connection `peer` reports to `other` that is not limited (not relayed) */
export async function directConnection (peer: Peer, other: Peer): Promise<ConnectionReport> {
  return asConnection(await peer.worker.waitFor('connection:open', DCUTR_MS, (m: Message) => m.peer === other.peerId && m.limited === false))
}

/** Asks each node to stop (rejects when one fails to within the deadline) */
export async function stopNodes (...peers: WorkerProcess[]): Promise<void> {
  await Promise.all(peers.map(async w => { await w.request('stop', {}, STOP_MS) }))
}

/** Ends every worker and deletes every namespace of every bench still running; never throws */
export async function stopAllBenches (): Promise<void> {
  const all = [...running]
  running.clear()
  await Promise.all(all.map(async ({ topology, workers }) => {
    await Promise.all(workers.map(async w => { await w.stop() }))
    await topology.teardown()
  }))
}

/**
 * The hooks of a spec that starts benches: skip it, saying why, where namespaces cannot be built;
 * clear what a killed run left behind first; tear every bench down after
 */
export function useBenches (): void {
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
}
