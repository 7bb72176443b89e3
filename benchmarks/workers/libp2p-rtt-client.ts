/**
 * rtt row, dialling side: one node with every transport the row measures opens one echo stream to
 * the server (which listens on all of them) over each transport, each on a connection of its own,
 * and times 1-byte ping-pongs over them, one at a time, in microseconds. The transports take turns
 * in blocks of {@link BLOCK} pings, the blocks of a round in one of the transports' possible
 * orders, each order in turn: the turns share the processes and the machine's moment, so the ratios
 * do not carry the drift between rows run one after another (TCP's median alone moved 98.6-131 µs
 * between runs in a pair of processes of its own). The first `warmup` pings of each transport let V8
 * optimise both ends; they are reported apart. Reports `result` {byTransport: {[transport]: {us,
 * warmupUs}}}.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { ECHO_PROTOCOL, addressFor, createBenchNode, turns } from '../lib/libp2p-node.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { Stream } from '@libp2p/interface'

/** pings over one transport in a row */
const BLOCK = 100

interface Args {
  transports: Libp2pTransport[]
  addrs: string[]
  pings: number
  warmup: number
}

interface Echo {
  stream: Stream
  replies: AsyncIterator<unknown>
  us: number[]
  warmupUs: number[]
}

runWorker(async () => {
  const { transports, addrs, pings, warmup } = workerArgs<Args>()
  const node = await createBenchNode(transports)
  const echoes = new Map<Libp2pTransport, Echo>()
  for (const transport of transports) {
    // a connection per transport: libp2p would otherwise reuse the first one to the same peer
    const stream = await node.dialProtocol(multiaddr(addressFor(addrs, transport)), ECHO_PROTOCOL, { force: true })
    echoes.set(transport, { stream, replies: stream[Symbol.asyncIterator](), us: [], warmupUs: [] })
  }
  const ping = new Uint8Array([42])
  for (const transport of turns(transports, BLOCK)) {
    if ([...echoes.values()].every(e => e.us.length >= pings)) {
      break
    }
    const echo = echoes.get(transport)!
    if (echo.us.length >= pings) {
      continue
    }
    const start = performance.now()
    echo.stream.send(ping)
    const reply = await echo.replies.next()
    const elapsed = (performance.now() - start) * 1000
    if (reply.done === true) {
      throw new Error(`the ${transport} echo stream ended`)
    }
    if (echo.warmupUs.length < warmup) {
      echo.warmupUs.push(elapsed)
    } else {
      echo.us.push(elapsed)
    }
  }
  const byTransport: Record<string, { us: number[], warmupUs: number[] }> = {}
  for (const [transport, { stream, us, warmupUs }] of echoes) {
    byTransport[transport] = { us, warmupUs }
    await stream.close()
  }
  report({ type: 'result', byTransport })
  await node.stop()
})
