/**
 * The routers of the NAT bench behave as their kind says (RFC 4787): plain UDP between a host and
 * the public side shows the mapping (is the public port the same towards two destinations?) and
 * the filtering (does a datagram from a port the host never sent to get in?). Datagrams between
 * two sockets follow one path in order, so a "friend" datagram sent after a "stranger" one shows
 * whether the stranger was dropped without waiting for a timeout.
 */

import { expect } from 'aegir/chai'
import { useBenches } from './bench.ts'
import { NAT_KINDS } from './nft.ts'
import { note } from './note.ts'
import { buildTopology, RELAY4, RELAY6 } from './topology.ts'
import { WorkerProcess } from './worker-process.ts'
import type { Topology } from './topology.ts'

const HOST_PORT = 5000
const WAIT_MS = 5_000

describe('NAT bench: routers', function () {
  this.timeout(30_000)
  const topologies: Topology[] = []
  const workers: WorkerProcess[] = []

  // skips without namespaces and clears leftovers; its after() finds no bench of startBench()'s here
  useBenches()

  afterEach(async () => {
    await Promise.all(workers.splice(0).map(async w => { await w.stop() }))
    await Promise.all(topologies.splice(0).map(async t => { await t.teardown() }))
  })

  for (const kind of NAT_KINDS) {
    it(`${kind}: mapping and filtering as labelled`, async () => {
      const topology = await buildTopology(kind, kind)
      topologies.push(topology)
      const site = topology.a
      const relay = new WorkerProcess('relay-probe', topology.relayNs, './udp-probe.ts', {
        bind: [RELAY4, RELAY6].flatMap(address => [6001, 6002, 6003].map(port => ({ address, port })))
      })
      const host = new WorkerProcess('host-probe', site.hostNs, './udp-probe.ts', {
        bind: [{ address: site.host4, port: HOST_PORT }, { address: site.host6, port: HOST_PORT }]
      })
      workers.push(relay, host)
      await Promise.all([relay.waitFor('bound', WAIT_MS), host.waitFor('bound', WAIT_MS)])

      for (const family of ['IPv4', 'IPv6'] as const) {
        const relayAddress = family === 'IPv4' ? RELAY4 : RELAY6
        const publicAddress = family === 'IPv4' ? site.public4 : site.public6
        const send = async (worker: WorkerProcess, local: number, to: string, port: number, payload: string): Promise<void> => {
          await worker.request('send', { local, to, port, payload: `${family} ${payload}` }, WAIT_MS)
        }
        const arrived = async (worker: WorkerProcess, payload: string): Promise<{ from: string, port: number }> => {
          const m = await worker.waitFor('datagram', WAIT_MS, m => m.payload === `${family} ${payload}`)
          return { from: String(m.from), port: Number(m.port) }
        }

        await send(host, HOST_PORT, relayAddress, 6001, 'to 6001')
        await send(host, HOST_PORT, relayAddress, 6002, 'to 6002')
        const first = await arrived(relay, 'to 6001')
        const second = await arrived(relay, 'to 6002')
        expect(first.from, `${family} public address`).to.equal(publicAddress)
        if (kind === 'symmetric') {
          expect(second.port, `${family}: a new public port per destination`).to.not.equal(first.port)
        } else {
          expect(first.port, `${family}: the host's port kept`).to.equal(HOST_PORT)
          expect(second.port, `${family}: one public port for every destination`).to.equal(first.port)
        }

        // 6003 never heard from the host; 6001 did
        await send(relay, 6003, publicAddress, first.port, 'stranger')
        await send(relay, 6001, publicAddress, first.port, 'friend')
        await arrived(host, 'friend')
        const stranger = host.messages.some(m => m.type === 'datagram' && m.payload === `${family} stranger`)
        expect(stranger, `${family}: a datagram from an endpoint the host never sent to got in`).to.equal(kind === 'cone')
        note(`${kind} ${family}: public ${first.from} port ${first.port} then ${second.port}, stranger ${stranger ? 'let in' : 'dropped'}`)
      }
      for (const worker of workers) {
        expect(worker.uncaught()).to.be.empty()
      }
    })
  }
})
